// mnemo/backend/cpu/gemm_bf16_avx2.hpp — the bfloat16 GEMM's kernel for x86 CPUs with AVX2 and
// FMA but no AVX512-BF16 (AMD Zen 2 and 3, Intel before Cooper Lake):
//   C = alpha · op(A) · op(B) + beta · C,   A, B bfloat16, fp32 sums, C float or bfloat16.
//
// A bfloat16 is the upper half of a float, so widening is exact and costs one shuffle: VPUNPCKLWD /
// VPUNPCKHWD of a zero vector and 16 bfloat16 of a row of B give the 16 floats, as columns
// {0–3, 8–11} and {4–7, 12–15} (the unpacks work within 128-bit lanes). op(A) is widened to fp32
// once per block of kAvx2Mc rows × kAvx2Kc depth, in panels of kAvx2Mr rows stored k-major, so that
// the kernel broadcasts its elements straight from memory. The register tile is kAvx2Mr × kAvx2Nr
// fp32 sums in 12 of the 16 AVX registers (one FMA per product: each bfloat16 product is exact in
// fp32, each sum rounds once); between k blocks it rests in an fp32 buffer, which changes no bit
// (the sums are the same as over all of k at once), and after the last it is written as
// alpha·sum + beta·C with one rounding to C's type. Loops, outer to inner: kAvx2Nc columns,
// kAvx2Mc rows, kAvx2Kc depth (the widened block of A, in L2), panels of 16 columns (kAvx2Kc × 16
// bfloat16 of B, in L1), tiles of 6 rows. B stored k×n (Trans::N) is read in place when one block
// of rows uses it; with several blocks of rows, for Bᵀ and for a last, narrow panel, each panel is
// copied as kAvx2Kc × 16 first (at 2048³ on a Zen 3 core: 51–59 → 67–68 GFLOP/s).
//
// Compiled through a function attribute (no build flag needed) and chosen at run time by
// cpu/gemm_bf16.hpp when the CPU has AVX2 and FMA and no avx512_bf16.
#pragma once

#include <cstdint>

#include "mnemo/core/config.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MNEMO_CPU_BF16_AVX2 1
#else
#define MNEMO_CPU_BF16_AVX2 0
#endif

#if MNEMO_COMPILED_BODIES && MNEMO_CPU_BF16_AVX2
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "mnemo/backend/primitives.hpp"
#include "mnemo/core/bfloat16.hpp"
#endif

namespace mnemo::cpu {

/// True when this binary has the AVX2 bfloat16 kernel and the CPU it runs on has AVX2 and FMA.
inline bool cpu_has_avx2_fma() {
#if MNEMO_CPU_BF16_AVX2
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
#else
  return false;
#endif
}

#if MNEMO_COMPILED_BODIES && MNEMO_CPU_BF16_AVX2
namespace bf16_avx2 {

// Full unrolling of the register tile (nvcc's front end does not know the GCC pragma).
#if defined(__CUDACC__)
#define MNEMO_BF16_AVX2_UNROLL
#else
#define MNEMO_BF16_AVX2_UNROLL _Pragma("GCC unroll 6")
#endif

/// Rows of the register tile.
inline constexpr int64_t kAvx2Mr = 6;
/// Columns of the register tile: two vectors of 8 fp32 lanes.
inline constexpr int64_t kAvx2Nr = 16;
/// Rows of op(A) widened at once (a multiple of kAvx2Mr).
inline constexpr int64_t kAvx2Mc = 96;
/// Depth of a block: kAvx2Mc × kAvx2Kc floats of A (96 KiB) in L2, a panel of B (8 KiB) in L1.
inline constexpr int64_t kAvx2Kc = 256;
/// Columns of a block, whose fp32 partial sums (kAvx2Mc × kAvx2Nc, 96 KiB) rest between k blocks.
inline constexpr int64_t kAvx2Nc = 256;

/// Scratch of one thread: a_wide kAvx2Mc · kAvx2Kc floats, partial kAvx2Mc · kAvx2Nc floats,
/// b_panel kAvx2Kc · kAvx2Nr bfloat16.
struct Avx2Buffers {
  float* a_wide;
  float* partial;
  bfloat16* b_panel;
};

/// Where the last k block's sums go: C (at the tile's first row and column) = alpha·sum + beta·C.
template <class TC>
struct Avx2Out {
  TC* c;
  int64_t ldc;
  float alpha, beta;
};

/// out[(panel·k + p)·kAvx2Mr + r] = float(op(A)[i0 + panel·kAvx2Mr + r, p0 + p]) for the `rows` rows
/// from i0 and p < k, zero for the rows that pad the last panel.
inline void widen_a_panels(const bfloat16* A, int64_t lda, Trans ta, int64_t i0, int64_t rows, int64_t p0,
                           int64_t k, float* out) {
  for (int64_t panel = 0; panel * kAvx2Mr < rows; ++panel, out += k * kAvx2Mr)
    for (int64_t r = 0; r < kAvx2Mr; ++r) {
      const int64_t i = i0 + panel * kAvx2Mr + r;
      if (panel * kAvx2Mr + r >= rows) {
        for (int64_t p = 0; p < k; ++p) out[p * kAvx2Mr + r] = 0.0f;
      } else if (ta == Trans::N) {
        const bfloat16* row = A + i * lda + p0;
        for (int64_t p = 0; p < k; ++p) out[p * kAvx2Mr + r] = bfloat16_bits_to_float(bfloat16_bits(row[p]));
      } else {
        const bfloat16* column = A + p0 * lda + i;
        for (int64_t p = 0; p < k; ++p) out[p * kAvx2Mr + r] = bfloat16_bits_to_float(bfloat16_bits(column[p * lda]));
      }
    }
}

/// out[p·kAvx2Nr + j] = op(B)[p0 + p, j0 + j] for p < k and j < width, zero beyond: a panel the
/// kernel reads like B in place, with row stride kAvx2Nr.
inline void copy_b_panel(const bfloat16* B, int64_t ldb, Trans tb, int64_t p0, int64_t k, int64_t j0, int64_t width,
                         bfloat16* out) {
  for (int64_t p = p0; p < p0 + k; ++p, out += kAvx2Nr) {
    if (tb == Trans::N)
      std::memcpy(out, B + p * ldb + j0, static_cast<size_t>(width) * sizeof(bfloat16));
    else
      for (int64_t j = 0; j < width; ++j) out[j] = B[(j0 + j) * ldb + p];
    std::fill(out + width, out + kAvx2Nr, static_cast<bfloat16>(0.0f));
  }
}

/// 16 floats of C's row in the tile's column order ({0–3, 8–11} in lo, {4–7, 12–15} in hi).
template <class TC>
__attribute__((target("avx2,fma"))) inline void load_c16(const TC* c, __m256& lo, __m256& hi) {
  if constexpr (std::is_same_v<TC, float>) {
    const __m256 c0 = _mm256_loadu_ps(c), c1 = _mm256_loadu_ps(c + 8);
    lo = _mm256_permute2f128_ps(c0, c1, 0x20);
    hi = _mm256_permute2f128_ps(c0, c1, 0x31);
  } else {
    const __m256i words = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c));
    lo = _mm256_castsi256_ps(_mm256_unpacklo_epi16(_mm256_setzero_si256(), words));
    hi = _mm256_castsi256_ps(_mm256_unpackhi_epi16(_mm256_setzero_si256(), words));
  }
}

