// mnemo/nn/layer_norm.hpp — LayerNorm over the last dimension with learned γ (1) and β (0).
#pragma once

#include <string>

#include "mnemo/autograd/ops/normalization.hpp"
#include "mnemo/nn/parameter_store.hpp"

namespace mnemo::nn {

template <class T, class B>
class LayerNorm {
 public:
  using Var = autograd::Var<T, B>;

  /// Registers "<name>.weight" (γ) and "<name>.bias" (β), both [features].
  LayerNorm(ParameterStore<T, B>& store, const std::string& name, int64_t features, double eps = 1e-5)
      : ctx_(&store.context()), eps_(eps) {
    require<ConfigError>(features > 0, "LayerNorm '", name, "': features must be positive, got ", features);
    require<ConfigError>(eps > 0, "LayerNorm '", name, "': eps must be positive, got ", eps);
    gamma_ = &store.add(join_name(name, "weight"), Shape{features}, Init::ones());
    beta_ = &store.add(join_name(name, "bias"), Shape{features}, Init::zeros());
  }

  Var operator()(const Var& x) const;

  int64_t features() const { return gamma_->numel(); }

 private:
  Context<B>* ctx_;
  double eps_;
  Parameter<T, B>* gamma_;
  Parameter<T, B>* beta_;
};

template <class T, class B>
auto LayerNorm<T, B>::operator()(const Var& x) const -> Var {
  return autograd::layer_norm(*ctx_, x, gamma_->var(), beta_->var(), eps_);
}

}  // namespace mnemo::nn

// Compiled mode (docs/compile_time.md): linking mnemo::compiled defines MNEMO_COMPILED; these
// instantiations are then compiled once, in src/compiled/, instead of in every user TU.
#if defined(MNEMO_COMPILED)
#include "mnemo/backend/cpu.hpp"

namespace mnemo::nn {
extern template class LayerNorm<float, Cpu>;
extern template class LayerNorm<double, Cpu>;
}  // namespace mnemo::nn
#endif  // MNEMO_COMPILED
