// mnemo/backend/cpu/memformer_writer.hpp — Memformer's slot-attention writer core
// (memformer.md §2.4 forward, §3 backward), one (batch row, head) pair per task.
//
// Per row b, head h, slot i (q, k_self, m: slot-side; K_x, V_x: token-side; s = scale =
// 1/(τ·√d_h)):
//   z_i = s·( q_i·k_self_i ,  q_i·K_x[l] for l = 1..L )        −∞ where token l is padding
//   p_i = softmax(z_i)                                         over 1+L entries
//   m'_i = p_{i,0}·m_i + Σ_l p_{i,l}·V_x[l]
// The self logit is a row-wise dot product: no K×K block is ever formed, cost O(K·L·d_h).
// Backward, with g = dm'_i:
//   dp_{i,0} = g·m_i,  dp_{i,l} = g·V_x[l],  dz_i = s·p_i ⊙ (dp_i − <p_i, dp_i>)
//   dq_i = dz_{i,0}·k_self_i + Σ_l dz_{i,l}·K_x[l],   dk_self_i = dz_{i,0}·q_i
//   dK_x[l] = Σ_i dz_{i,l}·q_i,   dV_x[l] = Σ_i p_{i,l}·g_i,   dm_i = p_{i,0}·g_i (raw self-value)
// The masking and dz rules are shared with the CUDA kernels (backend/memformer_writer_rule.hpp).
// Every output is written (not accumulated). Each task owns the column slice of its head in its
// batch row, so results never depend on the thread count. A 16-bit T (bfloat16) runs the
// compute_t<T> kernel on widened copies and rounds each output once: Eigen's products would
// otherwise add in T.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "mnemo/core/config.hpp"
#if MNEMO_COMPILED_BODIES  // a user TU of the compiled mode only declares the kernels (see the end)
#include <Eigen/Core>
#endif

#include "mnemo/backend/cpu/gemm.hpp"
#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/backend/cpu/thread_scratch.hpp"
#include "mnemo/backend/memformer_writer_rule.hpp"
#include "mnemo/backend/primitives.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cpu {

/// The writer core's forward and backward (above; the definitions follow, or, in a user TU of the
/// compiled mode, are in mnemo::compiled for float and double).
template <class T>
void memformer_writer_forward(const T* q, const T* k_self, const T* k_tok, const T* v_tok, const T* m,
                              const uint8_t* padding, T* probs, T* m_out, const MemformerWriterDims& dims,
                              compute_t<T> scale);
/// Gradients of the writer core from d_out (every output written).
template <class T>
void memformer_writer_backward(const T* q, const T* k_self, const T* k_tok, const T* v_tok, const T* m,
                               const T* probs, const T* d_out, T* dq, T* dk_self, T* dk_tok, T* dv_tok, T* dm,
                               const MemformerWriterDims& dims, compute_t<T> scale);

#if MNEMO_COMPILED_BODIES
namespace writer_detail {
/// Head h of batch row b of a [batch, rows, heads·head_dim] tensor as a rows × head_dim matrix.
template <class P>
auto head_slice(P* base, const MemformerWriterDims& d, int64_t rows, int64_t b, int64_t h) {
  using T = std::remove_const_t<P>;
  using Map = std::conditional_t<std::is_const_v<P>, ConstMatrixMap<T>, MatrixMap<T>>;
  return Map(base + b * rows * d.width() + h * d.head_dim, rows, d.head_dim, Eigen::OuterStride<>(d.width()));
}

/// x[0, n) converted to U into out[0, n); returns out (nullptr when x is nullptr: an absent input
/// stays absent).
template <class U, class T>
U* converted_into(const T* x, int64_t n, U* out) {
  if (!x) return nullptr;
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<U>(x[i]);
  return out;
}

/// The writer's inputs for one (batch row, head) task.
template <class T>
struct HeadInputs {
  ConstMatrixMap<T> q, k_self, k_tok, v_tok, m;
  HeadInputs(const T* q_, const T* ks_, const T* kt_, const T* vt_, const T* m_, const MemformerWriterDims& d,
             int64_t b, int64_t h)
      : q(head_slice(q_, d, d.slots, b, h)),
        k_self(head_slice(ks_, d, d.slots, b, h)),
        k_tok(head_slice(kt_, d, d.tokens, b, h)),
        v_tok(head_slice(vt_, d, d.tokens, b, h)),
        m(head_slice(m_, d, d.slots, b, h)) {}
};
}  // namespace writer_detail

