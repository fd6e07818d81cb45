// mnemo/backend/cuda/memformer_writer.cuh — Memformer's slot-attention writer core (memformer.md
// §2.4 forward, §3 backward), fused: one thread group per (batch row, head, slot) row, never a
// K×K block (the self logit is a row-wise dot product). Masking and dz follow the rules shared
// with the CPU (backend/memformer_writer_rule.hpp); see cpu/memformer_writer.hpp for the math.
//
// Forward, per slot row: logits (self, then tokens; lanes over columns, each a sequential dot
// over d_h) -> masked online softmax (group max / Σ exp) -> probabilities written to `probs` ->
// m' = p_0·m + Σ_l p_l·V_x[l] (lanes over d_h, sequential over l).
// Backward: kernel 1 per slot row writes dz [batch, heads, slots, 1+L] (compute type, arena
// scratch), dq, dk_self and dm; kernel 2, one thread per element of the token-side gradients,
// sums dK_x[l] = Σ_i dz_{i,l}·q_i and dV_x[l] = Σ_i p_{i,l}·g_i over the slots in order.
// Every sum runs in an order fixed by the shape: deterministic, no atomics.
#pragma once

#include <cstdint>

#include "mnemo/backend/cuda/context.cuh"
#include "mnemo/backend/cuda/half.cuh"
#include "mnemo/backend/cuda/launch.cuh"
#include "mnemo/backend/cuda/math.cuh"
#include "mnemo/backend/cuda/rows.cuh"
#include "mnemo/backend/cuda/scratch.cuh"
#include "mnemo/backend/cuda/thread_group.cuh"
#include "mnemo/backend/memformer_writer_rule.hpp"
#include "mnemo/backend/primitives.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cuda {

namespace detail_writer {
/// Offsets of one slot row: task = b·heads + h, row = task·slots + i.
struct SlotRow {
  int64_t b, h, i, slot_offset, token_offset;  // slot_offset: (b, i, head h) in a slot-side tensor
  __device__ SlotRow(const MemformerWriterDims& d, int64_t row) {
    const int64_t task = row / d.slots;
    i = row % d.slots;
    b = task / d.heads;
    h = task % d.heads;
    slot_offset = (b * d.slots + i) * d.width() + h * d.head_dim;
    token_offset = b * d.tokens * d.width() + h * d.head_dim;  // token l at + l·width
  }
};

template <class A, class T>
__device__ __forceinline__ A dot(const T* x, const T* y, int64_t n) {
  A s = A(0);
  for (int64_t e = 0; e < n; ++e) s += convert<A>(x[e]) * convert<A>(y[e]);
  return s;
}

template <class T>
struct Forward {
  using A = accumulate_t<T>;
  const T *q, *k_self, *k_tok, *v_tok, *m;
  const uint8_t* padding;
  T* probs;
  T* m_out;
  MemformerWriterDims d;
  A scale;

  template <int K>
  __device__ void operator()(int64_t row, const ThreadGroup<K>& g) const {
    const SlotRow s(d, row);
    const int64_t P = d.prob_cols(), W = d.width(), dh = d.head_dim;
    const uint8_t* pad = padding ? padding + s.b * d.tokens : nullptr;
    T* pr = probs + row * P;
    const T* qi = q + s.slot_offset;
    // Logits, rounded to T as the CPU stores them, and the masked online max / Σ exp.
    MaxSum<A> acc = MaxSum<A>::empty();
    for (int64_t c = g.rank; c < P; c += K) {
      const T* key = c == 0 ? k_self + s.slot_offset : k_tok + s.token_offset + (c - 1) * W;
      const T logit = convert<T>(dot<A>(qi, key, dh));
      pr[c] = logit;
      if (!writer_column_masked(pad, c)) acc.add(scale * convert<A>(logit));
    }
    acc = g.allreduce(acc, MaxSumMerge{});
    const A inv = A(1) / acc.s;  // acc.s >= 1: the self column is never masked
    for (int64_t c = g.rank; c < P; c += K)
      pr[c] = writer_column_masked(pad, c) ? T{} : convert<T>(math::exp(scale * convert<A>(pr[c]) - acc.m) * inv);
    g.sync();  // every probability of the row is read by every lane below
    const T* mi = m + s.slot_offset;
    const T* vt = v_tok + s.token_offset;
    T* out = m_out + s.slot_offset;
    for (int64_t e = g.rank; e < dh; e += K) {
      A sum = convert<A>(pr[0]) * convert<A>(mi[e]);
      for (int64_t l = 0; l < d.tokens; ++l) sum += convert<A>(pr[1 + l]) * convert<A>(vt[l * W + e]);
      out[e] = convert<T>(sum);
    }
  }
};

template <class T>
struct BackwardSlots {
  using A = accumulate_t<T>;
  const T *q, *k_self, *k_tok, *v_tok, *m, *probs, *d_out;
  T *dq, *dk_self, *dm;
  A* dz;  // [batch, heads, slots, 1+tokens]
  MemformerWriterDims d;
  A scale;

