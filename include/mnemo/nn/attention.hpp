// mnemo/nn/attention.hpp — multi-head attention (self and cross; causal, key-padding and ALiBi
// masks), memformer.md §2.2:
//   Q = Xq·W_Q + b_Q,  K = Xkv·W_K + b_K,  V = Xkv·W_V + b_V
//   A⁽ʰ⁾ = softmax(Q⁽ʰ⁾·K⁽ʰ⁾ᵀ / √d_h + mask),   MHA = concat_h(A⁽ʰ⁾·V⁽ʰ⁾)·W_O + b_O
//
// One tape node per call: forward() fills a Saved context and backward() consumes it, so the
// reverse sweep runs the hand-written chain (10 GEMMs, one softmax backward) with no per-op
// bookkeeping. Heads are laid out [batch, heads, len, d_h] for the batched GEMMs.
//
// Causal masks on the CPU: queries are taken in blocks of kCausalBlock rows; block [r0, r1) sees
// keys [0, r1 + query_offset) at most, so the GEMMs of S = Q·Kᵀ, A·V, dP = dO·Vᵀ, dS·K, Pᵀ·dO and
// dSᵀ·Q skip the key columns (or query rows) the mask hides from a whole block: about half the
// work at long lengths (dP's hidden entries are set to 0: the softmax backward reads them).
// On the CPU the attention part of the saving forward and of the backward runs one (batch row,
// head) at a time per thread, so that a head's S or dP stays in cache between its products and
// its softmax (head_forward, head_backward); the backward's dP is a per-thread buffer. In float
// with d_h a multiple of 16 on a CPU with AVX-512F or AVX2 such a head takes cpu/attention_head.hpp's
// register tiles, block of queries by block (under a causal mask at any length; the tiles take
// blocks of 16 or 32 rows there, cpu::register_tiles_causal_block), instead of a GEMM call per
// 64-row product; they write the heads' outputs into concat_h and the backward's dQ, dK, dV in
// the [batch, L, d] layout the projections' GEMMs read, and read dO there (no head split or merge
// copies on those four).
//
// The tensor-level forward() with nothing saved (no backward follows: inference) on the CPU keeps
// no probabilities: BackendTraits<Cpu>::attention_forward takes each (batch row, head, block of
// queries) from scores to output with the block's scores in cache, reading the projections and
// writing concat_h in place (no head split/merge copies), with the same blocks; in bf16 on fp32
// copies of each head, its probabilities never rounded to bf16. operator() takes that path only
// inside an nn::InferenceScope (no tape): MRBP's untaped replay must keep the probabilities
// path's arithmetic bit for bit.
//
// Q, K and V on the CPU: the three products x·W_i and their bias adds run in one parallel region,
// each product in column blocks (one per thread), instead of three fork/joins and three bias
// passes on the calling thread; the taped and untaped paths share it (MRBP's replay stays bitwise).
// At batch·Lk ≥ 4d both forwards instead stack the weights: [Q | K | V] (self-attention) or
// [K | V] as one GEMM of 3d or 2d columns (about a fifth faster than three GEMMs of d columns with
// oneDNN at 8192 × 512 inputs), read in place by attention_forward or, in the saving forward,
// split into head layout by one pass that also adds the biases (cpu::split_heads_add_bias).
// The backward of float self-attention on the tiles keeps [dQ | dK | dV] side by side for the
// same reason: the three weight gradients read it in place, the bias gradients come from one row
// sum, and when query and key_value are one Var the input gradient dx_q + dx_kv is one GEMM of
// inner dimension 3d (no second [batch, L, d] tensor, no pass to add them).
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

#include "mnemo/autograd/ops/common.hpp"
#include "mnemo/backend/cpu/elementwise.hpp"
#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/backend/cpu/thread_scratch.hpp"
#include "mnemo/backend/primitives.hpp"
#include "mnemo/nn/inference_scope.hpp"
#include "mnemo/nn/parameter_store.hpp"

namespace mnemo::nn {

template <class B>
struct AttentionMask {
  bool causal = false;
  int64_t query_offset = 0;                         // keys that precede query 0 (a cache)
  const Tensor<uint8_t, B>* key_padding = nullptr;  // [batch, keys], nonzero = padding (ignored)
  const Tensor<float, B>* alibi_slopes = nullptr;   // [heads]: bias −slope·(query pos − key pos)
};

template <class T, class B>
class MultiHeadAttention {
  using BT = BackendTraits<B>;
  using C = compute_t<T>;

 public:
  using Var = autograd::Var<T, B>;
  using Tens = Tensor<T, B>;

  /// What backward() consumes; filled by forward().
  struct Saved {
    Tens xq, xkv;          // inputs [batch, Lq, d], [batch, Lk, d]
    Tens q, k, v;          // projections in head layout [batch, h, L, d_h]
    Tens probs;            // [batch, h, Lq, Lk]
    Tens merged;           // concat_h(A·V) [batch, Lq, d]
    int64_t batch = 0, lq = 0, lk = 0;
    bool causal = false;       // the mask's causal flag and offset: backward skips the same blocks
    int64_t query_offset = 0;
  };
  struct InputGrads {
    Tens dxq, dxkv;  // undefined when not requested; with sum_input_grads, dxq = dx_q + dx_kv, dxkv undefined
  };

  /// Registers "<name>.{q,k,v,o}_proj.weight" [d, d] and, with bias, "<name>.{q,k,v,o}_proj.bias".
  MultiHeadAttention(ParameterStore<T, B>& store, const std::string& name, int64_t d_model,
                     int64_t heads, bool bias = true, double init_std = 0.02);

  int64_t d_model() const { return d_; }
  int64_t heads() const { return h_; }
  int64_t head_dim() const { return dh_; }

  /// Query rows per block of the causal block path (see the top of this file).
  static constexpr int64_t kCausalBlock = 64;

  /// query [batch, Lq, d], key_value [batch, Lk, d] → [batch, Lq, d]. Pass the same Var twice
  /// for self-attention.
  Var operator()(const Var& query, const Var& key_value, const AttentionMask<B>& mask = {}) const;

