// mnemo/train/infinite_former_trainer.hpp — training the ∞-former over a stream of segments
// (infinite_former.md §7, §9, §12). No gradient crosses segments: each step is recorded,
// back-propagated and rewound on its own, and the state (long-term memories, short-term cache)
// simply advances. Loss of a step = CE + λ_KL·KL (KL averaged over rows, heads and queries).
//
//   train::InfiniteFormerTrainer<float, Cpu> trainer(model, {.seed = 1});
//   trainer.set_update(u);                                // dropout keys are (seed, update, step)
//   auto r = trainer.rollout(segments, resets, state);    // gradients land in model.parameters()
//   optimizer.step(schedule(u), train::clip_factor(train::global_grad_norm(model.parameters()), 0.25));
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "mnemo/autograd/ops/arithmetic.hpp"
#include "mnemo/autograd/ops/loss.hpp"
#include "mnemo/autograd/tape.hpp"
#include "mnemo/models/infinite_former.hpp"
#include "mnemo/train/clip.hpp"
#include "mnemo/train/rollout.hpp"

namespace mnemo::train {

template <class T, class B>
class InfiniteFormerTrainer {
 public:
  using Model = models::InfiniteFormer<T, B>;
  using State = typename Model::State;
  static constexpr int32_t kIgnore = -100;  // target id that carries no loss

  struct Options {
    uint64_t seed = 0;  // dropout stream
  };
  struct StepResult {
    double loss = 0.0;   // CE + λ_KL·KL of the step (0 when no target counts)
    double ce = 0.0;     // mean cross-entropy over the counted targets
    double kl = 0.0;     // KL averaged over rows, heads and queries, summed over layers
    int64_t tokens = 0;  // targets that counted
    bool recorded = false;
  };

  explicit InfiniteFormerTrainer(Model& model, Options options = {}) : model_(&model), options_(options) {}

  /// Index of the optimizer update in progress: dropout draws are a function of (seed, update, step).
  void set_update(int64_t update) { update_ = update; }
  int64_t update() const { return update_; }

  /// Language-model rollout: segments t = 0..T (T+1 of them); step t reads segment t and predicts
  /// the next token of every position (s_t[1..], then s_{t+1}[0]); padding positions (and
  /// positions whose next token is padding) carry no loss. resets[t] (B flags) empties rows before
  /// step t. weights: T factors of each step's loss (empty: 1/T). Returns Σ_t w_t·loss_t.
  RolloutResult rollout(const std::vector<Segment>& segments, const Resets& resets, State& state,
                        const std::vector<double>& weights = {});

  /// One segment with explicit targets [batch, L] (kIgnore = no loss), training mode. Without a
  /// counted target the step runs without the tape (it only advances the state, §12). Otherwise
  /// the gradient of weight·(CE + λ_KL·KL) is accumulated into the model's parameters.
  StepResult train_step(const Segment& segment, const Tensor<int32_t, Cpu>& targets, State& state, double weight,
                        uint64_t step_index);

  /// Targets of a language-model step: the next token of every position (kIgnore at padding).
  static Tensor<int32_t, Cpu> next_token_targets(const Segment& current, const Segment& next) {
    const int64_t batch = current.batch(), len = current.length();
    Tensor<int32_t, Cpu> t(Shape{batch, len});
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t i = 0; i < len; ++i) {
        const bool last = i + 1 == len;
        const int32_t id = last ? next.tokens[b * next.length()] : current.tokens[b * len + i + 1];
        const bool pad_here = current.has_padding() && current.padding[b * len + i];
        const bool pad_next = last ? (next.has_padding() && next.padding[b * next.length()])
                                   : (current.has_padding() && current.padding[b * len + i + 1]);
        t[b * len + i] = pad_here || pad_next ? kIgnore : id;
      }
    return t;
  }

  /// Targets that carry loss at each step t of rollout(segments): the non-kIgnore entries of
  /// next_token_targets(s_t, s_{t+1}) (data-parallel step weights: dist::global_step_weights).
  static std::vector<int64_t> step_tokens(const std::vector<Segment>& segments) {
    std::vector<int64_t> counts(segments.empty() ? 0 : segments.size() - 1, 0);
    for (size_t t = 0; t < counts.size(); ++t) {
      const auto targets = next_token_targets(segments[t], segments[t + 1]);
      for (int64_t i = 0; i < targets.numel(); ++i) counts[t] += targets[i] != kIgnore ? 1 : 0;
    }
    return counts;
  }

  /// Zeroes every gradient and returns false when one is non-finite.
  bool check_finite_gradients() {
    if (std::isfinite(global_grad_norm(model_->parameters()))) return true;
    model_->parameters().zero_grad();
    return false;
  }

