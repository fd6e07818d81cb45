// mnemo/cuda.cuh — mnemo with the CUDA backend: everything in <mnemo/mnemo.hpp> plus
// BackendTraits<Cuda>, the __half / __nv_bfloat16 element types, CudaContext and CudaGraph.
// Include it only from translation units compiled by nvcc (.cu files).
#pragma once

#if !defined(__CUDACC__)
#error "<mnemo/cuda.cuh> needs the CUDA compiler: include it only from .cu files compiled by nvcc (link mnemo::cuda); CPU-only code includes <mnemo/mnemo.hpp>"
#endif

// mnemo runs Eigen on the host only; Eigen's own CUDA support is not needed and warns under
// recent nvcc. Leave it alone when the includer has already configured Eigen.
#if !defined(EIGEN_NO_CUDA) && !defined(EIGEN_WORLD_VERSION)
#define EIGEN_NO_CUDA
#endif

#include "mnemo/mnemo.hpp"

#include "mnemo/backend/cuda/check.cuh"
#include "mnemo/backend/cuda/context.cuh"
#include "mnemo/backend/cuda/graph.cuh"
#include "mnemo/backend/cuda/half.cuh"
#include "mnemo/backend/cuda/traits.cuh"
#include "mnemo/models/infinite_former_stream.cuh"
#include "mnemo/models/memformer_stream.cuh"

// The compiled mode's CUDA half (linking mnemo::compiled_cuda defines MNEMO_COMPILED_CUDA): the
// models, layers, trainers, state IO and streams on Cuda declared `extern template`, compiled
// once in src/compiled_cuda/ (docs/compile_time.md). Without the macro it declares nothing.
#include "mnemo/backend/cuda/compiled.cuh"
