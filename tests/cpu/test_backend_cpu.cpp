// BackendTraits<Cpu>: every primitive, on float and double, against a naive double loop written
// here (independent of the implementation). Double must agree to 1e-12 and float to 1e-5
// (normwise relative error against the double reference computed from the same float inputs).
// Sizes are chosen so that the OpenMP paths (parallel_for above kParallelWork, > 64-row reduction
// blocks, batched GEMM) run too.
#include <catch2/catch.hpp>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "mnemo/backend/cpu/thread_scratch.hpp"
#include "support/testing.hpp"

using namespace mnemo;
using namespace mnemo::test;

namespace {

using BT = BackendTraits<Cpu>;
BT::Context& ctx() { return BT::default_context(); }

template <class T>
constexpr double kTol = std::is_same_v<T, double> ? 1e-12 : 1e-5;

/// shift + scale·N(0, 1) entries from a fixed seed, rounded to T.
template <class T>
std::vector<T> randn(size_t n, uint64_t seed, double scale = 1.0, double shift = 0.0) {
  const RngKey key{seed, 0xbacce5};
  std::vector<T> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<T>(shift + scale * key.normal(i));
  return v;
}

template <class T>
std::vector<double> widen(const std::vector<T>& v) {
  return {v.begin(), v.end()};
}

/// max|a − ref| / max|ref|; 0 when both are all zero; infinite on NaN or a size mismatch.
template <class A>
double normwise_error(const std::vector<A>& a, const std::vector<double>& ref) {
  if (a.size() != ref.size()) return INFINITY;
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(static_cast<double>(a[i]) - ref[i]);
    if (std::isnan(d)) return INFINITY;
    diff = std::max(diff, d);
    scale = std::max(scale, std::abs(ref[i]));
  }
  return diff == 0 ? 0.0 : diff / std::max(scale, DBL_MIN);
}
double normwise_error(double a, double ref) { return normwise_error(std::vector<double>{a}, {ref}); }

template <class A, class B>
bool same_bits(const std::vector<A>& a, const std::vector<B>& b) {
  return a.size() == b.size() && sizeof(A) == sizeof(B) &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(A)) == 0);
}

}  // namespace

/// Checks `actual` (vector of T or scalar) against `reference` (double) at TestType's tolerance.
#define CHECK_CLOSE(actual, reference)                                                    \
  do {                                                                                    \
    const double close_err_ = normwise_error(actual, reference);                          \
    INFO(#actual " vs " #reference ": normwise relative error " << close_err_);           \
    CHECK(close_err_ <= kTol<TestType>);                                                  \
  } while (0)

// ---- gemm ---------------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("gemm: all transposes, batches, padded strides, alpha/beta, beta = 0 over NaN, k = 0",
                   "[backend][gemm]", float, double) {
  using T = TestType;
  struct Case {
    int64_t m, n, k, batch;
    double alpha, beta;
    bool nan_in_c;
  };
  const Case cases[] = {
      {5, 4, 6, 3, 0.7, -0.3, false},  // batched, general alpha/beta
      {5, 4, 6, 3, 1.3, 0.0, true},    // beta = 0 never reads C (NaN garbage)
      {7, 3, 0, 2, 0.5, 0.25, false},  // k = 0: C = beta·C
      {7, 3, 0, 2, 0.5, 0.0, true},    // k = 0, beta = 0: C = 0
      {70, 65, 33, 1, 0.9, 0.5, false},  // one product (Eigen's own threading)
      {16, 16, 16, 8, 1.0, 1.0, false},  // many products (parallel_for over the batch)
      {64, 40, 37, 2, 0.8, 0.0, true},    // small-matrix kernel: 6-row blocks + 4, panels 16+16+8
      {13, 27, 70, 3, 1.1, 0.6, false},   // small-matrix kernel: rows 6+6+1, columns 16+8+3
      {150, 45, 64, 2, 1.0, 1.0, false},  // Aᵀ·B: the weight-gradient kernel above A·B's 128 rows, 16+16+8+5
      {9, 20, 256, 1, 0.5, 0.0, true},    // Aᵀ·B at the kernel's longest k (kSmallGemmMaxDepthTransA)
  };
  int case_id = 0;
  for (const Case& c : cases) {
    ++case_id;
    for (Trans ta : {Trans::N, Trans::T})
      for (Trans tb : {Trans::N, Trans::T}) {
        INFO("case " << case_id << ", ta " << (ta == Trans::T ? "T" : "N") << ", tb " << (tb == Trans::T ? "T" : "N"));
        // op(A) is m×k stored as rowsA×colsA with row stride lda > colsA; batches stride_a apart
        // (not packed); the same for B (k×n) and C (m×n).
        const int64_t rows_a = ta == Trans::N ? c.m : c.k, cols_a = ta == Trans::N ? c.k : c.m;
        const int64_t rows_b = tb == Trans::N ? c.k : c.n, cols_b = tb == Trans::N ? c.n : c.k;
        const int64_t lda = cols_a + 3, ldb = cols_b + 2, ldc = c.n + 5;
        const int64_t stride_a = rows_a * lda + 7, stride_b = rows_b * ldb + 1, stride_c = c.m * ldc + 4;
        const auto A = randn<T>(static_cast<size_t>(stride_a * c.batch), 1);
        const auto B = randn<T>(static_cast<size_t>(stride_b * c.batch), 2);
        auto C = randn<T>(static_cast<size_t>(stride_c * c.batch), 3);
        auto in_c = [&](int64_t b, int64_t i, int64_t j) -> T& { return C[static_cast<size_t>(b * stride_c + i * ldc + j)]; };
        if (c.nan_in_c)
          for (int64_t b = 0; b < c.batch; ++b)
            for (int64_t i = 0; i < c.m; ++i)
              for (int64_t j = 0; j < c.n; ++j) in_c(b, i, j) = std::numeric_limits<T>::quiet_NaN();
        const auto C0 = C;
        const double alpha = static_cast<double>(static_cast<T>(c.alpha)), beta = static_cast<double>(static_cast<T>(c.beta));

        BT::gemm<T>(ctx(), ta, tb, c.m, c.n, c.k, static_cast<T>(c.alpha), A.data(), lda, stride_a, B.data(), ldb,
                    stride_b, static_cast<T>(c.beta), C.data(), ldc, stride_c, c.batch);

        std::vector<T> got;
        std::vector<double> want;
        for (int64_t b = 0; b < c.batch; ++b)
          for (int64_t i = 0; i < c.m; ++i)
            for (int64_t j = 0; j < c.n; ++j) {
              double acc = 0;
              for (int64_t p = 0; p < c.k; ++p) {
                const double a = A[static_cast<size_t>(b * stride_a + (ta == Trans::N ? i * lda + p : p * lda + i))];
                const double bb = B[static_cast<size_t>(b * stride_b + (tb == Trans::N ? p * ldb + j : j * ldb + p))];
                acc += a * bb;
              }
              const double c0 = C0[static_cast<size_t>(b * stride_c + i * ldc + j)];
              want.push_back(alpha * acc + (beta == 0 ? 0.0 : beta * c0));
              got.push_back(in_c(b, i, j));
              in_c(b, i, j) = C0[static_cast<size_t>(b * stride_c + i * ldc + j)];  // for the padding check
            }
        CHECK_CLOSE(got, want);
        CHECK(same_bits(C, C0));  // padding between rows and between batches untouched
      }
  }
}

