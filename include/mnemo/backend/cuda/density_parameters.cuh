// mnemo/backend/cuda/density_parameters.cuh — a query's Gaussian density from its two scores and
// the variance KL regulariser (infinite_former.md §6, §7), one thread per query, by the formulas
// shared with the CPU (backend/density_parameters_rule.hpp) in compute_t<T>.
#pragma once

#include <cstdint>

#include "mnemo/backend/cuda/context.cuh"
#include "mnemo/backend/cuda/half.cuh"
#include "mnemo/backend/cuda/launch.cuh"
#include "mnemo/backend/density_parameters_rule.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cuda {

namespace detail_density {
template <class T>
struct Forward {
  using C = compute_t<T>;
  const T* a;
  const T* b;
  C* mu;
  C* sigma2;
  C* kl;  // nullable
  DensityParametersRule<C> rule;
  __device__ void operator()(int64_t i) const {
    mu[i] = rule.mu(convert<C>(a[i]));
    const C s2 = rule.sigma2(convert<C>(b[i]));
    sigma2[i] = s2;
    if (kl) kl[i] = rule.kl(s2);
  }
};

template <class T>
struct Backward {
  using C = compute_t<T>;
  const T* b;
  const C* mu;
  const C* sigma2;
  const C* dmu;
  const C* dsigma2;
  T* da;
  T* db;
  DensityParametersRule<C> rule;
  C kl_weight;
  __device__ void operator()(int64_t i) const {
    da[i] = convert<T>(rule.da(mu[i], dmu[i]));
    db[i] = convert<T>(rule.db(convert<C>(b[i]), sigma2[i], dsigma2[i], kl_weight));
  }
};
}  // namespace detail_density

/// mu, sigma2 (and kl when non-null) [n] from the scores a, b [n].
template <class T>
void density_parameters_forward(CudaContext& ctx, const T* a, const T* b, compute_t<T>* mu, compute_t<T>* sigma2,
                                compute_t<T>* kl, int64_t n, compute_t<T> eps, compute_t<T> sigma0_sq) {
  for_each(ctx, n, detail_density::Forward<T>{a, b, mu, sigma2, kl, {eps, sigma0_sq}}, "density_parameters_forward");
}

/// da, db [n] (written) from dmu, dsigma2 [n]; kl_weight adds the KL gradient.
template <class T>
void density_parameters_backward(CudaContext& ctx, const T* b, const compute_t<T>* mu, const compute_t<T>* sigma2,
                                 const compute_t<T>* dmu, const compute_t<T>* dsigma2, T* da, T* db, int64_t n,
                                 compute_t<T> eps, compute_t<T> sigma0_sq, compute_t<T> kl_weight) {
  for_each(ctx, n, detail_density::Backward<T>{b, mu, sigma2, dmu, dsigma2, da, db, {eps, sigma0_sq}, kl_weight},
           "density_parameters_backward");
}

}  // namespace mnemo::cuda
