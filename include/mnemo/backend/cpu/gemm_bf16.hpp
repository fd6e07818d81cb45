// mnemo/backend/cpu/gemm_bf16.hpp — strided batched GEMM on bfloat16 inputs, fp32 accumulation.
//   C[b] = alpha · op(A[b]) · op(B[b]) + beta · C[b],   b = 0..batch-1
// A, B bfloat16; C float or bfloat16 (rounded to nearest even once, at the end); the same
// conventions as cpu/gemm.hpp (row-major, ld* row strides, beta == 0 never reads C).
//
// Kernel (GotoBLAS blocking): op(B) is packed in blocks of kBf16Kc × kBf16Nc as panels of
// kBf16Nr columns, op(A) in blocks of kBf16Mc × kBf16Kc as panels of kBf16Mr rows, both with k
// taken in pairs: a pair (x[2p], x[2p+1]) is one 32-bit word, what AVX512-BF16's VDPBF16PS
// multiplies and adds into one fp32 lane: c += a[2p]·b[2p] + a[2p+1]·b[2p+1]. The micro-kernel
// keeps a kBf16Mr × kBf16Nr tile of fp32 sums in registers; sums over the k blocks go to an
// fp32 scratch tile, and the last step writes alpha·sum + beta·C into C.
//
// Two micro-kernels on the same packed layout: VDPBF16PS (compiled with a target attribute, so
// no build flag is needed; chosen at run time when the CPU reports avx512_bf16) and a portable
// one in plain C++ (every other CPU). Both round every product exactly (a bfloat16 product fits
// in an fp32 mantissa) and accumulate in fp32; they differ only in the order of the additions.
#pragma once

#include <cstdint>

#include "mnemo/backend/cpu/gemm_bf16_avx2.hpp"
#include "mnemo/backend/primitives.hpp"
#include "mnemo/core/bfloat16_fwd.hpp"
#include "mnemo/core/config.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MNEMO_CPU_BF16_AVX512 1
#else
#define MNEMO_CPU_BF16_AVX512 0
#endif

// A user TU of the compiled mode only declares the GEMM (see the end): no kernels, no intrinsics.
#if MNEMO_COMPILED_BODIES
#include <algorithm>
#include <bit>
#include <cstring>
#include <type_traits>
#include <vector>

#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/core/bfloat16.hpp"
#include "mnemo/core/error.hpp"
#if MNEMO_CPU_BF16_AVX512
#include <immintrin.h>
#endif
#endif  // MNEMO_COMPILED_BODIES

