// mnemo/backend/cpu/attention_tiles_avx2.hpp — the attention's building blocks for a CPU with AVX2
// and FMA but no AVX-512 (AttentionKernel::Avx2, cpu/attention_kernel.hpp), the same four as
// cpu/attention_tiles_avx512.hpp on the same layouts (Kᵀ and Vᵀ in panels of 16 keys, rows padded
// to whole panels), through Avx2Tiles at the end:
//   tile       C (+)= A·B over whole vectors of 16 columns: small_gemm.hpp's register block, 6 rows
//              × 16 columns in 12 of the 16 registers, one broadcast element of A against two
//              8-float halves of B's row;
//   pack_kt    a panel of 16 keys by four 8×8 transposes in registers per 16 elements of d_h;
//   row_exp    E = exp(scale·s − max) and 1 / ΣE over a row without padding or ALiBi;
//   row_softmax_backward   dS = scale·P⊙(dP − <P, dP>) over a row.
// A row's last n mod 8 keys go through masked loads and stores (VMASKMOVPS), so no element past
// the row is read or written. Compiled through function target attributes; chosen at run time.
#pragma once

#include "mnemo/backend/cpu/attention_kernel.hpp"
#if MNEMO_COMPILED_BODIES && defined(MNEMO_SMALL_GEMM_X86)
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "mnemo/backend/cpu/small_gemm.hpp"

namespace mnemo::cpu::detail {

/// ln of the smallest normal float: exp of anything below is flushed to 0.
inline constexpr float kExpMinArg = -87.33654475f;

/// e^x for x ≤ 88 (attention_kernel.hpp's Cephes polynomial), 2ⁿ built in the exponent field;
/// x < ln(FLT_MIN) (−∞ included) gives 0, NaN gives NaN.
__attribute__((target("avx2,fma"))) inline __m256 attention_exp_avx2(__m256 x) {
  const __m256 below = _mm256_cmp_ps(x, _mm256_set1_ps(kExpMinArg), _CMP_LT_OQ);
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kExpLog2e)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  n = _mm256_max_ps(n, _mm256_set1_ps(-126.0f));  // 2ⁿ stays normal (and n finite when x is NaN)
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kExpLn2Hi), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kExpLn2Lo), r);
  __m256 p = _mm256_set1_ps(kExpPoly[0]);
#pragma GCC unroll 5
  for (int i = 1; i < 6; ++i) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpPoly[i]));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i two_n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(below, _mm256_mul_ps(p, _mm256_castsi256_ps(two_n)));
}

/// Lanes [0, rest) of a vector set, for the masked loads and stores of a row's last keys.
__attribute__((target("avx2,fma"))) inline __m256i attention_tail_mask_avx2(int64_t rest) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(rest)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

__attribute__((target("avx2,fma"))) inline float attention_sum_avx2(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

__attribute__((target("avx2,fma"))) inline float attention_max_avx2(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
}

/// r[i][j] ← r[j][i] for 8 vectors of 8 floats: pairs interleaved, 2×2 blocks of elements, then
/// the 128-bit halves.
__attribute__((target("avx2,fma"))) inline void attention_transpose8_avx2(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    u[4 * i + 0] = _mm256_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x20);
    r[4 + i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x31);
  }
}

/// The AVX2 building blocks as the attention drivers call them (see the top).
struct Avx2Tiles {
  /// Queries per block under a causal mask: register_tiles_causal_block (cpu/attention_kernel.hpp).
  static int64_t causal_block(int64_t lq, int64_t block) { return register_tiles_causal_block(lq, block); }

  /// C[m × 16·vectors] (+)= A[m × k] · B[k × 16·vectors], vector v of B's row p at b + p·ldb + v·ldv,
  /// A[i][p] at a[i·lda + p] (a[p·lda + i] with TransA); one small_gemm panel per vector.
  template <bool Acc, bool TransA = false>
  static void tile(int64_t m, int64_t vectors, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                   int64_t ldv, float* c, int64_t ldc) {
    for (int64_t v = 0; v < vectors; ++v)
      small_gemm_panel<2, TransA>(m, k, a, lda, b + v * ldv, ldb, c + 16 * v, ldc, 1.0f, Acc ? 1.0f : 0.0f);
  }