  /// Tensor-level forward; fills `saved` when given (needed by backward). Without `saved`, the
  /// CPU backend (float, double) keeps no probabilities (see the top of this file); its output
  /// then equals the saving path's to rounding, not bitwise. operator() without a tape keeps the
  /// saving path's arithmetic, so that a replay under a tape (MRBP) reproduces it bitwise.
  Tens forward(const Tens& xq, const Tens& xkv, const AttentionMask<B>& mask, Saved* saved) const {
    return forward_impl(xq, xkv, mask, saved, true);
  }

  /// Tensor-level backward: returns dxq / dxkv (when asked) and accumulates every parameter
  /// gradient. `extra_dq_heads` [batch, h, Lq, d_h] is added to the gradient of the head-layout
  /// queries (used when another reader, such as ∞-former's long-term memory, shares them).
  /// `sum_input_grads` (both gradients asked for, and query and key_value are one input, as in
  /// self-attention through one Var): dxq returns dx_q + dx_kv and dxkv stays undefined; in float
  /// self-attention on the CPU's tiles that sum is one GEMM (see input_grads_stacked).
  InputGrads backward(const Saved& s, const Tens& dy, bool need_dxq, bool need_dxkv,
                      const Tens* extra_dq_heads = nullptr, bool sum_input_grads = false) const;

  /// Softmax logit scale 1/√d_h.
  C scale() const { return C(1) / std::sqrt(static_cast<C>(dh_)); }

  Parameter<T, B>& weight(int i) const { return *w_[i]; }  // 0..3 = q, k, v, o
  Parameter<T, B>* bias(int i) const { return b_[i]; }
  /// Parameter::note_use for the projections (before recording a node that runs backward()).
  void note_parameter_uses() const {
    for (int i = 0; i < 4; ++i) {
      w_[i]->note_use();
      if (b_[i]) b_[i]->note_use();
    }
  }

  /// x [batch, L, d] → x·W_i + b_i in head layout [batch, h, L, d_h] (i = 0, 1, 2: q, k, v).
  Tens project_heads(const Tens& x, int i) const {
    return heads_of(project(x, i), x.shape()[0], x.shape()[1]);
  }
  /// [batch, h, L, d_h] → [batch, L, d].
  Tens merge_heads(const Tens& x, int64_t batch, int64_t len) const {
    Tens y(Shape{batch, len, d_}, ctx_->arena());
    BT::permute_0213(*ctx_, x.data(), y.data(), batch, h_, len, dh_);
    return y;
  }

 private:
  void check_inputs(const Tens& xq, const Tens& xkv, const AttentionMask<B>& mask) const {
    check_shape("MultiHeadAttention: query", xq.shape(), {{"batch", Dim::any}, {"len", Dim::any}, {"d_model", d_}});
    check_shape("MultiHeadAttention: key_value", xkv.shape(),
                {{"batch", xq.shape()[0]}, {"len", Dim::any}, {"d_model", d_}});
    if (mask.key_padding)
      check_shape("MultiHeadAttention: key_padding", mask.key_padding->shape(),
                  {{"batch", xq.shape()[0]}, {"keys", xkv.shape()[1]}});
    if (mask.alibi_slopes) check_shape("MultiHeadAttention: alibi_slopes", mask.alibi_slopes->shape(), {{"heads", h_}});
    if (mask.query_offset < 0)
      throw ShapeError(detail::cat("MultiHeadAttention: query_offset = ", mask.query_offset, ", expected >= 0"));
  }

  /// forward(); `allow_fused` = false keeps the probabilities path even with nothing saved.
  Tens forward_impl(const Tens& xq, const Tens& xkv, const AttentionMask<B>& mask, Saved* saved,
                    bool allow_fused) const;

  /// Whether a forward with nothing saved takes BackendTraits<Cpu>::attention_forward.
  static constexpr bool kFusedForward = std::is_same_v<B, Cpu>;

  /// The forward without probabilities (kFusedForward only): projections, the fused attention per
  /// (batch row, head, block of queries) straight into concat_h, output projection.
  Tens forward_fused(const Tens& xq, const Tens& xkv, const SoftmaxMask& sm) const {
    const int64_t batch = xq.shape()[0], lq = xq.shape()[1], lk = xkv.shape()[1];
    Tens merged(Shape{batch, lq, d_}, ctx_->arena());
    if (batch * lk < 4 * d_) {  // small products (a streaming step): project_qkv's one parallel region
      Tens qkv[3];
      project_qkv(xq, xkv, qkv);
      if constexpr (kFusedForward)  // (other backends never get here; the branch keeps them well-formed)
        BT::attention_forward(*ctx_, qkv[0].data(), d_, qkv[1].data(), qkv[2].data(), d_, merged.data(), d_,
                              SoftmaxDims{batch, h_, lq, lk}, dh_, scale(), sm, kCausalBlock);
      return affine(merged, 3);
    }
    // Self-attention (one input): [Q | K | V] = x·[W_Q | W_K | W_V] + [b_Q | b_K | b_V] as one
    // GEMM of 3·d columns, [batch, L, 3d]; otherwise Q = xq·W_Q + b_Q and [K | V] as one GEMM of
    // 2·d columns. attention_forward reads the heads in place (row strides 3d or 2d). One GEMM of
    // 3d columns ran at the 2048³ rate where three of d ran ~10 % below it (8192×512 inputs, oneDNN).
    const bool self = xq.data() == xkv.data() && lq == lk;
    Tens q, kv = stacked_affine(xkv, self ? 0 : 1);
    const int64_t ld_kv = self ? 3 * d_ : 2 * d_;
    if (!self) q = affine(xq, 0);
    const T* qp = self ? kv.data() : q.data();
    const T* kp = kv.data() + (self ? d_ : 0);
    if constexpr (kFusedForward)  // (other backends never get here; the branch keeps them well-formed)
      BT::attention_forward(*ctx_, qp, self ? ld_kv : d_, kp, kp + d_, ld_kv, merged.data(), d_,
                            SoftmaxDims{batch, h_, lq, lk}, dh_, scale(), sm, kCausalBlock);
    return affine(merged, 3);
  }

