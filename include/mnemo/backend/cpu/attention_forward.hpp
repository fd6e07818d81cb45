// mnemo/backend/cpu/attention_forward.hpp — masked multi-head attention for a forward that no
// backward follows (inference), without the [batch, heads, Lq, Lk] probabilities tensor:
//   O⁽ʰ⁾ = softmax(scale · Q⁽ʰ⁾·K⁽ʰ⁾ᵀ + mask) · V⁽ʰ⁾                 (memformer.md §2.2)
// taken per (batch row, head, block of queries):
//   S = Q_blk · K_visᵀ                      (block × visible keys, in a per-thread buffer)
//   E = exp(scale·S + bias − rowmax),  masked entries 0          (SoftmaxRowMask: causal, padding, ALiBi)
//   O_blk = (E · V_vis) / rowsum(E)         (the normalisation on d_h outputs, not on every key)
// so the scores stay in cache between the three steps instead of going through memory. Q, K, V
// and O are in the projection layout [batch, len, ·] with row strides ld_q, ld_kv, ld_o and head
// h at columns h·d_h: no head split or merge copies. With a causal mask a block ending at query r1
// sees keys [0, r1 + query_offset) at most; the keys after that are neither multiplied nor read.
// Work is split across mnemo's pool by (batch row, head); every output element is computed by the
// same sequence of operations whatever the thread count.
//
// The two products of a block: in float with d_h a multiple of 16 on a CPU with AVX-512F (chosen at
// run time; the function attribute compiles it in any build) a register-blocked kernel, 6 rows ×
// 64 columns of accumulators. Its operands are contiguous per-thread copies, made once per (batch
// row, head) for the keys (each block adds its new keys): Kᵀ in panels of 16 keys (d_h × 16, by
// 16×16 transposes in registers), V as Lk × d_h, and the block's Q as block × d_h. In place, the
// rows of a head are d·4 bytes apart (2 KiB at d = 512) and fall into a few L1 sets that evict each
// other. E·V runs over chunks of 128 keys so that a chunk of V (32 KiB at d_h = 64) stays in L1
// while all the block's rows read it. Rows with neither padding nor ALiBi take a fused two-pass
// exponential (max, then exp and sum). Otherwise the GEMM (provider or Eigen, one thread) on each
// block. A BLAS call per 64-row tile repacks its operands every time; at d_h = 64 that packing
// costs about as much as the product.
#pragma once

#include <cstdint>
#include <type_traits>

#include "mnemo/core/config.hpp"
#if MNEMO_COMPILED_BODIES  // a user TU of the compiled mode only declares the kernel (see the end)
#include <Eigen/Core>

#include <algorithm>
#include <limits>
#include <vector>

#include "mnemo/backend/cpu/gemm.hpp"
#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/backend/cpu/small_gemm.hpp"
#include "mnemo/backend/softmax_row_mask.hpp"
#if defined(MNEMO_SMALL_GEMM_X86)
#include <cstdlib>
#include <immintrin.h>
#endif
#endif

#include "mnemo/backend/primitives.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cpu {

/// o = attention(q, k, v) per (batch row, head) as above, dims = {batch, heads, Lq, Lk}; q [batch,
/// Lq, ld_q], k and v [batch, Lk, ld_kv], o [batch, Lq, ld_o], head h at columns [h·d_h, (h+1)·d_h);
/// queries in blocks of `block` rows. A query whose every key is masked gets zeros. The definition
/// follows, or, in a user TU of the compiled mode, is in mnemo::compiled for float and double.
template <class T>
void attention_forward(const T* q, int64_t ld_q, const T* k, const T* v, int64_t ld_kv, T* o, int64_t ld_o,
                       const SoftmaxDims& dims, int64_t head_dim, compute_t<T> scale, const SoftmaxMask& mask,
                       int64_t block);