template <class T>
void memformer_writer_forward(const T* q, const T* k_self, const T* k_tok, const T* v_tok, const T* m,
                              const uint8_t* padding, T* probs, T* m_out, const MemformerWriterDims& dims,
                              compute_t<T> scale) {
  using namespace writer_detail;
  using A = accumulate_t<T>;
  const int64_t K = dims.slots, L = dims.tokens, P = dims.prob_cols();
  if constexpr (!std::is_same_v<T, compute_t<T>>) {  // 16-bit storage: the fp32 kernel, outputs rounded once
    using C = compute_t<T>;
    const int64_t slot_n = dims.batch * K * dims.width(), tok_n = dims.batch * L * dims.width();
    const int64_t probs_n = dims.batch * dims.heads * K * P;
    // The widened inputs and fp32 outputs in this thread's scratch (no heap block per step).
    C* pc = detail::thread_scratch<C, detail::ScratchSlot::WriterWidened>(probs_n + 4 * slot_n + 2 * tok_n);
    C* mc = pc + probs_n;
    C* q32 = mc + slot_n;
    C* ks32 = q32 + slot_n;
    C* m32 = ks32 + slot_n;
    C* kt32 = m32 + slot_n;
    C* vt32 = kt32 + tok_n;
    memformer_writer_forward<C>(converted_into(q, slot_n, q32), converted_into(k_self, slot_n, ks32),
                                converted_into(k_tok, tok_n, kt32), converted_into(v_tok, tok_n, vt32),
                                converted_into(m, slot_n, m32), padding, pc, mc, dims, scale);
    for (int64_t i = 0; i < probs_n; ++i) probs[i] = static_cast<T>(pc[i]);
    for (int64_t i = 0; i < slot_n; ++i) m_out[i] = static_cast<T>(mc[i]);
    return;
  }
  parallel_for(dims.batch * dims.heads, 4 * K * P * dims.head_dim, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / dims.heads, h = task % dims.heads;
      const HeadInputs<T> in(q, k_self, k_tok, v_tok, m, dims, b, h);
      const auto &Q = in.q, &Ks = in.k_self, &Kx = in.k_tok, &Vx = in.v_tok, &M = in.m;
      MatrixMap<T> Pm(probs + task * K * P, K, P, Eigen::OuterStride<>(P));
      // Logits: self column, then the K×L token block.
      Pm.col(0) = Q.cwiseProduct(Ks).rowwise().sum();
      if (L > 0) Pm.rightCols(L).noalias() = Q * Kx.transpose();
      const uint8_t* pad = padding ? padding + b * L : nullptr;
      for (int64_t i = 0; i < K; ++i) {
        T* row = &Pm(i, 0);
        A mx = -std::numeric_limits<A>::infinity();
        for (int64_t c = 0; c < P; ++c) {
          if (writer_column_masked(pad, c)) continue;
          mx = std::max(mx, static_cast<A>(scale) * static_cast<A>(row[c]));
        }
        A sum = 0;
        for (int64_t c = 0; c < P; ++c) {
          const A e = writer_column_masked(pad, c) ? A(0) : std::exp(static_cast<A>(scale) * static_cast<A>(row[c]) - mx);
          row[c] = static_cast<T>(e);
          sum += e;
        }
        const A inv = A(1) / sum;  // sum >= 1: the self entry is never masked
        for (int64_t c = 0; c < P; ++c) row[c] = static_cast<T>(static_cast<A>(row[c]) * inv);
      }
      auto Out = head_slice(m_out, dims, K, b, h);
      Out.noalias() = Pm.col(0).asDiagonal() * M;
      if (L > 0) Out.noalias() += Pm.rightCols(L) * Vx;
    }
  });
}

