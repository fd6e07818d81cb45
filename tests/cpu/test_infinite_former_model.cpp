// ∞-former language model and trainer: whole-model gradients against finite differences (double),
// the fused attention + memory node, row independence and resets, the rollout's targets and loss,
// non-finite handling, float against double, and the errors bad input gets.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>

#include "mnemo/io/infinite_former_state_io.hpp"
#include "mnemo/models/infinite_former.hpp"
#include "mnemo/train/infinite_former_trainer.hpp"
#include "support/testing.hpp"

using namespace mnemo;
using namespace mnemo::test;
namespace ag = mnemo::autograd;
using ModelD = models::InfiniteFormer<double, Cpu>;
using TrainerD = train::InfiniteFormerTrainer<double, Cpu>;

namespace {

/// A tiny model: vocab 11, d 8, 2 heads, 2 layers, L 4, STM one segment, N 8, M 6.
models::InfiniteFormerConfig tiny_config(bool sticky = false, int64_t stm = 1) {
  models::InfiniteFormerConfig c;
  c.vocab = 11;
  c.d_model = 8;
  c.heads = 2;
  c.d_ff = 16;
  c.layers = 2;
  c.segment_length = 4;
  c.stm_segments = stm;
  c.dropout = 0.0;
  c.init_std = 0.3;
  c.ltm.basis = memory::BasisConfig{8, {0.15, 0.3}};
  c.ltm.samples = 6;
  c.ltm.tau = 0.6;
  c.ltm.ridge_lambda = 0.3;
  c.ltm.kl_weight = 0.01;
  c.ltm.sticky = sticky;
  c.ltm.sticky_bins = 8;
  return c;
}

Tensor<int32_t, Cpu> random_tokens(int64_t batch, int64_t len, int64_t vocab, uint64_t seed) {
  Tensor<int32_t, Cpu> t(Shape{batch, len});
  const RngKey key{seed, 3};
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<int32_t>(key.bits(static_cast<uint64_t>(i)) % static_cast<uint32_t>(vocab));
  return t;
}

void require_all_below(const std::vector<GradCheck>& checks, double tol = 1e-6) {
  for (const auto& c : checks) {
    INFO(c.name << ": max relative error " << c.max_rel_error);
    CHECK(c.max_rel_error < tol);
  }
}

}  // namespace

TEST_CASE("a tiny model's gradients match finite differences", "[infformer][model][gradcheck]") {
  for (auto [sticky, stm] : {std::pair{false, int64_t{1}}, std::pair{true, int64_t{0}}}) {
    DYNAMIC_SECTION("sticky " << sticky << ", stm_segments " << stm) {
      ModelD model(tiny_config(sticky, stm), 21);
      auto prebuilt = model.initial_state(2, 5);
      {
        ag::NoGrad off;
        for (uint64_t k = 0; k < 3; ++k) model.step(random_tokens(2, 4, 11, 30 + k), nullptr, prebuilt);
      }
      REQUIRE(prebuilt.ltm[0].has_memory == std::vector<uint8_t>{1, 1});
      auto pad = Tensor<uint8_t, Cpu>::zeros({2, 4});
      pad.at({1, 3}) = 1;
      const auto tokens = random_tokens(2, 4, 11, 40);
      auto targets = random_tokens(2, 4, 11, 41);
      targets.at({1, 3}) = TrainerD::kIgnore;
      auto& store = model.parameters();
      auto loss = [&] {
        auto s = prebuilt.clone();
        auto out = model.step(tokens, &pad, s);
        auto ce = ag::cross_entropy(store.context(), out.logits, targets, static_cast<const Tensor<float, Cpu>*>(nullptr), {TrainerD::kIgnore, ag::Reduction::Mean});
        return ag::add(store.context(), ce, ag::scale(store.context(), out.kl_mean, 0.02));
      };
      // h = 1e-5: the KL term (≈ 135 per query at initialisation) makes h = 1e-6 rounding-bound.
      require_all_below(check_gradients(loss, {}, &store, 1e-5));
    }
  }
}

