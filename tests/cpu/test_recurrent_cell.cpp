// train::RecurrentCell: MRBP against full BPTT (double, dropout on) for a user-defined cell
// (examples/memory_token_cell.hpp) and for two cells in series, the replay check catching a
// cell whose next state is not a function of (state, input, key), the concept's verdicts, and
// rollout validation. The readable compile error for a bad cell is checked by the CTest
// `mrbp_rejects_bad_cell` (tests/compile_fail/mrbp_bad_cell.cpp).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "../../examples/memory_token_cell.hpp"
#include "mnemo/train/bptt.hpp"
#include "mnemo/train/mrbp.hpp"
#include "mnemo/train/series_cell.hpp"
#include "support/testing.hpp"

using namespace mnemo;
using namespace mnemo::test;
using TokenCell = examples::MemoryTokenLM<double>;

namespace {

examples::MemoryTokenConfig cell_config() {
  examples::MemoryTokenConfig c;
  c.vocab = 11;
  c.d_model = 8;
  c.heads = 2;
  c.d_ff = 16;
  c.memory_tokens = 3;
  c.layers = 2;
  c.segment_length = 5;
  c.dropout = 0.1;
  c.init_std = 0.3;
  return c;
}

std::vector<train::Segment> make_segments(int64_t count, int64_t batch, int64_t L, int64_t vocab, uint64_t seed) {
  std::vector<train::Segment> out;
  const RngKey key{seed, 3};
  for (int64_t t = 0; t < count; ++t) {
    train::Segment s{Tensor<int32_t, Cpu>(Shape{batch, L}), Tensor<uint8_t, Cpu>::zeros({batch, L})};
    for (int64_t i = 0; i < batch * L; ++i)
      s.tokens[i] = static_cast<int32_t>(key.bits(static_cast<uint64_t>(t * 1000 + i)) % static_cast<uint32_t>(vocab));
    if (t == 2)  // row 1 ends early: padded keys and targets
      for (int64_t n = 3; n < L; ++n) s.padding[1 * L + n] = 1;
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<TokenCell::Input> token_inputs(const std::vector<train::Segment>& segs) {
  std::vector<TokenCell::Input> in(segs.size() - 1);
  for (size_t t = 0; t < in.size(); ++t) in[t] = {&segs[t], &segs[t + 1]};
  return in;
}

/// A second cell that reads an upstream sequence: slots S [batch, K2, d] cross-attend to it and
/// are renormalised, S' = LN(S + Attn(LN(S), o)); its loss reads the upstream rows after `skip`
/// enriched by the new slots, CE(head(o + Attn(o, S'))) against the target segment.
class ReadoutCell {
 public:
  using value_type = double;
  using backend = Cpu;
  using State = train::CellState<double, Cpu, 1>;
  using Var = autograd::Var<double, Cpu>;
  struct Input {
    Var upstream;                              // [batch, skip + L, d]
    const train::Segment* target = nullptr;
    int64_t skip = 0;                          // upstream rows without a target
  };

  ReadoutCell(int64_t d, int64_t vocab, int64_t slots, double dropout, uint64_t seed)
      : store_(seed), norm_(store_, "norm", d), state_norm_(store_, "state_norm", d),
        read_(store_, "read", d, 2, true, 0.3), back_(store_, "back", d, 2, true, 0.3),
        head_(store_, "head", d, vocab, nn::LinearOptions{true, 0.3}), slots_(slots), d_(d), dropout_(dropout) {}

  State initial_state(int64_t batch) const {
    TensorD s(Shape{batch, slots_, d_});
    for (int64_t i = 0; i < s.numel(); ++i) s[i] = 0.5 * std::sin(0.7 * static_cast<double>(i));
    return State{s};
  }

  train::CellStep<double, Cpu, 1> step(const train::CellVars<double, Cpu, 1>& state, const Input& x, const RngKey& key,
                                      train::CellPart part) const {
    auto& ctx = store_.context();
    train::CellStep<double, Cpu, 1> out;
    const Var o = autograd::dropout(ctx, x.upstream, static_cast<float>(dropout_), key.derive(0));
    out.next[0] = state_norm_(autograd::add(ctx, state[0], read_(norm_(state[0]), o)));
    const Var y = autograd::add(ctx, o, autograd::dropout(ctx, back_(o, out.next[0]), static_cast<float>(dropout_), key.derive(1)));
    out.output = y;
    if (part == train::CellPart::WithLoss) {
      const int64_t batch = x.target->batch(), L = x.target->length(), rows = x.skip + L;
      autograd::CrossEntropyOptions opt;
      Tensor<int32_t, Cpu> ids(Shape{batch, rows});
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t i = 0; i < rows; ++i) {
          const bool counts = i >= x.skip && !x.target->padding[b * L + i - x.skip];
          ids[b * rows + i] = counts ? x.target->tokens[b * L + i - x.skip] : opt.ignore_index;
          out.tokens += counts ? 1 : 0;
        }
      const Tensor<float, Cpu>* none = nullptr;
      out.losses.push_back({autograd::cross_entropy(ctx, head_(y), ids, none, opt), 1.0});
    }
    return out;
  }
  std::vector<nn::ParameterStore<double, Cpu>*> parameter_stores() { return {&store_}; }
  nn::ParameterStore<double, Cpu>& parameters() { return store_; }

 private:
  nn::ParameterStore<double, Cpu> store_;
  nn::LayerNorm<double, Cpu> norm_, state_norm_;
  nn::MultiHeadAttention<double, Cpu> read_, back_;
  nn::Linear<double, Cpu> head_;
  int64_t slots_, d_;
  double dropout_;
};

/// The link: the readout cell reads the token cell's hidden states; its targets are the token
/// cell's (the first K rows of the upstream are memory tokens).
struct ReadTokens {
  int64_t skip;
  ReadoutCell::Input operator()(const TokenCell::Input& x, const autograd::Var<double, Cpu>& upstream) const {
    return {upstream, x.target, skip};
  }
};
using Pair = train::Series<TokenCell, ReadoutCell, ReadTokens>;

/// A cell that cheats: its next state depends on how often it has been called.
class CountingCell {
 public:
  using value_type = double;
  using backend = Cpu;
  using State = TokenCell::State;
  using Input = TokenCell::Input;
  explicit CountingCell(TokenCell& inner) : inner_(&inner) {}
  train::CellStep<double, Cpu, 1> step(const train::CellVars<double, Cpu, 1>& state, const Input& x, const RngKey& key,
                                      train::CellPart part) const {
    auto s = inner_->step(state, x, key, part);
    s.next[0] = autograd::scale(inner_->parameters().context(), s.next[0], 1.0 + 1e-12 * static_cast<double>(++calls_));
    return s;
  }
  std::vector<nn::ParameterStore<double, Cpu>*> parameter_stores() { return inner_->parameter_stores(); }

 private:
  TokenCell* inner_;
  mutable int64_t calls_ = 0;
};

std::vector<TensorD> gradients(const std::vector<nn::ParameterStore<double, Cpu>*>& stores) {
  std::vector<TensorD> g;
  for (auto* s : stores)
    for (auto& p : *s) g.push_back(p->grad.clone());
  return g;
}
void zero_grad(const std::vector<nn::ParameterStore<double, Cpu>*>& stores) {
  for (auto* s : stores) s->zero_grad();
}

/// MRBP and BPTT from the same start state: equal gradients (< 1e-10 relative), loss, tokens and
/// final state; returns how many gradient entries were nonzero.
template <class Cell>
size_t check_mrbp_equals_bptt(Cell& cell, const std::vector<typename Cell::Input>& inputs,
                              const typename Cell::State& start, const std::vector<double>& weights) {
  train::TrainerOptions opt;
  opt.seed = 41;
  opt.update_index = 3;
  opt.check_replay = true;
  const auto stores = cell.parameter_stores();
  zero_grad(stores);
  auto bptt_state = start;
  const auto rb = train::Bptt<Cell>(cell, opt).rollout(inputs, bptt_state, weights);
  const auto gb = gradients(stores);
  zero_grad(stores);
  auto mrbp_state = start;
  train::Mrbp<Cell> mrbp(cell, opt);
  const auto rm = mrbp.rollout(inputs, mrbp_state, weights);
  const auto gm = gradients(stores);
  CHECK(mrbp.update_index() == 4);
  CHECK(rb.finite);
  CHECK(rm.finite);
  CHECK(rm.loss == Approx(rb.loss).epsilon(1e-13));
  CHECK(rm.tokens == rb.tokens);
  CHECK(rb.loss > 0);
  REQUIRE(gm.size() == gb.size());
  size_t nonzero = 0;
  for (size_t i = 0; i < gb.size(); ++i) {
    INFO("parameter " << i << ": relative difference " << rel_error(gm[i], gb[i], 1e-30));
    CHECK(rel_error(gm[i], gb[i], 1e-30) < 1e-10);
    for (int64_t k = 0; k < gb[i].numel(); ++k) nonzero += gb[i][k] != 0.0 ? 1 : 0;
  }
  for (size_t i = 0; i < start.size(); ++i) {
    REQUIRE(mrbp_state[i].numel() == bptt_state[i].numel());
    CHECK(std::memcmp(mrbp_state[i].data(), bptt_state[i].data(), bptt_state[i].bytes()) == 0);
    CHECK(std::memcmp(mrbp_state[i].data(), start[i].data(), start[i].bytes()) != 0);  // the state moved
  }
  return nonzero;
}

}  // namespace

// The concept's verdicts, checked where the test binary compiles.
static_assert(train::RecurrentCell<TokenCell>);
static_assert(train::RecurrentCell<ReadoutCell>);
static_assert(train::RecurrentCell<Pair>);
static_assert(train::state_size_v<Pair> == 2);
static_assert(train::RecurrentCell<train::MemformerCell<double, Cpu>>);
static_assert(train::RecurrentCell<CountingCell>);  // cheating is not visible to the compiler
namespace {
struct NoStep {  // everything but step()
  using value_type = double;
  using backend = Cpu;
  using State = train::CellState<double, Cpu, 1>;
  struct Input {};
  std::vector<nn::ParameterStore<double, Cpu>*> parameter_stores() { return {}; }
};
struct StateNotTensors : NoStep {  // a state that is not CellState<T, B, N>
  using State = std::vector<TensorD>;
  train::CellStep<double, Cpu, 1> step(const train::CellVars<double, Cpu, 1>&, const Input&, const RngKey&,
                                      train::CellPart) const;
};
struct MutatingStep : NoStep {  // step() not const: it could change the cell between phase 1 and the replay
  train::CellStep<double, Cpu, 1> step(const train::CellVars<double, Cpu, 1>&, const Input&, const RngKey&,
                                      train::CellPart);
};
struct NoStates : NoStep {  // zero state tensors: nothing to carry
  using State = train::CellState<double, Cpu, 0>;
};
}  // namespace
static_assert(!train::RecurrentCell<int>);
static_assert(!train::RecurrentCell<NoStep>);
static_assert(!train::RecurrentCell<StateNotTensors>);
static_assert(!train::RecurrentCell<MutatingStep>);
static_assert(!train::RecurrentCell<NoStates>);

TEST_CASE("MRBP equals full BPTT for a user-defined memory-token cell in double with dropout on",
          "[train][mrbp][recurrent_cell]") {
  TokenCell cell(cell_config(), 12);
  const int64_t B = 2, T = 4;
  const auto segs = make_segments(T + 1, B, 5, 11, 6);
  auto start = cell.initial_state(B);
  for (int64_t i = 0; i < start[0].numel(); ++i) start[0][i] = 0.3 * std::cos(static_cast<double>(i));
  const std::vector<double> weights = {0.5, 0.0, 1.5, 1.0};
  const size_t nonzero = check_mrbp_equals_bptt(cell, token_inputs(segs), start, weights);
  CHECK(nonzero > 1000);
  // The memory path matters: the gradient of the write embedding is nonzero only through M_{t+1}.
  double write_grad = 0;
  const auto& wp = cell.parameters().get("memory.write");
  for (int64_t k = 0; k < wp.numel(); ++k) write_grad += std::abs(wp.grad[k]);
  CHECK(write_grad > 0);
  // Dropout is on: another seed gives another final memory.
  auto a = start, b = start;
  train::TrainerOptions o1, o2;
  o2.seed = 1;
  train::Mrbp<TokenCell>(cell, o1).rollout(token_inputs(segs), a);
  train::Mrbp<TokenCell>(cell, o2).rollout(token_inputs(segs), b);
  CHECK(std::memcmp(a[0].data(), b[0].data(), a[0].bytes()) != 0);
}

TEST_CASE("MRBP equals full BPTT for two cells in series whose loss reads both",
          "[train][mrbp][recurrent_cell]") {
  const auto cfg = cell_config();
  TokenCell first(cfg, 13);
  ReadoutCell second(cfg.d_model, cfg.vocab, 2, 0.1, 14);
  Pair pair(first, second, ReadTokens{cfg.memory_tokens}, train::SeriesLoss{0.5, 1.0});
  const int64_t B = 2, T = 4;
  const auto segs = make_segments(T + 1, B, 5, 11, 7);
  const auto start = Pair::join(first.initial_state(B), second.initial_state(B));
  const std::vector<double> weights = {1.0, 0.25, 0.0, 2.0};
  const size_t nonzero = check_mrbp_equals_bptt(pair, token_inputs(segs), start, weights);
  CHECK(nonzero > 1000);
  // Both cells learn, and the first learns through the second: with the first cell's own loss
  // switched off its parameters still get gradients (through the link and the second's state).
  double first_grad = 0, second_grad = 0;
  for (auto& p : first.parameters())
    for (int64_t k = 0; k < p->numel(); ++k) first_grad += std::abs(p->grad[k]);
  for (auto& p : second.parameters())
    for (int64_t k = 0; k < p->numel(); ++k) second_grad += std::abs(p->grad[k]);
  CHECK(first_grad > 0);
  CHECK(second_grad > 0);
  Pair only_second(first, second, ReadTokens{cfg.memory_tokens}, train::SeriesLoss{0.0, 1.0});
  const size_t through_link = check_mrbp_equals_bptt(only_second, token_inputs(segs), start, weights);
  CHECK(through_link > 0);
  double via_second = 0;
  for (auto& p : first.parameters())
    for (int64_t k = 0; k < p->numel(); ++k) via_second += std::abs(p->grad[k]);
  CHECK(via_second > 0);
  // The series' loss is the mix of its cells' losses (same keys, so the same draws).
  Pair only_first(first, second, ReadTokens{cfg.memory_tokens}, train::SeriesLoss{1.0, 0.0});
  const std::vector<TokenCell::Input> one_step = {token_inputs(segs)[0]};
  auto s1 = start, s2 = start, s3 = start;
  const double mixed = train::Bptt<Pair>(pair).rollout(one_step, s1).loss;
  const double second_part = train::Bptt<Pair>(only_second).rollout(one_step, s2).loss;
  const double first_part = train::Bptt<Pair>(only_first).rollout(one_step, s3).loss;
  CHECK(first_part > 0);
  CHECK(second_part > 0);
  CHECK(mixed == Approx(0.5 * first_part + second_part).epsilon(1e-12));
}

TEST_CASE("the replay check catches a cell whose next state is not a function of its inputs",
          "[train][mrbp][recurrent_cell][errors]") {
  TokenCell inner(cell_config(), 15);
  CountingCell cheat(inner);
  const auto segs = make_segments(4, 2, 5, 11, 8);
  train::TrainerOptions opt;
  opt.check_replay = true;
  auto state = inner.initial_state(2);
  const auto before = state[0].clone();
  MNEMO_CHECK_THROWS(train::Mrbp<CountingCell>(cheat, opt).rollout(token_inputs(segs), state), StateError,
                     "Mrbp: the replay of step 2 produced a next state (tensor 0 of 1) that differs from phase 1's "
                     "(expected bitwise equality: the next state must be a function of the state, the input and the "
                     "step's key only)");
  CHECK(std::memcmp(state[0].data(), before.data(), before.bytes()) == 0);  // the state is untouched
  // The honest cell passes the same check.
  CHECK_NOTHROW(train::Mrbp<TokenCell>(inner, opt).rollout(token_inputs(segs), state));
}

TEST_CASE("generic rollouts reject bad arguments with named errors", "[train][recurrent_cell][errors]") {
  TokenCell cell(cell_config(), 16);
  auto state = cell.initial_state(2);
  const auto segs = make_segments(3, 2, 5, 11, 9);
  train::Mrbp<TokenCell> mrbp(cell);
  train::Bptt<TokenCell> bptt(cell);
  MNEMO_CHECK_THROWS(mrbp.rollout({}, state), ShapeError, "Mrbp::rollout: 0 steps given, expected T >= 1");
  MNEMO_CHECK_THROWS(bptt.rollout(token_inputs(segs), state, {1.0}), ShapeError,
                     "Bptt::rollout: 1 loss weights given, expected T=2");
  MNEMO_CHECK_THROWS(mrbp.rollout(token_inputs(segs), state, {1.0, NAN}), ValueError, "loss weight 1 = nan");
  CHECK(mrbp.update_index() == 0);  // a rollout that fails validation does not count
  auto wrong = cell.initial_state(3);
  MNEMO_CHECK_THROWS(mrbp.rollout(token_inputs(segs), wrong), ShapeError, "MemoryTokenLM: memory has shape [3, 3, 8]");
}
