// mnemo/backend/cpu/attention_head.hpp — the taped multi-head attention of one (batch row, head) on
// the calling thread (nn::MultiHeadAttention::head_forward and head_backward; memformer.md §2.2),
// queries in blocks, each block's scores in cache from the product that writes them to the ones
// that read them:
//   forward (keeps P):  S = Q·Kᵀ ;  P = softmax(scale·S + mask) ;  O = P·V
//   backward:           dP = dO·Vᵀ ;  dS = scale·P⊙(dP − rowsum(P⊙dP)) ;
//                       dQ = dS·K (+ β·dQ) ;  dK = dSᵀ·Q ;  dV = Pᵀ·dO
// With a causal mask a block ending at query r1 takes keys [0, r1 + query_offset) only: P is 0
// beyond them, so the products it skips add 0. The blocks are at most `block` rows; the register
// tiles take 16 or 32 under a causal mask (register_tiles_causal_block), whatever `block` the caller passed.
//
// The products run on register tiles (float, d_h a multiple of 16; cpu/attention_kernel.hpp picks
// AVX-512F's or AVX2's, the same layouts and steps with 16- or 8-float vectors): S and
// dP against Kᵀ and Vᵀ packed once per head in panels of 16 keys, E·V and dS·K against V and K
// read in place (the heads layout's rows are contiguous) over chunks of 128 keys that stay in L1,
// and the two transposed ones (Pᵀ·dO, dSᵀ·Q) with A read transposed from a copy of the block's P
// and from dS. The forward's softmax takes the tiles' row exponential: E in the
// block's buffer, P = E / ΣE written to p (the backward and MRBP's replay read it), O = (E·V) / ΣE.
// The per-block buffers' rows are padded by 16 floats so that the 6 keys × block queries a
// transposed register block reads do not fall into a few L1 sets. A BLAS call per 64-row block
// repacks its operands each time; at d_h = 64 that costs about as much as the product (as in the
// forward without probabilities). Where the tiles do not apply (not float, d_h not a multiple of
// 16, neither AVX-512F nor AVX2, AttentionKernel::Gemm) the functions return false, having written
// nothing, and the caller takes its GEMM path.
#pragma once

#include <cstdint>

#include "mnemo/core/config.hpp"
#if MNEMO_COMPILED_BODIES  // a user TU of the compiled mode only declares the kernel (see the end)
#include <algorithm>
#include <type_traits>

#include "mnemo/backend/cpu/attention_forward.hpp"
#include "mnemo/backend/cpu/thread_scratch.hpp"
#include "mnemo/backend/softmax_row_mask.hpp"
#endif

#include "mnemo/backend/cpu/attention_kernel.hpp"

#include "mnemo/backend/primitives.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cpu {

/// The saving forward of one (batch row, head) as above: q [lq, d_h], k, v [lk, d_h] and p [lq, lk]
/// (written whole: 0 where masked) contiguous, o [lq, d_h] with row stride ld_o (d_h for the heads
/// layout, d to write concat_h in place); queries in blocks of `block` rows, with `causal` a
/// block ending at r1 seeing keys [0, r1 + query_offset) ∩ [0, lk); `mask` that of this head as a
/// 1 × 1 batch. Returns false, having written nothing, where the register tiles do not apply.
template <class T>
bool attention_head_forward(const T* q, const T* k, const T* v, T* p, T* o, int64_t ld_o, int64_t lq, int64_t lk,
                            int64_t head_dim, bool causal, int64_t query_offset, int64_t block, compute_t<T> scale,
                            const SoftmaxMask& mask);