TEST_CASE("small_gemm: Aᵀ·B over a short k takes the small-matrix kernel; beyond its limits C is untouched",
          "[backend][gemm]") {
  if (!cpu::small_gemm_enabled(true)) {
    WARN("the weight-gradient kernel is off here (no AVX2 + FMA, MNEMO_SMALL_GEMM=0, or another GEMM configured)");
    return;
  }
  const int64_t m = 256, n = 40;
  const auto A = randn<float>(static_cast<size_t>(257 * 1025), 1), B = randn<float>(static_cast<size_t>(257 * n), 2);
  auto C = randn<float>(static_cast<size_t>(1025 * n), 3);
  const auto C0 = C;
  auto run = [&](Trans tb, int64_t rows, int64_t k) {
    return cpu::small_gemm<float>(Trans::T, tb, rows, n, k, 1.0f, A.data(), rows, 0, B.data(), n, 0, 1.0f, C.data(),
                                  n, 0, 1);
  };
  CHECK_FALSE(run(Trans::N, m, cpu::kSmallGemmMaxDepthTransA + 1));  // k too long
  CHECK_FALSE(run(Trans::N, cpu::kSmallGemmMaxTransAFloats / 64 + 1, 64));  // A beyond the L2 budget
  CHECK_FALSE(run(Trans::T, m, 64));  // Aᵀ·Bᵀ
  CHECK(same_bits(C, C0));
  REQUIRE(run(Trans::N, m, 64));  // dW (256 × 40) += xᵀ·dy over 64 rows
  std::vector<double> want;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = C0[static_cast<size_t>(i * n + j)];
      for (int64_t p = 0; p < 64; ++p)
        acc += static_cast<double>(A[static_cast<size_t>(p * m + i)]) * B[static_cast<size_t>(p * n + j)];
      want.push_back(acc);
    }
  const double err = normwise_error(std::vector<float>(C.begin(), C.begin() + m * n), want);
  INFO("normwise relative error " << err);
  CHECK(err <= 1e-5);
  CHECK(same_bits(std::vector<float>(C.begin() + m * n, C.end()), std::vector<float>(C0.begin() + m * n, C0.end())));
}

// ---- softmax ------------------------------------------------------------------------------------

namespace {
/// Reference masked softmax (SoftmaxMask contract) in double.
std::vector<double> softmax_reference(const std::vector<double>& x, const SoftmaxDims& d, double scale,
                                      bool causal, int64_t offset, const uint8_t* pad, const float* slopes) {
  std::vector<double> y(x.size(), 0.0);
  for (int64_t o = 0; o < d.outer; ++o)
    for (int64_t h = 0; h < d.heads; ++h)
      for (int64_t r = 0; r < d.rows; ++r) {
        const int64_t row = ((o * d.heads + h) * d.rows + r) * d.cols;
        std::vector<double> z(static_cast<size_t>(d.cols));
        std::vector<bool> on(static_cast<size_t>(d.cols));
        double mx = -INFINITY;
        for (int64_t c = 0; c < d.cols; ++c) {
          const bool masked = (causal && c > r + offset) || (pad && pad[o * d.cols + c]);
          on[static_cast<size_t>(c)] = !masked;
          z[static_cast<size_t>(c)] = scale * x[static_cast<size_t>(row + c)] -
                                      (slopes ? static_cast<double>(slopes[h]) * static_cast<double>(r + offset - c) : 0.0);
          if (!masked) mx = std::max(mx, z[static_cast<size_t>(c)]);
        }
        if (mx == -INFINITY) continue;  // every key masked: zeros
        double total = 0;
        for (int64_t c = 0; c < d.cols; ++c)
          if (on[static_cast<size_t>(c)]) total += std::exp(z[static_cast<size_t>(c)] - mx);
        for (int64_t c = 0; c < d.cols; ++c)
          if (on[static_cast<size_t>(c)]) y[static_cast<size_t>(row + c)] = std::exp(z[static_cast<size_t>(c)] - mx) / total;
      }
  return y;
}
}  // namespace