  /// attention_row_exp for a row with neither padding nor ALiBi, scale > 0, as
  /// Avx512Tiles::row_exp (max, then E and ΣE together) in 8-float vectors. Returns 1 / ΣE, or 0
  /// when last = 0.
  __attribute__((target("avx2,fma"))) static float row_exp(float* s, int64_t keys, int64_t last, float scale) {
    std::fill(s + last, s + keys, 0.0f);
    if (last <= 0) return 0.0f;
    const int64_t full = last / 8 * 8, rest = last - full;
    const __m256i tail = attention_tail_mask_avx2(rest);
    const __m256 minus_inf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    __m256 mx = minus_inf;
    for (int64_t c = 0; c < full; c += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(s + c));
    if (rest) {  // masked lanes read as −∞
      const __m256 last_keys = _mm256_maskload_ps(s + full, tail);
      mx = _mm256_max_ps(mx, _mm256_blendv_ps(minus_inf, last_keys, _mm256_castsi256_ps(tail)));
    }
    const __m256 vscale = _mm256_set1_ps(scale), shift = _mm256_set1_ps(scale * attention_max_avx2(mx));
    __m256 sum = _mm256_setzero_ps();
    for (int64_t c = 0; c < full; c += 8) {
      const __m256 e = attention_exp_avx2(_mm256_fmsub_ps(_mm256_loadu_ps(s + c), vscale, shift));
      _mm256_storeu_ps(s + c, e);
      sum = _mm256_add_ps(sum, e);
    }
    if (rest) {
      const __m256 x = _mm256_fmsub_ps(_mm256_maskload_ps(s + full, tail), vscale, shift);
      const __m256 e = _mm256_and_ps(attention_exp_avx2(x), _mm256_castsi256_ps(tail));
      _mm256_maskstore_ps(s + full, tail, e);
      sum = _mm256_add_ps(sum, e);
    }
    return 1.0f / attention_sum_avx2(sum);
  }

  /// One panel of Kᵀ as Avx512Tiles::pack_kt writes it: panel[e·16 + j] = key j's element e for
  /// the n ≤ 16 keys at k (row stride ld, d_h a multiple of 16), 0 for keys j ≥ n.
  __attribute__((target("avx2,fma"))) static void pack_kt(const float* k, int64_t ld, int64_t n, int64_t dh,
                                                           float* panel) {
    for (int64_t e0 = 0; e0 < dh; e0 += 8)
      for (int64_t j0 = 0; j0 < 16; j0 += 8) {
        __m256 r[8];
#pragma GCC unroll 8
        for (int j = 0; j < 8; ++j)
          r[j] = j0 + j < n ? _mm256_loadu_ps(k + (j0 + j) * ld + e0) : _mm256_setzero_ps();
        attention_transpose8_avx2(r);
#pragma GCC unroll 8
        for (int i = 0; i < 8; ++i) _mm256_storeu_ps(panel + (e0 + i) * 16 + j0, r[i]);
      }
  }

  /// One row of the softmax backward over the `keys` visible keys: ds ← scale·p⊙(ds − <p, ds>)
  /// (ds holds dP on entry), and p copied to p_copy.
  __attribute__((target("avx2,fma"))) static void row_softmax_backward(const float* p, float* ds, float* p_copy,
                                                                        int64_t keys, float scale) {
    const int64_t full = keys / 8 * 8, rest = keys - full;
    const __m256i tail = attention_tail_mask_avx2(rest);
    __m256 dot = _mm256_setzero_ps();
    for (int64_t c = 0; c < full; c += 8) dot = _mm256_fmadd_ps(_mm256_loadu_ps(p + c), _mm256_loadu_ps(ds + c), dot);
    if (rest)
      dot = _mm256_fmadd_ps(_mm256_maskload_ps(p + full, tail), _mm256_maskload_ps(ds + full, tail), dot);
    const __m256 delta = _mm256_set1_ps(attention_sum_avx2(dot)), vscale = _mm256_set1_ps(scale);
    for (int64_t c = 0; c < full; c += 8) {
      const __m256 pc = _mm256_loadu_ps(p + c);
      _mm256_storeu_ps(p_copy + c, pc);
      _mm256_storeu_ps(ds + c, _mm256_mul_ps(_mm256_mul_ps(vscale, pc), _mm256_sub_ps(_mm256_loadu_ps(ds + c), delta)));
    }
    if (rest) {
      const __m256 pc = _mm256_maskload_ps(p + full, tail);
      _mm256_maskstore_ps(p_copy + full, tail, pc);
      const __m256 d = _mm256_maskload_ps(ds + full, tail);
      _mm256_maskstore_ps(ds + full, tail, _mm256_mul_ps(_mm256_mul_ps(vscale, pc), _mm256_sub_ps(d, delta)));
    }
  }
};

}  // namespace mnemo::cpu::detail
#endif  // MNEMO_COMPILED_BODIES && MNEMO_SMALL_GEMM_X86
