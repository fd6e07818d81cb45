// MultiHeadAttention's causal block path (queries in blocks of kCausalBlock rows, the GEMMs
// skipping what the mask hides from a whole block): forward against a hand-written double
// reference at lengths spanning several blocks, with and without a query offset, padding and
// ALiBi, in double and float; gradients against central finite differences in double. The
// forward with nothing saved (BackendTraits<Cpu>::attention_forward, no probabilities) against
// the forward that saves them, over causal, non-causal, cross, padded (a batch row with every key
// padded included) and ALiBi cases, at a head width the AVX-512 tiles take (16) and one they do
// not (12). At d = 64 on 1, 2 and 3 threads (Q, K, V then run in column blocks of one parallel
// region), every path against the double reference, and operator() inside an nn::InferenceScope.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "mnemo/nn/attention.hpp"
#include "support/attention_reference.hpp"
#include "support/testing.hpp"

using namespace mnemo;
using namespace mnemo::test;
namespace ag = mnemo::autograd;

namespace {

/// Masked multi-head attention in double, loops only: the definition the layer must equal.
template <class T>
TensorD reference_attention(const nn::MultiHeadAttention<T, Cpu>& mha, const TensorD& xq, const TensorD& xkv,
                            bool causal, int64_t offset, const std::vector<uint8_t>& padding,
                            const std::vector<double>& slopes) {
  const int64_t batch = xq.shape()[0], lq = xq.shape()[1], lk = xkv.shape()[1], d = xq.shape()[2];
  const int64_t h = mha.heads(), dh = d / h;
  auto affine = [&](const TensorD& x, int i, int64_t len) {
    std::vector<double> y(size_t(batch * len * d));
    const auto& w = mha.weight(i).value;
    const auto* b = mha.bias(i);
    for (int64_t r = 0; r < batch * len; ++r)
      for (int64_t j = 0; j < d; ++j) {
        double s = b ? double(b->value[j]) : 0.0;
        for (int64_t l = 0; l < d; ++l) s += x[r * d + l] * double(w[l * d + j]);
        y[size_t(r * d + j)] = s;
      }
    return y;
  };
  const auto q = affine(xq, 0, lq), k = affine(xkv, 1, lk), v = affine(xkv, 2, lk);
  TensorD merged = TensorD::zeros({batch, lq, d});
  for (int64_t o = 0; o < batch; ++o)
    for (int64_t hh = 0; hh < h; ++hh)
      for (int64_t r = 0; r < lq; ++r) {
        std::vector<double> logit(size_t(lk), -INFINITY);
        double mx = -INFINITY;
        for (int64_t c = 0; c < lk; ++c) {
          if ((causal && c > r + offset) || (!padding.empty() && padding[size_t(o * lk + c)])) continue;
          double s = 0;
          for (int64_t e = 0; e < dh; ++e) s += q[size_t((o * lq + r) * d + hh * dh + e)] * k[size_t((o * lk + c) * d + hh * dh + e)];
          s /= std::sqrt(double(dh));
          if (!slopes.empty()) s -= slopes[size_t(hh)] * double(r + offset - c);
          logit[size_t(c)] = s;
          mx = std::max(mx, s);
        }
        if (mx == -INFINITY) continue;  // every key masked: zero output
        double z = 0;
        for (int64_t c = 0; c < lk; ++c) z += std::exp(logit[size_t(c)] - mx);
        for (int64_t c = 0; c < lk; ++c) {
          const double p = std::exp(logit[size_t(c)] - mx) / z;
          for (int64_t e = 0; e < dh; ++e)
            merged[(o * lq + r) * d + hh * dh + e] += p * v[size_t((o * lk + c) * d + hh * dh + e)];
        }
      }
  TensorD y({batch, lq, d});
  const auto& w = mha.weight(3).value;
  const auto* b = mha.bias(3);
  for (int64_t r = 0; r < batch * lq; ++r)
    for (int64_t j = 0; j < d; ++j) {
      double s = b ? double(b->value[j]) : 0.0;
      for (int64_t l = 0; l < d; ++l) s += merged[r * d + l] * double(w[l * d + j]);
      y[r * d + j] = s;
    }
  return y;
}

/// The float attention kernels this CPU can run (cpu/attention_kernel.hpp): every tile ISA it has
/// and the GEMM path.
std::vector<cpu::AttentionKernel> attention_kernels() {
  std::vector<cpu::AttentionKernel> kernels;
  for (auto k : {cpu::AttentionKernel::Avx512, cpu::AttentionKernel::Avx2, cpu::AttentionKernel::Gemm})
    if (cpu::attention_kernel_available(k)) kernels.push_back(k);
  return kernels;
}

/// Sets the attention kernel for a scope; Auto again after it.
struct AttentionKernelScope {
  explicit AttentionKernelScope(cpu::AttentionKernel k) { cpu::set_attention_kernel(k); }
  ~AttentionKernelScope() { cpu::set_attention_kernel(cpu::AttentionKernel::Auto); }
  AttentionKernelScope(const AttentionKernelScope&) = delete;
  AttentionKernelScope& operator=(const AttentionKernelScope&) = delete;
};

}  // namespace

