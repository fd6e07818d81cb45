// mnemo/train/mrbp.hpp — memory replay back-propagation (memformer.md §4.3, corrected; docs/mrbp.md)
// for any train::RecurrentCell, and the Memformer's trainer built on it.
//
// Phase 1 runs the critical path only, (S_t, x_t, k_t) → S_{t+1}, without the tape and stores the
// T+1 states. Phase 2 replays the steps newest first: each step is re-recorded from a fresh leaf
// holding S_t, swept backward once with two seeds (d ℓ_t = w_t and d S_{t+1} = the gradient handed
// down from step t+1), and rewound, so the peak holds one step's activations plus the stored
// states. Random draws come from counter-based keys that depend only on (seed, update index, t),
// so the replay reproduces phase 1 bit for bit. The gradients equal full BPTT's (train::Bptt).
//
//   train::Mrbp<MyCell> mrbp(cell, {seed});                       // any RecurrentCell
//   auto r = mrbp.rollout(inputs /*T*/, state);                    // grads added to the stores
//   train::Mrbp<float, Cpu> memformer_mrbp(model, {seed});         // the Memformer
//   auto r2 = memformer_mrbp.rollout(segments /*T+1*/, resets /*T*/, slot_state);
#pragma once

#include <array>
#include <type_traits>
#include <utility>
#include <vector>

#include "mnemo/autograd/tape.hpp"
#include "mnemo/train/cell_rollout.hpp"
#include "mnemo/train/memformer_trainer.hpp"
#include "mnemo/train/recurrent_cell.hpp"
#include "mnemo/train/rollout.hpp"

namespace mnemo::train {

/// Mrbp<Cell>: MRBP over a train::RecurrentCell. Mrbp<T, B> (B a backend): the Memformer's trainer.
/// Any other use names a type that is not a recurrent cell, and stops here.
template <class Cell, class Backend = void>
class Mrbp {
  static_assert(RecurrentCell<Cell>,
                "train::Mrbp<Cell>: Cell is not a train::RecurrentCell. It needs value_type, backend, Input, "
                "State = CellState<T, B, N>, a const step(CellVars<T, B, N>, Input, RngKey, CellPart) returning "
                "CellStep<T, B, N>, and parameter_stores() (mnemo/train/recurrent_cell.hpp, docs/mrbp.md)");
};

template <RecurrentCell Cell>
class Mrbp<Cell, void> {
 public:
  using T = typename Cell::value_type;
  using B = typename Cell::backend;
  using State = typename Cell::State;
  using Input = typename Cell::Input;
  using Var = autograd::Var<T, B>;
  static constexpr size_t N = state_size_v<Cell>;

  explicit Mrbp(Cell& cell, TrainerOptions options = {}) : cell_(&cell), opt_(options) {}

  /// Runs steps t = 0..T−1 on inputs[t], adds the gradients of Σ_t w_t·ℓ_t to the cell's
  /// parameters and advances `state` to S_T. `weights` empty = 1/T.
  RolloutResult rollout(const std::vector<Input>& inputs, State& state, const std::vector<double>& weights = {});

  int64_t update_index() const { return opt_.update_index; }
  void set_update_index(int64_t u) { opt_.update_index = u; }

