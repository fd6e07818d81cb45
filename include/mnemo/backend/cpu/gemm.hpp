// mnemo/backend/cpu/gemm.hpp — strided batched GEMM on Eigen, row-major.
//   C[b] = alpha · op(A[b]) · op(B[b]) + beta · C[b],   b = 0..batch-1
// op(A) is m×k, op(B) is k×n, C is m×n; X[b] starts at X + b·strideX; ld* are row strides.
// beta == 0 never reads C (it may hold garbage or NaN).
//
// The kernel each block runs on is chosen at build time (CMake option MNEMO_CPU_GEMM, which sets
// one MNEMO_CPU_GEMM_<PROVIDER> definition): Eigen's own (the default, no dependency), OpenBLAS,
// BLIS or oneDNN, each in its own header. A provider declines what it cannot do (oneDNN has no
// double GEMM; BLAS rules on sizes and strides, gemm_provider_shape.hpp): Eigen runs those.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "mnemo/core/config.hpp"
#if MNEMO_COMPILED_BODIES  // a user TU of the compiled mode only declares the GEMM (see the end)
#include <Eigen/Core>
#endif

#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/backend/cpu/thread_scratch.hpp"
#include "mnemo/backend/primitives.hpp"

#if defined(MNEMO_CPU_GEMM_OPENBLAS) + defined(MNEMO_CPU_GEMM_BLIS) + defined(MNEMO_CPU_GEMM_ONEDNN) > 1
#error "mnemo: define at most one MNEMO_CPU_GEMM_<PROVIDER> (CMake option MNEMO_CPU_GEMM)"
#endif
#if defined(MNEMO_CPU_GEMM_OPENBLAS)
#include "mnemo/backend/cpu/gemm_openblas.hpp"
#elif defined(MNEMO_CPU_GEMM_BLIS)
#include "mnemo/backend/cpu/gemm_blis.hpp"
#elif defined(MNEMO_CPU_GEMM_ONEDNN)
#include "mnemo/backend/cpu/gemm_onednn.hpp"
#endif

