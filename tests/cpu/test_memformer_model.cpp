// models::Memformer: gradients of a tiny whole model against finite differences, float against
// double, the forgetting limit and per-row resets through the model, streaming state size,
// cached generation against teacher forcing, and the errors bad configs and inputs get.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>

#include "mnemo/bench/heap_allocation_counter.hpp"  // defines malloc & co. for this test program
#include "mnemo/core/bfloat16.hpp"
#include "mnemo/io/safetensors.hpp"
#include "mnemo/io/slot_state_io.hpp"
#include "mnemo/models/memformer.hpp"
#include "mnemo/train/rollout.hpp"
#include "support/testing.hpp"

using namespace mnemo;
using namespace mnemo::test;
namespace ag = mnemo::autograd;
using ModelD = models::Memformer<double, Cpu>;

namespace {

models::MemformerConfig tiny_config() {
  models::MemformerConfig c;
  c.vocab = 11;
  c.d_model = 8;
  c.heads = 2;
  c.d_ff = 12;
  c.slots = 3;
  c.encoder_layers = 2;
  c.decoder_layers = 1;
  c.segment_length = 4;
  c.init_std = 0.3;  // large enough that every path carries a visible gradient
  c.bias_init_norm = 0.8;
  return c;
}

/// A segment with ids drawn from `key`; `pad_from` (per row) pads the positions >= it.
train::Segment make_segment(int64_t batch, int64_t L, int64_t vocab, uint64_t seed, std::vector<int64_t> pad_from = {}) {
  train::Segment s{Tensor<int32_t, Cpu>(Shape{batch, L}), {}};
  const RngKey key{seed, 1};
  for (int64_t i = 0; i < batch * L; ++i) s.tokens[i] = static_cast<int32_t>(key.bits(static_cast<uint64_t>(i)) % static_cast<uint32_t>(vocab));
  if (!pad_from.empty()) {
    s.padding = Tensor<uint8_t, Cpu>::zeros({batch, L});
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t n = pad_from[static_cast<size_t>(b)]; n < L; ++n) s.padding[b * L + n] = 1;
  }
  return s;
}

}  // namespace

TEST_CASE("a tiny whole Memformer matches finite differences over two steps with a reset (property 7)",
          "[memformer][model][gradcheck]") {
  ModelD model(tiny_config(), 21);
  const auto s0 = make_segment(2, 4, 11, 1, {4, 3});
  const auto s1 = make_segment(2, 4, 11, 2);
  const auto s2 = make_segment(2, 4, 11, 3, {2, 4});
  auto m = VarD::leaf(model.initial_state(2).slots().clone());
  for (int64_t i = 0; i < m.numel(); ++i) const_cast<TensorD&>(m.value())[i] += 0.05 * std::sin(static_cast<double>(i));
  const auto r = random_tensor({2, 3, 8}, 4, 0.1);
  auto& ctx = model.context();
  const auto checks = check_gradients(
      [&] {
        auto e0 = model.encode(s0, m, {0, 1});
        auto l0 = model.loss(model.decode(e0.hidden, e0.padding, s1), s1);
        auto e1 = model.encode(s1, e0.next_memory);
        auto l1 = model.loss(model.decode(e1.hidden, e1.padding, s2), s2);
        return ag::add(ctx, ag::add(ctx, l0, l1), ag::sum_product(ctx, e1.next_memory, r));
      },
      {{"memory", m}}, &model.parameters(), 1e-5);  // h = 1e-5: less rounding noise on exactly-zero key-bias gradients
  for (const auto& c : checks) {
    INFO(c.name << ": max relative error " << c.max_rel_error);
    CHECK(c.max_rel_error < 1e-6);
  }
  CHECK(checks.size() == model.parameters().size() + 1);
}

