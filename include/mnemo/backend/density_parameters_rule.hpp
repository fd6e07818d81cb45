// mnemo/backend/density_parameters_rule.hpp — one query's map from its two scores to its Gaussian
// density, and the variance KL regulariser (infinite_former.md §6, §7), shared by the CPU and CUDA
// backends (host and device):
//   μ = sigmoid(a),   σ² = max(softplus(b), ε)      (softplus(b) = b above 20, as PyTorch)
//   KL = ½ (σ²/σ₀² − ln(σ²/σ₀²) − 1)
// backward, with (dμ, dσ²) from the expectation and the KL weight κ:
//   dσ²_total = dσ² + κ·½ (1/σ₀² − 1/σ²)
//   da = dμ·μ(1 − μ),   db = dσ²_total·softplus'(b)   (0 where the ε clamp is active)
// C is the compute type (float or double).
#pragma once

#include "mnemo/backend/scalar_math.hpp"
#include "mnemo/core/config.hpp"

namespace mnemo {

template <class C>
MNEMO_DEVICE_INLINE C sigmoid_of(C x) {
  return C(1) / (C(1) + scalar::exp(-x));
}
/// softplus(b) = ln(1 + e^b), exactly b above 20 (PyTorch's threshold).
template <class C>
MNEMO_DEVICE_INLINE C softplus_thresholded(C b) {
  return b > C(20) ? b : scalar::log1p(scalar::exp(b));
}

template <class C>
struct DensityParametersRule {
  C eps, sigma0_sq;

  MNEMO_DEVICE_INLINE C mu(C a) const { return sigmoid_of(a); }
  MNEMO_DEVICE_INLINE C sigma2(C b) const {
    const C s = softplus_thresholded(b);
    return s < eps ? eps : s;  // as std::max(s, eps): a NaN score stays NaN
  }
  MNEMO_DEVICE_INLINE C kl(C sigma2) const {
    const C ratio = sigma2 / sigma0_sq;
    return C(0.5) * (ratio - scalar::log(ratio) - C(1));
  }
  MNEMO_DEVICE_INLINE C da(C mu, C dmu) const { return dmu * mu * (C(1) - mu); }
  /// db for score b with σ² = sigma2; 0 where the clamp is active (σ² does not depend on b).
  MNEMO_DEVICE_INLINE C db(C b, C sigma2, C dsigma2, C kl_weight) const {
    if (!(softplus_thresholded(b) > eps)) return C(0);
    const C g = dsigma2 + kl_weight * C(0.5) * (C(1) / sigma0_sq - C(1) / sigma2);
    return g * (b > C(20) ? C(1) : sigmoid_of(b));
  }
};

}  // namespace mnemo
