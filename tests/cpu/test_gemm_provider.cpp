// The CPU GEMM's provider (CMake option MNEMO_CPU_GEMM: eigen, openblas, blis, onednn) against a
// double reference at the shapes the models use and at odd ones: all transposes, padded row
// strides, batches apart, beta = 0 over NaN, on 1 and 2 threads; products a provider declines
// (row stride below the row length) still right. Built into mnemo_tests and, alone, into
// mnemo_gemm_tests, which a build per provider runs (docs/benchmarks.md, "GEMM providers").
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "mnemo/backend/cpu.hpp"

using namespace mnemo;

namespace {

/// Sets the CPU thread count for a scope.
class Threads {
 public:
  explicit Threads(int n) : previous_(cpu::num_threads()) { cpu::set_num_threads(n); }
  ~Threads() { cpu::set_num_threads(previous_); }
  Threads(const Threads&) = delete;
  Threads& operator=(const Threads&) = delete;

 private:
  int previous_;
};

/// n values in [-1, 1) from a 64-bit linear congruential generator seeded with `seed`.
std::vector<double> uniform(int64_t n, uint64_t seed) {
  std::vector<double> v(static_cast<size_t>(n));
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (double& x : v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x = static_cast<double>(s >> 11) / static_cast<double>(1ull << 53) * 2.0 - 1.0;
  }
  return v;
}

template <class T>
std::vector<T> as(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

struct Product {
  Trans ta, tb;
  int64_t batch, m, n, k, lda, ldb, ldc, sa, sb, sc;
  double alpha, beta;
};

/// op(A)·op(B) of product p over the row-major inputs, in double: alpha·sum + beta·C0 inside C,
/// C0 elsewhere (padding between rows and between batches).
std::vector<double> reference(const Product& p, const std::vector<double>& a, const std::vector<double>& b,
                              const std::vector<double>& c0) {
  std::vector<double> want = c0;
  for (int64_t q = 0; q < p.batch; ++q)
    for (int64_t i = 0; i < p.m; ++i)
      for (int64_t j = 0; j < p.n; ++j) {
        double s = 0;
        for (int64_t l = 0; l < p.k; ++l) {
          const double x = a[static_cast<size_t>(q * p.sa + (p.ta == Trans::N ? i * p.lda + l : l * p.lda + i))];
          const double y = b[static_cast<size_t>(q * p.sb + (p.tb == Trans::N ? l * p.ldb + j : j * p.ldb + l))];
          s += x * y;
        }
        const size_t at = static_cast<size_t>(q * p.sc + i * p.ldc + j);
        want[at] = p.alpha * s + (p.beta == 0 ? 0.0 : p.beta * c0[at]);
      }
  return want;
}

/// Largest |got − want| over the largest |want|; infinite when got holds a NaN.
template <class T>
double rel_error(const std::vector<T>& got, const std::vector<double>& want) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double g = static_cast<double>(got[i]);
    if (std::isnan(g)) return std::numeric_limits<double>::infinity();
    diff = std::max(diff, std::abs(g - want[i]));
    scale = std::max(scale, std::abs(want[i]));
  }
  return diff / std::max(scale, 1e-300);
}

/// Runs product p in T through BackendTraits<Cpu>::gemm; C starts as c0 (NaN inside C when
/// beta = 0, which must never be read).
template <class T>
std::vector<T> run(const Product& p, const std::vector<double>& a, const std::vector<double>& b,
                   const std::vector<double>& c0) {
  const auto at = as<T>(a), bt = as<T>(b);
  auto ct = as<T>(c0);
  if (p.beta == 0)
    for (int64_t q = 0; q < p.batch; ++q)
      for (int64_t i = 0; i < p.m; ++i)
        for (int64_t j = 0; j < p.n; ++j)
          ct[static_cast<size_t>(q * p.sc + i * p.ldc + j)] = std::numeric_limits<T>::quiet_NaN();
  BackendTraits<Cpu>::gemm<T>(BackendTraits<Cpu>::default_context(), p.ta, p.tb, p.m, p.n, p.k,
                              static_cast<T>(p.alpha), at.data(), p.lda, p.sa, bt.data(), p.ldb, p.sb,
                              static_cast<T>(p.beta), ct.data(), p.ldc, p.sc, p.batch);
  return ct;
}

