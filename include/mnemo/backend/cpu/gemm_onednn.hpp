// mnemo/backend/cpu/gemm_onednn.hpp — oneDNN as the provider of mnemo's float CPU GEMM (CMake:
// -DMNEMO_CPU_GEMM=onednn, which defines MNEMO_CPU_GEMM_ONEDNN and links oneDNN and its OpenMP
// runtime). Without that definition this header declares nothing, so it compiles alone.
//
// oneDNN has no double GEMM: double products stay on Eigen's kernel. Threading: Debian's oneDNN
// threads with OpenMP; mnemo splits a product between its own pool's threads (gemm.hpp), and
// each call asks OpenMP for one thread on the calling thread (restoring the caller's setting
// after), so no OpenMP team is started and nothing spins next to mnemo's threads.
//
// A B whose row stride is a multiple of 4 KiB (a [256, 1024] weight: the FFN's first layer) puts
// the k elements of one of its columns into a handful of cache sets. oneDNN's packing then read
// them at cache-miss speed: a 64-row product ran at 92–105 GFLOP/s on 2 threads (Zen 3) against
// 135–160 with the same B copied contiguous first. Products of 16 to 256 rows (each element of B
// used for a few dozen rows, not enough to amortise the misses) therefore copy B in blocks of
// columns into the thread's scratch before the sgemm (docs/benchmarks.md, "B rows 4 KiB apart").
// Only where oneDNN runs its AVX2 kernels: on an AVX-512 host (Zen 4) its kernels read such a B
// cold at 170–173 GFLOP/s on 2 threads and the copy made it 126–144 (the copy's 1 KiB runs wait on
// L3 latency); hot 194–204 in place, 166–193 copied (docs/benchmarks.md, "No copy of B on AVX-512
// hosts").
#pragma once

#if defined(MNEMO_CPU_GEMM_ONEDNN)

#include <dnnl.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "mnemo/backend/cpu/gemm_provider_shape.hpp"
#include "mnemo/backend/cpu/thread_scratch.hpp"
#include "mnemo/backend/primitives.hpp"

namespace mnemo::cpu::provider {

/// The provider's name, as reported by gemm_provider_name().
inline constexpr const char* kGemmName = "onednn";

/// B (stored k×n) is copied before the sgemm when its row stride is a multiple of this many bytes,
/// the product has kCopyBMinRows to kCopyBMaxRows rows (fewer read each element of B about once,
/// as the copy would: a token-by-token decoder's products) and k is at most kCopyBMaxDepth (a
/// block's copy then holds at most 128 Ki floats, 512 KiB, read back by the sgemm right after).
inline constexpr int64_t kAliasedStrideBytes = 4096;
inline constexpr int64_t kCopyBMinRows = 16, kCopyBMaxRows = 256, kCopyBMaxDepth = 1024;

namespace detail {
/// dnnl_sgemm on one OpenMP thread; the caller's OpenMP setting restored after.
inline bool sgemm_one_thread(char ta, char tb, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
                             int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const int caller_threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const dnnl_status_t status = dnnl_sgemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
  omp_set_num_threads(caller_threads);
  return status == dnnl_success;
}

/// Whether oneDNN's sgemm runs its AVX-512 kernels on this CPU (avx512f, as oneDNN's own dispatch
/// requires at the least); the copy of B below pays only on its AVX2 kernels.
inline bool onednn_avx512_host() {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
}

/// Whether C = op(A)·B, on a host whose kernels are AVX-512 (avx512_kernels) or not, takes
/// sgemm_on_copied_b: AVX2 kernels only, B stored k×n with rows kAliasedStrideBytes apart (or a
/// multiple), tens to a few hundred rows of C, a short k.
inline bool copies_b(Trans tb, int64_t m, int64_t k, int64_t ldb, bool avx512_kernels = onednn_avx512_host()) {
  return !avx512_kernels && tb == Trans::N && m >= kCopyBMinRows && m <= kCopyBMaxRows && k <= kCopyBMaxDepth &&
         ldb * static_cast<int64_t>(sizeof(float)) % kAliasedStrideBytes == 0;
}

/// C = alpha·op(A)·B + beta·C over blocks of B's columns, each copied to a contiguous k × w buffer
/// (w = 256, or 128 when k > 512) first. The same sgemm per block of columns: the same products
/// and sums. sgemm fails only on arguments it rejects, the same for every block, so a failure
/// comes on the first one, before C is written.
inline bool sgemm_on_copied_b(char ta, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda,
                              const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const int64_t block = k <= 512 ? 256 : 128;
  float* copy = cpu::detail::thread_scratch<float, cpu::detail::ScratchSlot::ProviderCopy>(k * block);
  for (int64_t j0 = 0; j0 < n; j0 += block) {
    const int64_t w = std::min(block, n - j0);
    for (int64_t p = 0; p < k; ++p)
      std::memcpy(copy + p * w, B + p * ldb + j0, static_cast<size_t>(w) * sizeof(float));
    if (!sgemm_one_thread(ta, 'N', m, w, k, alpha, A, lda, copy, w, beta, C + j0, ldc)) return false;
  }
  return true;
}
}  // namespace detail

/// C = alpha·op(A)·op(B) + beta·C (row-major) on dnnl_sgemm, one OpenMP thread; false (nothing
/// written) when the product does not fit blas_accepts or oneDNN rejects it.
inline bool gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (!blas_accepts(ta, tb, m, n, k, lda, ldb, ldc)) return false;
  const char ta_char = ta == Trans::N ? 'N' : 'T';
  if (detail::copies_b(tb, m, k, ldb)) return detail::sgemm_on_copied_b(ta_char, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
  return detail::sgemm_one_thread(ta_char, tb == Trans::N ? 'N' : 'T', m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

/// oneDNN has no double GEMM: always false (Eigen's kernel runs).
inline bool gemm(Trans, Trans, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*, int64_t,
                 double, double*, int64_t) {
  return false;
}

}  // namespace mnemo::cpu::provider

#endif  // MNEMO_CPU_GEMM_ONEDNN
