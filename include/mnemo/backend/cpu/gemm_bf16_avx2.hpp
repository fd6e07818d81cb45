// mnemo/backend/cpu/gemm_bf16_avx2.hpp — the bfloat16 GEMM's kernel for x86 CPUs with AVX2 and
// FMA but no AVX512-BF16 (AMD Zen 2 and 3, Intel before Cooper Lake):
//   C = alpha · op(A) · op(B) + beta · C,   A, B bfloat16, fp32 sums, C float or bfloat16.
//
// A bfloat16 is the upper half of a float, so widening is exact and costs one shift or shuffle.
// Both operands are widened to fp32 once per block, and the register tile then runs as the fp32
// small-matrix kernel does (cpu/small_gemm.hpp): op(A), kAvx2Mc rows × kAvx2Kc depth, row by row
// (VPMOVZXWD + VPSLLD per 8 elements); op(B), one panel of 16 columns × kAvx2Kc depth at a time,
// into a contiguous, 64-byte-aligned fp32 panel (16 KiB, it stays in L1 for all the block's row
// tiles) whose columns are stored as VPUNPCKLWD / VPUNPCKHWD against zero leave them: {0–3, 8–11},
// then {4–7, 12–15} (the unpacks work within 128-bit lanes). The register tile
// is kAvx2Mr × kAvx2Nr fp32 sums in 12 of the 16 AVX registers (one FMA per product: each bfloat16
// product is exact in fp32, each sum rounds once); between k blocks it rests in an fp32 buffer,
// which changes no bit (the sums are the same as over all of k at once), and after the last it is
// written as alpha·sum + beta·C with one rounding to C's type. Loops, outer to inner: kAvx2Nc
// columns, kAvx2Mc rows, kAvx2Kc depth (the widened block of A, in L2), panels of 16 columns (the
// widened panel of B, in L1), tiles of 6 rows (fewer for a block's last rows).
//
// An earlier version widened B in registers inside the tile (two unpacks per row of 16, for every
// tile of 6 rows) and read it in place, where its row stride maps a panel's rows onto few L1 sets,
// and widened A element by element: at the streaming step's 64-row products it ran at 67–83
// GFLOP/s on one Zen 3 core, this one at 83–90 with B in cache and 80–82 with B from memory
// (oneDNN's fp32 sgemm there: 87–95 and 53–88; docs/benchmarks.md, "bfloat16 on AVX2: both operands
// widened once").
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
#include <type_traits>

#include "mnemo/backend/cpu/thread_scratch.hpp"
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
/// Depth of a block: kAvx2Mc × kAvx2Kc floats of A (96 KiB) in L2, a widened panel of B (16 KiB) in L1.
inline constexpr int64_t kAvx2Kc = 256;
/// Columns of a block, whose fp32 partial sums (kAvx2Mc × kAvx2Nc, 96 KiB) rest between k blocks.
inline constexpr int64_t kAvx2Nc = 256;

/// Scratch of one thread: a_wide kAvx2Mc · kAvx2Kc floats, partial kAvx2Mc · kAvx2Nc floats,
/// b_wide kAvx2Kc · kAvx2Nr floats.
struct Avx2Buffers {
  float* a_wide;
  float* partial;
  float* b_wide;

  /// The three in the calling thread's scratch, each 64-byte aligned: a row of the widened panel
  /// or of the partial sums is then one cache line, which no 32-byte load straddles.
  static Avx2Buffers of_this_thread() {
    constexpr int64_t kA = kAvx2Mc * kAvx2Kc, kPartial = kAvx2Mc * kAvx2Nc, kB = kAvx2Kc * kAvx2Nr;
    static_assert(kA % 16 == 0 && kPartial % 16 == 0, "each buffer starts on a 64-byte boundary");
    float* base = detail::thread_scratch<float, detail::ScratchSlot::Bf16Avx2>(kA + kPartial + kB);
    return {base, base + kA, base + kA + kPartial};
  }
};

