// mnemo/train/rollout.hpp — the vocabulary every trainer shares (Memformer's MRBP and BPTT, the
// ∞-former's segment trainer): a segment of token ids for every batch row, per-row document
// resets, per-step loss weights, and what a rollout reports.
//
//   RolloutResult r = trainer.rollout(segments, resets, state, weights);
//   // gradients are now in the model's ParameterStore; state has advanced
//
// Token ids live in host memory (a data pipeline produces them there); models copy them to
// their backend.
#pragma once

#include <cstdint>
#include <vector>

#include "mnemo/core/error.hpp"
#include "mnemo/core/shape.hpp"
#include "mnemo/core/tensor.hpp"

namespace mnemo::train {

/// One segment of every batch row: ids [batch, L] and an optional padding mask [batch, L]
/// (nonzero = padding: no loss, masked as a key). Both in host memory.
struct Segment {
  Tensor<int32_t, Cpu> tokens;
  Tensor<uint8_t, Cpu> padding;  // undefined: no padding

  int64_t batch() const { return tokens.shape()[0]; }
  int64_t length() const { return tokens.shape()[1]; }
  bool has_padding() const { return padding.defined(); }
};

/// Per step, which rows start a new document (their memory is reset before the step).
using Resets = std::vector<std::vector<uint8_t>>;

struct RolloutResult {
  double loss = 0.0;       // Σ_t w_t·loss_t
  int64_t tokens = 0;      // target tokens that carried loss
  bool finite = true;      // false: a non-finite gradient was met and the gradients were zeroed
};

/// Throws ShapeError unless every segment is [batch, L] with a matching padding mask.
inline void check_segments(const char* who, const std::vector<Segment>& segments, int64_t batch, int64_t length) {
  for (size_t t = 0; t < segments.size(); ++t) {
    const std::string name = detail::cat(who, ": segment ", t, " tokens");
    check_shape(name.c_str(), segments[t].tokens.shape(), {{"batch", batch}, {"segment_length", length}});
    if (segments[t].has_padding()) {
      const std::string pname = detail::cat(who, ": segment ", t, " padding");
      check_shape(pname.c_str(), segments[t].padding.shape(), {{"batch", batch}, {"segment_length", length}});
    }
  }
}

}  // namespace mnemo::train
