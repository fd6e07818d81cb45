// mnemo/backend/cpu/gemm_openblas.hpp — OpenBLAS as the provider of mnemo's CPU GEMM
// (CMake: -DMNEMO_CPU_GEMM=openblas, which defines MNEMO_CPU_GEMM_OPENBLAS and links OpenBLAS).
// Without that definition this header declares nothing, so it compiles alone in every build.
//
// Threading: mnemo splits a product between its own pool's threads (gemm.hpp) and calls
// cblas_?gemm on each block; OpenBLAS is asked for one thread per call, so its own threads (the
// pthread build starts them when loaded) stay asleep and never compete with mnemo's.
// The serial build of OpenBLAS (Debian: libopenblas-serial-dev) starts none.
#pragma once

#if defined(MNEMO_CPU_GEMM_OPENBLAS)

#include <cblas.h>

#include <cstdint>
#include <type_traits>

#include "mnemo/backend/cpu/gemm_provider_shape.hpp"
#include "mnemo/backend/primitives.hpp"

namespace mnemo::cpu::provider {

/// The provider's name, as reported by gemm_provider_name().
inline constexpr const char* kGemmName = "openblas";

namespace openblas_detail {
/// Asks OpenBLAS for one thread per call, once per process.
inline void one_thread_per_call() {
  static const bool done = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)done;
}
inline CBLAS_TRANSPOSE op(Trans t) { return t == Trans::N ? CblasNoTrans : CblasTrans; }
}  // namespace openblas_detail

/// C = alpha·op(A)·op(B) + beta·C (row-major) on cblas_sgemm (float) or cblas_dgemm (double);
/// false (nothing written) when the product does not fit CBLAS's rules (blas_accepts).
template <class T>
  requires std::is_same_v<T, float> || std::is_same_v<T, double>
bool gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc) {
  if (!blas_accepts(ta, tb, m, n, k, lda, ldb, ldc)) return false;
  openblas_detail::one_thread_per_call();
  constexpr auto cblas_gemm = [] {
    if constexpr (std::is_same_v<T, float>) return &cblas_sgemm;
    else return &cblas_dgemm;
  }();
  cblas_gemm(CblasRowMajor, openblas_detail::op(ta), openblas_detail::op(tb), static_cast<blasint>(m),
             static_cast<blasint>(n), static_cast<blasint>(k), alpha, A, static_cast<blasint>(lda), B,
             static_cast<blasint>(ldb), beta, C, static_cast<blasint>(ldc));
  return true;
}

}  // namespace mnemo::cpu::provider

#endif  // MNEMO_CPU_GEMM_OPENBLAS