TEMPLATE_TEST_CASE("softmax_forward: scale, causal, query offset, key padding, ALiBi, fully-masked rows",
                   "[backend][softmax]", float, double) {
  using T = TestType;
  SoftmaxDims dims;
  dims.outer = 2;
  dims.heads = 3;
  dims.rows = 70;
  dims.cols = 33;
  const size_t total = static_cast<size_t>(dims.total_rows() * dims.cols);
  const auto x = randn<T>(total, 11, 2.0);
  std::vector<uint8_t> pad(static_cast<size_t>(dims.outer * dims.cols), 0);
  for (int64_t c = 0; c < dims.cols; ++c) {
    pad[static_cast<size_t>(c)] = c % 5 == 3;    // batch row 0: some keys are padding
    pad[static_cast<size_t>(dims.cols + c)] = 1;  // batch row 1: every key is padding
  }
  const std::vector<float> slopes{0.5f, 0.25f, 0.125f};
  const T scale = static_cast<T>(0.37);

  struct MaskCase {
    const char* name;
    bool causal;
    int64_t offset;
    bool padding, alibi;
  };
  for (const MaskCase& m : {MaskCase{"none", false, 0, false, false}, MaskCase{"causal", true, 0, false, false},
                            MaskCase{"causal, query offset 5", true, 5, false, false},
                            MaskCase{"causal, query offset -3 (first rows fully masked)", true, -3, false, false},
                            MaskCase{"key padding", false, 0, true, false}, MaskCase{"ALiBi", false, 0, false, true},
                            MaskCase{"ALiBi, causal, offset 2", true, 2, false, true},
                            MaskCase{"everything", true, 1, true, true}}) {
    INFO("mask: " << m.name);
    SoftmaxMask mask;
    mask.causal = m.causal;
    mask.query_offset = m.offset;
    mask.key_padding = m.padding ? pad.data() : nullptr;
    mask.alibi_slopes = m.alibi ? slopes.data() : nullptr;
    std::vector<T> y(total, static_cast<T>(-7));
    BT::softmax_forward<T>(ctx(), x.data(), y.data(), dims, scale, mask);
    const auto ref = softmax_reference(widen(x), dims, static_cast<double>(scale), m.causal, m.offset,
                                       mask.key_padding, mask.alibi_slopes);
    CHECK_CLOSE(y, ref);
    int64_t nonfinite = 0, zero_rows = 0;
    for (int64_t row = 0; row < dims.total_rows(); ++row) {
      bool all_zero = true;
      for (int64_t c = 0; c < dims.cols; ++c) {
        const T v = y[static_cast<size_t>(row * dims.cols + c)];
        nonfinite += std::isfinite(v) ? 0 : 1;
        all_zero = all_zero && v == T(0);
      }
      zero_rows += all_zero ? 1 : 0;
    }
    CHECK(nonfinite == 0);
    // Fully masked rows come out as exact zeros: batch row 1 under padding, rows r < 3 under offset -3.
    const int64_t expected_zero_rows =
        (m.padding ? dims.heads * dims.rows : 0) + (m.causal && m.offset < 0 ? dims.outer * dims.heads * -m.offset : 0);
    CHECK(zero_rows == expected_zero_rows);
  }
}

TEMPLATE_TEST_CASE("softmax_backward: dx = scale·y⊙(dy − <y, dy>)", "[backend][softmax]", float, double) {
  using T = TestType;
  const int64_t rows = 130, cols = 90;
  SoftmaxDims dims;
  dims.rows = rows;
  dims.cols = cols;
  std::vector<T> y(static_cast<size_t>(rows * cols));
  {
    const auto p = softmax_reference(widen(randn<double>(y.size(), 12, 1.5)), dims, 1.0, false, 0, nullptr, nullptr);
    for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<T>(p[i]);
  }
  const auto dy = randn<T>(y.size(), 13);
  std::vector<T> dx(y.size());
  const T scale = static_cast<T>(0.6);
  BT::softmax_backward<T>(ctx(), y.data(), dy.data(), dx.data(), rows, cols, scale);
  std::vector<double> ref(y.size());
  for (int64_t r = 0; r < rows; ++r) {
    double dot = 0;
    for (int64_t c = 0; c < cols; ++c) dot += double(y[size_t(r * cols + c)]) * double(dy[size_t(r * cols + c)]);
    for (int64_t c = 0; c < cols; ++c)
      ref[size_t(r * cols + c)] = double(scale) * double(y[size_t(r * cols + c)]) * (double(dy[size_t(r * cols + c)]) - dot);
  }
  CHECK_CLOSE(dx, ref);
}

// ---- layer norm ---------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("layer_norm forward and backward (dx written, dγ and dβ accumulated)", "[backend][layer_norm]",
                   float, double) {
  using T = TestType;
  using A = accumulate_t<T>;
  const int64_t rows = 130, cols = 48;
  const size_t n = static_cast<size_t>(rows * cols);
  const auto x = randn<T>(n, 21, 1.5, 0.3);
  const auto gamma = randn<T>(size_t(cols), 22, 0.5, 1.0);
  const auto beta = randn<T>(size_t(cols), 23, 0.5);
  const double eps = 1e-5;

  // Reference: μ, rstd = 1/sqrt(var + eps) (population variance), y = (x − μ)·rstd·γ + β.
  std::vector<double> mu(static_cast<size_t>(rows)), rs(static_cast<size_t>(rows)), y_ref(n);
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0, ss = 0;
    for (int64_t c = 0; c < cols; ++c) s += double(x[size_t(r * cols + c)]);
    mu[size_t(r)] = s / double(cols);
    for (int64_t c = 0; c < cols; ++c) ss += std::pow(double(x[size_t(r * cols + c)]) - mu[size_t(r)], 2);
    rs[size_t(r)] = 1.0 / std::sqrt(ss / double(cols) + eps);
    for (int64_t c = 0; c < cols; ++c)
      y_ref[size_t(r * cols + c)] = (double(x[size_t(r * cols + c)]) - mu[size_t(r)]) * rs[size_t(r)] * double(gamma[size_t(c)]) +
                                    double(beta[size_t(c)]);
  }
  std::vector<T> y(n);
  std::vector<A> mean(static_cast<size_t>(rows)), rstd(static_cast<size_t>(rows));
  BT::layer_norm_forward<T>(ctx(), x.data(), gamma.data(), beta.data(), y.data(), mean.data(), rstd.data(), rows,
                            cols, static_cast<A>(eps));
  CHECK_CLOSE(y, y_ref);
  CHECK_CLOSE(mean, mu);
  CHECK_CLOSE(rstd, rs);
  std::vector<T> y_no_stats(n);  // mean / rstd are optional outputs
  BT::layer_norm_forward<T>(ctx(), x.data(), gamma.data(), beta.data(), y_no_stats.data(), nullptr, nullptr, rows,
                            cols, static_cast<A>(eps));
  CHECK(same_bits(y_no_stats, y));
  if constexpr (std::is_same_v<T, float>) {
    // Float runs blocks of 8 rows with their sums interleaved (cpu/layer_norm_rows.hpp; 130 rows:
    // 16 blocks and a tail of 2): each row's sums still add in column order, so every output has
    // the bits of the one-row-at-a-time float loop.
    std::vector<float> y_seq(n), mean_seq(static_cast<size_t>(rows)), rstd_seq(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x.data() + r * cols;
      float sum = 0, var = 0;
      for (int64_t c = 0; c < cols; ++c) sum += xr[c];
      const float m = sum / static_cast<float>(cols);
      for (int64_t c = 0; c < cols; ++c) var += (xr[c] - m) * (xr[c] - m);
      const float rsr = 1.0f / std::sqrt(var / static_cast<float>(cols) + static_cast<float>(eps));
      mean_seq[size_t(r)] = m;
      rstd_seq[size_t(r)] = rsr;
      for (int64_t c = 0; c < cols; ++c)
        y_seq[size_t(r * cols + c)] = (xr[c] - m) * rsr * gamma[size_t(c)] + beta[size_t(c)];
    }
    CHECK(same_bits(y, y_seq));
    CHECK(same_bits(mean, mean_seq));
    CHECK(same_bits(rstd, rstd_seq));
  }

  // Backward: x̂ = (x − μ)·rstd, g = dy·γ, dx = rstd·(g − mean(g) − x̂·mean(g·x̂)),
  // dγ += Σ_rows dy·x̂, dβ += Σ_rows dy.
  const auto dy = randn<T>(n, 24);
  const auto dgamma0 = randn<T>(size_t(cols), 25), dbeta0 = randn<T>(size_t(cols), 26);
  std::vector<double> dx_ref(n), dg_ref = widen(dgamma0), db_ref = widen(dbeta0);
  for (int64_t r = 0; r < rows; ++r) {
    double mg = 0, mgx = 0;
    for (int64_t c = 0; c < cols; ++c) {
      const size_t i = size_t(r * cols + c);
      const double xh = (double(x[i]) - mu[size_t(r)]) * rs[size_t(r)], g = double(dy[i]) * double(gamma[size_t(c)]);
      mg += g / double(cols);
      mgx += g * xh / double(cols);
      dg_ref[size_t(c)] += double(dy[i]) * xh;
      db_ref[size_t(c)] += double(dy[i]);
    }
    for (int64_t c = 0; c < cols; ++c) {
      const size_t i = size_t(r * cols + c);
      const double xh = (double(x[i]) - mu[size_t(r)]) * rs[size_t(r)], g = double(dy[i]) * double(gamma[size_t(c)]);
      dx_ref[i] = rs[size_t(r)] * (g - mg - xh * mgx);
    }
  }
  std::vector<A> mean_in(mu.begin(), mu.end()), rstd_in(rs.begin(), rs.end());
  std::vector<T> dx(n), dgamma = dgamma0, dbeta = dbeta0;
  BT::layer_norm_backward<T>(ctx(), dy.data(), x.data(), gamma.data(), mean_in.data(), rstd_in.data(), dx.data(),
                             dgamma.data(), dbeta.data(), rows, cols);
  CHECK_CLOSE(dx, dx_ref);
  CHECK_CLOSE(dgamma, dg_ref);
  CHECK_CLOSE(dbeta, db_ref);
  // Every output is optional.
  std::vector<T> dgamma_only = dgamma0;
  BT::layer_norm_backward<T>(ctx(), dy.data(), x.data(), gamma.data(), mean_in.data(), rstd_in.data(), nullptr,
                             dgamma_only.data(), nullptr, rows, cols);
  CHECK(same_bits(dgamma_only, dgamma));
  std::vector<T> dx_only(n);
  BT::layer_norm_backward<T>(ctx(), dy.data(), x.data(), gamma.data(), mean_in.data(), rstd_in.data(), dx_only.data(),
                             nullptr, nullptr, rows, cols);
  CHECK(same_bits(dx_only, dx));
}