  /// x·[W_first | … | W_2] + [b_first | … | b_2] over the last dimension (x [..., d] → [..., n·d],
  /// n = 3 − first): the weights side by side in a [d, n·d] copy made per call (n·d² elements,
  /// against the product's 2·rows·n·d² FLOPs: ≤ 1/(8d) of them at rows ≥ 4d), one GEMM, one bias
  /// pass.
  Tens stacked_affine(const Tens& x, int first) const {
    const int64_t cols = (3 - first) * d_, rows = x.shape().rows();
    Tens y = stacked_product(x, first, 3);
    if (b_[first]) {
      Tens bias(Shape{cols}, ctx_->arena());
      for (int i = first; i < 3; ++i)
        BT::copy_device(*ctx_, bias.data() + (i - first) * d_, b_[i]->value.data(), d_ * sizeof(T));
      BT::add_row_broadcast(*ctx_, y.data(), bias.data(), y.data(), rows, cols);
    }
    return y;
  }

  /// x·[W_first | … | W_{last−1}] without the biases: one GEMM of (last − first)·d columns against
  /// the weights side by side in a [d, (last − first)·d] copy made per call (stacked_affine).
  Tens stacked_product(const Tens& x, int first, int last) const {
    const int64_t cols = (last - first) * d_, rows = x.shape().rows();
    if (last - first == 1) {
      Tens y(x.shape().with_last(d_), ctx_->arena());
      BT::gemm(*ctx_, Trans::N, Trans::N, rows, d_, d_, C(1), x.data(), d_, 0, w_[first]->value.data(), d_, 0, C(0),
               y.data(), d_, 0, 1);
      return y;
    }
    const Tens w = stacked_weights(first, last);
    Tens y(x.shape().with_last(cols), ctx_->arena());
    BT::gemm(*ctx_, Trans::N, Trans::N, rows, cols, d_, C(1), x.data(), d_, 0, w.data(), cols, 0, C(0), y.data(),
             cols, 0, 1);
    return y;
  }

  /// [W_first | … | W_{last−1}] side by side, [d, (last − first)·d]; with `grads`, the gradients
  /// [dW_first | … ] instead.
  Tens stacked_weights(int first, int last, bool grads = false) const {
    const int64_t cols = (last - first) * d_;
    Tens w(Shape{d_, cols}, ctx_->arena());
    for (int i = first; i < last; ++i)  // d rows of d elements into columns [(i − first)·d, …)
      BT::copy_2d(*ctx_, w.data() + (i - first) * d_, cols * sizeof(T),
                  (grads ? w_[i]->grad : w_[i]->value).data(), d_ * sizeof(T), d_ * sizeof(T), d_);
    return w;
  }

  /// The inverse of stacked_weights(first, last, true): the columns of `stacked` back into dW_i.
  void unstack_grads(const Tens& stacked, int first, int last) const {
    const int64_t cols = (last - first) * d_;
    for (int i = first; i < last; ++i)
      BT::copy_2d(*ctx_, w_[i]->grad.data(), d_ * sizeof(T), stacked.data() + (i - first) * d_, cols * sizeof(T),
                  d_ * sizeof(T), d_);
  }

  /// Q, K and V of the saving forward in head layout [batch, h, L, d_h]. On the CPU at
  /// batch·Lk ≥ 4d: the products stacked (stacked_product: [Q | K | V] for self-attention, Q and
  /// [K | V] otherwise) and one pass that splits the heads and adds the biases
  /// (cpu::split_heads_add_bias); otherwise project_qkv and a head split per product.
  void project_heads_qkv(const Tens& xq, const Tens& xkv, Tens& q, Tens& k, Tens& v) const {
    const int64_t batch = xq.shape()[0], lq = xq.shape()[1], lk = xkv.shape()[1];
    if constexpr (std::is_same_v<B, Cpu>) {
      if (batch * lk >= 4 * d_) {
        q = Tens(Shape{batch, h_, lq, dh_}, ctx_->arena());
        k = Tens(Shape{batch, h_, lk, dh_}, ctx_->arena());
        v = Tens(Shape{batch, h_, lk, dh_}, ctx_->arena());
        const T* bias[3] = {b_[0] ? b_[0]->value.data() : nullptr, b_[1] ? b_[1]->value.data() : nullptr,
                            b_[2] ? b_[2]->value.data() : nullptr};
        T* heads[3] = {q.data(), k.data(), v.data()};
        if (xq.data() == xkv.data() && lq == lk) {
          const Tens qkv = stacked_product(xkv, 0, 3);
          cpu::split_heads_add_bias(qkv.data(), 3 * d_, batch, lq, h_, dh_, 3, heads, bias);
        } else {
          const Tens qp = stacked_product(xq, 0, 1), kv = stacked_product(xkv, 1, 3);
          cpu::split_heads_add_bias(qp.data(), d_, batch, lq, h_, dh_, 1, heads, bias);
          cpu::split_heads_add_bias(kv.data(), 2 * d_, batch, lk, h_, dh_, 2, heads + 1, bias + 1);
        }
        return;
      }
    }
    Tens qkv[3];
    project_qkv(xq, xkv, qkv);
    q = heads_of(qkv[0], batch, lq);
    k = heads_of(qkv[1], batch, lk);
    v = heads_of(qkv[2], batch, lk);
  }

  /// Whether the causal block path runs (the CPU backend, more than one block of queries).
  static bool causal_blocks(bool causal, int64_t lq) { return std::is_same_v<B, Cpu> && causal && lq > kCausalBlock; }
  /// Keys visible to some query of a block ending at row r1: [0, r1 + offset) within [0, lk].
  static int64_t visible_keys(int64_t r1, int64_t offset, int64_t lk) { return std::clamp<int64_t>(r1 + offset, 0, lk); }