/// Product p with padded row strides (pad_a, pad_b, pad_c elements past each row) and batches
/// `gap` elements apart.
Product padded(Trans ta, Trans tb, int64_t batch, int64_t m, int64_t n, int64_t k, double beta, int64_t pad_a,
               int64_t pad_b, int64_t pad_c, int64_t gap) {
  Product p{ta, tb, batch, m, n, k, 0, 0, 0, 0, 0, 0, 0.75, beta};
  const int64_t rows_a = ta == Trans::N ? m : k, cols_a = ta == Trans::N ? k : m;
  const int64_t rows_b = tb == Trans::N ? k : n, cols_b = tb == Trans::N ? n : k;
  p.lda = cols_a + pad_a;
  p.ldb = cols_b + pad_b;
  p.ldc = n + pad_c;
  p.sa = rows_a * p.lda + gap;
  p.sb = rows_b * p.ldb + gap;
  p.sc = m * p.ldc + gap;
  return p;
}

void check_product(const Product& p) {
  const auto a = uniform(p.batch * p.sa, 1), b = uniform(p.batch * p.sb, 2), c0 = uniform(p.batch * p.sc, 3);
  const auto want = reference(p, a, b, c0);
  INFO("provider " << cpu::gemm_provider_name() << ", batch " << p.batch << ", m " << p.m << ", n " << p.n << ", k "
                   << p.k << ", ta " << (p.ta == Trans::T ? "T" : "N") << ", tb " << (p.tb == Trans::T ? "T" : "N")
                   << ", lda " << p.lda << ", ldb " << p.ldb << ", ldc " << p.ldc << ", beta " << p.beta);
  // Float: k products of values in [-1, 1) in float, sums of about sqrt(k)·0.3.
  CHECK(rel_error(run<float>(p, a, b, c0), want) < 2e-6 * std::sqrt(static_cast<double>(p.k) + 1));
  CHECK(rel_error(run<double>(p, a, b, c0), want) < 1e-13);
}

}  // namespace

TEST_CASE("GEMM provider: the configured one is the one that runs", "[cpu][gemm][provider]") {
#if defined(MNEMO_TEST_GEMM_PROVIDER)
  CHECK(std::string(cpu::gemm_provider_name()) == MNEMO_TEST_GEMM_PROVIDER);
#else
  CHECK(std::string(cpu::gemm_provider_name()) == "eigen");
#endif
}

TEST_CASE("GEMM provider matches a double reference: model shapes, transposes, strides, batches, 1 and 2 threads",
          "[cpu][gemm][provider]") {
  // {batch, m, n, k}: a streaming Memformer step's projection (64 rows, d 256) and FFN (1024),
  // its slot attention (64×64 over 64), batched attention scores, and odd sizes that are not
  // multiples of any kernel's tile.
  const std::tuple<int64_t, int64_t, int64_t, int64_t> shapes[] = {
      {1, 64, 256, 256}, {1, 64, 1024, 256}, {4, 64, 64, 64}, {3, 33, 70, 129}, {2, 130, 17, 9}, {1, 1, 300, 40}};
  for (int threads : {1, 2}) {
    Threads scope(threads);
    for (const auto& [batch, m, n, k] : shapes)
      for (Trans ta : {Trans::N, Trans::T})
        for (Trans tb : {Trans::N, Trans::T})
          for (double beta : {0.0, 0.5}) check_product(padded(ta, tb, batch, m, n, k, beta, 3, 5, 2, 7));
  }
}

TEST_CASE("GEMM provider: products outside BLAS's stride rules still come out right", "[cpu][gemm][provider]") {
  Threads scope(2);
  // One row of op(A) with row stride 0 (a CBLAS lda must be >= k), and a packed product whose
  // batches overlap nothing but sit back to back (strides equal to the matrix sizes).
  Product single_row = padded(Trans::N, Trans::N, 2, 1, 40, 33, 0.5, 0, 1, 1, 3);
  single_row.lda = 0;
  check_product(single_row);
  check_product(padded(Trans::T, Trans::N, 3, 17, 19, 23, 0.0, 0, 0, 0, 0));
}

