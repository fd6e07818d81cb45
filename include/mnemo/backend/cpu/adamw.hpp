// mnemo/backend/cpu/adamw.hpp — fused AdamW update on master weights (see AdamWStep).
#pragma once

#include <cstdint>

#include "mnemo/backend/adamw_rule.hpp"
#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/backend/primitives.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cpu {

template <class T>
void adamw_update(T* param, const T* grad, master_t<T>* m, master_t<T>* v, int64_t n, const AdamWStep& s) {
  using M = master_t<T>;
  const AdamWRule<M> rule = AdamWRule<M>::of(s);  // the formula, shared with the CUDA backend
  parallel_for(n, 12, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      param[i] = static_cast<T>(rule.apply(static_cast<M>(param[i]), static_cast<M>(grad[i]), m[i], v[i]));
  });
}

}  // namespace mnemo::cpu