TEST_CASE("the memory read contributes; without it the model is the plain decoder", "[infformer][model]") {
  ModelD with(tiny_config(), 22);
  auto cfg = tiny_config();
  cfg.use_ltm = false;
  ModelD without(cfg, 22);
  CHECK(with.parameters().contains("layers.0.ltm.w_mu"));
  CHECK_FALSE(without.parameters().contains("layers.0.ltm.w_mu"));
  CHECK(without.parameters().size() + 2 * 7 == with.parameters().size());
  auto s = with.initial_state(1);
  ag::NoGrad off;
  for (uint64_t k = 0; k < 3; ++k) with.step(random_tokens(1, 4, 11, 50 + k), nullptr, s);
  // The read changes the output: another W_O^ltm gives other logits; W_O^ltm = 0 gives the
  // logits of the model without memory (same seed, same names: same other parameters).
  auto s2 = s.clone();
  const auto tokens = random_tokens(1, 4, 11, 60);
  const auto a = with.step(tokens, nullptr, s).logits.value();
  for (int64_t i = 0; i < 2; ++i) with.parameters().get(detail::cat("layers.", i, ".ltm.o_proj.weight")).value.zero();
  const auto b = with.step(tokens, nullptr, s2).logits.value();
  CHECK(rel_error(a, b) > 1e-3);
  auto s3 = without.initial_state(1);
  auto s4 = with.initial_state(1);  // W_O^ltm = 0 from the start: the cached inputs agree too
  for (uint64_t k = 0; k < 4; ++k) {
    const auto t = random_tokens(1, 4, 11, 50 + k);
    CHECK(rel_error(without.step(t, nullptr, s3).logits.value(), with.step(t, nullptr, s4).logits.value()) < 1e-14);
  }
}

TEST_CASE("batch rows are independent; a reset restarts only its row", "[infformer][model]") {
  ModelD model(tiny_config(true), 23);
  ag::NoGrad off;
  std::vector<Tensor<int32_t, Cpu>> seq;
  for (uint64_t k = 0; k < 6; ++k) seq.push_back(random_tokens(2, 4, 11, 70 + k));
  auto row = [](const Tensor<int32_t, Cpu>& t, int64_t r) { return t.slice(r, 1).clone(); };
  // Row 1 of a batch-2 stream whose row 1 is reset before step 3 == a fresh batch-1 stream of
  // row 1 from step 3 on; row 0 is the same as without the reset, bit for bit.
  auto joint = model.initial_state(2, 9), plain = model.initial_state(2, 9);
  auto alone = model.initial_state(1, 9);
  for (size_t k = 0; k < seq.size(); ++k) {
    if (k == 3) joint.reset_rows({0, 1});
    const auto lj = model.step(seq[k], nullptr, joint).logits.value();
    const auto lp = model.step(seq[k], nullptr, plain).logits.value();
    CHECK(lj.slice(0, 1).to_host() == lp.slice(0, 1).to_host());
    if (k >= 3) {
      const auto la = model.step(row(seq[k], 1), nullptr, alone).logits.value();
      CHECK(rel_error(lj.slice(1, 1).clone(), la) < 1e-12);
    }
  }
}

TEST_CASE("rollout: next-token targets, weighted loss, gradients equal the per-step sum", "[infformer][train]") {
  ModelD model(tiny_config(), 24);
  TrainerD trainer(model, {7});
  std::vector<train::Segment> segs;
  for (uint64_t k = 0; k < 4; ++k) segs.push_back({random_tokens(2, 4, 11, 80 + k), {}});
  segs[2].padding = Tensor<uint8_t, Cpu>::zeros({2, 4});
  segs[2].padding.at({0, 2}) = segs[2].padding.at({0, 3}) = 1;
  const auto t1 = TrainerD::next_token_targets(segs[1], segs[2]);
  CHECK(t1.at({0, 0}) == segs[1].tokens.at({0, 1}));
  CHECK(t1.at({1, 3}) == segs[2].tokens.at({1, 0}));
  const auto t2 = TrainerD::next_token_targets(segs[2], segs[3]);
  CHECK(t2.at({0, 1}) == TrainerD::kIgnore);  // next token is padding
  CHECK(t2.at({0, 2}) == TrainerD::kIgnore);  // padding itself
  CHECK(t2.at({0, 0}) == segs[2].tokens.at({0, 1}));
  const train::Resets resets = {{0, 0}, {0, 1}, {0, 0}};
  const std::vector<double> weights = {0.5, 1.0, 2.0};
  auto& store = model.parameters();
  store.zero_grad();
  auto state = model.initial_state(2, 3);
  const auto r = trainer.rollout(segs, resets, state, weights);
  CHECK(r.finite);
  CHECK(r.tokens == 8 + 8 + 5);  // step 2, row 0: positions 1 (next is padding), 2, 3 (padding) do not count
  CHECK(state.steps == 3);
  std::vector<TensorD> rollout_grads;
  for (auto& p : store) rollout_grads.push_back(p->grad.clone());
  // The same by hand: each step's loss (CE over counted targets + λ_KL·KL) and gradient.
  store.zero_grad();
  auto manual = model.initial_state(2, 3);
  double loss = 0;
  for (size_t t = 0; t < 3; ++t) {
    manual.reset_rows(resets[t]);
    const auto targets = TrainerD::next_token_targets(segs[t], segs[t + 1]);
    ag::Tape tape;
    ag::Recording on(tape);
    typename ModelD::StepOptions opt;
    opt.training = true;
    opt.dropout_key = RngKey{7, 0}.derive(uint64_t{0}).derive(static_cast<uint64_t>(t));
    auto out = model.step(segs[t].tokens, segs[t].has_padding() ? &segs[t].padding : nullptr, manual, opt);
    auto ce = ag::cross_entropy(store.context(), out.logits, targets, static_cast<const Tensor<float, Cpu>*>(nullptr), {TrainerD::kIgnore, ag::Reduction::Mean});
    auto l = ag::add(store.context(), ce, ag::scale(store.context(), out.kl_mean, 0.01));
    loss += weights[t] * l.value()[0];
    tape.backward(l, weights[t]);
  }
  CHECK(r.loss == Approx(loss).epsilon(1e-12));
  size_t i = 0;
  for (auto& p : store) CHECK(rel_error(p->grad, rollout_grads[i++]) < 1e-12);
}

