// mnemo/nn/embedding.hpp — token embedding table [vocab, dim].
#pragma once

#include <string>

#include "mnemo/autograd/ops/embedding.hpp"
#include "mnemo/nn/parameter_store.hpp"

namespace mnemo::nn {

template <class T, class B>
class Embedding {
 public:
  using Var = autograd::Var<T, B>;

  /// Registers "<name>.weight" [vocab, dim] ~ N(0, init_std²).
  Embedding(ParameterStore<T, B>& store, const std::string& name, int64_t vocab, int64_t dim,
            double init_std = 0.02);

  /// ids of any shape → [..., dim]. Throws ValueError for ids outside [0, vocab).
  Var operator()(const Tensor<int32_t, B>& ids) const;

  int64_t vocab() const { return weight_->shape()[0]; }
  int64_t dim() const { return weight_->shape()[1]; }
  Parameter<T, B>& weight() const { return *weight_; }

 private:
  Context<B>* ctx_;
  Parameter<T, B>* weight_;
};

template <class T, class B>
Embedding<T, B>::Embedding(ParameterStore<T, B>& store, const std::string& name, int64_t vocab, int64_t dim,
    double init_std)
    : ctx_(&store.context()) {
  require<ConfigError>(vocab > 0 && dim > 0, "Embedding '", name, "': vocab and dim must be positive, got vocab=",
                       vocab, ", dim=", dim);
  weight_ = &store.add(join_name(name, "weight"), Shape{vocab, dim}, Init::normal(init_std));
}

template <class T, class B>
auto Embedding<T, B>::operator()(const Tensor<int32_t, B>& ids) const -> Var {
  return autograd::embedding(*ctx_, weight_->var(), ids);
}

}  // namespace mnemo::nn

// Compiled mode (docs/compile_time.md): linking mnemo::compiled defines MNEMO_COMPILED; these
// instantiations are then compiled once, in src/compiled/, instead of in every user TU.
#if defined(MNEMO_COMPILED)
#include "mnemo/backend/cpu.hpp"

namespace mnemo::nn {
extern template class Embedding<float, Cpu>;
extern template class Embedding<double, Cpu>;
}  // namespace mnemo::nn
#endif  // MNEMO_COMPILED