/// The attention backward of one (batch row, head) as above: p [lq, lk] (0 where masked), q [lq, d_h]
/// and k, v [lk, d_h] contiguous; dO [lq, d_h] with row stride ld_do, dQ [lq, d_h] and dK, dV
/// [lk, d_h] with row stride ld_grad (d_h for the heads layout, d for concat_h in place, 3d for
/// [dQ | dK | dV] side by side); queries in blocks of `block` rows, with `causal` a block ending at
/// r1 seeing keys [0, r1 + query_offset) ∩ [0, lk). dK and dV are overwritten, dQ = dS·K + dq_beta·dQ. Returns false, having written
/// nothing, where the register tiles do not apply. The definitions follow, or, in a user TU of the
/// compiled mode, are in mnemo::compiled for float.
template <class T>
bool attention_head_backward(const T* p, const T* dO, int64_t ld_do, const T* q, const T* k, const T* v, T* dQ, T* dK,
                             T* dV, int64_t ld_grad, int64_t lq, int64_t lk, int64_t head_dim, bool causal,
                             int64_t query_offset, int64_t block, compute_t<T> scale, compute_t<T> dq_beta);

/// Whether attention_head_forward and attention_head_backward take their tiles (and so accept
/// any ld_o, ld_do, ld_grad) for this element type and head width on this CPU.
template <class T>
bool attention_head_tiles(int64_t head_dim);