#if MNEMO_COMPILED_BODIES
namespace detail {

/// C = A·op(B) on the calling thread's kernel choice (the small-matrix kernel when it applies,
/// else the blocked GEMM); row-major, beta = 0.
template <class T>
void attention_tile_gemm(Trans tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
                         int64_t ldb, T* c, int64_t ldc) {
  if (!small_gemm<T>(Trans::N, tb, m, n, k, T(1), a, lda, 0, b, ldb, 0, T(0), c, ldc, 0, 1))
    gemm_strided_batched<T>(Trans::N, tb, m, n, k, T(1), a, lda, 0, b, ldb, 0, T(0), c, ldc, 0, 1);
}

/// One row of S (`keys` entries) → E = exp(logit − max) over the visible keys, 0 elsewhere;
/// returns 1 / ΣE, or 0 when every key is masked (then the row is all 0).
template <class T>
T attention_row_exp(T* s, int64_t keys, T scale, const SoftmaxRowMask<T>& rm) {
  using Row = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
  constexpr T kMinusInf = -std::numeric_limits<T>::infinity();
  const int64_t last = std::min(rm.visible_end, keys);  // keys [0, last) pass the causal mask
  std::fill(s + last, s + keys, T(0));
  Row z(s, last);
  z *= scale;
  if (rm.alibi)
    for (int64_t c = 0; c < last; ++c) z[c] = rm.logit(z[c], c);
  if (rm.padding)
    for (int64_t c = 0; c < last; ++c)
      if (rm.padding[c]) z[c] = kMinusInf;
  const T mx = last > 0 ? z.maxCoeff() : kMinusInf;
  if (mx == kMinusInf) {  // every key masked: zero probabilities, zero output
    z.setZero();
    return T(0);
  }
  z = (z - mx).exp();
  if (rm.padding)  // Eigen's exp(−∞) is a tiny positive number, not 0
    for (int64_t c = 0; c < last; ++c)
      if (rm.padding[c]) z[c] = T(0);
  return T(1) / z.sum();
}

#if defined(MNEMO_SMALL_GEMM_X86)
/// Whether float tiles with d_h a multiple of 16 take the AVX-512 kernel below: the CPU has
/// AVX-512F and MNEMO_ATTENTION_AVX512 is not "0" (which sends them to the GEMM, for comparisons).
inline bool attention_avx512_enabled() {
  static const bool enabled = [] {
    const char* env = std::getenv("MNEMO_ATTENTION_AVX512");
    if (env && env[0] == '0') return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  return enabled;
}

/// e^x for finite x as Cephes' expf: n = round(x·log₂e), r = x − n·ln2 (ln2 in two parts), e^r
/// by its degree-7 polynomial, times 2ⁿ (vscalefps, which gives 0 below the float range).
__attribute__((target("avx512f"))) inline __m512 attention_exp_avx512(__m512 x) {
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

/// attention_row_exp for a row with neither padding nor ALiBi, scale > 0, in two passes over the
/// `last` visible keys: m = max s (then scale·m = max scale·s, rounding being monotone), then
/// E = exp(scale·s − scale·m) and ΣE together; keys [last, keys) set to 0. Returns 1 / ΣE, or 0
/// when last = 0.
__attribute__((target("avx512f"))) inline float attention_row_exp_avx512(float* s, int64_t keys, int64_t last,
                                                                         float scale) {
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

/// One panel of Kᵀ: panel[e·16 + j] = key j's element e for the n ≤ 16 keys at k (row stride ld,
/// d_h a multiple of 16), 0 for keys j ≥ n; 16×16 tiles transposed in registers (key by key, the
/// stores 64 B apart would each touch another cache line).
__attribute__((target("avx512f"))) inline void attention_pack_kt_avx512(const float* k, int64_t ld, int64_t n,
                                                                        int64_t dh, float* panel) {
  for (int64_t e0 = 0; e0 < dh; e0 += 16) {
    __m512 r[16];
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) r[j] = j < n ? _mm512_loadu_ps(k + j * ld + e0) : _mm512_setzero_ps();
    attention_transpose16_avx512(r);
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) _mm512_storeu_ps(panel + (e0 + i) * 16, r[i]);
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

/// C[m × 16·vectors] (+)= A[m × k] · B[k × 16·vectors] (A's and B's layouts as
/// attention_block_avx512 reads them), in groups of up to 4 vectors of columns.
template <bool Acc, bool TransA = false>
void attention_tile_avx512(int64_t m, int64_t vectors, int64_t k, const float* a, int64_t lda, const float* b,
                           int64_t ldb, int64_t ldv, float* c, int64_t ldc) {
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
#endif  // MNEMO_SMALL_GEMM_X86

/// Whether this product takes the AVX-512 tiles (float, d_h a multiple of 16, the CPU has them).
template <class T>
bool attention_use_avx512([[maybe_unused]] int64_t head_dim) {
#if defined(MNEMO_SMALL_GEMM_X86)
  if constexpr (std::is_same_v<T, float>) return head_dim % 16 == 0 && attention_avx512_enabled();
#endif
  return false;
}

}  // namespace detail

template <class T>
void attention_forward(const T* q, int64_t ld_q, const T* k, const T* v, int64_t ld_kv, T* o, int64_t ld_o,
                       const SoftmaxDims& dims, int64_t head_dim, compute_t<T> scale, const SoftmaxMask& mask,
                       int64_t block) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "attention_forward: float or double");
  const int64_t batch = dims.outer, heads = dims.heads, lq = dims.rows, lk = dims.cols, dh = head_dim;
  if (batch <= 0 || heads <= 0 || lq <= 0 || dh <= 0) return;
  block = std::max<int64_t>(block, 1);
  const bool avx512 = detail::attention_use_avx512<T>(dh);
  // S rows and the packed Kᵀ are padded to whole AVX-512 panels of 16 keys.
  const int64_t lk_pad = avx512 ? (lk + 15) / 16 * 16 : lk;
  // Cost of one (batch row, head): two products over the keys its queries see (about half of
  // them under a causal mask) and the exponentials.
  const int64_t keys_seen = mask.causal ? std::clamp<int64_t>(lq / 2 + mask.query_offset + block, 1, std::max<int64_t>(lk, 1)) : std::max<int64_t>(lk, 1);
  const int64_t cost = std::max<int64_t>(1, lq * keys_seen * (4 * dh + 8));
  parallel_for(batch * heads, cost, [&](int64_t begin, int64_t end) {
    // S (block × Lk), the row factors and, AVX-512 only, the packed operands: Kᵀ in panels of
    // 16 keys (d_h × 16 each), V (Lk × d_h) and the block of Q (block × d_h), contiguous. Rows
    // of the projection layout are d·4 bytes apart (2 KiB at d = 512): read in place, the rows
    // of a head fall into a few L1 sets and evict each other.
    thread_local std::vector<T> scratch;
    const int64_t s_size = block * std::max<int64_t>(lk_pad, 1), pack_size = avx512 ? dh * (2 * lk_pad + block) : 0;
    const size_t need = static_cast<size_t>(s_size + block + pack_size);
    if (scratch.size() < need) scratch.resize(need);
    T* inv = scratch.data() + s_size;
    T* kt = inv + block;
    T* vt = kt + dh * lk_pad;
    T* qt = vt + dh * lk_pad;
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / heads, h = bh % heads;
      const T* kb = k + b * lk * ld_kv + h * dh;
      const T* vb = v + b * lk * ld_kv + h * dh;
      int64_t packed = 0;  // keys [0, packed) of K and V are in kt and vt
      for (int64_t r0 = 0; r0 < lq; r0 += block) {
        const int64_t r1 = std::min(lq, r0 + block), m = r1 - r0;
        const int64_t keys = mask.causal ? std::clamp<int64_t>(r1 + mask.query_offset, 0, lk) : lk;
        const T* qb = q + (b * lq + r0) * ld_q + h * dh;
        T* ob = o + (b * lq + r0) * ld_o + h * dh;
        T* s = scratch.data();
        const int64_t ld_s = avx512 ? (keys + 15) / 16 * 16 : std::max<int64_t>(keys, 1);
        if (keys > 0) {  // S = Q_blk·K_visᵀ
#if defined(MNEMO_SMALL_GEMM_X86)
          if constexpr (std::is_same_v<T, float>) {
            if (avx512) {
              // New keys into Kᵀ (from the panel holding key `packed` on, its tail 0) and V.
              for (int64_t c0 = packed / 16 * 16; c0 < ld_s; c0 += 16)
                detail::attention_pack_kt_avx512(kb + c0 * ld_kv, ld_kv, std::min<int64_t>(16, keys - c0), dh,
                                                 kt + c0 * dh);
              for (int64_t c = packed; c < keys; ++c) std::copy(vb + c * ld_kv, vb + c * ld_kv + dh, vt + c * dh);
              packed = keys;
              for (int64_t i = 0; i < m; ++i) std::copy(qb + i * ld_q, qb + i * ld_q + dh, qt + i * dh);
              detail::attention_tile_avx512<false>(m, ld_s / 16, dh, qt, dh, kt, 16, 16 * dh, s, ld_s);
            }
          }
#endif
          if (!avx512) detail::attention_tile_gemm<T>(Trans::T, m, keys, dh, qb, ld_q, kb, ld_kv, s, ld_s);
        }
        bool any = false;
        for (int64_t i = 0; i < m; ++i) {
          const SoftmaxRowMask<T> rm(dims, mask, bh * lq + r0 + i);
          bool done = false;
#if defined(MNEMO_SMALL_GEMM_X86)
          if constexpr (std::is_same_v<T, float>)
            if (avx512 && !rm.alibi && !rm.padding && scale > 0) {
              inv[i] = detail::attention_row_exp_avx512(s + i * ld_s, keys, std::min(rm.visible_end, keys), scale);
              done = true;
            }
#endif
          if (!done) inv[i] = detail::attention_row_exp<T>(s + i * ld_s, keys, static_cast<T>(scale), rm);
          any = any || inv[i] != T(0);
        }
        if (!any) {  // no query of the block sees a key
          for (int64_t i = 0; i < m; ++i) std::fill(ob + i * ld_o, ob + i * ld_o + dh, T(0));
          continue;
        }
        // O_blk = E·V_vis, then each row times 1/ΣE. AVX-512: over chunks of kKeyChunk keys, so
        // that a chunk of V (kKeyChunk × d_h) stays in L1 while every row of the block reads it.
#if defined(MNEMO_SMALL_GEMM_X86)
        if constexpr (std::is_same_v<T, float>)
          if (avx512) {
            constexpr int64_t kKeyChunk = 128;
            for (int64_t c0 = 0; c0 < keys; c0 += kKeyChunk) {
              const int64_t kc = std::min(kKeyChunk, keys - c0);
              if (c0 == 0) detail::attention_tile_avx512<false>(m, dh / 16, kc, s, ld_s, vt, dh, 16, ob, ld_o);
              else detail::attention_tile_avx512<true>(m, dh / 16, kc, s + c0, ld_s, vt + c0 * dh, dh, 16, ob, ld_o);
            }
          }
#endif
        if (!avx512) detail::attention_tile_gemm<T>(Trans::N, m, dh, keys, s, ld_s, vb, ld_kv, ob, ld_o);
        for (int64_t i = 0; i < m; ++i)
          Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(ob + i * ld_o, dh) *= inv[i];
      }
    }
  });
}
#endif  // MNEMO_COMPILED_BODIES

}  // namespace mnemo::cpu

// Compiled mode (docs/compile_time.md): compiled once, in src/compiled/backend_nn_*.cpp; a user TU
// sees the declaration above.
#if defined(MNEMO_COMPILED)
namespace mnemo::cpu {
extern template void attention_forward<float>(const float*, int64_t, const float*, const float*, int64_t, float*,
                                              int64_t, const SoftmaxDims&, int64_t, float, const SoftmaxMask&, int64_t);
extern template void attention_forward<double>(const double*, int64_t, const double*, const double*, int64_t, double*,
                                               int64_t, const SoftmaxDims&, int64_t, double, const SoftmaxMask&,
                                               int64_t);
}  // namespace mnemo::cpu
#endif  // MNEMO_COMPILED
