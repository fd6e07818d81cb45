// mnemo/backend/continuous_read_rule.hpp — one query of the ∞-former's fused long-term-memory
// read (infinite_former.md §6, §7), shared by the CPU and CUDA backends (host and device). Query
// i has the scores (a_i, b_i) and reads the value block V_h [N, d_h] of its (row, head):
//   forward:   μ = sigmoid(a), σ² = max(softplus(b), ε), KL    (density_parameters_rule.hpp)
//              r_j = N(μ; c_j, σ² + s_j²)                      (gaussian_expectation_rule.hpp)
//              c_d = Σ_{j=0}^{N−1} r_j V[j, d]                 (j in increasing order)
//   backward:  dr_j = Σ_{d=0}^{d_h−1} dc_d V[j, d]             (d in increasing order, kept in C)
//              (dμ, dσ²) = Σ_j the entry terms of dr_j          (j in increasing order)
//              (da, db) by the density rule with the KL weight κ
// Every sum has an order fixed by the shape, so both backends are deterministic; the CUDA kernel
// (backend/cuda/continuous_read.cuh) runs these sums per query, the CPU (backend/cpu/
// continuous_read.hpp) per loop iteration. C is the compute type (float or double).
#pragma once

#include <cstdint>

#include "mnemo/backend/density_parameters_rule.hpp"
#include "mnemo/backend/gaussian_expectation_rule.hpp"
#include "mnemo/core/config.hpp"

namespace mnemo {

/// Shapes of a fused read: `queries` = rows·heads·Lq queries, each group of `per_block` (Lq)
/// consecutive queries reading one value block V_h of [basis, head_dim].
struct ContinuousReadDims {
  int64_t queries = 0, per_block = 1, basis = 0, head_dim = 0;
};

/// Σ_{k=0}^{count−1} f(k) in increasing k, in C (the context entry c_d and the dr_j of the rule).
/// f is a host lambda on the CPU and a device lambda in the kernel: nvcc's host/device call check
/// is turned off for this template (each instantiation only calls f where f exists).
#if defined(__CUDACC__)
#pragma nv_exec_check_disable
#endif
template <class C, class F>
MNEMO_DEVICE_INLINE C ordered_dot(int64_t count, F f) {
  C acc = C(0);
  for (int64_t k = 0; k < count; ++k) acc += f(k);
  return acc;
}

/// A query's (da, db) from its accumulated (dμ, dσ²): the density rule's backward.
template <class C>
struct ScoreGradients {
  C da, db;
};
template <class C>
MNEMO_DEVICE_INLINE ScoreGradients<C> continuous_read_score_gradients(const DensityParametersRule<C>& rule, C b, C mu,
                                                                      C sigma2, C dmu, C dsigma2, C kl_weight) {
  return {rule.da(mu, dmu), rule.db(b, sigma2, dsigma2, kl_weight)};
}

}  // namespace mnemo
