// mnemo/backend/cpu/small_gemm.hpp — float GEMM for products with few rows (the streaming path:
// 64 tokens or 64 memory slots times a weight matrix), without packing.
//   C[b] = alpha · A[b] · op(B[b]) + beta · C[b],   A row-major m×k, op(B) k×n, C row-major m×n
//
// A blocked GEMM (cpu/gemm.hpp) copies ("packs") B into panels on every call; with 64 rows that
// copy is paid for 64 uses of each element and costs about a sixth of the product. Here B is read
// in place: C is cut into panels of 16 columns; a panel of B (k × 16 floats, 16 KiB at k = 256)
// stays in L1 while 6-row blocks of A stream past it, and the 6×16 block of C accumulates in
// twelve AVX registers over all of k (one FMA per element of A and 8 columns of B). op(B) = Bᵀ
// is transposed once per product into a per-thread buffer (k·n floats, reused across calls).
// Work is split across the pool by (product, column panel): one job per call, none below
// kParallelWork.
//
// Weight gradients, C += Aᵀ·B over a short k (dW = xᵀ·dy over the 64 rows of a segment), take
// the same kernel with A read transposed in place (row p of A holds the 6 rows of the block side
// by side; all of A, at most 256 KiB, stays in L2) and each 16-column panel of B copied first
// (k × 16 floats): the rows of B in place lie 1–4 KiB apart and share a few L1 sets. On the Zen 3
// host (one thread) it ran at 1.0–1.7× the rate of oneDNN's sgemm over the shapes measured
// (256 × 256 × 64: 77–82 GFLOP/s against 60–81) and 2.1–2.9× that of Eigen's SSE kernel
// (docs/benchmarks.md, "Weight gradients over short k").
//
// The kernel is compiled for AVX2 + FMA through a function attribute and chosen at run time
// (small_gemm_enabled()), for builds whose own flags stop at SSE (the default: no -march), where
// Eigen's blocked kernel runs at 34 GFLOP/s on one core of the benchmark machine at 64×256×256 and
// this one at 78. A build with -mavx2 -mfma gives Eigen the same instructions (86 GFLOP/s there),
// so small_gemm() then declines, as it does with a configured GEMM provider, except for the
// weight gradients under oneDNN (measured at or above its rate). It also declines for double, for
// Aᵀ·Bᵀ, for A above kSmallGemmMaxRows rows and for Aᵀ beyond kSmallGemmMaxDepthTransA or
// kSmallGemmMaxTransAFloats; the caller then uses the blocked GEMM. MNEMO_SMALL_GEMM=0 in the
// environment switches it off, MNEMO_SMALL_GEMM=1 forces it on in an AVX2 build or with any
// provider (for comparisons).
#pragma once

#include <cstdint>
#include <cstdlib>

#include "mnemo/backend/primitives.hpp"
#include "mnemo/core/config.hpp"

// Not in nvcc's translation units (its front end knows neither the GCC unroll pragma nor the target
// attribute's intrinsics); their CPU reference code takes the blocked GEMM.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
#define MNEMO_SMALL_GEMM_X86 1
#endif

// A user TU of the compiled mode only declares small_gemm (see the end): no kernel, no intrinsics.
#if MNEMO_COMPILED_BODIES
#include <algorithm>
#include <type_traits>

#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/backend/cpu/thread_scratch.hpp"
#if defined(MNEMO_SMALL_GEMM_X86)
#include <immintrin.h>
#endif
#endif  // MNEMO_COMPILED_BODIES

