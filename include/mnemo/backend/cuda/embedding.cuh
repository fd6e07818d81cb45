// mnemo/backend/cuda/embedding.cuh — row gather from a table, its adjoint (scatter-add) and the
// id range check (the contract of cpu/embedding.hpp).
//   gather:      out[i, :] = table[ids[i], :]
//   scatter_add: dtable[ids[i], :] += dout[i, :]
// The scatter-add is deterministic without float atomics: the (id, position) pairs are sorted by
// id with CUB's stable radix sort, then one block per run of equal ids adds that run's rows in
// token order (the order the CPU uses) in accumulate_t<T> and writes the row once.
#pragma once

#include <climits>
#include <cstddef>
#include <cstdint>

#include <cub/device/device_radix_sort.cuh>

#include "mnemo/backend/cuda/check.cuh"
#include "mnemo/backend/cuda/context.cuh"
#include "mnemo/backend/cuda/half.cuh"
#include "mnemo/backend/cuda/launch.cuh"
#include "mnemo/backend/cuda/reduce.cuh"
#include "mnemo/backend/cuda/scratch.cuh"
#include "mnemo/backend/cuda/thread_group.cuh"
#include "mnemo/core/error.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cuda {

namespace detail_embedding {
template <class T>
struct Gather {
  const T* table;
  const int32_t* ids;
  T* out;
  int64_t dim;
  __device__ void operator()(int64_t o) const {
    out[o] = table[static_cast<int64_t>(ids[o / dim]) * dim + o % dim];
  }
};
struct Iota {
  int32_t* out;
  __device__ void operator()(int64_t i) const { out[i] = static_cast<int32_t>(i); }
};
struct InvalidId {
  const int32_t* ids;
  int64_t vocab, allowed;
  __device__ unsigned long long operator()(int64_t i) const {
    const int64_t id = ids[i];
    return (id != allowed && (id < 0 || id >= vocab)) ? 1ull : 0ull;
  }
};

/// Blocks walk sorted positions j (grid-stride); the block at the first position of a run of
/// equal ids sums the run for its tile of columns. Runs are found, not stored, so the kernel
/// needs no scan.
template <class T>
__global__ void __launch_bounds__(kBlockThreads)
    scatter_runs_kernel(const T* dout, const int32_t* sorted_ids, const int32_t* sorted_pos, T* dtable, int64_t n,
                        int64_t dim) {
  using A = accumulate_t<T>;
  const int64_t c = static_cast<int64_t>(blockIdx.y) * kBlockThreads + threadIdx.x;
  for (int64_t j = blockIdx.x; j < n; j += gridDim.x) {
    const int32_t id = sorted_ids[j];
    if (c >= dim || (j > 0 && sorted_ids[j - 1] == id)) continue;  // not the start of a run
    T* dst = dtable + static_cast<int64_t>(id) * dim + c;
    A acc = convert<A>(*dst);
    for (int64_t k = j; k < n && sorted_ids[k] == id; ++k)
      acc += convert<A>(dout[static_cast<int64_t>(sorted_pos[k]) * dim + c]);
    *dst = convert<T>(acc);
  }
}
}  // namespace detail_embedding

template <class T>
void embedding_gather(CudaContext& ctx, const T* table, const int32_t* ids, T* out, int64_t n, int64_t dim) {
  if (dim <= 0) return;
  for_each(ctx, n * dim, detail_embedding::Gather<T>{table, ids, out, dim}, "embedding_gather");
}

template <class T>
void embedding_scatter_add(CudaContext& ctx, const T* dout, const int32_t* ids, T* dtable, int64_t n, int64_t dim) {
  if (n <= 0 || dim <= 0) return;
  require<ValueError>(n <= INT_MAX, "embedding_scatter_add: ", n, " ids, expected at most ", INT_MAX);
  const int items = static_cast<int>(n);
  ScratchBuffer<int32_t> positions(ctx, n), sorted_ids(ctx, n), sorted_pos(ctx, n);
  for_each(ctx, n, detail_embedding::Iota{positions.data()}, "embedding_scatter_add (iota)");
  size_t temp_bytes = 0;
  MNEMO_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, ids, sorted_ids.data(), positions.data(),
                                                   sorted_pos.data(), items, 0, 32, ctx.stream()));
  ScratchBuffer<unsigned char> temp(ctx, static_cast<int64_t>(temp_bytes));
  MNEMO_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.data(), temp_bytes, ids, sorted_ids.data(),
                                                   positions.data(), sorted_pos.data(), items, 0, 32, ctx.stream()));
  const dim3 grid(grid_blocks(n, 1), static_cast<unsigned>(ceil_div(dim, kBlockThreads)));
  detail_embedding::scatter_runs_kernel<T>
      <<<grid, kBlockThreads, 0, ctx.stream()>>>(dout, sorted_ids.data(), sorted_pos.data(), dtable, n, dim);
  MNEMO_CUDA_CHECK_LAUNCH("embedding_scatter_add");
}

/// Number of ids outside [0, vocab) other than `allowed`. SYNCHRONISES (host result).
inline int64_t count_invalid_ids(CudaContext& ctx, const int32_t* ids, int64_t n, int64_t vocab, int64_t allowed) {
  return static_cast<int64_t>(reduce_to_host<unsigned long long>(
      ctx, n, detail_embedding::InvalidId{ids, vocab, allowed}, Plus{}, 0ull, "count_invalid_ids"));
}

}  // namespace mnemo::cuda
