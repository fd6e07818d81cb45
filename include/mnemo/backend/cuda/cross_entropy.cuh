// mnemo/backend/cuda/cross_entropy.cuh — softmax cross-entropy over rows of logits (the
// contract of cpu/cross_entropy.hpp), in accumulate_t<T>:
//   forward:  lse_r = log Σ_c exp(x_rc),  loss_r = w_r·(lse_r − x_{r,t_r})   (0 when t_r == ignore)
//   backward: dx_rc = scale·w_r·(exp(x_rc − lse_r) − [c == t_r])             (0 rows when ignored)
// The forward is one pass per row (online max / Σ exp); the backward is elementwise. Targets are
// in [0, vocab) or equal to ignore_index (checked by the caller).
#pragma once

#include <cstdint>

#include "mnemo/backend/cuda/context.cuh"
#include "mnemo/backend/cuda/half.cuh"
#include "mnemo/backend/cuda/launch.cuh"
#include "mnemo/backend/cuda/math.cuh"
#include "mnemo/backend/cuda/rows.cuh"
#include "mnemo/backend/cuda/thread_group.cuh"
#include "mnemo/core/precision.hpp"

namespace mnemo::cuda {

namespace detail_cross_entropy {
template <class T>
struct Forward {
  using A = accumulate_t<T>;
  const T* logits;
  const int32_t* targets;
  const float* weights;
  A* loss_rows;
  A* lse;
  int64_t vocab;
  int32_t ignore_index;

  template <int K>
  __device__ void operator()(int64_t row, const ThreadGroup<K>& g) const {
    const T* x = logits + row * vocab;
    MaxSum<A> acc = MaxSum<A>::empty();
    for (int64_t c = g.rank; c < vocab; c += K) acc.add(convert<A>(x[c]));
    acc = g.allreduce(acc, MaxSumMerge{});
    if (g.rank == 0) {
      const A l = acc.m + math::log(acc.s);
      lse[row] = l;
      const int32_t t = targets[row];
      const A w = weights ? static_cast<A>(weights[row]) : A(1);
      loss_rows[row] = t == ignore_index ? A(0) : w * (l - convert<A>(x[t]));
    }
  }
};

template <class T>
struct Backward {
  using A = accumulate_t<T>;
  const T* logits;
  const int32_t* targets;
  const float* weights;
  const A* lse;
  A scale;
  T* dlogits;
  int64_t vocab;
  int32_t ignore_index;
  __device__ void operator()(int64_t i) const {
    const int64_t r = i / vocab, c = i % vocab;
    const int32_t t = targets[r];
    if (t == ignore_index) {
      dlogits[i] = T{};
      return;
    }
    const A f = scale * (weights ? static_cast<A>(weights[r]) : A(1));
    const A p = f * math::exp(convert<A>(logits[i]) - lse[r]);
    dlogits[i] = convert<T>(c == t ? p - f : p);
  }
};
}  // namespace detail_cross_entropy

template <class T>
void cross_entropy_forward(CudaContext& ctx, const T* logits, const int32_t* targets, const float* weights,
                           accumulate_t<T>* loss_rows, accumulate_t<T>* lse, int64_t rows, int64_t vocab,
                           int32_t ignore_index) {
  launch_rows(ctx, rows, vocab,
              detail_cross_entropy::Forward<T>{logits, targets, weights, loss_rows, lse, vocab, ignore_index},
              "cross_entropy_forward");
}

template <class T>
void cross_entropy_backward(CudaContext& ctx, const T* logits, const int32_t* targets, const float* weights,
                            const accumulate_t<T>* lse, accumulate_t<T> scale, T* dlogits, int64_t rows,
                            int64_t vocab, int32_t ignore_index) {
  if (vocab <= 0) return;
  for_each(ctx, rows * vocab,
           detail_cross_entropy::Backward<T>{logits, targets, weights, lse, scale, dlogits, vocab, ignore_index},
           "cross_entropy_backward");
}

}  // namespace mnemo::cuda
