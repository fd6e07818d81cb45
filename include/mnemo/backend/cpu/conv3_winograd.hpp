// mnemo/backend/cpu/conv3_winograd.hpp — the ∞-former gate's convolution (kernel 3, zero padding
// 1, channel mixing: infinite_former.md §4) in float by Winograd's minimal filtering F(4, 3):
//   Z[t] = X[t−1] W_0 + X[t] W_1 + X[t+1] W_2            (X = 0 outside [0, L) of each row)
// Four outputs t..t+3 (t a multiple of 4) from d_i = X[t−1+i], i = 0..5, with six products
// instead of twelve (interpolation points 0, ±1, ±2, ∞; Lavin & Gray 2016):
//   M_i = (Bᵀd)_i · Ŵ_i,   Ŵ_i = Σ_k G[i][k] W_k,   Z[t+o] = Σ_i Aᵀ[o][i] M_i
//   Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1]
//   G  = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1/24 1/12 ⅙; 1/24 −1/12 ⅙; 0 0 1]
//   Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1]
// The six products are one batched GEMM of [tiles, e] × [e, e]: 1.5·L·e² multiply-adds per row
// instead of the im2col GEMM's 3·L·e² (F(2, 3), used before, needed 2·L·e²). The transforms
// round a few more times than the direct sum: about 1e-6 relative in float against 3e-7 direct
// (tests/cpu/test_infinite_former_kernels.cpp compares both with the double convolution).
//
// bfloat16 (the bf16 ∞-former) uses F(2, 3) instead, its four products one bf16 GEMM with fp32
// sums (cpu/gemm_bf16.hpp): 2·L·e² multiply-adds per row instead of the im2col GEMM's 3·L·e²,
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],
//   Aᵀ = [1 1 1 0; 0 1 −1 −1].
// The transformed inputs and filters are rounded to bf16 to enter that GEMM; with coefficients ±1
// and ½ this adds little: in a float64 simulation at e = 512 the largest error was 4.2e-3 of the
// largest output, against 3.3e-3 for the direct sum rounded once. F(4, 3)'s coefficients (up to 5
// in Bᵀ, 8 in Aᵀ) gave 1.0e-2 there, so bf16 does not use it. Transforms, sums, bias and the
// rounding of each output (once, cpu/elementwise_bf16.hpp) are in fp32.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "mnemo/backend/cpu/elementwise_bf16.hpp"
#include "mnemo/backend/cpu/gemm.hpp"
#include "mnemo/backend/cpu/gemm_bf16.hpp"
#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/backend/cpu/thread_scratch.hpp"
#include "mnemo/core/bfloat16_fwd.hpp"

namespace mnemo::cpu {

/// Floats of scratch conv3_winograd needs for `batch` rows of `length` vectors of `channels`: for
/// T = float (F(4, 3)), or T = bfloat16 (F(2, 3); its bf16 operands are stored in the same buffer).
template <class T = float>
inline int64_t conv3_winograd_scratch(int64_t batch, int64_t length, int64_t channels) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, bfloat16>, "conv3_winograd: float or bfloat16");
  if constexpr (std::is_same_v<T, float>) {
    const int64_t tiles = batch * ((length + 3) / 4);
    return 6 * channels * channels + 12 * tiles * channels + channels;
  } else {
    const int64_t tiles = batch * ((length + 1) / 2);
    // Ŵ [4, e, e] and V [4, tiles, e] in bf16 (two per float, rounded up), M [4, tiles, e] in fp32.
    return (4 * channels * channels + 1) / 2 + (4 * tiles * channels + 1) / 2 + 4 * tiles * channels;
  }
}