/// Rounds 8 floats to bfloat16 as Eigen does (nearest even; NaN → the quiet NaN of its sign), as
/// 32-bit lanes holding the 16 bits.
__attribute__((target("avx2,fma"))) inline __m256i round_to_bf16_lanes(__m256 v) {
  const __m256i u = _mm256_castps_si256(v);
  const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(odd, _mm256_set1_epi32(0x7FFF))), 16);
  const __m256i quiet_nan =
      _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x8000)), _mm256_set1_epi32(0x7FC0));
  const __m256i is_nan =
      _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7FFFFFFF)), _mm256_set1_epi32(0x7F800000));
  return _mm256_blendv_epi8(rounded, quiet_nan, is_nan);
}

/// Writes 16 columns of C's row from lo/hi in the tile's column order.
template <class TC>
__attribute__((target("avx2,fma"))) inline void store_c16(TC* c, __m256 lo, __m256 hi) {
  if constexpr (std::is_same_v<TC, float>) {
    _mm256_storeu_ps(c, _mm256_permute2f128_ps(lo, hi, 0x20));
    _mm256_storeu_ps(c + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
  } else {  // VPACKUSDW interleaves the lanes of lo and hi: columns 0–3, 4–7, 8–11, 12–15, in order
    const __m256i words = _mm256_packus_epi32(round_to_bf16_lanes(lo), round_to_bf16_lanes(hi));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c), words);
  }
}

/// One tile over k (≤ kAvx2Kc) of depth: sums = (first ? 0 : partial) + a·b, a one widened panel
/// (k-major), b k rows of 16 bfloat16, ldb apart. Without `out` the sums go back to `partial`
/// (kAvx2Mr × kAvx2Nr floats in the tile's column order); with it, rows [0, rows) × columns
/// [0, cols) of C (rows ≤ kAvx2Mr, cols ≤ kAvx2Nr) get alpha·sum + beta·C.
template <class TC>
__attribute__((target("avx2,fma"))) inline void tile(int64_t k, const float* a, const bfloat16* b, int64_t ldb,
                                                     float* partial, bool first, const Avx2Out<TC>* out,
                                                     int64_t rows, int64_t cols) {
  __m256 acc[kAvx2Mr][2];
MNEMO_BF16_AVX2_UNROLL
  for (int r = 0; r < kAvx2Mr; ++r) {
    acc[r][0] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(partial + r * kAvx2Nr);
    acc[r][1] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(partial + r * kAvx2Nr + 8);
  }
  const __m256i zero = _mm256_setzero_si256();
  for (int64_t p = 0; p < k; ++p) {
    const __m256i row = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + p * ldb));
    const __m256 lo = _mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, row));  // columns 0–3, 8–11
    const __m256 hi = _mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, row));  // columns 4–7, 12–15
