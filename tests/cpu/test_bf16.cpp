// bfloat16 on the CPU: the bf16 GEMM (both micro-kernels) against a double reference; the
// models with bf16 parameters and activations against the same models in fp32; a short training
// run with fp32 master weights; the state IO round trip; one op's gradient against fp32.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "mnemo/backend/cpu/conv3_winograd.hpp"
#include "mnemo/backend/cpu/gemm_bf16.hpp"
#include "mnemo/backend/cpu/memformer_writer.hpp"
#include "mnemo/backend/cpu/sigmoid_gate.hpp"
#include "mnemo/core/bfloat16.hpp"
#include "mnemo/io/infinite_former_state_io.hpp"
#include "mnemo/memory/continuous_operators.hpp"  // bodies for bf16 (not in mnemo::compiled)
#include "mnemo/io/slot_state_io.hpp"
#include "mnemo/models/infinite_former.hpp"
#include "mnemo/models/memformer.hpp"
#include "mnemo/train/bptt.hpp"
#include "mnemo/train/infinite_former_trainer.hpp"
#include "mnemo/train/mrbp.hpp"
#include "mnemo/train/optimizer.hpp"
#include "support/attention_reference.hpp"
#include "support/testing.hpp"

// Instantiated once, here (the bf16 models are not part of mnemo::compiled).
template class mnemo::models::Memformer<mnemo::bfloat16, mnemo::Cpu>;
template class mnemo::models::InfiniteFormer<mnemo::bfloat16, mnemo::Cpu>;
template class mnemo::train::Bptt<mnemo::bfloat16, mnemo::Cpu>;
template class mnemo::train::Mrbp<mnemo::bfloat16, mnemo::Cpu>;
template class mnemo::train::InfiniteFormerTrainer<mnemo::bfloat16, mnemo::Cpu>;
template class mnemo::train::AdamW<mnemo::bfloat16, mnemo::Cpu>;

using namespace mnemo;
using namespace mnemo::test;
namespace ag = mnemo::autograd;
using bf16 = mnemo::bfloat16;

namespace {

/// Values exactly representable in bfloat16, from a fixed seed.
std::vector<bf16> random_bf16(int64_t n, uint64_t seed) {
  std::vector<bf16> v(static_cast<size_t>(n));
  const RngKey key{seed, 0xbf16};
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = bf16(static_cast<float>(key.normal(static_cast<uint64_t>(i))));
  return v;
}

struct GemmCase {
  Trans ta, tb;
  int64_t m, n, k, batch;
  float alpha, beta;
  int64_t pad;  // extra elements per row (ld = width + pad)
};

/// Max |C − C_ref| / max|C_ref| over the batch, C_ref in double from the same bf16 inputs.
template <class TC>
double gemm_error(const GemmCase& g, cpu::Bf16Kernel kernel) {
  const int64_t a_rows = g.ta == Trans::N ? g.m : g.k, a_cols = g.ta == Trans::N ? g.k : g.m;
  const int64_t b_rows = g.tb == Trans::N ? g.k : g.n, b_cols = g.tb == Trans::N ? g.n : g.k;
  const int64_t lda = a_cols + g.pad, ldb = b_cols + g.pad, ldc = g.n + g.pad;
  const int64_t sa = a_rows * lda + 3, sb = b_rows * ldb + 5, sc = g.m * ldc + 7;  // odd batch strides
  const auto A = random_bf16(sa * g.batch, 1), B = random_bf16(sb * g.batch, 2);
  const auto c0 = random_bf16(sc * g.batch, 3);
  std::vector<TC> C(c0.size());
  for (size_t i = 0; i < C.size(); ++i) C[i] = static_cast<TC>(static_cast<float>(c0[i]));
  const std::vector<TC> before = C;
  cpu::gemm_bf16_strided_batched<TC>(g.ta, g.tb, g.m, g.n, g.k, g.alpha, A.data(), lda, sa, B.data(), ldb, sb, g.beta,
                                     C.data(), ldc, sc, g.batch, kernel);
  double diff = 0, ref_max = 1e-30;
  for (int64_t b = 0; b < g.batch; ++b)
    for (int64_t i = 0; i < g.m; ++i)
      for (int64_t j = 0; j < g.n + g.pad; ++j) {
        const size_t idx = static_cast<size_t>(b * sc + i * ldc + j);
        if (j >= g.n) {  // padding between rows is never written
          if (static_cast<float>(C[idx]) != static_cast<float>(before[idx])) return INFINITY;
          continue;
        }
        double ref = 0;
        for (int64_t p = 0; p < g.k; ++p) {
          ref += static_cast<double>(A[static_cast<size_t>(b * sa + (g.ta == Trans::N ? i * lda + p : p * lda + i))]) *
                 static_cast<double>(B[static_cast<size_t>(b * sb + (g.tb == Trans::N ? p * ldb + j : j * ldb + p))]);
        }
        ref = g.alpha * ref + (g.beta == 0.0f ? 0.0 : g.beta * static_cast<double>(before[idx]));
        diff = std::max(diff, std::abs(static_cast<double>(C[idx]) - ref));
        ref_max = std::max(ref_max, std::abs(ref));
      }
  // Rows between batch items are untouched too.
  for (int64_t b = 0; b < g.batch; ++b)
    for (int64_t i = g.m * ldc; i < sc; ++i) {
      const size_t idx = static_cast<size_t>(b * sc + i);
      if (static_cast<float>(C[idx]) != static_cast<float>(before[idx])) return INFINITY;
    }
  return diff / ref_max;
}

models::MemformerConfig memformer_config() {
  models::MemformerConfig c;
  c.vocab = 29;
  c.d_model = 32;
  c.heads = 4;
  c.d_ff = 64;
  c.slots = 6;
  c.encoder_layers = 2;
  c.decoder_layers = 2;
  c.segment_length = 12;
  c.init_std = 0.1;
  return c;
}

train::Segment segment(int64_t batch, int64_t L, int64_t vocab, uint64_t seed) {
  train::Segment s{Tensor<int32_t, Cpu>(Shape{batch, L}), {}};
  const RngKey key{seed, 1};
  for (int64_t i = 0; i < batch * L; ++i)
    s.tokens[i] = static_cast<int32_t>(key.bits(static_cast<uint64_t>(i)) % static_cast<uint32_t>(vocab));
  return s;
}

}  // namespace

