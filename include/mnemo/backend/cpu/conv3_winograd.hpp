// mnemo/backend/cpu/conv3_winograd.hpp — the ∞-former gate's convolution (kernel 3, zero padding
// 1, channel mixing: infinite_former.md §4) in float by Winograd's minimal filtering F(r, 3):
//   Z[t] = X[t−1] W_0 + X[t] W_1 + X[t+1] W_2            (X = 0 outside [0, L) of each row)
// r outputs t..t+r−1 (t a multiple of r) from d_i = X[t−1+i], i = 0..r+1, with r + 2 products
// instead of 3r (Lavin & Gray 2016):
//   M_i = (Bᵀd)_i · Ŵ_i,   Ŵ_i = Σ_k G[i][k] W_k,   Z[t+o] = Σ_i Aᵀ[o][i] M_i
// F(4, 3), interpolation points 0, ±1, ±2, ∞:
//   Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1]
//   G  = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1/24 1/12 ⅙; 1/24 −1/12 ⅙; 0 0 1]
//   Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1]
// F(6, 3), points 0, ±1, ±2, ±½, ∞ (rows of Bᵀ over d_0..d_7, of Aᵀ over M_0..M_7):
//   Bᵀ = [1 0 −21/4 0 21/4 0 −1 0; 0 1 1 −17/4 −17/4 1 1 0; 0 −1 1 17/4 −17/4 −1 1 0;
//         0 ½ ¼ −5/2 −5/4 2 1 0; 0 −½ ¼ 5/2 −5/4 −2 1 0; 0 2 4 −5/2 −5 ½ 1 0;
//         0 −2 4 5/2 −5 −½ 1 0; 0 −1 0 21/4 0 −21/4 0 1]
//   G  = [1 0 0; −2/9 −2/9 −2/9; −2/9 2/9 −2/9; 1/90 1/45 2/45; 1/90 −1/45 2/45;
//         32/45 16/45 8/45; 32/45 −16/45 8/45; 0 0 1]
//   Aᵀ = [1 1 1 1 1 1 1 0; 0 1 −1 2 −2 ½ −½ 0; 0 1 1 4 4 ¼ ¼ 0; 0 1 −1 8 −8 ⅛ −⅛ 0;
//         0 1 1 16 16 1/16 1/16 0; 0 1 −1 32 −32 1/32 −1/32 1]
// The r + 2 products are one batched GEMM of [tiles, e] × [e, e]: per row of L vectors,
// 8·⌈L/6⌉ (F(6, 3)) or 6·⌈L/4⌉ (F(4, 3)) products of e × e, whichever is fewer
// (conv3_winograd_uses_f63; at L = 512: 688 against 768), instead of the im2col GEMM's 3L. The
// transforms round a few more times than the direct sum: in a float32 simulation at L = e = 512
// the largest error was 2.5e-6 of the largest output for F(6, 3), 2.1e-6 for F(4, 3), 4.6e-7 for
// the direct sum (F(8, 3), whose points reach ±3 or ±4: 3–5e-5, so not used);
// tests/cpu/test_infinite_former_kernels.cpp compares both tile sizes with the double convolution.
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

#include <algorithm>
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