namespace mnemo::cpu {

/// C[b] = alpha·op(A[b])·op(B[b]) + beta·C[b] for b < batch (the definition follows, or, in a
/// user TU of the compiled mode, is in mnemo::compiled for float and double).
template <class T>
void gemm_strided_batched(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, T alpha,
                          const T* A, int64_t lda, int64_t stride_a, const T* B, int64_t ldb,
                          int64_t stride_b, T beta, T* C, int64_t ldc, int64_t stride_c,
                          int64_t batch);

/// The library behind gemm_strided_batched's kernel: "eigen", "openblas", "blis" or "onednn"
/// (CMake option MNEMO_CPU_GEMM).
inline constexpr const char* gemm_provider_name() {
#if defined(MNEMO_CPU_GEMM_OPENBLAS) || defined(MNEMO_CPU_GEMM_BLIS) || defined(MNEMO_CPU_GEMM_ONEDNN)
  return provider::kGemmName;
#else
  return "eigen";
#endif
}

#if MNEMO_COMPILED_BODIES
template <class T>
using RowMajorMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ConstMatrixMap = Eigen::Map<const RowMajorMatrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using MatrixMap = Eigen::Map<RowMajorMatrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

namespace detail {
/// C (row-major m×n, row stride ldc) += alpha · op(A) · op(B) on Eigen's blocked kernel, on the
/// calling thread. Eigen's expression API would hand a large product to Eigen's own OpenMP
/// threading; its kernel, called directly without parallel info, never starts a thread.
/// Row-major C is column-major C^T = op(B)^T · op(A)^T: op(B)^T is column-major when B is
/// stored k×n (Trans::N), op(A)^T when A is stored m×k.
/// Eigen's blocking sizes for one thread, with the packed panels in the calling thread's scratch
/// (thread_scratch.hpp) instead of a heap block per call (Eigen's own gemm_blocking_space
/// allocates them whenever they exceed its stack limit, i.e. at most of the models' shapes).
template <class T>
class ScratchBlocking : public Eigen::internal::level3_blocking<T, T> {
 public:
  ScratchBlocking(Eigen::Index rows, Eigen::Index cols, Eigen::Index depth) {
    this->m_mc = rows;
    this->m_nc = cols;
    this->m_kc = depth;
    Eigen::internal::computeProductBlockingSizes<T, T, 1, Eigen::Index>(this->m_kc, this->m_mc, this->m_nc,
                                                                          Eigen::Index{1});
    constexpr Eigen::Index kLanes = 64 / sizeof(T);  // panel B starts on a 64-byte boundary too
    const Eigen::Index size_a = (this->m_mc * this->m_kc + kLanes - 1) / kLanes * kLanes;
    T* panels = thread_scratch<T, ScratchSlot::GemmPack>(size_a + this->m_kc * this->m_nc);
    this->m_blockA = panels;
    this->m_blockB = panels + size_a;
  }
};

template <class T, int StorageB, int StorageA>
void eigen_kernel(int64_t m, int64_t n, int64_t k, T alpha, const T* A, int64_t lda, const T* B,
                  int64_t ldb, T* C, int64_t ldc) {
  using Index = Eigen::Index;
  ScratchBlocking<T> blocking(n, m, k);
  Eigen::internal::general_matrix_matrix_product<Index, T, StorageB, false, T, StorageA, false, Eigen::ColMajor,
                                                 1>::run(n, m, k, B, ldb, A, lda, C, 1, ldc, alpha, blocking,
                                                         nullptr);
}

/// Hands C = alpha·op(A)·op(B) + beta·C to the configured provider; false when there is none
/// (Eigen's build), the type is neither float nor double, or the provider declined.
template <class T>
bool provider_gemm([[maybe_unused]] Trans ta, [[maybe_unused]] Trans tb, [[maybe_unused]] int64_t m,
                   [[maybe_unused]] int64_t n, [[maybe_unused]] int64_t k, [[maybe_unused]] T alpha,
                   [[maybe_unused]] const T* A, [[maybe_unused]] int64_t lda, [[maybe_unused]] const T* B,
                   [[maybe_unused]] int64_t ldb, [[maybe_unused]] T beta, [[maybe_unused]] T* C,
                   [[maybe_unused]] int64_t ldc) {
#if defined(MNEMO_CPU_GEMM_OPENBLAS) || defined(MNEMO_CPU_GEMM_BLIS) || defined(MNEMO_CPU_GEMM_ONEDNN)
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>)
    return provider::gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
  return false;
}

template <class T>
void gemm_single(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, T alpha, const T* A,
                 int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (k > 0 && alpha != T(0) && provider_gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)) return;
  MatrixMap<T> c(C, m, n, Eigen::OuterStride<>(ldc));
  if (beta == T(0)) c.setZero();  // never reads C
  else if (beta != T(1)) c *= beta;
  if (k == 0 || alpha == T(0)) return;
  constexpr int kCol = Eigen::ColMajor, kRow = Eigen::RowMajor;
  if (ta == Trans::N && tb == Trans::N) eigen_kernel<T, kCol, kCol>(m, n, k, alpha, A, lda, B, ldb, C, ldc);
  else if (ta == Trans::N) eigen_kernel<T, kRow, kCol>(m, n, k, alpha, A, lda, B, ldb, C, ldc);
  else if (tb == Trans::N) eigen_kernel<T, kCol, kRow>(m, n, k, alpha, A, lda, B, ldb, C, ldc);
  else eigen_kernel<T, kRow, kRow>(m, n, k, alpha, A, lda, B, ldb, C, ldc);
}
}  // namespace detail

/// Rows (or columns) below which a product is not split between threads.
inline constexpr int64_t kGemmMinSplit = 16;

// Threading: mnemo splits the work itself, into the products of the batch and, when there are
// fewer products than threads, blocks of rows (or of columns, when n > m) of each product; one
// job of mnemo's thread pool per call (cpu/thread_pool.hpp), each block on Eigen's kernel (or the
// provider's, asked for one thread per call) on one thread. Eigen's own GEMM threading (OpenMP)
// makes its threads wait on each other by spinning, so on a loaded machine a spinning thread
// holds the core its partner needs.
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
#endif  // MNEMO_COMPILED_BODIES

}  // namespace mnemo::cpu

// Compiled mode (docs/compile_time.md): Eigen's GEMM kernels are the costliest instantiation of
// all; with MNEMO_COMPILED (set by linking mnemo::compiled) they are compiled once, in
// src/compiled/backend_nn_*.cpp, and a user TU sees only the declaration above (no Eigen).
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