TEST_CASE("bf16 GEMM matches a double reference: transposes, strides, batches, odd sizes, both kernels",
          "[bf16][gemm]") {
  const std::vector<GemmCase> cases = {
      {Trans::N, Trans::N, 64, 256, 256, 1, 1.0f, 0.0f, 0},   {Trans::N, Trans::T, 37, 45, 29, 3, 0.5f, 1.0f, 3},
      {Trans::T, Trans::N, 9, 70, 513, 2, 1.0f, -0.5f, 1},    {Trans::T, Trans::T, 81, 33, 1, 1, 2.0f, 0.0f, 2},
      {Trans::N, Trans::N, 1, 1, 7, 4, 1.0f, 0.25f, 0},       {Trans::N, Trans::T, 130, 300, 64, 1, 1.0f, 0.0f, 5},
      {Trans::N, Trans::N, 5, 9, 0, 2, 1.0f, 0.5f, 1},  // k = 0: C = beta·C
      // Rows in whole panels with B read in place: the kernel writes the last k block to C itself
      // (several k and column blocks, a narrow packed panel beside, odd k; rows or columns split
      // between threads).
      {Trans::N, Trans::N, 48, 300, 517, 2, 0.75f, -0.5f, 3}, {Trans::N, Trans::N, 64, 96, 64, 1, 1.0f, 1.0f, 0},
      {Trans::N, Trans::N, 16, 1000, 40, 1, 2.0f, 0.5f, 2},
      // The AVX2 kernel: two blocks of rows (96 + 34; a batch of 2, so one job per product whatever
      // the threads), five of k (4 × 256 + 76: a widened row of A ends in a partial group of 8), a
      // row tile and a column panel left narrow; alpha = 0 (C = beta·C, A and B unread).
      {Trans::N, Trans::N, 130, 40, 1100, 2, 1.0f, 0.5f, 1}, {Trans::T, Trans::N, 7, 20, 5, 2, 0.0f, 0.5f, 0},
      // Its last row tile 5 rows high (11 = 6 + 5) and 2 rows high (14 = 12 + 2), with a last panel
      // of 9 columns; k = 300 leaves 4 elements of each widened row of A after its groups of 8.
      {Trans::N, Trans::N, 11, 25, 300, 1, 1.0f, 0.5f, 1}, {Trans::T, Trans::T, 14, 9, 6, 2, -1.0f, 0.0f, 2},
  };
  std::vector<cpu::Bf16Kernel> kernels = {cpu::Bf16Kernel::Portable, cpu::Bf16Kernel::Auto};
  if (cpu::cpu_has_avx512_bf16()) kernels.push_back(cpu::Bf16Kernel::Avx512);
  if (cpu::cpu_has_avx2_fma()) kernels.push_back(cpu::Bf16Kernel::Avx2);
  else WARN("the AVX2 bfloat16 kernel is not checked: this CPU has no AVX2 and FMA");
  for (const auto kernel : kernels)
    for (const auto& g : cases) {
      INFO("kernel " << static_cast<int>(kernel) << " ta " << static_cast<int>(g.ta) << " tb "
                     << static_cast<int>(g.tb) << " m " << g.m << " n " << g.n << " k " << g.k);
      // fp32 output: only the order of fp32 additions differs from the exact sum of exact products.
      CHECK(gemm_error<float>(g, kernel) < 1e-5);
      // bf16 output: one rounding (2^-9 relative) on top.
      CHECK(gemm_error<bf16>(g, kernel) < 4e-3);
    }
  // A kernel this CPU (or build) lacks is refused.
  const auto ask_for = [](cpu::Bf16Kernel kernel) {
    std::vector<bf16> a(4), b(4);
    std::vector<float> c(4);
    cpu::gemm_bf16_strided_batched<float>(Trans::N, Trans::N, 2, 2, 2, 1.0f, a.data(), 2, 0, b.data(), 2, 0, 0.0f,
                                          c.data(), 2, 0, 1, kernel);
  };
  if (!cpu::cpu_has_avx512_bf16()) MNEMO_CHECK_THROWS(ask_for(cpu::Bf16Kernel::Avx512), Error, "avx512_bf16");
  if (!cpu::cpu_has_avx2_fma()) MNEMO_CHECK_THROWS(ask_for(cpu::Bf16Kernel::Avx2), Error, "no AVX2 and FMA");
}

TEST_CASE("bf16 GEMM through BackendTraits<Cpu> equals the kernel called directly", "[bf16][gemm]") {
  auto& ctx = BackendTraits<Cpu>::default_context();
  const auto A = random_bf16(48 * 40, 4), B = random_bf16(40 * 24, 5);
  std::vector<bf16> c1(48 * 24), c2(48 * 24);
  BackendTraits<Cpu>::gemm<bf16>(ctx, Trans::N, Trans::N, 48, 24, 40, 1.0f, A.data(), 40, 0, B.data(), 24, 0, 0.0f,
                                 c1.data(), 24, 0, 1);
  cpu::gemm_bf16_strided_batched<bf16>(Trans::N, Trans::N, 48, 24, 40, 1.0f, A.data(), 40, 0, B.data(), 24, 0, 0.0f,
                                       c2.data(), 24, 0, 1);
  for (size_t i = 0; i < c1.size(); ++i) REQUIRE(bfloat16_bits(c1[i]) == bfloat16_bits(c2[i]));
}

