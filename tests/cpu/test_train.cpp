// Trainer building blocks: AdamW against a hand-written reference, clipping, schedule.
#include <catch2/catch.hpp>

#include "mnemo/train/clip.hpp"
#include "mnemo/train/optimizer.hpp"
#include "mnemo/train/schedule.hpp"
#include "support/testing.hpp"

using namespace mnemo;
using namespace mnemo::test;

TEST_CASE("AdamW matches a scalar reference over three steps", "[train]") {
  nn::ParameterStore<double, Cpu> store(1);
  auto& p = store.add("w", {3}, nn::Init::constant(0.5));
  train::AdamWConfig cfg{0.1, 0.9, 0.99, 1e-8, 0.01};
  train::AdamW<double, Cpu> opt(store, cfg);
  const double grads[3][3] = {{1.0, -2.0, 0.5}, {0.3, 0.1, -0.4}, {-1.0, 2.0, 0.0}};
  double w[3] = {0.5, 0.5, 0.5}, m[3] = {}, v[3] = {};
  for (int t = 1; t <= 3; ++t) {
    for (int i = 0; i < 3; ++i) p.grad[i] = grads[t - 1][i];
    opt.step(-1.0, 0.5);
    for (int i = 0; i < 3; ++i) {
      const double g = 0.5 * grads[t - 1][i];
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.99 * v[i] + 0.01 * g * g;
      const double mh = m[i] / (1 - std::pow(0.9, t)), vh = v[i] / (1 - std::pow(0.99, t));
      w[i] = w[i] * (1 - 0.1 * 0.01) - 0.1 * mh / (std::sqrt(vh) + 1e-8);
      CHECK(p.value[i] == Approx(w[i]).epsilon(1e-12));
    }
  }
  CHECK_THROWS_AS(train::AdamWConfig({-1.0}).validate(), ConfigError);
}

TEST_CASE("global gradient norm and clipping factor", "[train]") {
  nn::ParameterStore<double, Cpu> store(1);
  auto& a = store.add("a", {2}, nn::Init::zeros());
  auto& b = store.add("b", {1}, nn::Init::zeros());
  a.grad[0] = 3;
  a.grad[1] = 0;
  b.grad[0] = 4;
  CHECK(train::global_grad_norm(store) == Approx(5.0));
  CHECK(train::clip_factor(5.0, 1.0) == Approx(0.2).epsilon(1e-6));
  CHECK(train::clip_factor(0.5, 1.0) == 1.0);
  CHECK(train::clip_factor(5.0, 0.0) == 1.0);
  b.grad[0] = NAN;
  CHECK_FALSE(std::isfinite(train::global_grad_norm(store)));
}

TEST_CASE("warm-up then cosine schedule", "[train]") {
  train::WarmupCosine s{1.0, 10, 110, 0.1};
  CHECK(s(0) == Approx(0.1));
  CHECK(s(9) == Approx(1.0));
  CHECK(s(10) == Approx(1.0));
  CHECK(s(60) == Approx(0.1 + 0.9 * 0.5));
  CHECK(s(110) == Approx(0.1));
  CHECK(s(500) == Approx(0.1));
  CHECK_THROWS_AS((train::WarmupCosine{1.0, 0, 0, 0.1}.validate()), ConfigError);
}
