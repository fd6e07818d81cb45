// mnemo/backend/cpu/sigmoid_gate.hpp — the ∞-former's gate before writing (infinite_former.md §4),
// by the formulas shared with the CUDA backend (backend/sigmoid_gate_rule.hpp):
//   forward:  y = x ⊙ sigmoid(z)
//   backward: dz = dy ⊙ x ⊙ s(1 − s),  s = sigmoid(z)     (x is a detached input: no dx)
// Float runs the same operations on Eigen's vectorised exp (within ~1.5 ulp of std::exp); bfloat16
// runs the float kernel on blocks widened to fp32 and rounds each output once (bit for bit the
// float kernel's result, narrowed); double runs the scalar rule.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <type_traits>

#include "mnemo/core/config.hpp"
#if MNEMO_COMPILED_BODIES  // a user TU of the compiled mode only declares the kernels (see the end)
#include <Eigen/Core>
#include "mnemo/backend/cpu/elementwise_bf16.hpp"
#include "mnemo/core/bfloat16.hpp"
#endif

#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/backend/sigmoid_gate_rule.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cpu {

/// y = x ⊙ sigmoid(z) over n elements (the definition follows, or, in a user TU of the compiled
/// mode, is in mnemo::compiled for float, double and bfloat16).
template <class T>
void sigmoid_gate_forward(int64_t n, const T* x, const T* z, T* y);

/// dz = dy ⊙ x ⊙ s(1 − s), s = sigmoid(z) (written).
template <class T>
void sigmoid_gate_backward(int64_t n, const T* x, const T* z, const T* dy, T* dz);

#if MNEMO_COMPILED_BODIES
namespace detail {
/// Elements per block of the vectorised backward and of the bfloat16 kernels (stack scratch, no
/// allocation).
inline constexpr int64_t kGateBlock = 1024;
using GateArray = Eigen::Array<float, Eigen::Dynamic, 1>;
using GateMap = Eigen::Map<GateArray>;
using ConstGateMap = Eigen::Map<const GateArray>;
/// The float kernels on w elements of one thread (y and dz may alias an input).
inline void gate_forward_f32(const float* x, const float* z, float* y, int64_t w) {
  GateMap(y, w) = ConstGateMap(x, w) / (1.0f + (-ConstGateMap(z, w)).exp());
}
inline void gate_backward_f32(const float* x, const float* z, const float* dy, float* dz, int64_t w) {
  for (int64_t i = 0; i < w; i += kGateBlock) {
    const int64_t m = std::min(kGateBlock, w - i);
    alignas(64) float sb[kGateBlock];
    GateMap s(sb, m);
    s = 1.0f / (1.0f + (-ConstGateMap(z + i, m)).exp());
    // dz may alias dy: each element is read before it is written.
    GateMap(dz + i, m) = ConstGateMap(dy + i, m) * ConstGateMap(x + i, m) * s * (1.0f - s);
  }
}

/// bfloat16 through the float kernels: kGateBlock elements at a time, the inputs widened to fp32
/// (exact), `kernel(widened, result, width)` on them, each result narrowed once into out.
template <size_t Inputs, class T, class Kernel>
void gate_through_f32(int64_t n, const std::array<const T*, Inputs>& in, T* out, Kernel kernel) {
  parallel_for((n + kGateBlock - 1) / kGateBlock, 6 * kGateBlock, [&](int64_t begin, int64_t end) {
    alignas(64) float wide[Inputs][kGateBlock];
    alignas(64) float result[kGateBlock];
    for (int64_t blk = begin; blk < end; ++blk) {
      const int64_t i0 = blk * kGateBlock, w = std::min(kGateBlock, n - i0);
      for (size_t k = 0; k < Inputs; ++k) bf16_rows::widen(in[k] + i0, wide[k], w);
      kernel(wide, result, w);
      bf16_rows::narrow(result, out + i0, w);
    }
  });
}
}  // namespace detail

template <class T>
void sigmoid_gate_forward(int64_t n, const T* x, const T* z, T* y) {
  using C = compute_t<T>;
  if constexpr (std::is_same_v<T, float>) {
    parallel_for(n, 4, [&](int64_t begin, int64_t end) {
      detail::gate_forward_f32(x + begin, z + begin, y + begin, end - begin);
    });
  } else if constexpr (std::is_same_v<T, bfloat16>) {
    detail::gate_through_f32<2>(n, {x, z}, y, [](const auto& f, float* r, int64_t w) {
      detail::gate_forward_f32(f[0], f[1], r, w);
    });
  } else {
    parallel_for(n, 20, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        y[i] = static_cast<T>(sigmoid_gate_value(static_cast<C>(x[i]), static_cast<C>(z[i])));
    });
  }
}

template <class T>
void sigmoid_gate_backward(int64_t n, const T* x, const T* z, const T* dy, T* dz) {
  using C = compute_t<T>;
  if constexpr (std::is_same_v<T, float>) {
    parallel_for(n, 5, [&](int64_t begin, int64_t end) {
      detail::gate_backward_f32(x + begin, z + begin, dy + begin, dz + begin, end - begin);
    });
  } else if constexpr (std::is_same_v<T, bfloat16>) {
    detail::gate_through_f32<3>(n, {x, z, dy}, dz, [](const auto& f, float* r, int64_t w) {
      detail::gate_backward_f32(f[0], f[1], f[2], r, w);
    });
  } else {
    parallel_for(n, 24, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        dz[i] = static_cast<T>(sigmoid_gate_grad(static_cast<C>(x[i]), static_cast<C>(z[i]), static_cast<C>(dy[i])));
    });
  }
}
#endif  // MNEMO_COMPILED_BODIES

}  // namespace mnemo::cpu

// Compiled mode (docs/compile_time.md): compiled once, in src/compiled/infinite_former_*.cpp.
#if defined(MNEMO_COMPILED)
namespace mnemo::cpu {
extern template void sigmoid_gate_forward<float>(int64_t, const float*, const float*, float*);
extern template void sigmoid_gate_forward<double>(int64_t, const double*, const double*, double*);
extern template void sigmoid_gate_backward<float>(int64_t, const float*, const float*, const float*, float*);
extern template void sigmoid_gate_backward<double>(int64_t, const double*, const double*, const double*, double*);
}  // namespace mnemo::cpu
#endif  // MNEMO_COMPILED