namespace {
/// Bit patterns of a bf16 vector (compare results bit for bit, NaN included).
std::vector<uint16_t> bits_of(const std::vector<bf16>& v) {
  std::vector<uint16_t> b(v.size());
  for (size_t i = 0; i < v.size(); ++i) b[i] = bfloat16_bits(v[i]);
  return b;
}
}  // namespace

TEST_CASE("bf16 GEMM's bfloat16 C is its fp32 C rounded as Eigen rounds, NaN and infinity included",
          "[bf16][gemm]") {
  const int64_t m = 13, n = 37, k = 19;  // a row tile and a column panel left narrow
  auto A = random_bf16(m * k, 21), B = random_bf16(k * n, 22);
  A[5] = bf16(std::numeric_limits<float>::infinity());  // row 0: ∞ or NaN (∞ − ∞) in every column
  A[k + 3] = bf16(std::numeric_limits<float>::quiet_NaN());
  A[2 * k + 1] = bf16(-3.0e38f);  // row 2: sums beyond fp32's range
  A[2 * k + 2] = bf16(-3.0e38f);
  std::vector<cpu::Bf16Kernel> kernels = {cpu::Bf16Kernel::Portable};
  if (cpu::cpu_has_avx2_fma()) kernels.push_back(cpu::Bf16Kernel::Avx2);
  for (const auto kernel : kernels) {
    INFO("kernel " << static_cast<int>(kernel));
    std::vector<float> cf(m * n);
    std::vector<bf16> cb(m * n), expected(m * n);
    cpu::gemm_bf16_strided_batched<float>(Trans::N, Trans::N, m, n, k, 1.5f, A.data(), k, 0, B.data(), n, 0, 0.0f,
                                          cf.data(), n, 0, 1, kernel);
    cpu::gemm_bf16_strided_batched<bf16>(Trans::N, Trans::N, m, n, k, 1.5f, A.data(), k, 0, B.data(), n, 0, 0.0f,
                                         cb.data(), n, 0, 1, kernel);
    for (size_t i = 0; i < cf.size(); ++i) expected[i] = bf16(cf[i]);
    CHECK(std::count_if(cf.begin(), cf.end(), [](float v) { return std::isnan(v); }) >= n);
    CHECK(std::count_if(cf.begin(), cf.end(), [](float v) { return std::isinf(v); }) > 0);
    CHECK(bits_of(cb) == bits_of(expected));
  }
}

TEST_CASE("bf16 row conversions round to nearest even, exactly as Eigen's scalar conversion", "[bf16][elementwise]") {
  // Ties both ways, the largest finite value, overflow to ∞, subnormals, ±0, ±∞, NaNs of both signs.
  std::vector<uint32_t> words = {0x3F808000u, 0x3F818000u, 0x3F80C000u, 0x3F807FFFu, 0x7F7F7FFFu, 0x7F7FFFFFu,
                                 0x00008000u, 0x00018000u, 0x80000000u, 0x00000000u, 0x7F800000u, 0xFF800000u,
                                 0x7FC00001u, 0xFF800001u, 0x7F800001u, 0xBF808001u};
  for (uint32_t i = 0; i < 4096; ++i) words.push_back(i * 0x000FF1F3u + 0x1234u);  // a spread of patterns
  std::vector<float> f(words.size());
  std::memcpy(f.data(), words.data(), sizeof(float) * words.size());
  std::vector<bf16> fast(f.size()), eigen(f.size());
  cpu::bf16_rows::narrow(f.data(), fast.data(), static_cast<int64_t>(f.size()));
  for (size_t i = 0; i < f.size(); ++i) eigen[i] = bf16(f[i]);
  REQUIRE(bits_of(fast) == bits_of(eigen));
  std::vector<float> back(f.size());
  cpu::bf16_rows::widen(fast.data(), back.data(), static_cast<int64_t>(f.size()));
  for (size_t i = 0; i < f.size(); ++i) {
    const float expected = static_cast<float>(eigen[i]);
    if (std::isnan(expected)) REQUIRE(std::isnan(back[i]));
    else REQUIRE(back[i] == expected);
  }
}