// ---- bias + activation --------------------------------------------------------------------------

namespace {
double act_ref(Activation a, double z) {
  switch (a) {
    case Activation::Relu: return z > 0 ? z : 0;
    case Activation::Gelu: return z * 0.5 * std::erfc(-z / std::sqrt(2.0));  // z·Φ(z)
    default: return z;
  }
}
double act_grad_ref(Activation a, double z) {
  switch (a) {
    case Activation::Relu: return z > 0 ? 1 : 0;
    case Activation::Gelu:  // Φ(z) + z·φ(z)
      return 0.5 * std::erfc(-z / std::sqrt(2.0)) + z * std::exp(-0.5 * z * z) / 2.5066282746310005024  /* sqrt(2π) */;
    default: return 1;
  }
}
}  // namespace

TEMPLATE_TEST_CASE("bias_activation forward/backward for Identity, ReLU and GELU, with and without bias",
                   "[backend][activation]", float, double) {
  using T = TestType;
  const int64_t rows = 100, cols = 700;
  const size_t n = size_t(rows * cols);
  const auto x = randn<T>(n, 31, 1.5);
  const auto bias = randn<T>(size_t(cols), 32, 0.5);
  const auto dy = randn<T>(n, 33);
  const auto dbias0 = randn<T>(size_t(cols), 34);
  for (Activation act : {Activation::Identity, Activation::Relu, Activation::Gelu})
    for (bool with_bias : {true, false}) {
      INFO("activation " << int(act) << (with_bias ? " with bias" : " without bias"));
      const T* b = with_bias ? bias.data() : nullptr;
      std::vector<double> y_ref(n), dx_ref(n), db_ref = widen(dbias0);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
          const size_t i = size_t(r * cols + c);
          const double z = double(x[i]) + (with_bias ? double(bias[size_t(c)]) : 0.0);
          y_ref[i] = act_ref(act, z);
          dx_ref[i] = double(dy[i]) * act_grad_ref(act, z);
          db_ref[size_t(c)] += dx_ref[i];
        }
      std::vector<T> y(n);
      BT::bias_activation_forward<T>(ctx(), x.data(), b, y.data(), rows, cols, act);
      CHECK_CLOSE(y, y_ref);
      std::vector<T> in_place = x;  // y may alias x
      BT::bias_activation_forward<T>(ctx(), in_place.data(), b, in_place.data(), rows, cols, act);
      CHECK(same_bits(in_place, y));

      std::vector<T> dx(n), dbias = dbias0;
      BT::bias_activation_backward<T>(ctx(), x.data(), b, dy.data(), dx.data(), dbias.data(), rows, cols, act);
      CHECK_CLOSE(dx, dx_ref);
      CHECK_CLOSE(dbias, db_ref);
      std::vector<T> dx_only(n);
      BT::bias_activation_backward<T>(ctx(), x.data(), b, dy.data(), dx_only.data(), nullptr, rows, cols, act);
      CHECK(same_bits(dx_only, dx));
    }
}

