// Reverse-mode rules of every autograd op against central finite differences (double), and the
// tape's mechanics (NoGrad, mark/rewind, accumulation into leaves and parameters).
#include <catch2/catch.hpp>

#include "support/testing.hpp"

using namespace mnemo;
using namespace mnemo::test;
namespace ag = mnemo::autograd;

namespace {
Context<Cpu>& ctx() { return BackendTraits<Cpu>::default_context(); }

void require_all_below(const std::vector<GradCheck>& checks, double tol = 1e-6) {
  for (const auto& c : checks) {
    INFO(c.name << ": max relative error " << c.max_rel_error);
    CHECK(c.max_rel_error < tol);
  }
}
}  // namespace

TEST_CASE("add, axpby, scale, mul and add_bias match finite differences", "[autograd][gradcheck]") {
  auto a = VarD::leaf(random_tensor({3, 4}, 1));
  auto b = VarD::leaf(random_tensor({3, 4}, 2));
  auto bias = VarD::leaf(random_tensor({4}, 3));
  const auto r = random_tensor({3, 4}, 4);
  require_all_below(check_gradients(
      [&] {
        auto s = ag::add(ctx(), a, b);
        auto t = ag::mul(ctx(), s, a);
        auto u = ag::axpby(ctx(), 0.7, t, -1.3, b);
        auto w = ag::add_bias(ctx(), ag::scale(ctx(), u, 2.5), bias);
        return ag::sum_product(ctx(), w, r);
      },
      {{"a", a}, {"b", b}, {"bias", bias}}));
}

TEST_CASE("matmul in every transpose combination and with a shared right operand", "[autograd][gradcheck]") {
  for (Trans ta : {Trans::N, Trans::T})
    for (Trans tb : {Trans::N, Trans::T}) {
      // op(a) is 3x4, op(b) is 4x5, batch 2
      auto a = VarD::leaf(random_tensor(ta == Trans::N ? Shape{2, 3, 4} : Shape{2, 4, 3}, 10));
      auto b = VarD::leaf(random_tensor(tb == Trans::N ? Shape{2, 4, 5} : Shape{2, 5, 4}, 11));
      const auto r = random_tensor({2, 3, 5}, 12);
      INFO("ta=" << (ta == Trans::T) << " tb=" << (tb == Trans::T));
      require_all_below(check_gradients([&] { return ag::sum_product(ctx(), ag::matmul(ctx(), a, b, ta, tb), r); },
                                        {{"a", a}, {"b", b}}));
    }
  auto x = VarD::leaf(random_tensor({2, 3, 4}, 13));
  auto w = VarD::leaf(random_tensor({5, 4}, 14));
  const auto r = random_tensor({2, 3, 5}, 15);
  require_all_below(check_gradients([&] { return ag::sum_product(ctx(), ag::matmul(ctx(), x, w, Trans::N, Trans::T), r); },
                                    {{"x", x}, {"w shared", w}}));
}

TEST_CASE("matmul forward equals a naive triple loop", "[autograd]") {
  auto a = random_tensor({2, 3, 4}, 20), b = random_tensor({2, 4, 5}, 21);
  auto c = ag::matmul<double, Cpu>(ctx(), a, b).value();
  for (int n = 0; n < 2; ++n)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 5; ++j) {
        double s = 0;
        for (int k = 0; k < 4; ++k) s += a.at({n, i, k}) * b.at({n, k, j});
        CHECK(c.at({n, i, j}) == Approx(s).epsilon(1e-14));
      }
}

