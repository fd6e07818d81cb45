// mnemo/backend/cuda/traits.cuh — BackendTraits<Cuda>: the primitives of BackendTraits<Cpu>
// (mnemo/backend/cpu.hpp), member for member with the same signatures and semantics, on CUDA
// kernels and cuBLAS, for float, double, __half and __nv_bfloat16. Every launch goes to the
// context's stream.
//
// Synchronisation: everything is asynchronous except
//   copy_to_host, sum, dot, sum_squares, max_abs, count_nonfinite, count_invalid_ids
//     (they return host values: they SYNCHRONISE the context's stream), and
//   copy_from_host from page-locked host memory (synchronises so that the caller may reuse it).
// Determinism: no float atomics; every reduction runs in an order fixed by the shape, so the
// same inputs give bitwise the same outputs run after run (cuBLAS: same GPU model and library).
#pragma once

#include <cstddef>
#include <cstdint>

#include "mnemo/backend/cuda/activation.cuh"
#include "mnemo/backend/cuda/adamw.cuh"
#include "mnemo/backend/cuda/context.cuh"
#include "mnemo/backend/cuda/cross_entropy.cuh"
#include "mnemo/backend/cuda/continuous_read.cuh"
#include "mnemo/backend/cuda/density_parameters.cuh"
#include "mnemo/backend/cuda/elementwise.cuh"
#include "mnemo/backend/cuda/embedding.cuh"
#include "mnemo/backend/cuda/gaussian_expectation.cuh"
#include "mnemo/backend/cuda/gemm.cuh"
#include "mnemo/backend/cuda/half.cuh"
#include "mnemo/backend/cuda/layer_norm.cuh"
#include "mnemo/backend/cuda/memformer_writer.cuh"
#include "mnemo/backend/cuda/memory.cuh"
#include "mnemo/backend/cuda/normalize.cuh"
#include "mnemo/backend/cuda/reduce.cuh"
#include "mnemo/backend/cuda/sigmoid_gate.cuh"
#include "mnemo/backend/cuda/softmax.cuh"
#include "mnemo/backend/primitives.hpp"
#include "mnemo/backend/tags.hpp"
#include "mnemo/core/precision.hpp"
#include "mnemo/core/rng.hpp"

namespace mnemo {

template <>
struct BackendTraits<Cuda> {
  using Context = cuda::CudaContext;
  /// Tensor data lives in device memory: no host element access.
  static constexpr bool host_accessible = false;

  static Context& default_context() { return Context::default_context(); }
  static void synchronize(Context& ctx) { ctx.synchronize(); }

  // ---- memory ---------------------------------------------------------------------------
  static void copy_from_host(Context& ctx, void* dst, const void* src, size_t bytes) {
    cuda::copy_from_host(ctx, dst, src, bytes);
  }
  /// SYNCHRONISES.
  static void copy_to_host(Context& ctx, void* dst, const void* src, size_t bytes) {
    cuda::copy_to_host(ctx, dst, src, bytes);
  }
  static void copy_device(Context& ctx, void* dst, const void* src, size_t bytes) {
    cuda::copy_device(ctx, dst, src, bytes);
  }
  static void copy_2d(Context& ctx, void* dst, size_t dst_pitch, const void* src, size_t src_pitch,
                      size_t width_bytes, size_t height) {
    cuda::copy_2d(ctx, dst, dst_pitch, src, src_pitch, width_bytes, height);
  }
  template <class T>
  static void fill(Context& ctx, T* p, int64_t n, T value) { cuda::fill(ctx, p, n, value); }
  template <class S, class U>
  static void cast(Context& ctx, int64_t n, const S* x, U* y) { cuda::cast(ctx, n, x, y); }

  // ---- linear algebra -------------------------------------------------------------------
  template <class T>
  static void gemm(Context& ctx, Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, compute_t<T> alpha,
                   const T* A, int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b,
                   compute_t<T> beta, T* C, int64_t ldc, int64_t stride_c, int64_t batch) {
    cuda::gemm<T>(ctx, ta, tb, m, n, k, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c, batch);
  }