TEST_CASE("threads' scratch rows start on 64-byte boundaries", "[backend][threads]") {
  // A float GELU backward row is evaluated in its thread's scratch (cpu/gelu_float.hpp); Eigen takes
  // the elements before the first 64-byte boundary on its scalar path, whose exp rounds
  // differently, so an unaligned scratch made a gradient's bits depend on the thread that computed
  // the row (seen in "sum_rows, ... bitwise identical on 1 and 2 threads" in an AVX-512 build).
  const int before = cpu::num_threads();
  cpu::set_num_threads(2);
  std::vector<std::uintptr_t> starts;
  std::mutex guard;
  for (int64_t n : {1, 3, 64, 100, 1000, 5000, 100000})
    cpu::parallel_for(2, int64_t{1} << 30, [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        using cpu::detail::ScratchSlot, cpu::detail::thread_scratch;
        const auto f = reinterpret_cast<std::uintptr_t>(thread_scratch<float, ScratchSlot::Gelu>(n + item));
        const auto d = reinterpret_cast<std::uintptr_t>(thread_scratch<double, ScratchSlot::RowA>(n + item));
        const std::lock_guard<std::mutex> lock(guard);
        starts.push_back(f);
        starts.push_back(d);
      }
    });
  cpu::set_num_threads(before);
  REQUIRE(starts.size() == 28);
  for (std::uintptr_t start : starts) CHECK(start % 64 == 0);
}

// ---- L2 normalisation ---------------------------------------------------------------------------

TEMPLATE_TEST_CASE("l2_normalize forward/backward, including rows with norm below eps", "[backend][normalize]",
                   float, double) {
  using T = TestType;
  using A = accumulate_t<T>;
  const int64_t rows = 100, cols = 120;
  const size_t n = size_t(rows * cols);
  auto x = randn<T>(n, 41);
  for (int64_t c = 0; c < cols; ++c) {
    x[size_t(7 * cols + c)] = static_cast<T>(1e-9 * double(c % 3 + 1));  // ||x|| ≈ 2e-8 < eps
    x[size_t(8 * cols + c)] = T(0);                                        // ||x|| = 0
  }
  const double eps = 1e-6;
  std::vector<double> y_ref(n), norm_ref(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t c = 0; c < cols; ++c) ss += double(x[size_t(r * cols + c)]) * double(x[size_t(r * cols + c)]);
    norm_ref[size_t(r)] = std::sqrt(ss);
    for (int64_t c = 0; c < cols; ++c)
      y_ref[size_t(r * cols + c)] = double(x[size_t(r * cols + c)]) / std::max(norm_ref[size_t(r)], eps);
  }
  std::vector<T> y(n);
  std::vector<A> norms(static_cast<size_t>(rows));
  BT::l2_normalize_forward<T>(ctx(), x.data(), y.data(), norms.data(), rows, cols, static_cast<A>(eps));
  CHECK_CLOSE(y, y_ref);
  CHECK_CLOSE(norms, norm_ref);
  CHECK(norms[8] == A(0));
  CHECK(norms[7] < static_cast<A>(eps));

  // Backward: dx = (dy − y·<y, dy>)/n when n ≥ eps, dy/eps otherwise (memformer.md §3).
  const auto dy = randn<T>(n, 42);
  std::vector<double> dx_ref(n);
  for (int64_t r = 0; r < rows; ++r) {
    const double nr = double(norms[size_t(r)]);
    double dot = 0;
    for (int64_t c = 0; c < cols; ++c) dot += double(y[size_t(r * cols + c)]) * double(dy[size_t(r * cols + c)]);
    for (int64_t c = 0; c < cols; ++c) {
      const size_t i = size_t(r * cols + c);
      dx_ref[i] = nr < eps ? double(dy[i]) / eps : (double(dy[i]) - double(y[i]) * dot) / nr;
    }
  }
  std::vector<T> dx(n);
  BT::l2_normalize_backward<T>(ctx(), y.data(), norms.data(), dy.data(), dx.data(), rows, cols, static_cast<A>(eps));
  CHECK_CLOSE(dx, dx_ref);

  // memformer.md §8.1: u = (3, 4, 12), g = (1, 0, 0) → du = (160, −12, −36)/2197.
  const std::vector<T> u{3, 4, 12}, g{1, 0, 0};
  std::vector<T> yu(3), du(3);
  A nu = 0;
  BT::l2_normalize_forward<T>(ctx(), u.data(), yu.data(), &nu, 1, 3, static_cast<A>(1e-12));
  CHECK(nu == A(13));
  BT::l2_normalize_backward<T>(ctx(), yu.data(), &nu, g.data(), du.data(), 1, 3, static_cast<A>(1e-12));
  CHECK_CLOSE(du, (std::vector<double>{160.0 / 2197, -12.0 / 2197, -36.0 / 2197}));
  CHECK(std::abs(double(du[0]) - 0.0728265817) < 1e-9 + 1e-6 * std::is_same_v<T, float>);
  CHECK(std::abs(double(du[1]) + 0.0054619936) < 1e-9 + 1e-6 * std::is_same_v<T, float>);
  CHECK(std::abs(double(du[2]) + 0.0163859809) < 1e-9 + 1e-6 * std::is_same_v<T, float>);
}

// ---- cross-entropy ------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("cross_entropy forward/backward with an ignore index and row weights", "[backend][loss]",
                   float, double) {
  using T = TestType;
  using A = accumulate_t<T>;
  const int64_t rows = 130, vocab = 150;
  const int32_t ignore = -100;
  const auto x = randn<T>(size_t(rows * vocab), 51, 2.0);
  std::vector<int32_t> targets(static_cast<size_t>(rows));
  std::vector<float> weights(static_cast<size_t>(rows));
  const RngKey key{52, 0};
  for (int64_t r = 0; r < rows; ++r) {
    targets[size_t(r)] = r % 7 == 3 ? ignore : static_cast<int32_t>(key.bits(uint64_t(r)) % vocab);
    weights[size_t(r)] = 0.5f + key.uniform(uint64_t(1000 + r));
  }
  const double scale = 1.0 / 17;
  for (bool weighted : {false, true}) {
    INFO((weighted ? "with weights" : "without weights"));
    const float* w = weighted ? weights.data() : nullptr;
    std::vector<double> lse_ref(static_cast<size_t>(rows)), loss_ref(static_cast<size_t>(rows)), dx_ref(size_t(rows * vocab), 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      double mx = -INFINITY, s = 0;
      for (int64_t c = 0; c < vocab; ++c) mx = std::max(mx, double(x[size_t(r * vocab + c)]));
      for (int64_t c = 0; c < vocab; ++c) s += std::exp(double(x[size_t(r * vocab + c)]) - mx);
      lse_ref[size_t(r)] = mx + std::log(s);
      const int32_t t = targets[size_t(r)];
      const double wr = weighted ? double(weights[size_t(r)]) : 1.0;
      if (t == ignore) continue;
      loss_ref[size_t(r)] = wr * (lse_ref[size_t(r)] - double(x[size_t(r * vocab + t)]));
      for (int64_t c = 0; c < vocab; ++c)
        dx_ref[size_t(r * vocab + c)] =
            scale * wr * (std::exp(double(x[size_t(r * vocab + c)]) - lse_ref[size_t(r)]) - (c == t ? 1.0 : 0.0));
    }
    std::vector<A> loss(static_cast<size_t>(rows)), lse(static_cast<size_t>(rows));
    BT::cross_entropy_forward<T>(ctx(), x.data(), targets.data(), w, loss.data(), lse.data(), rows, vocab, ignore);
    CHECK_CLOSE(lse, lse_ref);
    CHECK_CLOSE(loss, loss_ref);
    CHECK(loss[3] == A(0));  // row 3 is ignored

    const std::vector<A> lse_in(lse_ref.begin(), lse_ref.end());
    std::vector<T> dx(size_t(rows * vocab), static_cast<T>(99));
    BT::cross_entropy_backward<T>(ctx(), x.data(), targets.data(), w, lse_in.data(), static_cast<A>(scale), dx.data(),
                                  rows, vocab, ignore);
    CHECK_CLOSE(dx, dx_ref);
  }
}