  template <int K>
  __device__ void operator()(int64_t row, const ThreadGroup<K>& g) const {
    const SlotRow s(d, row);
    const int64_t P = d.prob_cols(), W = d.width(), dh = d.head_dim;
    const T* pr = probs + row * P;
    const T* gi = d_out + s.slot_offset;
    A* dzr = dz + row * P;
    // dp_c = g·(m_i or V_x[c−1]); then dz = scale·p ⊙ (dp − <p, dp>).
    A local = A(0);
    for (int64_t c = g.rank; c < P; c += K) {
      const T* value = c == 0 ? m + s.slot_offset : v_tok + s.token_offset + (c - 1) * W;
      const A dp = dot<A>(gi, value, dh);
      dzr[c] = dp;
      local += convert<A>(pr[c]) * dp;
    }
    const A row_dot = g.allreduce(local, Plus{});
    for (int64_t c = g.rank; c < P; c += K) dzr[c] = writer_logit_grad(scale, convert<A>(pr[c]), dzr[c], row_dot);
    g.sync();  // every dz of the row is read by every lane below
    const T* qi = q + s.slot_offset;
    const T* ksi = k_self + s.slot_offset;
    const T* kt = k_tok + s.token_offset;
    const A dz0 = dzr[0], p0 = convert<A>(pr[0]);
    for (int64_t e = g.rank; e < dh; e += K) {
      A gq = dz0 * convert<A>(ksi[e]);
      for (int64_t l = 0; l < d.tokens; ++l) gq += dzr[1 + l] * convert<A>(kt[l * W + e]);
      dq[s.slot_offset + e] = convert<T>(gq);
      dk_self[s.slot_offset + e] = convert<T>(dz0 * convert<A>(qi[e]));
      dm[s.slot_offset + e] = convert<T>(p0 * convert<A>(gi[e]));
    }
  }
};

/// One element (b, l, column) of dK_x and dV_x: sums over the slots in order.
template <class T>
struct BackwardTokens {
  using A = accumulate_t<T>;
  const T *q, *probs, *d_out;
  const A* dz;
  T *dk_tok, *dv_tok;
  MemformerWriterDims d;
  __device__ void operator()(int64_t idx) const {
    const int64_t W = d.width(), P = d.prob_cols();
    const int64_t col = idx % W, l = (idx / W) % d.tokens, b = idx / (W * d.tokens);
    const int64_t h = col / d.head_dim;
    const int64_t first_row = (b * d.heads + h) * d.slots;  // slot row i = first_row + i
    A gk = A(0), gv = A(0);
    for (int64_t i = 0; i < d.slots; ++i) {
      const int64_t slot = (b * d.slots + i) * W + col, entry = (first_row + i) * P + 1 + l;
      gk += dz[entry] * convert<A>(q[slot]);
      gv += convert<A>(probs[entry]) * convert<A>(d_out[slot]);
    }
    dk_tok[idx] = convert<T>(gk);
    dv_tok[idx] = convert<T>(gv);
  }
};
}  // namespace detail_writer

template <class T>
void memformer_writer_forward(CudaContext& ctx, const T* q, const T* k_self, const T* k_tok, const T* v_tok,
                              const T* m, const uint8_t* padding, T* probs, T* m_out, const MemformerWriterDims& dims,
                              compute_t<T> scale) {
  if (dims.head_dim <= 0) return;
  launch_rows(ctx, dims.batch * dims.heads * dims.slots, dims.prob_cols(),
              detail_writer::Forward<T>{q, k_self, k_tok, v_tok, m, padding, probs, m_out, dims,
                                        static_cast<accumulate_t<T>>(scale)},
              "memformer_writer_forward");
}

template <class T>
void memformer_writer_backward(CudaContext& ctx, const T* q, const T* k_self, const T* k_tok, const T* v_tok,
                               const T* m, const T* probs, const T* dm_out, T* dq, T* dk_self, T* dk_tok, T* dv_tok,
                               T* dm, const MemformerWriterDims& dims, compute_t<T> scale) {
  using A = accumulate_t<T>;
  if (dims.head_dim <= 0) return;
  const int64_t slot_rows = dims.batch * dims.heads * dims.slots;
  ScratchBuffer<A> dz(ctx, slot_rows * dims.prob_cols());
  launch_rows(ctx, slot_rows, dims.prob_cols(),
              detail_writer::BackwardSlots<T>{q, k_self, k_tok, v_tok, m, probs, dm_out, dq, dk_self, dm, dz.data(),
                                              dims, static_cast<A>(scale)},
              "memformer_writer_backward (slots)");
  for_each(ctx, dims.batch * dims.tokens * dims.width(),
           detail_writer::BackwardTokens<T>{q, probs, dm_out, dz.data(), dk_tok, dv_tok, dims},
           "memformer_writer_backward (tokens)");
}

}  // namespace mnemo::cuda
