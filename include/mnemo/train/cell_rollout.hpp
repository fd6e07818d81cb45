// mnemo/train/cell_rollout.hpp — what the two trainers of recurrent cells (train::Bptt<Cell>,
// the reference, and train::Mrbp<Cell>) share: their options, the RNG key of each step, the
// checks of a rollout's loss weights, the bitwise replay check and the non-finite gradient rule.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "mnemo/core/error.hpp"
#include "mnemo/core/rng.hpp"
#include "mnemo/nn/parameter_store.hpp"

namespace mnemo::train {

struct TrainerOptions {
  uint64_t seed = 0;          // dropout stream of the whole run
  int64_t update_index = 0;   // index of the next rollout; advances by one after each rollout
  bool check_replay = false;  // MRBP: throw StateError unless every replayed S_{t+1} equals phase 1's bitwise
};

namespace cell_detail {

/// The key of step t of update u: a pure function of (seed, u, t), so a replay of the step
/// draws what its first run drew. Cells derive their sub-streams (sites, parts) from it.
inline RngKey step_key(const TrainerOptions& opt, int64_t update, size_t t) {
  return RngKey{opt.seed, 0x4D656D666F726D72ull}.derive(static_cast<uint64_t>(update)).derive(static_cast<uint64_t>(t));
}

/// Checks a rollout of `steps` steps and returns the loss weight of every step (empty: 1/T).
inline std::vector<double> loss_weights(const char* who, size_t steps, const std::vector<double>& weights) {
  require<ShapeError>(steps >= 1, who, ": 0 steps given, expected T >= 1");
  require<ShapeError>(weights.empty() || weights.size() == steps, who, ": ", weights.size(),
                      " loss weights given, expected T=", steps, " (or none for 1/T)");
  std::vector<double> w = weights.empty() ? std::vector<double>(steps, 1.0 / static_cast<double>(steps)) : weights;
  for (size_t t = 0; t < w.size(); ++t)
    require<ValueError>(std::isfinite(w[t]), who, ": loss weight ", t, " = ", w[t], ", expected a finite value");
  return w;
}

/// Throws StateError unless the replayed S_{t+1} equals phase 1's bit for bit.
template <class T, class B>
void check_replay(const Tensor<T, B>& replayed, const Tensor<T, B>& stored, size_t t, size_t index, size_t count) {
  const auto a = replayed.to_host(), b = stored.to_host();
  if (a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0) return;
  throw StateError(detail::cat("Mrbp: the replay of step ", t, " produced a next state (tensor ", index, " of ", count,
                               ") that differs from phase 1's (expected bitwise equality: the next state must be a "
                               "function of the state, the input and the step's key only)"));
}

/// §4.3: if any gradient in any store is non-finite, zero them all (a partial update would be wrong).
template <class T, class B>
bool keep_finite_gradients(const std::vector<nn::ParameterStore<T, B>*>& stores) {
  int64_t bad = 0;
  for (auto* store : stores)
    for (auto& p : *store) bad += BackendTraits<B>::count_nonfinite(store->context(), p->grad.data(), p->numel());
  if (bad == 0) return true;
  for (auto* store : stores) store->zero_grad();
  return false;
}

}  // namespace cell_detail
}  // namespace mnemo::train