TEST_CASE("float and double Memformers agree", "[memformer][model][precision]") {
  auto cfg = tiny_config();
  cfg.d_model = 16;
  cfg.heads = 4;
  cfg.d_ff = 32;
  cfg.slots = 5;
  cfg.segment_length = 6;
  cfg.init_std = 0.1;
  ModelD md(cfg, 3);
  models::Memformer<float, Cpu> mf(cfg, 3);
  const auto s0 = make_segment(2, 6, 11, 7, {6, 4});
  const auto s1 = make_segment(2, 6, 11, 8);
  auto sd = md.initial_state(2);
  auto sf = mf.initial_state(2);
  for (int step = 0; step < 3; ++step) {
    const auto od = md.step(sd, step % 2 ? s1 : s0, step % 2 ? &s0 : &s1);
    const auto of = mf.step(sf, step % 2 ? s1 : s0, step % 2 ? &s0 : &s1);
    CHECK(rel_error(of.logits, od.logits) < 1e-5);
    CHECK(rel_error(of.next.slots(), od.next.slots()) < 1e-5);
    sd = od.next;
    sf = of.next;
  }
}

TEST_CASE("with no input the model's memory converges to normalize(v); resets touch one row only",
          "[memformer][model]") {
  ModelD model(tiny_config(), 5);
  auto blank = make_segment(3, 4, 11, 9, {0, 0, 0});  // every token padded
  auto state = memory::SlotState<double, Cpu>(random_tensor({3, 3, 8}, 10));
  for (int64_t r = 0; r < 9; ++r) {  // unit slots
    double n = 0;
    for (int64_t c = 0; c < 8; ++c) n += std::pow(state.slots()[r * 8 + c], 2);
    for (int64_t c = 0; c < 8; ++c) state.slots()[r * 8 + c] /= std::sqrt(n);
  }
  const auto start = state.clone();
  for (int i = 0; i < 200; ++i) state = model.step(state, blank).next;
  const auto m0 = model.initial_state(3);
  CHECK(rel_error(state.slots(), m0.slots()) < 1e-12);

  // A reset flag on row 1 changes row 1 only, bit for bit.
  const auto s = make_segment(3, 4, 11, 11, {4, 2, 4});
  const auto plain = model.encode(s, VarD(start.slots()));
  const auto reset = model.encode(s, VarD(start.slots()), {0, 1, 0});
  const auto reset_first = model.step([&] { auto x = start.clone(); model.reset_rows(x, {0, 1, 0}); return x; }(), s);
  // step() runs the inference paths (nn::InferenceScope): compare it with encode() in a scope.
  const auto reset_inference = [&] {
    ag::NoGrad off;
    nn::InferenceScope inference;
    return model.encode(s, VarD(start.slots()), {0, 1, 0});
  }();
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t i = 0; i < 24; ++i) {
      const int64_t k = b * 24 + i;
      if (b != 1) CHECK(reset.next_memory.value()[k] == plain.next_memory.value()[k]);
      CHECK(reset_first.next.slots()[k] == reset_inference.next_memory.value()[k]);
    }
  bool row1_differs = false;
  for (int64_t i = 24; i < 48; ++i) row1_differs = row1_differs || reset.next_memory.value()[i] != plain.next_memory.value()[i];
  CHECK(row1_differs);
}

TEST_CASE("streaming inference holds a constant state and returns its arena to steady state (property 10)",
          "[memformer][model][streaming]") {
  models::MemformerConfig cfg = tiny_config();
  models::Memformer<float, Cpu> model(cfg, 6);
  auto state = model.initial_state(1);
  const size_t state_bytes = state.bytes();
  auto& arena = model.context().arena();
  size_t in_use_after_warmup = 0;
  for (int i = 0; i < 60; ++i) {
    const auto s = make_segment(1, 4, 11, 100 + static_cast<uint64_t>(i));
    const auto next = make_segment(1, 4, 11, 101 + static_cast<uint64_t>(i));
    state = model.step(state, s, &next).next;
    CHECK(state.bytes() == state_bytes);
    if (i == 9) in_use_after_warmup = arena.stats().bytes_in_use;
    if (i == 59) CHECK(arena.stats().bytes_in_use == in_use_after_warmup);
  }
  CHECK(state_bytes == 1 * 3 * 8 * sizeof(float));
}

