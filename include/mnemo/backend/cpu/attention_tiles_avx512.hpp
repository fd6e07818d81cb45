// mnemo/backend/cpu/attention_tiles_avx512.hpp — the attention's building blocks for a CPU with
// AVX-512F (AttentionKernel::Avx512, cpu/attention_kernel.hpp), used by cpu/attention_forward.hpp
// and cpu/attention_head.hpp through Avx512Tiles at the end:
//   tile       C (+)= A·B over whole vectors of 16 columns, register blocks of 6 rows × 64 columns
//              (24 of the 32 registers), one broadcast element of A against 4 vectors of B;
//   pack_kt    Kᵀ in panels of 16 keys (d_h × 16), by 16×16 transposes in registers;
//   row_exp    E = exp(scale·s − max) and 1 / ΣE over a row without padding or ALiBi;
//   row_softmax_backward   dS = scale·P⊙(dP − <P, dP>) over a row.
// Compiled through function target attributes, so any x86 build has them; chosen at run time.
#pragma once

#include "mnemo/backend/cpu/attention_kernel.hpp"
#if MNEMO_COMPILED_BODIES && defined(MNEMO_SMALL_GEMM_X86)
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <limits>

namespace mnemo::cpu::detail {

/// e^x for finite x (attention_kernel.hpp's Cephes polynomial), 2ⁿ by vscalefps, which gives 0
/// below the float range.
__attribute__((target("avx512f"))) inline __m512 attention_exp_avx512(__m512 x) {
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kExpLog2e)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kExpLn2Hi), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kExpLn2Lo), r);
  __m512 p = _mm512_set1_ps(kExpPoly[0]);
#pragma GCC unroll 5
  for (int i = 1; i < 6; ++i) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpPoly[i]));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

/// r[i][j] ← r[j][i] for 16 vectors of 16 floats: pairs interleaved, then 2×2 blocks of
/// elements, 4×4 and 8×8 blocks of 128-bit lanes.
__attribute__((target("avx512f"))) inline void attention_transpose16_avx512(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < 4; ++i) {
      t[8 * h + i] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + 4 + i], 0x88);
      t[8 * h + 4 + i] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + 4 + i], 0xdd);
    }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
    r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xdd);
  }
}

/// C[0:MR, 0:16·NV] (+)= A[0:MR, 0:k] · B[0:k, 0:16·NV], C row-major, overwritten (or added to
/// when Acc): the block of C in MR·NV registers over all of k, one broadcast element of A against
/// NV vectors of B per step. Vector v of B's row p is at b + p·ldb + v·ldv: ldv = 16 for a
/// row-major B, the panel size for B packed in panels of 16 columns. A[i][p] is a[i·lda + p], or
/// with TransA a[p·lda + i] (A stored transposed: the backward's Pᵀ·dO and dSᵀ·Q).
template <int MR, int NV, bool Acc, bool TransA = false>
__attribute__((target("avx512f"))) void attention_block_avx512(int64_t k, const float* a, int64_t lda,
                                                               const float* b, int64_t ldb, int64_t ldv,
                                                               float* c, int64_t ldc) {
  __m512 acc[MR][NV];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = Acc ? _mm512_loadu_ps(c + i * ldc + 16 * v) : _mm512_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_ps(b + p * ldb + v * ldv);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(TransA ? a[p * lda + i] : a[i * lda + p]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
  }
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(c + i * ldc + 16 * v, acc[i][v]);
}

/// Rows [0, m) of a group of NV vectors of 16 columns, in blocks of 6 rows.
template <int NV, bool Acc, bool TransA = false>
void attention_panel_avx512(int64_t m, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                            int64_t ldv, float* c, int64_t ldc) {
  const int64_t row_step = TransA ? 1 : lda;  // from row i of A to row i + 1
  int64_t i = 0;
  for (; i + 6 <= m; i += 6)
    attention_block_avx512<6, NV, Acc, TransA>(k, a + i * row_step, lda, b, ldb, ldv, c + i * ldc, ldc);
  const float* ai = a + i * row_step;
  float* ci = c + i * ldc;
  switch (m - i) {
    case 5: attention_block_avx512<5, NV, Acc, TransA>(k, ai, lda, b, ldb, ldv, ci, ldc); break;
    case 4: attention_block_avx512<4, NV, Acc, TransA>(k, ai, lda, b, ldb, ldv, ci, ldc); break;
    case 3: attention_block_avx512<3, NV, Acc, TransA>(k, ai, lda, b, ldb, ldv, ci, ldc); break;
    case 2: attention_block_avx512<2, NV, Acc, TransA>(k, ai, lda, b, ldb, ldv, ci, ldc); break;
    case 1: attention_block_avx512<1, NV, Acc, TransA>(k, ai, lda, b, ldb, ldv, ci, ldc); break;
    default: break;
  }
}

/// The AVX-512 building blocks as the attention drivers call them (see the top).
struct Avx512Tiles {
  /// Queries per block under a causal mask: register_tiles_causal_block (cpu/attention_kernel.hpp).
  static int64_t causal_block(int64_t lq, int64_t block) { return register_tiles_causal_block(lq, block); }

