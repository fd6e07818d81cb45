// mnemo/train/memformer_cell.hpp — the Memformer as a train::RecurrentCell: one segment step is
// encoder + writer + BMN from M_t (the critical path, §4.3) and, when the step carries loss, the
// decoder's cross-entropy on the next segment. train::Mrbp<T, B> and train::Bptt<T, B> (the
// Memformer's trainers) run the generic train::Mrbp<Cell> / train::Bptt<Cell> over it.
//
// The step key k_t reaches encode() and decode() whole; the model derives "encoder" and
// "decoder" sub-streams from it, so the encoder's draws never depend on whether the decoder ran.
#pragma once

#include <cstdint>
#include <vector>

#include "mnemo/models/memformer.hpp"
#include "mnemo/train/recurrent_cell.hpp"
#include "mnemo/train/rollout.hpp"

namespace mnemo::train {

template <class T, class B>
class MemformerCell {
 public:
  using value_type = T;
  using backend = B;
  using State = CellState<T, B, 1>;  // M_t [batch, K, d]

  /// Step t reads segment s_t with the reset flags of step t and predicts s_{t+1}.
  struct Input {
    const Segment* input = nullptr;
    const Segment* target = nullptr;
    const std::vector<uint8_t>* reset = nullptr;  // one flag per row (empty: no row resets)
  };

  explicit MemformerCell(models::Memformer<T, B>& model) : model_(&model) {}

  /// M_{t+1} = BMN(Writer(M_eff, H_t)), output H_t; with the loss, the decoder's mean
  /// cross-entropy on the target segment.
  CellStep<T, B, 1> step(const CellVars<T, B, 1>& state, const Input& x, const RngKey& key, CellPart part) const {
    CellStep<T, B, 1> out;
    auto encoded = model_->encode(*x.input, state[0], *x.reset, &key);
    out.next[0] = encoded.next_memory;
    out.output = encoded.hidden;
    if (part == CellPart::WithLoss) {
      const auto logits = model_->decode(encoded.hidden, encoded.padding, *x.target, &key);
      out.losses.push_back({model_->loss(logits, *x.target, &out.tokens), 1.0});
    }
    return out;
  }

  std::vector<nn::ParameterStore<T, B>*> parameter_stores() { return {&model_->parameters()}; }

 private:
  models::Memformer<T, B>* model_;
};

}  // namespace mnemo::train