/// Where the last k block's sums go: C (at the tile's first row and column) = alpha·sum + beta·C.
template <class TC>
struct Avx2Out {
  TC* c;
  int64_t ldc;
  float alpha, beta;
};

/// out[r·k + p] = float(op(A)[i0 + r, p0 + p]) for the `rows` rows from i0 and p < k.
__attribute__((target("avx2,fma"))) inline void widen_a_rows(const bfloat16* A, int64_t lda, Trans ta, int64_t i0,
                                                              int64_t rows, int64_t p0, int64_t k, float* out) {
  for (int64_t r = 0; r < rows; ++r, out += k) {
    const int64_t i = i0 + r;
    if (ta == Trans::N) {
      const bfloat16* row = A + i * lda + p0;
      int64_t p = 0;
      for (; p + 8 <= k; p += 8) {  // 8 bfloat16 → 8 floats: zero-extend to 32 bits, shift left 16
        const __m128i words = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + p));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + p), _mm256_slli_epi32(_mm256_cvtepu16_epi32(words), 16));
      }
      for (; p < k; ++p) out[p] = bfloat16_bits_to_float(bfloat16_bits(row[p]));
    } else {
      const bfloat16* column = A + p0 * lda + i;
      for (int64_t p = 0; p < k; ++p) out[p] = bfloat16_bits_to_float(bfloat16_bits(column[p * lda]));
    }
  }
}

/// Where column j of a widened panel of B lies within its 16 floats: the unpack order {0–3, 8–11},
/// {4–7, 12–15}.
constexpr int64_t panel_position(int64_t j) { return (j & 3) | ((j & 4) << 1) | ((j & 8) >> 1); }

