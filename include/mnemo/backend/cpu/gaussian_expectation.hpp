// mnemo/backend/cpu/gaussian_expectation.hpp — the ∞-former's continuous-attention kernel
// (infinite_former.md §6, §7): the expectation of every Gaussian basis function under a query's
// density N(μ, σ²), which is again a Gaussian density,
//   r[i, j] = ∫ N(t; μ_i, σ²_i) ψ_j(t) dt = N(μ_i; c_j, v_ij) = exp(−Δ²/(2v)) / sqrt(2π v),
//   Δ = μ_i − c_j,  v = σ²_i + s²_j            (c_j, s_j: centre and width of basis function j)
// and its backward from dr to (dμ, dσ²):
//   ∂r/∂μ = −r Δ / v,   ∂r/∂σ² = r (Δ²/v² − 1/v) / 2,   dμ_i = Σ_j dr_ij ∂r_ij/∂μ_i, ...
// Each entry is the formula shared with the CUDA backend (backend/gaussian_expectation_rule.hpp),
// computed in compute_t<T> (≥ fp32), one query per loop iteration: deterministic, no atomics.
// The backward recomputes r instead of reading it back (cheaper than a stored half-precision r
// and more accurate).
#pragma once

#include <cstdint>

#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/backend/gaussian_expectation_rule.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cpu {

/// r [n, basis] from mu, sigma2 [n] and the basis centres, squared widths [basis].
template <class T>
void gaussian_expectation_forward(const compute_t<T>* mu, const compute_t<T>* sigma2,
                                  const compute_t<T>* centres, const compute_t<T>* widths_sq, T* r,
                                  int64_t n, int64_t basis) {
  parallel_for(n, 24 * basis, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      T* ri = r + i * basis;
      for (int64_t j = 0; j < basis; ++j)
        ri[j] = static_cast<T>(gaussian_expectation_entry(mu[i], sigma2[i], centres[j], widths_sq[j]));
    }
  });
}

/// dmu, dsigma2 [n] (written, not accumulated) from dr [n, basis].
template <class T>
void gaussian_expectation_backward(const compute_t<T>* mu, const compute_t<T>* sigma2,
                                   const compute_t<T>* centres, const compute_t<T>* widths_sq,
                                   const T* dr, compute_t<T>* dmu, compute_t<T>* dsigma2, int64_t n,
                                   int64_t basis) {
  using C = compute_t<T>;
  parallel_for(n, 30 * basis, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T* dri = dr + i * basis;
      C gm = 0, gs = 0;
      for (int64_t j = 0; j < basis; ++j)
        gaussian_expectation_entry_backward(mu[i], sigma2[i], centres[j], widths_sq[j], static_cast<C>(dri[j]), gm, gs);
      dmu[i] = gm;
      dsigma2[i] = gs;
    }
  });
}

}  // namespace mnemo::cpu
