// The CUDA test runner: Catch2 with its own main, which exits 77 (CTest: skipped) when no CUDA
// device is usable, and names the device the tests run on. A plain C++ file with no kernel and no
// mnemo header: only the CUDA runtime API and Catch2's session, compiled once by the host compiler
// at -O1 (tests/CMakeLists.txt), like the CPU tests' main. As a .cu including the whole CUDA backend
// it cost 80 s of CPU under nvcc, more than any CUDA test file but test_models.cu (compile_time.md).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cuda_runtime_api.h>

#include <cstdio>

int main(int argc, char* argv[]) {
  int devices = 0;
  const cudaError_t status = cudaGetDeviceCount(&devices);
  if (status != cudaSuccess || devices == 0) {
    std::printf("mnemo_cuda_tests: no usable CUDA device (%s): skipped\n",
                status != cudaSuccess ? cudaGetErrorString(status) : "none found");
    return 77;
  }
  int device = 0;
  cudaDeviceProp prop{};
  if (cudaGetDevice(&device) != cudaSuccess || cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
    std::printf("mnemo_cuda_tests: cannot query the CUDA device: skipped\n");
    return 77;
  }
  int runtime = 0, driver = 0;
  (void)cudaRuntimeGetVersion(&runtime);
  (void)cudaDriverGetVersion(&driver);
  std::printf("mnemo_cuda_tests on device %d: %s (compute capability %d.%d, %d SMs, %.1f GiB), runtime %d, driver %d\n",
              device, prop.name, prop.major, prop.minor, prop.multiProcessorCount,
              static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0), runtime, driver);
  return Catch::Session().run(argc, argv);
}