 private:
  double scalar(const autograd::Var<T, B>& v) const {
    T x{};
    BackendTraits<B>::copy_to_host(model_->context(), &x, v.value().data(), sizeof(T));
    return static_cast<double>(x);
  }

  Model* model_;
  Options options_;
  int64_t update_ = 0;
  bool last_step_ = false;  // rollout's last step: its sweep reports final gradients (DP overlap)
};

template <class T, class B>
auto InfiniteFormerTrainer<T, B>::rollout(const std::vector<Segment>& segments, const Resets& resets, State& state,
    const std::vector<double>& weights) -> RolloutResult {
  require<ShapeError>(segments.size() >= 2, "InfiniteFormerTrainer::rollout: ", segments.size(),
                      " segments, expected T+1 >= 2 (the last only supplies the final targets)");
  const int64_t steps = static_cast<int64_t>(segments.size()) - 1;
  check_segments("InfiniteFormerTrainer::rollout", segments, state.batch, segments[0].length());
  require<ShapeError>(static_cast<int64_t>(resets.size()) == steps || resets.empty(), "InfiniteFormerTrainer::rollout: ",
                      resets.size(), " reset vectors, expected T=", steps, " (or none)");
  require<ShapeError>(static_cast<int64_t>(weights.size()) == steps || weights.empty(), "InfiniteFormerTrainer::rollout: ",
                      weights.size(), " weights, expected T=", steps, " (or none)");
  RolloutResult result;
  for (int64_t t = 0; t < steps; ++t) {
    if (!resets.empty()) state.reset_rows(resets[static_cast<size_t>(t)]);
    const double w = weights.empty() ? 1.0 / static_cast<double>(steps) : weights[static_cast<size_t>(t)];
    const Segment& seg = segments[static_cast<size_t>(t)];
    last_step_ = t + 1 == steps;
    const StepResult r = train_step(seg, next_token_targets(seg, segments[static_cast<size_t>(t + 1)]), state, w,
                                    static_cast<uint64_t>(t));
    last_step_ = false;
    result.loss += w * r.loss;
    result.tokens += r.tokens;
  }
  result.finite = check_finite_gradients() && std::isfinite(result.loss);
  return result;
}

template <class T, class B>
auto InfiniteFormerTrainer<T, B>::train_step(const Segment& segment, const Tensor<int32_t, Cpu>& targets, State& state,
    double weight, uint64_t step_index) -> StepResult {
  check_shape("InfiniteFormerTrainer::train_step: targets", targets.shape(), {{"batch", segment.batch()}, {"length", segment.length()}});
  typename Model::StepOptions opt;
  opt.training = true;
  opt.dropout_key = RngKey{options_.seed, 0}.derive(static_cast<uint64_t>(update_)).derive(step_index);
  const Tensor<uint8_t, Cpu>* padding = segment.has_padding() ? &segment.padding : nullptr;
  StepResult r;
  for (int64_t i = 0; i < targets.numel(); ++i) r.tokens += targets[i] != kIgnore ? 1 : 0;
  if (r.tokens == 0) {
    autograd::NoGrad off;
    model_->step(segment.tokens, padding, state, opt);
    return r;
  }
  Context<B>& ctx = model_->context();
  Tensor<int32_t, B> device_targets(targets.shape(), ctx.arena());
  BackendTraits<B>::copy_from_host(ctx, device_targets.data(), targets.data(), static_cast<size_t>(targets.numel()) * sizeof(int32_t));
  autograd::Tape tape;
  if (last_step_) tape.final_sweep();
  {
    autograd::Recording on(tape);
    auto out = model_->step(segment.tokens, padding, state, opt);
    auto ce = autograd::cross_entropy(ctx, out.logits, device_targets, static_cast<const Tensor<float, B>*>(nullptr), {kIgnore, autograd::Reduction::Mean});
    const double lambda = model_->config().use_ltm ? model_->config().ltm.kl_weight : 0.0;
    auto loss = autograd::add(ctx, ce, autograd::scale(ctx, out.kl_mean, static_cast<compute_t<T>>(lambda)));
    r.ce = scalar(ce);
    r.kl = scalar(out.kl_mean);
    r.loss = scalar(loss);
    r.recorded = true;
    tape.backward(loss, static_cast<T>(weight));
  }
  return r;
}

}  // namespace mnemo::train

// Compiled mode (docs/compile_time.md): linking mnemo::compiled defines MNEMO_COMPILED; these
// instantiations are then compiled once, in src/compiled/, instead of in every user TU.
#if defined(MNEMO_COMPILED)
#include "mnemo/backend/cpu.hpp"

namespace mnemo::train {
extern template class InfiniteFormerTrainer<float, Cpu>;
extern template class InfiniteFormerTrainer<double, Cpu>;
}  // namespace mnemo::train
#endif  // MNEMO_COMPILED