TEST_CASE("causal attention over several query blocks equals a double reference", "[nn][attention][causal_blocks]") {
  constexpr int64_t block = nn::MultiHeadAttention<double, Cpu>::kCausalBlock;
  const int64_t batch = 2, d = 16, heads = 4;
  const std::vector<double> slopes = {0.5, 0.25, 0.125, 0.0625};
  // {Lq, Lk, query offset}: self-attention over 2.3 blocks, exactly 2 blocks, and a cache of
  // keys before the queries (cross, offset = Lk − Lq).
  const int64_t cases[][3] = {{2 * block + 20, 2 * block + 20, 0}, {2 * block, 2 * block, 0}, {block + 9, block + 40, 31}};
  for (const auto& [lq, lk, offset] : cases)
    for (bool extras : {false, true}) {
      nn::ParameterStore<double, Cpu> store(21);
      nn::MultiHeadAttention<double, Cpu> mha(store, "a", d, heads, true, 0.3);
      for (int i = 0; i < 4; ++i)  // nonzero biases, so a skipped bias would show
        for (int64_t j = 0; j < d; ++j) mha.bias(i)->value[j] = 0.05 * double((j * 7 + i) % 5) - 0.1;
      const TensorD xq = random_tensor({batch, lq, d}, 31), xkv = random_tensor({batch, lk, d}, 32);
      std::vector<uint8_t> padding;
      if (extras) {
        padding.assign(size_t(batch * lk), 0);
        for (int64_t c = 0; c < lk; c += 5) padding[size_t(c)] = 1;     // batch row 0: every 5th key
        for (int64_t c = 0; c < 3; ++c) padding[size_t(lk + c)] = 1;   // batch row 1: the first 3 keys
      }
      auto pad = Tensor<uint8_t, Cpu>::from_host({batch, lk}, padding.empty() ? std::vector<uint8_t>(size_t(batch * lk), 0) : padding);
      auto slope_tensor = Tensor<float, Cpu>::from_host({heads}, {0.5f, 0.25f, 0.125f, 0.0625f});
      nn::AttentionMask<Cpu> mask;
      mask.causal = true;
      mask.query_offset = offset;
      if (extras) {
        mask.key_padding = &pad;
        mask.alibi_slopes = &slope_tensor;
      }
      const TensorD expected = reference_attention(mha, xq, xkv, true, offset, padding,
                                                   extras ? slopes : std::vector<double>{});
      const TensorD got = mha.forward(xq, xkv, mask, nullptr);
      INFO("Lq " << lq << ", Lk " << lk << ", offset " << offset << ", padding + ALiBi " << extras);
      CHECK(rel_error(got, expected) < 1e-12);

      // float: the same weights rounded.
      nn::ParameterStore<float, Cpu> store_f(21);
      nn::MultiHeadAttention<float, Cpu> mha_f(store_f, "a", d, heads, true, 0.3);
      for (int i = 0; i < 4; ++i) {
        for (int64_t j = 0; j < d * d; ++j) mha_f.weight(i).value[j] = float(mha.weight(i).value[j]);
        for (int64_t j = 0; j < d; ++j) mha_f.bias(i)->value[j] = float(mha.bias(i)->value[j]);
      }
      const TensorD expected_f = reference_attention(mha_f, xq, xkv, true, offset, padding,
                                                     extras ? slopes : std::vector<double>{});
      const auto got_f = mha_f.forward(convert<float>(xq), convert<float>(xkv), mask, nullptr);
      CHECK(rel_error(got_f, expected_f) < 2e-5);
    }
}

TEST_CASE("causal attention over several query blocks matches finite differences", "[nn][attention][causal_blocks][gradcheck]") {
  constexpr int64_t block = nn::MultiHeadAttention<double, Cpu>::kCausalBlock;
  const int64_t lq = block + 6, lk = block + 11;
  nn::ParameterStore<double, Cpu> store(22);
  nn::MultiHeadAttention<double, Cpu> mha(store, "a", 4, 2, true, 0.4);
  auto x = VarD::leaf(random_tensor({1, lq, 4}, 41));
  auto mem = VarD::leaf(random_tensor({1, lk, 4}, 42));
  const auto r1 = random_tensor({1, lq, 4}, 43);
  nn::AttentionMask<Cpu> self_mask;
  self_mask.causal = true;
  nn::AttentionMask<Cpu> cross_mask;
  cross_mask.causal = true;
  cross_mask.query_offset = lk - lq;
  auto checks = check_gradients(
      [&] {
        auto y = mha(x, x, self_mask);
        auto z = mha(y, mem, cross_mask);
        return ag::sum_product(store.context(), z, r1);
      },
      {{"x", x}, {"memory", mem}}, &store);
  for (const auto& c : checks) {
    INFO(c.name << ": max relative error " << c.max_rel_error);
    CHECK(c.max_rel_error < 1e-6);
  }
}

