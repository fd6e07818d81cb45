// mnemo/backend/cpu.hpp — BackendTraits<Cpu>: every primitive mnemo's layers use, on Eigen and
// mnemo's thread pool, for float, double and bfloat16 (mnemo/core/bfloat16.hpp: stored in 16
// bits, computed in fp32). This struct is the contract a backend implements; the CUDA traits
// (mnemo/backend/cuda/traits.cuh) mirror it member for member.
//
// Conventions: every primitive takes the context first; pointers are in the backend's memory;
// tensors are contiguous row-major; `rows × cols` means a 2-D view whose last dimension is cols.
// Primitives check nothing: the autograd ops and layers validate shapes before calling them.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "mnemo/backend/cpu/activation.hpp"
#include "mnemo/backend/cpu/adamw.hpp"
#include "mnemo/backend/cpu/adamw_master.hpp"
#include "mnemo/backend/cpu/attention_head.hpp"
#include "mnemo/backend/cpu/attention_forward.hpp"
#include "mnemo/backend/cpu/context.hpp"
#include "mnemo/backend/cpu/cross_entropy.hpp"
#include "mnemo/backend/cpu/continuous_read.hpp"
#include "mnemo/backend/cpu/density_parameters.hpp"
#include "mnemo/backend/cpu/elementwise.hpp"
#include "mnemo/backend/cpu/embedding.hpp"
#include "mnemo/backend/cpu/gaussian_expectation.hpp"
#include "mnemo/backend/cpu/gemm.hpp"
#include "mnemo/backend/cpu/gemm_bf16.hpp"
#include "mnemo/backend/cpu/layer_norm.hpp"
#include "mnemo/backend/cpu/memformer_writer.hpp"
#include "mnemo/backend/cpu/normalize.hpp"
#include "mnemo/backend/cpu/reduce.hpp"
#include "mnemo/backend/cpu/sigmoid_gate.hpp"
#include "mnemo/backend/cpu/small_gemm.hpp"
#include "mnemo/backend/cpu/softmax.hpp"
#include "mnemo/backend/primitives.hpp"
#include "mnemo/backend/tags.hpp"
#include "mnemo/core/config.hpp"
#include "mnemo/core/precision.hpp"
// bfloat16: the full type (Eigen::bfloat16) in the header-only mode; in a user TU of the compiled
// mode only its name (Eigen is not parsed there): code that makes bfloat16 values includes
// mnemo/core/bfloat16.hpp itself (docs/compile_time.md).
#if MNEMO_COMPILED_BODIES
#include "mnemo/core/bfloat16.hpp"
#else
#include "mnemo/core/bfloat16_fwd.hpp"
#endif

namespace mnemo {

template <>
struct BackendTraits<Cpu> {
  using Context = cpu::CpuContext;
  /// Tensor data can be dereferenced on the host.
  static constexpr bool host_accessible = true;

  static Context& default_context() { return Context::default_context(); }
  static void synchronize(Context&) {}