namespace mnemo::cpu {

/// Which micro-kernel a bfloat16 GEMM runs.
enum class Bf16Kernel {
  Auto,      ///< AVX512-BF16 when this CPU has it, else Avx2 when it has AVX2 and FMA, else Portable
  Avx512,    ///< VDPBF16PS; throws mnemo::Error on a CPU without avx512_bf16
  Portable,  ///< plain C++, any CPU
  Avx2,      ///< bfloat16 widened in registers, fp32 FMA (cpu/gemm_bf16_avx2.hpp); throws mnemo::Error
             ///< on a CPU without AVX2 and FMA
};

/// True when this binary has the AVX512-BF16 kernel and the CPU it runs on has avx512_bf16,
/// avx512f and avx512bw (the OS saving the AVX-512 registers included).
inline bool cpu_has_avx512_bf16() {
#if MNEMO_CPU_BF16_AVX512
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512bf16");
  return has;
#else
  return false;
#endif
}

/// Rows of the register tile (A-panel height).
inline constexpr int64_t kBf16Mr = 8;
/// Columns of the register tile (B-panel width): two vectors of 16 fp32 lanes.
inline constexpr int64_t kBf16Nr = 32;
/// Depth of a packed block (even: k is packed in pairs); a B panel of it (16 KiB) stays in L1.
inline constexpr int64_t kBf16Kc = 256;
/// Rows of A packed at once (32 KiB at kBf16Kc).
inline constexpr int64_t kBf16Mc = 64;
/// Columns of B packed at once (128 KiB at kBf16Kc, in L2).
inline constexpr int64_t kBf16Nc = 256;
/// Largest op(A) (in 32-bit words, 1 MiB) packed whole, once per job.
inline constexpr int64_t kBf16PackAllWords = 1 << 18;

/// C[b] = alpha·op(A[b])·op(B[b]) + beta·C[b] on bfloat16 A and B with fp32 sums; C float or
/// bfloat16. Threads: the products of the batch and, when there are fewer products than
/// threads, blocks of rows (or of columns, when n > m) of each, one job of mnemo's pool.
/// Throws mnemo::Error when `kernel` is Avx512 on a CPU (or build) without avx512_bf16. The
/// definition follows, or, in a user TU of the compiled mode, is in mnemo::compiled (TC float
/// and bfloat16).
template <class TC>
void gemm_bf16_strided_batched(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha,
                               const bfloat16* A, int64_t lda, int64_t stride_a, const bfloat16* B, int64_t ldb,
                               int64_t stride_b, float beta, TC* C, int64_t ldc, int64_t stride_c, int64_t batch,
                               Bf16Kernel kernel = Bf16Kernel::Auto);

#if MNEMO_COMPILED_BODIES
namespace bf16_detail {

inline int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

/// Bits of element (r, c) of a row-major matrix with row stride ld, transposed when t == T.
inline uint16_t element(const bfloat16* x, int64_t ld, Trans t, int64_t r, int64_t c) {
  return bfloat16_bits(t == Trans::N ? x[r * ld + c] : x[c * ld + r]);
}

/// Packs `Lines` rows of a row-major matrix (row stride ld), each `kc` elements long, as the
/// words of pairs (x[l, 2p], x[l, 2p+1]) in order (p, l): out[p·Lines + l]; an odd kc's last
/// pair gets a zero partner. A full pair is one 32-bit load (the pair's first element is the
/// word's low half on a little-endian CPU). Returns out advanced past the ceil(kc/2)·Lines words.
template <int64_t Lines>
inline uint32_t* copy_pair_words(const bfloat16* x, int64_t ld, int64_t kc, uint32_t* out) {
  const int64_t full = kc / 2;
  const bfloat16* line[Lines];
  for (int64_t l = 0; l < Lines; ++l) line[l] = x + l * ld;
  for (int64_t p = 0; p < full; ++p, out += Lines)
    for (int64_t l = 0; l < Lines; ++l) {
      if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(out + l, line[l] + 2 * p, sizeof(uint32_t));
      } else {
        out[l] = static_cast<uint32_t>(bfloat16_bits(line[l][2 * p])) |
                 static_cast<uint32_t>(bfloat16_bits(line[l][2 * p + 1])) << 16;
      }
    }
  if (kc % 2 != 0) {
    for (int64_t l = 0; l < Lines; ++l) out[l] = bfloat16_bits(line[l][2 * full]);
    out += Lines;
  }
  return out;
}

/// Packs op(A)[i0 .. i0+mc, p0 .. p0+kc) as panels of kBf16Mr rows: word (panel, p, r) holds the
/// pair (a[r, 2p], a[r, 2p+1]); rows past mc and the odd k's partner are zero.
inline void pack_a(const bfloat16* A, int64_t lda, Trans ta, int64_t i0, int64_t mc, int64_t p0, int64_t kc,
                   uint32_t* out) {
  const int64_t pairs = (kc + 1) / 2;
  for (int64_t panel = 0; panel < mc; panel += kBf16Mr) {
    if (ta == Trans::N && panel + kBf16Mr <= mc) {  // a full panel of rows: pairs are neighbours
      const bfloat16* row0 = A + (i0 + panel) * lda + p0;
      out = copy_pair_words<kBf16Mr>(row0, lda, kc, out);
      continue;
    }
    for (int64_t p = 0; p < pairs; ++p) {
      const int64_t k = p0 + 2 * p;
      const bool second = 2 * p + 1 < kc;
      for (int64_t r = 0; r < kBf16Mr; ++r) {
        const int64_t i = i0 + panel + r;
        uint32_t word = 0;
        if (panel + r < mc) {
          word = element(A, lda, ta, i, k);
          if (second) word |= static_cast<uint32_t>(element(A, lda, ta, i, k + 1)) << 16;
        }
        *out++ = word;
      }
    }
  }
}

/// Packs op(B)[p0 .. p0+kc, j0 .. j0+nc) as panels of kBf16Nr columns: word (panel, p, j)
/// holds the pair (b[2p, j], b[2p+1, j]); columns past nc and the odd k's partner are zero.
inline void pack_b(const bfloat16* B, int64_t ldb, Trans tb, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
                   uint32_t* out) {
  const int64_t pairs = (kc + 1) / 2;
  for (int64_t panel = 0; panel < nc; panel += kBf16Nr) {
    const int64_t width = std::min(kBf16Nr, nc - panel);
    if (tb == Trans::T && width == kBf16Nr) {  // a full panel of B's rows: pairs are neighbours
      out = copy_pair_words<kBf16Nr>(B + (j0 + panel) * ldb + p0, ldb, kc, out);
      continue;
    }
    for (int64_t p = 0; p < pairs; ++p) {
      const int64_t k = p0 + 2 * p;
      const bool second = 2 * p + 1 < kc;
      if (tb == Trans::N) {  // two rows of B, interleaved
        const bfloat16* r0 = B + k * ldb + j0 + panel;
        for (int64_t j = 0; j < width; ++j) out[j] = bfloat16_bits(r0[j]);
        if (second)
          for (int64_t j = 0; j < width; ++j) out[j] |= static_cast<uint32_t>(bfloat16_bits(r0[ldb + j])) << 16;
      } else {  // column j of op(B) is row j of B: the pair is two neighbours
        for (int64_t j = 0; j < width; ++j) {
          const bfloat16* src = B + (j0 + panel + j) * ldb + k;
          out[j] = static_cast<uint32_t>(bfloat16_bits(src[0])) |
                   (second ? static_cast<uint32_t>(bfloat16_bits(src[1])) << 16 : 0u);
        }
      }
      std::fill(out + width, out + kBf16Nr, 0u);
      out += kBf16Nr;
    }
  }
}

/// c (kBf16Mr × kBf16Nr fp32, row stride ldc) = (first ? 0 : c) + Σ_p a-panel ⊙ b-panel, plain C++.
inline void micro_portable(int64_t pairs, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc,
                           bool first) {
  float acc[kBf16Mr][kBf16Nr];
  for (int64_t r = 0; r < kBf16Mr; ++r)
    for (int64_t j = 0; j < kBf16Nr; ++j) acc[r][j] = first ? 0.0f : c[r * ldc + j];
  for (int64_t p = 0; p < pairs; ++p) {
    float b0[kBf16Nr], b1[kBf16Nr];
    for (int64_t j = 0; j < kBf16Nr; ++j) {
      const uint32_t w = b[p * kBf16Nr + j];
      b0[j] = bfloat16_bits_to_float(static_cast<uint16_t>(w & 0xffffu));
      b1[j] = bfloat16_bits_to_float(static_cast<uint16_t>(w >> 16));
    }
    for (int64_t r = 0; r < kBf16Mr; ++r) {
      const uint32_t w = a[p * kBf16Mr + r];
      const float a0 = bfloat16_bits_to_float(static_cast<uint16_t>(w & 0xffffu));
      const float a1 = bfloat16_bits_to_float(static_cast<uint16_t>(w >> 16));
      for (int64_t j = 0; j < kBf16Nr; ++j) acc[r][j] += a0 * b0[j] + a1 * b1[j];
    }
  }
  for (int64_t r = 0; r < kBf16Mr; ++r)
    for (int64_t j = 0; j < kBf16Nr; ++j) c[r * ldc + j] = acc[r][j];
}

/// Every A panel against every B panel of one packed block, portable micro-kernel.
inline void macro_portable(int64_t pairs, const uint32_t* apack, int64_t a_panels, const uint32_t* bpack,
                           int64_t b_panels, float* c, int64_t ldc, bool first) {
  for (int64_t jp = 0; jp < b_panels; ++jp)
    for (int64_t ip = 0; ip < a_panels; ++ip)
      micro_portable(pairs, apack + ip * pairs * kBf16Mr, bpack + jp * pairs * kBf16Nr,
                     c + ip * kBf16Mr * ldc + jp * kBf16Nr, ldc, first);
}

#if MNEMO_CPU_BF16_AVX512
// Full unrolling of the register tile (nvcc's front end does not know the GCC pragma).
#if defined(__CUDACC__)
#define MNEMO_BF16_UNROLL
#else
#define MNEMO_BF16_UNROLL _Pragma("GCC unroll 8")
#endif

/// The same block on VDPBF16PS: 8 rows × 2 vectors of fp32 sums in 16 registers.
__attribute__((target("avx512f,avx512bw,avx512bf16"))) inline void macro_avx512(
    int64_t pairs, const uint32_t* apack, int64_t a_panels, const uint32_t* bpack, int64_t b_panels, float* c,
    int64_t ldc, bool first) {
  for (int64_t jp = 0; jp < b_panels; ++jp) {
    const uint32_t* bp = bpack + jp * pairs * kBf16Nr;
    for (int64_t ip = 0; ip < a_panels; ++ip) {
      const uint32_t* ap = apack + ip * pairs * kBf16Mr;
      float* ct = c + ip * kBf16Mr * ldc + jp * kBf16Nr;
      __m512 acc[kBf16Mr][2];
MNEMO_BF16_UNROLL
      for (int r = 0; r < kBf16Mr; ++r) {
        acc[r][0] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(ct + r * ldc);
        acc[r][1] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(ct + r * ldc + 16);
      }
      for (int64_t p = 0; p < pairs; ++p) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp + p * kBf16Nr);
        const __m512bh b1 = (__m512bh)_mm512_loadu_si512(bp + p * kBf16Nr + 16);
MNEMO_BF16_UNROLL
        for (int r = 0; r < kBf16Mr; ++r) {
          const __m512bh a = (__m512bh)_mm512_set1_epi32(static_cast<int>(ap[p * kBf16Mr + r]));
          acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, b0);
          acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, b1);
        }
      }
