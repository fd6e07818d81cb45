// mnemo/backend/cpu/gemm.hpp — strided batched GEMM on Eigen, row-major.
//   C[b] = alpha · op(A[b]) · op(B[b]) + beta · C[b],   b = 0..batch-1
// op(A) is m×k, op(B) is k×n, C is m×n; X[b] starts at X + b·strideX; ld* are row strides.
// beta == 0 never reads C (it may hold garbage or NaN).
#pragma once

#include <cstdint>

#include <Eigen/Core>

#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/backend/primitives.hpp"

namespace mnemo::cpu {

template <class T>
using RowMajorMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ConstMatrixMap = Eigen::Map<const RowMajorMatrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using MatrixMap = Eigen::Map<RowMajorMatrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

namespace detail {
template <class T, class OpA, class OpB>
void gemm_one(const OpA& a, const OpB& b, T alpha, T beta, MatrixMap<T>& c) {
  if (beta == T(0)) {
    c.noalias() = alpha * (a * b);
  } else {
    if (beta != T(1)) c *= beta;
    c.noalias() += alpha * (a * b);
  }
}

template <class T>
void gemm_single(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, T alpha, const T* A,
                 int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  MatrixMap<T> c(C, m, n, Eigen::OuterStride<>(ldc));
  if (k == 0) {  // empty product: C = beta·C
    if (beta == T(0)) c.setZero(); else c *= beta;
    return;
  }
  const ConstMatrixMap<T> a(A, ta == Trans::N ? m : k, ta == Trans::N ? k : m,
                            Eigen::OuterStride<>(lda));
  const ConstMatrixMap<T> b(B, tb == Trans::N ? k : n, tb == Trans::N ? n : k,
                            Eigen::OuterStride<>(ldb));
  if (ta == Trans::N && tb == Trans::N) gemm_one(a, b, alpha, beta, c);
  else if (ta == Trans::N) gemm_one(a, b.transpose(), alpha, beta, c);
  else if (tb == Trans::N) gemm_one(a.transpose(), b, alpha, beta, c);
  else gemm_one(a.transpose(), b.transpose(), alpha, beta, c);
}
}  // namespace detail

template <class T>
void gemm_strided_batched(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, T alpha,
                          const T* A, int64_t lda, int64_t stride_a, const T* B, int64_t ldb,
                          int64_t stride_b, T beta, T* C, int64_t ldc, int64_t stride_c,
                          int64_t batch) {
  if (m <= 0 || n <= 0 || batch <= 0) return;
  if (batch == 1) {
    // One product: Eigen parallelises inside it.
    detail::gemm_single(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // Many products: one thread per group of products, each product single-threaded.
  parallel_for(batch, 2 * m * n * (k > 0 ? k : 1), [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b)
      detail::gemm_single(ta, tb, m, n, k, alpha, A + b * stride_a, lda, B + b * stride_b, ldb,
                          beta, C + b * stride_c, ldc);
  });
}

}  // namespace mnemo::cpu
