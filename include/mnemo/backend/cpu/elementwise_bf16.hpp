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
#include "mnemo/backend/activation_functions.hpp"
#include "mnemo/backend/cpu/gelu_float.hpp"
#include "mnemo/backend/cpu/layer_norm_rows.hpp"
#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/backend/cpu/thread_scratch.hpp"
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
/// y[r, c] = x[r, c] + row[c], rows ld apart in x and y (y may alias x).
template <class T>
void add_row_broadcast(const T* x, const T* row, T* y, int64_t rows, int64_t cols, int64_t ld);
/// out = a + b (out may alias a or b).
template <class T>
void add(int64_t n, const T* a, const T* b, T* out);
/// Layer normalisation forward (cpu/layer_norm.hpp's formula and order, fp32 sums).
template <class T>
void layer_norm_forward(const T* x, const T* gamma, const T* beta, T* y, float* mean, float* rstd, int64_t rows,
                        int64_t cols, float eps);

#if MNEMO_COMPILED_BODIES
namespace detail {

/// The calling thread's fp32 rows a, b, c of at least n floats each (cpu/thread_scratch.hpp).
struct FloatRows {
  float *a, *b, *c;
  explicit FloatRows(int64_t n)
      : a(cpu::detail::thread_scratch<float, cpu::detail::ScratchSlot::RowA>(n)),
        b(cpu::detail::thread_scratch<float, cpu::detail::ScratchSlot::RowB>(n)),
        c(cpu::detail::thread_scratch<float, cpu::detail::ScratchSlot::RowC>(n)) {}
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
    const detail::FloatRows s(cols);
    float* xf = s.a;
    float* bf = bias ? s.b : nullptr;
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
void add_row_broadcast(const T* x, const T* row, T* y, int64_t rows, int64_t cols, int64_t ld) {
  parallel_for(rows, cols, [&](int64_t begin, int64_t end) {
    const detail::FloatRows s(cols);
    float* xf = s.a;
    float* rf = s.b;
    widen(row, rf, cols);
    for (int64_t r = begin; r < end; ++r) {
      widen(x + r * ld, xf, cols);
      for (int64_t c = 0; c < cols; ++c) xf[c] += rf[c];
      narrow(xf, y + r * ld, cols);
    }
  });
}

template <class T>
void add(int64_t n, const T* a, const T* b, T* out) {
  constexpr int64_t kBlock = 1024;
  parallel_for((n + kBlock - 1) / kBlock, kBlock, [&](int64_t begin, int64_t end) {
    const detail::FloatRows s(kBlock);
    float* af = s.a;
    float* bf = s.b;
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
  // Rows go kLayerNormRows at a time, widened to fp32 (cpu/layer_norm_rows.hpp: each row's sums in
  // the order of cpu/layer_norm.hpp, the rows' additions interleaved).
  constexpr int64_t kRows = kLayerNormRows;
  parallel_for((rows + kRows - 1) / kRows, 6 * kRows * cols, [&](int64_t begin, int64_t end) {
    const detail::FloatRows s(kRows * cols);
    float* xf = s.a;
    float* gf = s.b;
    float* bf = s.c;
    widen(gamma, gf, cols);
    widen(beta, bf, cols);
    for (int64_t blk = begin; blk < end; ++blk) {
      const int64_t r0 = blk * kRows, n = std::min(kRows, rows - r0);
      widen(x + r0 * cols, xf, n * cols);
      cpu::detail::layer_norm_rows_f32(xf, gf, bf, xf, mean ? mean + r0 : nullptr, rstd ? rstd + r0 : nullptr, n,
                                       cols, eps);
      narrow(xf, y + r0 * cols, n * cols);
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
extern template void add_row_broadcast<bfloat16>(const bfloat16*, const bfloat16*, bfloat16*, int64_t, int64_t,
                                                 int64_t);
extern template void add<bfloat16>(int64_t, const bfloat16*, const bfloat16*, bfloat16*);
extern template void layer_norm_forward<bfloat16>(const bfloat16*, const bfloat16*, const bfloat16*, bfloat16*, float*,
                                                  float*, int64_t, int64_t, float);
}  // namespace mnemo::cpu::bf16_rows
#endif  // MNEMO_COMPILED
