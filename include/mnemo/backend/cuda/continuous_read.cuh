// mnemo/backend/cuda/continuous_read.cuh — the ∞-former's long-term-memory read fused into one
// kernel per direction (infinite_former.md §6, §7), by the per-query formulas shared with the
// CPU (backend/continuous_read_rule.hpp), in compute_t<T>:
//   forward:  one thread group per query: μ, σ², KL from the two scores; r_j (written: the value
//             gradient dV_h = rᵀ dc is a GEMM that needs it); then c_d = Σ_j r_j V[j, d] with
//             the group's threads over d, each summing j in increasing order;
//   backward: one thread group per query: dr_j = Σ_d dc_d V[j, d] (never written), the entry
//             terms of (dμ, dσ²) summed over j by the group's fixed-order reduction, then
//             (da, db). r is recomputed.
// Replaces density_parameters → gaussian_expectation → batched GEMM (forward) and batched GEMM
// → gaussian_expectation_backward → density_parameters_backward (backward): r is written once
// and read once, dr never reaches memory. Deterministic: no atomics, every order fixed by the
// shape (the group is a warp up to 1024 columns, a block above: launch_rows).
#pragma once

#include <cstdint>

#include "mnemo/backend/continuous_read_rule.hpp"
#include "mnemo/backend/cuda/context.cuh"
#include "mnemo/backend/cuda/half.cuh"
#include "mnemo/backend/cuda/rows.cuh"
#include "mnemo/backend/cuda/thread_group.cuh"
#include "mnemo/core/precision.hpp"

namespace mnemo::cuda {

namespace detail_continuous_read {

template <class T>
struct Forward {
  using C = compute_t<T>;
  const T* a;
  const T* b;
  const C* centres;
  const C* widths_sq;
  const T* v_heads;
  C* mu;
  C* sigma2;
  C* kl;
  T* r;
  T* context;
  ContinuousReadDims dims;
  DensityParametersRule<C> rule;

  template <int K>
  __device__ void operator()(int64_t i, const ThreadGroup<K>& g) const {
    const int64_t N = dims.basis, dh = dims.head_dim;
    const C m = rule.mu(convert<C>(a[i])), s2 = rule.sigma2(convert<C>(b[i]));
    if (g.rank == 0) {
      mu[i] = m;
      sigma2[i] = s2;
      if (kl) kl[i] = rule.kl(s2);
    }
    T* ri = r + i * N;
    for (int64_t j = g.rank; j < N; j += K) ri[j] = convert<T>(gaussian_expectation_entry(m, s2, centres[j], widths_sq[j]));
    g.sync();  // every r_j of the query is written before any context entry reads it
    const T* v = v_heads + (i / dims.per_block) * N * dh;
    for (int64_t d = g.rank; d < dh; d += K)
      context[i * dh + d] =
          convert<T>(ordered_dot<C>(N, [&](int64_t j) { return convert<C>(ri[j]) * convert<C>(v[j * dh + d]); }));
  }
};

template <class T>
struct Backward {
  using C = compute_t<T>;
  const T* b;
  const C* mu;
  const C* sigma2;
  const C* centres;
  const C* widths_sq;
  const T* v_heads;
  const T* dcontext;
  T* da;
  T* db;
  ContinuousReadDims dims;
  DensityParametersRule<C> rule;
  C kl_weight;

  template <int K>
  __device__ void operator()(int64_t i, const ThreadGroup<K>& g) const {
    const int64_t N = dims.basis, dh = dims.head_dim;
    const C m = mu[i], s2 = sigma2[i];
    const T* v = v_heads + (i / dims.per_block) * N * dh;
    const T* dc = dcontext + i * dh;
    const SumPair<C> total = g.template sum<SumPair<C>>(N, [&](int64_t j) {
      const C dr = ordered_dot<C>(dh, [&](int64_t d) { return convert<C>(dc[d]) * convert<C>(v[j * dh + d]); });
      SumPair<C> t{C(0), C(0)};
      gaussian_expectation_entry_backward(m, s2, centres[j], widths_sq[j], dr, t.a, t.b);
      return t;
    });
    if (g.rank == 0) {
      const auto grads = continuous_read_score_gradients(rule, convert<C>(b[i]), m, s2, total.a, total.b, kl_weight);
      da[i] = convert<T>(grads.da);
      db[i] = convert<T>(grads.db);
    }
  }
};

}  // namespace detail_continuous_read

/// mu, sigma2, kl (nullable) [queries], r [queries, basis], context [queries, head_dim] from the
/// scores a, b [queries] and v_heads [queries / per_block, basis, head_dim].
template <class T>
void continuous_read_forward(CudaContext& ctx, const T* a, const T* b, const compute_t<T>* centres,
                             const compute_t<T>* widths_sq, const T* v_heads, compute_t<T>* mu, compute_t<T>* sigma2,
                             compute_t<T>* kl, T* r, T* context, ContinuousReadDims dims, compute_t<T> eps,
                             compute_t<T> sigma0_sq) {
  const int64_t cols = dims.basis > dims.head_dim ? dims.basis : dims.head_dim;
  launch_rows(ctx, dims.queries, cols,
              detail_continuous_read::Forward<T>{a, b, centres, widths_sq, v_heads, mu, sigma2, kl, r, context, dims,
                                                 DensityParametersRule<compute_t<T>>{eps, sigma0_sq}},
              "continuous_read_forward");
}

/// da, db [queries] (written) from dcontext [queries, head_dim].
template <class T>
void continuous_read_backward(CudaContext& ctx, const T* b, const compute_t<T>* mu, const compute_t<T>* sigma2,
                              const compute_t<T>* centres, const compute_t<T>* widths_sq, const T* v_heads,
                              const T* dcontext, T* da, T* db, ContinuousReadDims dims, compute_t<T> eps,
                              compute_t<T> sigma0_sq, compute_t<T> kl_weight) {
  launch_rows(ctx, dims.queries, dims.basis,
              detail_continuous_read::Backward<T>{b, mu, sigma2, centres, widths_sq, v_heads, dcontext, da, db, dims,
                                                  DensityParametersRule<compute_t<T>>{eps, sigma0_sq}, kl_weight},
              "continuous_read_backward");
}

}  // namespace mnemo::cuda