// ---- embedding ----------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("embedding gather and scatter-add with repeated ids", "[backend][embedding]", float, double) {
  using T = TestType;
  const int64_t vocab = 11, dim = 700, n = 50;
  const auto table = randn<T>(size_t(vocab * dim), 61);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = static_cast<int32_t>((i * 7 + i / 13) % vocab);  // each id ~4 times

  std::vector<T> out(size_t(n * dim));
  BT::embedding_gather<T>(ctx(), table.data(), ids.data(), out.data(), n, dim);
  bool rows_match = true;
  for (int64_t i = 0; i < n; ++i)
    rows_match = rows_match && std::memcmp(out.data() + i * dim, table.data() + ids[size_t(i)] * dim, sizeof(T) * size_t(dim)) == 0;
  CHECK(rows_match);

  const auto dout = randn<T>(size_t(n * dim), 62);
  auto dtable = randn<T>(size_t(vocab * dim), 63);
  std::vector<double> ref = widen(dtable);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < dim; ++c) ref[size_t(ids[size_t(i)] * dim + c)] += double(dout[size_t(i * dim + c)]);
  BT::embedding_scatter_add<T>(ctx(), dout.data(), ids.data(), dtable.data(), n, dim);
  CHECK_CLOSE(dtable, ref);

  const std::vector<int32_t> mixed{-1, 0, 5, 10, -100, 9};
  CHECK(BT::count_invalid_ids(ctx(), mixed.data(), 6, 10, -100) == 2);          // −1 and 10
  CHECK(BT::count_invalid_ids(ctx(), mixed.data(), 6, 10, int64_t{1} << 40) == 3);  // −100 too
}

// ---- elementwise --------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("axpby, add, mul and add_row_broadcast", "[backend][elementwise]", float, double) {
  using T = TestType;
  const size_t n = 70001;
  const auto a = randn<T>(n, 71), b = randn<T>(n, 72);
  const T alpha = static_cast<T>(0.7), beta = static_cast<T>(-1.3);
  std::vector<double> ref(n);

  auto y = b;
  BT::axpby<T>(ctx(), int64_t(n), alpha, a.data(), beta, y.data());
  for (size_t i = 0; i < n; ++i) ref[i] = double(alpha) * double(a[i]) + double(beta) * double(b[i]);
  CHECK_CLOSE(y, ref);
  std::vector<T> garbage(n, std::numeric_limits<T>::quiet_NaN());  // beta = 0 never reads y
  BT::axpby<T>(ctx(), int64_t(n), alpha, a.data(), T(0), garbage.data());
  for (size_t i = 0; i < n; ++i) ref[i] = double(alpha) * double(a[i]);
  CHECK_CLOSE(garbage, ref);

  std::vector<T> out(n);
  BT::add<T>(ctx(), int64_t(n), a.data(), b.data(), out.data());
  for (size_t i = 0; i < n; ++i) ref[i] = double(a[i]) + double(b[i]);
  CHECK_CLOSE(out, ref);
  BT::mul<T>(ctx(), int64_t(n), a.data(), b.data(), out.data());
  for (size_t i = 0; i < n; ++i) ref[i] = double(a[i]) * double(b[i]);
  CHECK_CLOSE(out, ref);

  const int64_t rows = 100, cols = 700;
  const auto row = randn<T>(size_t(cols), 73);
  auto xy = std::vector<T>(a.begin(), a.begin() + rows * cols);  // in place: y aliases x
  std::vector<double> bref(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) bref[size_t(r * cols + c)] = double(a[size_t(r * cols + c)]) + double(row[size_t(c)]);
  BT::add_row_broadcast<T>(ctx(), xy.data(), row.data(), xy.data(), rows, cols);
  CHECK_CLOSE(xy, bref);

  // Rows ld apart (a block of columns of a wider tensor, as nn::MultiHeadAttention's project_qkv
  // adds a bias block): the columns [lo, lo + w) of every row change, no other entry does.
  const int64_t lo = 200, w = 300;
  auto wide = std::vector<T>(a.begin(), a.begin() + rows * cols), wide_ref = wide;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = lo; c < lo + w; ++c) wide_ref[size_t(r * cols + c)] += row[size_t(c - lo)];
  cpu::add_row_broadcast<T>(wide.data() + lo, row.data(), wide.data() + lo, rows, w, cols);
  CHECK(same_bits(wide, wide_ref));
}