  /// out[b] = x[b]·y[b] + beta·out[b] per (batch, head) b, x [lq, lk] (zero where masked), y [lk, d_h],
  /// out [lq, d_h]; with blocks, a block of rows multiplies only the keys it may see.
  void rows_times_keys(int64_t lq, int64_t lk, bool blocks, int64_t offset, const T* x, const T* y, C beta, T* out,
                       int64_t bh) const {
    for (int64_t r0 = 0; r0 < lq; r0 += blocks ? kCausalBlock : lq) {
      const int64_t r1 = blocks ? std::min(lq, r0 + kCausalBlock) : lq;
      const int64_t keys = blocks ? visible_keys(r1, offset, lk) : lk;
      BT::gemm(*ctx_, Trans::N, Trans::N, r1 - r0, dh_, keys, C(1), x + r0 * lk, lk, lq * lk, y, dh_, lk * dh_, beta,
               out + r0 * dh_, dh_, lq * dh_, bh);
    }
  }
  /// out[b] = x[b]ᵀ·y[b] per (batch, head) b, x [lq, lk] (zero where masked), y [lq, d_h], out
  /// [lk, d_h]; with blocks, a block of keys [c0, c1) multiplies only the rows that may see it,
  /// rows c0 − offset and later.
  void keys_times_rows(int64_t lq, int64_t lk, bool blocks, int64_t offset, const T* x, const T* y, T* out,
                       int64_t bh) const {
    for (int64_t c0 = 0; c0 < lk; c0 += blocks ? kCausalBlock : lk) {
      const int64_t c1 = blocks ? std::min(lk, c0 + kCausalBlock) : lk;
      const int64_t i0 = blocks ? std::clamp<int64_t>(c0 - offset, 0, lq) : 0;
      BT::gemm(*ctx_, Trans::T, Trans::N, c1 - c0, dh_, lq - i0, C(1), x + i0 * lk + c0, lk, lq * lk, y + i0 * dh_,
               dh_, lq * dh_, C(0), out + c0 * dh_, dh_, lk * dh_, bh);
    }
  }

  /// Keys a query sees on average (a thread's cost estimate): about half of them plus a block
  /// under a causal mask with blocks, all of them otherwise.
  static int64_t keys_seen(int64_t lq, int64_t lk, bool blocks, int64_t offset) {
    return blocks ? std::clamp<int64_t>(lq / 2 + offset + kCausalBlock, 1, std::max<int64_t>(lk, 1)) : lk;
  }

  /// Whether the attention part runs one (batch, head) per thread (CPU, at least as many pairs as
  /// threads); otherwise the batched GEMMs, which split a product's rows between threads.
  static bool per_head_on_threads(int64_t bh) {
    if constexpr (std::is_same_v<B, Cpu>) return bh >= cpu::parallel_threads();
    return false;
  }

  /// Whether the per-head path takes cpu/attention_head.hpp's register tiles (float, d_h a
  /// multiple of 16, AVX-512F or AVX2): they read and write concat_h's layout [batch, L, d] in place.
  bool head_tiles() const {
    if constexpr (std::is_same_v<B, Cpu> && std::is_same_v<T, float>) return BT::template attention_head_tiles<T>(dh_);
    return false;
  }

  /// The attention part of the saving forward for `bh` (batch, head) pairs, heads layout, over
  /// `sm` as a mask of bh / h batch rows (or one head as a 1 × 1 batch):
  ///   P = softmax(scale·Q·Kᵀ + mask) (into probs) ; O = P·V
  void head_forward(int64_t lq, int64_t lk, bool blocks, int64_t offset, const T* q, const T* k, const T* v,
                    T* probs, T* o, const SoftmaxMask& sm, int64_t bh) const {
    for (int64_t r0 = 0; r0 < lq; r0 += blocks ? kCausalBlock : lq) {
      const int64_t r1 = blocks ? std::min(lq, r0 + kCausalBlock) : lq;
      const int64_t keys = blocks ? visible_keys(r1, offset, lk) : lk;
      BT::gemm(*ctx_, Trans::N, Trans::T, r1 - r0, keys, dh_, C(1), q + r0 * dh_, dh_, lq * dh_, k, dh_, lk * dh_,
               C(0), probs + r0 * lk, lk, lq * lk, bh);
    }
    const int64_t outer = bh == 1 ? 1 : bh / h_, heads = bh == 1 ? 1 : h_;
    BT::softmax_forward(*ctx_, probs, probs, SoftmaxDims{outer, heads, lq, lk}, scale(), sm);
    rows_times_keys(lq, lk, blocks, offset, probs, v, C(0), o, bh);
  }

  /// The attention part of backward() for `bh` (batch, head) pairs, heads layout, with dp a
  /// [bh, Lq, Lk] buffer:
  ///   dP = dO·Vᵀ ; dV = Pᵀ·dO ; dS = scale·P⊙(dP − <P, dP>) (in place) ; dQ = dS·K (+ dQ) ; dK = dSᵀ·Q
  /// With blocks, a block of rows takes only the keys it may see in dP, the rest of its rows set
  /// to 0 (P is 0 there: the softmax backward then reads 0·0, never stale memory).
  void head_backward(int64_t lq, int64_t lk, bool blocks, int64_t offset, const T* p, const T* dO, const T* q,
                     const T* k, const T* v, T* dp, C dq_beta, T* dQ, T* dK, T* dV, int64_t bh) const {
    for (int64_t r0 = 0; r0 < lq; r0 += blocks ? kCausalBlock : lq) {
      const int64_t r1 = blocks ? std::min(lq, r0 + kCausalBlock) : lq;
      const int64_t keys = blocks ? visible_keys(r1, offset, lk) : lk;
      BT::gemm(*ctx_, Trans::N, Trans::T, r1 - r0, keys, dh_, C(1), dO + r0 * dh_, dh_, lq * dh_, v, dh_, lk * dh_,
               C(0), dp + r0 * lk, lk, lq * lk, bh);
      if constexpr (std::is_same_v<B, Cpu>)  // (blocks run on the CPU only)
        if (keys < lk)
          for (int64_t b = 0; b < bh; ++b)
            for (int64_t i = r0; i < r1; ++i) std::fill_n(dp + (b * lq + i) * lk + keys, lk - keys, T(0));
    }
    keys_times_rows(lq, lk, blocks, offset, p, dO, dV, bh);
    BT::softmax_backward(*ctx_, p, dp, dp, bh * lq, lk, scale());
    rows_times_keys(lq, lk, blocks, offset, dp, k, dq_beta, dQ, bh);
    keys_times_rows(lq, lk, blocks, offset, dp, q, dK, bh);
  }

