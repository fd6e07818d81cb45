// mnemo/backend/cuda/math.cuh — device math on the compute types (float, double), spelled once
// so that kernels templated on the element type pick the right precision of each function
// (exp, log, sqrt, erf are the host/device ones of backend/scalar_math.hpp).
// Kernels never use the fast intrinsics (__expf, ...): results must match the CPU to ~1 ulp.
#pragma once

#include <cmath>
#include <type_traits>

#include "mnemo/backend/scalar_math.hpp"

namespace mnemo::cuda::math {

using scalar::erf;
using scalar::exp;
using scalar::log;
using scalar::sqrt;
__device__ __forceinline__ float abs(float x) { return ::fabsf(x); }
__device__ __forceinline__ double abs(double x) { return ::fabs(x); }
__device__ __forceinline__ float max(float a, float b) { return ::fmaxf(a, b); }
__device__ __forceinline__ double max(double a, double b) { return ::fmax(a, b); }

/// Products and sums rounded as written (never contracted into an FMA), where a formula must
/// give bitwise the same result with its operands swapped.
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }

/// −∞ in C.
template <class C>
__device__ __forceinline__ C neg_inf() {
  if constexpr (std::is_same_v<C, float>) return -INFINITY;
  else return -HUGE_VAL;
}

/// Neither NaN nor ±∞ (comparisons with NaN are false).
__device__ __forceinline__ bool is_finite(double x) { return ::fabs(x) <= 1.7976931348623157e308; }

}  // namespace mnemo::cuda::math
