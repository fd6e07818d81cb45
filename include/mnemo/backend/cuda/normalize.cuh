// mnemo/backend/cuda/normalize.cuh — fused L2 normalisation of rows (Memformer's biased memory
// normalisation, memformer.md §2.5, §3; the contract of cpu/normalize.hpp):
//   forward:  n = ||x||₂,  y = x / max(n, eps)
//   backward: dx = (dy − y·<y, dy>) / n   if n ≥ eps,   dx = dy / eps otherwise
#pragma once

#include <cstdint>

#include "mnemo/backend/cuda/context.cuh"
#include "mnemo/backend/cuda/half.cuh"
#include "mnemo/backend/cuda/math.cuh"
#include "mnemo/backend/cuda/rows.cuh"
#include "mnemo/backend/cuda/thread_group.cuh"
#include "mnemo/core/precision.hpp"

namespace mnemo::cuda {

namespace detail_normalize {
template <class T>
struct Forward {
  using A = accumulate_t<T>;
  const T* x;
  T* y;
  A* norms;
  int64_t cols;
  A eps;

  template <int K>
  __device__ void operator()(int64_t row, const ThreadGroup<K>& g) const {
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    const A n = math::sqrt(g.template sum<A>(cols, [&](int64_t c) {
      const A v = convert<A>(xr[c]);
      return v * v;
    }));
    if (norms && g.rank == 0) norms[row] = n;
    const A inv = A(1) / (n > eps ? n : eps);
    for (int64_t c = g.rank; c < cols; c += K) yr[c] = convert<T>(convert<A>(xr[c]) * inv);
  }
};

template <class T>
struct Backward {
  using A = accumulate_t<T>;
  const T* y;
  const A* norms;
  const T* dy;
  T* dx;
  int64_t cols;
  A eps;

  template <int K>
  __device__ void operator()(int64_t row, const ThreadGroup<K>& g) const {
    const T* yr = y + row * cols;
    const T* dyr = dy + row * cols;
    T* dxr = dx + row * cols;
    const A n = norms[row];  // the same for the whole group: the branch is uniform
    if (n < eps) {
      for (int64_t c = g.rank; c < cols; c += K) dxr[c] = convert<T>(convert<A>(dyr[c]) / eps);
      return;
    }
    const A dot = g.template sum<A>(cols, [&](int64_t c) { return convert<A>(yr[c]) * convert<A>(dyr[c]); });
    for (int64_t c = g.rank; c < cols; c += K)
      dxr[c] = convert<T>((convert<A>(dyr[c]) - convert<A>(yr[c]) * dot) / n);
  }
};
}  // namespace detail_normalize

/// norms (nullable) receive ||x||.
template <class T>
void l2_normalize_forward(CudaContext& ctx, const T* x, T* y, accumulate_t<T>* norms, int64_t rows, int64_t cols,
                          accumulate_t<T> eps) {
  launch_rows(ctx, rows, cols, detail_normalize::Forward<T>{x, y, norms, cols, eps}, "l2_normalize_forward");
}

template <class T>
void l2_normalize_backward(CudaContext& ctx, const T* y, const accumulate_t<T>* norms, const T* dy, T* dx,
                           int64_t rows, int64_t cols, accumulate_t<T> eps) {
  launch_rows(ctx, rows, cols, detail_normalize::Backward<T>{y, norms, dy, dx, cols, eps}, "l2_normalize_backward");
}

}  // namespace mnemo::cuda
