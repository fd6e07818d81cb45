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
// sees keys [0, r1 + query_offset) at most; the keys after that are neither multiplied nor read
// (blocks of `block` rows, 16 or 32 on the register tiles: register_tiles_causal_block).
// Work is split across mnemo's pool by (batch row, head); every output element is computed by the
// same sequence of operations whatever the thread count.
//
// The two products of a block: in float with d_h a multiple of 16, register tiles for the CPU's
// widest vectors (cpu/attention_kernel.hpp: AVX-512F, 6 rows × 64 columns of accumulators, or AVX2
// + FMA, 6 rows × 16; chosen at run time, compiled in any x86 build by function attributes). Their
// operands are contiguous per-thread copies, made once per (batch row, head) for the keys (each
// block adds its new keys): Kᵀ in panels of 16 keys (d_h × 16, by transposes in registers), V as
// Lk × d_h, and the block's Q as block × d_h. In place, the rows of a head are d·4 bytes apart
// (2 KiB at d = 512) and fall into a few L1 sets that evict each other. E·V runs over chunks of
// 128 keys so that a chunk of V (32 KiB at d_h = 64) stays in L1 while all the block's rows read
// it. Rows with neither padding nor ALiBi take a fused two-pass exponential (max, then exp and
// sum). Otherwise (double, other head widths, AttentionKernel::Gemm) the GEMM (provider or Eigen,
// one thread) on each block. A BLAS call per 64-row tile repacks its operands every time; at
// d_h = 64 that packing costs about as much as the product.
//
// bfloat16: each (batch row, head)'s Q and its visible rows of K and V are widened to fp32
// (exact) in per-thread buffers, the float kernel runs on them as a batch of one row and one head
// (its padding row and ALiBi slope passed as that batch's), and its output is rounded to bfloat16
// once. Scores, exponentials and sums are fp32 throughout; the probabilities are never rounded.
#pragma once

#include <cstdint>
#include <type_traits>

#include "mnemo/core/config.hpp"
#if MNEMO_COMPILED_BODIES  // a user TU of the compiled mode only declares the kernel (see the end)
#include <Eigen/Core>

#include <algorithm>
#include <limits>
#include <vector>

#include "mnemo/backend/cpu/attention_tiles_avx2.hpp"
#include "mnemo/backend/cpu/attention_tiles_avx512.hpp"
#include "mnemo/backend/cpu/elementwise_bf16.hpp"
#include "mnemo/backend/cpu/gemm.hpp"
#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/backend/cpu/small_gemm.hpp"
#include "mnemo/backend/softmax_row_mask.hpp"
#endif

#include "mnemo/backend/cpu/attention_kernel.hpp"

#include "mnemo/backend/primitives.hpp"
#include "mnemo/core/bfloat16_fwd.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cpu {

/// o = attention(q, k, v) per (batch row, head) as above, dims = {batch, heads, Lq, Lk}; q [batch,
/// Lq, ld_q], k and v [batch, Lk, ld_kv], o [batch, Lq, ld_o], head h at columns [h·d_h, (h+1)·d_h);
/// queries in blocks of `block` rows. A query whose every key is masked gets zeros. T is float,
/// double or bfloat16 (through the float kernel, see above). The definition follows, or, in a user
/// TU of the compiled mode, is in mnemo::compiled.
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


/// No register tiles: a GEMM call per product (attention_kernel.hpp's AttentionKernel::Gemm).
struct GemmTiles {
  /// Queries per block under a causal mask: the caller's (a BLAS call repacks its operands per block).
  static int64_t causal_block(int64_t, int64_t block) { return block; }
};

/// Calls f(Avx512Tiles{}) or f(Avx2Tiles{}) when products of element type T and this head width
/// take register tiles (attention_kernel_for) and returns true; returns false, f not called, on
/// the GEMM path.
template <class T, class F>
bool with_attention_tiles([[maybe_unused]] int64_t head_dim, [[maybe_unused]] F&& f) {
#if defined(MNEMO_SMALL_GEMM_X86)
  if constexpr (std::is_same_v<T, float>) {
    switch (attention_kernel_for<T>(head_dim)) {
      case AttentionKernel::Avx512: f(Avx512Tiles{}); return true;
      case AttentionKernel::Avx2: f(Avx2Tiles{}); return true;
      default: break;
    }
  }
#endif
  return false;
}

