// bench/mnemo_bench/cases_cuda.cu — mnemo-bench's cases on the CUDA backend (cuda_cases.hpp): the
// same workloads (workloads.hpp) and runner (run_point.hpp) as the CPU, instantiated on Cuda for
// float, double, __half and __nv_bfloat16. Timing: the default context's stream is synchronised
// around every repetition; peak memory: the default context's device arena; the GEMM ceiling:
// cuBLAS on an n×n×n product in the same run (mnemo/bench/gemm_ceiling.hpp). Compiled only when
// the CUDA backend is (bench/CMakeLists.txt). Not yet run on a GPU.
#include "mnemo/cuda.cuh"
#include "mnemo_bench/cuda_cases.hpp"
#include "mnemo_bench/run_point.hpp"

namespace mnemo::bench_cli {

namespace {
using CudaDtypes = DtypeList<float, double, __half, __nv_bfloat16>;
}  // namespace

BackendSupport cuda_backend() { return backend_support("cuda", "CUDA", CudaDtypes{}); }

void require_cuda_device() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    (void)cudaGetLastError();
    throw UnavailableError(mnemo::detail::cat(
        "--backend cuda: no CUDA device can be used here (cudaGetDeviceCount: ",
        status == cudaSuccess ? std::string("0 devices") : std::string(cudaGetErrorString(status)),
        "), expected a GPU visible to this process (check the driver, nvidia-smi and CUDA_VISIBLE_DEVICES)"));
  }
}

double cuda_device_memory_bytes() {
  size_t free = 0, total = 0;
  MNEMO_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  return static_cast<double>(total);
}

CaseResult run_cuda_point(const Invocation& inv, const Point& p, size_t index, size_t total) {
  return with_dtype<CaseResult>(
      p.str("dtype"), [&](auto t) { return run_point<decltype(t), Cuda>(inv, p, index, total); }, CudaDtypes{});
}

}  // namespace mnemo::bench_cli
