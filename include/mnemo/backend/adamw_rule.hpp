// mnemo/backend/adamw_rule.hpp — one AdamW step of one element (see AdamWStep), shared by the
// CPU and CUDA backends (host and device). The step's constants are computed once on the host,
// in double, then rounded to the master type M:
//   g ← grad_scale·g;  m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²
//   p ← p·(1 − lr·wd) − (lr/bc1) · m / (sqrt(v)·(1/sqrt(bc2)) + eps)
#pragma once

#include <cmath>

#include "mnemo/backend/primitives.hpp"
#include "mnemo/backend/scalar_math.hpp"
#include "mnemo/core/config.hpp"

namespace mnemo {

template <class M>
struct AdamWRule {
  M beta1, beta2, step_size, inv_sqrt_bc2, decay, eps, grad_scale;

  static AdamWRule of(const AdamWStep& s) {
    const double bc1 = 1.0 - std::pow(s.beta1, static_cast<double>(s.step));
    const double bc2 = 1.0 - std::pow(s.beta2, static_cast<double>(s.step));
    return {static_cast<M>(s.beta1),      static_cast<M>(s.beta2),
            static_cast<M>(s.lr / bc1),   static_cast<M>(1.0 / std::sqrt(bc2)),
            static_cast<M>(1.0 - s.lr * s.weight_decay), static_cast<M>(s.eps),
            static_cast<M>(s.grad_scale)};
  }

  /// Updates the moments m, v with the gradient and returns the new value of parameter p.
  MNEMO_DEVICE_INLINE M apply(M p, M grad, M& m, M& v) const {
    const M g = grad_scale * grad;
    m = beta1 * m + (M(1) - beta1) * g;
    v = beta2 * v + (M(1) - beta2) * g * g;
    return p * decay - step_size * m / (scalar::sqrt(v) * inv_sqrt_bc2 + eps);
  }
};

}  // namespace mnemo