namespace mnemo::cpu {

/// Products with more rows than this go to the blocked GEMM, whose packing they amortise.
inline constexpr int64_t kSmallGemmMaxRows = 128;

/// Aᵀ·B products over a longer k than this, or whose A holds more floats than kSmallGemmMaxTransAFloats
/// (read once per panel of 16 columns, it should stay in L2), go to the blocked GEMM. Measured up to
/// both limits (256 × 256 × 256, 512 × 512 × 128, 1024 × 256 × 64): at oneDNN's rate or above.
inline constexpr int64_t kSmallGemmMaxDepthTransA = 256, kSmallGemmMaxTransAFloats = 64 * 1024;

/// Whether the kernel is used for op(A) = A (transposed_a false) or Aᵀ: the CPU runs AVX2 and FMA,
/// MNEMO_SMALL_GEMM is not "0", and nothing faster is configured: for A, the build does not
/// already give Eigen AVX2 + FMA and no GEMM provider is configured; for Aᵀ, the same, except that
/// oneDNN is slower there (MNEMO_SMALL_GEMM=1 overrides both).
inline bool small_gemm_enabled(bool transposed_a = false) {
#if defined(MNEMO_SMALL_GEMM_X86)
  static const auto enabled = [] {
    struct Enabled {
      bool a, transposed_a;
    };
    const char* env = std::getenv("MNEMO_SMALL_GEMM");
    if (env && env[0] == '0') return Enabled{false, false};
    __builtin_cpu_init();
    const bool cpu = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const bool forced = env && env[0] == '1';
#if defined(MNEMO_CPU_GEMM_ONEDNN)
    return Enabled{cpu && forced, cpu};  // oneDNN takes A·B; Aᵀ·B over short k is faster here
#elif defined(MNEMO_CPU_GEMM_OPENBLAS) || defined(MNEMO_CPU_GEMM_BLIS) || (defined(__AVX2__) && defined(__FMA__))
    return Enabled{cpu && forced, cpu && forced};  // a provider, or Eigen with AVX2 + FMA, takes every shape
#else
    return Enabled{cpu, cpu};
#endif
  }();
  return transposed_a ? enabled.transposed_a : enabled.a;
#else
  (void)transposed_a;
  return false;
#endif
}

/// Computes the product and returns true when the small-matrix kernel applies (float, AVX2 + FMA
/// present, small_gemm_enabled(ta == Trans::T), and op(A) = A with m <= kSmallGemmMaxRows or
/// op(A) = Aᵀ, op(B) = B with k <= kSmallGemmMaxDepthTransA and k·m <= kSmallGemmMaxTransAFloats);
/// returns false, touching nothing, otherwise. The definition follows, or, in a user TU of the
/// compiled mode, is in mnemo::compiled (float and double).
template <class T>
bool small_gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, T alpha, const T* A, int64_t lda,
                int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc,
                int64_t stride_c, int64_t batch);

#if MNEMO_COMPILED_BODIES
#if defined(MNEMO_SMALL_GEMM_X86)
namespace detail {

/// C[0:MR, 0:8·NV] = alpha · A[0:MR, 0:k] · B[0:k, 0:8·NV] + beta · C (beta == 0 never reads C).
/// A[i][p] is a[i·lda + p], or with TransA a[p·lda + i] (A stored transposed: the attention
/// backward's Pᵀ·dO and dSᵀ·Q, cpu/attention_tiles_avx2.hpp).
template <int MR, int NV, bool TransA = false>
__attribute__((target("avx2,fma"))) void small_gemm_block(int64_t k, const float* a, int64_t lda,
                                                            const float* b, int64_t ldb, float* c,
                                                            int64_t ldc, float alpha, float beta) {
  __m256 acc[MR][NV];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    __m256 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm256_loadu_ps(b + p * ldb + 8 * v);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(TransA ? a + p * lda + i : a + i * lda + p);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
    }
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      float* ci = c + i * ldc + 8 * v;
      __m256 r = _mm256_mul_ps(acc[i][v], va);
      if (beta != 0.0f) r = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), r);
      _mm256_storeu_ps(ci, r);
    }
}

/// Rows [0, m) of a panel of 8·NV columns, in blocks of 6 rows.
template <int NV, bool TransA = false>
void small_gemm_panel(int64_t m, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                      float* c, int64_t ldc, float alpha, float beta) {
  const int64_t row_step = TransA ? 1 : lda;  // from row i of A to row i + 1
  int64_t i = 0;
  for (; i + 6 <= m; i += 6)
    small_gemm_block<6, NV, TransA>(k, a + i * row_step, lda, b, ldb, c + i * ldc, ldc, alpha, beta);
  const float* ai = a + i * row_step;
  float* ci = c + i * ldc;
  switch (m - i) {
    case 5: small_gemm_block<5, NV, TransA>(k, ai, lda, b, ldb, ci, ldc, alpha, beta); break;
    case 4: small_gemm_block<4, NV, TransA>(k, ai, lda, b, ldb, ci, ldc, alpha, beta); break;
    case 3: small_gemm_block<3, NV, TransA>(k, ai, lda, b, ldb, ci, ldc, alpha, beta); break;
    case 2: small_gemm_block<2, NV, TransA>(k, ai, lda, b, ldb, ci, ldc, alpha, beta); break;
    case 1: small_gemm_block<1, NV, TransA>(k, ai, lda, b, ldb, ci, ldc, alpha, beta); break;
    default: break;
  }
}

/// Columns [j0, j1) of one product: panels of 16, then 8, then single columns.
template <bool TransA = false>
void small_gemm_columns(int64_t m, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                        int64_t ldc, float alpha, float beta, int64_t j0, int64_t j1) {
  int64_t j = j0;
  for (; j + 16 <= j1; j += 16) small_gemm_panel<2, TransA>(m, k, a, lda, b + j, ldb, c + j, ldc, alpha, beta);
  if (j + 8 <= j1) {
    small_gemm_panel<1, TransA>(m, k, a, lda, b + j, ldb, c + j, ldc, alpha, beta);
    j += 8;
  }
  for (; j < j1; ++j)  // fewer than 8 columns left
    for (int64_t i = 0; i < m; ++i) {
      float s = 0.0f;
      for (int64_t p = 0; p < k; ++p) s += (TransA ? a[p * lda + i] : a[i * lda + p]) * b[p * ldb + j];
      float* cij = c + i * ldc + j;
      *cij = beta == 0.0f ? alpha * s : alpha * s + beta * *cij;
    }
}

