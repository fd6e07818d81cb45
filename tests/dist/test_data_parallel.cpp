// Data-parallel training over MPI with real processes (ctest runs this binary under
// `mpirun -np 2` and `-np 3`; docs/distributed.md). Every rank streams its own rows of a "union"
// batch that every rank can also build whole, so each rank computes the single-process reference
// itself and compares: the summed gradient, the loss, the advanced state, parameters after several
// AdamW steps with clipping, bit-identical replicas, the non-finite rule, checkpoint + resume.
//
// Ranks own different row counts (1, 2, 1, ...) and row 1 of the union is padded in one segment,
// so the per-rank token counts differ and a rank-order or equal-share assumption would show.
// Comparisons use CHECK, not REQUIRE: a rank that stopped early would leave the others waiting
// in a collective.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include "mnemo/dist/checkpoint.hpp"
#include "mnemo/dist/data_parallel.hpp"
#include "mnemo/dist/infinite_former_checkpoint.hpp"
#include "mnemo/dist/mpi_communicator.hpp"
#include "mnemo/models/infinite_former.hpp"
#include "mnemo/models/memformer.hpp"
#include "mnemo/train/bptt.hpp"
#include "mnemo/train/clip.hpp"
#include "mnemo/train/infinite_former_trainer.hpp"
#include "mnemo/train/mrbp.hpp"
#include "mnemo/train/optimizer.hpp"

using namespace mnemo;
using ModelD = models::Memformer<double, Cpu>;
using StateD = memory::SlotState<double, Cpu>;

