// mnemo/backend/cuda/layer_norm.cuh — fused layer normalisation over the last dimension
// (the contract of cpu/layer_norm.hpp), statistics in accumulate_t<T>:
//   forward:  μ = mean(x), rstd = 1/sqrt(mean((x − μ)²) + eps), y = (x − μ)·rstd·γ + β
//   backward: x̂ = (x − μ)·rstd, g = dy·γ,
//             dx = rstd·(g − mean(g) − x̂·mean(g·x̂)),  dγ += Σ_rows dy·x̂,  dβ += Σ_rows dy
// Forward: one group per row, exact two-pass variance (no cancellation from E[x²] − μ²).
// Backward: the dx rows, then γ/β through the deterministic column reduction.
#pragma once

#include <cstdint>

#include "mnemo/backend/cuda/column_reduce.cuh"
#include "mnemo/backend/cuda/context.cuh"
#include "mnemo/backend/cuda/half.cuh"
#include "mnemo/backend/cuda/math.cuh"
#include "mnemo/backend/cuda/rows.cuh"
#include "mnemo/backend/cuda/thread_group.cuh"
#include "mnemo/core/precision.hpp"

namespace mnemo::cuda {

namespace detail_layer_norm {
template <class T>
struct Forward {
  using A = accumulate_t<T>;
  const T* x;
  const T* gamma;
  const T* beta;
  T* y;
  A* mean;
  A* rstd;
  int64_t cols;
  A eps;

  template <int K>
  __device__ void operator()(int64_t row, const ThreadGroup<K>& g) const {
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    const A mu = g.template sum<A>(cols, [&](int64_t c) { return convert<A>(xr[c]); }) / static_cast<A>(cols);
    const A var = g.template sum<A>(cols, [&](int64_t c) {
      const A d = convert<A>(xr[c]) - mu;
      return d * d;
    }) / static_cast<A>(cols);
    const A rs = A(1) / math::sqrt(var + eps);
    if (g.rank == 0) {
      if (mean) mean[row] = mu;
      if (rstd) rstd[row] = rs;
    }
    for (int64_t c = g.rank; c < cols; c += K)
      yr[c] = convert<T>((convert<A>(xr[c]) - mu) * rs * convert<A>(gamma[c]) + convert<A>(beta[c]));
  }
};

template <class T>
struct BackwardInput {
  using A = accumulate_t<T>;
  const T* dy;
  const T* x;
  const T* gamma;
  const A* mean;
  const A* rstd;
  T* dx;
  int64_t cols;

  template <int K>
  __device__ void operator()(int64_t row, const ThreadGroup<K>& g) const {
    const T* xr = x + row * cols;
    const T* dyr = dy + row * cols;
    T* dxr = dx + row * cols;
    const A mu = mean[row], rs = rstd[row];
    auto x_hat = [&](int64_t c) { return (convert<A>(xr[c]) - mu) * rs; };
    auto g_of = [&](int64_t c) { return convert<A>(dyr[c]) * convert<A>(gamma[c]); };
    const SumPair<A> acc = g.template sum<SumPair<A>>(cols, [&](int64_t c) {  // Σ g, Σ g·x̂
      const A gc = g_of(c);
      return SumPair<A>{gc, gc * x_hat(c)};
    });
    const A mg = acc.a / static_cast<A>(cols), mgx = acc.b / static_cast<A>(cols);
    for (int64_t c = g.rank; c < cols; c += K) dxr[c] = convert<T>(rs * (g_of(c) - mg - x_hat(c) * mgx));
  }
};

/// Per element: dy·x̂ (for dγ) and dy (for dβ).
template <class T>
struct ParamTerms {
  using A = accumulate_t<T>;
  const T* dy;
  const T* x;
  const A* mean;
  const A* rstd;
  int64_t cols;
  __device__ void operator()(int64_t r, int64_t c, A* acc) const {
    const A d = convert<A>(dy[r * cols + c]);
    acc[0] += d * ((convert<A>(x[r * cols + c]) - mean[r]) * rstd[r]);
    acc[1] += d;
  }
};
template <class T>
struct AccumulateParams {
  using A = accumulate_t<T>;
  T* dgamma;
  T* dbeta;
  __device__ void operator()(int64_t c, const A* sums) const {
    if (dgamma) dgamma[c] = convert<T>(convert<A>(dgamma[c]) + sums[0]);
    if (dbeta) dbeta[c] = convert<T>(convert<A>(dbeta[c]) + sums[1]);
  }
};
}  // namespace detail_layer_norm

/// mean / rstd nullable.
template <class T>
void layer_norm_forward(CudaContext& ctx, const T* x, const T* gamma, const T* beta, T* y, accumulate_t<T>* mean,
                        accumulate_t<T>* rstd, int64_t rows, int64_t cols, accumulate_t<T> eps) {
  launch_rows(ctx, rows, cols, detail_layer_norm::Forward<T>{x, gamma, beta, y, mean, rstd, cols, eps},
              "layer_norm_forward");
}

/// dx written (nullable); dgamma, dbeta accumulated (+=, nullable).
template <class T>
void layer_norm_backward(CudaContext& ctx, const T* dy, const T* x, const T* gamma, const accumulate_t<T>* mean,
                         const accumulate_t<T>* rstd, T* dx, T* dgamma, T* dbeta, int64_t rows, int64_t cols) {
  if (dx)
    launch_rows(ctx, rows, cols, detail_layer_norm::BackwardInput<T>{dy, x, gamma, mean, rstd, dx, cols},
                "layer_norm_backward (dx)");
  if (dgamma || dbeta)
    column_reduce<2, accumulate_t<T>>(ctx, rows, cols, detail_layer_norm::ParamTerms<T>{dy, x, mean, rstd, cols},
                                      detail_layer_norm::AccumulateParams<T>{dgamma, dbeta},
                                      "layer_norm_backward (dgamma, dbeta)");
}

}  // namespace mnemo::cuda