namespace {

/// forward(nothing saved) against forward(saved) of the same layer and inputs; returns the
/// normwise relative difference.
template <class T>
double fused_vs_saved(int64_t d, int64_t heads, int64_t lq, int64_t lk, bool causal, int64_t offset, int padding_kind,
                      bool alibi) {
  const int64_t batch = 2;
  nn::ParameterStore<T, Cpu> store(23);
  nn::MultiHeadAttention<T, Cpu> mha(store, "a", d, heads, true, 0.3);
  for (int i = 0; i < 4; ++i)
    for (int64_t j = 0; j < d; ++j) mha.bias(i)->value[j] = T(0.05 * double((j * 3 + i) % 7) - 0.15);
  const auto xq = random_tensor<T>({batch, lq, d}, 51), xkv = random_tensor<T>({batch, lk, d}, 52);
  std::vector<uint8_t> padding(size_t(batch * lk), 0);
  if (padding_kind == 1)
    for (int64_t c = 1; c < lk; c += 4) padding[size_t(c)] = 1;  // batch row 0: every 4th key
  if (padding_kind == 2)
    for (int64_t c = 0; c < lk; ++c) padding[size_t(lk + c)] = 1;  // batch row 1: every key
  auto pad = Tensor<uint8_t, Cpu>::from_host({batch, lk}, padding);
  std::vector<float> slope_values;
  for (int64_t hh = 0; hh < heads; ++hh) slope_values.push_back(0.5f / float(hh + 1));
  auto slopes = Tensor<float, Cpu>::from_host({heads}, slope_values);
  nn::AttentionMask<Cpu> mask;
  mask.causal = causal;
  mask.query_offset = offset;
  if (padding_kind) mask.key_padding = &pad;
  if (alibi) mask.alibi_slopes = &slopes;
  typename nn::MultiHeadAttention<T, Cpu>::Saved saved;
  const auto with_probs = mha.forward(xq, xkv, mask, &saved);
  const auto without = mha.forward(xq, xkv, mask, nullptr);
  return rel_error(without, with_probs);
}

}  // namespace

TEST_CASE("attention forward with nothing saved equals the forward that saves probabilities",
          "[nn][attention][causal_blocks][fused]") {
  constexpr int64_t block = nn::MultiHeadAttention<double, Cpu>::kCausalBlock;
  struct Case {
    int64_t lq, lk;
    bool causal;
    int64_t offset;
    int padding;  // 0 none, 1 every 4th key of batch row 0, 2 every key of batch row 1
    bool alibi;
  };
  const Case cases[] = {
      {2 * block + 20, 2 * block + 20, true, 0, 0, false},  // causal self-attention, a partial last block
      {2 * block + 20, 2 * block + 20, true, 0, 1, true},   // + padding and ALiBi
      {block + 9, block + 40, true, 31, 1, true},           // causal cross with a cache (offset Lk − Lq)
      {block + 9, block + 40, true, 31, 2, false},          // a batch row whose every key is padded
      {block + 3, 2 * block + 5, false, 0, 1, true},        // no causal mask, Lq ≠ Lk
      {7, 33, false, 0, 0, false},                          // fewer queries than one block
  };
  // {d_model, heads}: head width 16 (the AVX-512 tiles in float) and 12 (the GEMM tiles).
  const int64_t widths[][2] = {{64, 4}, {24, 2}};
  for (const auto& [d, heads] : widths)
    for (const Case& c : cases) {
      INFO("d " << d << ", heads " << heads << ", Lq " << c.lq << ", Lk " << c.lk << ", causal " << c.causal
                << ", offset " << c.offset << ", padding " << c.padding << ", ALiBi " << c.alibi);
      CHECK(fused_vs_saved<double>(d, heads, c.lq, c.lk, c.causal, c.offset, c.padding, c.alibi) < 1e-12);
      CHECK(fused_vs_saved<float>(d, heads, c.lq, c.lk, c.causal, c.offset, c.padding, c.alibi) < 1e-5);
    }
}

