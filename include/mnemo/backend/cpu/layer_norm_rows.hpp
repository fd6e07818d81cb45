// mnemo/backend/cpu/layer_norm_rows.hpp — the fp32 layer-normalisation forward of a block of up to
// kLayerNormRows rows (cpu/layer_norm.hpp's formula):
//   μ = Σ_c x_c / n,  rstd = 1/sqrt(Σ_c (x_c − μ)² / n + eps),  y_c = (x_c − μ)·rstd·γ_c + β_c
// Each row's two sums add its entries in column order, one after the other, as a loop over one row
// would (the same bits); but the rows of the block advance together, so their chains of dependent
// additions interleave and the adder does not wait an addition's latency at every entry. Used by
// the float layer norm (cpu/layer_norm.hpp) and, on rows widened to fp32, by the bfloat16 one
// (cpu/elementwise_bf16.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace mnemo::cpu {

/// Rows of a layer-norm block whose sums run interleaved.
inline constexpr int64_t kLayerNormRows = 8;

namespace detail {

/// n ≤ kLayerNormRows rows of x [n, cols] (row stride cols) normalised into y (which may alias x);
/// mean[r] and rstd[r] written when not null.
inline void layer_norm_rows_f32(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                                float* rstd, int64_t n, int64_t cols, float eps) {
  constexpr int64_t kRows = kLayerNormRows;
  float sum[kRows] = {}, var[kRows] = {}, mu[kRows] = {}, rs[kRows] = {};
  if (n == kRows) {
    for (int64_t c = 0; c < cols; ++c)
      for (int64_t r = 0; r < kRows; ++r) sum[r] += x[r * cols + c];
  } else {
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < cols; ++c) sum[r] += x[r * cols + c];
  }
  for (int64_t r = 0; r < n; ++r) mu[r] = sum[r] / static_cast<float>(cols);
  if (n == kRows) {
    for (int64_t c = 0; c < cols; ++c)
      for (int64_t r = 0; r < kRows; ++r) var[r] += (x[r * cols + c] - mu[r]) * (x[r * cols + c] - mu[r]);
  } else {
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < cols; ++c) var[r] += (x[r * cols + c] - mu[r]) * (x[r * cols + c] - mu[r]);
  }
  for (int64_t r = 0; r < n; ++r) {
    rs[r] = 1.0f / std::sqrt(var[r] / static_cast<float>(cols) + eps);
    if (mean) mean[r] = mu[r];
    if (rstd) rstd[r] = rs[r];
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    for (int64_t c = 0; c < cols; ++c) yr[c] = (xr[c] - mu[r]) * rs[r] * gamma[c] + beta[c];
  }
}

}  // namespace detail
}  // namespace mnemo::cpu