TEST_CASE("linear, layer_norm, l2_normalize, activations and softmax match finite differences",
          "[autograd][gradcheck]") {
  auto x = VarD::leaf(random_tensor({2, 3, 6}, 30));
  auto w = VarD::leaf(random_tensor({6, 5}, 31, 0.5));
  auto bias = VarD::leaf(random_tensor({5}, 32));
  auto gamma = VarD::leaf(random_tensor({5}, 33));
  auto beta = VarD::leaf(random_tensor({5}, 34));
  const auto r = random_tensor({2, 3, 5}, 35);
  for (Activation act : {Activation::Gelu, Activation::Relu, Activation::Identity}) {
    require_all_below(check_gradients(
        [&] {
          auto h = ag::linear(ctx(), x, w, &bias);
          auto n = ag::layer_norm(ctx(), h, gamma, beta);
          auto g = ag::bias_activation(ctx(), n, &bias, act);
          return ag::sum_product(ctx(), ag::l2_normalize(ctx(), g), r);
        },
        {{"x", x}, {"w", w}, {"bias", bias}, {"gamma", gamma}, {"beta", beta}}));
  }
  // Masked softmax with a temperature, causal + padding + ALiBi.
  auto s = VarD::leaf(random_tensor({2, 2, 3, 4}, 36));
  const auto r2 = random_tensor({2, 2, 3, 4}, 37);
  auto pad = Tensor<uint8_t, Cpu>::from_host({2, 4}, {0, 0, 0, 1, 0, 1, 0, 0});
  auto slopes = Tensor<float, Cpu>::from_host({2}, {0.5f, 0.25f});
  SoftmaxMask mask{true, 1, pad.data(), slopes.data()};
  require_all_below(check_gradients(
      [&] { return ag::sum_product(ctx(), ag::softmax(ctx(), s, SoftmaxDims{2, 2, 3, 4}, 1.0 / 0.7, mask), r2); },
      {{"logits", s}}));
}

TEST_CASE("embedding, cross_entropy, dropout, permute and concat match finite differences",
          "[autograd][gradcheck]") {
  auto table = VarD::leaf(random_tensor({7, 4}, 40));
  auto ids = Tensor<int32_t, Cpu>::from_host({2, 3}, {1, 6, 1, 0, 3, 3});
  auto targets = Tensor<int32_t, Cpu>::from_host({6}, {2, -100, 1, 0, 3, 1});
  auto weights = Tensor<float, Cpu>::from_host({6}, {1.0f, 1.0f, 0.5f, 2.0f, 1.0f, 0.25f});
  auto w = VarD::leaf(random_tensor({4, 4}, 41));
  require_all_below(check_gradients(
      [&] {
        auto e = ag::embedding(ctx(), table, ids);
        auto d = ag::dropout(ctx(), e, 0.3f, RngKey{5, 6});
        auto p = ag::reshape(ag::permute_0213(ctx(), ag::reshape(d, {2, 3, 2, 2})), {2, 3, 4});
        auto logits = ag::reshape(ag::matmul(ctx(), p, w), {6, 4});
        return ag::cross_entropy(ctx(), logits, targets, &weights);
      },
      {{"table", table}, {"w", w}}));
  auto x = VarD::leaf(random_tensor({2, 1, 3}, 42)), y = VarD::leaf(random_tensor({2, 2, 3}, 43));
  const auto r = random_tensor({2, 3, 3}, 44);
  require_all_below(check_gradients([&] { return ag::sum_product(ctx(), ag::concat1(ctx(), x, y), r); },
                                    {{"x", x}, {"y", y}}));
}

TEST_CASE("select_rows routes gradients by row, with and without broadcast", "[autograd][gradcheck]") {
  auto a = VarD::leaf(random_tensor({3, 2, 2}, 50));
  auto row = VarD::leaf(random_tensor({2, 2}, 51));
  auto b = VarD::leaf(random_tensor({3, 2, 2}, 52));
  const auto r = random_tensor({3, 2, 2}, 53);
  const std::vector<uint8_t> sel{1, 0, 1};
  require_all_below(check_gradients(
      [&] {
        auto s1 = ag::select_rows(ctx(), sel, a, b);
        auto s2 = ag::select_rows(ctx(), sel, row, s1);
        return ag::sum_product(ctx(), ag::add(ctx(), s1, s2), r);
      },
      {{"a", a}, {"broadcast row", row}, {"b", b}}));
}