MNEMO_BF16_AVX2_UNROLL
    for (int r = 0; r < kAvx2Mr; ++r) {
      const __m256 ar = _mm256_broadcast_ss(a + p * kAvx2Mr + r);
      acc[r][0] = _mm256_fmadd_ps(ar, lo, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(ar, hi, acc[r][1]);
    }
  }
  if (!out) {
MNEMO_BF16_AVX2_UNROLL
    for (int r = 0; r < kAvx2Mr; ++r) {
      _mm256_storeu_ps(partial + r * kAvx2Nr, acc[r][0]);
      _mm256_storeu_ps(partial + r * kAvx2Nr + 8, acc[r][1]);
    }
    return;
  }
  const __m256 va = _mm256_set1_ps(out->alpha), vb = _mm256_set1_ps(out->beta);
  if (cols == kAvx2Nr) {
MNEMO_BF16_AVX2_UNROLL
    for (int r = 0; r < kAvx2Mr; ++r) {
      if (r >= rows) break;
      TC* c = out->c + r * out->ldc;
      __m256 lo = _mm256_mul_ps(va, acc[r][0]), hi = _mm256_mul_ps(va, acc[r][1]);
      if (out->beta != 0.0f) {
        __m256 c_lo, c_hi;
        load_c16(c, c_lo, c_hi);
        lo = _mm256_fmadd_ps(vb, c_lo, lo);
        hi = _mm256_fmadd_ps(vb, c_hi, hi);
      }
      store_c16(c, lo, hi);
    }
    return;
  }
  // A narrow last panel: the sums through memory, in column order, then element by element.
  alignas(32) float sums[kAvx2Mr][kAvx2Nr];
MNEMO_BF16_AVX2_UNROLL
  for (int r = 0; r < kAvx2Mr; ++r) {
    _mm256_store_ps(sums[r], _mm256_permute2f128_ps(acc[r][0], acc[r][1], 0x20));
    _mm256_store_ps(sums[r] + 8, _mm256_permute2f128_ps(acc[r][0], acc[r][1], 0x31));
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) {
      TC* c = out->c + r * out->ldc + j;
      *c = static_cast<TC>(out->alpha * sums[r][j] + (out->beta == 0.0f ? 0.0f : out->beta * static_cast<float>(*c)));
    }
}

/// Rows [i0, i1) × columns [j0, j1) of one product on the calling thread (k > 0, alpha != 0).
template <class TC>
void gemm_block(Trans ta, Trans tb, int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t k, float alpha,
                const bfloat16* A, int64_t lda, const bfloat16* B, int64_t ldb, float beta, TC* C, int64_t ldc,
                const Avx2Buffers& buf) {
  // Several blocks of rows: each panel of B is copied (contiguous, it stays in L1 for the block's
  // row tiles; in place, B's row stride maps its rows onto few L1 sets). One block (the streaming
  // step's 64-row products): read in place, which measured as fast or faster there.
  const bool copy_panels = i1 - i0 > kAvx2Mc;
  for (int64_t jc = j0; jc < j1; jc += kAvx2Nc) {
    const int64_t nc = std::min(kAvx2Nc, j1 - jc), panels = (nc + kAvx2Nr - 1) / kAvx2Nr;
    for (int64_t ic = i0; ic < i1; ic += kAvx2Mc) {
      const int64_t mc = std::min(kAvx2Mc, i1 - ic);
      for (int64_t pc = 0; pc < k; pc += kAvx2Kc) {
        const int64_t kc = std::min(kAvx2Kc, k - pc);
        widen_a_panels(A, lda, ta, ic, mc, pc, kc, buf.a_wide);
        for (int64_t jp = 0; jp < panels; ++jp) {
          const int64_t j = jc + jp * kAvx2Nr, width = std::min(kAvx2Nr, jc + nc - j);
          const bfloat16* b = B + pc * ldb + j;
          int64_t ld = ldb;
          if (copy_panels || tb == Trans::T || width < kAvx2Nr) {
            copy_b_panel(B, ldb, tb, pc, kc, j, width, buf.b_panel);
            b = buf.b_panel;
            ld = kAvx2Nr;
          }
          for (int64_t i = 0; i < mc; i += kAvx2Mr) {
            float* partial = buf.partial + ((i / kAvx2Mr) * panels + jp) * kAvx2Mr * kAvx2Nr;
            const Avx2Out<TC> to_c{C + (ic + i) * ldc + j, ldc, alpha, beta};
            tile(kc, buf.a_wide + i * kc, b, ld, partial, pc == 0, pc + kc == k ? &to_c : nullptr,
                 std::min(kAvx2Mr, mc - i), width);
          }
        }
      }
    }
  }
}

#undef MNEMO_BF16_AVX2_UNROLL

}  // namespace bf16_avx2
#endif  // MNEMO_COMPILED_BODIES && MNEMO_CPU_BF16_AVX2

}  // namespace mnemo::cpu