TEMPLATE_TEST_CASE("dropout: inverted scaling, mask reproducible from the key, offsets, keep rate",
                   "[backend][dropout]", float, double) {
  using T = TestType;
  const size_t n = 100003;
  const float p = 0.3f;
  const RngKey key = RngKey{81, 0}.derive("dropout");
  const auto x = randn<T>(n, 82);
  std::vector<T> y(n);
  BT::dropout<T>(ctx(), int64_t(n), x.data(), y.data(), p, key, 0);
  std::vector<double> ref(n);
  int64_t kept = 0;
  for (size_t i = 0; i < n; ++i) {
    const bool keep = key.keep(i, p);
    kept += keep ? 1 : 0;
    ref[i] = keep ? double(x[i]) / (1.0 - double(p)) : 0.0;
  }
  CHECK_CLOSE(y, ref);
  CHECK(std::abs(double(kept) / double(n) - (1 - p)) < 6 * std::sqrt(double(p) * (1 - p) / double(n)));

  std::vector<T> again(n);  // same key → same mask
  BT::dropout<T>(ctx(), int64_t(n), x.data(), again.data(), p, key, 0);
  CHECK(same_bits(again, y));
  // A chunk at element offset 1000 draws the same mask as elements 1000.. of the whole.
  std::vector<T> tail(n - 1000);
  BT::dropout<T>(ctx(), int64_t(n - 1000), x.data() + 1000, tail.data(), p, key, 1000);
  CHECK(same_bits(tail, std::vector<T>(y.begin() + 1000, y.end())));
  // Another key, another mask.
  std::vector<T> other(n);
  BT::dropout<T>(ctx(), int64_t(n), x.data(), other.data(), p, key.derive(1), 0);
  int64_t differ = 0;
  for (size_t i = 0; i < n; ++i) differ += ((other[i] == T(0)) != (y[i] == T(0))) ? 1 : 0;
  CHECK(differ > int64_t(n) / 5);  // expected 2·p·(1−p) = 42% of positions
}

TEMPLATE_TEST_CASE("permute_0213, select_rows (with broadcast), cast, copy_2d, fill and copies",
                   "[backend][layout]", float, double) {
  using T = TestType;
  {  // permute_0213: y[i, k, j, l] = x[i, j, k, l]
    const int64_t d0 = 4, d1 = 30, d2 = 20, d3 = 16;
    const auto x = randn<T>(size_t(d0 * d1 * d2 * d3), 91);
    std::vector<T> y(x.size()), ref(x.size()), back(x.size());
    for (int64_t i = 0; i < d0; ++i)
      for (int64_t j = 0; j < d1; ++j)
        for (int64_t k = 0; k < d2; ++k)
          for (int64_t l = 0; l < d3; ++l)
            ref[size_t(((i * d2 + k) * d1 + j) * d3 + l)] = x[size_t(((i * d1 + j) * d2 + k) * d3 + l)];
    BT::permute_0213<T>(ctx(), x.data(), y.data(), d0, d1, d2, d3);
    CHECK(same_bits(y, ref));
    BT::permute_0213<T>(ctx(), y.data(), back.data(), d0, d2, d1, d3);
    CHECK(same_bits(back, x));
  }
  {  // select_rows: out[r] = select[r] ? a[r] : b[r]; a_stride 0 broadcasts a's first row
    const int64_t rows = 70, cols = 9;
    const auto a = randn<T>(size_t(rows * cols), 92), b = randn<T>(size_t(rows * cols), 93);
    std::vector<uint8_t> sel(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) sel[size_t(r)] = r % 3 == 0;
    for (int64_t a_stride : {cols, int64_t{0}}) {
      INFO("a_stride " << a_stride);
      std::vector<T> ref(size_t(rows * cols));
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
          ref[size_t(r * cols + c)] = sel[size_t(r)] ? a[size_t(r * a_stride + c)] : b[size_t(r * cols + c)];
      std::vector<T> out(ref.size());
      BT::select_rows<T>(ctx(), sel.data(), a.data(), a_stride, b.data(), out.data(), rows, cols);
      CHECK(same_bits(out, ref));
      auto in_place = b;  // out may alias b
      BT::select_rows<T>(ctx(), sel.data(), a.data(), a_stride, in_place.data(), in_place.data(), rows, cols);
      CHECK(same_bits(in_place, ref));
    }
  }
  {  // cast to and from T: static_cast per element
    const size_t n = 70000;
    const auto d = randn<double>(n, 94, 3.0);
    std::vector<T> t(n);
    BT::cast(ctx(), int64_t(n), d.data(), t.data());
    std::vector<T> ref_t(n);
    for (size_t i = 0; i < n; ++i) ref_t[i] = static_cast<T>(d[i]);
    CHECK(same_bits(t, ref_t));
    std::vector<double> back(n);
    BT::cast(ctx(), int64_t(n), t.data(), back.data());
    CHECK(back == widen(t));
    const std::vector<int32_t> ints{-3, 0, 16777217, 7};
    std::vector<T> ti(4);
    BT::cast(ctx(), 4, ints.data(), ti.data());
    CHECK(ti == std::vector<T>{T(-3), T(0), static_cast<T>(16777217), T(7)});
  }
  {  // copy_2d: 4 rows of 3 elements from pitch 7 into pitch 5; the rest of dst untouched
    const auto src = randn<T>(7 * 4, 95);
    std::vector<T> dst(5 * 4, T(-1)), ref = dst;
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < 3; ++c) ref[size_t(r * 5 + c)] = src[size_t(r * 7 + 1 + c)];
    BT::copy_2d(ctx(), dst.data(), 5 * sizeof(T), src.data() + 1, 7 * sizeof(T), 3 * sizeof(T), 4);
    CHECK(same_bits(dst, ref));
  }
  {  // fill (the zero value takes a memset path) and the three copies
    std::vector<T> v(70000, T(3));
    BT::fill<T>(ctx(), v.data(), int64_t(v.size()), static_cast<T>(-2.5));
    CHECK(v == std::vector<T>(v.size(), static_cast<T>(-2.5)));
    BT::fill<T>(ctx(), v.data(), int64_t(v.size()), T(0));
    CHECK(v == std::vector<T>(v.size(), T(0)));
    const auto src = randn<T>(100, 96);
    std::vector<T> h(100), d(100), h2(100);
    BT::copy_from_host(ctx(), d.data(), src.data(), 100 * sizeof(T));
    BT::copy_device(ctx(), h.data(), d.data(), 100 * sizeof(T));
    BT::copy_to_host(ctx(), h2.data(), h.data(), 100 * sizeof(T));
    BT::synchronize(ctx());
    CHECK(same_bits(h2, src));
  }
}

