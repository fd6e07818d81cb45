// mnemo/backend/cpu/elementwise_bf16.hpp — the streaming path's elementwise primitives for
// bfloat16 rows, run through fp32 vectors. The generic templates convert one element at a time
// through Eigen's scalar bfloat16 (a branchy round-to-nearest-even per store); these overloads
// widen a row to fp32 (exact: the 16 bits become the float's upper half), run the fp32 kernel,
// and narrow once per element with the same rounding, in loops the compiler vectorises. Results
// are the ones of the generic path: fp32 arithmetic on the same values, then the same rounding
// (NaN as Eigen writes it), up to the fp32 kernels' own vectorised erf/exp (GELU).
//
// Non-template overloads: BackendTraits<Cpu> calls cpu::f(...) for every T, and for bfloat16
// overload resolution picks these over the templates.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "mnemo/backend/cpu/activation.hpp"
#include "mnemo/backend/cpu/elementwise.hpp"
#include "mnemo/backend/cpu/gelu_float.hpp"
#include "mnemo/backend/cpu/layer_norm.hpp"
#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/backend/primitives.hpp"
#include "mnemo/core/bfloat16.hpp"

namespace mnemo::cpu {

namespace bf16_rows {

/// dst[i] = float(src[i]), exact.
inline void widen(const bfloat16* src, float* dst, int64_t n) {
  const auto* s = reinterpret_cast<const uint16_t*>(src);
  auto* d = reinterpret_cast<uint32_t*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = static_cast<uint32_t>(s[i]) << 16;
}

/// dst[i] = bfloat16(src[i]): round to nearest even; NaN becomes the quiet NaN of its sign
/// (0x7FC0 / 0xFFC0), as Eigen's conversion writes it.
inline void narrow(const float* src, bfloat16* dst, int64_t n) {
  const auto* s = reinterpret_cast<const uint32_t*>(src);
  auto* d = reinterpret_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = s[i];
    const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
    const uint32_t quiet_nan = ((u >> 16) & 0x8000u) | 0x7FC0u;
    d[i] = static_cast<uint16_t>((u & 0x7FFFFFFFu) > 0x7F800000u ? quiet_nan : rounded);
  }
}

/// Per-thread fp32 scratch rows, grown on demand and kept: no allocation per call once warm.
struct FloatScratch {
  std::vector<float> a, b, c;
  detail::FloatRow gelu;  ///< gelu_row_forward's z
  static FloatScratch& local() {
    thread_local FloatScratch scratch;
    return scratch;
  }
  void reserve(int64_t n) {
    const auto size = static_cast<size_t>(n);
    if (a.size() < size) {
      a.resize(size);
      b.resize(size);
      c.resize(size);
    }
  }
};

}  // namespace bf16_rows

/// y = act(x + bias) on bfloat16 rows (bias nullable; y may alias x): fp32 per row.
inline void bias_activation_forward(const bfloat16* x, const bfloat16* bias, bfloat16* y, int64_t rows,
                                    int64_t cols, Activation act) {
  parallel_for(rows, (act == Activation::Gelu ? 4 : 2) * cols, [&](int64_t begin, int64_t end) {
    auto& s = bf16_rows::FloatScratch::local();
    s.reserve(cols);
    float* xf = s.a.data();
    float* bf = bias ? s.b.data() : nullptr;
    if (bias) bf16_rows::widen(bias, bf, cols);
    for (int64_t r = begin; r < end; ++r) {
      bf16_rows::widen(x + r * cols, xf, cols);
      if (act == Activation::Gelu) {
        detail::gelu_row_forward(xf, bf, xf, cols, s.gelu);  // vectorised erf (cpu/gelu_float.hpp)
      } else {
        for (int64_t c = 0; c < cols; ++c) xf[c] = activation_value(act, xf[c] + (bf ? bf[c] : 0.0f));
      }
      bf16_rows::narrow(xf, y + r * cols, cols);
    }
  });
}

/// y[r, c] = x[r, c] + row[c] on bfloat16 (y may alias x).
inline void add_row_broadcast(const bfloat16* x, const bfloat16* row, bfloat16* y, int64_t rows, int64_t cols) {
  parallel_for(rows, cols, [&](int64_t begin, int64_t end) {
    auto& s = bf16_rows::FloatScratch::local();
    s.reserve(cols);
    float* xf = s.a.data();
    float* rf = s.b.data();
    bf16_rows::widen(row, rf, cols);
    for (int64_t r = begin; r < end; ++r) {
      bf16_rows::widen(x + r * cols, xf, cols);
      for (int64_t c = 0; c < cols; ++c) xf[c] += rf[c];
      bf16_rows::narrow(xf, y + r * cols, cols);
    }
  });
}

/// out = a + b on bfloat16 (out may alias a or b), in fp32 blocks.
inline void add(int64_t n, const bfloat16* a, const bfloat16* b, bfloat16* out) {
  constexpr int64_t kBlock = 1024;
  parallel_for((n + kBlock - 1) / kBlock, kBlock, [&](int64_t begin, int64_t end) {
    auto& s = bf16_rows::FloatScratch::local();
    s.reserve(kBlock);
    float* af = s.a.data();
    float* bf = s.b.data();
    for (int64_t blk = begin; blk < end; ++blk) {
      const int64_t i0 = blk * kBlock, len = std::min(kBlock, n - i0);
      bf16_rows::widen(a + i0, af, len);
      bf16_rows::widen(b + i0, bf, len);
      for (int64_t i = 0; i < len; ++i) af[i] += bf[i];
      bf16_rows::narrow(af, out + i0, len);
    }
  });
}

/// Layer normalisation forward on bfloat16 rows (cpu/layer_norm.hpp's formula, fp32 sums).
inline void layer_norm_forward(const bfloat16* x, const bfloat16* gamma, const bfloat16* beta, bfloat16* y,
                               float* mean, float* rstd, int64_t rows, int64_t cols, float eps) {
  parallel_for(rows, 6 * cols, [&](int64_t begin, int64_t end) {
    auto& s = bf16_rows::FloatScratch::local();
    s.reserve(cols);
    float* xf = s.a.data();
    float* gf = s.b.data();
    float* bf = s.c.data();
    bf16_rows::widen(gamma, gf, cols);
    bf16_rows::widen(beta, bf, cols);
    for (int64_t r = begin; r < end; ++r) {
      bf16_rows::widen(x + r * cols, xf, cols);
      float sum = 0;
      for (int64_t c = 0; c < cols; ++c) sum += xf[c];
      const float mu = sum / static_cast<float>(cols);
      float var = 0;
      for (int64_t c = 0; c < cols; ++c) var += (xf[c] - mu) * (xf[c] - mu);
      const float rs = 1.0f / std::sqrt(var / static_cast<float>(cols) + eps);
      if (mean) mean[r] = mu;
      if (rstd) rstd[r] = rs;
      for (int64_t c = 0; c < cols; ++c) xf[c] = (xf[c] - mu) * rs * gf[c] + bf[c];
      bf16_rows::narrow(xf, y + r * cols, cols);
    }
  });
}

}  // namespace mnemo::cpu
