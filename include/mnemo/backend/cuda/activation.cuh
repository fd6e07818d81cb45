// mnemo/backend/cuda/activation.cuh — fused bias + activation over [rows, cols] (the contract of
// cpu/activation.hpp):
//   forward:  y = act(x + bias)                             (bias nullable; y may alias x)
//   backward: dx = dy ⊙ act'(x + bias),  dbias += Σ_rows dx   (dbias nullable)
// The activation formulas are shared with the CPU (backend/activation_functions.hpp). With
// dbias, the backward is one pass of the deterministic column reduction that also writes dx.
#pragma once

#include <cstdint>

#include "mnemo/backend/activation_functions.hpp"
#include "mnemo/backend/cuda/column_reduce.cuh"
#include "mnemo/backend/cuda/context.cuh"
#include "mnemo/backend/cuda/half.cuh"
#include "mnemo/backend/cuda/launch.cuh"
#include "mnemo/backend/primitives.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cuda {

namespace detail_activation {
template <class T>
struct Forward {
  const T* x;
  const T* bias;
  T* y;
  int64_t cols;
  Activation act;
  __device__ void operator()(int64_t i) const {
    using C = compute_t<T>;
    const C z = convert<C>(x[i]) + (bias ? convert<C>(bias[i % cols]) : C(0));
    y[i] = convert<T>(activation_value(act, z));
  }
};
/// dx at one element, in the compute type.
template <class T>
struct InputGrad {
  const T* x;
  const T* bias;
  const T* dy;
  T* dx;
  int64_t cols;
  Activation act;
  __device__ compute_t<T> at(int64_t r, int64_t c) const {
    using C = compute_t<T>;
    const int64_t i = r * cols + c;
    const C z = convert<C>(x[i]) + (bias ? convert<C>(bias[c]) : C(0));
    const C g = convert<C>(dy[i]) * activation_derivative(act, z);
    dx[i] = convert<T>(g);
    return g;
  }
  __device__ void operator()(int64_t i) const { (void)at(i / cols, i % cols); }
  __device__ void operator()(int64_t r, int64_t c, accumulate_t<T>* acc) const {
    acc[0] += static_cast<accumulate_t<T>>(at(r, c));
  }
};
template <class T>
struct AccumulateBias {
  T* dbias;
  __device__ void operator()(int64_t c, const accumulate_t<T>* sums) const {
    dbias[c] = convert<T>(convert<accumulate_t<T>>(dbias[c]) + sums[0]);
  }
};
}  // namespace detail_activation

template <class T>
void bias_activation_forward(CudaContext& ctx, const T* x, const T* bias, T* y, int64_t rows, int64_t cols,
                             Activation act) {
  if (cols <= 0) return;
  for_each(ctx, rows * cols, detail_activation::Forward<T>{x, bias, y, cols, act}, "bias_activation_forward");
}

template <class T>
void bias_activation_backward(CudaContext& ctx, const T* x, const T* bias, const T* dy, T* dx, T* dbias,
                              int64_t rows, int64_t cols, Activation act) {
  if (cols <= 0) return;
  const detail_activation::InputGrad<T> grad{x, bias, dy, dx, cols, act};
  if (dbias)
    column_reduce<1, accumulate_t<T>>(ctx, rows, cols, grad, detail_activation::AccumulateBias<T>{dbias},
                                      "bias_activation_backward");
  else
    for_each(ctx, rows * cols, grad, "bias_activation_backward");
}

}  // namespace mnemo::cuda
