// mnemo/backend/cpu/gemm_onednn.hpp — oneDNN as the provider of mnemo's float CPU GEMM (CMake:
// -DMNEMO_CPU_GEMM=onednn, which defines MNEMO_CPU_GEMM_ONEDNN and links oneDNN and its OpenMP
// runtime). Without that definition this header declares nothing, so it compiles alone.
//
// oneDNN has no double GEMM: double products stay on Eigen's kernel. Threading: Debian's oneDNN
// threads with OpenMP; mnemo splits a product between its own pool's threads (gemm.hpp), and
// each call asks OpenMP for one thread on the calling thread (restoring the caller's setting
// after), so no OpenMP team is started and nothing spins next to mnemo's threads.
#pragma once

#if defined(MNEMO_CPU_GEMM_ONEDNN)

#include <dnnl.h>
#include <omp.h>

#include <cstdint>

#include "mnemo/backend/cpu/gemm_provider_shape.hpp"
#include "mnemo/backend/primitives.hpp"

namespace mnemo::cpu::provider {

/// The provider's name, as reported by gemm_provider_name().
inline constexpr const char* kGemmName = "onednn";

/// C = alpha·op(A)·op(B) + beta·C (row-major) on dnnl_sgemm, one OpenMP thread; false (nothing
/// written) when the product does not fit blas_accepts or oneDNN rejects it.
inline bool gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (!blas_accepts(ta, tb, m, n, k, lda, ldb, ldc)) return false;
  const int caller_threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const dnnl_status_t status = dnnl_sgemm(ta == Trans::N ? 'N' : 'T', tb == Trans::N ? 'N' : 'T', m, n, k, alpha,
                                          A, lda, B, ldb, beta, C, ldc);
  omp_set_num_threads(caller_threads);
  return status == dnnl_success;
}

/// oneDNN has no double GEMM: always false (Eigen's kernel runs).
inline bool gemm(Trans, Trans, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*, int64_t,
                 double, double*, int64_t) {
  return false;
}

}  // namespace mnemo::cpu::provider

#endif  // MNEMO_CPU_GEMM_ONEDNN
