// mnemo/backend/cuda/reduce.cuh — reductions of a whole array to one host value (sum, dot,
// sum of squares, max |x|, non-finite count) and column sums (sum_rows).
//
// Deterministic two-pass tree: a grid whose size depends only on n reduces grid-strided slices
// into one partial per block (fixed thread order, then the block's warps in order), and a
// single block reduces the partials in order. Sums accumulate in double, as on the CPU. The
// host value is copied back and the stream synchronised: these primitives SYNCHRONISE.
#pragma once

#include <cstdint>

#include "mnemo/backend/cuda/check.cuh"
#include "mnemo/backend/cuda/column_reduce.cuh"
#include "mnemo/backend/cuda/context.cuh"
#include "mnemo/backend/cuda/half.cuh"
#include "mnemo/backend/cuda/launch.cuh"
#include "mnemo/backend/cuda/math.cuh"
#include "mnemo/backend/cuda/scratch.cuh"
#include "mnemo/backend/cuda/thread_group.cuh"
#include "mnemo/core/precision.hpp"

namespace mnemo::cuda {

/// At most this many partial results (blocks) in the first pass.
inline constexpr int64_t kReduceMaxBlocks = 1024;
/// Elements per thread before the first pass uses another block.
inline constexpr int64_t kReducePerThread = 16;

template <class V, class Op, class F>
__global__ void __launch_bounds__(kBlockThreads) reduce_blocks_kernel(F f, Op op, V identity, int64_t n, V* partial) {
  __shared__ alignas(16) unsigned char scratch[ThreadGroup<kBlockThreads>::kScratchBytes];
  const ThreadGroup<kBlockThreads> group{static_cast<int>(threadIdx.x), scratch};
  V acc = identity;
  for (int64_t i = global_thread(); i < n; i += grid_threads()) acc = op(acc, f(i));
  acc = group.allreduce(acc, op);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

/// Reads element i of an array (the second pass reduces the partials with it).
template <class V>
struct ArrayRead {
  const V* x;
  __device__ V operator()(int64_t i) const { return x[i]; }
};

/// op-reduction of f(i) over [0, n) (identity when n == 0), returned to the host. SYNCHRONISES.
template <class V, class Op, class F>
V reduce_to_host(CudaContext& ctx, int64_t n, const F& f, Op op, V identity, const char* name) {
  if (n <= 0) return identity;
  const unsigned blocks = grid_blocks(n, kBlockThreads * kReducePerThread, kReduceMaxBlocks);
  ScratchBuffer<V> partial(ctx, static_cast<int64_t>(blocks) + 1);
  V* result = partial.data() + blocks;
  reduce_blocks_kernel<V, Op, F><<<blocks, kBlockThreads, 0, ctx.stream()>>>(f, op, identity, n, partial.data());
  MNEMO_CUDA_CHECK_LAUNCH(name);
  reduce_blocks_kernel<V, Op, ArrayRead<V>>
      <<<1, kBlockThreads, 0, ctx.stream()>>>(ArrayRead<V>{partial.data()}, op, identity, blocks, result);
  MNEMO_CUDA_CHECK_LAUNCH(name);
  V host = identity;
  MNEMO_CUDA_CHECK(cudaMemcpyAsync(&host, result, sizeof(V), cudaMemcpyDeviceToHost, ctx.stream()));
  MNEMO_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));
  return host;
}

namespace detail_reduce {
template <class T>
struct Value {
  const T* x;
  __device__ double operator()(int64_t i) const { return convert<double>(x[i]); }
};
template <class T>
struct Product {
  const T* x;
  const T* y;
  __device__ double operator()(int64_t i) const { return convert<double>(x[i]) * convert<double>(y[i]); }
};
template <class T>
struct Square {
  const T* x;
  __device__ double operator()(int64_t i) const {
    const double v = convert<double>(x[i]);
    return v * v;
  }
};
template <class T>
struct AbsValue {
  const T* x;
  __device__ double operator()(int64_t i) const { return math::abs(convert<double>(x[i])); }
};
template <class T>
struct NonFinite {
  const T* x;
  __device__ unsigned long long operator()(int64_t i) const { return math::is_finite(convert<double>(x[i])) ? 0ull : 1ull; }
};
/// sum_rows: adds x[r, c]; the epilogue writes out[c] (+= when accumulating).
template <class T>
struct ColumnValue {
  const T* x;
  int64_t cols;
  __device__ void operator()(int64_t r, int64_t c, accumulate_t<T>* acc) const {
    acc[0] += convert<accumulate_t<T>>(x[r * cols + c]);
  }
};
template <class T>
struct StoreColumnSum {
  T* out;
  bool accumulate;
  __device__ void operator()(int64_t c, const accumulate_t<T>* sums) const {
    using A = accumulate_t<T>;
    out[c] = convert<T>((accumulate ? convert<A>(out[c]) : A(0)) + sums[0]);
  }
};
}  // namespace detail_reduce

template <class T>
double sum(CudaContext& ctx, const T* x, int64_t n) {
  return reduce_to_host<double>(ctx, n, detail_reduce::Value<T>{x}, Plus{}, 0.0, "sum");
}
template <class T>
double dot(CudaContext& ctx, const T* x, const T* y, int64_t n) {
  return reduce_to_host<double>(ctx, n, detail_reduce::Product<T>{x, y}, Plus{}, 0.0, "dot");
}
template <class T>
double sum_squares(CudaContext& ctx, const T* x, int64_t n) {
  return reduce_to_host<double>(ctx, n, detail_reduce::Square<T>{x}, Plus{}, 0.0, "sum_squares");
}
/// max |x_i|, ignoring NaN (as the CPU backend); 0 for an empty array.
template <class T>
double max_abs(CudaContext& ctx, const T* x, int64_t n) {
  return reduce_to_host<double>(ctx, n, detail_reduce::AbsValue<T>{x}, Max{}, 0.0, "max_abs");
}
template <class T>
int64_t count_nonfinite(CudaContext& ctx, const T* x, int64_t n) {
  return static_cast<int64_t>(
      reduce_to_host<unsigned long long>(ctx, n, detail_reduce::NonFinite<T>{x}, Plus{}, 0ull, "count_nonfinite"));
}

/// out[c] = Σ_r x[r, c]  (accumulate: out[c] += ...). Asynchronous.
template <class T>
void sum_rows(CudaContext& ctx, const T* x, T* out, int64_t rows, int64_t cols, bool accumulate) {
  column_reduce<1, accumulate_t<T>>(ctx, rows, cols, detail_reduce::ColumnValue<T>{x, cols},
                                    detail_reduce::StoreColumnSum<T>{out, accumulate}, "sum_rows");
}

}  // namespace mnemo::cuda