TEST_CASE("bf16 elementwise kernels equal the per-element fp32 formulas bit for bit", "[bf16][elementwise]") {
  const int64_t rows = 37, cols = 301;  // odd sizes: vector tails, uneven parallel chunks
  const auto x = random_bf16(rows * cols, 11), other = random_bf16(rows * cols, 12);
  const auto row = random_bf16(cols, 13), gamma = random_bf16(cols, 14), beta = random_bf16(cols, 15);
  const auto f = [](bf16 v) { return static_cast<float>(v); };
  std::vector<bf16> got(x.size()), want(x.size());
  auto& ctx = BackendTraits<Cpu>::default_context();  // what the layers call

  BackendTraits<Cpu>::add_row_broadcast<bf16>(ctx, x.data(), row.data(), got.data(), rows, cols);
  for (int64_t i = 0; i < rows * cols; ++i) want[size_t(i)] = bf16(f(x[size_t(i)]) + f(row[size_t(i % cols)]));
  CHECK(bits_of(got) == bits_of(want));
  {  // rows `cols` apart, columns [lo, lo + w) only (a bias block of project_qkv): the rest unchanged
    const int64_t lo = 37, w = 150;
    std::vector<bf16> block = x, block_want = x;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = lo; c < lo + w; ++c)
        block_want[size_t(r * cols + c)] = bf16(f(x[size_t(r * cols + c)]) + f(row[size_t(c - lo)]));
    cpu::add_row_broadcast<bf16>(block.data() + lo, row.data(), block.data() + lo, rows, w, cols);
    CHECK(bits_of(block) == bits_of(block_want));
  }

  BackendTraits<Cpu>::add<bf16>(ctx, rows * cols, x.data(), other.data(), got.data());
  for (size_t i = 0; i < x.size(); ++i) want[i] = bf16(f(x[i]) + f(other[i]));
  CHECK(bits_of(got) == bits_of(want));

  std::vector<float> mean(rows), rstd(rows);
  BackendTraits<Cpu>::layer_norm_forward<bf16>(ctx, x.data(), gamma.data(), beta.data(), got.data(), mean.data(),
                                               rstd.data(), rows, cols, 1e-5f);
  for (int64_t r = 0; r < rows; ++r) {  // cpu/layer_norm.hpp's order of fp32 operations
    const bf16* xr = x.data() + r * cols;
    float sum = 0, var = 0;
    for (int64_t c = 0; c < cols; ++c) sum += f(xr[c]);
    const float mu = sum / static_cast<float>(cols);
    for (int64_t c = 0; c < cols; ++c) var += (f(xr[c]) - mu) * (f(xr[c]) - mu);
    const float rs = 1.0f / std::sqrt(var / static_cast<float>(cols) + 1e-5f);
    CHECK(mean[size_t(r)] == mu);
    CHECK(rstd[size_t(r)] == rs);
    for (int64_t c = 0; c < cols; ++c) want[size_t(r * cols + c)] = bf16((f(xr[c]) - mu) * rs * f(gamma[size_t(c)]) + f(beta[size_t(c)]));
  }
  CHECK(bits_of(got) == bits_of(want));

  for (const Activation act : {Activation::Identity, Activation::Relu}) {
    BackendTraits<Cpu>::bias_activation_forward<bf16>(ctx, x.data(), row.data(), got.data(), rows, cols, act);
    for (int64_t i = 0; i < rows * cols; ++i)
      want[size_t(i)] = bf16(activation_value(act, f(x[size_t(i)]) + f(row[size_t(i % cols)])));
    CHECK(bits_of(got) == bits_of(want));
  }
  // GELU: the vectorised erf differs from libm's by a few fp32 ulp, so a result may round to the
  // neighbouring bf16; against a double reference every result is within one bf16 ulp.
  BackendTraits<Cpu>::bias_activation_forward<bf16>(ctx, x.data(), row.data(), got.data(), rows, cols, Activation::Gelu);
  for (int64_t i = 0; i < rows * cols; ++i) {
    const double z = static_cast<double>(f(x[size_t(i)])) + static_cast<double>(f(row[size_t(i % cols)]));
    const double ref = 0.5 * z * (1.0 + std::erf(z / std::sqrt(2.0)));
    REQUIRE(std::abs(static_cast<double>(f(got[size_t(i)])) - ref) <= std::abs(ref) / 128 + 1e-6);  // 2^-7 relative
  }
}

TEST_CASE("bf16 softmax is the fp32 softmax of the same values, rounded once", "[bf16][softmax]") {
  // Causal rows of every length and padded keys (vector tails), above the parallel threshold.
  const SoftmaxDims dims{2, 3, 45, 67};
  const int64_t n = dims.total_rows() * dims.cols;
  const auto x = random_bf16(n, 21);
  std::vector<uint8_t> pad(static_cast<size_t>(dims.outer * dims.cols), 0);
  for (size_t i = 0; i < pad.size(); i += 7) pad[i] = 1;
  SoftmaxMask mask;
  mask.causal = true;
  mask.query_offset = 3;
  mask.key_padding = pad.data();
  std::vector<float> xf(static_cast<size_t>(n)), yf(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) xf[size_t(i)] = static_cast<float>(x[size_t(i)]);
  std::vector<bf16> got(static_cast<size_t>(n)), want(static_cast<size_t>(n));
  auto& ctx = BackendTraits<Cpu>::default_context();
  BackendTraits<Cpu>::softmax_forward<bf16>(ctx, x.data(), got.data(), dims, 0.37f, mask);
  BackendTraits<Cpu>::softmax_forward<float>(ctx, xf.data(), yf.data(), dims, 0.37f, mask);
  for (int64_t i = 0; i < n; ++i) want[size_t(i)] = bf16(yf[size_t(i)]);
  CHECK(bits_of(got) == bits_of(want));
}

TEST_CASE("a bf16 Memformer's logits and memory are within 2e-2 of the fp32 model's", "[bf16][memformer]") {
  const auto cfg = memformer_config();
  models::Memformer<float, Cpu> mf(cfg, 3);
  models::Memformer<bf16, Cpu> mb(cfg, 3);  // the same parameters, rounded to bf16
  auto sf = mf.initial_state(2);
  auto sb = mb.initial_state(2);
  for (uint64_t t = 0; t < 3; ++t) {
    const auto s = segment(2, 12, 29, 10 + t), next = segment(2, 12, 29, 20 + t);
    const auto of = mf.step(sf, s, &next);
    const auto ob = mb.step(sb, s, &next);
    INFO("step " << t);
    CHECK(rel_error(ob.logits, of.logits) < 2e-2);
    CHECK(rel_error(ob.next.slots(), of.next.slots()) < 2e-2);
    sf = of.next;
    sb = ob.next;
  }
}