TEST_CASE("step_on_device (backend ids, shifted on the backend) equals step bit for bit",
          "[memformer][model][streaming]") {
  ModelD model(tiny_config(), 8);
  const auto same = [](const auto& x, const auto& y) {
    return x.shape() == y.shape() && std::memcmp(x.data(), y.data(), x.bytes()) == 0;
  };
  const auto input = make_segment(2, 4, 11, 40, {4, 2});
  const auto target = make_segment(2, 4, 11, 41, {1, 4});
  auto state = model.step(model.initial_state(2), make_segment(2, 4, 11, 39)).next;  // a non-initial memory
  const auto host = model.step(state, input, &target);
  const auto dev = model.step_on_device(state, input.tokens, &input.padding, &target.tokens, &target.padding);
  CHECK(same(dev.logits, host.logits));
  CHECK(same(dev.next.slots(), host.next.slots()));
  CHECK(same(dev.hidden, host.hidden));
  // Without padding and without a target: the same state, no logits.
  const auto plain = model.step_on_device(state, target.tokens);
  CHECK_FALSE(plain.logits.defined());
  CHECK(same(plain.next.slots(), model.step(state, train::Segment{target.tokens, {}}).next.slots()));
  // Shapes are checked (ids are not: that is step's job on the host).
  const Tensor<int32_t, Cpu> wrong(Shape{2, 3});
  CHECK_THROWS_AS(model.step_on_device(state, wrong), ShapeError);
  CHECK_THROWS_WITH(model.step_on_device(state, input.tokens, nullptr, &wrong),
                    Catch::Contains("target") && Catch::Contains("3") && Catch::Contains("4"));
  CHECK_THROWS_AS(model.step_on_device(state, input.tokens, nullptr, nullptr, &input.padding), ValueError);
}

/// step() (inside nn::InferenceScope: fused attention, the FFN's blocked hidden layer) against
/// encode() + decode() outside a scope (the recorded arithmetic MRBP replays), on the same state.
template <class T>
void check_inference_step_against_recorded_path(double tolerance) {
  models::MemformerConfig c;
  c.vocab = 50;
  c.d_model = 64;
  c.heads = 4;  // d_h 16: the AVX-512 tiles of the fused attention in float
  c.d_ff = 128;
  c.slots = 5;
  c.encoder_layers = 2;
  c.decoder_layers = 2;
  c.segment_length = 70;  // two causal query blocks
  c.init_std = 0.1;
  models::Memformer<T, Cpu> model(c, 17);
  const auto input = make_segment(2, 70, 50, 60, {70, 41});
  const auto target = make_segment(2, 70, 50, 61, {55, 70});
  const auto state = model.step(model.initial_state(2), make_segment(2, 70, 50, 59)).next;
  const auto out = model.step(state, input, &target);
  autograd::NoGrad off;
  const auto e = model.encode(input, autograd::Var<T, Cpu>(state.slots()));
  const auto logits = model.decode(e.hidden, e.padding, target);
  CHECK(rel_error(out.hidden, e.hidden.value()) < tolerance);
  CHECK(rel_error(out.next.slots(), e.next_memory.value()) < tolerance);
  CHECK(rel_error(out.logits, logits.value()) < tolerance);
}

TEST_CASE("the inference step equals the recorded path's encode and decode to rounding",
          "[memformer][model][streaming]") {
  const int before = cpu::num_threads();
  for (int threads : {1, 2}) {
    INFO(threads << " thread(s)");
    cpu::set_num_threads(threads);
    check_inference_step_against_recorded_path<double>(1e-12);
    check_inference_step_against_recorded_path<float>(1e-5);
  }
  cpu::set_num_threads(before);
}

