// mnemo/backend/sigmoid_gate_rule.hpp — the ∞-former's gate before writing (infinite_former.md §4),
// one element, shared by the CPU and CUDA backends (host and device); C is the compute type:
//   forward:  y = x·sigmoid(z)
//   backward: dz = dy·x·s(1 − s),  s = sigmoid(z)     (x is a detached input: no dx)
#pragma once

#include "mnemo/backend/density_parameters_rule.hpp"
#include "mnemo/core/config.hpp"

namespace mnemo {

template <class C>
MNEMO_DEVICE_INLINE C sigmoid_gate_value(C x, C z) {
  return x / (C(1) + scalar::exp(-z));
}

template <class C>
MNEMO_DEVICE_INLINE C sigmoid_gate_grad(C x, C z, C dy) {
  const C s = sigmoid_of(z);
  return dy * x * s * (C(1) - s);
}

}  // namespace mnemo