TEST_CASE("grouped Q/K/V projections in column blocks equal a double reference on 1, 2 and 3 threads",
          "[nn][attention][causal_blocks][threads]") {
  const int before = cpu::num_threads();
  const int64_t batch = 2, d = 64, heads = 4, lq = 70, lk = 70;
  for (int threads : {1, 2, 3}) {
    cpu::set_num_threads(threads);
    nn::ParameterStore<double, Cpu> store(5);
    nn::MultiHeadAttention<double, Cpu> mha(store, "a", d, heads, true, 0.1);
    for (int i = 0; i < 4; ++i)
      for (int64_t j = 0; j < d; ++j) mha.bias(i)->value[j] = 0.02 * double((j * 3 + i) % 7) - 0.06;
    const TensorD x = random_tensor({batch, lq, d}, 41), mem = random_tensor({batch, lk - 6, d}, 42);
    nn::AttentionMask<Cpu> causal;
    causal.causal = true;
    INFO(threads << " thread(s)");
    // Self-attention (causal) and cross-attention (K, V from other rows than Q).
    const TensorD self_ref = reference_attention(mha, x, x, true, 0, {}, {});
    const TensorD cross_ref = reference_attention(mha, x, mem, false, 0, {}, {});
    nn::MultiHeadAttention<double, Cpu>::Saved saved;
    CHECK(rel_error(mha.forward(x, x, causal, &saved), self_ref) < 1e-12);
    CHECK(rel_error(mha.forward(x, x, causal, nullptr), self_ref) < 1e-12);
    CHECK(rel_error(mha.forward(x, mem, {}, nullptr), cross_ref) < 1e-12);
    {
      autograd::NoGrad off;
      nn::InferenceScope inference;
      CHECK(rel_error(mha(VarD(x), VarD(mem)).value(), cross_ref) < 1e-12);
    }
    // float, the same weights rounded; operator() in a scope takes the fused path.
    nn::ParameterStore<float, Cpu> store_f(5);
    nn::MultiHeadAttention<float, Cpu> mha_f(store_f, "a", d, heads, true, 0.1);
    for (int i = 0; i < 4; ++i) {
      for (int64_t j = 0; j < d * d; ++j) mha_f.weight(i).value[j] = float(mha.weight(i).value[j]);
      for (int64_t j = 0; j < d; ++j) mha_f.bias(i)->value[j] = float(mha.bias(i)->value[j]);
    }
    const TensorD self_ref_f = reference_attention(mha_f, x, x, true, 0, {}, {});
    autograd::NoGrad off;
    const auto xf = autograd::Var<float, Cpu>(convert<float>(x));
    const auto outside = mha_f(xf, xf, causal).value();
    nn::InferenceScope inference;
    const auto inside = mha_f(xf, xf, causal).value();
    CHECK(rel_error(outside, self_ref_f) < 1e-5);
    CHECK(rel_error(inside, self_ref_f) < 1e-5);
  }
  cpu::set_num_threads(before);
}

TEST_CASE("fused float attention at head width 64 equals a double reference on 1, 2 and 3 threads",
          "[nn][attention][causal_blocks][fused][threads]") {
  // d_h = 64, on every kernel the CPU has: the register tiles (AVX-512: 4 vectors of 16 columns;
  // AVX2: 2 of 8), Kᵀ in 16-key panels, V and the Q block copied, E·V in chunks of 128 keys (here
  // up to 200 keys: a second, accumulating chunk), and the GEMM path. With
  // batch·Lk ≥ 4d the projections run stacked ([Q | K | V] or [K | V] as one GEMM); the 20-token
  // case takes the small-product path.
  const int before = cpu::num_threads();
  const int64_t batch = 4, d = 128, heads = 2;
  struct Case {
    int64_t lq, lk;
    bool causal;
    int64_t offset;
    bool extras;  // padding (every 5th key of batch row 0, the first 3 of row 1) and ALiBi
  };
  // 64 and 20 causal queries: the register tiles' blocks of 16 (register_tiles_causal_block), 150 their 32.
  const Case cases[] = {{150, 150, true, 0, false}, {150, 150, true, 0, true}, {70, 200, true, 130, true},
                        {90, 140, false, 0, true}, {20, 20, true, 0, true},  {64, 64, true, 0, false}};
  const std::vector<double> slopes = {0.5, 0.25};
  for (const auto kernel : attention_kernels())
    for (int threads : {1, 2, 3}) {
      AttentionKernelScope scope(kernel);
      cpu::set_num_threads(threads);
      for (const Case& c : cases) {
        INFO(cpu::attention_kernel_name(kernel) << " kernel, " << threads << " thread(s), Lq " << c.lq << ", Lk "
                                                << c.lk << ", causal " << c.causal << ", offset " << c.offset
                                                << ", padding + ALiBi " << c.extras);
        nn::ParameterStore<float, Cpu> store(24);
        nn::MultiHeadAttention<float, Cpu> mha(store, "a", d, heads, true, 0.15);
        for (int i = 0; i < 4; ++i)
          for (int64_t j = 0; j < d; ++j) mha.bias(i)->value[j] = float(0.05 * double((j * 5 + i) % 7) - 0.15);
        const TensorD xq = random_tensor({batch, c.lq, d}, 61), xkv = random_tensor({batch, c.lk, d}, 62);
        std::vector<uint8_t> padding;
        if (c.extras) {
          padding.assign(size_t(batch * c.lk), 0);
          for (int64_t k = 0; k < c.lk; k += 5) padding[size_t(k)] = 1;
          for (int64_t k = 0; k < 3; ++k) padding[size_t(c.lk + k)] = 1;
        }
        auto pad = Tensor<uint8_t, Cpu>::from_host({batch, c.lk}, padding.empty() ? std::vector<uint8_t>(size_t(batch * c.lk), 0) : padding);
        auto slope_tensor = Tensor<float, Cpu>::from_host({heads}, {0.5f, 0.25f});
        nn::AttentionMask<Cpu> mask;
        mask.causal = c.causal;
        mask.query_offset = c.offset;
        if (c.extras) {
          mask.key_padding = &pad;
          mask.alibi_slopes = &slope_tensor;
        }
        const TensorD expected = reference_attention(mha, xq, xkv, c.causal, c.offset, padding,
                                                     c.extras ? slopes : std::vector<double>{});
        const auto got = mha.forward(convert<float>(xq), convert<float>(xkv), mask, nullptr);
        CHECK(rel_error(got, expected) < 2e-5);
      }
    }
  cpu::set_num_threads(before);
}

