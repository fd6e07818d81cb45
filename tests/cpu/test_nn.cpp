// nn layers: gradients against finite differences in double, attention against a hand-computed
// masked case, float against double, and the errors bad input gets.
#include <catch2/catch.hpp>

#include "mnemo/nn.hpp"
#include "support/testing.hpp"

using namespace mnemo;
using namespace mnemo::test;
namespace ag = mnemo::autograd;

namespace {
void require_all_below(const std::vector<GradCheck>& checks, double tol = 1e-6) {
  for (const auto& c : checks) {
    INFO(c.name << ": max relative error " << c.max_rel_error);
    CHECK(c.max_rel_error < tol);
  }
}
}  // namespace

TEST_CASE("Linear, LayerNorm, FeedForward and Embedding match finite differences", "[nn][gradcheck]") {
  nn::ParameterStore<double, Cpu> store(11);
  nn::Embedding<double, Cpu> emb(store, "emb", 9, 6, 0.5);
  nn::LayerNorm<double, Cpu> ln(store, "ln", 6);
  nn::FeedForward<double, Cpu> ffn(store, "ffn", 6, 10, Activation::Gelu, 0.3);
  nn::Linear<double, Cpu> head(store, "head", 6, 4, {true, 0.3});
  auto ids = Tensor<int32_t, Cpu>::from_host({2, 3}, {0, 8, 3, 3, 2, 7});
  const auto r = random_tensor({2, 3, 4}, 5);
  require_all_below(check_gradients(
      [&] {
        auto x = emb(ids);
        x = ag::add(store.context(), x, ffn(ln(x)));
        return ag::sum_product(store.context(), head(x), r);
      },
      {}, &store));
}

TEST_CASE("MultiHeadAttention matches finite differences (self/cross, causal, padding, ALiBi)",
          "[nn][attention][gradcheck]") {
  nn::ParameterStore<double, Cpu> store(12);
  nn::MultiHeadAttention<double, Cpu> mha(store, "attn", 8, 2, true, 0.4);
  auto x = VarD::leaf(random_tensor({2, 3, 8}, 1));
  auto mem = VarD::leaf(random_tensor({2, 5, 8}, 2));
  auto pad = Tensor<uint8_t, Cpu>::from_host({2, 5}, {0, 0, 1, 0, 0, 0, 0, 0, 1, 1});
  auto slopes = Tensor<float, Cpu>::from_host({2}, {0.5f, 0.125f});
  const auto r = random_tensor({2, 3, 8}, 3);
  nn::AttentionMask<Cpu> self_mask;
  self_mask.causal = true;
  nn::AttentionMask<Cpu> cross_mask;
  cross_mask.key_padding = &pad;
  cross_mask.causal = true;
  cross_mask.query_offset = 2;
  cross_mask.alibi_slopes = &slopes;
  require_all_below(check_gradients(
      [&] {
        auto y = mha(x, x, self_mask);
        auto z = mha(y, mem, cross_mask);
        return ag::sum_product(store.context(), z, r);
      },
      {{"x", x}, {"memory", mem}}, &store));
}

TEST_CASE("MultiHeadAttention forward equals a hand-computed masked case", "[nn][attention]") {
  // d = 2, one head, identity projections, zero biases: out = softmax(q·kᵀ/√2 + mask)·v.
  nn::ParameterStore<double, Cpu> store(0);
  nn::MultiHeadAttention<double, Cpu> mha(store, "a", 2, 1);
  for (int i = 0; i < 4; ++i) {
    auto& w = mha.weight(i).value;
    w.zero();
    w.at({0, 0}) = 1;
    w.at({1, 1}) = 1;
  }
  auto q = TensorD::from_host({1, 2, 2}, {1.0, 0.0, 0.0, 2.0});
  auto kv = TensorD::from_host({1, 3, 2}, {1.0, 1.0, 2.0, 0.0, -1.0, 3.0});
  auto pad = Tensor<uint8_t, Cpu>::from_host({1, 3}, {0, 0, 1});  // key 2 is padding
  nn::AttentionMask<Cpu> mask;
  mask.key_padding = &pad;
  mask.causal = true;  // query 0 sees key 0 only; query 1 sees keys 0, 1
  auto y = mha.forward(q, kv, mask, nullptr);
  // query 0: only key 0 → v0 = (1, 1)
  CHECK(y.at({0, 0, 0}) == Approx(1.0).epsilon(1e-14));
  CHECK(y.at({0, 0, 1}) == Approx(1.0).epsilon(1e-14));
  // query 1 = (0, 2): logits (2/√2, 0/√2) over keys 0, 1
  const double l0 = 2.0 / std::sqrt(2.0), l1 = 0.0;
  const double p0 = std::exp(l0) / (std::exp(l0) + std::exp(l1)), p1 = 1 - p0;
  CHECK(y.at({0, 1, 0}) == Approx(p0 * 1.0 + p1 * 2.0).epsilon(1e-14));
  CHECK(y.at({0, 1, 1}) == Approx(p0 * 1.0 + p1 * 0.0).epsilon(1e-14));
  // Every key masked → zero attention output (not NaN); the output is then just b_O = 0.
  auto all = Tensor<uint8_t, Cpu>::from_host({1, 3}, {1, 1, 1});
  mask.key_padding = &all;
  auto z = mha.forward(q, kv, mask, nullptr);
  for (int64_t i = 0; i < z.numel(); ++i) CHECK(z[i] == 0.0);
}