TEST_CASE("a bf16 ∞-former's logits are within 2e-2 of the fp32 model's", "[bf16][infformer]") {
  models::InfiniteFormerConfig c;
  c.vocab = 23;
  c.d_model = 32;
  c.heads = 4;
  c.d_ff = 64;
  c.layers = 2;
  c.segment_length = 16;
  c.dropout = 0.0;
  c.init_std = 0.1;
  c.ltm.basis = memory::BasisConfig{32, {0.03, 0.06}};
  c.ltm.samples = 32;
  models::InfiniteFormer<float, Cpu> mf(c, 26);
  models::InfiniteFormer<bf16, Cpu> mb(c, 26);
  auto sf = mf.initial_state(2);
  auto sb = mb.initial_state(2);
  ag::NoGrad off;
  for (uint64_t k = 0; k < 4; ++k) {
    const auto tokens = segment(2, 16, 23, 100 + k).tokens;
    const auto lf = mf.step(tokens, nullptr, sf).logits.value();
    const auto lb = mb.step(tokens, nullptr, sb).logits.value();
    INFO("step " << k);
    CHECK(rel_error(lb, lf) < 2e-2);
  }
}

TEST_CASE("a bf16 long-term memory's coefficients (2e-2) and read (5e-2) agree with the fp32 memory's",
          "[bf16][infformer]") {
  // The LTM alone, where the gate is not drowned by the rest of the model: d 64 (the bf16 F(2,3)
  // gate, the bf16 banded fit and contraction, V, r·V, the output projection), gate weights large
  // enough that sigmoid(z) spans (0, 1), three writes and reads on two rows. Inputs and parameters
  // are the same bf16 values on both sides: what differs is the bf16 arithmetic alone.
  memory::ContinuousMemoryConfig cfg;
  cfg.basis = memory::BasisConfig{64, {0.02, 0.05}};
  cfg.segment_length = 32;
  cfg.samples = 64;
  cfg.init_std = 0.3;
  const int64_t e = 64, heads = 4;
  nn::ParameterStore<float, Cpu> sf(7);
  nn::ParameterStore<bf16, Cpu> sb(7);
  memory::ContinuousMemory<float, Cpu> mf(sf, "ltm", e, heads, cfg);
  memory::ContinuousMemory<bf16, Cpu> mb(sb, "ltm", e, heads, cfg);
  for (size_t p = 0; p < sf.size(); ++p)  // the same (bf16) parameter values on both sides
    for (int64_t i = 0; i < sf[p].value.numel(); ++i) sf[p].value[i] = static_cast<float>(sb[p].value[i]);
  auto statef = mf.initial_state(2);
  auto stateb = mb.initial_state(2);
  ag::NoGrad off;
  for (uint64_t k = 0; k < 3; ++k) {
    INFO("segment " << k);
    // The same inputs on both sides: values that bf16 holds exactly.
    const auto xb = convert<bf16>(random_tensor<float>({2, 32, e}, 500 + k));
    const auto qb = convert<bf16>(random_tensor<float>({2, heads, 8, e / heads}, 600 + k));
    const auto zf = mf.read_forward(mf.write_forward(convert<float>(xb), nullptr, statef, nullptr), convert<float>(qb),
                                    statef, nullptr, nullptr);
    const auto zb = mb.read_forward(mb.write_forward(xb, nullptr, stateb, nullptr), qb, stateb, nullptr, nullptr);
    CHECK(rel_error(stateb.coefficients, statef.coefficients) < 2e-2);  // measured ≤ 0.009
    // The read: narrow densities (widths 0.02, 0.05) turn μ's bf16 rounding into larger moves
    // of r (measured ≤ 0.019). A wrong sign in the gate's output transform gives 0.5–0.96.
    CHECK(rel_error(zb, zf) < 5e-2);
  }
}

TEST_CASE("bf16 Memformer training with fp32 masters lowers the loss", "[bf16][train]") {
  auto cfg = memformer_config();
  cfg.segment_length = 8;
  models::Memformer<bf16, Cpu> model(cfg, 7);
  train::AdamW<bf16, Cpu> opt(model.parameters(), train::AdamWConfig{3e-3});
  // A periodic sequence: each segment repeats the previous one, so memory and context predict it.
  std::vector<train::Segment> segs;
  const auto base = segment(2, 8, 29, 40);
  for (int t = 0; t < 4; ++t) segs.push_back({base.tokens.clone(), {}});
  double first = 0, last = 0;
  for (int it = 0; it < 30; ++it) {
    model.parameters().zero_grad();
    auto state = model.initial_state(2);
    const auto r = train::Bptt<bf16, Cpu>(model).rollout(segs, {}, state);
    REQUIRE(r.finite);
    if (it == 0) first = r.loss;
    last = r.loss;
    opt.step();
  }
  INFO("loss " << first << " -> " << last);
  CHECK(last < 0.5 * first);
  // The optimizer keeps an fp32 master; the bf16 value is that master rounded.
  const auto& p = *model.parameters().begin();
  REQUIRE(p->master.defined());
  for (int64_t i = 0; i < p->numel(); ++i)
    REQUIRE(bfloat16_bits(p->value[i]) == bfloat16_bits(bf16(p->master[i])));
}

