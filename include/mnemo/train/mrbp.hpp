// mnemo/train/mrbp.hpp — memory replay back-propagation (memformer.md §4.3, corrected).
//
// Phase 1 runs the critical path only (encoder + writer + BMN, no decoder) without the tape and
// stores the T+1 memories. Phase 2 replays the steps newest first: each step is re-recorded from
// a fresh leaf holding buf[t], swept backward once with two seeds (d loss_t = w_t and
// d M_{t+1} = the gradient handed down from step t+1), and rewound, so the peak holds one step's
// activations plus the stored memories. Dropout draws come from counter-based keys that depend
// only on (seed, update index, t, draw site), so the replay reproduces phase 1 bit for bit.
// The gradients equal full BPTT's (train::Bptt).
//
//   train::Mrbp<float, Cpu> mrbp(model, {seed});
//   auto r = mrbp.rollout(segments /*T+1*/, resets /*T*/, state);   // grads added to the store
#pragma once

#include <cstring>
#include <vector>

#include "mnemo/autograd/tape.hpp"
#include "mnemo/train/memformer_trainer.hpp"

namespace mnemo::train {

template <class T, class B>
class Mrbp {
 public:
  using Model = models::Memformer<T, B>;
  using State = typename Model::State;
  using Var = autograd::Var<T, B>;

  explicit Mrbp(Model& model, TrainerOptions options = {}) : model_(&model), opt_(options) {}

  /// Same contract as Bptt::rollout: adds the gradients of Σ_t w_t·loss_t to the model's
  /// parameters and advances `state` to M_T (= buf[T]).
  RolloutResult rollout(const std::vector<Segment>& segments, const Resets& resets, State& state,
                        const std::vector<double>& weights = {});

  int64_t update_index() const { return opt_.update_index; }
  void set_update_index(int64_t u) { opt_.update_index = u; }

 private:
  void check_replay(const Tensor<T, B>& replayed, const Tensor<T, B>& stored, size_t t) const {
    const auto a = replayed.to_host(), b = stored.to_host();
    if (a.size() != b.size() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) != 0)
      throw StateError(detail::cat("Mrbp: the replay of step ", t,
                                   " produced a memory that differs from phase 1's (expected bitwise equality)"));
  }

  Model* model_;
  TrainerOptions opt_;
};

template <class T, class B>
auto Mrbp<T, B>::rollout(const std::vector<Segment>& segments, const Resets& resets, State& state,
    const std::vector<double>& weights) -> RolloutResult {
  namespace md = memformer_detail;
  const std::vector<double> w = md::validate_rollout("Mrbp::rollout", *model_, segments, resets, state, weights);
  const int64_t update = opt_.update_index++;
  const size_t steps = w.size();
  // Phase 1: forward without the tape over encoder + writer, storing M_0..M_T.
  std::vector<Tensor<T, B>> buf(steps + 1);
  buf[0] = state.slots();
  {
    autograd::NoGrad off;
    for (size_t t = 0; t < steps; ++t) {
      const RngKey key = md::step_key(opt_, update, t);  // training mode: the replay's dropout
      buf[t + 1] = model_->encode(segments[t], Var(buf[t]), md::resets_at(resets, t), &key).next_memory.value();
    }
  }
  // Phase 2: replay newest first, carrying dL/dM_{t+1} into step t.
  RolloutResult result;
  autograd::Tape tape;
  Tensor<T, B> carried;  // dL/dM_{t+1}; undefined = zero (nothing beyond the horizon)
  {
    autograd::Recording on(tape);
    for (size_t t = steps; t-- > 0;) {
      const size_t mark = tape.mark();
      const Var memory = Var::leaf(buf[t]);
      auto step = md::record_step(*model_, segments[t], segments[t + 1], memory, md::resets_at(resets, t),
                                  md::step_key(opt_, update, t), w[t]);
      if (opt_.check_replay) check_replay(step.encoded.next_memory.value(), buf[t + 1], t);
      result.loss += w[t] * step.loss_value;
      result.tokens += step.tokens;
      md::seed_loss(tape, step, w[t]);
      const bool seeded = carried.defined() || step.loss.defined();
      if (carried.defined()) tape.seed(step.encoded.next_memory, std::move(carried));
      if (seeded) tape.backward(mark);
      carried = memory.has_grad() ? memory.grad() : Tensor<T, B>{};
      tape.rewind(mark);
      if (t + 1 < steps) buf[t + 1] = Tensor<T, B>{};  // no longer needed
    }
  }
  state = State(buf[steps]);
  result.finite = md::keep_finite_gradients(model_->parameters());
  return result;
}

}  // namespace mnemo::train

// Compiled mode (docs/compile_time.md): linking mnemo::compiled defines MNEMO_COMPILED; these
// instantiations are then compiled once, in src/compiled/, instead of in every user TU.
#if defined(MNEMO_COMPILED)
#include "mnemo/backend/cpu.hpp"

namespace mnemo::train {
extern template class Mrbp<float, Cpu>;
extern template class Mrbp<double, Cpu>;
}  // namespace mnemo::train
#endif  // MNEMO_COMPILED