  /// x·W_i + b_i over the last dimension (x [..., d]).
  Tens affine(const Tens& x, int i) const {
    const int64_t rows = x.shape().rows();
    Tens y(x.shape().with_last(d_), ctx_->arena());
    BT::gemm(*ctx_, Trans::N, Trans::N, rows, d_, d_, C(1), x.data(), d_, 0, w_[i]->value.data(), d_, 0, C(0),
             y.data(), d_, 0, 1);
    if (b_[i]) BT::add_row_broadcast(*ctx_, y.data(), b_[i]->value.data(), y.data(), rows, d_);
    return y;
  }
  Tens project(const Tens& x, int i) const { return affine(x, i); }

  /// out[i] = x_i·W_i + b_i for i = 0, 1, 2 (x_0 = xq, x_1 = x_2 = xkv), layout [..., d]. On the
  /// CPU one parallel region: product i in `parts` column blocks [lo, hi) (boundaries on multiples
  /// of 8), each block's bias added by the thread that computed it.
  void project_qkv(const Tens& xq, const Tens& xkv, Tens out[3]) const {
    if constexpr (!std::is_same_v<B, Cpu>) {
      for (int i = 0; i < 3; ++i) out[i] = project(i == 0 ? xq : xkv, i);
    } else {
      const T* x[3] = {xq.data(), xkv.data(), xkv.data()};
      const int64_t rows[3] = {xq.shape().rows(), xkv.shape().rows(), xkv.shape().rows()};
      for (int i = 0; i < 3; ++i) out[i] = Tens((i == 0 ? xq : xkv).shape().with_last(d_), ctx_->arena());
      const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(cpu::parallel_threads(), d_ / 16));
      const int64_t work = 2 * std::max(rows[0], rows[1]) * d_ * d_ / parts;
      cpu::parallel_for(3 * parts, work, [&](int64_t begin, int64_t end) {
        for (int64_t item = begin; item < end; ++item) {
          const int i = static_cast<int>(item / parts);
          const int64_t part = item % parts;
          const int64_t lo = part == 0 ? 0 : (d_ * part / parts) / 8 * 8;
          const int64_t hi = part + 1 == parts ? d_ : (d_ * (part + 1) / parts) / 8 * 8;
          T* y = out[i].data();
          BT::gemm(*ctx_, Trans::N, Trans::N, rows[i], hi - lo, d_, C(1), x[i], d_, 0, w_[i]->value.data() + lo, d_,
                   0, C(0), y + lo, d_, 0, 1);
          if (b_[i]) cpu::add_row_broadcast(y + lo, b_[i]->value.data() + lo, y + lo, rows[i], hi - lo, d_);
        }
      });
    }
  }

  /// Accumulates dW_i += xᵀ·dy, db_i += Σ dy; returns dx = dy·W_iᵀ when asked, or adds it to
  /// *add_dx_to (the GEMM's β = 1: no second tensor and no pass to sum them).
  Tens affine_backward(const Tens& x, const Tens& dy, int i, bool need_dx, Tens* add_dx_to = nullptr) const {
    const int64_t rows = x.shape().rows();
    Tens dx = need_dx && !add_dx_to ? Tens(x.shape(), ctx_->arena()) : Tens();
    T* out = !need_dx ? nullptr : add_dx_to ? add_dx_to->data() : dx.data();
    projection_grads(x.data(), rows, dy.data(), d_, i, i + 1, out, add_dx_to != nullptr);
    if (b_[i]) BT::sum_rows(*ctx_, dy.data(), b_[i]->grad.data(), rows, d_, true);
    return dx;
  }

