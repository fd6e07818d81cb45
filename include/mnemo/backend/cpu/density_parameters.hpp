// mnemo/backend/cpu/density_parameters.hpp — the maps from a query's two scores to its Gaussian
// density and the variance KL regulariser (infinite_former.md §6, §7), one query per loop
// iteration by the formulas shared with the CUDA backend (backend/density_parameters_rule.hpp):
//   μ = sigmoid(a),   σ² = max(softplus(b), ε),   KL = ½ (σ²/σ₀² − ln(σ²/σ₀²) − 1)
#pragma once

#include <cstdint>

#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/backend/density_parameters_rule.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cpu {

/// mu, sigma2 (and kl when non-null) [n] from the scores a, b [n].
template <class T>
void density_parameters_forward(const T* a, const T* b, compute_t<T>* mu, compute_t<T>* sigma2,
                                compute_t<T>* kl, int64_t n, compute_t<T> eps, compute_t<T> sigma0_sq) {
  using C = compute_t<T>;
  const DensityParametersRule<C> rule{eps, sigma0_sq};
  parallel_for(n, 40, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      mu[i] = rule.mu(static_cast<C>(a[i]));
      sigma2[i] = rule.sigma2(static_cast<C>(b[i]));
      if (kl) kl[i] = rule.kl(sigma2[i]);
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
  const DensityParametersRule<C> rule{eps, sigma0_sq};
  parallel_for(n, 40, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      da[i] = static_cast<T>(rule.da(mu[i], dmu[i]));
      db[i] = static_cast<T>(rule.db(static_cast<C>(b[i]), sigma2[i], dsigma2[i], kl_weight));
    }
  });
}

}  // namespace mnemo::cpu
