// mnemo/backend/cpu/gemm.hpp — strided batched GEMM on Eigen, row-major.
//   C[b] = alpha · op(A[b]) · op(B[b]) + beta · C[b],   b = 0..batch-1
// op(A) is m×k, op(B) is k×n, C is m×n; X[b] starts at X + b·strideX; ld* are row strides.
// beta == 0 never reads C (it may hold garbage or NaN).
#pragma once

#include <algorithm>
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

/// Rows (or columns) below which a product is not split between threads.
inline constexpr int64_t kGemmMinSplit = 16;

// Threading: mnemo splits the work itself, into the products of the batch and, when there are
// fewer products than threads, blocks of rows (or of columns, when n > m) of each product; one
// OpenMP region per call, and Eigen runs single-threaded inside it (Eigen does not thread a
// product from inside a parallel region). Eigen's own GEMM threading makes its threads wait on
// each other by spinning, so on a loaded machine a spinning thread holds the core its partner
// needs and a small product could take a whole scheduler time slice.
template <class T>
void gemm_strided_batched(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, T alpha,
                          const T* A, int64_t lda, int64_t stride_a, const T* B, int64_t ldb,
                          int64_t stride_b, T beta, T* C, int64_t ldc, int64_t stride_c,
                          int64_t batch) {
  if (m <= 0 || n <= 0 || batch <= 0) return;
  const bool split_rows = m >= n;
  const int64_t extent = split_rows ? m : n;
  const int64_t flops = 2 * m * n * std::max<int64_t>(k, 1);
  const int64_t threads = parallel_threads();
  const int64_t parts =
      batch >= threads || flops * batch < kParallelWork
          ? 1
          : std::max<int64_t>(1, std::min((threads + batch - 1) / batch, extent / kGemmMinSplit));
  const int64_t flops_per_part = flops / parts;
  parallel_for(batch * parts, flops_per_part, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / parts, part = item % parts;
      const T* a = A + b * stride_a;
      const T* bm = B + b * stride_b;
      T* c = C + b * stride_c;
      // Block [lo, hi) of the split dimension; inner boundaries on multiples of 8 elements.
      const int64_t lo = part == 0 ? 0 : (extent * part / parts) / 8 * 8;
      const int64_t hi = part + 1 == parts ? extent : (extent * (part + 1) / parts) / 8 * 8;
      if (split_rows)  // rows lo..hi of op(A) and C
        detail::gemm_single(ta, tb, hi - lo, n, k, alpha, a + (ta == Trans::N ? lo * lda : lo), lda, bm, ldb,
                            beta, c + lo * ldc, ldc);
      else  // columns lo..hi of op(B) and C
        detail::gemm_single(ta, tb, m, hi - lo, k, alpha, a, lda, bm + (tb == Trans::N ? lo : lo * ldb), ldb,
                            beta, c + lo, ldc);
    }
  });
}

}  // namespace mnemo::cpu

// Compiled mode (docs/compile_time.md): Eigen's GEMM kernels are the costliest instantiation of
// all; with MNEMO_COMPILED (set by linking mnemo::compiled) they are compiled once, in
// src/compiled/backend.cpp.
#if defined(MNEMO_COMPILED)
namespace mnemo::cpu {
extern template void gemm_strided_batched<float>(Trans, Trans, int64_t, int64_t, int64_t, float, const float*,
                                                 int64_t, int64_t, const float*, int64_t, int64_t, float, float*,
                                                 int64_t, int64_t, int64_t);
extern template void gemm_strided_batched<double>(Trans, Trans, int64_t, int64_t, int64_t, double, const double*,
                                                  int64_t, int64_t, const double*, int64_t, int64_t, double,
                                                  double*, int64_t, int64_t, int64_t);
}  // namespace mnemo::cpu
#endif  // MNEMO_COMPILED