TEST_CASE("cross_entropy forward against a hand computation", "[autograd]") {
  auto logits = Tensor<double, Cpu>::from_host({2, 3}, {1.0, 2.0, 3.0, 0.5, 0.5, -1.0});
  auto t = Tensor<int32_t, Cpu>::from_host({2}, {2, 0});
  const double l0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0;
  const double l1 = std::log(2 * std::exp(0.5) + std::exp(-1.0)) - 0.5;
  auto loss = ag::cross_entropy<double, Cpu>(ctx(), logits, t);
  CHECK(loss.value()[0] == Approx((l0 + l1) / 2).epsilon(1e-14));
  auto sum = ag::cross_entropy<double, Cpu>(ctx(), logits, t, nullptr, {-100, ag::Reduction::Sum});
  CHECK(sum.value()[0] == Approx(l0 + l1).epsilon(1e-14));
}

TEST_CASE("bad op inputs throw named errors", "[autograd][errors]") {
  auto a = VarD(random_tensor({2, 3}, 1)), b = VarD(random_tensor({3, 2}, 2));
  MNEMO_CHECK_THROWS(ag::add(ctx(), a, b), ShapeError, ("b has shape [3, 2], expected the shape of a [2, 3]"));
  MNEMO_CHECK_THROWS(ag::matmul(ctx(), a, a), ShapeError, ("inner dimensions differ"));
  auto table = VarD(random_tensor({5, 2}, 3));
  auto ids = Tensor<int32_t, Cpu>::from_host({2}, {1, 5});
  MNEMO_CHECK_THROWS(ag::embedding(ctx(), table, ids), ValueError, ("outside [0, 5)"));
  CHECK_THROWS_AS(ag::dropout(ctx(), a, 1.0f, RngKey{}), ValueError);
  auto t = Tensor<int32_t, Cpu>::from_host({3}, {0, 1, 2});
  MNEMO_CHECK_THROWS(ag::cross_entropy(ctx(), a, t), ShapeError, ("rows=2"));
}

TEST_CASE("the tape: NoGrad records nothing, rewind drops nodes, leaves accumulate", "[autograd][tape]") {
  ag::Tape tape;
  auto x = VarD::leaf(TensorD::full({2}, 3.0));
  const auto one = TensorD::full({2}, 1.0);
  {
    ag::Recording on(tape);
    {
      ag::NoGrad off;
      auto y = ag::mul(ctx(), x, x);
      CHECK_FALSE(y.requires_grad());
    }
    CHECK(tape.size() == 0);
    const size_t m = tape.mark();
    auto y = ag::sum_product(ctx(), ag::mul(ctx(), x, x), one);  // d/dx = 2x = 6
    CHECK(tape.size() == 2);
    tape.seed(y, TensorD::full({}, 1.0));
    tape.backward(m);
    CHECK(x.grad()[0] == 6.0);
    tape.rewind(m);
    CHECK(tape.size() == 0);
    auto z = ag::sum_product(ctx(), ag::scale(ctx(), x, 4.0), one);  // adds 4
    tape.backward(z);
    CHECK(x.grad()[1] == 10.0);
  }
  CHECK(ag::recording_tape() == nullptr);
  CHECK_THROWS_AS(tape.rewind(99), StateError);
  VarD c(TensorD::full({1}, 1.0));
  CHECK_THROWS_AS(c.grad(), StateError);
}

TEST_CASE("intermediate gradients are released during the sweep", "[autograd][tape]") {
  auto& arena = ctx().arena();
  auto x = VarD::leaf(random_tensor({256, 256}, 7));
  const auto one = TensorD::full({256, 256}, 1.0);
  ag::Tape tape;
  ag::Recording on(tape);
  VarD h = x;
  for (int i = 0; i < 8; ++i) h = ag::scale(ctx(), h, 1.01);
  auto loss = ag::sum_product(ctx(), h, one);
  h = VarD();
  arena.reset_peak();
  const size_t before = arena.stats().bytes_in_use;
  tape.backward(loss);
  // At most a few 512 KiB gradients alive at once, not one per node.
  CHECK(arena.stats().peak_bytes - before < 4 * 256 * 256 * sizeof(double) + 4096);
  CHECK(x.grad()[0] == Approx(std::pow(1.01, 8)).epsilon(1e-12));
}