TEST_CASE("attention_forward at head width 64 equals a double reference on the same float inputs",
          "[nn][attention][causal_blocks][fused][threads]") {
  // The kernel alone (no projections to average its errors away), logits spread over ~±10 so
  // that the exponential's accuracy shows, in the fused-projection layout: Q, K, V side by side
  // in rows of 3d (row strides 3d). Causal with a cache offset, padding, ALiBi, partial blocks.
  const int before = cpu::num_threads();
  const int64_t batch = 2, heads = 2, dh = 64, d = heads * dh, ld = 3 * d, block = 64;
  struct Case {
    int64_t lq, lk;
    bool causal;
    int64_t offset;
    bool extras;
  };
  const Case cases[] = {{150, 150, true, 0, false}, {70, 200, true, 130, true}, {90, 140, false, 0, true},
                        {150, 150, true, 0, true}};
  const float slopes[] = {0.5f, 0.25f};
  for (int threads : {1, 2, 3}) {
    cpu::set_num_threads(threads);
    for (const Case& c : cases) {
      INFO(threads << " thread(s), Lq " << c.lq << ", Lk " << c.lk << ", causal " << c.causal << ", offset "
                   << c.offset << ", padding + ALiBi " << c.extras);
      const auto xq = random_tensor<float>({batch, c.lq, ld}, 71), xkv = random_tensor<float>({batch, c.lk, ld}, 72);
      std::vector<uint8_t> padding(size_t(batch * c.lk), 0);
      if (c.extras) {
        for (int64_t k = 0; k < c.lk; k += 5) padding[size_t(k)] = 1;
        for (int64_t k = 0; k < 3; ++k) padding[size_t(c.lk + k)] = 1;
      }
      const SoftmaxMask sm =
          softmax_mask(c.causal, c.offset, c.extras ? padding.data() : nullptr, c.extras ? slopes : nullptr);
      const float scale = 0.4f;
      const std::vector<double> reference = reference_attention_forward(
          xq.data(), xkv.data() + d, xkv.data() + 2 * d, ld, SoftmaxDims{batch, heads, c.lq, c.lk}, dh, scale, sm);
      const TensorD expected = TensorD::from_host({batch, c.lq, d}, reference);
      for (const auto kernel : attention_kernels()) {
        AttentionKernelScope scope(kernel);
        Tensor<float, Cpu> got({batch, c.lq, d});
        BackendTraits<Cpu>::attention_forward(BackendTraits<Cpu>::default_context(), xq.data(), ld, xkv.data() + d,
                                              xkv.data() + 2 * d, ld, got.data(), d,
                                              SoftmaxDims{batch, heads, c.lq, c.lk}, dh, scale, sm, block);
        const double err = rel_error(got, expected);
        INFO(cpu::attention_kernel_name(kernel) << " kernel: normwise relative error " << err);
        CHECK(err < 2e-6);
      }
    }
  }
  cpu::set_num_threads(before);
}

