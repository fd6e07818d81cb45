// mnemo/backend/cuda/adamw.cuh — the fused AdamW step (AdamWStep in backend/primitives.hpp),
// moments and arithmetic in master_t<T>, by the formula the CPU uses (backend/adamw_rule.hpp).
// adamw_update_master keeps the parameter's master copy (fp32 for half types): it updates the
// master and writes the parameter as the master rounded to T.
#pragma once

#include <cstdint>

#include "mnemo/backend/adamw_rule.hpp"
#include "mnemo/backend/cuda/context.cuh"
#include "mnemo/backend/cuda/half.cuh"
#include "mnemo/backend/cuda/launch.cuh"
#include "mnemo/backend/primitives.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cuda {

namespace detail_adamw {
/// One step of element i; with a master copy (nullable) the step runs on it and the parameter
/// receives it rounded to T.
template <class T>
struct Update {
  using M = master_t<T>;
  T* param;
  const T* grad;
  M* master;
  M* m;
  M* v;
  AdamWRule<M> rule;
  __device__ void operator()(int64_t i) const {
    const M p = rule.apply(master ? master[i] : convert<M>(param[i]), convert<M>(grad[i]), m[i], v[i]);
    if (master) master[i] = p;
    param[i] = convert<T>(p);
  }
};
}  // namespace detail_adamw

template <class T>
void adamw_update(CudaContext& ctx, T* param, const T* grad, master_t<T>* m, master_t<T>* v, int64_t n,
                  const AdamWStep& step) {
  for_each(ctx, n, detail_adamw::Update<T>{param, grad, nullptr, m, v, AdamWRule<master_t<T>>::of(step)},
           "adamw_update");
}

/// The step on the master copy; param = master rounded to T.
template <class T>
void adamw_update_master(CudaContext& ctx, T* param, const T* grad, master_t<T>* master, master_t<T>* m,
                         master_t<T>* v, int64_t n, const AdamWStep& step) {
  for_each(ctx, n,
           detail_adamw::Update<T>{param, grad, master, m, v, AdamWRule<master_t<T>>::of(step)},
           "adamw_update_master");
}

}  // namespace mnemo::cuda