  /// For the projections i = first … last − 1, with g_i the columns (i − first)·d … of g (row
  /// stride ld): dW_i += xᵀ·g_i, and, when dx is given, dx = Σ_i g_i·W_iᵀ (+ dx when accumulate).
  /// On the CPU one parallel region runs them all, instead of one fork per product: blocks of
  /// columns of dx (each over every i, summed in the order of i as GEMMs one after another with
  /// β = 1 would), then blocks of columns of each dW_i; the dx blocks are as wide as the GEMM's
  /// own split would cut them (narrower ones ran slower on oneDNN) and come first, so that the
  /// smaller dW tasks even out the threads' work. Elsewhere one GEMM each.
  void projection_grads(const T* x, int64_t rows, const T* g, int64_t ld, int first, int last, T* dx,
                        bool accumulate) const {
    const int count = last - first;
    auto weight_grad = [&](int i, int64_t lo, int64_t hi) {  // dW_i[:, lo:hi] += xᵀ·g_i[:, lo:hi]
      BT::gemm(*ctx_, Trans::T, Trans::N, d_, hi - lo, rows, C(1), x, d_, 0, g + (i - first) * d_ + lo, ld, 0, C(1),
               w_[i]->grad.data() + lo, d_, 0, 1);
    };
    auto input_grad = [&](int64_t lo, int64_t hi) {  // dx[:, lo:hi] (+)= Σ_i g_i·W_i[lo:hi, :]ᵀ
      for (int i = first; i < last; ++i)
        BT::gemm(*ctx_, Trans::N, Trans::T, rows, hi - lo, d_, C(1), g + (i - first) * d_, ld, 0,
                 w_[i]->value.data() + lo * d_, d_, 0, accumulate || i > first ? C(1) : C(0), dx + lo, d_, 0, 1);
    };
    if constexpr (std::is_same_v<B, Cpu>) {
      // P blocks of dx (count products each), then count·P blocks of the dW_i (one product each).
      const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(cpu::parallel_threads(), d_ / 16));
      const int64_t input_tasks = dx ? blocks : 0, tasks = input_tasks + count * blocks;
      auto edge = [](int64_t extent, int64_t part, int64_t parts) {  // inner edges on multiples of 8
        return part == parts ? extent : (extent * part / parts) / 8 * 8;
      };
      const int64_t work = 2 * rows * d_ * d_ * count * (dx ? 2 : 1);
      cpu::parallel_for(tasks, work / tasks, [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
          if (t < input_tasks) {
            input_grad(edge(d_, t, blocks), edge(d_, t + 1, blocks));
          } else {
            const int64_t part = (t - input_tasks) % blocks;
            weight_grad(first + static_cast<int>((t - input_tasks) / blocks), edge(d_, part, blocks),
                        edge(d_, part + 1, blocks));
          }
        }
      });
    } else {
      for (int i = first; i < last; ++i) weight_grad(i, 0, d_);
      if (dx) input_grad(0, d_);
    }
  }

  /// The projections' backward from dQ, dK, dV in concat_h's layout [batch, L, d]: parameter
  /// gradients accumulated, dx_q and dx_kv (dK·W_Kᵀ + dV·W_Vᵀ) returned when asked.
  InputGrads input_grads(const Saved& s, const Tens& dQ, const Tens& dK, const Tens& dV, bool need_dxq,
                         bool need_dxkv) const {
    InputGrads out;
    out.dxq = affine_backward(s.xq, dQ, 0, need_dxq);
    out.dxkv = affine_backward(s.xkv, dK, 1, need_dxkv);
    affine_backward(s.xkv, dV, 2, need_dxkv, &out.dxkv);  // dx_kv += dV·W_Vᵀ
    return out;
  }

  /// The projections' backward of self-attention from g = [dQ | dK | dV] [batch, L, 3d] (one
  /// input x): dW_i += xᵀ·g_i (g_i read in place, row stride 3d; at rows ≥ 4d one product
  /// [dW_Q | dW_K | dW_V] += xᵀ·g on a stacked copy of the gradients, which oneDNN's sgemm ran about
  /// 1.5× faster than three products of d columns at d = 512), db_i += Σ g_i from one row sum,
  /// and, when asked, dx_q = g_Q·W_Qᵀ and dx_kv = g_K·W_Kᵀ + g_V·W_Vᵀ, or their sum (backward()'s
  /// sum_input_grads): at rows ≥ 4d one GEMM g·[W_Q | W_K | W_V]ᵀ of inner dimension 3d; below
  /// that, where the copies would cost more than they save, the products of each input gradient
  /// and its weight gradients in one parallel region (projection_grads).
  InputGrads input_grads_stacked(const Saved& s, const Tens& g, bool need_dxq, bool need_dxkv, bool sum) const {
    const int64_t rows = s.xq.shape().rows(), ld = 3 * d_;
    const T* x = s.xq.data();
    if (b_[0]) {
      Tens db(Shape{ld}, ctx_->arena());
      BT::sum_rows(*ctx_, g.data(), db.data(), rows, ld, false);
      for (int i = 0; i < 3; ++i) BT::axpby(*ctx_, d_, C(1), db.data() + i * d_, C(1), b_[i]->grad.data());
    }
    InputGrads out;
    const bool one = sum && need_dxq && need_dxkv;  // dx_q + dx_kv returned as one gradient
    if (need_dxq) out.dxq = Tens(s.xq.shape(), ctx_->arena());
    if (need_dxkv && !one) out.dxkv = Tens(s.xq.shape(), ctx_->arena());
    if (rows < 4 * d_) {  // the weight and input gradients in one parallel region per input gradient
      if (one) {
        projection_grads(x, rows, g.data(), ld, 0, 3, out.dxq.data(), false);
      } else {
        projection_grads(x, rows, g.data(), ld, 0, 1, need_dxq ? out.dxq.data() : nullptr, false);
        projection_grads(x, rows, g.data() + d_, ld, 1, 3, need_dxkv ? out.dxkv.data() : nullptr, false);
      }
      return out;
    }
    // [dW_Q | dW_K | dW_V] += xᵀ·g as one product of 3d columns (copies: 6d² ≤ 3/(2d) of it).
    Tens dw = stacked_weights(0, 3, true);
    BT::gemm(*ctx_, Trans::T, Trans::N, d_, ld, rows, C(1), x, d_, 0, g.data(), ld, 0, C(1), dw.data(), ld, 0, 1);
    unstack_grads(dw, 0, 3);
    if (one) {  // g·[W_Q | W_K | W_V]ᵀ: the weights' copy (3d²) ≤ 1/(8d) of the FLOPs
      const Tens w = stacked_weights(0, 3);
      BT::gemm(*ctx_, Trans::N, Trans::T, rows, d_, ld, C(1), g.data(), ld, 0, w.data(), ld, 0, C(0), out.dxq.data(),
               d_, 0, 1);
      return out;
    }
    // A GEMM per product: dx_q = g_Q·W_Qᵀ; dx_kv = g_K·W_Kᵀ, then += g_V·W_Vᵀ (β = 1).
    for (int i = 0; i < 3; ++i) {
      if (!(i == 0 ? need_dxq : need_dxkv)) continue;
      BT::gemm(*ctx_, Trans::N, Trans::T, rows, d_, d_, C(1), g.data() + i * d_, ld, 0, w_[i]->value.data(), d_, 0,
               i == 2 ? C(1) : C(0), (i == 0 ? out.dxq : out.dxkv).data(), d_, 0, 1);
    }
    return out;
  }

  /// backward()'s sum_input_grads on the paths that compute dx_q and dx_kv apart: dx_q += dx_kv.
  InputGrads summed(InputGrads g, bool sum) const {
    if (!sum || !g.dxq.defined() || !g.dxkv.defined()) return g;
    BT::axpby(*ctx_, g.dxq.numel(), C(1), g.dxkv.data(), C(1), g.dxq.data());
    g.dxkv = Tens();
    return g;
  }

  /// [batch, L, d] → [batch, h, L, d_h].
  Tens heads_of(const Tens& x, int64_t batch, int64_t len) const {
    Tens y(Shape{batch, h_, len, dh_}, ctx_->arena());
    BT::permute_0213(*ctx_, x.data(), y.data(), batch, len, h_, dh_);
    return y;
  }

  Context<B>* ctx_;
  int64_t d_, h_, dh_ = 1;
  Parameter<T, B>* w_[4] = {};
  Parameter<T, B>* b_[4] = {};
};

