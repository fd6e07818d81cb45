// mnemo/backend/cuda/column_reduce.cuh — deterministic sums down the columns of a [rows, cols]
// view (bias, γ and β gradients, sum_rows), without atomics:
//   1. column_partials: block (tile of 32 columns, block of rows) sums f(r, c) over its rows —
//      each of 8 thread rows walks its rows in order, then the 8 partial sums are added in
//      order — into partial[row_block][k][c];
//   2. column_finalize: for each column, the row blocks' partial sums in order, then
//      epilogue(c, sums).
// The row-block size depends only on the shape (at least 64 rows, at most 512 row blocks), so
// the result is bitwise the same run after run. f may also write per-element outputs (it sees
// every (r, c) exactly once).
#pragma once

#include <cstdint>

#include "mnemo/backend/cuda/check.cuh"
#include "mnemo/backend/cuda/context.cuh"
#include "mnemo/backend/cuda/launch.cuh"
#include "mnemo/backend/cuda/scratch.cuh"

namespace mnemo::cuda {

inline constexpr int kColumnTile = 32;     // columns per block (one warp wide: coalesced rows)
inline constexpr int kColumnThreadRows = 8;  // thread rows per block
inline constexpr int64_t kColumnMinRowsPerBlock = 64;
inline constexpr int64_t kColumnMaxRowBlocks = 512;

/// Rows each row block covers for a reduction over `rows` rows.
inline int64_t column_rows_per_block(int64_t rows) {
  const int64_t spread = ceil_div(rows, kColumnMaxRowBlocks);
  return spread > kColumnMinRowsPerBlock ? spread : kColumnMinRowsPerBlock;
}

template <int K, class A, class F>
__global__ void __launch_bounds__(kColumnTile* kColumnThreadRows)
    column_partials_kernel(F f, int64_t rows, int64_t cols, int64_t rows_per_block, A* partial) {
  __shared__ A sums[K][kColumnThreadRows][kColumnTile];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kColumnTile + threadIdx.x;
  const int64_t r_begin = static_cast<int64_t>(blockIdx.y) * rows_per_block;
  const int64_t r_end = r_begin + rows_per_block < rows ? r_begin + rows_per_block : rows;
  A acc[K];
#pragma unroll
  for (int k = 0; k < K; ++k) acc[k] = A(0);
  if (c < cols)
    for (int64_t r = r_begin + threadIdx.y; r < r_end; r += kColumnThreadRows) f(r, c, acc);
#pragma unroll
  for (int k = 0; k < K; ++k) sums[k][threadIdx.y][threadIdx.x] = acc[k];
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
#pragma unroll
    for (int k = 0; k < K; ++k) {
      A s = sums[k][0][threadIdx.x];
      for (int j = 1; j < kColumnThreadRows; ++j) s += sums[k][j][threadIdx.x];
      partial[(static_cast<int64_t>(blockIdx.y) * K + k) * cols + c] = s;
    }
  }
}

template <int K, class A, class E>
__global__ void __launch_bounds__(kBlockThreads)
    column_finalize_kernel(const A* partial, int64_t row_blocks, int64_t cols, E epilogue) {
  for (int64_t c = global_thread(); c < cols; c += grid_threads()) {
    A s[K];
#pragma unroll
    for (int k = 0; k < K; ++k) s[k] = A(0);
    for (int64_t b = 0; b < row_blocks; ++b)
#pragma unroll
      for (int k = 0; k < K; ++k) s[k] += partial[(b * K + k) * cols + c];
    epilogue(c, s);
  }
}

/// For every column c: sums[k] = Σ_r f(r, c)[k] (k < K, accumulated in A), then epilogue(c, sums).
///   f:        __device__ void operator()(int64_t r, int64_t c, A acc[K]) const  (adds into acc)
///   epilogue: __device__ void operator()(int64_t c, const A sums[K]) const
/// With rows == 0 the epilogue still runs, with zero sums.
template <int K, class A, class F, class E>
void column_reduce(CudaContext& ctx, int64_t rows, int64_t cols, const F& f, const E& epilogue, const char* name) {
  if (cols <= 0) return;
  const int64_t rows_per_block = column_rows_per_block(rows);
  const int64_t row_blocks = rows > 0 ? ceil_div(rows, rows_per_block) : 0;
  ScratchBuffer<A> partial(ctx, row_blocks * K * cols);
  if (row_blocks > 0) {
    const dim3 grid(static_cast<unsigned>(ceil_div(cols, kColumnTile)), static_cast<unsigned>(row_blocks));
    const dim3 block(kColumnTile, kColumnThreadRows);
    column_partials_kernel<K, A, F><<<grid, block, 0, ctx.stream()>>>(f, rows, cols, rows_per_block, partial.data());
    MNEMO_CUDA_CHECK_LAUNCH(name);
  }
  column_finalize_kernel<K, A, E>
      <<<grid_blocks(cols, kBlockThreads), kBlockThreads, 0, ctx.stream()>>>(partial.data(), row_blocks, cols, epilogue);
  MNEMO_CUDA_CHECK_LAUNCH(name);
}

}  // namespace mnemo::cuda