 private:
  Cell* cell_;
  TrainerOptions opt_;
};

template <RecurrentCell Cell>
auto Mrbp<Cell, void>::rollout(const std::vector<Input>& inputs, State& state, const std::vector<double>& weights)
    -> RolloutResult {
  const std::vector<double> w = cell_detail::loss_weights("Mrbp::rollout", inputs.size(), weights);
  const int64_t update = opt_.update_index++;
  const size_t steps = w.size();
  auto part = [&](size_t t) { return w[t] != 0.0 ? CellPart::WithLoss : CellPart::CriticalPath; };
  // Phase 1: the critical path without the tape, storing S_0..S_T.
  std::vector<State> buf(steps + 1);
  buf[0] = state;
  {
    autograd::NoGrad off;
    for (size_t t = 0; t < steps; ++t) {
      CellVars<T, B, N> vars;
      for (size_t i = 0; i < N; ++i) vars[i] = Var(buf[t][i]);
      auto step = cell_->step(vars, inputs[t], cell_detail::step_key(opt_, update, t), CellPart::CriticalPath);
      for (size_t i = 0; i < N; ++i) {
        require<StateError>(step.next[i].defined(), "Mrbp: step ", t, " of the cell returned no next state tensor ",
                            i, " (expected ", N, " tensors)");
        buf[t + 1][i] = step.next[i].value();
      }
    }
  }
  // Phase 2: replay newest first, carrying dL/dS_{t+1} into step t.
  RolloutResult result;
  autograd::Tape tape;
  std::array<Tensor<T, B>, N> carried;  // dL/dS_{t+1}; undefined = zero (nothing beyond the horizon)
  {
    autograd::Recording on(tape);
    for (size_t t = steps; t-- > 0;) {
      const size_t mark = tape.mark();
      if (t == 0) tape.final_sweep();  // the rollout's last sweep: report final gradients (DP overlap)
      CellVars<T, B, N> leaves;
      for (size_t i = 0; i < N; ++i) leaves[i] = Var::leaf(buf[t][i]);
      auto step = cell_->step(leaves, inputs[t], cell_detail::step_key(opt_, update, t), part(t));
      if (opt_.check_replay)
        for (size_t i = 0; i < N; ++i) cell_detail::check_replay(step.next[i].value(), buf[t + 1][i], t, i, N);
      bool seeded = false;
      for (const auto& term : step.losses) {
        result.loss += w[t] * term.scale * static_cast<double>(term.value.value().to_host()[0]);
        seeded = seeded || term.value.defined();
        if (term.value.defined() && term.value.requires_grad())
          tape.seed(term.value, Tensor<T, B>::full(term.value.shape(), static_cast<T>(w[t] * term.scale)));
      }
      result.tokens += step.tokens;
      for (size_t i = 0; i < N; ++i)
        if (carried[i].defined()) {
          seeded = true;
          if (step.next[i].requires_grad()) tape.seed(step.next[i], std::move(carried[i]));
        }
      if (seeded) tape.backward(mark);
      for (size_t i = 0; i < N; ++i) carried[i] = leaves[i].has_grad() ? leaves[i].grad() : Tensor<T, B>{};
      tape.rewind(mark);
      if (t + 1 < steps) buf[t + 1] = State{};  // no longer needed
    }
  }
  state = buf[steps];
  result.finite = cell_detail::keep_finite_gradients(cell_->parameter_stores());
  return result;
}

/// The Memformer's MRBP trainer: T+1 segments, per-step resets, a SlotState (memformer.md §4.3).
template <class T, class B>
  requires(!std::is_void_v<B>)
class Mrbp<T, B> {
 public:
  using Model = models::Memformer<T, B>;
  using State = typename Model::State;
  using Var = autograd::Var<T, B>;

  explicit Mrbp(Model& model, TrainerOptions options = {}) : model_(&model), opt_(options) {}

  /// Same contract as Bptt::rollout: adds the gradients of Σ_t w_t·loss_t to the model's
  /// parameters and advances `state` to M_T (= buf[T]).
  RolloutResult rollout(const std::vector<Segment>& segments, const Resets& resets, State& state,
                        const std::vector<double>& weights = {}) {
    // Defined in the class: clang 14 rejects an out-of-class member definition of a constrained
    // partial specialization ("requires clause differs in template redeclaration").
    return memformer_detail::rollout<mnemo::train::Mrbp>("Mrbp::rollout", *model_, opt_, segments, resets, state, weights);
  }

  int64_t update_index() const { return opt_.update_index; }
  void set_update_index(int64_t u) { opt_.update_index = u; }

 private:
  Model* model_;
  TrainerOptions opt_;
};

}  // namespace mnemo::train

// Compiled mode (docs/compile_time.md): linking mnemo::compiled defines MNEMO_COMPILED; these
// instantiations are then compiled once, in src/compiled/, instead of in every user TU.
#if defined(MNEMO_COMPILED)
#include "mnemo/backend/cpu.hpp"

namespace mnemo::train {
extern template class Mrbp<float, Cpu>;
extern template class Mrbp<double, Cpu>;
// The rollout Mrbp<T, B>::rollout forwards to (that member is defined in the class, so it is inline).
extern template RolloutResult memformer_detail::rollout<Mrbp, float, Cpu>(const char*, models::Memformer<float, Cpu>&,
                                                                    TrainerOptions&, const std::vector<Segment>&,
                                                                    const Resets&, memory::SlotState<float, Cpu>&,
                                                                    const std::vector<double>&);
extern template RolloutResult memformer_detail::rollout<Mrbp, double, Cpu>(const char*, models::Memformer<double, Cpu>&,
                                                                    TrainerOptions&, const std::vector<Segment>&,
                                                                    const Resets&, memory::SlotState<double, Cpu>&,
                                                                    const std::vector<double>&);
}  // namespace mnemo::train
#endif  // MNEMO_COMPILED