TEST_CASE("a non-finite gradient zeroes the gradients and reports finite = false", "[infformer][train]") {
  ModelD model(tiny_config(), 25);
  TrainerD trainer(model);
  std::vector<train::Segment> segs;
  for (uint64_t k = 0; k < 3; ++k) segs.push_back({random_tokens(1, 4, 11, 90 + k), {}});
  model.parameters().get("layers.1.ffn.fc2.bias").value[0] = NAN;
  auto state = model.initial_state(1);
  const auto r = trainer.rollout(segs, {}, state);
  CHECK_FALSE(r.finite);
  for (auto& p : model.parameters()) CHECK(BackendTraits<Cpu>::max_abs(model.context(), p->grad.data(), p->numel()) == 0.0);
}

TEST_CASE("float model agrees with double", "[infformer][model][precision]") {
  auto cfg = tiny_config(false);
  cfg.d_model = 32;
  cfg.heads = 4;
  cfg.d_ff = 64;
  cfg.segment_length = 16;
  cfg.ltm.basis = memory::BasisConfig{32, {0.03, 0.06}};
  cfg.ltm.samples = 32;
  ModelD md(cfg, 26);
  models::InfiniteFormer<float, Cpu> mf(cfg, 26);
  auto sd = md.initial_state(2);
  auto sf = mf.initial_state(2);
  ag::NoGrad off;
  TensorD ld;
  Tensor<float, Cpu> lf;
  for (uint64_t k = 0; k < 4; ++k) {
    const auto tokens = random_tokens(2, 16, 11, 100 + k);
    ld = md.step(tokens, nullptr, sd).logits.value();
    lf = mf.step(tokens, nullptr, sf).logits.value();
  }
  CHECK(rel_error(lf, ld) < 1e-5);
}

TEST_CASE("bad model configurations and inputs name what is wrong", "[infformer][model][errors]") {
  auto bad = [](auto edit) {
    auto c = tiny_config();
    edit(c);
    return c;
  };
  MNEMO_CHECK_THROWS(ModelD(bad([](auto& c) { c.heads = 3; })), ConfigError, "d_model=8 is not divisible by heads=3");
  MNEMO_CHECK_THROWS(ModelD(bad([](auto& c) { c.stm_segments = -1; })), ConfigError, "stm_segments = -1");
  MNEMO_CHECK_THROWS(ModelD(bad([](auto& c) { c.dropout = 1.0; })), ConfigError, "dropout = 1");
  MNEMO_CHECK_THROWS(ModelD(bad([](auto& c) { c.ltm.tau = 1.5; })), ConfigError, "tau = 1.5");
  MNEMO_CHECK_THROWS(ModelD(bad([](auto& c) { c.ltm.basis.count = 7; })), ConfigError, "not a multiple");
  MNEMO_CHECK_THROWS(ModelD(bad([](auto& c) { c.vocab = 1; })), ConfigError, "vocab = 1");
  ModelD model(tiny_config(), 27);
  auto state = model.initial_state(2);
  MNEMO_CHECK_THROWS(model.step(random_tokens(3, 4, 11, 1), nullptr, state), ShapeError, "tokens has shape [3, 4], expected [batch=2, length]");
  auto pad = Tensor<uint8_t, Cpu>::zeros({2, 3});
  MNEMO_CHECK_THROWS(model.step(random_tokens(2, 4, 11, 1), &pad, state), ShapeError, "padding has shape [2, 3]");
  auto ids = random_tokens(2, 4, 11, 1);
  ids[3] = 11;
  MNEMO_CHECK_THROWS(model.step(ids, nullptr, state), ValueError, "outside [0, 11)");
  models::InfiniteFormerState<double, Cpu> foreign;
  MNEMO_CHECK_THROWS(model.step(random_tokens(2, 4, 11, 1), nullptr, foreign), StateError, "initial_state");
  TrainerD trainer(model);
  std::vector<train::Segment> segs = {{random_tokens(2, 4, 11, 1), {}}, {random_tokens(2, 5, 11, 2), {}}};
  MNEMO_CHECK_THROWS(trainer.rollout(segs, {}, state), ShapeError, "segment 1 tokens has shape [2, 5]");
  segs[1] = {random_tokens(2, 4, 11, 2), {}};
  MNEMO_CHECK_THROWS(trainer.rollout(segs, {{0, 0}, {0, 0}}, state), ShapeError, "2 reset vectors, expected T=1");
}

