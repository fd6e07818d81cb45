// src/compiled_cuda/double_bfloat16.cu — mnemo::compiled_cuda: the double and __nv_bfloat16
// instantiations of the CUDA list (MNEMO_CUDA_INSTANTIATIONS in mnemo/backend/cuda/compiled.cuh:
// layers, memories, models, trainers, AdamW, state IO, streams), compiled once
// (docs/compile_time.md). <mnemo/cuda.cuh> comes first and alone, with MNEMO_COMPILED_CUDA defined:
// this file is also the check that the header compiles by itself in the compiled mode and that its
// `extern template` list names real members.
#include "mnemo/cuda.cuh"

MNEMO_CUDA_INSTANTIATIONS(, double)
MNEMO_CUDA_INSTANTIATIONS(, __nv_bfloat16)
