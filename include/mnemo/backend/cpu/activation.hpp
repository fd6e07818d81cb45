// mnemo/backend/cpu/activation.hpp — fused bias + activation over [rows, cols].
//   forward:  y = act(x + bias)                           (bias nullable; y may alias x)
//   backward: dx = dy ⊙ act'(x + bias),  dbias += Σ_rows dx   (dbias nullable)
// GELU is the erf form 0.5·z·(1 + erf(z/√2)); its derivative Φ(z) + z·φ(z). Float rows use
// Eigen's vectorised erf and exp (cpu/gelu_float.hpp, a few ulp); double the scalar libm ones.
#pragma once

#include <cstdint>

#include "mnemo/backend/activation_functions.hpp"
#include "mnemo/backend/primitives.hpp"
#include "mnemo/core/bfloat16_fwd.hpp"
#include "mnemo/core/config.hpp"
#include "mnemo/core/precision.hpp"

// A user TU of the compiled mode only declares the two kernels (see the end): no Eigen.
#if MNEMO_COMPILED_BODIES
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "mnemo/backend/cpu/elementwise_bf16.hpp"
#include "mnemo/backend/cpu/gelu_float.hpp"
#include "mnemo/backend/cpu/layer_norm.hpp"
#include "mnemo/backend/cpu/parallel.hpp"
#endif  // MNEMO_COMPILED_BODIES

namespace mnemo::cpu {

// The activation formulas are shared with the CUDA backend (backend/activation_functions.hpp).
using ::mnemo::activation_derivative;
using ::mnemo::activation_value;

/// y = act(x + bias) over [rows, cols] (bias nullable; y may alias x). The definitions of both
/// kernels follow, or, in a user TU of the compiled mode, are in mnemo::compiled (float, double,
/// bfloat16).
template <class T>
void bias_activation_forward(const T* x, const T* bias, T* y, int64_t rows, int64_t cols, Activation act);

/// dx = dy ⊙ act'(x + bias) over [rows, cols]; dbias += Σ_rows dx (nullable).
template <class T>
void bias_activation_backward(const T* x, const T* bias, const T* dy, T* dx, T* dbias, int64_t rows, int64_t cols,
                              Activation act);

#if MNEMO_COMPILED_BODIES
template <class T>
void bias_activation_forward(const T* x, const T* bias, T* y, int64_t rows, int64_t cols,
                             Activation act) {
  using C = compute_t<T>;
  if constexpr (std::is_same_v<T, bfloat16>) {  // through fp32 rows, cpu/elementwise_bf16.hpp
    bf16_rows::bias_activation_forward(x, bias, y, rows, cols, act);
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    if (act == Activation::Gelu) {  // vectorised erf (cpu/gelu_float.hpp)
      parallel_for(rows, 4 * cols, [&](int64_t begin, int64_t end) {
        float* z = detail::gelu_scratch(cols);
        for (int64_t r = begin; r < end; ++r) detail::gelu_row_forward(x + r * cols, bias, y + r * cols, cols, z);
      });
      return;
    }
  }
  parallel_for(rows, (act == Activation::Gelu ? 20 : 2) * cols, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * cols;
      T* yr = y + r * cols;
      for (int64_t c = 0; c < cols; ++c) {
        const C z = static_cast<C>(xr[c]) + (bias ? static_cast<C>(bias[c]) : C(0));
        yr[c] = static_cast<T>(activation_value(act, z));
      }
    }
  });
}

template <class T>
void bias_activation_backward(const T* x, const T* bias, const T* dy, T* dx, T* dbias,
                              int64_t rows, int64_t cols, Activation act) {
  using C = compute_t<T>;
  using A = accumulate_t<T>;
  const int64_t blocks = (rows + kReduceBlockRows - 1) / kReduceBlockRows;
  std::vector<A> part(dbias ? static_cast<size_t>(blocks * cols) : 0, A(0));
  constexpr bool kFloatGelu = std::is_same_v<T, float> && std::is_same_v<A, float>;
  parallel_for(blocks, kReduceBlockRows * 24 * cols, [&](int64_t b0, int64_t b1) {
    if constexpr (kFloatGelu) {
      if (act == Activation::Gelu) {  // vectorised erf and exp (cpu/gelu_float.hpp)
        float* z = detail::gelu_scratch(cols);
        for (int64_t blk = b0; blk < b1; ++blk) {
          const int64_t r_end = std::min(rows, (blk + 1) * kReduceBlockRows);
          float* pb = dbias ? part.data() + blk * cols : nullptr;
          for (int64_t r = blk * kReduceBlockRows; r < r_end; ++r)
            detail::gelu_row_backward(x + r * cols, bias, dy + r * cols, dx + r * cols, pb, cols, z);
        }
        return;
      }
    }
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t r_end = std::min(rows, (blk + 1) * kReduceBlockRows);
      for (int64_t r = blk * kReduceBlockRows; r < r_end; ++r) {
        for (int64_t c = 0; c < cols; ++c) {
          const C z = static_cast<C>(x[r * cols + c]) + (bias ? static_cast<C>(bias[c]) : C(0));
          const C g = static_cast<C>(dy[r * cols + c]) * activation_derivative(act, z);
          dx[r * cols + c] = static_cast<T>(g);
          if (dbias) part[static_cast<size_t>(blk * cols + c)] += static_cast<A>(g);
        }
      }
    }
  });
  if (dbias)
    for (int64_t c = 0; c < cols; ++c) {
      A s = 0;
      for (int64_t blk = 0; blk < blocks; ++blk) s += part[static_cast<size_t>(blk * cols + c)];
      dbias[c] = static_cast<T>(static_cast<A>(dbias[c]) + s);
    }
}
#endif  // MNEMO_COMPILED_BODIES

}  // namespace mnemo::cpu

// Compiled mode (docs/compile_time.md): compiled once, in src/compiled/backend_nn_*.cpp (the float
// GELU needs Eigen's vectorised erf); a user TU sees the declarations above.
#if defined(MNEMO_COMPILED)
namespace mnemo::cpu {
extern template void bias_activation_forward<float>(const float*, const float*, float*, int64_t, int64_t, Activation);
extern template void bias_activation_forward<double>(const double*, const double*, double*, int64_t, int64_t,
                                                     Activation);
extern template void bias_activation_forward<bfloat16>(const bfloat16*, const bfloat16*, bfloat16*, int64_t, int64_t,
                                                       Activation);
extern template void bias_activation_backward<float>(const float*, const float*, const float*, float*, float*, int64_t,
                                                     int64_t, Activation);
extern template void bias_activation_backward<double>(const double*, const double*, const double*, double*, double*,
                                                      int64_t, int64_t, Activation);
extern template void bias_activation_backward<bfloat16>(const bfloat16*, const bfloat16*, const bfloat16*, bfloat16*,
                                                        bfloat16*, int64_t, int64_t, Activation);
}  // namespace mnemo::cpu
#endif  // MNEMO_COMPILED
