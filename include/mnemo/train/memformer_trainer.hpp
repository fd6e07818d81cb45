// mnemo/train/memformer_trainer.hpp — what the two Memformer trainers (train::Bptt<T, B>, the
// reference, and train::Mrbp<T, B>) share: rollout validation and the inputs of the steps
// (memformer.md §4.3). The steps themselves run through train::MemformerCell and the generic
// trainers over train::RecurrentCell (docs/mrbp.md).
#pragma once

#include <cstdint>
#include <vector>

#include "mnemo/core/error.hpp"
#include "mnemo/models/memformer.hpp"
#include "mnemo/train/cell_rollout.hpp"
#include "mnemo/train/memformer_cell.hpp"
#include "mnemo/train/rollout.hpp"

namespace mnemo::train {

namespace memformer_detail {

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
  return cell_detail::loss_weights(who, steps, weights);
}

/// The reset flags of step t (empty: no row resets).
inline const std::vector<uint8_t>& resets_at(const Resets& resets, size_t t) {
  static const std::vector<uint8_t> none;
  return resets.empty() ? none : resets[t];
}

/// The cell inputs of a rollout: step t reads segment t with the flags of step t and predicts
/// segment t+1.
template <class T, class B>
std::vector<typename MemformerCell<T, B>::Input> cell_inputs(const std::vector<Segment>& segments, const Resets& resets) {
  std::vector<typename MemformerCell<T, B>::Input> inputs(segments.size() - 1);
  for (size_t t = 0; t < inputs.size(); ++t) inputs[t] = {&segments[t], &segments[t + 1], &resets_at(resets, t)};
  return inputs;
}

/// One rollout of the Memformer through the generic trainer `Trainer<MemformerCell<T, B>>`
/// (train::Mrbp or train::Bptt): validates, advances the update index, runs, and writes M_T.
template <template <class, class> class Trainer, class T, class B>
RolloutResult rollout(const char* who, models::Memformer<T, B>& model, TrainerOptions& opt,
                      const std::vector<Segment>& segments, const Resets& resets, memory::SlotState<T, B>& state,
                      const std::vector<double>& weights) {
  const std::vector<double> w = validate_rollout(who, model, segments, resets, state, weights);
  MemformerCell<T, B> cell(model);
  Trainer<MemformerCell<T, B>, void> engine(cell, opt);
  ++opt.update_index;
  typename MemformerCell<T, B>::State s{state.slots()};
  const RolloutResult r = engine.rollout(cell_inputs<T, B>(segments, resets), s, w);
  state = memory::SlotState<T, B>(s[0]);
  return r;
}

}  // namespace memformer_detail
}  // namespace mnemo::train