namespace {

dist::MpiCommunicator* g_world = nullptr;

models::MemformerConfig config() {
  models::MemformerConfig c;
  c.vocab = 13;
  c.d_model = 8;
  c.heads = 2;
  c.d_ff = 16;
  c.slots = 3;
  c.encoder_layers = 1;
  c.decoder_layers = 1;
  c.segment_length = 5;
  c.dropout = 0.0;  // dropout masks are drawn per rank: only without dropout is the union run the same run
  c.init_std = 0.3;
  c.bias_init_norm = 0.8;
  return c;
}

// Rank r owns 1 + r % 2 rows, after the rows of ranks 0..r-1.
int64_t rows_of(int rank) { return 1 + rank % 2; }
int64_t first_row(int rank) {
  int64_t n = 0;
  for (int r = 0; r < rank; ++r) n += rows_of(r);
  return n;
}
int64_t union_rows(int ranks) { return first_row(ranks); }

// The union batch: T+1 segments of `rows` rows; row 1 ends a document early in segment 2.
std::vector<train::Segment> union_segments(int64_t rows, int64_t steps, uint64_t seed) {
  const int64_t L = config().segment_length;
  std::vector<train::Segment> out;
  const RngKey key{seed, 3};
  for (int64_t t = 0; t <= steps; ++t) {
    train::Segment s{Tensor<int32_t, Cpu>(Shape{rows, L}), Tensor<uint8_t, Cpu>::zeros({rows, L})};
    for (int64_t i = 0; i < rows * L; ++i) s.tokens[i] = static_cast<int32_t>(key.bits(static_cast<uint64_t>(t * 1000 + i)) % 13u);
    if (t == 2 && rows > 1)
      for (int64_t n = 2; n < L; ++n) s.padding[1 * L + n] = 1;
    out.push_back(std::move(s));
  }
  return out;
}

train::Resets union_resets(int64_t rows, int64_t steps) {
  train::Resets r(static_cast<size_t>(steps), std::vector<uint8_t>(static_cast<size_t>(rows), 0));
  r[1][0] = 1;  // row 0 starts a new document at step 1
  return r;
}

std::vector<train::Segment> my_segments(const std::vector<train::Segment>& all, int64_t start, int64_t count) {
  std::vector<train::Segment> out;
  for (const auto& s : all) out.push_back({s.tokens.slice(start, count).clone(), s.padding.slice(start, count).clone()});
  return out;
}

train::Resets my_resets(const train::Resets& all, int64_t start, int64_t count) {
  train::Resets out;
  for (const auto& step : all) out.emplace_back(step.begin() + start, step.begin() + start + count);
  return out;
}

StateD union_start(const ModelD& model, int64_t rows) {
  StateD s = model.initial_state(rows);
  for (int64_t i = 0; i < s.slots().numel(); ++i) s.slots()[i] += 0.05 * std::sin(0.7 * static_cast<double>(i));
  return s;
}

std::vector<double> flat_gradients(ModelD& model) {
  std::vector<double> g;
  for (auto& p : model.parameters())
    for (double x : p->grad.to_host()) g.push_back(x);
  return g;
}

std::vector<double> flat_values(ModelD& model) {
  std::vector<double> v;
  for (auto& p : model.parameters())
    for (double x : p->value.to_host()) v.push_back(x);
  return v;
}

// max |a − b| / max |b|: relative to the reference's scale.
double relative_difference(const std::vector<double>& a, const std::vector<double>& b) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    diff = std::max(diff, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return a.size() == b.size() ? diff / scale : INFINITY;
}

template <template <class, class> class Trainer>
void check_gradient_equals_union(const char* name) {
  dist::MpiCommunicator& world = *g_world;
  const int64_t rows = union_rows(world.size()), start = first_row(world.rank()), mine = rows_of(world.rank());
  const int64_t steps = 4;
  const auto segments = union_segments(rows, steps, 11);
  const auto resets = union_resets(rows, steps);
  const std::vector<double> weights = {0.5, 0.0, 1.5, 1.0};
  train::TrainerOptions opt;
  opt.seed = 5;

  // The single-process reference over the union of the ranks' rows, computed on every rank.
  ModelD reference(config(), 31);
  StateD reference_state = union_start(reference, rows);
  reference.parameters().zero_grad();
  const auto r_ref = Trainer<double, Cpu>(reference, opt).rollout(segments, resets, reference_state, weights);
  const auto g_ref = flat_gradients(reference);

  // This rank's rows, then the sum over the ranks.
  ModelD model(config(), 31);
  StateD state = union_start(model, rows).rows(start, mine);
  const auto local_segments = my_segments(segments, start, mine);
  dist::DataParallel<dist::MpiCommunicator, double, Cpu> dp(world, {&model.parameters()}, 64);
  model.parameters().zero_grad();
  const auto w = dist::global_step_weights(world, dist::memformer_step_tokens(local_segments), weights);
  const auto local = Trainer<double, Cpu>(model, opt).rollout(local_segments, my_resets(resets, start, mine), state, w);
  const auto local_gradient = flat_gradients(model);
  const auto global = dp.reduce_gradients(local);

  INFO(name << " rank " << world.rank() << " of " << world.size());
  CHECK(global.finite);
  CHECK(global.tokens == r_ref.tokens);
  CHECK(std::abs(global.loss - r_ref.loss) <= 1e-12 * std::abs(r_ref.loss));
  const double rel = relative_difference(flat_gradients(model), g_ref);
  INFO("gradient vs the union's, relative " << rel);
  CHECK(rel <= 1e-12);
  // Not vacuous: this rank's own gradient is far from the union's.
  CHECK(relative_difference(local_gradient, g_ref) > 1e-3);
  const auto expected_state = reference_state.rows(start, mine).slots().to_host();
  const auto got_state = state.slots().to_host();
  CHECK(relative_difference(got_state, expected_state) <= 1e-12);
}

// One training step: zero, rollout on the given rows, (reduce,) clip, AdamW.
template <class Reduce>
void train_step(ModelD& model, train::AdamW<double, Cpu>& adam, train::Mrbp<double, Cpu>& mrbp,
                const std::vector<train::Segment>& segments, const train::Resets& resets, StateD& state,
                const std::vector<double>& weights, Reduce&& reduce) {
  model.parameters().zero_grad();
  const auto local = mrbp.rollout(segments, resets, state, weights);
  const auto global = reduce(local);
  if (!global.finite) return;
  adam.step(1e-2, train::clip_factor(train::global_grad_norm(model.parameters()), 0.5));
}

// Every rank's hash, gathered by broadcasts, compared with this rank's.
bool all_hashes_equal(dist::MpiCommunicator& world, uint64_t mine) {
  bool equal = true;
  for (int r = 0; r < world.size(); ++r) {
    double halves[2] = {static_cast<double>(mine >> 32), static_cast<double>(mine & 0xffffffffu)};
    world.broadcast(halves, 2, r);
    const uint64_t theirs = (static_cast<uint64_t>(halves[0]) << 32) | static_cast<uint64_t>(halves[1]);
    equal = equal && theirs == mine;
  }
  return equal;
}

struct Run {
  explicit Run(uint64_t seed = 31) : model(config(), seed), adam(model.parameters(), {}), mrbp(model, {}) {}
  ModelD model;
  train::AdamW<double, Cpu> adam;
  train::Mrbp<double, Cpu> mrbp;
  StateD state;
};

// Data for step u of a run: the union, then this rank's rows (or all rows for `whole`).
void run_step(Run& run, int64_t u, int64_t start, int64_t count, int64_t rows, dist::MpiCommunicator* world,
              dist::DataParallel<dist::MpiCommunicator, double, Cpu>* dp) {
  const auto segments = my_segments(union_segments(rows, 3, 100 + static_cast<uint64_t>(u)), start, count);
  const auto resets = my_resets(union_resets(rows, 3), start, count);
  if (dp) {
    const auto w = dist::global_step_weights(*world, dist::memformer_step_tokens(segments));
    train_step(run.model, run.adam, run.mrbp, segments, resets, run.state, w,
               [&](const train::RolloutResult& r) { return dp->reduce_gradients(r); });
  } else {
    train_step(run.model, run.adam, run.mrbp, segments, resets, run.state, {},
               [](const train::RolloutResult& r) { return r; });
  }
}

using IfModel = models::InfiniteFormer<double, Cpu>;
using IfTrainer = train::InfiniteFormerTrainer<double, Cpu>;

// A small ∞-former with its long-term memory on (the fused LTM and attention nodes write
// parameter gradients directly: they must be reported final like the others).
models::InfiniteFormerConfig if_config() {
  models::InfiniteFormerConfig c;
  c.vocab = 11;
  c.d_model = 8;
  c.heads = 2;
  c.d_ff = 16;
  c.layers = 2;
  c.segment_length = 4;
  c.dropout = 0.0;
  c.init_std = 0.3;
  c.ltm.basis = memory::BasisConfig{8, {0.15, 0.3}};
  c.ltm.samples = 6;
  c.ltm.tau = 0.6;
  c.ltm.ridge_lambda = 0.3;
  c.ltm.kl_weight = 0.01;
  return c;
}

// T+1 = 4 segments of `rows` rows of random ids (no padding); `u` varies the draw.
std::vector<train::Segment> if_segments(const models::InfiniteFormerConfig& c, int64_t rows, int64_t u) {
  std::vector<train::Segment> segments;
  const RngKey key{21, 4 + static_cast<uint64_t>(u)};
  for (int64_t t = 0; t <= 3; ++t) {
    train::Segment s{Tensor<int32_t, Cpu>(Shape{rows, c.segment_length}), Tensor<uint8_t, Cpu>::zeros({rows, c.segment_length})};
    for (int64_t i = 0; i < s.tokens.numel(); ++i) s.tokens[i] = static_cast<int32_t>(key.bits(static_cast<uint64_t>(t * 100 + i)) % 11u);
    segments.push_back(std::move(s));
  }
  return segments;
}

template <class Model>
std::vector<double> flat(Model& model, bool gradients) {
  std::vector<double> out;
  for (auto& p : model.parameters())
    for (double x : (gradients ? p->grad : p->value).to_host()) out.push_back(x);
  return out;
}

// Three AdamW steps with clipping of two replicas of one model on this rank's rows: `plain`
// reduces after the rollout (reduce_gradients), `overlapped` during it (reduce_overlapped), with
// buckets of 64 elements so that many start early. `rollout(model, u)` runs update u on a model.
// Gradients and parameters must agree bit for bit, and buckets must start before the backward
// pass ends (overlapped_buckets > 0).
template <class Model, class Rollout>
void check_overlap_is_bitwise(const char* name, Model& plain, Model& overlapped, Rollout&& rollout) {
  dist::MpiCommunicator& world = *g_world;
  using DP = dist::DataParallel<dist::MpiCommunicator, double, Cpu>;
  DP dp_plain(world, {&plain.parameters()}, 64), dp_overlapped(world, {&overlapped.parameters()}, 64);
  train::AdamW<double, Cpu> adam_plain(plain.parameters(), {}), adam_overlapped(overlapped.parameters(), {});
  INFO(name << " rank " << world.rank() << " of " << world.size());
  for (int64_t u = 0; u < 3; ++u) {
    plain.parameters().zero_grad();
    overlapped.parameters().zero_grad();
    const auto a = dp_plain.reduce_gradients(rollout(plain, u));
    const auto b = dp_overlapped.reduce_overlapped([&] { return rollout(overlapped, u); });
    CHECK(a.finite);
    CHECK(b.finite);
    CHECK(a.loss == b.loss);
    CHECK(a.tokens == b.tokens);
    CHECK(flat(plain, true) == flat(overlapped, true));
    INFO("update " << u << ": " << dp_overlapped.overlapped_buckets() << " of " << dp_overlapped.buckets().size()
                   << " buckets started during the backward pass");
    CHECK(dp_overlapped.overlapped_buckets() > 0);
    adam_plain.step(1e-2, train::clip_factor(train::global_grad_norm(plain.parameters()), 0.5));
    adam_overlapped.step(1e-2, train::clip_factor(train::global_grad_norm(overlapped.parameters()), 0.5));
  }
  CHECK(flat(plain, false) == flat(overlapped, false));
  CHECK(all_hashes_equal(world, dp_overlapped.parameter_hash()));
}

template <template <class, class> class Trainer>
void check_memformer_overlap(const char* name) {
  dist::MpiCommunicator& world = *g_world;
  const int64_t rows = union_rows(world.size()), start = first_row(world.rank()), mine = rows_of(world.rank());
  ModelD plain(config(), 31), overlapped(config(), 31);
  StateD state_plain = union_start(plain, rows).rows(start, mine), state_overlapped = union_start(plain, rows).rows(start, mine);
  check_overlap_is_bitwise(name, plain, overlapped, [&](ModelD& model, int64_t u) {
    const auto segments = my_segments(union_segments(rows, 3, 200 + static_cast<uint64_t>(u)), start, mine);
    const auto w = dist::global_step_weights(world, dist::memformer_step_tokens(segments));
    train::TrainerOptions opt;
    opt.seed = 5;
    opt.update_index = u;
    return Trainer<double, Cpu>(model, opt).rollout(segments, my_resets(union_resets(rows, 3), start, mine),
                                                    &model == &plain ? state_plain : state_overlapped, w);
  });
}

// Takes a copy of every parameter's gradient at the moment the tape reports it final, to compare
// with the gradient the rollout ends with: a report that comes too early shows as a difference,
// whatever the bucket order (which can hide one from the DataParallel tests).
template <class Model>
struct SnapshotObserver final : autograd::GradientObserver {
  explicit SnapshotObserver(Model& m) : model(&m) {}
  void final_sweep_begins(const std::unordered_set<const autograd::GradSlotBase*>& used) override {
    for (auto& p : model->parameters())
      if (used.count(p->slot.get()) == 0) take(*p->slot, false);
  }
  void gradient_final(const autograd::GradSlotBase& slot) override { take(slot, true); }
  void take(const autograd::GradSlotBase& slot, bool during_sweep) {
    for (auto& p : model->parameters())
      if (p->slot.get() == &slot) snapshots.emplace_back(p.get(), p->grad.to_host());
    reported_during_sweep += during_sweep ? 1 : 0;
  }
  // Every parameter reported exactly once, and its gradient unchanged since.
  bool all_final() const {
    size_t exact = 0;
    for (const auto& [p, g] : snapshots) exact += p->grad.to_host() == g ? 1 : 0;
    return exact == snapshots.size() && snapshots.size() == model->parameters().size();
  }
  Model* model;
  std::vector<std::pair<const nn::Parameter<double, Cpu>*, std::vector<double>>> snapshots;
  size_t reported_during_sweep = 0;
};

// ∞-former checkpoint runs: two rows per rank (the KL term combines exactly, see above), sticky
// memories on or off, AdamW with clipping; each rank's state starts with its own sampler seed.
using IfState = models::InfiniteFormerState<double, Cpu>;
using IfDP = dist::DataParallel<dist::MpiCommunicator, double, Cpu>;

struct IfRun {
  IfRun(const models::InfiniteFormerConfig& c, uint64_t seed) : model(c, seed), adam(model.parameters(), {}), trainer(model, {3}) {}
  IfModel model;
  train::AdamW<double, Cpu> adam;
  IfTrainer trainer;
  IfState state;
};

// Update u on rows [start, start + count) of the union of `rows`; reduced by `dp` when given.
double if_run_step(IfRun& run, int64_t u, int64_t start, int64_t count, int64_t rows, IfDP* dp) {
  const auto segments = my_segments(if_segments(run.model.config(), rows, 50 + u), start, count);
  run.model.parameters().zero_grad();
  run.trainer.set_update(u);
  train::RolloutResult r;
  if (dp) {
    const auto w = dist::global_step_weights(*g_world, IfTrainer::step_tokens(segments));
    r = dp->reduce_gradients(run.trainer.rollout(segments, {}, run.state, w));
  } else {
    r = run.trainer.rollout(segments, {}, run.state);
  }
  if (r.finite) run.adam.step(1e-2, train::clip_factor(train::global_grad_norm(run.model.parameters()), 0.5));
  return r.loss;
}

// Every host number of a state (coefficients, flags, counts, densities, the window), to compare.
std::vector<double> state_numbers(const IfState& s) {
  std::vector<double> v = {static_cast<double>(s.batch), static_cast<double>(s.steps)};
  for (const auto& m : s.ltm) {
    for (double x : m.coefficients.to_host()) v.push_back(x);
    for (auto x : m.has_memory) v.push_back(x);
    for (auto x : m.tokens_written) v.push_back(static_cast<double>(x));
    for (auto x : m.has_densities) v.push_back(x);
    if (m.sticky_mu.defined())
      for (const auto* t : {&m.sticky_mu, &m.sticky_sigma2})
        for (double x : t->to_host()) v.push_back(x);
  }
  for (const auto& c : s.cache) {
    for (auto x : c.padding.to_host()) v.push_back(x);
    for (const auto& x : c.inputs)
      for (double y : x.to_host()) v.push_back(y);
  }
  return v;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::string checkpoint_path(int ranks) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/mnemo_dist_test_np" + std::to_string(ranks) + ".safetensors";
}

}  // namespace

