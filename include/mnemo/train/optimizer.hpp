// mnemo/train/optimizer.hpp — AdamW over a ParameterStore, one fused update per parameter.
#pragma once

#include <cstdint>
#include <type_traits>

#include "mnemo/backend/primitives.hpp"
#include "mnemo/core/error.hpp"
#include "mnemo/nn/parameter_store.hpp"

namespace mnemo::train {

struct AdamWConfig {
  double lr = 3e-4;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;

  void validate() const {
    require<ConfigError>(lr >= 0, "AdamWConfig: lr = ", lr, ", expected >= 0");
    require<ConfigError>(beta1 >= 0 && beta1 < 1, "AdamWConfig: beta1 = ", beta1, ", expected in [0, 1)");
    require<ConfigError>(beta2 >= 0 && beta2 < 1, "AdamWConfig: beta2 = ", beta2, ", expected in [0, 1)");
    require<ConfigError>(eps > 0, "AdamWConfig: eps = ", eps, ", expected > 0");
    require<ConfigError>(weight_decay >= 0, "AdamWConfig: weight_decay = ", weight_decay, ", expected >= 0");
  }
};

/// Decoupled-weight-decay Adam (Loshchilov & Hutter), as PyTorch's AdamW. Moments are kept in
/// the parameter's master precision and allocated on the first step; for half-precision
/// parameters the step updates an fp32 master copy (Parameter::master) and writes it rounded.
template <class T, class B>
class AdamW {
 public:
  AdamW(nn::ParameterStore<T, B>& store, AdamWConfig config = {}) : store_(&store), config_(config) {
    config_.validate();
  }

  /// One update with learning rate `lr` (the schedule's value; negative: the config's lr).
  /// `grad_scale` multiplies every gradient first (gradient clipping passes its factor here).
  void step(double lr = -1.0, double grad_scale = 1.0);

  int64_t steps() const { return steps_; }
  /// Restores the step counter (checkpoint resume; the moments are restored with the store).
  /// ValueError for n < 0: the bias corrections 1 − β^t would be negative or zero at the next step.
  void set_steps(int64_t n) {
    require<ValueError>(n >= 0, "AdamW::set_steps: n = ", n, ", expected >= 0");
    steps_ = n;
  }
  const AdamWConfig& config() const { return config_; }

 private:
  nn::ParameterStore<T, B>* store_;
  AdamWConfig config_;
  int64_t steps_ = 0;
};

template <class T, class B>
auto AdamW<T, B>::step(double lr, double grad_scale) -> void {
  ++steps_;
  AdamWStep s;
  s.lr = lr < 0 ? config_.lr : lr;
  s.beta1 = config_.beta1;
  s.beta2 = config_.beta2;
  s.eps = config_.eps;
  s.weight_decay = config_.weight_decay;
  s.step = steps_;
  s.grad_scale = grad_scale;
  auto& ctx = store_->context();
  for (auto& p : *store_) {
    if (!p->adam_m.defined()) {
      p->adam_m = Tensor<master_t<T>, B>(p->shape(), ctx.arena());
      p->adam_v = Tensor<master_t<T>, B>(p->shape(), ctx.arena());
      p->adam_m.zero();
      p->adam_v.zero();
    }
    if constexpr (std::is_same_v<master_t<T>, T>) {
      BackendTraits<B>::adamw_update(ctx, p->value.data(), p->grad.data(), p->adam_m.data(), p->adam_v.data(),
                                     p->numel(), s);
    } else {  // mixed precision: the step runs on the master copy, value = master rounded to T
      if (!p->master.defined()) {
        p->master = Tensor<master_t<T>, B>(p->shape(), ctx.arena());
        BackendTraits<B>::cast(ctx, p->numel(), p->value.data(), p->master.data());
      }
      BackendTraits<B>::adamw_update_master(ctx, p->value.data(), p->grad.data(), p->master.data(),
                                            p->adam_m.data(), p->adam_v.data(), p->numel(), s);
    }
  }
}

}  // namespace mnemo::train

// Compiled mode (docs/compile_time.md): linking mnemo::compiled defines MNEMO_COMPILED; these
// instantiations are then compiled once, in src/compiled/, instead of in every user TU.
#if defined(MNEMO_COMPILED)
#include "mnemo/backend/cpu.hpp"

namespace mnemo::train {
extern template class AdamW<float, Cpu>;
extern template class AdamW<double, Cpu>;
}  // namespace mnemo::train
#endif  // MNEMO_COMPILED
