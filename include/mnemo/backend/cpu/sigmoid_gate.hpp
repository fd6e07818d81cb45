// mnemo/backend/cpu/sigmoid_gate.hpp — the ∞-former's gate before writing (infinite_former.md §4):
//   forward:  y = x ⊙ sigmoid(z)
//   backward: dz = dy ⊙ x ⊙ s(1 − s),  s = sigmoid(z)     (x is a detached input: no dx)
#pragma once

#include <cmath>
#include <cstdint>

#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cpu {

template <class T>
void sigmoid_gate_forward(int64_t n, const T* x, const T* z, T* y) {
  using C = compute_t<T>;
  parallel_for(n, 20, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      y[i] = static_cast<T>(static_cast<C>(x[i]) / (C(1) + std::exp(-static_cast<C>(z[i]))));
  });
}

template <class T>
void sigmoid_gate_backward(int64_t n, const T* x, const T* z, const T* dy, T* dz) {
  using C = compute_t<T>;
  parallel_for(n, 24, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const C s = C(1) / (C(1) + std::exp(-static_cast<C>(z[i])));
      dz[i] = static_cast<T>(static_cast<C>(dy[i]) * static_cast<C>(x[i]) * s * (C(1) - s));
    }
  });
}

}  // namespace mnemo::cpu