/// z [batch, length, e] = conv(x [batch, length, e]) with taps w [3e, e] (tap k in rows k·e..k·e+e−1),
/// plus bias [e] when it is given (added to each finished sum, as a separate pass would: the same
/// bits, one pass over z fewer); `scratch` holds conv3_winograd_scratch(batch, length, e) floats.
inline void conv3_winograd(const float* x, const float* w, float* z, int64_t batch, int64_t length, int64_t e,
                           float* scratch, const float* bias = nullptr) {
  if (batch <= 0 || length <= 0 || e <= 0) return;
  const int64_t per_row = (length + 3) / 4, tiles = batch * per_row, ee = e * e, te = tiles * e;
  float* u = scratch;         // [6, e, e]     transformed filters Ŵ_i
  float* v = u + 6 * ee;      // [6, tiles, e] transformed inputs (Bᵀd)_i
  float* m = v + 6 * te;      // [6, tiles, e] products M_i
  float* zeros = m + 6 * te;  // [e]: X outside the row
  for (int64_t c = 0; c < e; ++c) zeros[c] = 0.0f;
  float* no_bias = zeros;  // a zero bias adds nothing: x + 0 = x exactly
  const float* add = bias ? bias : no_bias;
  const float *w0 = w, *w1 = w + ee, *w2 = w + 2 * ee;
  parallel_for(ee, 12, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float g0 = w0[i], g1 = w1[i], g2 = w2[i], even = g0 + g2;
      u[i] = 0.25f * g0;
      u[ee + i] = -(even + g1) / 6.0f;
      u[2 * ee + i] = -(even - g1) / 6.0f;
      u[3 * ee + i] = (g0 + 2.0f * g1 + 4.0f * g2) / 24.0f;
      u[4 * ee + i] = (g0 - 2.0f * g1 + 4.0f * g2) / 24.0f;
      u[5 * ee + i] = g2;
    }
  });
  parallel_for(tiles, 14 * e, [&](int64_t begin, int64_t end) {
    for (int64_t tile = begin; tile < end; ++tile) {
      const int64_t b = tile / per_row, t = 4 * (tile % per_row);
      const float* row = x + b * length * e;
      auto at = [&](int64_t s) { return s >= 0 && s < length ? row + s * e : zeros; };
      const float *p0 = at(t - 1), *p1 = at(t), *p2 = at(t + 1), *p3 = at(t + 2), *p4 = at(t + 3), *p5 = at(t + 4);
      float* v0 = v + tile * e;
      for (int64_t c = 0; c < e; ++c) {
        const float d0 = p0[c], d1 = p1[c], d2 = p2[c], d3 = p3[c], d4 = p4[c], d5 = p5[c];
        v0[c] = 4.0f * d0 - 5.0f * d2 + d4;
        v0[te + c] = -4.0f * (d1 + d2) + d3 + d4;
        v0[2 * te + c] = 4.0f * (d1 - d2) - d3 + d4;
        v0[3 * te + c] = 2.0f * (d3 - d1) - d2 + d4;
        v0[4 * te + c] = 2.0f * (d1 - d3) - d2 + d4;
        v0[5 * te + c] = 4.0f * d1 - 5.0f * d3 + d5;
      }
    }
  });
  gemm_strided_batched<float>(Trans::N, Trans::N, tiles, e, e, 1.0f, v, e, te, u, e, ee, 0.0f, m, e, te, 6);
  parallel_for(tiles, 12 * e, [&](int64_t begin, int64_t end) {
    for (int64_t tile = begin; tile < end; ++tile) {
      const int64_t b = tile / per_row, t = 4 * (tile % per_row), outputs = length - t < 4 ? length - t : 4;
      const float *m0 = m + tile * e, *m1 = m0 + te, *m2 = m1 + te, *m3 = m2 + te, *m4 = m3 + te, *m5 = m4 + te;
      float* out = z + (b * length + t) * e;
      if (outputs == 4) {
        for (int64_t c = 0; c < e; ++c) {
          const float s12 = m1[c] + m2[c], d12 = m1[c] - m2[c], s34 = m3[c] + m4[c], d34 = m3[c] - m4[c];
          out[c] = (m0[c] + s12 + s34) + add[c];
          out[e + c] = (d12 + 2.0f * d34) + add[c];
          out[2 * e + c] = (s12 + 4.0f * s34) + add[c];
          out[3 * e + c] = (d12 + 8.0f * d34 + m5[c]) + add[c];
        }
        continue;
      }
      for (int64_t c = 0; c < e; ++c) {  // the last tile of a row: 1..3 outputs
        const float s12 = m1[c] + m2[c], d12 = m1[c] - m2[c], s34 = m3[c] + m4[c], d34 = m3[c] - m4[c];
        const float y[4] = {m0[c] + s12 + s34, d12 + 2.0f * d34, s12 + 4.0f * s34, d12 + 8.0f * d34 + m5[c]};
        for (int64_t o = 0; o < outputs; ++o) out[o * e + c] = y[o] + add[c];
      }
    }
  });
}

/// The same convolution on bfloat16 x [batch, length, e], taps w [3e, e], bias [e] (nullable) and
/// z, by F(2, 3) (the file comment): z = each fp32 sum (bias included) rounded once to bfloat16.
/// `scratch` holds conv3_winograd_scratch<bfloat16>(batch, length, e) floats. (A template only so
/// that bfloat16 need not be a complete type where this header is included.)
template <class T>
  requires std::is_same_v<T, bfloat16>