// ---- reductions ---------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("sum, dot, sum_squares, max_abs, count_nonfinite and sum_rows", "[backend][reduce]", float,
                   double) {
  using T = TestType;
  const size_t n = 100003;  // 25 blocks of 4096 and a partial one
  auto x = randn<T>(n, 101, 1.0, 0.25);
  const auto y = randn<T>(n, 102, 1.0, -0.5);
  x[77777] = static_cast<T>(-9.5);
  long double s = 0, sd = 0, ss = 0;
  for (size_t i = 0; i < n; ++i) {
    s += static_cast<long double>(x[i]);
    sd += static_cast<long double>(x[i]) * static_cast<long double>(y[i]);
    ss += static_cast<long double>(x[i]) * static_cast<long double>(x[i]);
  }
  CHECK_CLOSE(BT::sum<T>(ctx(), x.data(), int64_t(n)), double(s));
  CHECK_CLOSE(BT::dot<T>(ctx(), x.data(), y.data(), int64_t(n)), double(sd));
  CHECK_CLOSE(BT::sum_squares<T>(ctx(), x.data(), int64_t(n)), double(ss));
  CHECK(BT::max_abs<T>(ctx(), x.data(), int64_t(n)) == 9.5);
  CHECK(BT::count_nonfinite<T>(ctx(), x.data(), int64_t(n)) == 0);
  auto bad = x;
  bad[5] = std::numeric_limits<T>::quiet_NaN();
  bad[70000] = std::numeric_limits<T>::infinity();
  bad[n - 1] = -std::numeric_limits<T>::infinity();
  CHECK(BT::count_nonfinite<T>(ctx(), bad.data(), int64_t(n)) == 3);

  const int64_t rows = 200, cols = 33;
  std::vector<double> col(size_t(cols), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) col[size_t(c)] += double(x[size_t(r * cols + c)]);
  std::vector<T> out(size_t(cols), std::numeric_limits<T>::quiet_NaN());  // overwritten, not read
  BT::sum_rows<T>(ctx(), x.data(), out.data(), rows, cols, false);
  CHECK_CLOSE(out, col);
  const auto out0 = randn<T>(size_t(cols), 103);
  out = out0;
  BT::sum_rows<T>(ctx(), x.data(), out.data(), rows, cols, true);
  for (int64_t c = 0; c < cols; ++c) col[size_t(c)] += double(out0[size_t(c)]);
  CHECK_CLOSE(out, col);
}

TEMPLATE_TEST_CASE("sum_rows, layer-norm dγ/dβ, bias gradients and sums are bitwise identical on 1 and 2 threads",
                   "[backend][reduce][threads]", float, double) {
  using T = TestType;
  using A = accumulate_t<T>;
  const int64_t rows = 1000, cols = 64;
  const size_t n = size_t(rows * cols);
  const auto x = randn<T>(n, 111), dy = randn<T>(n, 112);
  const auto gamma = randn<T>(size_t(cols), 113, 0.5, 1.0);
  std::vector<A> mean(static_cast<size_t>(rows)), rstd(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    mean[size_t(r)] = static_cast<A>(0.01 * double(r % 7));
    rstd[size_t(r)] = static_cast<A>(1.0 + 0.001 * double(r % 11));
  }
  struct Results {
    std::vector<T> sum_rows, dgamma, dbeta, dbias;
    double sum, dot;
  };
  auto run = [&](int threads) {
    cpu::set_num_threads(threads);
    Results res{std::vector<T>(static_cast<size_t>(cols)), std::vector<T>(size_t(cols), T(0)), std::vector<T>(size_t(cols), T(0)),
                std::vector<T>(size_t(cols), T(0)), 0, 0};
    BT::sum_rows<T>(ctx(), x.data(), res.sum_rows.data(), rows, cols, false);
    BT::layer_norm_backward<T>(ctx(), dy.data(), x.data(), gamma.data(), mean.data(), rstd.data(), nullptr,
                               res.dgamma.data(), res.dbeta.data(), rows, cols);
    std::vector<T> dx(n);
    BT::bias_activation_backward<T>(ctx(), x.data(), gamma.data(), dy.data(), dx.data(), res.dbias.data(), rows, cols,
                                    Activation::Gelu);
    res.sum = BT::sum<T>(ctx(), x.data(), int64_t(n));
    res.dot = BT::dot<T>(ctx(), x.data(), dy.data(), int64_t(n));
    return res;
  };
  const int before = cpu::num_threads();
  const Results one = run(1);
  cpu::set_num_threads(2);
  REQUIRE(cpu::num_threads() == 2);  // the 2-thread run below really uses two threads
  const Results two = run(2);
  cpu::set_num_threads(before);
  CHECK(same_bits(one.sum_rows, two.sum_rows));
  CHECK(same_bits(one.dgamma, two.dgamma));
  CHECK(same_bits(one.dbeta, two.dbeta));
  CHECK(same_bits(one.dbias, two.dbias));
  CHECK(std::memcmp(&one.sum, &two.sum, sizeof(double)) == 0);
  CHECK(std::memcmp(&one.dot, &two.dot, sizeof(double)) == 0);
}

// ---- optimizer ----------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("adamw_update against the AdamW formula", "[backend][adamw]", float, double) {
  using T = TestType;
  using M = master_t<T>;
  const size_t n = 70000;
  auto param = randn<T>(n, 121);
  const auto grad = randn<T>(n, 122, 2.0);
  auto m = randn<M>(n, 123, 0.1);
  auto v = randn<M>(n, 124, 0.01);
  for (auto& e : v) e = std::abs(e);
  AdamWStep s;
  s.lr = 1e-2;
  s.beta1 = 0.9;
  s.beta2 = 0.98;
  s.eps = 1e-8;
  s.weight_decay = 0.05;
  s.step = 3;
  s.grad_scale = 0.5;
  // g ← gs·g; m ← β1 m + (1−β1) g; v ← β2 v + (1−β2) g²; p ← p(1 − lr·wd) − lr (m/bc1)/(sqrt(v/bc2) + eps)
  const double bc1 = 1 - std::pow(s.beta1, 3), bc2 = 1 - std::pow(s.beta2, 3);
  std::vector<double> p_ref(n), m_ref(n), v_ref(n);
  for (size_t i = 0; i < n; ++i) {
    const double g = s.grad_scale * double(grad[i]);
    m_ref[i] = s.beta1 * double(m[i]) + (1 - s.beta1) * g;
    v_ref[i] = s.beta2 * double(v[i]) + (1 - s.beta2) * g * g;
    p_ref[i] = double(param[i]) * (1 - s.lr * s.weight_decay) - s.lr * (m_ref[i] / bc1) / (std::sqrt(v_ref[i] / bc2) + s.eps);
  }
  BT::adamw_update<T>(ctx(), param.data(), grad.data(), m.data(), v.data(), int64_t(n), s);
  CHECK_CLOSE(param, p_ref);
  CHECK_CLOSE(m, m_ref);
  CHECK_CLOSE(v, v_ref);
}