MNEMO_BF16_UNROLL
      for (int r = 0; r < kBf16Mr; ++r) {
        _mm512_storeu_ps(ct + r * ldc, acc[r][0]);
        _mm512_storeu_ps(ct + r * ldc + 16, acc[r][1]);
      }
    }
  }
}
/// The last step on 16 fp32 sums v of row `dst`: dst = alpha·v + beta·dst, a bfloat16 C rounded to
/// nearest even by VCVTNEPS2BF16 (which, unlike the portable path, flushes subnormal values to
/// zero).
template <class TC>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) inline void store16_avx512(TC* dst, __m512 v,
                                                                                         __m512 alpha, float beta) {
  v = _mm512_mul_ps(alpha, v);
  if constexpr (std::is_same_v<TC, float>) {
    if (beta != 0.0f) v = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_loadu_ps(dst), v);
    _mm512_storeu_ps(dst, v);
  } else {
    if (beta != 0.0f) {
      const __m256i old = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dst));
      v = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(old), 16)),
                          v);
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), (__m256i)_mm512_cvtneps_pbh(v));
  }
}

/// Where macro_avx512_b_rows puts its sums on the last k block, when it writes C directly:
/// C (at the block's first row and column) = alpha·sum + beta·C.
template <class TC>
struct Bf16Out {
  TC* c;
  int64_t ldc;
  float alpha, beta;
};

