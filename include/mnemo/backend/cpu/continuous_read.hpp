// mnemo/backend/cpu/continuous_read.hpp — the ∞-former's long-term-memory read fused per query
// (infinite_former.md §6, §7): scores → (μ, σ², KL) → r → context, and its backward from the
// context gradient to the score gradients, by the formulas shared with the CUDA backend
// (backend/continuous_read_rule.hpp). One query per loop iteration, sums in fixed order.
// ContinuousMemory uses the unfused chain (density, expectation, GEMM) on the CPU, where the
// blocked GEMM is faster; this implementation is the host reference of the CUDA kernel.
#pragma once

#include <cstdint>

#include "mnemo/backend/continuous_read_rule.hpp"
#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cpu {

/// mu, sigma2, kl (nullable) [queries]; r [queries, basis] and context [queries, head_dim] in T.
template <class T>
void continuous_read_forward(const T* a, const T* b, const compute_t<T>* centres, const compute_t<T>* widths_sq,
                             const T* v_heads, compute_t<T>* mu, compute_t<T>* sigma2, compute_t<T>* kl, T* r,
                             T* context, ContinuousReadDims dims, compute_t<T> eps, compute_t<T> sigma0_sq) {
  using C = compute_t<T>;
  const DensityParametersRule<C> rule{eps, sigma0_sq};
  const int64_t N = dims.basis, dh = dims.head_dim;
  parallel_for(dims.queries, 30 * N * (dh + 1), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const C m = rule.mu(static_cast<C>(a[i])), s2 = rule.sigma2(static_cast<C>(b[i]));
      mu[i] = m;
      sigma2[i] = s2;
      if (kl) kl[i] = rule.kl(s2);
      T* ri = r + i * N;
      for (int64_t j = 0; j < N; ++j) ri[j] = static_cast<T>(gaussian_expectation_entry(m, s2, centres[j], widths_sq[j]));
      const T* v = v_heads + (i / dims.per_block) * N * dh;
      for (int64_t d = 0; d < dh; ++d)
        context[i * dh + d] = static_cast<T>(
            ordered_dot<C>(N, [&](int64_t j) { return static_cast<C>(ri[j]) * static_cast<C>(v[j * dh + d]); }));
    }
  });
}

/// da, db [queries] (written) from dcontext [queries, head_dim]; kl_weight κ adds the KL gradient.
template <class T>
void continuous_read_backward(const T* b, const compute_t<T>* mu, const compute_t<T>* sigma2,
                              const compute_t<T>* centres, const compute_t<T>* widths_sq, const T* v_heads,
                              const T* dcontext, T* da, T* db, ContinuousReadDims dims, compute_t<T> eps,
                              compute_t<T> sigma0_sq, compute_t<T> kl_weight) {
  using C = compute_t<T>;
  const DensityParametersRule<C> rule{eps, sigma0_sq};
  const int64_t N = dims.basis, dh = dims.head_dim;
  parallel_for(dims.queries, 30 * N * (dh + 1), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T* v = v_heads + (i / dims.per_block) * N * dh;
      const T* dc = dcontext + i * dh;
      C dmu = 0, ds2 = 0;
      for (int64_t j = 0; j < N; ++j) {
        const C dr = ordered_dot<C>(dh, [&](int64_t d) { return static_cast<C>(dc[d]) * static_cast<C>(v[j * dh + d]); });
        gaussian_expectation_entry_backward(mu[i], sigma2[i], centres[j], widths_sq[j], dr, dmu, ds2);
      }
      const auto g = continuous_read_score_gradients(rule, static_cast<C>(b[i]), mu[i], sigma2[i], dmu, ds2, kl_weight);
      da[i] = static_cast<T>(g.da);
      db[i] = static_cast<T>(g.db);
    }
  });
}

}  // namespace mnemo::cpu