TEST_CASE("float layers agree with double layers", "[nn][precision]") {
  nn::ParameterStore<double, Cpu> sd(3);
  nn::ParameterStore<float, Cpu> sf(3);
  nn::MultiHeadAttention<double, Cpu> md(sd, "a", 32, 4);
  nn::MultiHeadAttention<float, Cpu> mf(sf, "a", 32, 4);
  nn::FeedForward<double, Cpu> fd(sd, "f", 32, 64);
  nn::FeedForward<float, Cpu> ff(sf, "f", 32, 64);
  nn::LayerNorm<double, Cpu> ld(sd, "ln", 32);
  nn::LayerNorm<float, Cpu> lf(sf, "ln", 32);
  // Same seed and names → same initial values up to rounding.
  for (size_t i = 0; i < sd.size(); ++i) CHECK(rel_error(sf[i].value, sd[i].value) < 1e-7);
  const auto xd = random_tensor({2, 16, 32}, 9);
  const auto xf = convert<float>(xd);
  nn::AttentionMask<Cpu> m;
  m.causal = true;
  auto yd = fd(ld(md(xd, xd, m))).value();
  auto yf = ff(lf(mf(xf, xf, m))).value();
  CHECK(rel_error(yf, yd) < 1e-5);
}

TEST_CASE("layers reject bad configurations and shapes with named errors", "[nn][errors]") {
  nn::ParameterStore<double, Cpu> store(1);
  MNEMO_CHECK_THROWS((nn::MultiHeadAttention<double, Cpu>(store, "bad", 10, 3)), ConfigError, ("d_model=10 is not divisible by heads=3"));
  CHECK_THROWS_AS((nn::Linear<double, Cpu>(store, "l", 0, 3)), ConfigError);
  nn::MultiHeadAttention<double, Cpu> mha(store, "attn", 8, 2);
  MNEMO_CHECK_THROWS((nn::MultiHeadAttention<double, Cpu>(store, "attn", 8, 2)), ConfigError, ("'attn.q_proj.weight' already exists"));
  auto x = TensorD::zeros({2, 3, 8});
  auto wrong = TensorD::zeros({2, 3, 6});
  MNEMO_CHECK_THROWS(mha.forward(x, wrong, {}, nullptr), ShapeError, (
                           "key_value has shape [2, 3, 6], expected [batch=2, len, d_model=8]"));
  auto other_batch = TensorD::zeros({3, 3, 8});
  CHECK_THROWS_AS(mha.forward(x, other_batch, {}, nullptr), ShapeError);
  auto pad = Tensor<uint8_t, Cpu>::zeros({2, 4});
  nn::AttentionMask<Cpu> m;
  m.key_padding = &pad;
  MNEMO_CHECK_THROWS(mha.forward(x, x, m, nullptr), ShapeError, ("key_padding has shape [2, 4], expected [batch=2, keys=3]"));
  nn::Linear<double, Cpu> lin(store, "lin", 4, 3);
  MNEMO_CHECK_THROWS(lin(TensorD::zeros({2, 5})), ShapeError,
                     "linear: input has shape [2, 5], expected [..., in_features=4]");
  nn::LayerNorm<double, Cpu> ln(store, "ln", 8);
  MNEMO_CHECK_THROWS(ln(TensorD::zeros({2, 5})), ShapeError, ("gamma"));
}
