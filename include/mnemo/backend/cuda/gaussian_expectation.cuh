// mnemo/backend/cuda/gaussian_expectation.cuh — the ∞-former's continuous-attention kernel
// (infinite_former.md §6, §7) by the entry formula shared with the CPU
// (backend/gaussian_expectation_rule.hpp), in compute_t<T>:
//   forward:  r[i, j] = N(μ_i; c_j, σ²_i + s²_j), one thread per entry;
//   backward: dμ_i, dσ²_i = Σ_j (terms of entry (i, j)), one thread group per query i reducing
//             in an order fixed by the basis size (deterministic, no atomics). r is recomputed.
#pragma once

#include <cstdint>

#include "mnemo/backend/cuda/context.cuh"
#include "mnemo/backend/cuda/half.cuh"
#include "mnemo/backend/cuda/launch.cuh"
#include "mnemo/backend/cuda/rows.cuh"
#include "mnemo/backend/cuda/thread_group.cuh"
#include "mnemo/backend/gaussian_expectation_rule.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cuda {

namespace detail_gaussian {
template <class T>
struct Forward {
  using C = compute_t<T>;
  const C* mu;
  const C* sigma2;
  const C* centres;
  const C* widths_sq;
  T* r;
  int64_t basis;
  __device__ void operator()(int64_t idx) const {
    const int64_t i = idx / basis, j = idx % basis;
    r[idx] = convert<T>(gaussian_expectation_entry(mu[i], sigma2[i], centres[j], widths_sq[j]));
  }
};

template <class T>
struct Backward {
  using C = compute_t<T>;
  const C* mu;
  const C* sigma2;
  const C* centres;
  const C* widths_sq;
  const T* dr;
  C* dmu;
  C* dsigma2;
  int64_t basis;
  template <int K>
  __device__ void operator()(int64_t i, const ThreadGroup<K>& g) const {
    const C m = mu[i], s2 = sigma2[i];
    const T* dri = dr + i * basis;
    const SumPair<C> total = g.template sum<SumPair<C>>(basis, [&](int64_t j) {
      SumPair<C> t{C(0), C(0)};
      gaussian_expectation_entry_backward(m, s2, centres[j], widths_sq[j], convert<C>(dri[j]), t.a, t.b);
      return t;
    });
    if (g.rank == 0) {
      dmu[i] = total.a;
      dsigma2[i] = total.b;
    }
  }
};
}  // namespace detail_gaussian

/// r [n, basis] from mu, sigma2 [n] and the basis centres, squared widths [basis].
template <class T>
void gaussian_expectation_forward(CudaContext& ctx, const compute_t<T>* mu, const compute_t<T>* sigma2,
                                  const compute_t<T>* centres, const compute_t<T>* widths_sq, T* r, int64_t n,
                                  int64_t basis) {
  if (basis <= 0) return;
  for_each(ctx, n * basis, detail_gaussian::Forward<T>{mu, sigma2, centres, widths_sq, r, basis},
           "gaussian_expectation_forward");
}

/// dmu, dsigma2 [n] (written) from dr [n, basis]; zeros when basis is 0.
template <class T>
void gaussian_expectation_backward(CudaContext& ctx, const compute_t<T>* mu, const compute_t<T>* sigma2,
                                   const compute_t<T>* centres, const compute_t<T>* widths_sq, const T* dr,
                                   compute_t<T>* dmu, compute_t<T>* dsigma2, int64_t n, int64_t basis) {
  launch_rows(ctx, n, basis, detail_gaussian::Backward<T>{mu, sigma2, centres, widths_sq, dr, dmu, dsigma2, basis},
              "gaussian_expectation_backward");
}

}  // namespace mnemo::cuda