namespace {
/// A shape whose GEMM panels exceed Eigen's stack limit and whose projections are worth sharing
/// between threads: d 128, ffn 512, L 32, K 16, 2 + 2 layers.
models::MemformerConfig mid_config() {
  models::MemformerConfig c;
  c.vocab = 64;
  c.d_model = 128;
  c.heads = 4;
  c.d_ff = 512;
  c.slots = 16;
  c.encoder_layers = 2;
  c.decoder_layers = 2;
  c.segment_length = 32;
  return c;
}

/// The fewest heap allocations (all threads) in `steps` consecutive warm steps of a
/// Memformer<T, Cpu> at mid_config(), over up to `rounds` rounds after two warm-up steps. Which
/// thread runs which task depends on timing, so a worker may run a kind of task for the first time
/// (and grow its thread scratch once) in any early step; an allocation made per step shows in
/// every round, so the fewest is 0 only when the warm step allocates nothing.
template <class T>
int64_t fewest_heap_allocations_in_warm_steps(int steps, int rounds) {
  const auto c = mid_config();
  models::Memformer<T, Cpu> model(c, 5);
  const auto segment = make_segment(1, c.segment_length, c.vocab, 77);
  auto state = model.initial_state(1);
  for (int i = 0; i < 2; ++i) state = model.step(state, segment, &segment).next;
  int64_t fewest = std::numeric_limits<int64_t>::max();
  for (int round = 0; round < rounds && fewest > 0; ++round) {
    const int64_t before = bench::heap_allocation_count();
    for (int i = 0; i < steps; ++i) state = model.step(state, segment, &segment).next;
    fewest = std::min(fewest, bench::heap_allocation_count() - before);
  }
  return fewest;
}
}  // namespace

TEST_CASE("a warm streaming step makes no heap allocation (Eigen's GEMM)", "[memformer][model][streaming]") {
  // Counted where glibc's allocator can be wrapped (not under the sanitizers); with a BLAS
  // provider its GEMM allocates its own buffers, so the assertion is on Eigen's build (the default).
  if constexpr (!bench::heap_allocations_counted()) {
    WARN("heap allocations are not counted in this build (sanitizer or not glibc): nothing checked");
    return;
  }
  if (std::string(cpu::gemm_provider_name()) != "eigen") {
    WARN("GEMM provider " << cpu::gemm_provider_name() << " allocates its own buffers: nothing checked");
    return;
  }
  const int before = cpu::num_threads();
  for (int threads : {1, 2}) {
    INFO(threads << " thread(s)");
    cpu::set_num_threads(threads);
    CHECK(fewest_heap_allocations_in_warm_steps<float>(3, 20) == 0);
    CHECK(fewest_heap_allocations_in_warm_steps<bfloat16>(3, 20) == 0);
  }
  cpu::set_num_threads(before);
}

namespace {
/// Jobs the pool shared with its workers (fork/joins) per warm step of a float Memformer, 2 threads.
double parallel_jobs_per_warm_step(const models::MemformerConfig& c) {
  models::Memformer<float, Cpu> model(c, 5);
  const auto segment = make_segment(1, c.segment_length, c.vocab, 78);
  auto state = model.initial_state(1);
  for (int i = 0; i < 2; ++i) state = model.step(state, segment, &segment).next;
  const uint64_t before = cpu::parallel_jobs();
  constexpr int kSteps = 3;
  for (int i = 0; i < kSteps; ++i) state = model.step(state, segment, &segment).next;
  return static_cast<double>(cpu::parallel_jobs() - before) / kSteps;
}
}  // namespace

