// mnemo/train/memformer_trainer.hpp — what the two Memformer trainers (train::Bptt, the
// reference, and train::Mrbp) share: their options, the RNG key of each segment step, rollout
// validation, one recorded segment step, and the non-finite gradient rule (memformer.md §4.3).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "mnemo/autograd/tape.hpp"
#include "mnemo/core/error.hpp"
#include "mnemo/core/rng.hpp"
#include "mnemo/models/memformer.hpp"
#include "mnemo/train/rollout.hpp"

namespace mnemo::train {

struct TrainerOptions {
  uint64_t seed = 0;          // dropout stream of the whole run
  int64_t update_index = 0;   // index of the next rollout; advances by one after each rollout
  bool check_replay = false;  // MRBP: throw StateError unless every replayed M_{t+1} equals phase 1's bitwise
};

namespace memformer_detail {

/// The dropout key of segment step t of update u: a pure function of (seed, u, t). The model
/// derives the encoder's and the decoder's sub-streams from it, so the encoder's draws never
/// depend on whether the decoder ran (§4.3).
inline RngKey step_key(const TrainerOptions& opt, int64_t update, size_t t) {
  return RngKey{opt.seed, 0x4D656D666F726D72ull}.derive(static_cast<uint64_t>(update)).derive(static_cast<uint64_t>(t));
}

/// Checks a rollout's arguments and returns the loss weight of every step (empty: 1/T).
template <class T, class B>
std::vector<double> validate_rollout(const char* who, const models::Memformer<T, B>& model,
                                     const std::vector<Segment>& segments, const Resets& resets,
                                     const memory::SlotState<T, B>& state, const std::vector<double>& weights) {
  require<ShapeError>(segments.size() >= 2, who, ": ", segments.size(),
                      " segment(s) given, expected T+1 >= 2 (step t reads segment t and predicts segment t+1)");
  const size_t steps = segments.size() - 1;
  const int64_t batch = segments[0].tokens.rank() == 2 ? segments[0].batch() : -1;
  check_segments(who, segments, batch, model.config().segment_length);
  state.check(who, batch, model.config().slots, model.config().d_model);
  require<ShapeError>(resets.empty() || resets.size() == steps, who, ": resets hold ", resets.size(),
                      " steps, expected T=", steps, " (or none)");
  for (size_t t = 0; t < resets.size(); ++t)
    require<ShapeError>(static_cast<int64_t>(resets[t].size()) == batch, who, ": resets[", t, "] has ",
                        resets[t].size(), " flags, expected batch=", batch);
  require<ShapeError>(weights.empty() || weights.size() == steps, who, ": ", weights.size(),
                      " loss weights given, expected T=", steps, " (or none for 1/T)");
  std::vector<double> w = weights.empty() ? std::vector<double>(steps, 1.0 / static_cast<double>(steps)) : weights;
  for (size_t t = 0; t < w.size(); ++t)
    require<ValueError>(std::isfinite(w[t]), who, ": loss weight ", t, " = ", w[t], ", expected a finite value");
  return w;
}

/// The reset flags of step t (empty: no row resets).
inline const std::vector<uint8_t>& resets_at(const Resets& resets, size_t t) {
  static const std::vector<uint8_t> none;
  return resets.empty() ? none : resets[t];
}

/// One segment step as the trainers record it: encoder + writer from `memory`, and the decoder
/// loss of the next segment when `weight` is nonzero (seeded with `weight`).
template <class T, class B>
struct RecordedStep {
  typename models::Memformer<T, B>::Encoded encoded;
  autograd::Var<T, B> loss;  // undefined when the step carries no loss
  double loss_value = 0;
  int64_t tokens = 0;
};

template <class T, class B>
RecordedStep<T, B> record_step(const models::Memformer<T, B>& model, const Segment& input, const Segment& target,
                               const autograd::Var<T, B>& memory, const std::vector<uint8_t>& reset,
                               const RngKey& key, double weight) {
  RecordedStep<T, B> s;
  s.encoded = model.encode(input, memory, reset, &key);
  if (weight != 0.0) {
    s.loss = model.loss(model.decode(s.encoded.hidden, s.encoded.padding, target, &key), target, &s.tokens);
    s.loss_value = static_cast<double>(s.loss.value().to_host()[0]);
  }
  return s;
}

/// Seeds d(loss)/d(loss) = weight on the active tape.
template <class T, class B>
void seed_loss(autograd::Tape& tape, const RecordedStep<T, B>& s, double weight) {
  if (s.loss.defined() && s.loss.requires_grad())
    tape.seed(s.loss, Tensor<T, B>::full(s.loss.shape(), static_cast<T>(weight)));
}

/// §4.3: if any gradient is non-finite, zero them all (a partial update would be wrong).
template <class T, class B>
bool keep_finite_gradients(nn::ParameterStore<T, B>& store) {
  int64_t bad = 0;
  for (auto& p : store) bad += BackendTraits<B>::count_nonfinite(store.context(), p->grad.data(), p->numel());
  if (bad == 0) return true;
  store.zero_grad();
  return false;
}

}  // namespace memformer_detail
}  // namespace mnemo::train