  // ---- attention ------------------------------------------------------------------------
  template <class T>
  static void softmax_forward(Context& ctx, const T* x, T* y, const SoftmaxDims& dims, compute_t<T> scale,
                              const SoftmaxMask& mask) {
    cuda::softmax_forward(ctx, x, y, dims, scale, mask);
  }
  template <class T>
  static void softmax_backward(Context& ctx, const T* y, const T* dy, T* dx, int64_t rows, int64_t cols,
                               compute_t<T> scale) {
    cuda::softmax_backward(ctx, y, dy, dx, rows, cols, scale);
  }

  // ---- normalisation --------------------------------------------------------------------
  template <class T>
  static void layer_norm_forward(Context& ctx, const T* x, const T* gamma, const T* beta, T* y,
                                 accumulate_t<T>* mean, accumulate_t<T>* rstd, int64_t rows, int64_t cols,
                                 accumulate_t<T> eps) {
    cuda::layer_norm_forward(ctx, x, gamma, beta, y, mean, rstd, rows, cols, eps);
  }
  template <class T>
  static void layer_norm_backward(Context& ctx, const T* dy, const T* x, const T* gamma,
                                  const accumulate_t<T>* mean, const accumulate_t<T>* rstd, T* dx, T* dgamma,
                                  T* dbeta, int64_t rows, int64_t cols) {
    cuda::layer_norm_backward(ctx, dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, cols);
  }
  template <class T>
  static void l2_normalize_forward(Context& ctx, const T* x, T* y, accumulate_t<T>* norms, int64_t rows,
                                   int64_t cols, accumulate_t<T> eps) {
    cuda::l2_normalize_forward(ctx, x, y, norms, rows, cols, eps);
  }
  template <class T>
  static void l2_normalize_backward(Context& ctx, const T* y, const accumulate_t<T>* norms, const T* dy, T* dx,
                                    int64_t rows, int64_t cols, accumulate_t<T> eps) {
    cuda::l2_normalize_backward(ctx, y, norms, dy, dx, rows, cols, eps);
  }

  // ---- activations ----------------------------------------------------------------------
  template <class T>
  static void bias_activation_forward(Context& ctx, const T* x, const T* bias, T* y, int64_t rows, int64_t cols,
                                      Activation act) {
    cuda::bias_activation_forward(ctx, x, bias, y, rows, cols, act);
  }
  template <class T>
  static void bias_activation_backward(Context& ctx, const T* x, const T* bias, const T* dy, T* dx, T* dbias,
                                       int64_t rows, int64_t cols, Activation act) {
    cuda::bias_activation_backward(ctx, x, bias, dy, dx, dbias, rows, cols, act);
  }

  // ---- loss -----------------------------------------------------------------------------
  template <class T>
  static void cross_entropy_forward(Context& ctx, const T* logits, const int32_t* targets, const float* weights,
                                    accumulate_t<T>* loss_rows, accumulate_t<T>* lse, int64_t rows, int64_t vocab,
                                    int32_t ignore_index) {
    cuda::cross_entropy_forward(ctx, logits, targets, weights, loss_rows, lse, rows, vocab, ignore_index);
  }
  template <class T>
  static void cross_entropy_backward(Context& ctx, const T* logits, const int32_t* targets, const float* weights,
                                     const accumulate_t<T>* lse, accumulate_t<T> scale, T* dlogits, int64_t rows,
                                     int64_t vocab, int32_t ignore_index) {
    cuda::cross_entropy_backward(ctx, logits, targets, weights, lse, scale, dlogits, rows, vocab, ignore_index);
  }

  // ---- embedding ------------------------------------------------------------------------
  template <class T>
  static void embedding_gather(Context& ctx, const T* table, const int32_t* ids, T* out, int64_t n, int64_t dim) {
    cuda::embedding_gather(ctx, table, ids, out, n, dim);
  }
  template <class T>
  static void embedding_scatter_add(Context& ctx, const T* dout, const int32_t* ids, T* dtable, int64_t n,
                                    int64_t dim) {
    cuda::embedding_scatter_add(ctx, dout, ids, dtable, n, dim);
  }
  /// SYNCHRONISES.
  static int64_t count_invalid_ids(Context& ctx, const int32_t* ids, int64_t n, int64_t vocab, int64_t allowed) {
    return cuda::count_invalid_ids(ctx, ids, n, vocab, allowed);
  }

