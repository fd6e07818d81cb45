// mnemo/backend/cuda/softmax.cuh — fused masked softmax with a logit scale (1/temperature, or
// 1/√d_h in attention), causal / key-padding masks and ALiBi biases (memformer.md §2.2, §3):
//   forward:  y = softmax(scale·x − slope_h·(q_pos − c), masked keys −∞)   per row of cols
//   backward: dx = scale · y ⊙ (dy − <y, dy>)
// One thread group per row (rows.cuh). The forward reads the row twice: an online max /
// Σ exp pass, then the write pass; a row whose keys are all masked becomes all zeros (never
// NaN). Both work in place (y == x, dx == dy): each element is read and written by one thread,
// and every read of the first pass precedes the group's reduction.
#pragma once

#include <cstdint>

#include "mnemo/backend/cuda/context.cuh"
#include "mnemo/backend/cuda/half.cuh"
#include "mnemo/backend/cuda/math.cuh"
#include "mnemo/backend/cuda/rows.cuh"
#include "mnemo/backend/cuda/thread_group.cuh"
#include "mnemo/backend/primitives.hpp"
#include "mnemo/backend/softmax_row_mask.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cuda {

namespace detail_softmax {
template <class T>
struct Forward {
  using C = compute_t<T>;
  const T* x;
  T* y;
  SoftmaxDims dims;
  C scale;
  SoftmaxMask mask;

  template <int K>
  __device__ void operator()(int64_t row, const ThreadGroup<K>& g) const {
    const int64_t cols = dims.cols;
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    const SoftmaxRowMask<C> mrow(dims, mask, row);  // mask semantics shared with the CPU
    auto logit = [&](int64_t c) {               // −∞ when masked
      return mrow.masked(c) ? math::neg_inf<C>() : mrow.logit(scale * convert<C>(xr[c]), c);
    };
    MaxSum<C> acc = MaxSum<C>::empty();
    for (int64_t c = g.rank; c < cols; c += K) acc.add(logit(c));
    acc = g.allreduce(acc, MaxSumMerge{});
    if (acc.m == math::neg_inf<C>()) {  // every key masked
      for (int64_t c = g.rank; c < cols; c += K) yr[c] = T{};
      return;
    }
    const C inv = C(1) / acc.s;
    for (int64_t c = g.rank; c < cols; c += K) yr[c] = convert<T>(math::exp(logit(c) - acc.m) * inv);
  }
};

template <class T>
struct Backward {
  using C = compute_t<T>;
  const T* y;
  const T* dy;
  T* dx;
  int64_t cols;
  C scale;

  template <int K>
  __device__ void operator()(int64_t row, const ThreadGroup<K>& g) const {
    const T* yr = y + row * cols;
    const T* dyr = dy + row * cols;
    T* dxr = dx + row * cols;
    const C dot = g.template sum<C>(cols, [&](int64_t c) { return convert<C>(yr[c]) * convert<C>(dyr[c]); });
    for (int64_t c = g.rank; c < cols; c += K)
      dxr[c] = convert<T>(scale * convert<C>(yr[c]) * (convert<C>(dyr[c]) - dot));
  }
};
}  // namespace detail_softmax

template <class T>
void softmax_forward(CudaContext& ctx, const T* x, T* y, const SoftmaxDims& dims, compute_t<T> scale,
                     const SoftmaxMask& mask) {
  if (dims.cols <= 0 || dims.rows <= 0 || dims.heads <= 0) return;
  launch_rows(ctx, dims.total_rows(), dims.cols, detail_softmax::Forward<T>{x, y, dims, scale, mask},
              "softmax_forward");
}

template <class T>
void softmax_backward(CudaContext& ctx, const T* y, const T* dy, T* dx, int64_t rows, int64_t cols,
                      compute_t<T> scale) {
  if (cols <= 0) return;
  launch_rows(ctx, rows, cols, detail_softmax::Backward<T>{y, dy, dx, cols, scale}, "softmax_backward");
}

}  // namespace mnemo::cuda