TEST_CASE("data parallel MRBP gradient = single-process MRBP gradient over the union of the ranks' rows",
          "[dist][mrbp]") {
  check_gradient_equals_union<train::Mrbp>("Mrbp");
}

TEST_CASE("data parallel BPTT gradient = single-process BPTT gradient over the union of the ranks' rows",
          "[dist][bptt]") {
  check_gradient_equals_union<train::Bptt>("Bptt");
}

TEST_CASE("data parallel infinity-former segment trainer gradient = single-process gradient over the union",
          "[dist][infinite_former]") {
  // Two rows per rank and no padding: each rank's step losses are means over equal counts, so the
  // KL term (a mean over rows) combines like the cross-entropy (docs/distributed.md).
  dist::MpiCommunicator& world = *g_world;
  const models::InfiniteFormerConfig c = if_config();
  const int64_t rows = 2 * world.size(), start = 2 * world.rank(), mine = 2;
  const auto segments = if_segments(c, rows, 0);
  IfModel reference(c, 9), model(c, 9);
  auto reference_state = reference.initial_state(rows);
  reference.parameters().zero_grad();
  const auto r_ref = IfTrainer(reference, {3}).rollout(segments, {}, reference_state);
  std::vector<double> g_ref, g;
  for (auto& p : reference.parameters())
    for (double x : p->grad.to_host()) g_ref.push_back(x);

  const auto local_segments = my_segments(segments, start, mine);
  auto state = model.initial_state(mine);
  dist::DataParallel<dist::MpiCommunicator, double, Cpu> dp(world, {&model.parameters()});
  model.parameters().zero_grad();
  const auto w = dist::global_step_weights(world, IfTrainer::step_tokens(local_segments));
  const auto global = dp.reduce_gradients(IfTrainer(model, {3}).rollout(local_segments, {}, state, w));
  for (auto& p : model.parameters())
    for (double x : p->grad.to_host()) g.push_back(x);
  const double rel = relative_difference(g, g_ref);
  INFO("rank " << world.rank() << ": gradient vs the union's, relative " << rel);
  CHECK(global.finite);
  CHECK(global.tokens == r_ref.tokens);
  CHECK(std::abs(global.loss - r_ref.loss) <= 1e-12 * std::abs(r_ref.loss));
  CHECK(rel <= 1e-12);
}