TEST_CASE("a saved and loaded model state resumes bit for bit (sticky sampler included)", "[infformer][model][io]") {
  ModelD model(tiny_config(true, 1), 28);
  ag::NoGrad off;
  auto state = model.initial_state(2, 4);
  for (uint64_t k = 0; k < 4; ++k) model.step(random_tokens(2, 4, 11, 110 + k), nullptr, state);
  const std::string path = "infinite_former_state_test.safetensors";
  io::save_state(state, path);
  auto restored = io::load_state(model, 2, path);
  CHECK(restored.steps == 4);
  CHECK(restored.numel() == state.numel());
  CHECK(restored.ltm[1].draws == state.ltm[1].draws);
  for (uint64_t k = 4; k < 8; ++k) {
    const auto t = random_tokens(2, 4, 11, 110 + k);
    CHECK(model.step(t, nullptr, state).logits.value().to_host() == model.step(t, nullptr, restored).logits.value().to_host());
  }
  // Another batch size or model does not load.
  MNEMO_CHECK_THROWS(io::load_state(model, 3, path), ShapeError, "'ltm.0.coefficients' has shape [2, 8, 8], expected [3, 8, 8]");
  auto wider = tiny_config(true, 1);
  wider.d_model = 16;
  ModelD other(wider, 28);
  CHECK_THROWS_AS(io::load_state(other, 2, path), ShapeError);
  std::remove(path.c_str());
}

TEST_CASE("greedy generation agrees with teacher-forced argmax over committed segments", "[infformer][model]") {
  ModelD model(tiny_config(false, 1), 29);
  ag::NoGrad off;
  auto state = model.initial_state(2);
  std::vector<int32_t> pending;
  const auto prompt = random_tokens(2, 6, 11, 120);  // one full segment + 2 pending tokens
  const auto generated = model.generate(prompt, 11, state, pending);
  CHECK(state.steps == 4);             // (6 + 11) tokens = 4 full segments + 1 pending
  CHECK(pending.size() == 2 * 1);
  // Replay the whole stream in segments: each generated token is the argmax after its prefix.
  std::vector<std::vector<int32_t>> stream(2);
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t i = 0; i < 6; ++i) stream[static_cast<size_t>(b)].push_back(prompt.at({b, i}));
    for (int64_t i = 0; i < 11; ++i) stream[static_cast<size_t>(b)].push_back(generated.at({b, i}));
  }
  auto replay = model.initial_state(2);
  for (int64_t start = 0; start + 4 <= 17; start += 4) {
    Tensor<int32_t, Cpu> seg(Shape{2, 4});
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t i = 0; i < 4; ++i) seg.at({b, i}) = stream[static_cast<size_t>(b)][static_cast<size_t>(start + i)];
    const auto logits = model.step(seg, nullptr, replay).logits.value();
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t i = 0; i < 4; ++i) {
        const int64_t pos = start + i;  // predicts pos + 1
        if (pos + 1 < 6 || pos + 1 >= 17) continue;
        const double* row = logits.data() + (b * 4 + i) * 11;
        CHECK(std::max_element(row, row + 11) - row == stream[static_cast<size_t>(b)][static_cast<size_t>(pos + 1)]);
      }
  }
  // Sampling is reproducible by seed.
  auto s1 = model.initial_state(2), s2 = model.initial_state(2);
  std::vector<int32_t> p1, p2;
  CHECK(model.generate(prompt, 9, s1, p1, {1.0, 5}).to_host() == model.generate(prompt, 9, s2, p2, {1.0, 5}).to_host());
}
