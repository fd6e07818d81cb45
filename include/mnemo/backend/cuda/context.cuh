// mnemo/backend/cuda/context.cuh — CudaContext: the stream every primitive launches on, the
// cuBLAS handle bound to that stream, and the arena that tensors and kernel workspaces of the
// context come from.
//
// One arena per context: a block freed on the host while kernels on the context's stream still
// use it is only handed out again to work queued later on the same stream, so the reuse is
// safe in stream order without any synchronisation. The default context runs on the legacy
// default stream (cudaStreamLegacy), which orders itself with every blocking stream — the kind
// a CudaContext creates — so Tensor's memory functions (which use the default context) are
// ordered with the work of every context. cudaMalloc is reached only when the arena's cache
// has no block of the size asked for; after the first step of a loop, never.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "mnemo/backend/cuda/check.cuh"
#include "mnemo/core/arena.hpp"
#include "mnemo/core/error.hpp"

namespace mnemo::cuda {

/// Set on this thread while a CudaGraph captures: cudaMalloc is not captured (it would
/// invalidate the capture), so an arena miss during a capture is an error.
inline thread_local bool g_graph_capturing = false;

/// Raw allocation for the arenas: cudaMalloc on the current device; nullptr when the device is
/// out of memory (the arena then returns its cache to CUDA and retries once).
inline void* device_allocate(size_t bytes) {
  if (g_graph_capturing)
    throw CudaError(::mnemo::detail::cat("device allocation of ", bytes, " bytes during CUDA graph capture: the captured "
                                "work allocates more than its warm-up run did (expected the same allocations "
                                "on every run)"));
  void* p = nullptr;
  const cudaError_t status = cudaMalloc(&p, bytes);
  if (status == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    return nullptr;
  }
  check_cuda(status, "cudaMalloc", __FILE__, __LINE__);
  return p;
}
/// Raw free for the arenas (errors, e.g. during process teardown, are dropped).
inline void device_free(void* p) {
  if (cudaFree(p) != cudaSuccess) (void)cudaGetLastError();
}

class CudaContext {
 public:
  /// Bytes of the workspace cuBLAS gets (32 MiB: NVIDIA's recommendation for Hopper).
  static constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;

  /// A context on `device` (−1: the calling thread's current device) with a stream of its own.
  explicit CudaContext(int device = -1) { init(device, nullptr, true); }
  /// A context on `device` that launches on `stream`, which the caller keeps alive
  /// (cudaStreamLegacy: the legacy default stream).
  CudaContext(int device, cudaStream_t stream) { init(device, stream, false); }
  ~CudaContext() { release(); }
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t cublas() const { return cublas_; }
  /// Where tensors and workspaces of this context come from; `stats().peak_bytes` is the
  /// high-water mark of device memory in use.
  Arena& arena() const { return *arena_; }

  /// Launch on `stream` from now on (not owned); cuBLAS is rebound to it with its workspace.
  void set_stream(cudaStream_t stream) {
    MNEMO_CUBLAS_CHECK(cublasSetStream(cublas_, stream));
    // cublasSetStream resets the workspace to cuBLAS's default pool: give ours back.
    MNEMO_CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_workspace_, kCublasWorkspaceBytes));
    stream_ = stream;
  }

  /// TF32 tensor cores for fp32 GEMMs (about 10 bits of mantissa in the products): off unless
  /// asked for, since it breaks fp32 agreement with the CPU at the 1e-5 level.
  bool allow_tf32() const { return allow_tf32_; }
  void set_allow_tf32(bool allow) { allow_tf32_ = allow; }

  /// Blocks the host until every piece of work queued on this context's stream has finished.
  void synchronize() const { MNEMO_CUDA_CHECK(cudaStreamSynchronize(stream_)); }
  /// Makes this context's device current on the calling thread.
  void make_current() const { MNEMO_CUDA_CHECK(cudaSetDevice(device_)); }

  /// Serves this context's allocations from `arena` (nullptr: its own arena again) and returns
  /// the arena served before. CudaGraph uses it to give a captured graph private memory.
  Arena* bind_arena(Arena* arena) {
    Arena* previous = arena_;
    arena_ = arena ? arena : own_arena_.get();
    return previous;
  }

  /// The context Tensor<T, Cuda> uses for allocation and copies: the current device at first
  /// use, the legacy default stream. Never destroyed (tensors with static storage may outlive
  /// any static object).
  static CudaContext& default_context() {
    static CudaContext* ctx = new CudaContext(-1, cudaStreamLegacy);
    return *ctx;
  }

 private:
  void init(int device, cudaStream_t stream, bool own_stream) {
    try {
      if (device >= 0) MNEMO_CUDA_CHECK(cudaSetDevice(device));
      MNEMO_CUDA_CHECK(cudaGetDevice(&device_));
      if (own_stream) {
        MNEMO_CUDA_CHECK(cudaStreamCreate(&stream));  // blocking: ordered with the legacy stream
        owns_stream_ = true;
      }
      stream_ = stream;
      MNEMO_CUDA_CHECK(cudaMalloc(&cublas_workspace_, kCublasWorkspaceBytes));
      MNEMO_CUBLAS_CHECK(cublasCreate(&cublas_));
      // fp32 accumulation everywhere: no TF32 unless opted in per call, no reduced-precision
      // split-K reductions for half inputs.
      MNEMO_CUBLAS_CHECK(cublasSetMathMode(
          cublas_, static_cast<cublasMath_t>(CUBLAS_DEFAULT_MATH | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)));
      set_stream(stream_);
      own_arena_ = std::make_unique<Arena>(::mnemo::detail::cat("cuda:", device_), &device_allocate, &device_free);
      arena_ = own_arena_.get();
    } catch (...) {
      release();
      throw;
    }
  }

  void release() noexcept {
    (void)cudaStreamSynchronize(stream_);  // nothing may still use the memory freed below
    own_arena_.reset();  // returns the cached blocks to CUDA
    if (cublas_) (void)cublasDestroy(cublas_);
    if (cublas_workspace_) (void)cudaFree(cublas_workspace_);
    if (owns_stream_) (void)cudaStreamDestroy(stream_);
    cublas_ = nullptr;
    cublas_workspace_ = nullptr;
    owns_stream_ = false;
    (void)cudaGetLastError();
  }

  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  bool owns_stream_ = false;
  cublasHandle_t cublas_ = nullptr;
  void* cublas_workspace_ = nullptr;
  std::unique_ptr<Arena> own_arena_;
  Arena* arena_ = nullptr;
  bool allow_tf32_ = false;
};

}  // namespace mnemo::cuda

namespace mnemo {
/// mnemo::CudaContext: spelled without `cuda::`, which is ambiguous next to CCCL's ::cuda
/// namespace after `using namespace mnemo;`.
using CudaContext = cuda::CudaContext;
}  // namespace mnemo