TEST_CASE("all_reduce_sum adds in rank order and leaves the same bits on every rank", "[dist][mpi]") {
  dist::MpiCommunicator& world = *g_world;
  // Rank 0 holds 1, rank 1 holds -1, rank r >= 2 holds r·1e-20: in rank order the 1 and -1 cancel
  // first and the small values survive; any order that adds a small value to ±1 first loses it.
  std::vector<double> x = {world.rank() == 0 ? 1.0 : world.rank() == 1 ? -1.0 : 1e-20 * world.rank(),
                           static_cast<double>(world.rank() + 1)};
  world.all_reduce_sum(x.data(), x.size());
  double expected = 0.0;
  for (int r = 2; r < world.size(); ++r) expected += 1e-20 * r;
  CHECK(x[0] == expected);
  CHECK((world.size() < 3 || x[0] != 0.0));
  CHECK(x[1] == world.size() * (world.size() + 1) / 2.0);
  std::vector<float> big(300), expect(300);  // more than one chunk of 128
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i) * static_cast<float>(world.rank() + 1);
  for (size_t i = 0; i < big.size(); ++i) expect[i] = static_cast<float>(i) * static_cast<float>(world.size() * (world.size() + 1) / 2);
  dist::MpiCommunicator chunked(MPI_COMM_WORLD, 128);
  std::vector<float> started = big;  // the non-blocking sum: same chunks, same bits
  auto pending = chunked.start_all_reduce_sum(started.data(), started.size());
  chunked.progress(pending);
  chunked.all_reduce_sum(big.data(), big.size());  // a blocking collective while one is in flight
  CHECK(big == expect);
  chunked.finish_all_reduce_sum(pending);
  CHECK(started == expect);
  CHECK_THROWS_AS(chunked.broadcast(big.data(), 1, world.size()), ValueError);
}

