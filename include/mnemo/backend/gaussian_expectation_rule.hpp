// mnemo/backend/gaussian_expectation_rule.hpp — one entry of the ∞-former's continuous-attention
// kernel (infinite_former.md §6, §7), shared by the CPU and CUDA backends (host and device):
//   r = ∫ N(t; μ, σ²) ψ(t) dt = N(μ; c, v) = exp(−Δ²/(2v)) / sqrt(2π v),  Δ = μ − c,  v = σ² + s²
// for a query density N(μ, σ²) and a Gaussian basis function ψ of centre c and squared width s²;
// and the entry's contribution to the backward from its gradient dr:
//   dμ += dr·∂r/∂μ = −dr·r·Δ/v,   dσ² += dr·∂r/∂σ² = dr·r·(Δ²/v − 1)/(2v).
// C is the compute type (float or double).
#pragma once

#include "mnemo/backend/scalar_math.hpp"
#include "mnemo/core/config.hpp"

namespace mnemo {

template <class C>
MNEMO_DEVICE_INLINE C gaussian_expectation_entry(C mu, C sigma2, C centre, C width_sq) {
  const C v = sigma2 + width_sq, d = mu - centre;
  const C inv_v = C(1) / v;
  return scalar::exp(C(-0.5) * d * d * inv_v) * C(0.39894228040143267794) * scalar::sqrt(inv_v);
}

/// Adds the entry's terms of dμ and dσ² (from its gradient dr) to dmu, dsigma2.
template <class C>
MNEMO_DEVICE_INLINE void gaussian_expectation_entry_backward(C mu, C sigma2, C centre, C width_sq, C dr, C& dmu,
                                                             C& dsigma2) {
  const C v = sigma2 + width_sq, d = mu - centre;
  const C inv_v = C(1) / v;
  const C r = scalar::exp(C(-0.5) * d * d * inv_v) * C(0.39894228040143267794) * scalar::sqrt(inv_v);
  const C g = dr * r;
  dmu -= g * d * inv_v;
  dsigma2 += g * C(0.5) * (d * d * inv_v - C(1)) * inv_v;
}

}  // namespace mnemo
