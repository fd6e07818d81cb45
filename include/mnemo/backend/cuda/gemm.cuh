// mnemo/backend/cuda/gemm.cuh — strided batched GEMM through cuBLAS, row-major.
//   C[b] = alpha · op(A[b]) · op(B[b]) + beta · C[b],   b = 0..batch-1
// (the contract of cpu/gemm.hpp). cuBLAS is column-major: a row-major m×n matrix with row
// stride ld is the column-major n×m matrix with leading dimension ld, its transpose. So
//   Cᵀ = op(B)ᵀ · op(A)ᵀ
// is one column-major GEMM with the operands swapped (B first, A second), m and n swapped, and
// the transpose flags and leading dimensions unchanged.
// Compute types: fp32 accumulation for float, __half and __nv_bfloat16 (TF32 tensor cores for
// float only when the context opts in), fp64 for double. beta == 0 never reads C.
#pragma once

#include <cstdint>
#include <type_traits>

#include <cublas_v2.h>

#include "mnemo/backend/cuda/check.cuh"
#include "mnemo/backend/cuda/context.cuh"
#include "mnemo/backend/cuda/half.cuh"
#include "mnemo/backend/cuda/launch.cuh"
#include "mnemo/backend/primitives.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cuda {

/// cuBLAS data type and compute type of element type T.
template <class T>
struct CublasTypes;
template <>
struct CublasTypes<float> {
  static constexpr cudaDataType data = CUDA_R_32F;
  static cublasComputeType_t compute(bool allow_tf32) {
    return allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  }
};
template <>
struct CublasTypes<double> {
  static constexpr cudaDataType data = CUDA_R_64F;
  static cublasComputeType_t compute(bool) { return CUBLAS_COMPUTE_64F; }
};
template <>
struct CublasTypes<__half> {
  static constexpr cudaDataType data = CUDA_R_16F;
  static cublasComputeType_t compute(bool) { return CUBLAS_COMPUTE_32F; }
};
template <>
struct CublasTypes<__nv_bfloat16> {
  static constexpr cudaDataType data = CUDA_R_16BF;
  static cublasComputeType_t compute(bool) { return CUBLAS_COMPUTE_32F; }
};

namespace detail_gemm {
/// C[b] = beta·C[b] over m×n matrices (rows ldc apart, batches stride_c apart): the k == 0 GEMM.
template <class T>
struct ScaleMatrices {
  T* c;
  int64_t m, n, ldc, stride_c;
  compute_t<T> beta;
  __device__ void operator()(int64_t o) const {
    using C = compute_t<T>;
    const int64_t b = o / (m * n), rc = o % (m * n);
    T& e = c[b * stride_c + (rc / n) * ldc + rc % n];
    e = beta == C(0) ? T{} : convert<T>(beta * convert<C>(e));
  }
};
inline cublasOperation_t op(Trans t) { return t == Trans::N ? CUBLAS_OP_N : CUBLAS_OP_T; }
}  // namespace detail_gemm

template <class T>
void gemm(CudaContext& ctx, Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, compute_t<T> alpha, const T* A,
          int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, compute_t<T> beta, T* C,
          int64_t ldc, int64_t stride_c, int64_t batch) {
  if (m <= 0 || n <= 0 || batch <= 0) return;
  if (k <= 0) {  // empty product: C = beta·C (not left to cuBLAS)
    for_each(ctx, batch * m * n, detail_gemm::ScaleMatrices<T>{C, m, n, ldc, stride_c, beta}, "gemm (k = 0)");
    return;
  }
  using Types = CublasTypes<T>;
  // alpha and beta are host scalars of the compute type's scale type: float, or double for fp64.
  static_assert(std::is_same_v<compute_t<T>, std::conditional_t<std::is_same_v<T, double>, double, float>>);
  MNEMO_CUBLAS_CHECK(cublasGemmStridedBatchedEx_64(
      ctx.cublas(), detail_gemm::op(tb), detail_gemm::op(ta), n, m, k, &alpha, B, Types::data, ldb, stride_b, A,
      Types::data, lda, stride_a, &beta, C, Types::data, ldc, stride_c, batch, Types::compute(ctx.allow_tf32()),
      CUBLAS_GEMM_DEFAULT));
}

}  // namespace mnemo::cuda