/// attention_forward with the products on `Tiles` (Avx512Tiles, Avx2Tiles: float only) or on a
/// GEMM call per block (GemmTiles).
template <class T, class Tiles>
void attention_forward_on(const T* q, int64_t ld_q, const T* k, const T* v, int64_t ld_kv, T* o, int64_t ld_o,
                          const SoftmaxDims& dims, int64_t head_dim, compute_t<T> scale, const SoftmaxMask& mask,
                          int64_t block) {
  constexpr bool tiles = !std::is_same_v<Tiles, GemmTiles>;
  const int64_t batch = dims.outer, heads = dims.heads, lq = dims.rows, lk = dims.cols, dh = head_dim;
  if (mask.causal) block = Tiles::causal_block(lq, block);
  // With tiles, S rows and the packed Kᵀ are padded to whole panels of 16 keys.
  const int64_t lk_pad = tiles ? (lk + 15) / 16 * 16 : lk;
  // Cost of one (batch row, head): two products over the keys its queries see (about half of
  // them under a causal mask) and the exponentials.
  const int64_t keys_seen = mask.causal ? std::clamp<int64_t>(lq / 2 + mask.query_offset + block, 1, std::max<int64_t>(lk, 1)) : std::max<int64_t>(lk, 1);
  const int64_t cost = std::max<int64_t>(1, lq * keys_seen * (4 * dh + 8));
  parallel_for(batch * heads, cost, [&](int64_t begin, int64_t end) {
    // S (block × Lk), the row factors and, with tiles, the packed operands: Kᵀ in panels of 16
    // keys (d_h × 16 each), V (Lk × d_h) and the block of Q (block × d_h), contiguous. Rows of
    // the projection layout are d·4 bytes apart (2 KiB at d = 512): read in place, the rows of a
    // head fall into a few L1 sets and evict each other.
    thread_local std::vector<T> scratch;
    const int64_t s_size = block * std::max<int64_t>(lk_pad, 1), pack_size = tiles ? dh * (2 * lk_pad + block) : 0;
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
        const int64_t ld_s = tiles ? (keys + 15) / 16 * 16 : std::max<int64_t>(keys, 1);
        if (keys > 0) {  // S = Q_blk·K_visᵀ
          if constexpr (tiles) {
            // New keys into Kᵀ (from the panel holding key `packed` on, its tail 0) and V.
            for (int64_t c0 = packed / 16 * 16; c0 < ld_s; c0 += 16)
              Tiles::pack_kt(kb + c0 * ld_kv, ld_kv, std::min<int64_t>(16, keys - c0), dh, kt + c0 * dh);
            for (int64_t c = packed; c < keys; ++c) std::copy(vb + c * ld_kv, vb + c * ld_kv + dh, vt + c * dh);
            packed = keys;
            for (int64_t i = 0; i < m; ++i) std::copy(qb + i * ld_q, qb + i * ld_q + dh, qt + i * dh);
            Tiles::template tile<false>(m, ld_s / 16, dh, qt, dh, kt, 16, 16 * dh, s, ld_s);
          } else {
            attention_tile_gemm<T>(Trans::T, m, keys, dh, qb, ld_q, kb, ld_kv, s, ld_s);
          }
        }
        bool any = false;
        for (int64_t i = 0; i < m; ++i) {
          const SoftmaxRowMask<T> rm(dims, mask, bh * lq + r0 + i);
          bool done = false;
          if constexpr (tiles)
            if (!rm.alibi && !rm.padding && scale > 0) {
              inv[i] = Tiles::row_exp(s + i * ld_s, keys, std::min(rm.visible_end, keys), scale);
              done = true;
            }
          if (!done) inv[i] = attention_row_exp<T>(s + i * ld_s, keys, static_cast<T>(scale), rm);
          any = any || inv[i] != T(0);
        }
        if (!any) {  // no query of the block sees a key
          for (int64_t i = 0; i < m; ++i) std::fill(ob + i * ld_o, ob + i * ld_o + dh, T(0));
          continue;
        }
        // O_blk = E·V_vis, then each row times 1/ΣE. With tiles over chunks of kKeyChunk keys, so
        // that a chunk of V (kKeyChunk × d_h) stays in L1 while every row of the block reads it.
        if constexpr (tiles) {
          constexpr int64_t kKeyChunk = 128;
          for (int64_t c0 = 0; c0 < keys; c0 += kKeyChunk) {
            const int64_t kc = std::min(kKeyChunk, keys - c0);
            if (c0 == 0) Tiles::template tile<false>(m, dh / 16, kc, s, ld_s, vt, dh, 16, ob, ld_o);
            else Tiles::template tile<true>(m, dh / 16, kc, s + c0, ld_s, vt + c0 * dh, dh, 16, ob, ld_o);
          }
        } else {
          attention_tile_gemm<T>(Trans::N, m, dh, keys, s, ld_s, vb, ld_kv, ob, ld_o);
        }
        for (int64_t i = 0; i < m; ++i)
          Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(ob + i * ld_o, dh) *= inv[i];
      }
    }
  });
}