/// macro_avx512 with B read in place instead of packed: B stored k×n (Trans::N), `b` at element
/// (2·0, 0) of the block, `b_panels` full panels of kBf16Nr columns. The pair words are made in
/// registers: VPUNPCKLWD / VPUNPCKHWD of rows 2p and 2p+1 interleave them within 128-bit lanes, so
/// the two accumulators of a row hold columns {0–3, 8–11, 16–19, 24–27} and {4–7, 12–15, 20–23,
/// 28–31}; one VPERMT2PS per vector puts them back in column order at the tile's load and store.
/// An odd kc's last pair takes zero partners. The streaming step's products have 64 rows: packing
/// B there (reading every weight once per call to write it again) cost half as much as the kernel.
/// With `out` (the last k block of a product whose rows fill whole panels) the sums go to C, not
/// to the fp32 tile: no second pass over the tile.
template <class TC>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) inline void macro_avx512_b_rows(
    int64_t kc, const uint32_t* apack, int64_t a_panels, const bfloat16* b, int64_t ldb, int64_t b_panels, float* c,
    int64_t ldc, bool first, const Bf16Out<TC>* out) {
  const int64_t pairs = (kc + 1) / 2;
  const __m512i to_cols_lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
  const __m512i to_cols_hi = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
  const __m512i from_cols_lo = _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
  const __m512i from_cols_hi = _mm512_setr_epi32(4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
  const __m512 alpha = _mm512_set1_ps(out ? out->alpha : 1.0f);
  for (int64_t jp = 0; jp < b_panels; ++jp) {
    const bfloat16* bp = b + jp * kBf16Nr;
    for (int64_t ip = 0; ip < a_panels; ++ip) {
      const uint32_t* ap = apack + ip * pairs * kBf16Mr;
      float* ct = c + ip * kBf16Mr * ldc + jp * kBf16Nr;
      __m512 acc[kBf16Mr][2];
MNEMO_BF16_UNROLL
      for (int r = 0; r < kBf16Mr; ++r) {
        if (first) {
          acc[r][0] = acc[r][1] = _mm512_setzero_ps();
        } else {
          const __m512 c0 = _mm512_loadu_ps(ct + r * ldc), c1 = _mm512_loadu_ps(ct + r * ldc + 16);
          acc[r][0] = _mm512_permutex2var_ps(c0, from_cols_lo, c1);
          acc[r][1] = _mm512_permutex2var_ps(c0, from_cols_hi, c1);
        }
      }
      for (int64_t p = 0; p < pairs; ++p) {
        const __m512i even = _mm512_loadu_si512(bp + 2 * p * ldb);
        const __m512i odd = 2 * p + 1 < kc ? _mm512_loadu_si512(bp + (2 * p + 1) * ldb) : _mm512_setzero_si512();
        const __m512bh b0 = (__m512bh)_mm512_unpacklo_epi16(even, odd);
        const __m512bh b1 = (__m512bh)_mm512_unpackhi_epi16(even, odd);
MNEMO_BF16_UNROLL
        for (int r = 0; r < kBf16Mr; ++r) {
          const __m512bh a = (__m512bh)_mm512_set1_epi32(static_cast<int>(ap[p * kBf16Mr + r]));
          acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, b0);
          acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, b1);
        }
      }
MNEMO_BF16_UNROLL
      for (int r = 0; r < kBf16Mr; ++r) {
        const __m512 lo = _mm512_permutex2var_ps(acc[r][0], to_cols_lo, acc[r][1]);
        const __m512 hi = _mm512_permutex2var_ps(acc[r][0], to_cols_hi, acc[r][1]);
        if (out) {
          TC* dst = out->c + (ip * kBf16Mr + r) * out->ldc + jp * kBf16Nr;
          store16_avx512(dst, lo, alpha, out->beta);
          store16_avx512(dst + 16, hi, alpha, out->beta);
        } else {
          _mm512_storeu_ps(ct + r * ldc, lo);
          _mm512_storeu_ps(ct + r * ldc + 16, hi);
        }
      }
    }
  }
}
#undef MNEMO_BF16_UNROLL

