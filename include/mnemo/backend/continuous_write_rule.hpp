// mnemo/backend/continuous_write_rule.hpp — the per-row decisions of an ∞-former long-term-memory
// write (infinite_former.md §5.1, §5.2, §15), shared by the CPU (ContinuousMemory::write_forward)
// and the CUDA streaming step (models/infinite_former_stream.cuh: one thread per row, the row
// state in device memory). For one row of the batch, with `valid` = the segment's non-padding
// tokens:
//   reset  = reset_every > 0 and tokens_written ≥ reset_every   (the row is emptied first)
//   mode   = Skip      when valid = 0             (the row keeps its memory)
//            First     when the row holds none    B = G_Lᵀ X̃
//            Contract  otherwise                  B = G_newᵀ X̃ + G_oldᵀ Ψ_s B_prev
//   after  has_memory = 1 and tokens_written += valid unless Skip
// and the source of the row's new coefficients: the previous ones (Skip), zeros (Skip after a
// reset), the first fit or the contraction.
#pragma once

#include <cstdint>

#include "mnemo/core/config.hpp"

namespace mnemo {

/// How a row's coefficients are produced by a write.
enum class ContinuousWriteMode : uint8_t { Skip, First, Contract };

/// Where a row's new coefficients come from (the streaming step selects them per row).
enum class ContinuousWriteSource : uint8_t { Previous, Zero, Fit, Contraction };

/// Tokens of a row's segment that are not padding (`padding` nonzero = padding; may be null).
MNEMO_DEVICE_INLINE int64_t continuous_write_valid(const uint8_t* padding, int64_t length) {
  int64_t valid = length;
  if (padding)
    for (int64_t t = 0; t < length; ++t) valid -= padding[t] != 0 ? 1 : 0;
  return valid;
}

/// Whether a row is emptied before the write (reset_every = 0: never).
MNEMO_DEVICE_INLINE bool continuous_write_resets(int64_t tokens_written, int64_t reset_every) {
  return reset_every > 0 && tokens_written >= reset_every;
}

/// The row's write mode from its valid tokens and whether it holds a memory (after any reset).
MNEMO_DEVICE_INLINE ContinuousWriteMode continuous_write_mode(int64_t valid, bool has_memory) {
  if (valid == 0) return ContinuousWriteMode::Skip;
  return has_memory ? ContinuousWriteMode::Contract : ContinuousWriteMode::First;
}

/// The row state after a write in `mode`.
MNEMO_DEVICE_INLINE void continuous_write_advance(ContinuousWriteMode mode, int64_t valid, uint8_t& has_memory,
                                                  int64_t& tokens_written) {
  if (mode == ContinuousWriteMode::Skip) return;
  has_memory = 1;
  tokens_written += valid;
}

/// One whole row decision: applies the reset, picks the mode, advances (has_memory,
/// tokens_written) in place and returns where the new coefficients come from.
MNEMO_DEVICE_INLINE ContinuousWriteSource continuous_write_row(int64_t valid, int64_t reset_every, uint8_t& has_memory,
                                                               int64_t& tokens_written) {
  const bool reset = continuous_write_resets(tokens_written, reset_every);
  if (reset) {
    has_memory = 0;
    tokens_written = 0;
  }
  const ContinuousWriteMode mode = continuous_write_mode(valid, has_memory != 0);
  continuous_write_advance(mode, valid, has_memory, tokens_written);
  switch (mode) {
    case ContinuousWriteMode::Skip:
      return reset ? ContinuousWriteSource::Zero : ContinuousWriteSource::Previous;
    case ContinuousWriteMode::First:
      return ContinuousWriteSource::Fit;
    default:
      return ContinuousWriteSource::Contraction;
  }
}

}  // namespace mnemo