void conv3_winograd(const T* x, const T* w, T* z, int64_t batch, int64_t length, int64_t e, float* scratch,
                    const T* bias = nullptr) {
  if (batch <= 0 || length <= 0 || e <= 0) return;
  const int64_t per_row = (length + 1) / 2, tiles = batch * per_row, ee = e * e, te = tiles * e;
  float* m = scratch;                                              // [4, tiles, e] products M_i, fp32
  T* u = reinterpret_cast<T*>(m + 4 * te);                         // [4, e, e] transformed filters Ŵ_i
  T* v = u + 4 * ee;                                               // [4, tiles, e] transformed inputs (Bᵀd)_i
  // Ŵ = G W: Ŵ_0 = W_0 and Ŵ_3 = W_2 as they are; Ŵ_1, Ŵ_2 = (W_0 ± W_1 + W_2)/2 in fp32 from the
  // widened taps, rounded to bf16.
  std::memcpy(u, w, static_cast<size_t>(ee) * sizeof(T));
  std::memcpy(u + 3 * ee, w + 2 * ee, static_cast<size_t>(ee) * sizeof(T));
  parallel_for(e, 8 * e, [&](int64_t begin, int64_t end) {
    float* g = detail::thread_scratch<float, detail::ScratchSlot::RowA>(3 * e);
    for (int64_t r = begin; r < end; ++r) {
      bf16_rows::widen(w + r * e, g, e);
      bf16_rows::widen(w + ee + r * e, g + e, e);
      bf16_rows::widen(w + 2 * ee + r * e, g + 2 * e, e);
      for (int64_t c = 0; c < e; ++c) {
        const float even = g[c] + g[2 * e + c], odd = g[e + c];
        g[c] = 0.5f * (even + odd);      // Ŵ_1, over W_0
        g[e + c] = 0.5f * (even - odd);  // Ŵ_2, over W_1
      }
      bf16_rows::narrow(g, u + ee + r * e, e);
      bf16_rows::narrow(g + e, u + 2 * ee + r * e, e);
    }
  });
  // V = Bᵀ d per tile of two outputs, d_i = X[t−1+i] (0 outside the row), in fp32, rounded to bf16.
  parallel_for(tiles, 10 * e, [&](int64_t begin, int64_t end) {
    float* d = detail::thread_scratch<float, detail::ScratchSlot::RowA>(8 * e);
    float* out = d + 4 * e;
    for (int64_t tile = begin; tile < end; ++tile) {
      const int64_t b = tile / per_row, t = 2 * (tile % per_row);
      for (int64_t i = 0; i < 4; ++i) {
        const int64_t s = t - 1 + i;
        if (s >= 0 && s < length)
          bf16_rows::widen(x + (b * length + s) * e, d + i * e, e);
        else
          for (int64_t c = 0; c < e; ++c) d[i * e + c] = 0.0f;
      }
      for (int64_t c = 0; c < e; ++c) {
        const float d0 = d[c], d1 = d[e + c], d2 = d[2 * e + c], d3 = d[3 * e + c];
        out[c] = d0 - d2;
        out[e + c] = d1 + d2;
        out[2 * e + c] = d2 - d1;
        out[3 * e + c] = d1 - d3;
      }
      for (int64_t i = 0; i < 4; ++i) bf16_rows::narrow(out + i * e, v + i * te + tile * e, e);
    }
  });
  gemm_bf16_strided_batched<float>(Trans::N, Trans::N, tiles, e, e, 1.0f, v, e, te, u, e, ee, 0.0f, m, e, te, 4);
  // Z[t] = M_0 + M_1 + M_2, Z[t+1] = M_1 − M_2 − M_3, plus the bias, rounded once.
  parallel_for(tiles, 6 * e, [&](int64_t begin, int64_t end) {
    float* add = detail::thread_scratch<float, detail::ScratchSlot::RowA>(3 * e);
    float* out = add + e;
    if (bias)
      bf16_rows::widen(bias, add, e);
    else
      for (int64_t c = 0; c < e; ++c) add[c] = 0.0f;
    for (int64_t tile = begin; tile < end; ++tile) {
      const int64_t b = tile / per_row, t = 2 * (tile % per_row), outputs = length - t < 2 ? 1 : 2;
      const float *m0 = m + tile * e, *m1 = m0 + te, *m2 = m1 + te, *m3 = m2 + te;
      for (int64_t c = 0; c < e; ++c) {
        out[c] = (m0[c] + m1[c] + m2[c]) + add[c];
        out[e + c] = (m1[c] - m2[c] - m3[c]) + add[c];
      }
      bf16_rows::narrow(out, z + (b * length + t) * e, outputs * e);
    }
  });
}

}  // namespace mnemo::cpu