TEST_CASE("data parallel AdamW steps with clipping keep bit-identical replicas and follow the union run",
          "[dist][adamw]") {
  dist::MpiCommunicator& world = *g_world;
  const int64_t rows = union_rows(world.size()), start = first_row(world.rank()), mine = rows_of(world.rank());
  Run dp_run, reference;
  dp_run.model.parameters()[0].value[0] += 0.25 * world.rank();  // broadcast_parameters must undo this
  dist::DataParallel<dist::MpiCommunicator, double, Cpu> dp(world, {&dp_run.model.parameters()});
  dp.broadcast_parameters();
  dp_run.state = union_start(dp_run.model, rows).rows(start, mine);
  reference.state = union_start(reference.model, rows);
  for (int64_t u = 0; u < 4; ++u) {
    run_step(dp_run, u, start, mine, rows, &world, &dp);
    run_step(reference, u, 0, rows, rows, nullptr, nullptr);
    CHECK(all_hashes_equal(world, dp.parameter_hash()));
    CHECK_NOTHROW(dp.check_replicas());
  }
  const double rel = relative_difference(flat_values(dp_run.model), flat_values(reference.model));
  INFO("rank " << world.rank() << ": parameters vs the union run, relative " << rel);
  // The gradients agree to 1e-12 (above); AdamW's g/(sqrt(v)+eps) turns rounding in entries whose
  // gradient is near 0 into larger parameter differences, so the parameters are held to 1e-9.
  // A missing or mis-weighted reduction moves them by ~1e-3.
  CHECK(rel <= 1e-9);
  CHECK(relative_difference(dp_run.state.slots().to_host(), reference.state.rows(start, mine).slots().to_host()) <= 1e-9);

  // One rank off by one ulp: every rank learns it.
  if (world.rank() == world.size() - 1) {
    double& x = dp_run.model.parameters()[1].value[0];
    x = std::nextafter(x, 1e9);
  }
  CHECK(!all_hashes_equal(world, dp.parameter_hash()));
  CHECK_THROWS_AS(dp.check_replicas(), StateError);
}

TEST_CASE("a non-finite gradient on one rank makes every rank skip the step", "[dist][nonfinite]") {
  dist::MpiCommunicator& world = *g_world;
  ModelD model(config(), 31);
  dist::DataParallel<dist::MpiCommunicator, double, Cpu> dp(world, {&model.parameters()});
  const bool last = world.rank() == world.size() - 1;
  SECTION("reported by the rank's trainer") {
    for (auto& p : model.parameters()) p->grad.fill(1.0);
    train::RolloutResult local;
    local.finite = !last;
    const auto global = dp.reduce_gradients(local);
    CHECK(!global.finite);
    CHECK(train::global_grad_norm(model.parameters()) == 0.0);
  }
  SECTION("only in the sum") {
    for (auto& p : model.parameters()) p->grad.fill(last ? INFINITY : 1.0);
    const auto global = dp.reduce_gradients(train::RolloutResult{});
    CHECK(!global.finite);
    CHECK(train::global_grad_norm(model.parameters()) == 0.0);
  }
  SECTION("all finite: the sum") {
    for (auto& p : model.parameters()) p->grad.fill(static_cast<double>(world.rank()));
    const auto global = dp.reduce_gradients(train::RolloutResult{});
    CHECK(global.finite);
    CHECK(model.parameters()[0].grad[0] == world.size() * (world.size() - 1) / 2.0);
  }
}

TEST_CASE("checkpoint written by rank 0 resumes exactly at the same rank count and correctly on one rank",
          "[dist][checkpoint]") {
  dist::MpiCommunicator& world = *g_world;
  const int64_t rows = union_rows(world.size()), start = first_row(world.rank()), mine = rows_of(world.rank());
  const std::string path = checkpoint_path(world.size());
  Run run;
  dist::DataParallel<dist::MpiCommunicator, double, Cpu> dp(world, {&run.model.parameters()});
  run.state = union_start(run.model, rows).rows(start, mine);
  for (int64_t u = 0; u < 2; ++u) run_step(run, u, start, mine, rows, &world, &dp);
  dist::save_checkpoint(world, run.model.parameters(), run.state, path,
                        {{"adamw.steps", std::to_string(run.adam.steps())},
                         {"update_index", std::to_string(run.mrbp.update_index())}});
  for (int64_t u = 2; u < 4; ++u) run_step(run, u, start, mine, rows, &world, &dp);

  // Same rank count: a model built from another seed, loaded, continues bit for bit.
  Run resumed(77);
  const auto file = dist::load_checkpoint(resumed.model.parameters(), path);
  CHECK(file.metadata.at("dist.ranks") == std::to_string(world.size()));
  CHECK(file.state.batch() == rows);
  resumed.adam.set_steps(std::stoll(file.metadata.at("adamw.steps")));
  resumed.mrbp.set_update_index(std::stoll(file.metadata.at("update_index")));
  resumed.state = file.state.rows(start, mine);
  dist::DataParallel<dist::MpiCommunicator, double, Cpu> dp2(world, {&resumed.model.parameters()});
  for (int64_t u = 2; u < 4; ++u) run_step(resumed, u, start, mine, rows, &world, &dp2);
  CHECK(resumed.model.parameters()[0].value.to_host() == run.model.parameters()[0].value.to_host());
  CHECK(dp2.parameter_hash() == dp.parameter_hash());
  CHECK(resumed.state.slots().to_host() == run.state.slots().to_host());

  // Another rank count (one process, all rows): the same training, to rounding.
  Run single;
  const auto file1 = dist::load_checkpoint(single.model.parameters(), path);
  single.adam.set_steps(std::stoll(file1.metadata.at("adamw.steps")));
  single.mrbp.set_update_index(std::stoll(file1.metadata.at("update_index")));
  single.state = file1.state;
  for (int64_t u = 2; u < 4; ++u) run_step(single, u, 0, rows, rows, nullptr, nullptr);
  CHECK(relative_difference(flat_values(single.model), flat_values(run.model)) <= 1e-9);
  CHECK(relative_difference(single.state.rows(start, mine).slots().to_host(), run.state.slots().to_host()) <= 1e-9);
  world.barrier();
  if (world.rank() == 0) std::remove(path.c_str());
}