/// attention_forward for bfloat16 (dims and block already checked): per (batch row, head), Q and
/// the keys some query may see widened into this thread's fp32 buffers, the float kernel on them
/// (on this thread: inside a task of the pool, or a loop too small to share), the output narrowed.
inline void attention_forward_widened(const bfloat16* q, int64_t ld_q, const bfloat16* k, const bfloat16* v,
                                      int64_t ld_kv, bfloat16* o, int64_t ld_o, const SoftmaxDims& dims,
                                      int64_t head_dim, float scale, const SoftmaxMask& mask, int64_t block) {
  const int64_t heads = dims.heads, lq = dims.rows, lk = dims.cols, dh = head_dim;
  const int64_t seen = mask.causal ? std::clamp<int64_t>(lq + mask.query_offset, 0, lk) : lk;  // keys read at all
  const int64_t cost = std::max<int64_t>(1, lq * std::max<int64_t>(seen, 1) * (2 * dh + 8));
  parallel_for(dims.outer * heads, cost, [&](int64_t begin, int64_t end) {
    float* qf = thread_scratch<float, ScratchSlot::AttentionWidened>((2 * lq + 2 * seen) * dh);
    float* kf = qf + lq * dh;
    float* vf = kf + seen * dh;
    float* of = vf + seen * dh;
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / heads, h = bh % heads;
      for (int64_t i = 0; i < lq; ++i) bf16_rows::widen(q + (b * lq + i) * ld_q + h * dh, qf + i * dh, dh);
      for (int64_t c = 0; c < seen; ++c) {
        bf16_rows::widen(k + (b * lk + c) * ld_kv + h * dh, kf + c * dh, dh);
        bf16_rows::widen(v + (b * lk + c) * ld_kv + h * dh, vf + c * dh, dh);
      }
      SoftmaxMask head_mask = mask;
      if (mask.key_padding) head_mask.key_padding = mask.key_padding + b * lk;
      if (mask.alibi_slopes) head_mask.alibi_slopes = mask.alibi_slopes + h;
      cpu::attention_forward<float>(qf, dh, kf, vf, dh, of, dh, SoftmaxDims{1, 1, lq, lk}, dh, scale, head_mask,
                                    block);
      for (int64_t i = 0; i < lq; ++i) bf16_rows::narrow(of + i * dh, o + (b * lq + i) * ld_o + h * dh, dh);
    }
  });
}

}  // namespace detail

template <class T>
void attention_forward(const T* q, int64_t ld_q, const T* k, const T* v, int64_t ld_kv, T* o, int64_t ld_o,
                       const SoftmaxDims& dims, int64_t head_dim, compute_t<T> scale, const SoftmaxMask& mask,
                       int64_t block) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, bfloat16>,
                "attention_forward: float, double or bfloat16");
  if (dims.outer <= 0 || dims.heads <= 0 || dims.rows <= 0 || head_dim <= 0) return;
  block = std::max<int64_t>(block, 1);
  if constexpr (std::is_same_v<T, bfloat16>) {
    detail::attention_forward_widened(q, ld_q, k, v, ld_kv, o, ld_o, dims, head_dim, scale, mask, block);
  } else {
    const bool tiled = detail::with_attention_tiles<T>(head_dim, [&](auto tiles) {
      detail::attention_forward_on<T, decltype(tiles)>(q, ld_q, k, v, ld_kv, o, ld_o, dims, head_dim, scale, mask,
                                                       block);
    });
    if (!tiled)
      detail::attention_forward_on<T, detail::GemmTiles>(q, ld_q, k, v, ld_kv, o, ld_o, dims, head_dim, scale, mask,
                                                         block);
  }
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
extern template void attention_forward<bfloat16>(const bfloat16*, int64_t, const bfloat16*, const bfloat16*, int64_t,
                                                 bfloat16*, int64_t, const SoftmaxDims&, int64_t, float,
                                                 const SoftmaxMask&, int64_t);
}  // namespace mnemo::cpu
#endif  // MNEMO_COMPILED