/// The last step with AVX-512 (store16_avx512): C = alpha·tile + beta·C over rows × nc, 16
/// columns at a time (the remainder in plain C++).
template <class TC>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) inline void store_tile_avx512(
    int64_t rows, int64_t nc, const float* tile, int64_t ld_tile, float alpha, float beta, TC* C, int64_t ldc) {
  const __m512 va = _mm512_set1_ps(alpha);
  const int64_t vec_end = nc / 16 * 16;
  for (int64_t i = 0; i < rows; ++i) {
    const float* src = tile + i * ld_tile;
    TC* dst = C + i * ldc;
    for (int64_t j = 0; j < vec_end; j += 16) store16_avx512(dst + j, _mm512_loadu_ps(src + j), va, beta);
    for (int64_t j = vec_end; j < nc; ++j)
      dst[j] = static_cast<TC>(alpha * src[j] + (beta == 0.0f ? 0.0f : beta * static_cast<float>(dst[j])));
  }
}
#endif

/// Packing buffers and the fp32 tile of one thread, kept between calls (no allocation per call
/// once they have grown).
struct Bf16Scratch {
  std::vector<uint32_t> a, b;
  std::vector<float> c;
  static Bf16Scratch& local() {
    thread_local Bf16Scratch scratch;
    return scratch;
  }
};

