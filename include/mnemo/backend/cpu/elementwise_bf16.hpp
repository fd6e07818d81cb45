// mnemo/backend/cpu/elementwise_bf16.hpp — the streaming path's elementwise primitives on
// bfloat16 rows, run through fp32 vectors. Element by element, a bfloat16 kernel converts through
// Eigen's scalar bfloat16 (a branchy round-to-nearest-even per store); these widen a row to fp32
// (exact: the 16 bits become the float's upper half), run the fp32 arithmetic, and narrow once per
// element with the same rounding, in loops the compiler vectorises. The results are the
// per-element kernels' bit for bit (the same fp32 operations in the same order, the same rounding,
// NaN as Eigen writes it), except GELU, whose vectorised erf (cpu/gelu_float.hpp) may move a result
// to the neighbouring bfloat16.
//
// The generic kernels (cpu/elementwise.hpp, layer_norm.hpp, activation.hpp) hand bfloat16 to
// these. Templates on T, instantiated for T = bfloat16 only; the definitions follow, or, in a user
// TU of the compiled mode, are in mnemo::compiled (src/compiled/backend_nn_float.cpp).
#pragma once

#include <cstdint>

#include "mnemo/backend/primitives.hpp"
#include "mnemo/core/bfloat16_fwd.hpp"
#include "mnemo/core/config.hpp"

#if MNEMO_COMPILED_BODIES
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "mnemo/backend/activation_functions.hpp"
#include "mnemo/backend/cpu/gelu_float.hpp"
#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/core/bfloat16.hpp"
#endif  // MNEMO_COMPILED_BODIES

namespace mnemo::cpu::bf16_rows {

/// dst[i] = float(src[i]), exact.
template <class T>
void widen(const T* src, float* dst, int64_t n);
/// dst[i] = bfloat16(src[i]): round to nearest even; NaN becomes the quiet NaN of its sign
/// (0x7FC0 / 0xFFC0), as Eigen's conversion writes it.
template <class T>
void narrow(const float* src, T* dst, int64_t n);
/// y = act(x + bias) over [rows, cols] (bias nullable; y may alias x).
template <class T>
void bias_activation_forward(const T* x, const T* bias, T* y, int64_t rows, int64_t cols, Activation act);
/// y[r, c] = x[r, c] + row[c] (y may alias x).
template <class T>
void add_row_broadcast(const T* x, const T* row, T* y, int64_t rows, int64_t cols);
/// out = a + b (out may alias a or b).
template <class T>
void add(int64_t n, const T* a, const T* b, T* out);
/// Layer normalisation forward (cpu/layer_norm.hpp's formula and order, fp32 sums).
template <class T>
void layer_norm_forward(const T* x, const T* gamma, const T* beta, T* y, float* mean, float* rstd, int64_t rows,
                        int64_t cols, float eps);

#if MNEMO_COMPILED_BODIES
namespace detail {

/// Per-thread fp32 scratch rows, grown on demand and kept: no allocation per call once warm.
struct FloatScratch {
  std::vector<float> a, b, c;
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

}  // namespace detail

template <class T>
void widen(const T* src, float* dst, int64_t n) {
  static_assert(sizeof(T) == sizeof(uint16_t));
  for (int64_t i = 0; i < n; ++i) {
    uint16_t half;
    std::memcpy(&half, src + i, sizeof(half));
    const uint32_t word = static_cast<uint32_t>(half) << 16;
    std::memcpy(dst + i, &word, sizeof(word));
  }
}

template <class T>
void narrow(const float* src, T* dst, int64_t n) {
  static_assert(sizeof(T) == sizeof(uint16_t));
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, src + i, sizeof(u));
    const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
    const uint32_t quiet_nan = ((u >> 16) & 0x8000u) | 0x7FC0u;
    const auto half = static_cast<uint16_t>((u & 0x7FFFFFFFu) > 0x7F800000u ? quiet_nan : rounded);
    std::memcpy(dst + i, &half, sizeof(half));
  }
}

