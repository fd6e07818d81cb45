// mnemo/backend/cpu/sigmoid_gate.hpp — the ∞-former's gate before writing (infinite_former.md §4),
// by the formulas shared with the CUDA backend (backend/sigmoid_gate_rule.hpp):
//   forward:  y = x ⊙ sigmoid(z)
//   backward: dz = dy ⊙ x ⊙ s(1 − s),  s = sigmoid(z)     (x is a detached input: no dx)
#pragma once

#include <cstdint>

#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/backend/sigmoid_gate_rule.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cpu {

template <class T>
void sigmoid_gate_forward(int64_t n, const T* x, const T* z, T* y) {
  using C = compute_t<T>;
  parallel_for(n, 20, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      y[i] = static_cast<T>(sigmoid_gate_value(static_cast<C>(x[i]), static_cast<C>(z[i])));
  });
}

template <class T>
void sigmoid_gate_backward(int64_t n, const T* x, const T* z, const T* dy, T* dz) {
  using C = compute_t<T>;
  parallel_for(n, 24, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      dz[i] = static_cast<T>(sigmoid_gate_grad(static_cast<C>(x[i]), static_cast<C>(z[i]), static_cast<C>(dy[i])));
  });
}

}  // namespace mnemo::cpu
