// mnemo/backend/softmax_row_mask.hpp — what SoftmaxMask means for one row of a masked softmax,
// shared by the CPU and CUDA backends (host and device): which keys are masked and the logit
// of a visible key. Row `row` of [outer, heads, rows, cols] is query r of head h of batch row o;
// key c is masked when
//   causal and c > r + query_offset, or key_padding[o·cols + c] != 0,
// and a visible key's logit is scale·x − slope_h·(r + query_offset − c) (ALiBi).
#pragma once

#include <cstdint>

#include "mnemo/backend/primitives.hpp"
#include "mnemo/core/config.hpp"

namespace mnemo {

template <class C>
struct SoftmaxRowMask {
  const uint8_t* padding;  // this batch row's key padding, or nullptr
  int64_t query_pos;       // r + query_offset
  int64_t visible_end;     // keys c < visible_end pass the causal mask (0 <= visible_end <= cols)
  C slope;                 // ALiBi slope of the head (0 without ALiBi)
  bool alibi;

  MNEMO_DEVICE_INLINE SoftmaxRowMask(const SoftmaxDims& dims, const SoftmaxMask& mask, int64_t row) {
    const int64_t r = row % dims.rows;
    const int64_t h = (row / dims.rows) % dims.heads;
    const int64_t o = row / (dims.rows * dims.heads);
    padding = mask.key_padding ? mask.key_padding + o * dims.cols : nullptr;
    query_pos = r + mask.query_offset;
    visible_end = dims.cols;
    if (mask.causal) {  // clamped to [0, cols]
      const int64_t end = query_pos + 1;
      visible_end = end < 0 ? 0 : (end < dims.cols ? end : dims.cols);
    }
    alibi = mask.alibi_slopes != nullptr;
    slope = alibi ? static_cast<C>(mask.alibi_slopes[h]) : C(0);
  }

  MNEMO_DEVICE_INLINE bool masked(int64_t c) const { return c >= visible_end || (padding && padding[c]); }
  /// The logit of visible key c whose scaled score is `scaled` (= scale·x).
  MNEMO_DEVICE_INLINE C logit(C scaled, int64_t c) const {
    return alibi ? scaled - slope * static_cast<C>(query_pos - c) : scaled;
  }
};

}  // namespace mnemo
