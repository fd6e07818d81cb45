// mnemo/backend/cpu/conv3_winograd.hpp — the ∞-former gate's convolution (kernel 3, zero padding
// 1, channel mixing: infinite_former.md §4) in float by Winograd's minimal filtering F(2, 3):
//   Z[t] = X[t−1] W_0 + X[t] W_1 + X[t+1] W_2            (X = 0 outside [0, L) of each row)
// Two outputs t, t+1 (t even) from d_i = X[t−1+i], i = 0..3, with four products instead of six:
//   M_0 = (d_0 − d_2) W_0                M_1 = (d_1 + d_2) (W_0 + W_1 + W_2)/2
//   M_2 = (d_2 − d_1) (W_0 − W_1 + W_2)/2    M_3 = (d_1 − d_3) W_2
//   Z[t] = M_0 + M_1 + M_2,   Z[t+1] = M_1 − M_2 − M_3
// The four products are one batched GEMM of [tiles, e] × [e, e]: 2·L·e² multiply-adds per row
// instead of the im2col GEMM's 3·L·e². The transforms use only ±1 and ½ (exact in binary), so the
// result is the direct convolution's up to float rounding of a few more additions.
#pragma once

#include <cstdint>

#include "mnemo/backend/cpu/gemm.hpp"
#include "mnemo/backend/cpu/parallel.hpp"

namespace mnemo::cpu {

/// Floats of scratch conv3_winograd needs for `batch` rows of `length` vectors of `channels`.
inline int64_t conv3_winograd_scratch(int64_t batch, int64_t length, int64_t channels) {
  const int64_t tiles = batch * ((length + 1) / 2);
  return 4 * channels * channels + 8 * tiles * channels + channels;
}

/// z [batch, length, e] = conv(x [batch, length, e]) with taps w [3e, e] (tap k in rows k·e..k·e+e−1),
/// no bias; `scratch` holds conv3_winograd_scratch(batch, length, e) floats.
inline void conv3_winograd(const float* x, const float* w, float* z, int64_t batch, int64_t length, int64_t e,
                           float* scratch) {
  if (batch <= 0 || length <= 0 || e <= 0) return;
  const int64_t per_row = (length + 1) / 2, tiles = batch * per_row, ee = e * e, te = tiles * e;
  float* u = scratch;       // [4, e, e]   transformed filters
  float* v = u + 4 * ee;    // [4, tiles, e] transformed inputs
  float* m = v + 4 * te;    // [4, tiles, e] products
  float* zeros = m + 4 * te;  // [e]: X outside the row
  for (int64_t c = 0; c < e; ++c) zeros[c] = 0.0f;
  const float *w0 = w, *w1 = w + ee, *w2 = w + 2 * ee;
  parallel_for(ee, 6, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      u[i] = w0[i];
      u[ee + i] = 0.5f * (w0[i] + w1[i] + w2[i]);
      u[2 * ee + i] = 0.5f * (w0[i] - w1[i] + w2[i]);
      u[3 * ee + i] = w2[i];
    }
  });
  parallel_for(tiles, 6 * e, [&](int64_t begin, int64_t end) {
    for (int64_t tile = begin; tile < end; ++tile) {
      const int64_t b = tile / per_row, t = 2 * (tile % per_row);
      const float* row = x + b * length * e;
      auto at = [&](int64_t s) { return s >= 0 && s < length ? row + s * e : zeros; };
      const float *p0 = at(t - 1), *p1 = at(t), *p2 = at(t + 1), *p3 = at(t + 2);
      float* v0 = v + tile * e;
      for (int64_t c = 0; c < e; ++c) {
        const float d0 = p0[c], d1 = p1[c], d2 = p2[c], d3 = p3[c];
        v0[c] = d0 - d2;
        v0[te + c] = d1 + d2;
        v0[2 * te + c] = d2 - d1;
        v0[3 * te + c] = d1 - d3;
      }
    }
  });
  gemm_strided_batched<float>(Trans::N, Trans::N, tiles, e, e, 1.0f, v, e, te, u, e, ee, 0.0f, m, e, te, 4);
  parallel_for(tiles, 4 * e, [&](int64_t begin, int64_t end) {
    for (int64_t tile = begin; tile < end; ++tile) {
      const int64_t b = tile / per_row, t = 2 * (tile % per_row);
      const float* m0 = m + tile * e;
      float* out = z + (b * length + t) * e;
      for (int64_t c = 0; c < e; ++c) out[c] = m0[c] + m0[te + c] + m0[2 * te + c];
      if (t + 1 < length)
        for (int64_t c = 0; c < e; ++c) out[e + c] = m0[te + c] - m0[2 * te + c] - m0[3 * te + c];
    }
  });
}

}  // namespace mnemo::cpu
