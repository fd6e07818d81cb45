// mnemo/backend/cpu/sigmoid_gate.hpp — the ∞-former's gate before writing (infinite_former.md §4),
// by the formulas shared with the CUDA backend (backend/sigmoid_gate_rule.hpp):
//   forward:  y = x ⊙ sigmoid(z)
//   backward: dz = dy ⊙ x ⊙ s(1 − s),  s = sigmoid(z)     (x is a detached input: no dx)
// Float runs the same operations on Eigen's vectorised exp (within ~1.5 ulp of std::exp); other
// types (double, and bfloat16 through float) the scalar rule.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "mnemo/core/config.hpp"
#if MNEMO_COMPILED_BODIES  // a user TU of the compiled mode only declares the kernels (see the end)
#include <Eigen/Core>
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
/// Elements per block of the vectorised backward (stack scratch, no allocation).
inline constexpr int64_t kGateBlock = 1024;
using GateArray = Eigen::Array<float, Eigen::Dynamic, 1>;
using GateMap = Eigen::Map<GateArray>;
using ConstGateMap = Eigen::Map<const GateArray>;
}  // namespace detail

template <class T>
void sigmoid_gate_forward(int64_t n, const T* x, const T* z, T* y) {
  using C = compute_t<T>;
  if constexpr (std::is_same_v<T, float>) {
    parallel_for(n, 4, [&](int64_t begin, int64_t end) {
      const int64_t w = end - begin;
      detail::GateMap(y + begin, w) =
          detail::ConstGateMap(x + begin, w) / (1.0f + (-detail::ConstGateMap(z + begin, w)).exp());
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
      alignas(64) float sb[detail::kGateBlock];
      for (int64_t i = begin; i < end; i += detail::kGateBlock) {
        const int64_t w = std::min(detail::kGateBlock, end - i);
        detail::GateMap s(sb, w);
        s = 1.0f / (1.0f + (-detail::ConstGateMap(z + i, w)).exp());
        // dz may alias dy: each element is read before it is written.
        detail::GateMap(dz + i, w) = detail::ConstGateMap(dy + i, w) * detail::ConstGateMap(x + i, w) * s * (1.0f - s);
      }
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
