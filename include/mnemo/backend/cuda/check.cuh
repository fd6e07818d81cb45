// mnemo/backend/cuda/check.cuh — every CUDA runtime and cuBLAS status turned into a
// mnemo::CudaError that names the call, where it was made and CUDA's own error string:
//   "CudaError: cudaMemcpyAsync(...) failed at gemm.cuh:42: cudaErrorInvalidValue: invalid argument"
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "mnemo/core/error.hpp"

namespace mnemo::cuda {

/// Throws CudaError unless `status` is cudaSuccess. The runtime's last-error slot is cleared
/// first, so that the next launch check does not report this (already thrown) error again.
inline void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
  if (status == cudaSuccess) return;
  (void)cudaGetLastError();
  throw CudaError(::mnemo::detail::cat(call, " failed at ", file, ":", line, ": ", cudaGetErrorName(status), ": ",
                              cudaGetErrorString(status)));
}

/// Throws CudaError unless `status` is CUBLAS_STATUS_SUCCESS.
inline void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw CudaError(::mnemo::detail::cat(call, " failed at ", file, ":", line, ": ", cublasGetStatusName(status), ": ",
                              cublasGetStatusString(status)));
}

/// After a kernel launch: reports a bad launch configuration (and any earlier asynchronous fault).
inline void check_launch(const char* kernel, const char* file, int line) {
  const cudaError_t status = cudaGetLastError();
  if (status == cudaSuccess) return;
  throw CudaError(::mnemo::detail::cat("launch of kernel ", kernel, " failed at ", file, ":", line, ": ",
                              cudaGetErrorName(status), ": ", cudaGetErrorString(status)));
}

}  // namespace mnemo::cuda

#define MNEMO_CUDA_CHECK(call) ::mnemo::cuda::check_cuda((call), #call, __FILE__, __LINE__)
#define MNEMO_CUBLAS_CHECK(call) ::mnemo::cuda::check_cublas((call), #call, __FILE__, __LINE__)
#define MNEMO_CUDA_CHECK_LAUNCH(kernel) ::mnemo::cuda::check_launch((kernel), __FILE__, __LINE__)