TEST_CASE("a streaming step forks only for work worth sharing", "[memformer][model][streaming]") {
  const int before = cpu::num_threads();
  cpu::set_num_threads(2);
  // Every product of the tiny model is far below kParallelWork: the step runs on its caller alone.
  CHECK(parallel_jobs_per_warm_step(tiny_config()) == 0.0);
  // At mid_config() each layer's projections and FFN products are shared, a handful of jobs per
  // layer; a fork per small op (norms, softmax rows, bias) would be hundreds.
  const double jobs = parallel_jobs_per_warm_step(mid_config());
  INFO("jobs per step " << jobs);
  CHECK(jobs > 0.0);
  CHECK(jobs <= 48.0);  // 38 on 2026-12-04
  cpu::set_num_threads(before);
}

TEST_CASE("a stream saved with its parameters resumes bit for bit", "[memformer][model][io]") {
  const auto cfg = tiny_config();
  models::Memformer<float, Cpu> model(cfg, 9);
  std::vector<train::Segment> segs;
  for (uint64_t i = 0; i < 6; ++i) segs.push_back(make_segment(2, 4, 11, 200 + i, {4, 3}));
  auto state = model.initial_state(2);
  for (size_t i = 0; i < 3; ++i) state = model.step(state, segs[i]).next;
  const std::string path = "memformer_resume_test.safetensors";
  {
    io::SafetensorsWriter w;
    io::add_parameters(w, model.parameters());
    io::add_state(w, state);
    w.write(path);
  }
  // Uninterrupted.
  for (size_t i = 3; i < 5; ++i) state = model.step(state, segs[i]).next;
  const auto logits = model.step(state, segs[5], &segs[0]).logits;
  // Resumed in a fresh model with other initial weights.
  models::Memformer<float, Cpu> other(cfg, 1234);
  io::SafetensorsReader r(path);
  io::read_parameters(r, other.parameters());
  auto resumed = io::read_state<float, Cpu>(r);
  for (size_t i = 3; i < 5; ++i) resumed = other.step(resumed, segs[i]).next;
  const auto logits2 = other.step(resumed, segs[5], &segs[0]).logits;
  CHECK(std::memcmp(resumed.slots().data(), state.slots().data(), state.bytes()) == 0);
  CHECK(std::memcmp(logits2.data(), logits.data(), logits.bytes()) == 0);
  MNEMO_CHECK_THROWS((io::read_state<double, Cpu>(r)), IoError, "has dtype F32");
  std::remove(path.c_str());
}

TEST_CASE("cached generation equals the teacher-forced decoder", "[memformer][model][generate]") {
  auto cfg = tiny_config();
  cfg.segment_length = 6;
  cfg.decoder_layers = 2;
  ModelD model(cfg, 8);
  const auto s = make_segment(2, 6, 11, 12, {6, 4});
  const auto out = model.step(model.initial_state(2), s);
  for (double temperature : {0.0, 1.0}) {
    models::GenerateOptions opt;
    opt.temperature = temperature;
    opt.key = RngKey{77, 3};
    const auto gen = model.generate(out, opt);
    REQUIRE(gen.tokens.shape() == Shape({2, 6}));
    // Teacher-forced logits on the generated segment: greedy picks are their argmax; sampled
    // picks are reproduced by the same draws on those logits.
    const auto logits = model.decode(VarD(out.hidden), out.padding, gen).value();
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t n = 0; n < 6; ++n) {
        const double* row = logits.data() + (b * 6 + n) * 11;
        int32_t expected = 0;
        if (temperature == 0.0) {
          for (int32_t c = 1; c < 11; ++c)
            if (row[c] > row[expected]) expected = c;
        } else {
          double mx = row[0], total = 0;
          for (int c = 1; c < 11; ++c) mx = std::max(mx, row[c]);
          std::vector<double> w(11);
          for (int c = 0; c < 11; ++c) total += (w[static_cast<size_t>(c)] = std::exp(row[c] - mx));
          double u = opt.key.uniform_double(static_cast<uint64_t>(b * 6 + n)) * total;
          for (expected = 0; expected < 10; ++expected)
            if ((u -= w[static_cast<size_t>(expected)]) < 0) break;
        }
        CHECK(gen.tokens[b * 6 + n] == expected);
      }
  }
}