TEST_CASE("every float attention kernel weighs keys 88 logits below the best as 0 and passes NaN on",
          "[nn][attention][causal_blocks][fused]") {
  // One head of width 16, 21 keys (two whole vectors of 8 and a masked tail of 5): key 0 has a
  // logit 200 above the others, so every other weight is e^-200, below the float range (0); a NaN
  // in query 1 makes that query's output NaN and leaves the other queries' outputs as they were.
  const int64_t lq = 3, lk = 21, dh = 16;
  std::vector<float> q(size_t(lq * dh), 0.0f), k(size_t(lk * dh), 0.0f), v(size_t(lk * dh));
  for (int64_t r = 0; r < lq; ++r) q[size_t(r * dh)] = 1.0f;
  k[0] = 200.0f;  // key 0: logit 200 for every query, the others 0
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i % 7) + 1.0f;  // ≥ 1: a weight of 1e-38 would not show
  for (const auto kernel : attention_kernels()) {
    AttentionKernelScope scope(kernel);
    INFO(cpu::attention_kernel_name(kernel) << " kernel");
    std::vector<float> o(size_t(lq * dh), -1.0f);
    cpu::attention_forward<float>(q.data(), dh, k.data(), v.data(), dh, o.data(), dh, SoftmaxDims{1, 1, lq, lk}, dh,
                                  1.0f, SoftmaxMask{}, 64);
    for (int64_t r = 0; r < lq; ++r)
      for (int64_t e = 0; e < dh; ++e) CHECK(o[size_t(r * dh + e)] == v[size_t(e)]);  // weight 1 on key 0 exactly
    auto q_nan = q;
    q_nan[size_t(1 * dh + 3)] = std::numeric_limits<float>::quiet_NaN();
    cpu::attention_forward<float>(q_nan.data(), dh, k.data(), v.data(), dh, o.data(), dh, SoftmaxDims{1, 1, lq, lk},
                                  dh, 1.0f, SoftmaxMask{}, 64);
    for (int64_t e = 0; e < dh; ++e) {
      CHECK(std::isnan(o[size_t(dh + e)]));
      CHECK(o[size_t(e)] == v[size_t(e)]);
      CHECK(o[size_t(2 * dh + e)] == v[size_t(e)]);
    }
  }
}

TEST_CASE("an attention kernel the CPU cannot run is refused with mnemo::Error and changes nothing",
          "[nn][attention][causal_blocks]") {
  const auto before = cpu::attention_kernel();
  for (const auto kernel : {cpu::AttentionKernel::Avx512, cpu::AttentionKernel::Avx2}) {
    if (cpu::attention_kernel_available(kernel)) continue;
    MNEMO_CHECK_THROWS(cpu::set_attention_kernel(kernel), Error, "cannot run it");
    CHECK(cpu::attention_kernel() == before);
  }
  CHECK(cpu::attention_kernel_for<double>(64) == cpu::AttentionKernel::Gemm);
  CHECK(cpu::attention_kernel_for<float>(12) == cpu::AttentionKernel::Gemm);
  {
    AttentionKernelScope scope(cpu::AttentionKernel::Gemm);
    CHECK(cpu::attention_kernel_for<float>(64) == cpu::AttentionKernel::Gemm);
    CHECK_FALSE(cpu::attention_head_tiles<float>(64));
  }
  CHECK(cpu::attention_kernel() == before);
}

TEST_CASE("the register tiles take causal query blocks of 16 up to 64 queries, 32 beyond, at most the caller's",
          "[nn][attention][causal_blocks]") {
  CHECK(cpu::register_tiles_causal_block(1, 64) == 16);
  CHECK(cpu::register_tiles_causal_block(64, 64) == 16);
  CHECK(cpu::register_tiles_causal_block(65, 64) == 32);
  CHECK(cpu::register_tiles_causal_block(4096, 64) == 32);
  CHECK(cpu::register_tiles_causal_block(64, 8) == 8);
  CHECK(cpu::register_tiles_causal_block(512, 20) == 20);
}

TEST_CASE("MNEMO_ATTENTION_KERNEL and MNEMO_ATTENTION_AVX512 say what the Auto attention kernel means",
          "[nn][attention][causal_blocks]") {
  using cpu::AttentionKernel;
  for (auto k : {AttentionKernel::Auto, AttentionKernel::Avx512, AttentionKernel::Avx2, AttentionKernel::Gemm})
    CHECK(cpu::parse_attention_kernel(cpu::attention_kernel_name(k)) == k);
  MNEMO_CHECK_THROWS(cpu::parse_attention_kernel("AVX2"), Error,
                     "attention kernel is 'AVX2', expected auto, avx512, avx2 or gemm");
  // Neither variable set (or MNEMO_ATTENTION_KERNEL empty or auto): the widest kernel the CPU has.
  const AttentionKernel widest = cpu::attention_kernel_available(AttentionKernel::Avx512) ? AttentionKernel::Avx512
                                 : cpu::attention_kernel_available(AttentionKernel::Avx2) ? AttentionKernel::Avx2
                                                                                         : AttentionKernel::Gemm;
  CHECK(cpu::attention_kernel_from_environment(nullptr, nullptr) == widest);
  CHECK(cpu::attention_kernel_from_environment("", nullptr) == widest);
  CHECK(cpu::attention_kernel_from_environment("auto", "1") == widest);
  CHECK(cpu::attention_kernel_from_environment(nullptr, "0") == AttentionKernel::Gemm);
  CHECK(cpu::attention_kernel_from_environment("auto", "0") == AttentionKernel::Gemm);
  CHECK(cpu::attention_kernel_from_environment("gemm", nullptr) == AttentionKernel::Gemm);
  for (auto k : {AttentionKernel::Avx512, AttentionKernel::Avx2}) {
    INFO(cpu::attention_kernel_name(k));
    if (cpu::attention_kernel_available(k))
      CHECK(cpu::attention_kernel_from_environment(cpu::attention_kernel_name(k), "0") == k);  // the newer one wins
    else
      MNEMO_CHECK_THROWS(cpu::attention_kernel_from_environment(cpu::attention_kernel_name(k), nullptr), Error,
                         "cannot run");
  }
  MNEMO_CHECK_THROWS(cpu::attention_kernel_from_environment("fast", nullptr), Error,
                     "MNEMO_ATTENTION_KERNEL is 'fast', expected auto, avx512, avx2 or gemm");
}

