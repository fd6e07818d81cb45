// mnemo/backend/cuda/launch.cuh — launch configuration shared by the kernels, and for_each: one
// functor call per index of [0, n) over a grid-stride loop (the elementwise primitives).
//
// Every launch goes to the context's stream and is checked (MNEMO_CUDA_CHECK_LAUNCH). Nothing
// is launched for an empty range (a grid of 0 blocks is an invalid configuration).
#pragma once

#include <cstdint>

#include "mnemo/backend/cuda/check.cuh"
#include "mnemo/backend/cuda/context.cuh"

namespace mnemo::cuda {

/// Threads of a one-dimensional block.
inline constexpr int kBlockThreads = 256;
/// Grid-stride loops never launch more blocks than this; the loop covers the rest.
inline constexpr int64_t kMaxGridBlocks = int64_t{1} << 16;

inline constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Blocks for a grid-stride loop over `items` when one block covers `per_block` items per pass:
/// ceil(items / per_block) clamped to [1, max_blocks].
inline unsigned grid_blocks(int64_t items, int64_t per_block, int64_t max_blocks = kMaxGridBlocks) {
  const int64_t want = ceil_div(items, per_block);
  return static_cast<unsigned>(want < 1 ? 1 : (want > max_blocks ? max_blocks : want));
}

/// Index of this thread in a one-dimensional grid, and the grid's thread count.
__device__ __forceinline__ int64_t global_thread() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_threads() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

template <class F>
__global__ void __launch_bounds__(kBlockThreads) for_each_kernel(F f, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) f(i);
}

/// f(i) for every i in [0, n), in parallel, on the context's stream. F is a trivially copyable
/// functor with a `__device__ void operator()(int64_t) const`.
template <class F>
void for_each(CudaContext& ctx, int64_t n, const F& f, const char* name) {
  if (n <= 0) return;
  for_each_kernel<F><<<grid_blocks(n, kBlockThreads), kBlockThreads, 0, ctx.stream()>>>(f, n);
  MNEMO_CUDA_CHECK_LAUNCH(name);
}

}  // namespace mnemo::cuda
