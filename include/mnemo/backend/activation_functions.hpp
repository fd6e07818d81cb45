// mnemo/backend/activation_functions.hpp — the activations of the fused bias + activation
// primitive and their derivatives, shared by the CPU and CUDA backends (host and device).
// GELU is the exact form 0.5·z·(1 + erf(z/√2)); its derivative Φ(z) + z·φ(z).
#pragma once

#include "mnemo/backend/primitives.hpp"
#include "mnemo/backend/scalar_math.hpp"
#include "mnemo/core/config.hpp"

namespace mnemo {

template <class C>
MNEMO_DEVICE_INLINE C activation_value(Activation act, C z) {
  switch (act) {
    case Activation::Relu: return z > C(0) ? z : C(0);
    case Activation::Gelu: return C(0.5) * z * (C(1) + scalar::erf(z * C(0.70710678118654752440)));
    default: return z;
  }
}

template <class C>
MNEMO_DEVICE_INLINE C activation_derivative(Activation act, C z) {
  switch (act) {
    case Activation::Relu: return z > C(0) ? C(1) : C(0);
    case Activation::Gelu:
      return C(0.5) * (C(1) + scalar::erf(z * C(0.70710678118654752440))) +
             z * scalar::exp(C(-0.5) * z * z) * C(0.39894228040143267794);
    default: return C(1);
  }
}

}  // namespace mnemo