  // ---- elementwise ----------------------------------------------------------------------
  template <class T>
  static void axpby(Context& ctx, int64_t n, compute_t<T> alpha, const T* x, compute_t<T> beta, T* y) {
    cuda::axpby<T>(ctx, n, alpha, x, beta, y);
  }
  template <class T>
  static void add(Context& ctx, int64_t n, const T* a, const T* b, T* out) { cuda::add(ctx, n, a, b, out); }
  template <class T>
  static void mul(Context& ctx, int64_t n, const T* a, const T* b, T* out) { cuda::mul(ctx, n, a, b, out); }
  template <class T>
  static void add_row_broadcast(Context& ctx, const T* x, const T* row, T* y, int64_t rows, int64_t cols) {
    cuda::add_row_broadcast(ctx, x, row, y, rows, cols);
  }
  template <class T>
  static void dropout(Context& ctx, int64_t n, const T* x, T* y, float p, RngKey key, uint64_t offset) {
    cuda::dropout(ctx, n, x, y, p, key, offset);
  }
  template <class T>
  static void permute_0213(Context& ctx, const T* x, T* y, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    cuda::permute_0213(ctx, x, y, d0, d1, d2, d3);
  }
  /// `select` is in host memory.
  template <class T>
  static void select_rows(Context& ctx, const uint8_t* select, const T* a, int64_t a_stride, const T* b, T* out,
                          int64_t rows, int64_t cols) {
    cuda::select_rows(ctx, select, a, a_stride, b, out, rows, cols);
  }

  // ---- reductions (results in host memory: these SYNCHRONISE) ---------------------------
  template <class T>
  static double sum(Context& ctx, const T* x, int64_t n) { return cuda::sum(ctx, x, n); }
  template <class T>
  static double dot(Context& ctx, const T* x, const T* y, int64_t n) { return cuda::dot(ctx, x, y, n); }
  template <class T>
  static double sum_squares(Context& ctx, const T* x, int64_t n) { return cuda::sum_squares(ctx, x, n); }
  template <class T>
  static double max_abs(Context& ctx, const T* x, int64_t n) { return cuda::max_abs(ctx, x, n); }
  template <class T>
  static int64_t count_nonfinite(Context& ctx, const T* x, int64_t n) { return cuda::count_nonfinite(ctx, x, n); }
  /// out[c] = Σ_r x[r, c] (accumulate: +=). Asynchronous.
  template <class T>
  static void sum_rows(Context& ctx, const T* x, T* out, int64_t rows, int64_t cols, bool accumulate) {
    cuda::sum_rows(ctx, x, out, rows, cols, accumulate);
  }