TEST_CASE("infinity-former checkpoint by rank 0: exact at the same rank count, rows redistributed otherwise",
          "[dist][checkpoint][infinite_former]") {
  dist::MpiCommunicator& world = *g_world;
  const int ranks = world.size(), rank = world.rank();
  const int64_t rows = 2 * ranks, start = 2 * rank, mine = 2;
  const std::string path = checkpoint_path(ranks) + ".if";
  for (bool sticky : {true, false}) {
    INFO("rank " << rank << " of " << ranks << ", sticky " << sticky);
    auto c = if_config();
    c.ltm.sticky = sticky;
    IfRun run(c, 9);
    IfDP dp(world, {&run.model.parameters()});
    run.state = run.model.initial_state(mine, dist::rank_seed(4, rank));  // a sampler stream per rank
    for (int64_t u = 0; u < 2; ++u) if_run_step(run, u, start, mine, rows, &dp);
    const IfState saved = run.state.clone();
    dist::save_checkpoint(world, run.model, run.state, path,
                          {{"adamw.steps", std::to_string(run.adam.steps())}, {"update", "2"}});
    std::vector<double> losses;
    for (int64_t u = 2; u < 4; ++u) losses.push_back(if_run_step(run, u, start, mine, rows, &dp));
    if (sticky) {  // not vacuous: the samplers drew, from streams that differ per rank
      CHECK(saved.ltm[0].draws > 0);
      CHECK(saved.ltm[0].has_densities[0] == 1);
    }
    CHECK(saved.cache.size() >= 1);

    // The union of the rows is preserved: every rank's rows, in rank order, byte for byte.
    IfRun resumed(c, 77);
    const auto file = dist::load_checkpoint(resumed.model, path);
    CHECK(file.metadata.at("dist.ranks") == std::to_string(ranks));
    CHECK(file.state.batch == rows);
    CHECK(file.rank_rows == std::vector<int64_t>(static_cast<size_t>(ranks), 2));
    const IfState union_saved = dist::gather_rows(world, saved);
    CHECK(state_numbers(file.state) == state_numbers(union_saved));
    CHECK(state_numbers(dist::state_rows(file.state, start, mine)) == state_numbers(saved));

    // Same rank count and split: parameters, moments, states, samplers and losses bit for bit.
    resumed.adam.set_steps(std::stoll(file.metadata.at("adamw.steps")));
    resumed.state = file.rank_state(rank, ranks, start, mine);
    CHECK(resumed.state.ltm[0].key.seed == saved.ltm[0].key.seed);
    CHECK(resumed.state.ltm[0].draws == saved.ltm[0].draws);
    IfDP dp2(world, {&resumed.model.parameters()});
    std::vector<double> resumed_losses;
    for (int64_t u = 2; u < 4; ++u) resumed_losses.push_back(if_run_step(resumed, u, start, mine, rows, &dp2));
    CHECK(resumed_losses == losses);
    CHECK(flat(resumed.model, false) == flat(run.model, false));
    CHECK(state_numbers(resumed.state) == state_numbers(run.state));

    if (sticky) {  // not vacuous: with another sampler stream the same resume gives other losses
      IfRun other(c, 80);
      const auto file_other = dist::load_checkpoint(other.model, path);
      other.adam.set_steps(std::stoll(file_other.metadata.at("adamw.steps")));
      other.state = file_other.rank_state(rank, ranks, start, mine);
      for (auto& m : other.state.ltm) m.key = m.key.derive(1);
      IfDP dp_other(world, {&other.model.parameters()});
      std::vector<double> other_losses;
      for (int64_t u = 2; u < 4; ++u) other_losses.push_back(if_run_step(other, u, start, mine, rows, &dp_other));
      CHECK(other_losses != losses);
    }

    // Rows redistributed over the same ranks (rank r takes rank r+1's rows) and over one process:
    // every row continues from its own memory. Without sticky sampling the training is the same
    // up to the order of the sums; with it, the re-keyed samplers draw other positions, so the
    // run only has to continue (finite, moving).
    const int64_t moved = 2 * ((rank + 1) % ranks);
    IfRun shifted(c, 78);
    const auto file2 = dist::load_checkpoint(shifted.model, path);
    shifted.adam.set_steps(std::stoll(file2.metadata.at("adamw.steps")));
    shifted.state = file2.rank_state(rank, ranks, moved, mine);
    IfDP dp3(world, {&shifted.model.parameters()});
    const auto before = flat(shifted.model, false);
    double shifted_loss = 0;
    for (int64_t u = 2; u < 4; ++u) shifted_loss = if_run_step(shifted, u, moved, mine, rows, &dp3);
    CHECK(std::isfinite(shifted_loss));
    CHECK(flat(shifted.model, false) != before);
    CHECK(all_hashes_equal(world, dp3.parameter_hash()));

    IfRun single(c, 79);
    const auto file1 = dist::load_checkpoint(single.model, path);
    single.adam.set_steps(std::stoll(file1.metadata.at("adamw.steps")));
    single.state = file1.rank_state(0, 1, 0, rows);
    std::vector<double> single_losses;
    for (int64_t u = 2; u < 4; ++u) single_losses.push_back(if_run_step(single, u, 0, rows, rows, nullptr));
    CHECK(std::isfinite(single_losses.back()));
    CHECK(single.state.batch == rows);
    if (!sticky) {
      CHECK(relative_difference(flat(single.model, false), flat(run.model, false)) <= 1e-9);
      CHECK(relative_difference(flat(shifted.model, false), flat(run.model, false)) <= 1e-9);
      CHECK(std::abs(single_losses.back() - losses.back()) <= 1e-9 * std::abs(losses.back()));
      CHECK(relative_difference(state_numbers(dist::state_rows(single.state, start, mine)), state_numbers(run.state)) <= 1e-9);
      const IfState union_shifted = dist::gather_rows(world, shifted.state), union_run = dist::gather_rows(world, run.state);
      for (int q = 0; q < ranks; ++q)  // rank q of the shifted run holds rank q+1's rows
        CHECK(relative_difference(state_numbers(dist::state_rows(union_shifted, 2 * q, 2)),
                                  state_numbers(dist::state_rows(union_run, 2 * ((q + 1) % ranks), 2))) <= 1e-9);
    }
  }

  // A hostile or truncated file: mnemo::Error naming what was expected and found, model unchanged.
  const std::string bad = path + ".bad" + std::to_string(rank);
  const std::string bytes = read_bytes(path);
  IfRun victim(if_config(), 5);
  const auto moments = [](IfModel& m) {
    std::vector<double> v;
    for (auto& p : m.parameters())
      for (const auto* t : {&p->adam_m, &p->adam_v}) {
        v.push_back(t->defined() ? 1.0 : 0.0);
        if (t->defined())
          for (double x : t->to_host()) v.push_back(x);
      }
    return v;
  };
  const auto values = flat(victim.model, false), moments_before = moments(victim.model);
  const auto load_bad = [&](const std::string& contents) {
    write_bytes(bad, contents);
    return [&] { dist::load_checkpoint(victim.model, bad); };
  };
  using Catch::Matchers::Contains;
  {
    auto f = load_bad(bytes.substr(0, bytes.size() - 9));
    CHECK_THROWS_AS(f(), IoError);
  }
  const auto tamper = [&](const std::string& key, const std::string& from, const std::string& to) {
    std::string b = bytes;
    const std::string needle = "\"" + key + "\":\"" + from + "\"";
    const auto at = b.find(needle);
    REQUIRE(at != std::string::npos);
    b.replace(at, needle.size(), "\"" + key + "\":\"" + to + "\"");
    return b;
  };
  const std::string n = std::to_string(rows);
  const std::string other = std::to_string(rows + 1).substr(0, n.size());
  CHECK_THROWS_WITH(load_bad(tamper("dist.rows", n, other))(),
                    Contains("dist@rank_rows add up to " + n + " rows, expected dist.rows = " + other));
  CHECK_THROWS_WITH(load_bad(tamper("dist.rows", n, std::string(n.size(), 'x')))(),
                    Contains("dist.rows = '" + std::string(n.size(), 'x') + "', expected an integer >= 1"));
  const std::string r = std::to_string(ranks);
  CHECK_THROWS_AS(load_bad(tamper("dist.ranks", r, std::to_string(ranks % 9 + 1)))(), ShapeError);
  CHECK_THROWS_WITH(load_bad(tamper("mnemo.segment_length", "4", "5"))(), Contains("expected this model's 4"));
  CHECK(flat(victim.model, false) == values);
  CHECK(moments(victim.model) == moments_before);  // nor the AdamW moments
  std::remove(bad.c_str());
  world.barrier();
  if (rank == 0) std::remove(path.c_str());
}