TEST_CASE("float attention backward at head width 64 equals the double backward on 1, 2 and 3 threads",
          "[nn][attention][causal_blocks][gradient][threads]") {
  // The saving forward and the backward per (batch row, head) on a thread (dP in a per-thread
  // buffer, only over the keys each block sees), in float and in double (the double takes the
  // GEMM path): with the same weights and inputs the outputs and gradients must agree to float
  // accuracy. The float side runs on every attention kernel the CPU has: a head on one thread
  // takes cpu/attention_head.hpp's register tiles with the AVX-512 and AVX2 kernels: the backward always, the forward when Lk is a multiple of 16 (150 and 200 keys
  // take the GEMMs there, 160 and 208 the tiles). Causal self-attention over 3 blocks (a partial
  // one), with and without padding, with ALiBi, causal cross-attention with a cache offset, and
  // attention without a mask (one block of all queries).
  const int before = cpu::num_threads();
  // batch·heads = 4 pairs run one per thread; 2 (batch 1) on 3 threads take the batched GEMMs.
  const int64_t d = 128, heads = 2;
  struct Case {
    int64_t batch, lq, lk, offset;
    bool padding, causal = true, alibi = false;
  };
  const Case cases[] = {{2, 150, 150, 0, false}, {2, 150, 150, 0, true},     {2, 70, 200, 130, true},
                        {1, 150, 150, 0, true},  {2, 160, 160, 0, true},     {2, 160, 160, 0, false, true, true},
                        {2, 70, 208, 138, true}, {2, 40, 96, 0, true, false}, {1, 160, 160, 0, true},
                        {4, 160, 160, 0, true}, {4, 64, 144, 80, false}, {2, 64, 64, 0, true}};
  const auto slopes = Tensor<float, Cpu>::from_host({heads}, {0.5f, 0.125f});
  for (int threads : {1, 2, 3}) {
    cpu::set_num_threads(threads);
    for (const Case& c : cases) {
      const int64_t batch = c.batch;
      INFO(threads << " thread(s), batch " << batch << ", Lq " << c.lq << ", Lk " << c.lk << ", offset "
                   << c.offset << ", padding " << c.padding << ", causal " << c.causal << ", ALiBi " << c.alibi);
      nn::ParameterStore<double, Cpu> store(31);
      nn::MultiHeadAttention<double, Cpu> mha(store, "a", d, heads, true, 0.15);
      nn::ParameterStore<float, Cpu> store_f(31);
      nn::MultiHeadAttention<float, Cpu> mha_f(store_f, "a", d, heads, true, 0.15);
      for (int i = 0; i < 4; ++i) {
        for (int64_t j = 0; j < d; ++j) mha.bias(i)->value[j] = 0.05 * double((j * 5 + i) % 7) - 0.15;
        for (int64_t j = 0; j < d * d; ++j) mha_f.weight(i).value[j] = float(mha.weight(i).value[j]);
        for (int64_t j = 0; j < d; ++j) mha_f.bias(i)->value[j] = float(mha.bias(i)->value[j]);
      }
      const bool self = c.lq == c.lk;
      const TensorD xq = random_tensor({batch, c.lq, d}, 91), xkv = self ? xq : random_tensor({batch, c.lk, d}, 92);
      const TensorD dy = random_tensor({batch, c.lq, d}, 93);
      std::vector<uint8_t> padding(size_t(batch * c.lk), 0);
      if (c.padding) {
        for (int64_t k = 0; k < c.lk; k += 5) padding[size_t(k)] = 1;
        for (int64_t k = 0; k < 3 && batch > 1; ++k) padding[size_t(c.lk + k)] = 1;
      }
      const auto pad = Tensor<uint8_t, Cpu>::from_host({batch, c.lk}, padding);
      nn::AttentionMask<Cpu> mask;
      mask.causal = c.causal;
      mask.query_offset = c.offset;
      mask.key_padding = c.padding ? &pad : nullptr;
      mask.alibi_slopes = c.alibi ? &slopes : nullptr;
      nn::MultiHeadAttention<double, Cpu>::Saved saved;
      const TensorD y = mha.forward(xq, xkv, mask, &saved);
      const auto g = mha.backward(saved, dy, true, true);
      std::vector<TensorD> weight_grads, bias_grads;  // of this backward alone (later ones add to them)
      for (int i = 0; i < 4; ++i) {
        weight_grads.push_back(mha.weight(i).grad.clone());
        bias_grads.push_back(mha.bias(i)->grad.clone());
      }
      // batch·Lk ≥ 4d (the last two cases): Q, K, V as one stacked product and one pass that
      // splits the heads and adds the biases, in both precisions: hence the loops' reference.
      std::vector<uint8_t> padding_ref = c.padding ? padding : std::vector<uint8_t>{};
      const std::vector<double> slopes_d = c.alibi ? std::vector<double>{0.5, 0.125} : std::vector<double>{};
      CHECK(rel_error(y, reference_attention(mha, xq, xkv, c.causal, c.offset, padding_ref, slopes_d)) < 1e-12);
      // A gradient on Q from another path (the ∞-former's long-term read: extra_dq_heads, heads
      // layout), added to dQ before W_Q's backward.
      const TensorD extra = random_tensor({batch, heads, c.lq, d / heads}, 94);
      const auto extra_f = convert<float>(extra);
      const auto g2 = mha.backward(saved, dy, true, false, &extra);
      CHECK(rel_error(g2.dxq, g.dxq) > 1e-2);  // the extra gradient did reach dx_q
      // sum_input_grads (one input, as operator() passes for mha(x, x)): dxq = dx_q + dx_kv, in
      // float self-attention one GEMM over [dQ | dK | dV].
      TensorD sum;
      if (self) {
        sum = g.dxq.clone();
        for (int64_t i = 0; i < sum.numel(); ++i) sum[i] += g.dxkv[i];
        const auto g3 = mha.backward(saved, dy, true, true, nullptr, true);
        CHECK(!g3.dxkv.defined());
        CHECK(rel_error(g3.dxq, sum) < 1e-12);
      }
      // The K bias's gradient is 0 in exact arithmetic (each softmax row is invariant to a shift
      // of its logits): both sides are rounding noise, measured on the V bias's scale.
      double v_scale = 0;
      for (int64_t j = 0; j < d; ++j) v_scale = std::max(v_scale, std::abs(bias_grads[2][j]));
      for (const auto kernel : attention_kernels()) {
        AttentionKernelScope scope(kernel);
        INFO(cpu::attention_kernel_name(kernel) << " kernel");
        store_f.zero_grad();
        nn::MultiHeadAttention<float, Cpu>::Saved saved_f;
        const auto xq_f = convert<float>(xq), xkv_f = self ? xq_f : convert<float>(xkv);  // self: one tensor
        const auto y_f = mha_f.forward(xq_f, xkv_f, mask, &saved_f);
        const auto g_f = mha_f.backward(saved_f, convert<float>(dy), true, true);
        CHECK(rel_error(y_f, y) < 1e-5);
        CHECK(rel_error(g_f.dxq, g.dxq) < 1e-4);
        CHECK(rel_error(g_f.dxkv, g.dxkv) < 1e-4);
        for (int i = 0; i < 4; ++i) {
          INFO("projection " << i);
          CHECK(rel_error(mha_f.weight(i).grad, weight_grads[size_t(i)]) < 1e-4);
          CHECK(rel_error(mha_f.bias(i)->grad, bias_grads[size_t(i)], i == 1 ? v_scale : 1e-3) < 1e-4);
        }
        const auto g2_f = mha_f.backward(saved_f, convert<float>(dy), true, false, &extra_f);
        CHECK(rel_error(g2_f.dxq, g2.dxq) < 1e-4);
        // The second backward added to the gradients (on the stacked path too: batch·Lq ≥ 4d with
        // self-attention); its extra dQ changes only W_Q's, so W_K, W_V and W_O hold twice the first's.
        for (int i = 1; i < 4; ++i) {
          INFO("projection " << i << " after a second backward");
          TensorD twice = weight_grads[size_t(i)].clone();
          for (int64_t j = 0; j < twice.numel(); ++j) twice[j] *= 2;
          CHECK(rel_error(mha_f.weight(i).grad, twice) < 1e-4);
        }
        if (self) {
          const auto g3_f = mha_f.backward(saved_f, convert<float>(dy), true, true, nullptr, true);
          CHECK(!g3_f.dxkv.defined());
          CHECK(rel_error(g3_f.dxq, sum) < 1e-4);
        }
      }
    }
  }
  cpu::set_num_threads(before);
}
