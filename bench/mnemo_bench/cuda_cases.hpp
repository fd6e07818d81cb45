// bench/mnemo_bench/cuda_cases.hpp — mnemo-bench's CUDA backend, as cases.cpp sees it. Defined in
// cases_cuda.cu, which is compiled (and MNEMO_BENCH_CUDA defined) only in a CUDA build; the CPU
// translation units never include a CUDA header.
#pragma once

#include <cstddef>

#include "mnemo_bench/backends.hpp"
#include "mnemo_bench/options.hpp"
#include "mnemo_bench/report.hpp"

namespace mnemo::bench_cli {

/// The CUDA element types: float32, float64, float16 (__half), bfloat16 (__nv_bfloat16).
BackendSupport cuda_backend();

/// Throws UnavailableError naming the CUDA runtime's answer when no GPU can be used (no device,
/// no driver, CUDA_VISIBLE_DEVICES empty).
void require_cuda_device();

/// The current device's memory, in bytes (require_cuda_device() first).
double cuda_device_memory_bytes();

/// run_point<T, Cuda> for the point's dtype.
CaseResult run_cuda_point(const Invocation& invocation, const Point& point, size_t index, size_t total);

}  // namespace mnemo::bench_cli