  /// C[m × 16·vectors] (+)= A[m × k] · B[k × 16·vectors] (A's and B's layouts as
  /// attention_block_avx512 reads them), in groups of up to 4 vectors of columns.
  template <bool Acc, bool TransA = false>
  static void tile(int64_t m, int64_t vectors, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                   int64_t ldv, float* c, int64_t ldc) {
    for (int64_t j = 0; j < vectors;) {
      const int64_t nv = std::min<int64_t>(4, vectors - j);
      const float* bj = b + j * ldv;
      float* cj = c + 16 * j;
      switch (nv) {
        case 4: attention_panel_avx512<4, Acc, TransA>(m, k, a, lda, bj, ldb, ldv, cj, ldc); break;
        case 3: attention_panel_avx512<3, Acc, TransA>(m, k, a, lda, bj, ldb, ldv, cj, ldc); break;
        case 2: attention_panel_avx512<2, Acc, TransA>(m, k, a, lda, bj, ldb, ldv, cj, ldc); break;
        default: attention_panel_avx512<1, Acc, TransA>(m, k, a, lda, bj, ldb, ldv, cj, ldc); break;
      }
      j += nv;
    }
  }

  /// attention_row_exp for a row with neither padding nor ALiBi, scale > 0, in two passes over the
  /// `last` visible keys: m = max s (then scale·m = max scale·s, rounding being monotone), then
  /// E = exp(scale·s − scale·m) and ΣE together; keys [last, keys) set to 0. Returns 1 / ΣE, or 0
  /// when last = 0.
  __attribute__((target("avx512f"))) static float row_exp(float* s, int64_t keys, int64_t last, float scale) {
    std::fill(s + last, s + keys, 0.0f);
    if (last <= 0) return 0.0f;
    const int64_t full = last / 16 * 16;
    const __mmask16 tail = static_cast<__mmask16>((1u << (last - full)) - 1u);
    __m512 mx = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    for (int64_t c = 0; c < full; c += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(s + c));
    if (tail) mx = _mm512_mask_max_ps(mx, tail, mx, _mm512_maskz_loadu_ps(tail, s + full));
    const __m512 vscale = _mm512_set1_ps(scale), shift = _mm512_set1_ps(scale * _mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (int64_t c = 0; c < full; c += 16) {
      const __m512 e = attention_exp_avx512(_mm512_fmsub_ps(_mm512_loadu_ps(s + c), vscale, shift));
      _mm512_storeu_ps(s + c, e);
      sum = _mm512_add_ps(sum, e);
    }
    if (tail) {
      const __m512 x = _mm512_fmsub_ps(_mm512_maskz_loadu_ps(tail, s + full), vscale, shift);
      const __m512 e = _mm512_maskz_mov_ps(tail, attention_exp_avx512(x));
      _mm512_mask_storeu_ps(s + full, tail, e);
      sum = _mm512_add_ps(sum, e);
    }
    return 1.0f / _mm512_reduce_add_ps(sum);
  }

  /// One panel of Kᵀ: panel[e·16 + j] = key j's element e for the n ≤ 16 keys at k (row stride ld,
  /// d_h a multiple of 16), 0 for keys j ≥ n; 16×16 tiles transposed in registers (key by key, the
  /// stores 64 B apart would each touch another cache line).
  __attribute__((target("avx512f"))) static void pack_kt(const float* k, int64_t ld, int64_t n, int64_t dh,
                                                          float* panel) {
    for (int64_t e0 = 0; e0 < dh; e0 += 16) {
      __m512 r[16];
#pragma GCC unroll 16
      for (int j = 0; j < 16; ++j) r[j] = j < n ? _mm512_loadu_ps(k + j * ld + e0) : _mm512_setzero_ps();
      attention_transpose16_avx512(r);
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) _mm512_storeu_ps(panel + (e0 + i) * 16, r[i]);
    }
  }

  /// One row of the softmax backward over the `keys` visible keys: ds ← scale·p⊙(ds − <p, ds>)
  /// (ds holds dP on entry), and p copied to p_copy.
  __attribute__((target("avx512f"))) static void row_softmax_backward(const float* p, float* ds, float* p_copy,
                                                                       int64_t keys, float scale) {
    const int64_t full = keys / 16 * 16;
    const __mmask16 tail = static_cast<__mmask16>((1u << (keys - full)) - 1u);
    __m512 dot = _mm512_setzero_ps();
    for (int64_t c = 0; c < full; c += 16) dot = _mm512_fmadd_ps(_mm512_loadu_ps(p + c), _mm512_loadu_ps(ds + c), dot);
    if (tail) dot = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, p + full), _mm512_maskz_loadu_ps(tail, ds + full), dot);
    const __m512 delta = _mm512_set1_ps(_mm512_reduce_add_ps(dot)), vscale = _mm512_set1_ps(scale);
    for (int64_t c = 0; c < full; c += 16) {
      const __m512 pc = _mm512_loadu_ps(p + c);
      _mm512_storeu_ps(p_copy + c, pc);
      _mm512_storeu_ps(ds + c, _mm512_mul_ps(_mm512_mul_ps(vscale, pc), _mm512_sub_ps(_mm512_loadu_ps(ds + c), delta)));
    }
    if (tail) {
      const __m512 pc = _mm512_maskz_loadu_ps(tail, p + full);
      _mm512_mask_storeu_ps(p_copy + full, tail, pc);
      const __m512 d = _mm512_maskz_loadu_ps(tail, ds + full);
      _mm512_mask_storeu_ps(ds + full, tail, _mm512_mul_ps(_mm512_mul_ps(vscale, pc), _mm512_sub_ps(d, delta)));
    }
  }
};

}  // namespace mnemo::cpu::detail
#endif  // MNEMO_COMPILED_BODIES && MNEMO_SMALL_GEMM_X86
