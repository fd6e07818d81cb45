// mnemo/backend/memformer_writer_rule.hpp — the per-entry rules of Memformer's slot-attention
// writer (memformer.md §2.4, §3), shared by the CPU and CUDA backends (host and device). A slot's
// probability row has 1 + L columns: column 0 is the slot's self logit, column c ≥ 1 is token
// c − 1, masked where that token is padding (the self column never is, so a row always has a
// visible entry). With g = dm'_i and dp the gradient of the probabilities,
//   dz_{i,c} = scale·p_{i,c}·(dp_{i,c} − <p_i, dp_i>)        (softmax backward with the logit scale)
#pragma once

#include <cstdint>

#include "mnemo/core/config.hpp"

namespace mnemo {

/// Whether column c of a writer probability row is masked; `padding` is the batch row's token
/// padding [tokens] (nullable, nonzero = padding).
MNEMO_DEVICE_INLINE bool writer_column_masked(const uint8_t* padding, int64_t c) {
  return c > 0 && padding != nullptr && padding[c - 1] != 0;
}

/// dz of one entry from its probability p, its gradient dp and the row's <p, dp>.
template <class A>
MNEMO_DEVICE_INLINE A writer_logit_grad(A scale, A p, A dp, A row_dot) {
  return scale * p * (dp - row_dot);
}

}  // namespace mnemo
