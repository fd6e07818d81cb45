// mnemo/nn/linear.hpp — y = x·W + b  (row-vector convention: W is [in, out]).
#pragma once

#include <string>

#include "mnemo/autograd/ops/matmul.hpp"
#include "mnemo/nn/parameter_store.hpp"

namespace mnemo::nn {

struct LinearOptions {
  bool bias = true;
  double init_std = 0.02;  // weights ~ N(0, init_std²), bias 0
};

template <class T, class B>
class Linear {
 public:
  using Var = autograd::Var<T, B>;

  /// Registers "<name>.weight" [in, out] and, with a bias, "<name>.bias" [out].
  Linear(ParameterStore<T, B>& store, const std::string& name, int64_t in_features,
         int64_t out_features, LinearOptions opt = {});

  /// x [..., in] → [..., out].
  Var operator()(const Var& x) const;

  int64_t in_features() const { return weight_->shape()[0]; }
  int64_t out_features() const { return weight_->shape()[1]; }
  Parameter<T, B>& weight() const { return *weight_; }
  Parameter<T, B>* bias() const { return bias_; }

 private:
  Context<B>* ctx_;
  Parameter<T, B>* weight_ = nullptr;
  Parameter<T, B>* bias_ = nullptr;
};

template <class T, class B>
Linear<T, B>::Linear(ParameterStore<T, B>& store, const std::string& name, int64_t in_features, int64_t out_features,
    LinearOptions opt)
    : ctx_(&store.context()) {
  require<ConfigError>(in_features > 0 && out_features > 0, "Linear '", name,
                       "': features must be positive, got in=", in_features, ", out=", out_features);
  weight_ = &store.add(join_name(name, "weight"), Shape{in_features, out_features}, Init::normal(opt.init_std));
  if (opt.bias) bias_ = &store.add(join_name(name, "bias"), Shape{out_features}, Init::zeros());
}

template <class T, class B>
auto Linear<T, B>::operator()(const Var& x) const -> Var {
  if (bias_) {
    const Var b = bias_->var();
    return autograd::linear(*ctx_, x, weight_->var(), &b);
  }
  return autograd::linear<T, B>(*ctx_, x, weight_->var(), nullptr);
}

}  // namespace mnemo::nn

// Compiled mode (docs/compile_time.md): linking mnemo::compiled defines MNEMO_COMPILED; these
// instantiations are then compiled once, in src/compiled/, instead of in every user TU.
#if defined(MNEMO_COMPILED)
#include "mnemo/backend/cpu.hpp"

namespace mnemo::nn {
extern template class Linear<float, Cpu>;
extern template class Linear<double, Cpu>;
}  // namespace mnemo::nn
#endif  // MNEMO_COMPILED