  // ---- memory ---------------------------------------------------------------------------
  static void copy_from_host(Context&, void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
  static void copy_to_host(Context&, void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
  static void copy_device(Context&, void* dst, const void* src, size_t bytes) { std::memmove(dst, src, bytes); }
  /// `height` rows of `width_bytes`, rows `dst_pitch` / `src_pitch` bytes apart.
  static void copy_2d(Context&, void* dst, size_t dst_pitch, const void* src, size_t src_pitch,
                      size_t width_bytes, size_t height) {
    for (size_t r = 0; r < height; ++r)
      std::memmove(static_cast<char*>(dst) + r * dst_pitch, static_cast<const char*>(src) + r * src_pitch, width_bytes);
  }
  template <class T>
  static void fill(Context&, T* p, int64_t n, T value) { cpu::fill(p, n, value); }
  template <class S, class U>
  static void cast(Context&, int64_t n, const S* x, U* y) { cpu::cast(n, x, y); }

  // ---- linear algebra -------------------------------------------------------------------
  /// C[b] = alpha·op(A[b])·op(B[b]) + beta·C[b], row-major, see cpu/gemm.hpp.
  template <class T>
  static void gemm(Context&, Trans ta, Trans tb, int64_t m, int64_t n, int64_t k,
                   compute_t<T> alpha, const T* A, int64_t lda, int64_t stride_a, const T* B,
                   int64_t ldb, int64_t stride_b, compute_t<T> beta, T* C, int64_t ldc,
                   int64_t stride_c, int64_t batch) {
    if constexpr (std::is_same_v<T, bfloat16>) {  // fp32 sums on bf16 inputs: cpu/gemm_bf16.hpp
      cpu::gemm_bf16_strided_batched<T>(ta, tb, m, n, k, alpha, A, lda, stride_a, B, ldb, stride_b,
                                        beta, C, ldc, stride_c, batch);
    } else {
      // Few rows (the streaming path): the unpacked small-matrix kernel, when it applies.
      if (cpu::small_gemm<T>(ta, tb, m, n, k, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c,
                             batch))
        return;
      cpu::gemm_strided_batched<T>(ta, tb, m, n, k, alpha, A, lda, stride_a, B, ldb, stride_b,
                                   beta, C, ldc, stride_c, batch);
    }
  }

  // ---- attention ------------------------------------------------------------------------
  /// y = softmax(scale·x + ALiBi bias) with masks, over [outer, heads, rows, cols].
  template <class T>
  static void softmax_forward(Context&, const T* x, T* y, const SoftmaxDims& dims,
                              compute_t<T> scale, const SoftmaxMask& mask) {
    cpu::softmax_forward(x, y, dims, scale, mask);
  }
  /// dx = scale·y⊙(dy − <y, dy>) per row.
  template <class T>
  static void softmax_backward(Context&, const T* y, const T* dy, T* dx, int64_t rows,
                               int64_t cols, compute_t<T> scale) {
    cpu::softmax_backward(y, dy, dx, rows, cols, scale);
  }
  /// CPU only (float, double, bfloat16): o = softmax(scale·QKᵀ + mask)·V per (batch row, head) without the
  /// probabilities, for a forward no backward follows; q, k, v, o in the projection layout
  /// [batch, len, ld] (head h at columns h·head_dim), dims = {batch, heads, Lq, Lk}, queries in
  /// blocks of `block` rows (see cpu/attention_forward.hpp). The CUDA backend has no such member:
  /// nn::MultiHeadAttention calls it for Cpu only.
  template <class T>
  static void attention_forward(Context&, const T* q, int64_t ld_q, const T* k, const T* v, int64_t ld_kv, T* o,
                                int64_t ld_o, const SoftmaxDims& dims, int64_t head_dim, compute_t<T> scale,
                                const SoftmaxMask& mask, int64_t block) {
    cpu::attention_forward(q, ld_q, k, v, ld_kv, o, ld_o, dims, head_dim, scale, mask, block);
  }
  /// CPU only: whether attention_head_forward / attention_head_backward take their register tiles
  /// for T and this head width (float, d_h a multiple of 16, the CPU has AVX-512F or AVX2; cpu/attention_kernel.hpp).
  template <class T>
  static bool attention_head_tiles(int64_t head_dim) {
    return cpu::attention_head_tiles<T>(head_dim);
  }
  /// CPU only: the attention part of the saving forward of one (batch row, head) on the calling
  /// thread, P kept, o with row stride ld_o (see cpu/attention_head.hpp); false, having written
  /// nothing, where the tiles do not apply (the caller then takes the GEMM path).
  template <class T>
  static bool attention_head_forward(Context&, const T* q, const T* k, const T* v, T* p, T* o, int64_t ld_o,
                                     int64_t lq, int64_t lk, int64_t head_dim, bool causal, int64_t query_offset,
                                     int64_t block, compute_t<T> scale, const SoftmaxMask& mask) {
    return cpu::attention_head_forward(q, k, v, p, o, ld_o, lq, lk, head_dim, causal, query_offset, block, scale,
                                       mask);
  }
  /// CPU only: the attention part of the backward of one (batch row, head) from the saved
  /// probabilities on the calling thread, dO with row stride ld_do, dQ, dK, dV with ld_grad (see
  /// cpu/attention_head.hpp); false, having written nothing, where the tiles do not apply.
  template <class T>
  static bool attention_head_backward(Context&, const T* p, const T* dO, int64_t ld_do, const T* q, const T* k,
                                      const T* v, T* dQ, T* dK, T* dV, int64_t ld_grad, int64_t lq, int64_t lk,
                                      int64_t head_dim, bool causal, int64_t query_offset, int64_t block,
                                      compute_t<T> scale, compute_t<T> dq_beta) {
    return cpu::attention_head_backward(p, dO, ld_do, q, k, v, dQ, dK, dV, ld_grad, lq, lk, head_dim, causal,
                                        query_offset, block, scale, dq_beta);
  }

  // ---- normalisation --------------------------------------------------------------------
  template <class T>
  static void layer_norm_forward(Context&, const T* x, const T* gamma, const T* beta, T* y,
                                 accumulate_t<T>* mean, accumulate_t<T>* rstd, int64_t rows,
                                 int64_t cols, accumulate_t<T> eps) {
    cpu::layer_norm_forward(x, gamma, beta, y, mean, rstd, rows, cols, eps);
  }
  /// dx written (nullable); dgamma, dbeta accumulated (+=, nullable).
  template <class T>
  static void layer_norm_backward(Context&, const T* dy, const T* x, const T* gamma,
                                  const accumulate_t<T>* mean, const accumulate_t<T>* rstd,
                                  T* dx, T* dgamma, T* dbeta, int64_t rows, int64_t cols) {
    cpu::layer_norm_backward(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, cols);
  }
  /// y = x / max(||x||, eps) per row; norms (nullable) receive ||x||.
  template <class T>
  static void l2_normalize_forward(Context&, const T* x, T* y, accumulate_t<T>* norms,
                                   int64_t rows, int64_t cols, accumulate_t<T> eps) {
    cpu::l2_normalize_forward(x, y, norms, rows, cols, eps);
  }
  template <class T>
  static void l2_normalize_backward(Context&, const T* y, const accumulate_t<T>* norms,
                                    const T* dy, T* dx, int64_t rows, int64_t cols,
                                    accumulate_t<T> eps) {
    cpu::l2_normalize_backward(y, norms, dy, dx, rows, cols, eps);
  }

  // ---- activations ----------------------------------------------------------------------
  /// y = act(x + bias); bias nullable; y may alias x.
  template <class T>
  static void bias_activation_forward(Context&, const T* x, const T* bias, T* y, int64_t rows,
                                      int64_t cols, Activation act) {
    cpu::bias_activation_forward(x, bias, y, rows, cols, act);
  }
  /// dx = dy⊙act'(x + bias); dbias += Σ_rows dx (nullable).
  template <class T>
  static void bias_activation_backward(Context&, const T* x, const T* bias, const T* dy, T* dx,
                                       T* dbias, int64_t rows, int64_t cols, Activation act) {
    cpu::bias_activation_backward(x, bias, dy, dx, dbias, rows, cols, act);
  }

  // ---- loss -----------------------------------------------------------------------------
  template <class T>
  static void cross_entropy_forward(Context&, const T* logits, const int32_t* targets,
                                    const float* weights, accumulate_t<T>* loss_rows,
                                    accumulate_t<T>* lse, int64_t rows, int64_t vocab,
                                    int32_t ignore_index) {
    cpu::cross_entropy_forward(logits, targets, weights, loss_rows, lse, rows, vocab, ignore_index);
  }
  template <class T>
  static void cross_entropy_backward(Context&, const T* logits, const int32_t* targets,
                                     const float* weights, const accumulate_t<T>* lse,
                                     accumulate_t<T> scale, T* dlogits, int64_t rows,
                                     int64_t vocab, int32_t ignore_index) {
    cpu::cross_entropy_backward(logits, targets, weights, lse, scale, dlogits, rows, vocab, ignore_index);
  }

  // ---- embedding ------------------------------------------------------------------------
  template <class T>
  static void embedding_gather(Context&, const T* table, const int32_t* ids, T* out, int64_t n,
                               int64_t dim) {
    cpu::embedding_gather(table, ids, out, n, dim);
  }
  template <class T>
  static void embedding_scatter_add(Context&, const T* dout, const int32_t* ids, T* dtable,
                                    int64_t n, int64_t dim) {
    cpu::embedding_scatter_add(dout, ids, dtable, n, dim);
  }
  /// Number of ids outside [0, vocab) other than `allowed` (an ignore index; any value outside
  /// the int32 range allows none).
  static int64_t count_invalid_ids(Context&, const int32_t* ids, int64_t n, int64_t vocab,
                                   int64_t allowed) {
    int64_t bad = 0;
    for (int64_t i = 0; i < n; ++i) bad += (ids[i] != allowed && (ids[i] < 0 || ids[i] >= vocab)) ? 1 : 0;
    return bad;
  }

  // ---- elementwise ----------------------------------------------------------------------
  template <class T>
  static void axpby(Context&, int64_t n, compute_t<T> alpha, const T* x, compute_t<T> beta, T* y) {
    cpu::axpby(n, alpha, x, beta, y);
  }
  template <class T>
  static void add(Context&, int64_t n, const T* a, const T* b, T* out) { cpu::add(n, a, b, out); }
  template <class T>
  static void mul(Context&, int64_t n, const T* a, const T* b, T* out) { cpu::mul(n, a, b, out); }
  template <class T>
  static void add_row_broadcast(Context&, const T* x, const T* row, T* y, int64_t rows, int64_t cols) {
    cpu::add_row_broadcast(x, row, y, rows, cols, cols);
  }
  template <class T>
  static void dropout(Context&, int64_t n, const T* x, T* y, float p, RngKey key, uint64_t offset) {
    cpu::dropout(n, x, y, p, key, offset);
  }
  template <class T>
  static void permute_0213(Context&, const T* x, T* y, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    cpu::permute_0213(x, y, d0, d1, d2, d3);
  }
  /// out[r] = select[r] ? a[r] : b[r] (rows of `cols`); a_stride 0 broadcasts one row of a.
  /// `select` is in host memory.
  template <class T>
  static void select_rows(Context&, const uint8_t* select, const T* a, int64_t a_stride,
                          const T* b, T* out, int64_t rows, int64_t cols) {
    cpu::select_rows(select, a, a_stride, b, out, rows, cols);
  }

  // ---- reductions (results in host memory) ----------------------------------------------
  template <class T>
  static double sum(Context&, const T* x, int64_t n) { return cpu::sum(x, n); }
  template <class T>
  static double dot(Context&, const T* x, const T* y, int64_t n) { return cpu::dot(x, y, n); }
  template <class T>
  static double sum_squares(Context&, const T* x, int64_t n) { return cpu::sum_squares(x, n); }
  template <class T>
  static double max_abs(Context&, const T* x, int64_t n) { return cpu::max_abs(x, n); }
  template <class T>
  static int64_t count_nonfinite(Context&, const T* x, int64_t n) { return cpu::count_nonfinite(x, n); }
  /// out[c] = Σ_r x[r, c] (accumulate: +=).
  template <class T>
  static void sum_rows(Context&, const T* x, T* out, int64_t rows, int64_t cols, bool accumulate) {
    cpu::sum_rows(x, out, rows, cols, accumulate);
  }

  // ---- ∞-former continuous attention (infinite_former.md §4, §6, §7) ----------------------
  /// r[i, j] = N(mu_i; centres_j, sigma2_i + widths_sq_j) over [n, basis]; compute_t<T> inside.
  template <class T>
  static void gaussian_expectation_forward(Context&, const compute_t<T>* mu, const compute_t<T>* sigma2,
                                           const compute_t<T>* centres, const compute_t<T>* widths_sq, T* r,
                                           int64_t n, int64_t basis) {
    cpu::gaussian_expectation_forward<T>(mu, sigma2, centres, widths_sq, r, n, basis);
  }
  /// dmu_i = Σ_j dr_ij ∂r_ij/∂mu_i, dsigma2_i = Σ_j dr_ij ∂r_ij/∂sigma2_i (written, not accumulated).
  template <class T>
  static void gaussian_expectation_backward(Context&, const compute_t<T>* mu, const compute_t<T>* sigma2,
                                            const compute_t<T>* centres, const compute_t<T>* widths_sq,
                                            const T* dr, compute_t<T>* dmu, compute_t<T>* dsigma2, int64_t n,
                                            int64_t basis) {
    cpu::gaussian_expectation_backward<T>(mu, sigma2, centres, widths_sq, dr, dmu, dsigma2, n, basis);
  }
  /// mu = sigmoid(a), sigma2 = max(softplus(b), eps), kl (nullable) = ½(σ²/σ₀² − ln(σ²/σ₀²) − 1).
  template <class T>
  static void density_parameters_forward(Context&, const T* a, const T* b, compute_t<T>* mu,
                                         compute_t<T>* sigma2, compute_t<T>* kl, int64_t n,
                                         compute_t<T> eps, compute_t<T> sigma0_sq) {
    cpu::density_parameters_forward<T>(a, b, mu, sigma2, kl, n, eps, sigma0_sq);
  }
  /// da, db (written) from dmu, dsigma2 plus kl_weight times the KL gradient; db = 0 where clamped.
  template <class T>
  static void density_parameters_backward(Context&, const T* b, const compute_t<T>* mu,
                                          const compute_t<T>* sigma2, const compute_t<T>* dmu,
                                          const compute_t<T>* dsigma2, T* da, T* db, int64_t n,
                                          compute_t<T> eps, compute_t<T> sigma0_sq, compute_t<T> kl_weight) {
    cpu::density_parameters_backward<T>(b, mu, sigma2, dmu, dsigma2, da, db, n, eps, sigma0_sq, kl_weight);
  }
  /// The fused read of backend/continuous_read_rule.hpp: scores a, b → mu, sigma2, kl (nullable),
  /// r [queries, basis] and context [queries, head_dim] against v_heads [queries/per_block, basis, head_dim].
  template <class T>
  static void continuous_read_forward(Context&, const T* a, const T* b, const compute_t<T>* centres,
                                      const compute_t<T>* widths_sq, const T* v_heads, compute_t<T>* mu,
                                      compute_t<T>* sigma2, compute_t<T>* kl, T* r, T* context, ContinuousReadDims dims,
                                      compute_t<T> eps, compute_t<T> sigma0_sq) {
    cpu::continuous_read_forward<T>(a, b, centres, widths_sq, v_heads, mu, sigma2, kl, r, context, dims, eps, sigma0_sq);
  }
  /// Its backward: da, db (written) from dcontext, through r (recomputed) and the densities.
  template <class T>
  static void continuous_read_backward(Context&, const T* b, const compute_t<T>* mu, const compute_t<T>* sigma2,
                                       const compute_t<T>* centres, const compute_t<T>* widths_sq, const T* v_heads,
                                       const T* dcontext, T* da, T* db, ContinuousReadDims dims, compute_t<T> eps,
                                       compute_t<T> sigma0_sq, compute_t<T> kl_weight) {
    cpu::continuous_read_backward<T>(b, mu, sigma2, centres, widths_sq, v_heads, dcontext, da, db, dims, eps, sigma0_sq,
                                     kl_weight);
  }
  /// y = x ⊙ sigmoid(z).
  template <class T>
  static void sigmoid_gate_forward(Context&, int64_t n, const T* x, const T* z, T* y) {
    cpu::sigmoid_gate_forward(n, x, z, y);
  }
  /// dz = dy ⊙ x ⊙ s(1 − s), s = sigmoid(z) (written).
  template <class T>
  static void sigmoid_gate_backward(Context&, int64_t n, const T* x, const T* z, const T* dy, T* dz) {
    cpu::sigmoid_gate_backward(n, x, z, dy, dz);
  }

  // ---- optimizer ------------------------------------------------------------------------
  template <class T>
  static void adamw_update(Context&, T* param, const T* grad, master_t<T>* m, master_t<T>* v,
                           int64_t n, const AdamWStep& step) {
    cpu::adamw_update(param, grad, m, v, n, step);
  }
  /// The same step on a master copy (mixed precision): master updated, param = master as T.
  template <class T>
  static void adamw_update_master(Context&, T* param, const T* grad, master_t<T>* master, master_t<T>* m,
                                  master_t<T>* v, int64_t n, const AdamWStep& step) {
    cpu::adamw_update_master(param, grad, master, m, v, n, step);
  }

  // ---- Memformer slot-attention writer (memformer.md §2.4, §3) ----------------------------
  /// Self logit + L token logits per slot and head, scaled by `scale` = 1/(τ·√d_h), padded
  /// tokens masked, softmax; m_out = p_self·m + Σ_l p_l·v_tok[l]. Layouts: see
  /// MemformerWriterDims; `padding` [batch, tokens] (nullable, nonzero = padding); `probs`
  /// receives [batch, heads, slots, 1+tokens].
  template <class T>
  static void memformer_writer_forward(Context&, const T* q, const T* k_self, const T* k_tok,
                                       const T* v_tok, const T* m, const uint8_t* padding, T* probs,
                                       T* m_out, const MemformerWriterDims& dims, compute_t<T> scale) {
    cpu::memformer_writer_forward(q, k_self, k_tok, v_tok, m, padding, probs, m_out, dims, scale);
  }
  /// Gradients of the writer core from dm_out (all outputs written, none accumulated): dq,
  /// dk_self, dm (direct self-value path) [batch, slots, d]; dk_tok, dv_tok [batch, tokens, d].
  template <class T>
  static void memformer_writer_backward(Context&, const T* q, const T* k_self, const T* k_tok,
                                        const T* v_tok, const T* m, const T* probs, const T* dm_out,
                                        T* dq, T* dk_self, T* dk_tok, T* dv_tok, T* dm,
                                        const MemformerWriterDims& dims, compute_t<T> scale) {
    cpu::memformer_writer_backward(q, k_self, k_tok, v_tok, m, probs, dm_out, dq, dk_self, dk_tok, dv_tok,
                                   dm, dims, scale);
  }
};

}  // namespace mnemo
