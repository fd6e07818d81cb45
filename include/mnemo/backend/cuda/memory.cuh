// mnemo/backend/cuda/memory.cuh — copies between host and device and within the device, fill
// and element-type casts, all on the context's stream.
//
// Synchronisation: copy_to_host SYNCHRONISES (the host value is ready on return).
// copy_from_host returns once `src` may be reused: CUDA stages pageable memory before the call
// returns; from page-locked (pinned) memory the copy is truly asynchronous, so the stream is
// then synchronised. Everything else is asynchronous.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "mnemo/backend/cuda/check.cuh"
#include "mnemo/backend/cuda/context.cuh"
#include "mnemo/backend/cuda/half.cuh"
#include "mnemo/backend/cuda/launch.cuh"
#include "mnemo/backend/cuda/scratch.cuh"

namespace mnemo::cuda {

/// True when `p` is host memory that CUDA page-locked (cudaMallocHost / cudaHostRegister).
inline bool is_pinned_host(const void* p) {
  cudaPointerAttributes attributes{};
  if (cudaPointerGetAttributes(&attributes, p) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return attributes.type == cudaMemoryTypeHost;
}

inline void copy_from_host(CudaContext& ctx, void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  MNEMO_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, ctx.stream()));
  if (is_pinned_host(src)) MNEMO_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));
}

/// SYNCHRONISES: the bytes are in `dst` on return.
inline void copy_to_host(CudaContext& ctx, void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  MNEMO_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, ctx.stream()));
  MNEMO_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));
}

/// Device to device with memmove semantics (overlapping ranges go through a temporary).
inline void copy_device(CudaContext& ctx, void* dst, const void* src, size_t bytes) {
  if (bytes == 0 || dst == src) return;
  const auto d = reinterpret_cast<uintptr_t>(dst), s = reinterpret_cast<uintptr_t>(src);
  if (d < s + bytes && s < d + bytes) {
    ScratchBuffer<unsigned char> tmp(ctx, static_cast<int64_t>(bytes));
    MNEMO_CUDA_CHECK(cudaMemcpyAsync(tmp.data(), src, bytes, cudaMemcpyDeviceToDevice, ctx.stream()));
    MNEMO_CUDA_CHECK(cudaMemcpyAsync(dst, tmp.data(), bytes, cudaMemcpyDeviceToDevice, ctx.stream()));
    return;
  }
  MNEMO_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx.stream()));
}

/// `height` rows of `width_bytes`, rows `dst_pitch` / `src_pitch` bytes apart (device to device).
inline void copy_2d(CudaContext& ctx, void* dst, size_t dst_pitch, const void* src, size_t src_pitch,
                    size_t width_bytes, size_t height) {
  if (width_bytes == 0 || height == 0) return;
  MNEMO_CUDA_CHECK(cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, width_bytes, height,
                                     cudaMemcpyDeviceToDevice, ctx.stream()));
}

namespace detail_memory {
template <class T>
struct Fill {
  T* p;
  T value;
  __device__ void operator()(int64_t i) const { p[i] = value; }
};
template <class S, class U>
struct Cast {
  const S* x;
  U* y;
  __device__ void operator()(int64_t i) const { y[i] = convert<U>(x[i]); }
};
}  // namespace detail_memory

template <class T>
void fill(CudaContext& ctx, T* p, int64_t n, T value) {
  if (n <= 0) return;
  const T zero{};
  if (std::memcmp(&value, &zero, sizeof(T)) == 0) {  // all-zero bytes: a memset
    MNEMO_CUDA_CHECK(cudaMemsetAsync(p, 0, sizeof(T) * static_cast<size_t>(n), ctx.stream()));
    return;
  }
  for_each(ctx, n, detail_memory::Fill<T>{p, value}, "fill");
}

/// y = x converted element by element (see convert in half.cuh).
template <class S, class U>
void cast(CudaContext& ctx, int64_t n, const S* x, U* y) {
  for_each(ctx, n, detail_memory::Cast<S, U>{x, y}, "cast");
}

}  // namespace mnemo::cuda