TEST_CASE("overlapped reduction leaves the same bits as the reduction after the rollout (MRBP, BPTT)",
          "[dist][overlap]") {
  check_memformer_overlap<train::Mrbp>("Mrbp");
  check_memformer_overlap<train::Bptt>("Bptt");
}

TEST_CASE("overlapped reduction leaves the same bits as the reduction after the rollout (infinity-former)",
          "[dist][overlap][infinite_former]") {
  dist::MpiCommunicator& world = *g_world;
  const models::InfiniteFormerConfig c = if_config();
  IfModel plain(c, 9), overlapped(c, 9);
  auto state_plain = plain.initial_state(2), state_overlapped = overlapped.initial_state(2);
  check_overlap_is_bitwise("InfiniteFormerTrainer", plain, overlapped, [&](IfModel& model, int64_t u) {
    const auto segments = my_segments(if_segments(c, 2 * world.size(), u), 2 * world.rank(), 2);
    const auto w = dist::global_step_weights(world, IfTrainer::step_tokens(segments));
    IfTrainer trainer(model, {3});
    trainer.set_update(u);
    return trainer.rollout(segments, {}, &model == &plain ? state_plain : state_overlapped, w);
  });
}

TEST_CASE("a gradient the tape reports final does not change afterwards (MRBP, BPTT, infinity-former)",
          "[dist][overlap][final]") {
  // Single-process on every rank: the tape's reports alone, without buckets.
  const int64_t rows = 3;
  const auto segments = union_segments(rows, 3, 300);
  const auto resets = union_resets(rows, 3);
  auto memformer = [&](auto trainer_tag, const char* name) {
    using Trainer = typename decltype(trainer_tag)::type;
    ModelD model(config(), 31);
    StateD state = union_start(model, rows);
    model.parameters().zero_grad();
    SnapshotObserver<ModelD> observer(model);
    {
      autograd::ObserveGradients on(observer);
      Trainer(model, train::TrainerOptions{}).rollout(segments, resets, state);
    }
    INFO(name << ": " << observer.snapshots.size() << " of " << model.parameters().size() << " reported, "
              << observer.reported_during_sweep << " during the sweep");
    CHECK(observer.all_final());
    CHECK(observer.reported_during_sweep > 0);
  };
  memformer(std::type_identity<train::Mrbp<double, Cpu>>{}, "Mrbp");
  memformer(std::type_identity<train::Bptt<double, Cpu>>{}, "Bptt");

  const models::InfiniteFormerConfig c = if_config();
  IfModel model(c, 9);
  auto state = model.initial_state(2);
  model.parameters().zero_grad();
  SnapshotObserver<IfModel> observer(model);
  {
    autograd::ObserveGradients on(observer);
    IfTrainer(model, {3}).rollout(if_segments(c, 2, 0), {}, state);
  }
  INFO("InfiniteFormerTrainer: " << observer.snapshots.size() << " of " << model.parameters().size() << " reported");
  CHECK(observer.all_final());
  CHECK(observer.reported_during_sweep > 0);
}