  // ---- ∞-former continuous attention (infinite_former.md §4, §6, §7) ----------------------
  template <class T>
  static void gaussian_expectation_forward(Context& ctx, const compute_t<T>* mu, const compute_t<T>* sigma2,
                                           const compute_t<T>* centres, const compute_t<T>* widths_sq, T* r,
                                           int64_t n, int64_t basis) {
    cuda::gaussian_expectation_forward<T>(ctx, mu, sigma2, centres, widths_sq, r, n, basis);
  }
  template <class T>
  static void gaussian_expectation_backward(Context& ctx, const compute_t<T>* mu, const compute_t<T>* sigma2,
                                            const compute_t<T>* centres, const compute_t<T>* widths_sq,
                                            const T* dr, compute_t<T>* dmu, compute_t<T>* dsigma2, int64_t n,
                                            int64_t basis) {
    cuda::gaussian_expectation_backward<T>(ctx, mu, sigma2, centres, widths_sq, dr, dmu, dsigma2, n, basis);
  }
  template <class T>
  static void density_parameters_forward(Context& ctx, const T* a, const T* b, compute_t<T>* mu,
                                         compute_t<T>* sigma2, compute_t<T>* kl, int64_t n, compute_t<T> eps,
                                         compute_t<T> sigma0_sq) {
    cuda::density_parameters_forward<T>(ctx, a, b, mu, sigma2, kl, n, eps, sigma0_sq);
  }
  template <class T>
  static void density_parameters_backward(Context& ctx, const T* b, const compute_t<T>* mu,
                                          const compute_t<T>* sigma2, const compute_t<T>* dmu,
                                          const compute_t<T>* dsigma2, T* da, T* db, int64_t n, compute_t<T> eps,
                                          compute_t<T> sigma0_sq, compute_t<T> kl_weight) {
    cuda::density_parameters_backward<T>(ctx, b, mu, sigma2, dmu, dsigma2, da, db, n, eps, sigma0_sq, kl_weight);
  }
  template <class T>
  static void continuous_read_forward(Context& ctx, const T* a, const T* b, const compute_t<T>* centres,
                                      const compute_t<T>* widths_sq, const T* v_heads, compute_t<T>* mu,
                                      compute_t<T>* sigma2, compute_t<T>* kl, T* r, T* context, ContinuousReadDims dims,
                                      compute_t<T> eps, compute_t<T> sigma0_sq) {
    cuda::continuous_read_forward<T>(ctx, a, b, centres, widths_sq, v_heads, mu, sigma2, kl, r, context, dims, eps,
                                     sigma0_sq);
  }
  template <class T>
  static void continuous_read_backward(Context& ctx, const T* b, const compute_t<T>* mu, const compute_t<T>* sigma2,
                                       const compute_t<T>* centres, const compute_t<T>* widths_sq, const T* v_heads,
                                       const T* dcontext, T* da, T* db, ContinuousReadDims dims, compute_t<T> eps,
                                       compute_t<T> sigma0_sq, compute_t<T> kl_weight) {
    cuda::continuous_read_backward<T>(ctx, b, mu, sigma2, centres, widths_sq, v_heads, dcontext, da, db, dims, eps,
                                      sigma0_sq, kl_weight);
  }
  template <class T>
  static void sigmoid_gate_forward(Context& ctx, int64_t n, const T* x, const T* z, T* y) {
    cuda::sigmoid_gate_forward(ctx, n, x, z, y);
  }
  template <class T>
  static void sigmoid_gate_backward(Context& ctx, int64_t n, const T* x, const T* z, const T* dy, T* dz) {
    cuda::sigmoid_gate_backward(ctx, n, x, z, dy, dz);
  }

  // ---- optimizer ------------------------------------------------------------------------
  template <class T>
  static void adamw_update(Context& ctx, T* param, const T* grad, master_t<T>* m, master_t<T>* v, int64_t n,
                           const AdamWStep& step) {
    cuda::adamw_update(ctx, param, grad, m, v, n, step);
  }
  /// AdamW on a master copy (fp32 for half types): master updated, param = master rounded to T.
  template <class T>
  static void adamw_update_master(Context& ctx, T* param, const T* grad, master_t<T>* master, master_t<T>* m,
                                  master_t<T>* v, int64_t n, const AdamWStep& step) {
    cuda::adamw_update_master(ctx, param, grad, master, m, v, n, step);
  }

  // ---- Memformer slot-attention writer (memformer.md §2.4, §3) ----------------------------
  /// `padding` [batch, tokens] is in device memory (nullable).
  template <class T>
  static void memformer_writer_forward(Context& ctx, const T* q, const T* k_self, const T* k_tok, const T* v_tok,
                                       const T* m, const uint8_t* padding, T* probs, T* m_out,
                                       const MemformerWriterDims& dims, compute_t<T> scale) {
    cuda::memformer_writer_forward(ctx, q, k_self, k_tok, v_tok, m, padding, probs, m_out, dims, scale);
  }
  template <class T>
  static void memformer_writer_backward(Context& ctx, const T* q, const T* k_self, const T* k_tok, const T* v_tok,
                                        const T* m, const T* probs, const T* dm_out, T* dq, T* dk_self, T* dk_tok,
                                        T* dv_tok, T* dm, const MemformerWriterDims& dims, compute_t<T> scale) {
    cuda::memformer_writer_backward(ctx, q, k_self, k_tok, v_tok, m, probs, dm_out, dq, dk_self, dk_tok, dv_tok, dm,
                                    dims, scale);
  }
};

}  // namespace mnemo