TEST_CASE("Memformer rejects bad configs and inputs with named errors", "[memformer][model][errors]") {
  auto bad = [](auto edit) {
    auto c = tiny_config();
    edit(c);
    return c;
  };
  using C = models::MemformerConfig;
  MNEMO_CHECK_THROWS(ModelD(bad([](C& c) { c.heads = 3; })), ConfigError, "d_model = 8 is not divisible by heads = 3");
  MNEMO_CHECK_THROWS(ModelD(bad([](C& c) { c.temperature = 0; })), ConfigError, "temperature = 0");
  MNEMO_CHECK_THROWS(ModelD(bad([](C& c) { c.temperature = -0.5; })), ConfigError, "temperature = -0.5");
  MNEMO_CHECK_THROWS(ModelD(bad([](C& c) { c.slots = 0; })), ConfigError, "slots = 0, expected > 0");
  MNEMO_CHECK_THROWS(ModelD(bad([](C& c) { c.slot_scale = -1.0; })), ConfigError, "slot_scale = -1");
  MNEMO_CHECK_THROWS(ModelD(bad([](C& c) { c.dropout = 1.0; })), ConfigError, "dropout = 1, expected 0 <= dropout < 1");
  MNEMO_CHECK_THROWS(ModelD(bad([](C& c) { c.bos_id = 11; })), ConfigError, "bos_id = 11, expected 0 <= bos_id < vocab = 11");
  MNEMO_CHECK_THROWS(ModelD(bad([](C& c) { c.vocab = 0; })), ConfigError, "vocab = 0, expected > 0");
  MNEMO_CHECK_THROWS(ModelD(bad([](C& c) { c.segment_length = 0; })), ConfigError, "segment_length = 0");

  ModelD model(tiny_config(), 1);
  const auto state = model.initial_state(2);
  const auto good = make_segment(2, 4, 11, 1);
  MNEMO_CHECK_THROWS(model.step(state, make_segment(2, 5, 11, 1)), ShapeError,
                     "input tokens has shape [2, 5], expected [batch=2, segment_length=4]");
  MNEMO_CHECK_THROWS(model.step(state, make_segment(3, 4, 11, 1)), ShapeError,
                     "memory state has shape [2, 3, 8], expected [batch=3, slots=3, d_model=8]");
  MNEMO_CHECK_THROWS(model.step(model.initial_state(1), good), ShapeError, "expected [batch=2, slots=3, d_model=8]");
  auto big_id = good;
  big_id.tokens = good.tokens.clone();
  big_id.tokens[3] = 11;
  MNEMO_CHECK_THROWS(model.step(state, big_id), ValueError, "1 id(s) outside [0, 11) (vocab=11)");
  MNEMO_CHECK_THROWS(model.step(state, good, &big_id), ValueError, "target tokens: 1 id(s) outside [0, 11)");
  auto bad_pad = good;
  bad_pad.padding = Tensor<uint8_t, Cpu>::zeros({2, 3});
  MNEMO_CHECK_THROWS(model.step(state, bad_pad), ShapeError, "input padding has shape [2, 3], expected [batch=2, segment_length=4]");
  auto nan_state = state.clone();
  nan_state.slots()[7] = NAN;
  MNEMO_CHECK_THROWS(model.step(nan_state, good), ValueError, "memory state holds 1 non-finite value(s)");
  MNEMO_CHECK_THROWS(model.step(memory::SlotState<double, Cpu>{}, good), StateError, "the memory state is empty");
  models::Memformer<double, Cpu>::StepOutput empty;
  MNEMO_CHECK_THROWS(model.generate(empty), StateError, "holds no encoder output");
  auto out = model.step(state, good);
  models::GenerateOptions neg;
  neg.temperature = -1;
  MNEMO_CHECK_THROWS(model.generate(out, neg), ValueError, "temperature = -1");
}
