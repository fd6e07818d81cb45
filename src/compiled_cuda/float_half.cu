// src/compiled_cuda/float_half.cu — mnemo::compiled_cuda: the float and __half instantiations of the
// CUDA list (MNEMO_CUDA_INSTANTIATIONS in mnemo/backend/cuda/compiled.cuh: layers, memories, models,
// trainers, AdamW, state IO, streams), compiled once (docs/compile_time.md). <mnemo/cuda.cuh> comes
// first and alone, with MNEMO_COMPILED_CUDA defined: this file is also the check that the header
// compiles by itself in the compiled mode and that its `extern template` list names real members.
#include "mnemo/cuda.cuh"

MNEMO_CUDA_INSTANTIATIONS(, float)
MNEMO_CUDA_INSTANTIATIONS(, __half)