template <class T>
void bias_activation_forward(const T* x, const T* bias, T* y, int64_t rows, int64_t cols, Activation act) {
  parallel_for(rows, (act == Activation::Gelu ? 4 : 2) * cols, [&](int64_t begin, int64_t end) {
    auto& s = detail::FloatScratch::local();
    s.reserve(cols);
    float* xf = s.a.data();
    float* bf = bias ? s.b.data() : nullptr;
    if (bias) widen(bias, bf, cols);
    for (int64_t r = begin; r < end; ++r) {
      widen(x + r * cols, xf, cols);
      if (act == Activation::Gelu) {
        cpu::detail::gelu_row_forward(xf, bf, xf, cols, cpu::detail::gelu_scratch(cols));  // vectorised erf
      } else {
        for (int64_t c = 0; c < cols; ++c) xf[c] = activation_value(act, xf[c] + (bf ? bf[c] : 0.0f));
      }
      narrow(xf, y + r * cols, cols);
    }
  });
}

template <class T>
void add_row_broadcast(const T* x, const T* row, T* y, int64_t rows, int64_t cols) {
  parallel_for(rows, cols, [&](int64_t begin, int64_t end) {
    auto& s = detail::FloatScratch::local();
    s.reserve(cols);
    float* xf = s.a.data();
    float* rf = s.b.data();
    widen(row, rf, cols);
    for (int64_t r = begin; r < end; ++r) {
      widen(x + r * cols, xf, cols);
      for (int64_t c = 0; c < cols; ++c) xf[c] += rf[c];
      narrow(xf, y + r * cols, cols);
    }
  });
}

template <class T>
void add(int64_t n, const T* a, const T* b, T* out) {
  constexpr int64_t kBlock = 1024;
  parallel_for((n + kBlock - 1) / kBlock, kBlock, [&](int64_t begin, int64_t end) {
    auto& s = detail::FloatScratch::local();
    s.reserve(kBlock);
    float* af = s.a.data();
    float* bf = s.b.data();
    for (int64_t blk = begin; blk < end; ++blk) {
      const int64_t i0 = blk * kBlock, len = std::min(kBlock, n - i0);
      widen(a + i0, af, len);
      widen(b + i0, bf, len);
      for (int64_t i = 0; i < len; ++i) af[i] += bf[i];
      narrow(af, out + i0, len);
    }
  });
}

template <class T>
void layer_norm_forward(const T* x, const T* gamma, const T* beta, T* y, float* mean, float* rstd, int64_t rows,
                        int64_t cols, float eps) {
  parallel_for(rows, 6 * cols, [&](int64_t begin, int64_t end) {
    auto& s = detail::FloatScratch::local();
    s.reserve(cols);
    float* xf = s.a.data();
    float* gf = s.b.data();
    float* bf = s.c.data();
    widen(gamma, gf, cols);
    widen(beta, bf, cols);
    for (int64_t r = begin; r < end; ++r) {
      widen(x + r * cols, xf, cols);
      float sum = 0;
      for (int64_t c = 0; c < cols; ++c) sum += xf[c];
      const float mu = sum / static_cast<float>(cols);
      float var = 0;
      for (int64_t c = 0; c < cols; ++c) var += (xf[c] - mu) * (xf[c] - mu);
      const float rs = 1.0f / std::sqrt(var / static_cast<float>(cols) + eps);
      if (mean) mean[r] = mu;
      if (rstd) rstd[r] = rs;
      for (int64_t c = 0; c < cols; ++c) xf[c] = (xf[c] - mu) * rs * gf[c] + bf[c];
      narrow(xf, y + r * cols, cols);
    }
  });
}
#endif  // MNEMO_COMPILED_BODIES

}  // namespace mnemo::cpu::bf16_rows

// Compiled mode (docs/compile_time.md): compiled once, in src/compiled/backend_nn_float.cpp.
#if defined(MNEMO_COMPILED)
namespace mnemo::cpu::bf16_rows {
extern template void widen<bfloat16>(const bfloat16*, float*, int64_t);
extern template void narrow<bfloat16>(const float*, bfloat16*, int64_t);
extern template void bias_activation_forward<bfloat16>(const bfloat16*, const bfloat16*, bfloat16*, int64_t, int64_t,
                                                       Activation);
extern template void add_row_broadcast<bfloat16>(const bfloat16*, const bfloat16*, bfloat16*, int64_t, int64_t);
extern template void add<bfloat16>(int64_t, const bfloat16*, const bfloat16*, bfloat16*);
extern template void layer_norm_forward<bfloat16>(const bfloat16*, const bfloat16*, const bfloat16*, bfloat16*, float*,
                                                  float*, int64_t, int64_t, float);
}  // namespace mnemo::cpu::bf16_rows
#endif  // MNEMO_COMPILED