/// Columns [j0, j1) of C = alpha·Aᵀ·B + beta·C (A stored k × m), each panel of up to 16 columns of
/// B copied to `panel` (k × 16 floats) first: rows of B lie ldb apart, those of the copy 64 bytes.
inline void small_gemm_columns_transposed_a(int64_t m, int64_t k, const float* a, int64_t lda, const float* b,
                                            int64_t ldb, float* c, int64_t ldc, float alpha, float beta,
                                            int64_t j0, int64_t j1, float* panel) {
  for (int64_t j = j0; j < j1; j += 16) {
    const int64_t w = std::min<int64_t>(16, j1 - j);
    for (int64_t p = 0; p < k; ++p) std::copy_n(b + p * ldb + j, w, panel + p * w);
    small_gemm_columns<true>(m, k, a, lda, panel, w, c + j, ldc, alpha, beta, 0, w);
  }
}

/// The calling thread's buffer for a transposed B (cpu/thread_scratch.hpp).
inline float* small_gemm_scratch(int64_t floats) { return thread_scratch<float, ScratchSlot::SmallGemm>(floats); }

}  // namespace detail
#endif  // MNEMO_SMALL_GEMM_X86

// Definition of small_gemm, declared above.
template <class T>
bool small_gemm(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, T alpha, const T* A, int64_t lda,
                int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc,
                int64_t stride_c, int64_t batch) {
#if defined(MNEMO_SMALL_GEMM_X86)
  if constexpr (std::is_same_v<T, float>) {
    const bool transposed_a = ta == Trans::T;
    if (m <= 0 || n <= 0 || k <= 0 || batch <= 0) return false;
    if (transposed_a ? tb != Trans::N || k > kSmallGemmMaxDepthTransA || k * m > kSmallGemmMaxTransAFloats
                     : m > kSmallGemmMaxRows)
      return false;
    if (!small_gemm_enabled(transposed_a)) return false;
    constexpr int64_t kPanel = 16;
    const int64_t panels = (n + kPanel - 1) / kPanel;
    const bool transposed = tb == Trans::T;
    parallel_for(batch * panels, 2 * m * kPanel * k, [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end;) {
        const int64_t b = item / panels, p0 = item % panels;
        const int64_t p1 = std::min(panels, p0 + (end - item));  // panels of product b in this chunk
        const float* bm = B + b * stride_b;
        const float* am = A + b * stride_a;
        float* cm = C + b * stride_c;
        const int64_t col0 = p0 * kPanel, col1 = std::min(n, p1 * kPanel);
        if (transposed_a) {  // op(A) = Aᵀ: each 16 columns of B copied to k × 16 (≤ 16 KiB)
          detail::small_gemm_columns_transposed_a(m, k, am, lda, bm, ldb, cm, ldc, alpha, beta, col0, col1,
                                                  detail::small_gemm_scratch(k * kPanel));
        } else if (transposed) {  // op(B)[p, j] = B[j, p]: columns [col0, col1) of op(B) copied as k × w
          const int64_t w = col1 - col0;
          float* t = detail::small_gemm_scratch(k * w);
          for (int64_t j = 0; j < w; ++j)
            for (int64_t p = 0; p < k; ++p) t[p * w + j] = bm[(col0 + j) * ldb + p];
          detail::small_gemm_columns(m, k, am, lda, t, w, cm + col0, ldc, alpha, beta, 0, w);
        } else {
          detail::small_gemm_columns(m, k, am, lda, bm, ldb, cm, ldc, alpha, beta, col0, col1);
        }
        item += p1 - p0;
      }
    });
    return true;
  }
#endif
  (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)alpha, (void)A, (void)lda, (void)stride_a, (void)B, (void)ldb;
  (void)stride_b, (void)beta, (void)C, (void)ldc, (void)stride_c, (void)batch;
  return false;
}
#endif  // MNEMO_COMPILED_BODIES

}  // namespace mnemo::cpu

// Compiled mode (docs/compile_time.md): compiled once, in src/compiled/backend_nn_*.cpp; a user TU
// sees the declaration above.
#if defined(MNEMO_COMPILED)
namespace mnemo::cpu {
extern template bool small_gemm<float>(Trans, Trans, int64_t, int64_t, int64_t, float, const float*, int64_t, int64_t,
                                       const float*, int64_t, int64_t, float, float*, int64_t, int64_t, int64_t);
extern template bool small_gemm<double>(Trans, Trans, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                        int64_t, const double*, int64_t, int64_t, double, double*, int64_t, int64_t,
                                        int64_t);
}  // namespace mnemo::cpu
#endif  // MNEMO_COMPILED