TEST_CASE("bucket layout: reverse registration order, packed up to bucket_elements, large parameters alone",
          "[dist][overlap][buckets]") {
  dist::MpiCommunicator& world = *g_world;
  // Store 1 holds sizes 3, 5, 10, 2, 2 (p0..p4), store 2 sizes 1, 6 (q0, q1); 6-element buckets.
  // Walking from the last store's last parameter: {q1} (6 >= 6: alone), {q0, p4, p3} (5; adding
  // p2's 10 would exceed 6), {p2} (alone), {p1} (5; adding p0's 3 would exceed 6), {p0}.
  nn::ParameterStore<double, Cpu> first(1), second(2);
  const int64_t sizes[5] = {3, 5, 10, 2, 2};
  for (int i = 0; i < 5; ++i) first.add("p" + std::to_string(i), {sizes[i]}, nn::Init::zeros());
  second.add("q0", {1}, nn::Init::zeros());
  second.add("q1", {6}, nn::Init::zeros());
  dist::DataParallel<dist::MpiCommunicator, double, Cpu> dp(world, {&first, &second}, 6);
  std::vector<std::vector<std::string>> names;
  std::vector<size_t> elements;
  for (const auto& bucket : dp.buckets()) {
    names.emplace_back();
    for (const auto* p : bucket.params) names.back().push_back(p->name);
    elements.push_back(bucket.elements);
  }
  const std::vector<std::vector<std::string>> expected = {{"q1"}, {"q0", "p4", "p3"}, {"p2"}, {"p1"}, {"p0"}};
  CHECK(names == expected);
  CHECK(elements == std::vector<size_t>{6, 5, 10, 5, 3});

  // The sums land in the right parameters: rank r's gradient entry i of parameter k is r + 16k + i
  // (integers: exact sums).
  double k = 0;
  for (auto* store : {&first, &second})
    for (auto& p : *store) {
      for (int64_t i = 0; i < p->numel(); ++i) p->grad[i] = world.rank() + 16 * k + static_cast<double>(i);
      k += 1;
    }
  dp.reduce_gradients({});
  double rank_sum = 0;
  for (int r = 0; r < world.size(); ++r) rank_sum += r;
  bool all = true;
  k = 0;
  for (auto* store : {&first, &second})
    for (auto& p : *store) {
      for (int64_t i = 0; i < p->numel(); ++i)
        all = all && p->grad[i] == rank_sum + world.size() * (16 * k + static_cast<double>(i));
      k += 1;
    }
  CHECK(all);
}

TEST_CASE("DataParallel rejects ranks whose parameter layouts differ, on every rank", "[dist][errors]") {
  dist::MpiCommunicator& world = *g_world;
  nn::ParameterStore<double, Cpu> store(1);
  store.add("w", {4}, nn::Init::zeros());
  if (world.rank() == world.size() - 1) store.add("extra", {2}, nn::Init::zeros());
  using DP = dist::DataParallel<dist::MpiCommunicator, double, Cpu>;
  if (world.size() > 1) CHECK_THROWS_AS(DP(world, {&store}), ShapeError);
  CHECK_THROWS_AS(DP(world, {}), ValueError);
}

int main(int argc, char** argv) {
  dist::MpiSession mpi(argc, argv);
  int status = 0;
  {
    dist::MpiCommunicator world;
    g_world = &world;
    status = Catch::Session().run(argc, argv);
    // Every rank reports the worst status, so mpirun fails when any rank failed.
    double failed = status != 0 ? 1.0 : 0.0;
    world.all_reduce_sum(&failed, 1);
    if (failed != 0 && status == 0) status = 1;
    g_world = nullptr;
  }
  return status;
}