namespace detail {

/// F(4, 3): four outputs from six products (interpolation points 0, ±1, ±2, ∞).
struct WinogradF43 {
  static constexpr int64_t outputs = 4, points = 6;
  /// Ŵ_i = Σ_k G[i][k] W_k for one element of the three taps (u[i·ee] is Ŵ_i's element).
  static void filter(float g0, float g1, float g2, float* u, int64_t ee) {
    const float even = g0 + g2;
    u[0] = 0.25f * g0;
    u[ee] = -(even + g1) / 6.0f;
    u[2 * ee] = -(even - g1) / 6.0f;
    u[3 * ee] = (g0 + 2.0f * g1 + 4.0f * g2) / 24.0f;
    u[4 * ee] = (g0 - 2.0f * g1 + 4.0f * g2) / 24.0f;
    u[5 * ee] = g2;
  }
  /// (Bᵀd)_i for the channels [0, e) of d_i = p[i] into v[i·te ..].
  static void input(const float* const p[points], float* v, int64_t te, int64_t e) {
    MNEMO_NO_ALIAS_LOOP
    for (int64_t c = 0; c < e; ++c) {
      const float d0 = p[0][c], d1 = p[1][c], d2 = p[2][c], d3 = p[3][c], d4 = p[4][c], d5 = p[5][c];
      v[c] = 4.0f * d0 - 5.0f * d2 + d4;
      v[te + c] = -4.0f * (d1 + d2) + d3 + d4;
      v[2 * te + c] = 4.0f * (d1 - d2) - d3 + d4;
      v[3 * te + c] = 2.0f * (d3 - d1) - d2 + d4;
      v[4 * te + c] = 2.0f * (d1 - d3) - d2 + d4;
      v[5 * te + c] = 4.0f * d1 - 5.0f * d3 + d5;
    }
  }
  /// The tile's outputs y = Aᵀ M at channel c (M_i at m[i·te + c]).
  static void outputs_at(const float* m, int64_t te, int64_t c, float y[outputs]) {
    const float s12 = m[te + c] + m[2 * te + c], d12 = m[te + c] - m[2 * te + c];
    const float s34 = m[3 * te + c] + m[4 * te + c], d34 = m[3 * te + c] - m[4 * te + c];
    y[0] = m[c] + s12 + s34;
    y[1] = d12 + 2.0f * d34;
    y[2] = s12 + 4.0f * s34;
    y[3] = d12 + 8.0f * d34 + m[5 * te + c];
  }
};

/// F(6, 3): six outputs from eight products (interpolation points 0, ±1, ±2, ±½, ∞).
struct WinogradF63 {
  static constexpr int64_t outputs = 6, points = 8;
  static void filter(float g0, float g1, float g2, float* u, int64_t ee) {
    const float even = g0 + g2;
    u[0] = g0;
    u[ee] = -2.0f * (even + g1) / 9.0f;
    u[2 * ee] = -2.0f * (even - g1) / 9.0f;
    u[3 * ee] = (g0 + 2.0f * g1 + 4.0f * g2) / 90.0f;
    u[4 * ee] = (g0 - 2.0f * g1 + 4.0f * g2) / 90.0f;
    u[5 * ee] = 8.0f * (4.0f * g0 + 2.0f * g1 + g2) / 45.0f;
    u[6 * ee] = 8.0f * (4.0f * g0 - 2.0f * g1 + g2) / 45.0f;
    u[7 * ee] = g2;
  }
  static void input(const float* const p[points], float* v, int64_t te, int64_t e) {
    MNEMO_NO_ALIAS_LOOP
    for (int64_t c = 0; c < e; ++c) {
      const float d0 = p[0][c], d1 = p[1][c], d2 = p[2][c], d3 = p[3][c], d4 = p[4][c], d5 = p[5][c],
                  d6 = p[6][c], d7 = p[7][c];
      const float e1 = d2 + d6 - 4.25f * d4, o1 = d1 + d5 - 4.25f * d3;        // points ±1
      const float e2 = 0.25f * d2 - 1.25f * d4 + d6, o2 = 0.5f * d1 - 2.5f * d3 + 2.0f * d5;  // ±½
      const float e3 = 4.0f * d2 - 5.0f * d4 + d6, o3 = 2.0f * d1 - 2.5f * d3 + 0.5f * d5;    // ±2
      v[c] = (d0 - d6) + 5.25f * (d4 - d2);
      v[te + c] = e1 + o1;
      v[2 * te + c] = e1 - o1;
      v[3 * te + c] = e2 + o2;
      v[4 * te + c] = e2 - o2;
      v[5 * te + c] = e3 + o3;
      v[6 * te + c] = e3 - o3;
      v[7 * te + c] = (d7 - d1) + 5.25f * (d3 - d5);
    }
  }
  static void outputs_at(const float* m, int64_t te, int64_t c, float y[outputs]) {
    const float s1 = m[te + c] + m[2 * te + c], d1 = m[te + c] - m[2 * te + c];
    const float s2 = m[3 * te + c] + m[4 * te + c], d2 = m[3 * te + c] - m[4 * te + c];
    const float s3 = m[5 * te + c] + m[6 * te + c], d3 = m[5 * te + c] - m[6 * te + c];
    y[0] = m[c] + s1 + s2 + s3;
    y[1] = d1 + 2.0f * d2 + 0.5f * d3;
    y[2] = s1 + 4.0f * s2 + 0.25f * s3;
    y[3] = d1 + 8.0f * d2 + 0.125f * d3;
    y[4] = s1 + 16.0f * s2 + 0.0625f * s3;
    y[5] = d1 + 32.0f * d2 + 0.03125f * d3 + m[7 * te + c];
  }
};

/// Floats of scratch for Tile: Ŵ [points, e, e], V and M [points, tiles, e], a zero row [e].
template <class Tile>
int64_t conv3_winograd_tile_scratch(int64_t batch, int64_t length, int64_t e) {
  const int64_t tiles = batch * ((length + Tile::outputs - 1) / Tile::outputs);
  return Tile::points * e * e + 2 * Tile::points * tiles * e + e;
}

/// The float convolution by one tile size (conv3_winograd below picks it).
template <class Tile>
void conv3_winograd_tiles(const float* x, const float* w, float* z, int64_t batch, int64_t length, int64_t e,
                          float* scratch, const float* bias) {
  constexpr int64_t n = Tile::points, r = Tile::outputs;
  const int64_t per_row = (length + r - 1) / r, tiles = batch * per_row, ee = e * e, te = tiles * e;
  float* u = scratch;         // [n, e, e]     transformed filters Ŵ_i
  float* v = u + n * ee;      // [n, tiles, e] transformed inputs (Bᵀd)_i
  float* m = v + n * te;      // [n, tiles, e] products M_i
  float* zeros = m + n * te;  // [e]: X outside the row
  for (int64_t c = 0; c < e; ++c) zeros[c] = 0.0f;
  const float* add = bias ? bias : zeros;  // a zero bias adds nothing: x + 0 = x exactly
  parallel_for(ee, 2 * n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) Tile::filter(w[i], w[ee + i], w[2 * ee + i], u + i, ee);
  });
  parallel_for(tiles, (2 * n + 2) * e, [&](int64_t begin, int64_t end) {
    for (int64_t tile = begin; tile < end; ++tile) {
      const int64_t b = tile / per_row, t = r * (tile % per_row);
      const float* p[n];
      for (int64_t i = 0; i < n; ++i) {
        const int64_t s = t - 1 + i;
        p[i] = s >= 0 && s < length ? x + (b * length + s) * e : zeros;
      }
      Tile::input(p, v + tile * e, te, e);
    }
  });
  gemm_strided_batched<float>(Trans::N, Trans::N, tiles, e, e, 1.0f, v, e, te, u, e, ee, 0.0f, m, e, te, n);
  parallel_for(tiles, 2 * n * e, [&](int64_t begin, int64_t end) {
    for (int64_t tile = begin; tile < end; ++tile) {
      const int64_t b = tile / per_row, t = r * (tile % per_row);
      const float* mt = m + tile * e;
      float* out = z + (b * length + t) * e;
      const int64_t count = std::min(r, length - t);
      if (count == r) {
        MNEMO_NO_ALIAS_LOOP
        for (int64_t c = 0; c < e; ++c) {
          float y[r];
          Tile::outputs_at(mt, te, c, y);
          for (int64_t o = 0; o < r; ++o) out[o * e + c] = y[o] + add[c];
        }
        continue;
      }
      for (int64_t c = 0; c < e; ++c) {  // the last tile of a row: fewer outputs
        float y[r];
        Tile::outputs_at(mt, te, c, y);
        for (int64_t o = 0; o < count; ++o) out[o * e + c] = y[o] + add[c];
      }
    }
  });
}

}  // namespace detail

