// mnemo/backend/cuda/sigmoid_gate.cuh — the ∞-former's gate before writing (infinite_former.md
// §4), one thread per element, by the formulas shared with the CPU (backend/sigmoid_gate_rule.hpp):
//   forward y = x ⊙ sigmoid(z);  backward dz = dy ⊙ x ⊙ s(1 − s).
#pragma once

#include <cstdint>

#include "mnemo/backend/cuda/context.cuh"
#include "mnemo/backend/cuda/half.cuh"
#include "mnemo/backend/cuda/launch.cuh"
#include "mnemo/backend/sigmoid_gate_rule.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cuda {

namespace detail_gate {
template <class T>
struct Forward {
  const T* x;
  const T* z;
  T* y;
  __device__ void operator()(int64_t i) const {
    using C = compute_t<T>;
    y[i] = convert<T>(sigmoid_gate_value(convert<C>(x[i]), convert<C>(z[i])));
  }
};
template <class T>
struct Backward {
  const T* x;
  const T* z;
  const T* dy;
  T* dz;
  __device__ void operator()(int64_t i) const {
    using C = compute_t<T>;
    dz[i] = convert<T>(sigmoid_gate_grad(convert<C>(x[i]), convert<C>(z[i]), convert<C>(dy[i])));
  }
};
}  // namespace detail_gate

template <class T>
void sigmoid_gate_forward(CudaContext& ctx, int64_t n, const T* x, const T* z, T* y) {
  for_each(ctx, n, detail_gate::Forward<T>{x, z, y}, "sigmoid_gate_forward");
}

template <class T>
void sigmoid_gate_backward(CudaContext& ctx, int64_t n, const T* x, const T* z, const T* dy, T* dz) {
  for_each(ctx, n, detail_gate::Backward<T>{x, z, dy, dz}, "sigmoid_gate_backward");
}

}  // namespace mnemo::cuda