#if MNEMO_COMPILED_BODIES
namespace detail {
/// Keys a block of queries ending at r1 sees.
inline int64_t attention_head_keys(bool causal, int64_t r1, int64_t query_offset, int64_t lk) {
  return causal ? std::clamp<int64_t>(r1 + query_offset, 0, lk) : lk;
}

/// attention_head_forward on the register tiles `Tiles` (Avx512Tiles or Avx2Tiles).
template <class Tiles>
void attention_head_forward_on(const float* q, const float* k, const float* v, float* p, float* o, int64_t ld_o,
                               int64_t lq, int64_t lk, int64_t dh, bool causal, int64_t query_offset, int64_t block,
                               float scale, const SoftmaxMask& mask) {
  constexpr int64_t kKeyChunk = 128;  // P·V over chunks of keys: a chunk of V stays in L1
  if (causal) block = Tiles::causal_block(lq, block);
  const int64_t lk_pad = (lk + 15) / 16 * 16, ld = lk_pad + 16, rows_max = std::min(block, lq);
  // Kᵀ in panels of 16 keys (lk_pad × d_h), the block's S then E (rows_max × ld), and its 1 / ΣE.
  float* kt = thread_scratch<float, ScratchSlot::AttentionHead>(lk_pad * dh + rows_max * (ld + 1));
  float* s = kt + lk_pad * dh;
  for (int64_t c0 = 0; c0 < lk_pad; c0 += 16)
    Tiles::pack_kt(k + c0 * dh, dh, std::min<int64_t>(16, lk - c0), dh, kt + c0 * dh);
  const SoftmaxDims dims{1, 1, lq, lk};
  for (int64_t r0 = 0; r0 < lq; r0 += block) {
    const int64_t r1 = std::min(lq, r0 + block), m = r1 - r0, keys = attention_head_keys(causal, r1, query_offset, lk);
    float* ob = o + r0 * ld_o;
    if (keys == 0) {  // no key visible: P and O are 0
      std::fill(p + r0 * lk, p + r1 * lk, 0.0f);
      for (int64_t i = 0; i < m; ++i) std::fill(ob + i * ld_o, ob + i * ld_o + dh, 0.0f);
      continue;
    }
    Tiles::template tile<false>(m, (keys + 15) / 16, dh, q + r0 * dh, dh, kt, 16, 16 * dh, s, ld);  // S = Q·Kᵀ
    float* inv = s + rows_max * ld;
    for (int64_t i = 0; i < m; ++i) {  // E = exp(scale·S + mask − rowmax) in the buffer, P = E / ΣE into p
      float* si = s + i * ld;
      const SoftmaxRowMask<float> rm(dims, mask, r0 + i);
      inv[i] = !rm.alibi && !rm.padding && scale > 0
                   ? Tiles::row_exp(si, keys, std::min(rm.visible_end, keys), scale)
                   : attention_row_exp<float>(si, keys, scale, rm);
      float* pi = p + (r0 + i) * lk;
      Eigen::Map<Eigen::ArrayXf>(pi, keys) = Eigen::Map<const Eigen::ArrayXf>(si, keys) * inv[i];
      std::fill(pi + keys, pi + lk, 0.0f);
    }
    for (int64_t c0 = 0; c0 < keys; c0 += kKeyChunk) {  // O = (E·V) / ΣE
      const int64_t kc = std::min(kKeyChunk, keys - c0);
      if (c0 == 0) Tiles::template tile<false>(m, dh / 16, kc, s, ld, v, dh, 16, ob, ld_o);
      else Tiles::template tile<true>(m, dh / 16, kc, s + c0, ld, v + c0 * dh, dh, 16, ob, ld_o);
    }
    for (int64_t i = 0; i < m; ++i) Eigen::Map<Eigen::ArrayXf>(ob + i * ld_o, dh) *= inv[i];
  }
}

/// attention_head_backward on the register tiles `Tiles` (Avx512Tiles or Avx2Tiles).
template <class Tiles>
void attention_head_backward_on(const float* p, const float* dO, int64_t ld_do, const float* q, const float* k,
                                const float* v, float* dQ, float* dK, float* dV, int64_t ld_grad, int64_t lq,
                                int64_t lk, int64_t dh, bool causal, int64_t query_offset, int64_t block, float scale,
                                float dq_beta) {
  constexpr int64_t kKeyChunk = 128;  // dQ = dS·K over chunks of keys: a chunk of K stays in L1
  if (causal) block = Tiles::causal_block(lq, block);
  const int64_t lk_pad = (lk + 15) / 16 * 16, ld = lk_pad + 16, rows_max = std::min(block, lq);
  // Vᵀ in panels of 16 keys (lk_pad × d_h); the block's dP = dS and its copy of P (rows_max × ld
  // each); the block's dO, contiguous (rows_max × d_h: rows d·4 bytes apart would share L1 sets).
  float* vt = thread_scratch<float, ScratchSlot::AttentionHead>(lk_pad * dh + rows_max * (2 * ld + dh));
  float* ds = vt + lk_pad * dh;
  float* p_copy = ds + rows_max * ld;
  float* dOb = p_copy + rows_max * ld;
  for (int64_t c0 = 0; c0 < lk_pad; c0 += 16)
    Tiles::pack_kt(v + c0 * dh, dh, std::min<int64_t>(16, lk - c0), dh, vt + c0 * dh);
  for (int64_t j = 0; j < lk; ++j) {
    std::fill(dK + j * ld_grad, dK + j * ld_grad + dh, 0.0f);
    std::fill(dV + j * ld_grad, dV + j * ld_grad + dh, 0.0f);
  }
  for (int64_t r0 = 0; r0 < lq; r0 += block) {
    const int64_t r1 = std::min(lq, r0 + block), m = r1 - r0;
    const int64_t keys = attention_head_keys(causal, r1, query_offset, lk);
    float* dQb = dQ + r0 * ld_grad;
    for (int64_t i = 0; i < m; ++i) {  // dQ's rows: β·dQ, or 0 when no key is visible
      float* row = dQb + i * ld_grad;
      if (dq_beta == 0.0f) {
        if (keys == 0) std::fill(row, row + dh, 0.0f);
      } else if (dq_beta != 1.0f) {
        for (int64_t e = 0; e < dh; ++e) row[e] *= dq_beta;
      }
    }
    if (keys == 0) continue;
    for (int64_t i = 0; i < m; ++i) std::copy(dO + (r0 + i) * ld_do, dO + (r0 + i) * ld_do + dh, dOb + i * dh);
    Tiles::template tile<false>(m, (keys + 15) / 16, dh, dOb, dh, vt, 16, 16 * dh, ds, ld);  // dP = dO·Vᵀ
    for (int64_t i = 0; i < m; ++i)
      Tiles::row_softmax_backward(p + (r0 + i) * lk, ds + i * ld, p_copy + i * ld, keys, scale);
    for (int64_t c0 = 0; c0 < keys; c0 += kKeyChunk) {  // dQ = dS·K (+ β·dQ)
      const int64_t kc = std::min(kKeyChunk, keys - c0);
      if (c0 == 0 && dq_beta == 0.0f) Tiles::template tile<false>(m, dh / 16, kc, ds, ld, k, dh, 16, dQb, ld_grad);
      else Tiles::template tile<true>(m, dh / 16, kc, ds + c0, ld, k + c0 * dh, dh, 16, dQb, ld_grad);
    }
    Tiles::template tile<true, true>(keys, dh / 16, m, p_copy, ld, dOb, dh, 16, dV, ld_grad);     // dV += Pᵀ·dO
    Tiles::template tile<true, true>(keys, dh / 16, m, ds, ld, q + r0 * dh, dh, 16, dK, ld_grad);  // dK += dSᵀ·Q
  }
}
}  // namespace detail