/// Whether the float convolution of rows of `length` takes F(6, 3): when its products, 8 per six
/// outputs, are fewer than F(4, 3)'s 6 per four (each tile counted whole, the last of a row too).
inline bool conv3_winograd_uses_f63(int64_t length) {
  return 8 * ((length + 5) / 6) < 6 * ((length + 3) / 4);
}

/// Floats of scratch conv3_winograd needs for `batch` rows of `length` vectors of `channels`: for
/// T = float (F(6, 3) or F(4, 3)), or T = bfloat16 (F(2, 3); its bf16 operands are stored in the
/// same buffer).
template <class T = float>
inline int64_t conv3_winograd_scratch(int64_t batch, int64_t length, int64_t channels) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, bfloat16>, "conv3_winograd: float or bfloat16");
  if constexpr (std::is_same_v<T, float>) {
    return conv3_winograd_uses_f63(length) ? detail::conv3_winograd_tile_scratch<detail::WinogradF63>(batch, length, channels)
                                           : detail::conv3_winograd_tile_scratch<detail::WinogradF43>(batch, length, channels);
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
  if (conv3_winograd_uses_f63(length))
    detail::conv3_winograd_tiles<detail::WinogradF63>(x, w, z, batch, length, e, scratch, bias);
  else
    detail::conv3_winograd_tiles<detail::WinogradF43>(x, w, z, batch, length, e, scratch, bias);
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
      MNEMO_NO_ALIAS_LOOP
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
      MNEMO_NO_ALIAS_LOOP
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
      MNEMO_NO_ALIAS_LOOP
      for (int64_t c = 0; c < e; ++c) {
        out[c] = (m0[c] + m1[c] + m2[c]) + add[c];
        out[e + c] = (m1[c] - m2[c] - m3[c]) + add[c];
      }
      bf16_rows::narrow(out, z + (b * length + t) * e, outputs * e);
    }
  });
}

}  // namespace mnemo::cpu