template <class T>
void memformer_writer_backward(const T* q, const T* k_self, const T* k_tok, const T* v_tok, const T* m,
                               const T* probs, const T* d_out, T* dq, T* dk_self, T* dk_tok, T* dv_tok, T* dm,
                               const MemformerWriterDims& dims, compute_t<T> scale) {
  using namespace writer_detail;
  using A = accumulate_t<T>;
  const int64_t K = dims.slots, L = dims.tokens, P = dims.prob_cols();
  if constexpr (!std::is_same_v<T, compute_t<T>>) {  // 16-bit storage: the fp32 kernel, outputs rounded once
    using C = compute_t<T>;
    const int64_t slot_n = dims.batch * K * dims.width(), tok_n = dims.batch * L * dims.width();
    const int64_t probs_n = dims.batch * dims.heads * K * P;
    // Widened inputs and fp32 gradients in this thread's scratch, as in the forward.
    C* p32 = detail::thread_scratch<C, detail::ScratchSlot::WriterWidened>(probs_n + 9 * slot_n + 4 * tok_n);
    C* q32 = p32 + probs_n;
    C* ks32 = q32 + slot_n;
    C* m32 = ks32 + slot_n;
    C* g32 = m32 + slot_n;  // d_out
    C* gq = g32 + slot_n;
    C* gks = gq + slot_n;
    C* gm = gks + slot_n;
    C* kt32 = gm + slot_n;
    C* vt32 = kt32 + tok_n;
    C* gkt = vt32 + tok_n;
    C* gvt = gkt + tok_n;
    memformer_writer_backward<C>(converted_into(q, slot_n, q32), converted_into(k_self, slot_n, ks32),
                                 converted_into(k_tok, tok_n, kt32), converted_into(v_tok, tok_n, vt32),
                                 converted_into(m, slot_n, m32), converted_into(probs, probs_n, p32),
                                 converted_into(d_out, slot_n, g32), gq, gks, gkt, gvt, gm, dims, scale);
    converted_into(gq, slot_n, dq);
    converted_into(gks, slot_n, dk_self);
    converted_into(gkt, tok_n, dk_tok);
    converted_into(gvt, tok_n, dv_tok);
    converted_into(gm, slot_n, dm);
    return;
  }
  parallel_for(dims.batch * dims.heads, 10 * K * P * dims.head_dim, [&](int64_t begin, int64_t end) {
    RowMajorMatrix<T> dZ(K, P);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / dims.heads, h = task % dims.heads;
      const HeadInputs<T> in(q, k_self, k_tok, v_tok, m, dims, b, h);
      const auto &Q = in.q, &Ks = in.k_self, &Kx = in.k_tok, &Vx = in.v_tok, &M = in.m;
      const auto G = head_slice(d_out, dims, K, b, h);
      ConstMatrixMap<T> Pm(probs + task * K * P, K, P, Eigen::OuterStride<>(P));
      // dp, then dz = s·p ⊙ (dp − <p, dp>) in place.
      dZ.col(0) = G.cwiseProduct(M).rowwise().sum();
      if (L > 0) dZ.rightCols(L).noalias() = G * Vx.transpose();
      for (int64_t i = 0; i < K; ++i) {
        A dot = 0;
        for (int64_t c = 0; c < P; ++c) dot += static_cast<A>(Pm(i, c)) * static_cast<A>(dZ(i, c));
        for (int64_t c = 0; c < P; ++c)
          dZ(i, c) = static_cast<T>(
              writer_logit_grad(static_cast<A>(scale), static_cast<A>(Pm(i, c)), static_cast<A>(dZ(i, c)), dot));
      }
      auto dQ = head_slice(dq, dims, K, b, h);
      auto dKs = head_slice(dk_self, dims, K, b, h);
      auto dKx = head_slice(dk_tok, dims, L, b, h);
      auto dVx = head_slice(dv_tok, dims, L, b, h);
      auto dM = head_slice(dm, dims, K, b, h);
      dQ.noalias() = dZ.col(0).asDiagonal() * Ks;
      dKs.noalias() = dZ.col(0).asDiagonal() * Q;
      dM.noalias() = Pm.col(0).asDiagonal() * G;
      if (L > 0) {
        dQ.noalias() += dZ.rightCols(L) * Kx;
        dKx.noalias() = dZ.rightCols(L).transpose() * Q;
        dVx.noalias() = Pm.rightCols(L).transpose() * G;
      }
    }
  });
}
#endif  // MNEMO_COMPILED_BODIES

}  // namespace mnemo::cpu

// Compiled mode (docs/compile_time.md): compiled once, in src/compiled/memformer_*.cpp.
#if defined(MNEMO_COMPILED)
namespace mnemo::cpu {
extern template void memformer_writer_forward<float>(const float*, const float*, const float*, const float*,
                                                     const float*, const uint8_t*, float*, float*,
                                                     const MemformerWriterDims&, float);
extern template void memformer_writer_forward<double>(const double*, const double*, const double*, const double*,
                                                      const double*, const uint8_t*, double*, double*,
                                                      const MemformerWriterDims&, double);
extern template void memformer_writer_backward<float>(const float*, const float*, const float*, const float*,
                                                      const float*, const float*, const float*, float*, float*,
                                                      float*, float*, float*, const MemformerWriterDims&, float);
extern template void memformer_writer_backward<double>(const double*, const double*, const double*, const double*,
                                                       const double*, const double*, const double*, double*,
                                                       double*, double*, double*, double*, const MemformerWriterDims&,
                                                       double);
}  // namespace mnemo::cpu
#endif  // MNEMO_COMPILED
