// mnemo/train/bptt.hpp — full back-propagation through time over a rollout of T Memformer
// segment steps: every step is recorded on one tape, Loss = Σ_t w_t·loss_t, one reverse sweep
// (memformer.md §4.3 "Reference"). Keeps the activations of all T steps; train::Mrbp computes
// the same gradients with one step's activations.
//
//   train::Bptt<float, Cpu> bptt(model, {seed});
//   auto r = bptt.rollout(segments /*T+1*/, resets /*T*/, state);   // grads added to the store
#pragma once

#include <vector>

#include "mnemo/autograd/tape.hpp"
#include "mnemo/train/memformer_trainer.hpp"

namespace mnemo::train {

template <class T, class B>
class Bptt {
 public:
  using Model = models::Memformer<T, B>;
  using State = typename Model::State;

  explicit Bptt(Model& model, TrainerOptions options = {}) : model_(&model), opt_(options) {}

  /// Runs steps t = 0..T−1 (input s_t, target s_{t+1}), adds the gradients of Σ_t w_t·loss_t to
  /// the model's parameters, and advances `state` to M_T. `resets[t]` flags the rows that start
  /// a document at step t; `weights` empty = 1/T.
  RolloutResult rollout(const std::vector<Segment>& segments, const Resets& resets, State& state,
                        const std::vector<double>& weights = {});

  int64_t update_index() const { return opt_.update_index; }
  void set_update_index(int64_t u) { opt_.update_index = u; }

 private:
  Model* model_;
  TrainerOptions opt_;
};

template <class T, class B>
auto Bptt<T, B>::rollout(const std::vector<Segment>& segments, const Resets& resets, State& state,
    const std::vector<double>& weights) -> RolloutResult {
  namespace md = memformer_detail;
  const std::vector<double> w = md::validate_rollout("Bptt::rollout", *model_, segments, resets, state, weights);
  const int64_t update = opt_.update_index++;
  RolloutResult result;
  autograd::Tape tape;
  std::vector<md::RecordedStep<T, B>> steps;
  steps.reserve(w.size());
  {
    autograd::Recording on(tape);
    autograd::Var<T, B> memory(state.slots());
    for (size_t t = 0; t < w.size(); ++t) {
      steps.push_back(md::record_step(*model_, segments[t], segments[t + 1], memory, md::resets_at(resets, t),
                                      md::step_key(opt_, update, t), w[t]));
      memory = steps.back().encoded.next_memory;
      result.loss += w[t] * steps.back().loss_value;
      result.tokens += steps.back().tokens;
    }
    for (size_t t = 0; t < w.size(); ++t) md::seed_loss(tape, steps[t], w[t]);
    tape.backward(size_t{0});
    state = State(memory.value());
  }
  result.finite = md::keep_finite_gradients(model_->parameters());
  return result;
}

}  // namespace mnemo::train

// Compiled mode (docs/compile_time.md): linking mnemo::compiled defines MNEMO_COMPILED; these
// instantiations are then compiled once, in src/compiled/, instead of in every user TU.
#if defined(MNEMO_COMPILED)
#include "mnemo/backend/cpu.hpp"

namespace mnemo::train {
extern template class Bptt<float, Cpu>;
extern template class Bptt<double, Cpu>;
}  // namespace mnemo::train
#endif  // MNEMO_COMPILED
