// mnemo/backend/scalar_math.hpp — exp, log, log1p, sqrt and erf of float and double, callable from host
// code (std:: functions) and from CUDA device code (CUDA's device functions of the same
// precision), so that a formula shared by the backends is written once.
#pragma once

#include <cmath>
#include <type_traits>

#include "mnemo/core/config.hpp"

namespace mnemo::scalar {

template <class C>
MNEMO_DEVICE_INLINE C exp(C x) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<C, float>) return ::expf(x);
  else return ::exp(x);
#else
  return std::exp(x);
#endif
}

template <class C>
MNEMO_DEVICE_INLINE C log(C x) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<C, float>) return ::logf(x);
  else return ::log(x);
#else
  return std::log(x);
#endif
}

template <class C>
MNEMO_DEVICE_INLINE C log1p(C x) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<C, float>) return ::log1pf(x);
  else return ::log1p(x);
#else
  return std::log1p(x);
#endif
}

template <class C>
MNEMO_DEVICE_INLINE C sqrt(C x) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<C, float>) return ::sqrtf(x);
  else return ::sqrt(x);
#else
  return std::sqrt(x);
#endif
}

template <class C>
MNEMO_DEVICE_INLINE C erf(C x) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<C, float>) return ::erff(x);
  else return ::erf(x);
#else
  return std::erf(x);
#endif
}

}  // namespace mnemo::scalar