/// Rows [i0, i1) × columns [j0, j1) of one product, on the calling thread.
template <class TC>
void gemm_block(Trans ta, Trans tb, int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t k, float alpha,
                const bfloat16* A, int64_t lda, const bfloat16* B, int64_t ldb, float beta, TC* C, int64_t ldc,
                bool avx512) {
  Bf16Scratch& s = Bf16Scratch::local();
  const int64_t rows = i1 - i0, rows_padded = round_up(rows, kBf16Mr);
  const int64_t kc_max = std::min<int64_t>(kBf16Kc, round_up(std::max<int64_t>(k, 1), 2));
  // With AVX-512, B stored k×n (Trans::N) is read in place for its full panels
  // (macro_avx512_b_rows); only the last, narrow panel is packed. When the rows fill whole
  // panels, that kernel also writes the last k block's sums straight to C.
  const bool b_in_place = MNEMO_CPU_BF16_AVX512 && avx512 && tb == Trans::N;
  const bool whole_panels = b_in_place && rows == rows_padded && alpha != 0.0f && k > 0;
  // op(A) of the whole job is packed once, before the column blocks, when it takes at most
  // kBf16PackAllWords words (the streaming step's products: 64 rows); else block by block.
  const int64_t all_words = rows_padded * round_up(k, 2) / 2;
  const bool pack_all = all_words <= kBf16PackAllWords;
  s.a.resize(static_cast<size_t>(pack_all ? std::max<int64_t>(all_words, 1) : kBf16Mc * kc_max / 2));
  s.b.resize(static_cast<size_t>(kBf16Nc * kc_max / 2));
  s.c.resize(static_cast<size_t>(rows_padded * kBf16Nc));
  if (pack_all && alpha != 0.0f)  // block pc starts at word pc/2 · rows_padded (kBf16Kc is even)
    for (int64_t pc = 0; pc < k; pc += kBf16Kc)
      pack_a(A, lda, ta, i0, rows, pc, std::min(kBf16Kc, k - pc), s.a.data() + pc / 2 * rows_padded);
  for (int64_t jc = j0; jc < j1; jc += kBf16Nc) {
    const int64_t nc = std::min(kBf16Nc, j1 - jc), nc_padded = round_up(nc, kBf16Nr);
    const int64_t in_place_cols = b_in_place ? nc / kBf16Nr * kBf16Nr : 0;
    float* tile = s.c.data();  // rows_padded × nc_padded, row stride nc_padded
    if (k == 0 || alpha == 0.0f) std::fill(tile, tile + rows_padded * nc_padded, 0.0f);
    for (int64_t pc = 0; pc < k && alpha != 0.0f; pc += kBf16Kc) {
      const int64_t kc = std::min(kBf16Kc, k - pc), pairs = (kc + 1) / 2;
      if (in_place_cols < nc) pack_b(B, ldb, tb, pc, kc, jc + in_place_cols, nc - in_place_cols, s.b.data());
      for (int64_t ic = i0; ic < i1; ic += kBf16Mc) {
        const int64_t mc = std::min(kBf16Mc, i1 - ic);
        const uint32_t* apack = s.a.data() + pc / 2 * rows_padded + (ic - i0) * pairs;
        if (!pack_all) {
          pack_a(A, lda, ta, ic, mc, pc, kc, s.a.data());
          apack = s.a.data();
        }
        float* ct = tile + (ic - i0) * nc_padded;
        const int64_t a_panels = round_up(mc, kBf16Mr) / kBf16Mr, b_panels = nc_padded / kBf16Nr;
#if MNEMO_CPU_BF16_AVX512
        if (avx512) {
          const int64_t in_place_panels = in_place_cols / kBf16Nr;
          if (in_place_panels > 0) {
            const Bf16Out<TC> out{C + ic * ldc + jc, ldc, alpha, beta};
            macro_avx512_b_rows<TC>(kc, apack, a_panels, B + pc * ldb + jc, ldb, in_place_panels, ct, nc_padded, pc == 0,
                                    whole_panels && pc + kc == k ? &out : nullptr);
          }
          if (in_place_panels < b_panels)
            macro_avx512(pairs, apack, a_panels, s.b.data(), b_panels - in_place_panels,
                         ct + in_place_panels * kBf16Nr, nc_padded, pc == 0);
          continue;
        }
#endif
        macro_portable(pairs, apack, a_panels, s.b.data(), b_panels, ct, nc_padded, pc == 0);
      }
    }
    // C = alpha·sum + beta·C, rounded once to TC (the columns the kernel has not written already).
    const int64_t done = whole_panels ? in_place_cols : 0;
#if MNEMO_CPU_BF16_AVX512
    if (avx512) {
      store_tile_avx512(rows, nc - done, tile + done, nc_padded, alpha, beta, C + i0 * ldc + jc + done, ldc);
      continue;
    }
#endif
    for (int64_t i = 0; i < rows; ++i) {
      const float* src = tile + i * nc_padded;
      TC* dst = C + (i0 + i) * ldc + jc;
      for (int64_t j = 0; j < nc; ++j) {
        const float v = alpha * src[j] + (beta == 0.0f ? 0.0f : beta * static_cast<float>(dst[j]));
        dst[j] = static_cast<TC>(v);
      }
    }
  }
}

}  // namespace bf16_detail