template <class T>
bool attention_head_tiles(int64_t head_dim) {
  const AttentionKernel kernel = attention_kernel_for<T>(head_dim);
  return kernel == AttentionKernel::Avx512 || kernel == AttentionKernel::Avx2;
}

template <class T>
bool attention_head_forward(const T* q, const T* k, const T* v, T* p, T* o, int64_t ld_o, int64_t lq, int64_t lk,
                            int64_t head_dim, bool causal, int64_t query_offset, int64_t block, compute_t<T> scale,
                            const SoftmaxMask& mask) {
  if (lq <= 0 || lk <= 0) return false;
  return detail::with_attention_tiles<T>(head_dim, [&](auto tiles) {
    detail::attention_head_forward_on<decltype(tiles)>(q, k, v, p, o, ld_o, lq, lk, head_dim, causal, query_offset,
                                                       std::max<int64_t>(block, 1), scale, mask);
  });
}

template <class T>
bool attention_head_backward(const T* p, const T* dO, int64_t ld_do, const T* q, const T* k, const T* v, T* dQ, T* dK,
                             T* dV, int64_t ld_grad, int64_t lq, int64_t lk, int64_t head_dim, bool causal,
                             int64_t query_offset, int64_t block, compute_t<T> scale, compute_t<T> dq_beta) {
  if (lq <= 0 || lk <= 0) return false;
  return detail::with_attention_tiles<T>(head_dim, [&](auto tiles) {
    detail::attention_head_backward_on<decltype(tiles)>(p, dO, ld_do, q, k, v, dQ, dK, dV, ld_grad, lq, lk, head_dim,
                                                        causal, query_offset, std::max<int64_t>(block, 1), scale,
                                                        dq_beta);
  });
}
#endif  // MNEMO_COMPILED_BODIES

}  // namespace mnemo::cpu

// Compiled mode (docs/compile_time.md): compiled once, in src/compiled/backend_nn_float.cpp; a user TU
// sees the declaration above.
#if defined(MNEMO_COMPILED)
namespace mnemo::cpu {
extern template bool attention_head_tiles<float>(int64_t);
extern template bool attention_head_forward<float>(const float*, const float*, const float*, float*, float*, int64_t,
                                                   int64_t, int64_t, int64_t, bool, int64_t, int64_t, float,
                                                   const SoftmaxMask&);
extern template bool attention_head_backward<float>(const float*, const float*, int64_t, const float*, const float*,
                                                    const float*, float*, float*, float*, int64_t, int64_t, int64_t,
                                                    int64_t, bool, int64_t, int64_t, float, float);
}  // namespace mnemo::cpu
#endif  // MNEMO_COMPILED
