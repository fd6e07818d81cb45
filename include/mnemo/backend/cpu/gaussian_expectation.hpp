// mnemo/backend/cpu/gaussian_expectation.hpp — the ∞-former's continuous-attention kernel
// (infinite_former.md §6, §7): the expectation of every Gaussian basis function under a query's
// density N(μ, σ²), which is again a Gaussian density,
//   r[i, j] = ∫ N(t; μ_i, σ²_i) ψ_j(t) dt = N(μ_i; c_j, v_ij) = exp(−Δ²/(2v)) / sqrt(2π v),
//   Δ = μ_i − c_j,  v = σ²_i + s²_j            (c_j, s_j: centre and width of basis function j)
// and its backward from dr to (dμ, dσ²):
//   ∂r/∂μ = −r Δ / v,   ∂r/∂σ² = r (Δ²/v² − 1/v) / 2,   dμ_i = Σ_j dr_ij ∂r_ij/∂μ_i, ...
// Computed in compute_t<T> (≥ fp32), one query per loop iteration: deterministic, no atomics.
// The backward recomputes r instead of reading it back (cheaper than a stored half-precision r
// and more accurate).
#pragma once

#include <cmath>
#include <cstdint>

#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cpu {

/// r [n, basis] from mu, sigma2 [n] and the basis centres, squared widths [basis].
template <class T>
void gaussian_expectation_forward(const compute_t<T>* mu, const compute_t<T>* sigma2,
                                  const compute_t<T>* centres, const compute_t<T>* widths_sq, T* r,
                                  int64_t n, int64_t basis) {
  using C = compute_t<T>;
  const C inv_sqrt_2pi = C(0.39894228040143267794);
  parallel_for(n, 24 * basis, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const C m = mu[i], s2 = sigma2[i];
      T* ri = r + i * basis;
      for (int64_t j = 0; j < basis; ++j) {
        const C v = s2 + widths_sq[j], d = m - centres[j];
        const C inv_v = C(1) / v;
        ri[j] = static_cast<T>(std::exp(C(-0.5) * d * d * inv_v) * inv_sqrt_2pi * std::sqrt(inv_v));
      }
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
  const C inv_sqrt_2pi = C(0.39894228040143267794);
  parallel_for(n, 30 * basis, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const C m = mu[i], s2 = sigma2[i];
      const T* dri = dr + i * basis;
      C gm = 0, gs = 0;
      for (int64_t j = 0; j < basis; ++j) {
        const C v = s2 + widths_sq[j], d = m - centres[j];
        const C inv_v = C(1) / v;
        const C r = std::exp(C(-0.5) * d * d * inv_v) * inv_sqrt_2pi * std::sqrt(inv_v);
        const C g = static_cast<C>(dri[j]) * r;
        gm -= g * d * inv_v;
        gs += g * C(0.5) * (d * d * inv_v - C(1)) * inv_v;
      }
      dmu[i] = gm;
      dsigma2[i] = gs;
    }
  });
}

}  // namespace mnemo::cpu