TEST_CASE("bf16 model states save and load bit for bit", "[bf16][io]") {
  const auto cfg = memformer_config();
  models::Memformer<bf16, Cpu> model(cfg, 5);
  auto state = model.initial_state(2);
  for (uint64_t t = 0; t < 2; ++t) state = model.step(state, segment(2, 12, 29, 50 + t)).next;
  const std::string path = "bf16_slot_state_test.safetensors";
  io::save_state(state, path);
  const auto restored = io::load_state<bf16, Cpu>(path);
  std::remove(path.c_str());
  REQUIRE(restored.slots().numel() == state.slots().numel());
  for (int64_t i = 0; i < state.slots().numel(); ++i)
    REQUIRE(bfloat16_bits(restored.slots()[i]) == bfloat16_bits(state.slots()[i]));
  const auto s = segment(2, 12, 29, 60);
  CHECK(model.step(state, s).logits.to_host() == model.step(restored, s).logits.to_host());
}

TEST_CASE("a bf16 op's gradient agrees with fp32 within bf16 rounding", "[bf16][gradcheck]") {
  // loss = Σ r ⊙ layer_norm(x·W) through the tape, in bf16 and fp32 from the same bf16 values.
  auto& ctx = BackendTraits<Cpu>::default_context();
  const auto x32 = convert<float>(convert<bf16>(random_tensor({24, 40}, 1)));
  const auto w32 = convert<float>(convert<bf16>(random_tensor({40, 48}, 2, 0.2)));
  const auto r32 = convert<float>(convert<bf16>(random_tensor({24, 48}, 3)));
  auto run = [&](auto tag) {
    using T = decltype(tag);
    auto x = ag::Var<T, Cpu>::leaf(convert<T>(x32));
    auto w = ag::Var<T, Cpu>::leaf(convert<T>(w32));
    auto gamma = ag::Var<T, Cpu>::leaf(Tensor<T, Cpu>::full({48}, T(1.0f)));
    auto beta = ag::Var<T, Cpu>::leaf(Tensor<T, Cpu>::zeros({48}));
    ag::Tape tape;
    ag::Var<T, Cpu> loss;
    {
      ag::Recording on(tape);
      auto y = ag::layer_norm(ctx, ag::matmul(ctx, x, w), gamma, beta, 1e-5);
      loss = ag::sum_product(ctx, y, convert<T>(r32));
    }
    tape.backward(loss);
    return std::make_pair(convert<float>(x.grad()), convert<float>(w.grad()));
  };
  const auto [gx32, gw32] = run(float{});
  const auto [gxb, gwb] = run(bf16{});
  CHECK(rel_error(gxb, gx32) < 1e-2);
  CHECK(rel_error(gwb, gw32) < 1e-2);
}

TEST_CASE("the bf16 memory writer is the fp32 writer on widened inputs, each output rounded once",
          "[bf16][memformer]") {
  // Forward and backward, bit for bit, at two shapes in turn (the second smaller: the fp32 copies
  // live in reused thread scratch), with padded token columns.
  for (const MemformerWriterDims d : {MemformerWriterDims{2, 5, 7, 2, 4}, MemformerWriterDims{1, 3, 4, 2, 3}}) {
    const int64_t slot_n = d.batch * d.slots * d.width(), tok_n = d.batch * d.tokens * d.width();
    const int64_t probs_n = d.batch * d.heads * d.slots * d.prob_cols();
    const auto q = random_bf16(slot_n, 1), ks = random_bf16(slot_n, 2), m = random_bf16(slot_n, 3);
    const auto kt = random_bf16(tok_n, 4), vt = random_bf16(tok_n, 5), g = random_bf16(slot_n, 6);
    std::vector<uint8_t> padding(static_cast<size_t>(d.batch * d.tokens), 0);
    padding.back() = 1;
    const float scale = 0.5f;
    auto widened = [](const std::vector<bf16>& x) { return std::vector<float>(x.begin(), x.end()); };
    auto rounded = [](const std::vector<float>& x) { return std::vector<bf16>(x.begin(), x.end()); };
    auto same_bits = [](const std::vector<bf16>& a, const std::vector<bf16>& b) {
      return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(bf16)) == 0;
    };
    INFO("batch " << d.batch << ", slots " << d.slots << ", tokens " << d.tokens);
    // Forward.
    std::vector<bf16> probs(static_cast<size_t>(probs_n)), out(static_cast<size_t>(slot_n));
    cpu::memformer_writer_forward<bf16>(q.data(), ks.data(), kt.data(), vt.data(), m.data(), padding.data(),
                                        probs.data(), out.data(), d, scale);
    std::vector<float> probs32(probs.size()), out32(out.size());
    cpu::memformer_writer_forward<float>(widened(q).data(), widened(ks).data(), widened(kt).data(),
                                         widened(vt).data(), widened(m).data(), padding.data(), probs32.data(),
                                         out32.data(), d, scale);
    CHECK(same_bits(probs, rounded(probs32)));
    CHECK(same_bits(out, rounded(out32)));
    // Backward, from the bf16 forward's probabilities.
    std::vector<bf16> dq(q.size()), dks(q.size()), dm(q.size()), dkt(kt.size()), dvt(kt.size());
    cpu::memformer_writer_backward<bf16>(q.data(), ks.data(), kt.data(), vt.data(), m.data(), probs.data(), g.data(),
                                         dq.data(), dks.data(), dkt.data(), dvt.data(), dm.data(), d, scale);
    std::vector<float> dq32(q.size()), dks32(q.size()), dm32(q.size()), dkt32(kt.size()), dvt32(kt.size());
    cpu::memformer_writer_backward<float>(widened(q).data(), widened(ks).data(), widened(kt).data(),
                                          widened(vt).data(), widened(m).data(), widened(probs).data(),
                                          widened(g).data(), dq32.data(), dks32.data(), dkt32.data(), dvt32.data(),
                                          dm32.data(), d, scale);
    CHECK(same_bits(dq, rounded(dq32)));
    CHECK(same_bits(dks, rounded(dks32)));
    CHECK(same_bits(dkt, rounded(dkt32)));
    CHECK(same_bits(dvt, rounded(dvt32)));
    CHECK(same_bits(dm, rounded(dm32)));
    // The padded column's token gets no gradient.
    const int64_t last_token = (d.batch * d.tokens - 1) * d.width();
    for (int64_t i = 0; i < d.width(); ++i) CHECK(static_cast<float>(dkt[size_t(last_token + i)]) == 0.0f);
  }
}

