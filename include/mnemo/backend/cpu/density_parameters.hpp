// mnemo/backend/cpu/density_parameters.hpp — the maps from a query's two scores to its Gaussian
// density and the variance KL regulariser (infinite_former.md §6, §7):
//   μ = sigmoid(a),   σ² = max(softplus(b), ε)      (softplus(b) = b above 20, as PyTorch)
//   KL = ½ (σ²/σ₀² − ln(σ²/σ₀²) − 1)
// backward, with (dμ, dσ²) from the expectation and the KL weight κ of every query:
//   dσ²_total = dσ² + κ·½ (1/σ₀² − 1/σ²)
//   da = dμ·μ(1 − μ),   db = dσ²_total·softplus'(b)   (0 where the ε clamp is active)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cpu {

template <class C>
inline C softplus_thresholded(C b) {
  return b > C(20) ? b : std::log1p(std::exp(b));
}
template <class C>
inline C sigmoid_of(C x) {
  return C(1) / (C(1) + std::exp(-x));
}

/// mu, sigma2 (and kl when non-null) [n] from the scores a, b [n].
template <class T>
void density_parameters_forward(const T* a, const T* b, compute_t<T>* mu, compute_t<T>* sigma2,
                                compute_t<T>* kl, int64_t n, compute_t<T> eps, compute_t<T> sigma0_sq) {
  using C = compute_t<T>;
  parallel_for(n, 40, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      mu[i] = sigmoid_of(static_cast<C>(a[i]));
      const C s2 = std::max(softplus_thresholded(static_cast<C>(b[i])), eps);
      sigma2[i] = s2;
      if (kl) {
        const C ratio = s2 / sigma0_sq;
        kl[i] = C(0.5) * (ratio - std::log(ratio) - C(1));
      }
    }
  });
}

/// da, db [n] (written) from dmu, dsigma2 [n]; kl_weight κ adds the KL gradient.
template <class T>
void density_parameters_backward(const T* b, const compute_t<T>* mu, const compute_t<T>* sigma2,
                                 const compute_t<T>* dmu, const compute_t<T>* dsigma2, T* da, T* db,
                                 int64_t n, compute_t<T> eps, compute_t<T> sigma0_sq,
                                 compute_t<T> kl_weight) {
  using C = compute_t<T>;
  parallel_for(n, 40, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const C m = mu[i], s2 = sigma2[i];
      da[i] = static_cast<T>(dmu[i] * m * (C(1) - m));
      const C bi = static_cast<C>(b[i]);
      const C sp = softplus_thresholded(bi);
      if (!(sp > eps)) {  // clamped: σ² does not depend on b
        db[i] = T(0);
        continue;
      }
      const C g = dsigma2[i] + kl_weight * C(0.5) * (C(1) / sigma0_sq - C(1) / s2);
      db[i] = static_cast<T>(g * (bi > C(20) ? C(1) : sigmoid_of(bi)));
    }
  });
}

}  // namespace mnemo::cpu
