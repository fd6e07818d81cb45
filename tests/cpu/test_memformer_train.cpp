// Memformer trainers: MRBP against full BPTT (double, dropout on, resets, padding, weights),
// the bitwise replay, the output state, non-finite gradients, and rollout validation.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "mnemo/models/memformer.hpp"
#include "mnemo/train/bptt.hpp"
#include "mnemo/train/mrbp.hpp"
#include "mnemo/train/rollout.hpp"
#include "support/testing.hpp"

using namespace mnemo;
using namespace mnemo::test;
using ModelD = models::Memformer<double, Cpu>;

namespace {

models::MemformerConfig train_config() {
  models::MemformerConfig c;
  c.vocab = 13;
  c.d_model = 8;
  c.heads = 2;
  c.d_ff = 16;
  c.slots = 3;
  c.encoder_layers = 2;
  c.decoder_layers = 2;
  c.segment_length = 5;
  c.dropout = 0.1;
  c.init_std = 0.3;
  c.bias_init_norm = 0.8;
  return c;
}

std::vector<train::Segment> make_segments(int64_t count, int64_t batch, int64_t L, int64_t vocab, uint64_t seed) {
  std::vector<train::Segment> out;
  const RngKey key{seed, 2};
  for (int64_t t = 0; t < count; ++t) {
    train::Segment s{Tensor<int32_t, Cpu>(Shape{batch, L}), Tensor<uint8_t, Cpu>::zeros({batch, L})};
    for (int64_t i = 0; i < batch * L; ++i)
      s.tokens[i] = static_cast<int32_t>(key.bits(static_cast<uint64_t>(t * 1000 + i)) % static_cast<uint32_t>(vocab));
    // Row 1 ends its document early in segment 3 (padding).
    if (t == 3)
      for (int64_t n = 2; n < L; ++n) s.padding[1 * L + n] = 1;
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<TensorD> gradients(ModelD& model) {
  std::vector<TensorD> g;
  for (auto& p : model.parameters()) g.push_back(p->grad.clone());
  return g;
}

}  // namespace

TEST_CASE("MRBP gradients equal full BPTT gradients in double with dropout on (property 8)",
          "[memformer][train][mrbp]") {
  ModelD model(train_config(), 31);
  const int64_t B = 2, T = 4;
  const auto segments = make_segments(T + 1, B, 5, 13, 5);
  const train::Resets resets = {{0, 0}, {1, 0}, {0, 0}, {0, 1}};
  const std::vector<double> weights = {0.5, 0.0, 1.5, 1.0};
  auto start = model.initial_state(B);
  for (int64_t i = 0; i < start.slots().numel(); ++i) start.slots()[i] += 0.02 * std::cos(static_cast<double>(i));

  train::TrainerOptions opt;
  opt.seed = 99;
  opt.update_index = 7;
  opt.check_replay = true;

  model.parameters().zero_grad();
  auto bptt_state = start.clone();
  train::Bptt<double, Cpu> bptt(model, opt);
  const auto rb = bptt.rollout(segments, resets, bptt_state, weights);
  const auto gb = gradients(model);

  model.parameters().zero_grad();
  auto mrbp_state = start.clone();
  train::Mrbp<double, Cpu> mrbp(model, opt);
  const auto rm = mrbp.rollout(segments, resets, mrbp_state, weights);  // check_replay: bitwise M_{t+1}
  const auto gm = gradients(model);

  CHECK(rb.finite);
  CHECK(rm.finite);
  CHECK(rm.loss == Approx(rb.loss).epsilon(1e-13));
  CHECK(rm.tokens == rb.tokens);
  CHECK(rb.tokens == 2 * 5 + (2 * 5 - 3) + 2 * 5);  // steps 0, 2 (3 padded targets), 3; step 1 has weight 0
  CHECK(bptt.update_index() == 8);
  CHECK(mrbp.update_index() == 8);
  REQUIRE(gm.size() == gb.size());
  double worst = 0;
  size_t nonzero = 0;
  for (size_t i = 0; i < gb.size(); ++i) {
    const double e = rel_error(gm[i], gb[i], 1e-30);
    INFO(model.parameters()[i].name << ": relative difference " << e);
    CHECK(e < 1e-10);
    worst = std::max(worst, e);
    for (int64_t k = 0; k < gb[i].numel(); ++k) nonzero += gb[i][k] != 0.0 ? 1 : 0;
  }
  CHECK(nonzero > 1000);  // the comparison covers real gradients
  // The same output state, bit for bit.
  REQUIRE(mrbp_state.slots().numel() == bptt_state.slots().numel());
  CHECK(std::memcmp(mrbp_state.slots().data(), bptt_state.slots().data(), bptt_state.bytes()) == 0);
  // The memory path matters: the gradient of v is nonzero and dropout changed the result.
  double v_grad = 0;
  for (int64_t k = 0; k < model.memory().bias().numel(); ++k) v_grad += std::abs(model.memory().bias().grad[k]);
  CHECK(v_grad > 0);
  model.parameters().zero_grad();
  auto other = start.clone();
  train::TrainerOptions other_seed = opt;
  other_seed.seed = 100;
  train::Bptt<double, Cpu>(model, other_seed).rollout(segments, resets, other, weights);
  CHECK(std::memcmp(other.slots().data(), bptt_state.slots().data(), bptt_state.bytes()) != 0);
}

TEST_CASE("MRBP in float replays bitwise and matches BPTT", "[memformer][train][mrbp]") {
  auto cfg = train_config();
  cfg.d_model = 16;
  cfg.heads = 4;
  cfg.init_std = 0.05;
  models::Memformer<float, Cpu> model(cfg, 4);
  const auto segments = make_segments(4, 3, 5, 13, 6);
  train::TrainerOptions opt;
  opt.check_replay = true;
  auto s1 = model.initial_state(3), s2 = model.initial_state(3);
  model.parameters().zero_grad();
  train::Bptt<float, Cpu>(model, opt).rollout(segments, {}, s1);
  std::vector<Tensor<float, Cpu>> gb;
  for (auto& p : model.parameters()) gb.push_back(p->grad.clone());
  model.parameters().zero_grad();
  train::Mrbp<float, Cpu>(model, opt).rollout(segments, {}, s2);
  size_t i = 0;
  for (auto& p : model.parameters()) {
    INFO(p->name);
    CHECK(rel_error(p->grad, gb[i++]) < 1e-4);
  }
  CHECK(std::memcmp(s1.slots().data(), s2.slots().data(), s1.bytes()) == 0);
}

TEST_CASE("a non-finite gradient zeroes every gradient and reports finite = false", "[memformer][train]") {
  auto cfg = train_config();
  cfg.dropout = 0;
  ModelD model(cfg, 2);
  const auto segments = make_segments(3, 2, 5, 13, 7);
  model.parameters().get("decoder.layers.0.ffn.fc2.bias").value[0] = INFINITY;
  auto state = model.initial_state(2);
  const auto r = train::Mrbp<double, Cpu>(model).rollout(segments, {}, state);
  CHECK_FALSE(r.finite);
  for (auto& p : model.parameters())
    for (int64_t k = 0; k < p->numel(); ++k) CHECK(p->grad[k] == 0.0);
}

TEST_CASE("rollouts reject bad arguments with named errors", "[memformer][train][errors]") {
  ModelD model(train_config(), 3);
  auto state = model.initial_state(2);
  train::Mrbp<double, Cpu> mrbp(model);
  train::Bptt<double, Cpu> bptt(model);
  const auto segments = make_segments(3, 2, 5, 13, 8);
  MNEMO_CHECK_THROWS(mrbp.rollout({segments[0]}, {}, state), ShapeError, "1 segment(s) given, expected T+1 >= 2");
  MNEMO_CHECK_THROWS(mrbp.rollout(segments, {{0, 0}}, state), ShapeError, "resets hold 1 steps, expected T=2");
  MNEMO_CHECK_THROWS(bptt.rollout(segments, {{0, 0}, {0}}, state), ShapeError, "resets[1] has 1 flags, expected batch=2");
  MNEMO_CHECK_THROWS(mrbp.rollout(segments, {}, state, {1.0}), ShapeError, "1 loss weights given, expected T=2");
  MNEMO_CHECK_THROWS(mrbp.rollout(segments, {}, state, {1.0, NAN}), ValueError, "loss weight 1 = nan");
  auto wrong_state = model.initial_state(3);
  MNEMO_CHECK_THROWS(bptt.rollout(segments, {}, wrong_state), ShapeError,
                     "memory state has shape [3, 3, 8], expected [batch=2, slots=3, d_model=8]");
  auto short_seg = segments;
  short_seg[1] = make_segments(1, 2, 4, 13, 9)[0];
  MNEMO_CHECK_THROWS(mrbp.rollout(short_seg, {}, state), ShapeError,
                     "segment 1 tokens has shape [2, 4], expected [batch=2, segment_length=5]");
}
