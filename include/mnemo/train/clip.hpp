// mnemo/train/clip.hpp — global gradient norm and the factor that clips it.
#pragma once

#include <cmath>

#include "mnemo/nn/parameter_store.hpp"

namespace mnemo::train {

/// sqrt(Σ over every parameter gradient of g²); NaN/Inf when any gradient is non-finite.
template <class T, class B>
double global_grad_norm(nn::ParameterStore<T, B>& store) {
  double ss = 0;
  for (auto& p : store) ss += BackendTraits<B>::sum_squares(store.context(), p->grad.data(), p->numel());
  return std::sqrt(ss);
}

/// The factor min(1, max_norm / norm) that brings the global norm to at most max_norm
/// (max_norm <= 0: no clipping). Pass it to AdamW::step as grad_scale.
inline double clip_factor(double norm, double max_norm) {
  if (max_norm <= 0 || !(norm > max_norm)) return 1.0;
  return max_norm / (norm + 1e-6);
}

}  // namespace mnemo::train