// Definition of the GEMM declared above.
template <class TC>
void gemm_bf16_strided_batched(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha,
                               const bfloat16* A, int64_t lda, int64_t stride_a, const bfloat16* B, int64_t ldb,
                               int64_t stride_b, float beta, TC* C, int64_t ldc, int64_t stride_c, int64_t batch,
                               Bf16Kernel kernel) {
  static_assert(std::is_same_v<TC, float> || std::is_same_v<TC, bfloat16>, "C is float or bfloat16");
  const bool has = cpu_has_avx512_bf16();
  if (kernel == Bf16Kernel::Avx512 && !has)
    throw Error("bfloat16 GEMM: the AVX512-BF16 kernel was asked for, but this CPU (or this build) has no "
                "avx512_bf16; expected Bf16Kernel::Auto or Portable here");
  if (kernel == Bf16Kernel::Avx2 && !cpu_has_avx2_fma())
    throw Error("bfloat16 GEMM: the AVX2 kernel was asked for, but this CPU (or this build) has no AVX2 and FMA; "
                "expected Bf16Kernel::Auto or Portable here");
  const bool avx512 = has && (kernel == Bf16Kernel::Auto || kernel == Bf16Kernel::Avx512);
  [[maybe_unused]] const bool avx2 =  // unused where the build has no AVX2 kernel
      kernel == Bf16Kernel::Avx2 || (kernel == Bf16Kernel::Auto && !has && cpu_has_avx2_fma());
  if (m <= 0 || n <= 0 || batch <= 0) return;
  const bool split_rows = m >= n;
  const int64_t extent = split_rows ? m : n;
  const int64_t unit = split_rows ? kBf16Mr : kBf16Nr;
  const int64_t flops = 2 * m * n * std::max<int64_t>(k, 1);
  const int64_t threads = parallel_threads();
  const int64_t parts =
      batch >= threads || flops * batch < kParallelWork
          ? 1
          : std::max<int64_t>(1, std::min((threads + batch - 1) / batch, extent / std::max<int64_t>(unit, 16)));
  parallel_for(batch * parts, flops / parts, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / parts, part = item % parts;
      // Block [lo, hi) of the split dimension, inner boundaries on whole register tiles.
      const int64_t lo = part == 0 ? 0 : (extent * part / parts) / unit * unit;
      const int64_t hi = part + 1 == parts ? extent : (extent * (part + 1) / parts) / unit * unit;
      const bfloat16* a = A + b * stride_a;
      const bfloat16* bm = B + b * stride_b;
      TC* c = C + b * stride_c;
      const int64_t i0 = split_rows ? lo : 0, i1 = split_rows ? hi : m;
      const int64_t j0 = split_rows ? 0 : lo, j1 = split_rows ? n : hi;
#if MNEMO_CPU_BF16_AVX2
      if (avx2 && alpha != 0.0f && k > 0) {
        bf16_avx2::gemm_block(ta, tb, i0, i1, j0, j1, k, alpha, a, lda, bm, ldb, beta, c, ldc,
                              bf16_avx2::Avx2Buffers::of_this_thread());
        continue;
      }
#endif
      bf16_detail::gemm_block(ta, tb, i0, i1, j0, j1, k, alpha, a, lda, bm, ldb, beta, c, ldc, avx512);
    }
  });
}
#endif  // MNEMO_COMPILED_BODIES

}  // namespace mnemo::cpu

// Compiled mode (docs/compile_time.md): the bfloat16 GEMM is compiled once, in
// src/compiled/backend_nn_float.cpp; a user TU sees the declaration above.
#if defined(MNEMO_COMPILED)
namespace mnemo::cpu {
extern template void gemm_bf16_strided_batched<float>(Trans, Trans, int64_t, int64_t, int64_t, float, const bfloat16*,
                                                      int64_t, int64_t, const bfloat16*, int64_t, int64_t, float,
                                                      float*, int64_t, int64_t, int64_t, Bf16Kernel);
extern template void gemm_bf16_strided_batched<bfloat16>(Trans, Trans, int64_t, int64_t, int64_t, float,
                                                         const bfloat16*, int64_t, int64_t, const bfloat16*, int64_t,
                                                         int64_t, float, bfloat16*, int64_t, int64_t, int64_t,
                                                         Bf16Kernel);
}  // namespace mnemo::cpu
#endif  // MNEMO_COMPILED