template <class T, class B>
MultiHeadAttention<T, B>::MultiHeadAttention(ParameterStore<T, B>& store, const std::string& name, int64_t d_model,
    int64_t heads, bool bias, double init_std)
    : ctx_(&store.context()), d_(d_model), h_(heads) {
  require<ConfigError>(d_model > 0 && heads > 0, "MultiHeadAttention '", name,
                       "': d_model and heads must be positive, got d_model=", d_model, ", heads=", heads);
  require<ConfigError>(d_model % heads == 0, "MultiHeadAttention '", name, "': d_model=", d_model,
                       " is not divisible by heads=", heads, " (expected d_model % heads == 0)");
  dh_ = d_ / h_;
  const char* proj[4] = {"q_proj", "k_proj", "v_proj", "o_proj"};
  for (int i = 0; i < 4; ++i) {
    const std::string p = join_name(name, proj[i]);
    w_[i] = &store.add(p + ".weight", Shape{d_, d_}, Init::normal(init_std));
    b_[i] = bias ? &store.add(p + ".bias", Shape{d_}, Init::zeros()) : nullptr;
  }
}

template <class T, class B>
auto MultiHeadAttention<T, B>::operator()(const Var& query, const Var& key_value,
    const AttentionMask<B>& mask) const -> Var {
  // The projections are parameters, so a recording tape always needs this node.
  const bool track = autograd::recording_tape() != nullptr;
  Saved saved;
  Tens y = forward_impl(query.value(), key_value.value(), mask, track ? &saved : nullptr,
                        !track && InferenceScope::active());
  Var out = autograd::make_output(std::move(y), track);
  if (!track) return out;
  note_parameter_uses();
  autograd::recording_tape()->record(
      [self = *this, saved = std::move(saved), sq = query.slot(), skv = key_value.slot(), so = out.slot()] {
        InputGrads g = self.backward(saved, so->grad(), sq != nullptr, skv != nullptr, nullptr, sq && sq == skv);
        if (sq) sq->accumulate(*self.ctx_, std::move(g.dxq));
        if (skv && g.dxkv.defined()) skv->accumulate(*self.ctx_, std::move(g.dxkv));
      },
      {out.slot()});
  return out;
}

template <class T, class B>
auto MultiHeadAttention<T, B>::forward_impl(const Tens& xq, const Tens& xkv, const AttentionMask<B>& mask,
    Saved* saved, bool allow_fused) const -> Tens {
  check_inputs(xq, xkv, mask);
  SoftmaxMask sm;
  sm.causal = mask.causal;
  sm.query_offset = mask.query_offset;
  sm.key_padding = mask.key_padding ? mask.key_padding->data() : nullptr;
  sm.alibi_slopes = mask.alibi_slopes ? mask.alibi_slopes->data() : nullptr;
  if constexpr (kFusedForward)
    if (!saved && allow_fused) return forward_fused(xq, xkv, sm);
  Context<B>& ctx = *ctx_;
  const int64_t batch = xq.shape()[0], lq = xq.shape()[1], lk = xkv.shape()[1];
  Tens q, k, v;
  project_heads_qkv(xq, xkv, q, k, v);
  // S = Q·Kᵀ per (batch, head); the 1/√d_h goes into the softmax scale.
  Tens probs(Shape{batch, h_, lq, lk}, ctx.arena());
  const bool blocks = causal_blocks(mask.causal, lq);
  // Without blocks, one block of all rows seeing all keys. Entries of S a block skips are
  // hidden by the mask: the softmax neither reads them nor leaves them unwritten.
  Tens merged(Shape{batch, lq, d_}, ctx.arena());
  const bool per_head = per_head_on_threads(batch * h_), tiles = per_head && head_tiles();
  Tens o = tiles ? Tens() : Tens(Shape{batch, h_, lq, dh_}, ctx.arena());  // the heads' outputs before concat_h
  if constexpr (std::is_same_v<B, Cpu>) {  // (the branch keeps other backends well-formed)
    if (per_head) {
      // One (batch, head) at a time per thread: its S goes from the product to the softmax and to
      // A·V while in cache, rather than through memory between three passes over the whole tensor.
      // The softmax of one head: its padding row and ALiBi slope passed as those of a 1 × 1 batch.
      // The tiles write the head's output into concat_h in place (row stride d).
      cpu::parallel_for(batch * h_, std::max<int64_t>(1, 4 * lq * keys_seen(lq, lk, blocks, mask.query_offset) * dh_), [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) {
          SoftmaxMask head_mask = sm;
          if (sm.key_padding) head_mask.key_padding = sm.key_padding + (b / h_) * lk;
          if (sm.alibi_slopes) head_mask.alibi_slopes = sm.alibi_slopes + b % h_;
          const T* qb = q.data() + b * lq * dh_;
          const T* kb = k.data() + b * lk * dh_;
          const T* vb = v.data() + b * lk * dh_;
          T* pb = probs.data() + b * lq * lk;
          if constexpr (std::is_same_v<T, float>)
            if (tiles) {
              BT::attention_head_forward(ctx, qb, kb, vb, pb, merged.data() + (b / h_) * lq * d_ + (b % h_) * dh_, d_,
                                         lq, lk, dh_, mask.causal, mask.query_offset, blocks ? kCausalBlock : lq,
                                         scale(), head_mask);
              continue;
            }
          head_forward(lq, lk, blocks, mask.query_offset, qb, kb, vb, pb, o.data() + b * lq * dh_, head_mask, 1);
        }
      });
    }
  }
  if (!per_head) {
    head_forward(lq, lk, blocks, mask.query_offset, q.data(), k.data(), v.data(), probs.data(), o.data(), sm,
                 batch * h_);
  }
  if (!tiles) BT::permute_0213(ctx, o.data(), merged.data(), batch, h_, lq, dh_);
  Tens y = affine(merged, 3);
  if (saved) {
    saved->xq = xq;
    saved->xkv = xkv;
    saved->q = std::move(q);
    saved->k = std::move(k);
    saved->v = std::move(v);
    saved->probs = std::move(probs);
    saved->merged = std::move(merged);
    saved->batch = batch;
    saved->lq = lq;
    saved->lk = lk;
    saved->causal = mask.causal;
    saved->query_offset = mask.query_offset;
  }
  return y;
}