TEST_CASE("GEMM provider: B rows 4 KiB apart (copied in column blocks by oneDNN's) match a double reference",
          "[cpu][gemm][provider]") {
  // The oneDNN provider copies B's columns in blocks (256 wide, 128 when k > 512) into a
  // contiguous buffer when B's row stride is a multiple of 4 KiB and the product has 16 to 256
  // rows with k <= 1024, on hosts where oneDNN runs AVX2 kernels (gemm_onednn.hpp; the copy itself
  // is checked on every host by the next test); other providers take these products as any other.
  // {m, n, k, ldb}: an FFN's first layer (64 × 1024 over 256, B [256, 1024]); columns that end
  // inside a block (1000 of 1024, 300 of 2048 at k 600: 128-wide blocks); 15 and 1 rows (no copy)
  // and 16 (the first that copies); 256 rows (the last) and 257; k 1024 (the last) and 1025.
  const std::tuple<int64_t, int64_t, int64_t, int64_t> shapes[] = {
      {64, 1024, 256, 1024}, {64, 1000, 256, 1024}, {33, 300, 600, 2048},  {1, 1024, 100, 1024},
      {15, 520, 64, 1024},   {256, 520, 64, 1024},  {257, 520, 64, 1024},  {16, 200, 1024, 1024},
      {16, 200, 1025, 1024}};
  for (int threads : {1, 2}) {
    Threads scope(threads);
    for (const auto& [m, n, k, ldb] : shapes)
      for (Trans ta : {Trans::N, Trans::T})
        for (double beta : {0.0, 0.5}) {
          Product p = padded(ta, Trans::N, 1, m, n, k, beta, 3, ldb - n, 2, 0);
          check_product(p);
        }
  }
}

#if defined(MNEMO_CPU_GEMM_ONEDNN)
TEST_CASE("oneDNN provider: the copy of B applies where it pays, and its blocks match a double reference",
          "[cpu][gemm][provider]") {
  namespace detail = cpu::provider::detail;
  // Taken on AVX2 kernels only: B rows a multiple of 4 KiB apart, 16 to 256 rows, k <= 1024, B not
  // transposed.
  CHECK(detail::copies_b(Trans::N, 64, 256, 1024, false));
  CHECK(detail::copies_b(Trans::N, 16, 1024, 2048, false));
  CHECK_FALSE(detail::copies_b(Trans::N, 64, 256, 1024, true));  // AVX-512 kernels
  CHECK_FALSE(detail::copies_b(Trans::N, 64, 256, 1040, false));  // rows 4160 bytes apart
  CHECK_FALSE(detail::copies_b(Trans::T, 64, 256, 1024, false));
  CHECK_FALSE(detail::copies_b(Trans::N, 15, 256, 1024, false));
  CHECK_FALSE(detail::copies_b(Trans::N, 257, 256, 1024, false));
  CHECK_FALSE(detail::copies_b(Trans::N, 64, 1025, 1024, false));
  CHECK(detail::copies_b(Trans::N, 64, 256, 1024) == !detail::onednn_avx512_host());
  // The copied path itself, called directly so that an AVX-512 host checks it too: {m, n, k, ldb},
  // as above (a block of 256 columns, a last block cut short, 128-wide blocks at k > 512).
  const std::tuple<int64_t, int64_t, int64_t, int64_t> shapes[] = {
      {64, 1024, 256, 1024}, {64, 1000, 256, 1024}, {33, 300, 600, 2048}, {16, 200, 1024, 1024}};
  for (const auto& [m, n, k, ldb] : shapes)
    for (Trans ta : {Trans::N, Trans::T})
      for (double beta : {0.0, 0.5}) {
        const Product p = padded(ta, Trans::N, 1, m, n, k, beta, 3, ldb - n, 2, 0);
        const auto a = uniform(p.sa, 1), b = uniform(p.sb, 2), c0 = uniform(p.sc, 3);
        const auto af = as<float>(a), bf = as<float>(b);
        auto cf = as<float>(c0);
        INFO("m " << m << ", n " << n << ", k " << k << ", ldb " << ldb << ", ta " << (ta == Trans::T ? "T" : "N")
                  << ", beta " << beta);
        REQUIRE(detail::sgemm_on_copied_b(ta == Trans::N ? 'N' : 'T', m, n, k, static_cast<float>(p.alpha), af.data(),
                                          p.lda, bf.data(), p.ldb, static_cast<float>(beta), cf.data(), p.ldc));
        CHECK(rel_error(cf, reference(p, a, b, c0)) < 2e-6 * std::sqrt(static_cast<double>(k) + 1));
      }
}
#endif