TEST_CASE("the bf16 gate convolution (Winograd F(2,3)) is within bf16 rounding of the double convolution",
          "[bf16][infformer]") {
  // Lengths with a partial last tile (odd) and one above the parallel threshold (the transforms
  // and the GEMM split across the pool), with and without the bias. Bound: 2⁻⁷ of the largest
  // output (the direct sum rounded once to bf16 is within 2⁻⁹ of each output; F(2,3)'s bf16
  // operands add about as much again, conv3_winograd.hpp; a wrong coefficient gives O(1)).
  struct Shape3 {
    int64_t batch, length, e;
  };
  for (const Shape3 sh : {Shape3{3, 1, 37}, Shape3{3, 7, 37}, Shape3{2, 130, 512}}) {
    INFO("batch " << sh.batch << ", length " << sh.length << ", e " << sh.e);
    const int64_t n = sh.batch * sh.length * sh.e, e = sh.e;
    const auto x = random_bf16(n, 31), bias = random_bf16(e, 33);
    auto w = random_bf16(3 * e * e, 32);
    for (auto& v : w) v = bf16(static_cast<float>(v) * 0.05f);
    std::vector<float> scratch(static_cast<size_t>(cpu::conv3_winograd_scratch<bf16>(sh.batch, sh.length, e)));
    std::vector<bf16> got(static_cast<size_t>(n));
    for (const bool with_bias : {false, true}) {
      INFO("bias " << with_bias);
      cpu::conv3_winograd(x.data(), w.data(), got.data(), sh.batch, sh.length, e, scratch.data(),
                          with_bias ? bias.data() : nullptr);
      double worst = 0, largest = 0;
      const int64_t t_step = sh.length > 16 ? 17 : 1, o_step = e > 64 ? 7 : 1;
      for (int64_t b = 0; b < sh.batch; ++b)
        for (int64_t t = 0; t < sh.length; t += t_step)
          for (int64_t o = 0; o < e; o += o_step) {
            double ref = with_bias ? static_cast<double>(static_cast<float>(bias[size_t(o)])) : 0.0;
            for (int64_t k = 0; k < 3; ++k) {
              const int64_t s = t + k - 1;
              if (s < 0 || s >= sh.length) continue;
              for (int64_t i = 0; i < e; ++i)
                ref += double(static_cast<float>(x[size_t((b * sh.length + s) * e + i)])) *
                       double(static_cast<float>(w[size_t((k * e + i) * e + o)]));
            }
            worst = std::max(worst, std::abs(double(static_cast<float>(got[size_t((b * sh.length + t) * e + o)])) - ref));
            largest = std::max(largest, std::abs(ref));
          }
      CHECK(largest > 0.1);  // the sums are not all near zero
      CHECK(worst <= largest / 128);
    }
  }
}

TEST_CASE("the bf16 sigmoid gate is the float kernel on widened inputs, each output rounded once",
          "[bf16][infformer][elementwise]") {
  // Several 1024-element blocks, a tail, and enough work for the pool; z spread over the range
  // where sigmoid saturates. Forward y = x ⊙ sigmoid(z); backward dz = dy ⊙ x ⊙ s(1 − s), also
  // in place over dy (what write_backward does).
  const int64_t n = 9 * 1024 + 301;
  const auto x = random_bf16(n, 41), dy = random_bf16(n, 43);
  auto z = random_bf16(n, 42);
  for (auto& v : z) v = bf16(static_cast<float>(v) * 6.0f);
  const auto widen = [](const std::vector<bf16>& v) {
    std::vector<float> f(v.size());
    for (size_t i = 0; i < v.size(); ++i) f[i] = static_cast<float>(v[i]);
    return f;
  };
  const auto narrow = [](const std::vector<float>& f) {
    std::vector<bf16> v(f.size());
    for (size_t i = 0; i < f.size(); ++i) v[i] = bf16(f[i]);
    return v;
  };
  const auto xf = widen(x), zf = widen(z), dyf = widen(dy);
  std::vector<float> yf(xf.size()), dzf(xf.size());
  cpu::sigmoid_gate_forward<float>(n, xf.data(), zf.data(), yf.data());
  cpu::sigmoid_gate_backward<float>(n, xf.data(), zf.data(), dyf.data(), dzf.data());

  std::vector<bf16> y(x.size()), dz(x.size());
  cpu::sigmoid_gate_forward<bf16>(n, x.data(), z.data(), y.data());
  cpu::sigmoid_gate_backward<bf16>(n, x.data(), z.data(), dy.data(), dz.data());
  CHECK(bits_of(y) == bits_of(narrow(yf)));
  CHECK(bits_of(dz) == bits_of(narrow(dzf)));
  auto in_place = dy;
  cpu::sigmoid_gate_backward<bf16>(n, x.data(), z.data(), in_place.data(), in_place.data());
  CHECK(bits_of(in_place) == bits_of(dz));
  // And against double: within one bf16 rounding (2⁻⁸ relative) plus the float exp's few ulp.
  for (int64_t i = 0; i < n; i += 7) {
    const double xd = xf[size_t(i)], zd = zf[size_t(i)], s = 1 / (1 + std::exp(-zd));
    REQUIRE(std::abs(double(static_cast<float>(y[size_t(i)])) - xd * s) <= std::abs(xd * s) / 256 + 1e-30);
  }
}