template <class T, class B>
auto MultiHeadAttention<T, B>::backward(const Saved& s, const Tens& dy, bool need_dxq, bool need_dxkv,
    const Tens* extra_dq_heads, bool sum_input_grads) const -> InputGrads {
  Context<B>& ctx = *ctx_;
  const int64_t nb = s.batch, lq = s.lq, lk = s.lk, bh = nb * h_;
  // Output projection.
  Tens dmerged = affine_backward(s.merged, dy, 3, true);
  const bool blocks = causal_blocks(s.causal, lq);
  const bool per_head = per_head_on_threads(bh);
  if constexpr (std::is_same_v<B, Cpu> && std::is_same_v<T, float>) {
    if (per_head && head_tiles()) {
      // The tiles, one (batch, head) at a time per thread, read dO from concat_h's gradient and
      // write dQ, dK and dV in concat_h's layout: no head split or merge copies. Self-attention
      // puts them side by side, [dQ | dK | dV] [batch, L, 3d] (row stride 3d), for
      // input_grads_stacked; otherwise three [batch, L, d] tensors (row stride d).
      const bool self = s.xq.data() == s.xkv.data() && lq == lk;
      const int64_t ld = self ? 3 * d_ : d_;
      Tens g, dQ, dK, dV;
      if (self) {
        g = Tens(Shape{nb, lq, ld}, ctx.arena());
      } else {
        dQ = Tens(Shape{nb, lq, d_}, ctx.arena());
        dK = Tens(Shape{nb, lk, d_}, ctx.arena());
        dV = Tens(Shape{nb, lk, d_}, ctx.arena());
      }
      T* const gq = self ? g.data() : dQ.data();
      T* const gk = self ? g.data() + d_ : dK.data();
      T* const gv = self ? g.data() + 2 * d_ : dV.data();
      if (extra_dq_heads)  // [batch, h, Lq, d_h] → columns h·d_h of dQ's rows
        for (int64_t b = 0; b < bh; ++b)
          BT::copy_2d(ctx, gq + (b / h_) * lq * ld + (b % h_) * dh_, ld * sizeof(T),
                      extra_dq_heads->data() + b * lq * dh_, dh_ * sizeof(T), dh_ * sizeof(T), lq);
      cpu::parallel_for(bh, std::max<int64_t>(1, 10 * lq * keys_seen(lq, lk, blocks, s.query_offset) * dh_),
                        [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) {
          const int64_t row_q = (b / h_) * lq * ld + (b % h_) * dh_, row_k = (b / h_) * lk * ld + (b % h_) * dh_;
          const T* dob = dmerged.data() + (b / h_) * lq * d_ + (b % h_) * dh_;
          BT::attention_head_backward(ctx, s.probs.data() + b * lq * lk, dob, d_, s.q.data() + b * lq * dh_,
                                      s.k.data() + b * lk * dh_, s.v.data() + b * lk * dh_, gq + row_q, gk + row_k,
                                      gv + row_k, ld, lq, lk, dh_, s.causal, s.query_offset,
                                      blocks ? kCausalBlock : lq, scale(), extra_dq_heads ? C(1) : C(0));
        }
      });
      if (self) return input_grads_stacked(s, g, need_dxq, need_dxkv, sum_input_grads);
      return summed(input_grads(s, dQ, dK, dV, need_dxq, need_dxkv), sum_input_grads);
    }
  }
  Tens dO(Shape{nb, h_, lq, dh_}, ctx.arena());
  BT::permute_0213(ctx, dmerged.data(), dO.data(), nb, lq, h_, dh_);
  Tens dV(Shape{nb, h_, lk, dh_}, ctx.arena());
  Tens dQ(Shape{nb, h_, lq, dh_}, ctx.arena());
  if (extra_dq_heads) dQ.copy_from(*extra_dq_heads);
  Tens dK(Shape{nb, h_, lk, dh_}, ctx.arena());
  if constexpr (std::is_same_v<B, Cpu>) {  // (the branch keeps other backends well-formed)
    if (per_head) {
      // One (batch, head) at a time per thread, its dP = dS (Lq × Lk) in a per-thread buffer that
      // stays in cache from the product that writes it to the two that read it, instead of a
      // [batch, h, Lq, Lk] tensor written and re-read through memory. Each product is the call the
      // batched path makes for that head (the GEMM runs each product of a batch on one thread).
      cpu::parallel_for(bh, std::max<int64_t>(1, 10 * lq * keys_seen(lq, lk, blocks, s.query_offset) * dh_),
                        [&](int64_t begin, int64_t end) {
        T* dp = cpu::detail::thread_scratch<T, cpu::detail::ScratchSlot::AttentionDp>(lq * lk);
        for (int64_t b = begin; b < end; ++b) {
          const T* p = s.probs.data() + b * lq * lk;
          const T* dob = dO.data() + b * lq * dh_;
          head_backward(lq, lk, blocks, s.query_offset, p, dob, s.q.data() + b * lq * dh_, s.k.data() + b * lk * dh_,
                        s.v.data() + b * lk * dh_, dp, extra_dq_heads ? C(1) : C(0), dQ.data() + b * lq * dh_,
                        dK.data() + b * lk * dh_, dV.data() + b * lk * dh_, 1);
        }
      });
    }
  }
  if (!per_head) {
    Tens dP(Shape{nb, h_, lq, lk}, ctx.arena());
    head_backward(lq, lk, blocks, s.query_offset, s.probs.data(), dO.data(), s.q.data(), s.k.data(), s.v.data(),
                  dP.data(), extra_dq_heads ? C(1) : C(0), dQ.data(), dK.data(), dV.data(), bh);
  }
  return summed(input_grads(s, merge_heads(dQ, nb, lq), merge_heads(dK, nb, lk), merge_heads(dV, nb, lk), need_dxq,
                            need_dxkv),
                sum_input_grads);
}

}  // namespace mnemo::nn

// Compiled mode (docs/compile_time.md): linking mnemo::compiled defines MNEMO_COMPILED; these
// instantiations are then compiled once, in src/compiled/, instead of in every user TU.
#if defined(MNEMO_COMPILED)
#include "mnemo/backend/cpu.hpp"

namespace mnemo::nn {
extern template class MultiHeadAttention<float, Cpu>;
extern template class MultiHeadAttention<double, Cpu>;
}  // namespace mnemo::nn
#endif  // MNEMO_COMPILED
