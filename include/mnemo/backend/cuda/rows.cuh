// mnemo/backend/cuda/rows.cuh — launch_rows: one thread group per row of a [rows, cols] view,
// for the fused row kernels (softmax, layer norm, L2 normalisation). Rows of up to 1024 columns
// get a warp each (4 rows per 128-thread block); longer rows a 256-thread block each. The choice
// depends only on cols, so a given shape always runs the same reduction order (deterministic).
#pragma once

#include <cstdint>

#include "mnemo/backend/cuda/check.cuh"
#include "mnemo/backend/cuda/context.cuh"
#include "mnemo/backend/cuda/launch.cuh"
#include "mnemo/backend/cuda/thread_group.cuh"

namespace mnemo::cuda {

/// Rows up to this many columns are handled by one warp.
inline constexpr int64_t kWarpRowMaxCols = 1024;

template <int kThreads, int kBlock, class Body>
__global__ void __launch_bounds__(kBlock) rows_kernel(Body body, int64_t rows) {
  constexpr int kGroups = kBlock / kThreads;
  __shared__ alignas(16) unsigned char scratch[ThreadGroup<kThreads>::kScratchBytes];
  const ThreadGroup<kThreads> group{static_cast<int>(threadIdx.x) % kThreads, scratch};
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kGroups + threadIdx.x / kThreads;
  // The loop bounds are uniform over a group (a warp, or the block for block-wide groups).
  for (int64_t row = first; row < rows; row += static_cast<int64_t>(gridDim.x) * kGroups) body(row, group);
}

/// body(row, group) for every row in [0, rows). Body is a trivially copyable functor with
///   template <int K> __device__ void operator()(int64_t row, const ThreadGroup<K>& g) const
/// in which thread g.rank handles columns g.rank, g.rank + K, ... and reduces with g.allreduce.
template <class Body>
void launch_rows(CudaContext& ctx, int64_t rows, int64_t cols, const Body& body, const char* name) {
  if (rows <= 0) return;
  if (cols <= kWarpRowMaxCols) {
    constexpr int kBlock = 128;
    rows_kernel<32, kBlock, Body><<<grid_blocks(rows, kBlock / 32), kBlock, 0, ctx.stream()>>>(body, rows);
  } else {
    constexpr int kBlock = 256;
    rows_kernel<kBlock, kBlock, Body><<<grid_blocks(rows, 1), kBlock, 0, ctx.stream()>>>(body, rows);
  }
  MNEMO_CUDA_CHECK_LAUNCH(name);
}

}  // namespace mnemo::cuda
