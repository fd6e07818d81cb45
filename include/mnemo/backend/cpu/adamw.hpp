// mnemo/backend/cpu/adamw.hpp — fused AdamW update on master weights (see AdamWStep).
#pragma once

#include <cmath>
#include <cstdint>

#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/backend/primitives.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cpu {

template <class T>
void adamw_update(T* param, const T* grad, master_t<T>* m, master_t<T>* v, int64_t n,
                  const AdamWStep& s) {
  using M = master_t<T>;
  const double bc1 = 1.0 - std::pow(s.beta1, static_cast<double>(s.step));
  const double bc2 = 1.0 - std::pow(s.beta2, static_cast<double>(s.step));
  const M b1 = static_cast<M>(s.beta1), b2 = static_cast<M>(s.beta2);
  const M step_size = static_cast<M>(s.lr / bc1), inv_sqrt_bc2 = static_cast<M>(1.0 / std::sqrt(bc2));
  const M decay = static_cast<M>(1.0 - s.lr * s.weight_decay), eps = static_cast<M>(s.eps);
  const M gs = static_cast<M>(s.grad_scale);
  parallel_for(n, 12, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const M g = gs * static_cast<M>(grad[i]);
      m[i] = b1 * m[i] + (M(1) - b1) * g;
      v[i] = b2 * v[i] + (M(1) - b2) * g * g;
      const M p = static_cast<M>(param[i]) * decay - step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
      param[i] = static_cast<T>(p);
    }
  });
}

}  // namespace mnemo::cpu