TEST_CASE("bf16 attention_forward is the float kernel on widened heads, each output rounded once",
          "[bf16][attention][threads]") {
  // Q, K, V side by side in rows of 3d (the stacked projection layout), head widths 16 (register
  // tiles on x86) and 12 (a GEMM per block); causal with a cache offset, key padding and ALiBi,
  // queries whose every key is masked, several blocks; on 1, 2 and 3 threads. Bit for bit against
  // the float kernel on the widened tensors, and within bf16 rounding of a double reference.
  struct Case {
    int64_t dh, lq, lk;
    bool causal;
    int64_t offset;
    bool extras;
  };
  const Case cases[] = {{16, 37, 45, true, 8, true}, {16, 40, 40, true, 0, true}, {12, 23, 31, false, 0, true},
                        {16, 19, 19, true, 0, false}};
  const int64_t batch = 2, heads = 3, block = 16;
  const float slopes[] = {0.5f, 0.25f, 0.125f}, scale = 0.45f;
  const int before = cpu::num_threads();
  for (const Case& c : cases)
    for (int threads : {1, 2, 3}) {
      cpu::set_num_threads(threads);
      INFO("d_h " << c.dh << ", Lq " << c.lq << ", Lk " << c.lk << ", causal " << c.causal << ", offset " << c.offset
                  << ", padding + ALiBi " << c.extras << ", " << threads << " thread(s)");
      const int64_t d = heads * c.dh, ld = 3 * d;
      const auto xq = random_bf16(batch * c.lq * ld, 81), xkv = random_bf16(batch * c.lk * ld, 82);
      std::vector<uint8_t> padding(size_t(batch * c.lk), 0);
      if (c.extras) {
        for (int64_t k = 1; k < c.lk; k += 4) padding[size_t(k)] = 1;
        for (int64_t k = 0; k < 3; ++k) padding[size_t(c.lk + k)] = 1;  // row 1: queries 0–2 see no key when causal
      }
      const SoftmaxMask sm =
          softmax_mask(c.causal, c.offset, c.extras ? padding.data() : nullptr, c.extras ? slopes : nullptr);
      const SoftmaxDims dims{batch, heads, c.lq, c.lk};
      std::vector<bf16> got(size_t(batch * c.lq * d), bf16(-7.0f));
      BackendTraits<Cpu>::attention_forward(BackendTraits<Cpu>::default_context(), xq.data(), ld, xkv.data() + d,
                                            xkv.data() + 2 * d, ld, got.data(), d, dims, c.dh, scale, sm, block);
      const std::vector<float> xq32(xq.begin(), xq.end()), xkv32(xkv.begin(), xkv.end());
      std::vector<float> got32(got.size());
      cpu::attention_forward<float>(xq32.data(), ld, xkv32.data() + d, xkv32.data() + 2 * d, ld, got32.data(), d, dims,
                                    c.dh, scale, sm, block);
      const std::vector<bf16> rounded(got32.begin(), got32.end());
      CHECK(std::memcmp(got.data(), rounded.data(), got.size() * sizeof(bf16)) == 0);
      const std::vector<double> expected =
          reference_attention_forward(xq32.data(), xkv32.data() + d, xkv32.data() + 2 * d, ld, dims, c.dh, scale, sm);
      double worst = 0;  // |got − expected| in units of |expected|·2⁻⁸ + 1e-5 (one bf16 rounding: ≤ ½ of that)
      for (size_t i = 0; i < got.size(); ++i)
        worst = std::max(worst, std::abs(double(float(got[i])) - expected[i]) / (std::abs(expected[i]) * 0x1p-8 + 1e-5));
      CHECK(worst <= 1.0);
      if (c.causal && c.extras && c.offset == 0)  // batch row 1, queries 0–2: every key masked
        for (int64_t r = 0; r < 3; ++r)
          for (int64_t e = 0; e < d; ++e) CHECK(float(got[size_t((c.lq + r) * d + e)]) == 0.0f);
    }
  cpu::set_num_threads(before);
}

TEST_CASE("bf16 attention inside an inference scope (heads read in place) equals the saving forward",
          "[bf16][attention]") {
  const int64_t batch = 2, len = 20, d = 32;
  nn::ParameterStore<bf16, Cpu> store(7);
  nn::MultiHeadAttention<bf16, Cpu> mha(store, "a", d, 2, true, 0.2);
  for (int i = 0; i < 4; ++i)
    for (int64_t j = 0; j < d; ++j) mha.bias(i)->value[j] = bf16(0.01f * float((j * 5 + i) % 9) - 0.04f);
  const auto x = Tensor<bf16, Cpu>::from_host({batch, len, d}, random_bf16(batch * len * d, 3));
  std::vector<uint8_t> pad(size_t(batch * len), 0);
  for (int64_t c = 15; c < len; ++c) pad[size_t(len + c)] = 1;  // batch row 1: the last 5 keys
  const auto padding = Tensor<uint8_t, Cpu>::from_host({batch, len}, pad);
  nn::AttentionMask<Cpu> mask;
  mask.causal = true;
  mask.key_padding = &padding;
  nn::MultiHeadAttention<bf16, Cpu>::Saved saved;
  const auto reference = mha.forward(x, x, mask, &saved);
  ag::NoGrad off;
  nn::InferenceScope inference;
  const auto got = mha(ag::Var<bf16, Cpu>(x), ag::Var<bf16, Cpu>(x), mask).value();
  // The saving forward rounds S, P and O to bf16, the scope's path only O: a bf16 ulp or so apart.
  CHECK(rel_error(got, reference) < 1e-2);
}