/// out[p·kAvx2Nr + panel_position(j)] = float(op(B)[p0 + p, j0 + j]) for p < k and j < width, zero
/// for the columns beyond `width`.
__attribute__((target("avx2,fma"))) inline void widen_b_panel(const bfloat16* B, int64_t ldb, Trans tb, int64_t p0,
                                                               int64_t k, int64_t j0, int64_t width, float* out) {
  if (tb == Trans::N && width == kAvx2Nr) {
    const __m256i zero = _mm256_setzero_si256();
    for (int64_t p = 0; p < k; ++p, out += kAvx2Nr) {
      const __m256i row = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(B + (p0 + p) * ldb + j0));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_unpacklo_epi16(zero, row));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8), _mm256_unpackhi_epi16(zero, row));
    }
    return;
  }
  for (int64_t p = 0; p < k; ++p, out += kAvx2Nr)
    for (int64_t j = 0; j < kAvx2Nr; ++j) {
      const bfloat16 v = j >= width ? bfloat16(0.0f) : tb == Trans::N ? B[(p0 + p) * ldb + j0 + j] : B[(j0 + j) * ldb + p0 + p];
      out[panel_position(j)] = bfloat16_bits_to_float(bfloat16_bits(v));
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

/// One tile of R ≤ kAvx2Mr rows over k (≤ kAvx2Kc) of depth: sums = (first ? 0 : partial) + a·b, a
/// R widened rows of A (lda apart), b a widened panel (widen_b_panel). Without `out` the sums go back
/// to `partial` (R × kAvx2Nr floats in the panel's column order); with it, the R rows × columns
/// [0, cols) of C (cols ≤ kAvx2Nr) get alpha·sum + beta·C.
template <class TC, int R>
__attribute__((target("avx2,fma"))) inline void tile(int64_t k, const float* a, int64_t lda, const float* b,
                                                     float* partial, bool first, const Avx2Out<TC>* out,
                                                     int64_t cols) {
  __m256 acc[R][2];
MNEMO_BF16_AVX2_UNROLL
  for (int r = 0; r < R; ++r) {
    acc[r][0] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(partial + r * kAvx2Nr);
    acc[r][1] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(partial + r * kAvx2Nr + 8);
  }
  for (int64_t p = 0; p < k; ++p) {
    const __m256 lo = _mm256_loadu_ps(b + p * kAvx2Nr);      // columns 0–3, 8–11
    const __m256 hi = _mm256_loadu_ps(b + p * kAvx2Nr + 8);  // columns 4–7, 12–15
MNEMO_BF16_AVX2_UNROLL
    for (int r = 0; r < R; ++r) {
      const __m256 ar = _mm256_broadcast_ss(a + r * lda + p);
      acc[r][0] = _mm256_fmadd_ps(ar, lo, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(ar, hi, acc[r][1]);
    }
  }
  if (!out) {
MNEMO_BF16_AVX2_UNROLL
    for (int r = 0; r < R; ++r) {
      _mm256_storeu_ps(partial + r * kAvx2Nr, acc[r][0]);
      _mm256_storeu_ps(partial + r * kAvx2Nr + 8, acc[r][1]);
    }
    return;
  }
  const __m256 va = _mm256_set1_ps(out->alpha), vb = _mm256_set1_ps(out->beta);
  if (cols == kAvx2Nr) {
MNEMO_BF16_AVX2_UNROLL
    for (int r = 0; r < R; ++r) {
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
  alignas(32) float sums[R][kAvx2Nr];
MNEMO_BF16_AVX2_UNROLL
  for (int r = 0; r < R; ++r) {
    _mm256_store_ps(sums[r], _mm256_permute2f128_ps(acc[r][0], acc[r][1], 0x20));
    _mm256_store_ps(sums[r] + 8, _mm256_permute2f128_ps(acc[r][0], acc[r][1], 0x31));
  }
  for (int64_t r = 0; r < R; ++r)
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
  for (int64_t jc = j0; jc < j1; jc += kAvx2Nc) {
    const int64_t nc = std::min(kAvx2Nc, j1 - jc), panels = (nc + kAvx2Nr - 1) / kAvx2Nr;
    for (int64_t ic = i0; ic < i1; ic += kAvx2Mc) {
      const int64_t mc = std::min(kAvx2Mc, i1 - ic);
      for (int64_t pc = 0; pc < k; pc += kAvx2Kc) {
        const int64_t kc = std::min(kAvx2Kc, k - pc);
        widen_a_rows(A, lda, ta, ic, mc, pc, kc, buf.a_wide);
        for (int64_t jp = 0; jp < panels; ++jp) {
          const int64_t j = jc + jp * kAvx2Nr, width = std::min(kAvx2Nr, jc + nc - j);
          widen_b_panel(B, ldb, tb, pc, kc, j, width, buf.b_wide);
          for (int64_t i = 0; i < mc; i += kAvx2Mr) {
            float* partial = buf.partial + ((i / kAvx2Mr) * panels + jp) * kAvx2Mr * kAvx2Nr;
            const Avx2Out<TC> to_c{C + (ic + i) * ldc + j, ldc, alpha, beta};
            const float* a = buf.a_wide + i * kc;
            const Avx2Out<TC>* out = pc + kc == k ? &to_c : nullptr;
            static_assert(kAvx2Mr == 6, "one case per tile height");
            switch (std::min(kAvx2Mr, mc - i)) {  // rows of this tile: 6, or the block's last few
              case 6: tile<TC, 6>(kc, a, kc, buf.b_wide, partial, pc == 0, out, width); break;
              case 5: tile<TC, 5>(kc, a, kc, buf.b_wide, partial, pc == 0, out, width); break;
              case 4: tile<TC, 4>(kc, a, kc, buf.b_wide, partial, pc == 0, out, width); break;
              case 3: tile<TC, 3>(kc, a, kc, buf.b_wide, partial, pc == 0, out, width); break;
              case 2: tile<TC, 2>(kc, a, kc, buf.b_wide, partial, pc == 0, out, width); break;
              default: tile<TC, 1>(kc, a, kc, buf.b_wide, partial, pc == 0, out, width); break;
            }
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
