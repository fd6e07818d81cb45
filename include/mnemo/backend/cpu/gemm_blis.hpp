// mnemo/backend/cpu/gemm_blis.hpp — BLIS as the provider of mnemo's CPU GEMM (CMake:
// -DMNEMO_CPU_GEMM=blis, which defines MNEMO_CPU_GEMM_BLIS and links BLIS). Without that
// definition this header declares nothing, so it compiles alone in every build.
//
// BLIS's typed API takes a row and a column stride per operand, so row-major storage needs no
// transposition trick. Threading: mnemo splits a product between its own pool's threads
// (gemm.hpp) and BLIS runs each block on the calling thread (its thread count is set to 1, which
// the pthread build of BLIS honours and the serial build — Debian: libblis-serial-dev — is).
#pragma once

#if defined(MNEMO_CPU_GEMM_BLIS)

#include <blis.h>

#include <cstdint>
#include <type_traits>

#include "mnemo/backend/cpu/gemm_provider_shape.hpp"
#include "mnemo/backend/primitives.hpp"

namespace mnemo::cpu::provider {

/// The provider's name, as reported by gemm_provider_name().
inline constexpr const char* kGemmName = "blis";

namespace blis_detail {
/// Asks BLIS for one thread per call, once per process.
inline void one_thread_per_call() {
  static const bool done = [] {
    bli_thread_set_num_threads(1);
    return true;
  }();
  (void)done;
}
inline trans_t op(Trans t) { return t == Trans::N ? BLIS_NO_TRANSPOSE : BLIS_TRANSPOSE; }
}  // namespace blis_detail

/// C = alpha·op(A)·op(B) + beta·C (row-major: row stride ld, column stride 1) on bli_sgemm
/// (float) or bli_dgemm (double); false (nothing written) when the product does not fit
/// blas_accepts.
template <class T>
  requires std::is_same_v<T, float> || std::is_same_v<T, double>
bool gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc) {
  if (!blas_accepts(ta, tb, m, n, k, lda, ldb, ldc)) return false;
  blis_detail::one_thread_per_call();
  constexpr auto bli_gemm = [] {
    if constexpr (std::is_same_v<T, float>) return &bli_sgemm;
    else return &bli_dgemm;
  }();
  // BLIS 0.9's typed API takes non-const pointers; it does not write A, B, alpha or beta.
  bli_gemm(blis_detail::op(ta), blis_detail::op(tb), m, n, k, &alpha, const_cast<T*>(A), lda, 1, const_cast<T*>(B),
           ldb, 1, &beta, C, ldc, 1);
  return true;
}

}  // namespace mnemo::cpu::provider

#endif  // MNEMO_CPU_GEMM_BLIS
