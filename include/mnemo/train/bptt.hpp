// mnemo/train/bptt.hpp — full back-propagation through time over a rollout of T steps of a
// train::RecurrentCell (or of the Memformer): every step is recorded on one tape,
// L = Σ_t w_t·ℓ_t, one reverse sweep (memformer.md §4.3 "Reference"). Keeps the activations of
// all T steps; train::Mrbp computes the same gradients with one step's activations.
//
//   train::Bptt<MyCell> bptt(cell, {seed});                        // any RecurrentCell
//   auto r = bptt.rollout(inputs /*T*/, state);                    // grads added to the stores
//   train::Bptt<float, Cpu> memformer_bptt(model, {seed});         // the Memformer
//   auto r2 = memformer_bptt.rollout(segments /*T+1*/, resets /*T*/, slot_state);
#pragma once

#include <type_traits>
#include <vector>

#include "mnemo/autograd/tape.hpp"
#include "mnemo/train/cell_rollout.hpp"
#include "mnemo/train/memformer_trainer.hpp"
#include "mnemo/train/recurrent_cell.hpp"
#include "mnemo/train/rollout.hpp"

namespace mnemo::train {

/// Bptt<Cell>: BPTT over a train::RecurrentCell. Bptt<T, B> (B a backend): the Memformer's trainer.
/// Any other use names a type that is not a recurrent cell, and stops here.
template <class Cell, class Backend = void>
class Bptt {
  static_assert(RecurrentCell<Cell>,
                "train::Bptt<Cell>: Cell is not a train::RecurrentCell. It needs value_type, backend, Input, "
                "State = CellState<T, B, N>, a const step(CellVars<T, B, N>, Input, RngKey, CellPart) returning "
                "CellStep<T, B, N>, and parameter_stores() (mnemo/train/recurrent_cell.hpp, docs/mrbp.md)");
};

template <RecurrentCell Cell>
class Bptt<Cell, void> {
 public:
  using T = typename Cell::value_type;
  using B = typename Cell::backend;
  using State = typename Cell::State;
  using Input = typename Cell::Input;
  static constexpr size_t N = state_size_v<Cell>;

  explicit Bptt(Cell& cell, TrainerOptions options = {}) : cell_(&cell), opt_(options) {}

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
auto Bptt<Cell, void>::rollout(const std::vector<Input>& inputs, State& state, const std::vector<double>& weights)
    -> RolloutResult {
  const std::vector<double> w = cell_detail::loss_weights("Bptt::rollout", inputs.size(), weights);
  const int64_t update = opt_.update_index++;
  RolloutResult result;
  autograd::Tape tape;
  std::vector<CellStep<T, B, N>> steps;
  steps.reserve(w.size());
  tape.final_sweep();  // one sweep: it reports final gradients (data-parallel overlap)
  {
    autograd::Recording on(tape);
    CellVars<T, B, N> vars;
    for (size_t i = 0; i < N; ++i) vars[i] = autograd::Var<T, B>(state[i]);
    for (size_t t = 0; t < w.size(); ++t) {
      const CellPart part = w[t] != 0.0 ? CellPart::WithLoss : CellPart::CriticalPath;
      steps.push_back(cell_->step(vars, inputs[t], cell_detail::step_key(opt_, update, t), part));
      for (size_t i = 0; i < N; ++i)
        require<StateError>(steps.back().next[i].defined(), "Bptt: step ", t, " of the cell returned no next state tensor ",
                            i, " (expected ", N, " tensors)");
      vars = steps.back().next;
      for (const auto& term : steps.back().losses)
        result.loss += w[t] * term.scale * static_cast<double>(term.value.value().to_host()[0]);
      result.tokens += steps.back().tokens;
    }
    for (size_t t = 0; t < w.size(); ++t)
      for (const auto& term : steps[t].losses)
        if (term.value.defined() && term.value.requires_grad())
          tape.seed(term.value, Tensor<T, B>::full(term.value.shape(), static_cast<T>(w[t] * term.scale)));
    tape.backward(size_t{0});
    for (size_t i = 0; i < N; ++i) state[i] = vars[i].value();
  }
  result.finite = cell_detail::keep_finite_gradients(cell_->parameter_stores());
  return result;
}

/// The Memformer's BPTT trainer: T+1 segments, per-step resets, a SlotState (memformer.md §4.3).
template <class T, class B>
  requires(!std::is_void_v<B>)
class Bptt<T, B> {
 public:
  using Model = models::Memformer<T, B>;
  using State = typename Model::State;

  explicit Bptt(Model& model, TrainerOptions options = {}) : model_(&model), opt_(options) {}

  /// Runs steps t = 0..T−1 (input s_t, target s_{t+1}), adds the gradients of Σ_t w_t·loss_t to
  /// the model's parameters, and advances `state` to M_T. `resets[t]` flags the rows that start
  /// a document at step t; `weights` empty = 1/T.
  RolloutResult rollout(const std::vector<Segment>& segments, const Resets& resets, State& state,
                        const std::vector<double>& weights = {}) {
    // Defined in the class: clang 14 rejects an out-of-class member definition of a constrained
    // partial specialization ("requires clause differs in template redeclaration").
    return memformer_detail::rollout<mnemo::train::Bptt>("Bptt::rollout", *model_, opt_, segments, resets, state, weights);
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
extern template class Bptt<float, Cpu>;
extern template class Bptt<double, Cpu>;
// The rollout Bptt<T, B>::rollout forwards to (that member is defined in the class, so it is inline).
extern template RolloutResult memformer_detail::rollout<Bptt, float, Cpu>(const char*, models::Memformer<float, Cpu>&,
                                                                    TrainerOptions&, const std::vector<Segment>&,
                                                                    const Resets&, memory::SlotState<float, Cpu>&,
                                                                    const std::vector<double>&);
extern template RolloutResult memformer_detail::rollout<Bptt, double, Cpu>(const char*, models::Memformer<double, Cpu>&,
                                                                    TrainerOptions&, const std::vector<Segment>&,
                                                                    const Resets&, memory::SlotState<double, Cpu>&,
                                                                    const std::vector<double>&);
}  // namespace mnemo::train
#endif  // MNEMO_COMPILED
