// mnemo/backend/cpu/adamw_master.hpp — the fused AdamW step on a parameter's master copy (mixed
// precision: T stored in 16 bits, master_t<T> in fp32): the step of backend/adamw_rule.hpp
// applied to `master`, after which param = master rounded to T. For float and double the master
// type is T itself and the optimizer uses adamw_update instead; this CPU version is the
// reference the CUDA kernel is held to.
#pragma once

#include <cstdint>

#include "mnemo/backend/adamw_rule.hpp"
#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/backend/primitives.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cpu {

template <class T>
void adamw_update_master(T* param, const T* grad, master_t<T>* master, master_t<T>* m, master_t<T>* v, int64_t n,
                         const AdamWStep& s) {
  using M = master_t<T>;
  const AdamWRule<M> rule = AdamWRule<M>::of(s);
  parallel_for(n, 12, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      master[i] = rule.apply(master[i], static_cast<M>(grad[i]), m[i], v[i]);
      param[i] = static_cast<T>(master[i]);
    }
  });
}

}  // namespace mnemo::cpu
