// mnemo/nn/feed_forward.hpp — position-wise feed-forward block FFN(x) = act(x·W₁ + b₁)·W₂ + b₂,
// with the bias and activation fused into one pass.
#pragma once

#include <string>

#include "mnemo/autograd/ops/activation.hpp"
#include "mnemo/autograd/ops/matmul.hpp"
#include "mnemo/nn/linear.hpp"

namespace mnemo::nn {

template <class T, class B>
class FeedForward {
 public:
  using Var = autograd::Var<T, B>;

  /// Registers "<name>.fc1.{weight,bias}" [d, d_ff], [d_ff] and "<name>.fc2.{weight,bias}".
  FeedForward(ParameterStore<T, B>& store, const std::string& name, int64_t d_model, int64_t d_ff,
              Activation act = Activation::Gelu, double init_std = 0.02);

  Var operator()(const Var& x) const;

  int64_t d_model() const { return fc1_.in_features(); }
  int64_t d_ff() const { return fc1_.out_features(); }

 private:
  Context<B>* ctx_;
  Activation act_;
  Linear<T, B> fc1_, fc2_;
};

template <class T, class B>
FeedForward<T, B>::FeedForward(ParameterStore<T, B>& store, const std::string& name, int64_t d_model, int64_t d_ff,
    Activation act, double init_std)
    : ctx_(&store.context()),
      act_(act),
      fc1_(store, join_name(name, "fc1"), d_model, d_ff, {true, init_std}),
      fc2_(store, join_name(name, "fc2"), d_ff, d_model, {true, init_std}) {}

template <class T, class B>
auto FeedForward<T, B>::operator()(const Var& x) const -> Var {
  const Var b1 = fc1_.bias()->var();
  const Var h = autograd::linear<T, B>(*ctx_, x, fc1_.weight().var(), nullptr);
  return fc2_(autograd::bias_activation(*ctx_, h, &b1, act_));
}

}  // namespace mnemo::nn

// Compiled mode (docs/compile_time.md): linking mnemo::compiled defines MNEMO_COMPILED; these
// instantiations are then compiled once, in src/compiled/, instead of in every user TU.
#if defined(MNEMO_COMPILED)
#include "mnemo/backend/cpu.hpp"

namespace mnemo::nn {
extern template class FeedForward<float, Cpu>;
extern template class FeedForward<double, Cpu>;
}  // namespace mnemo::nn
#endif  // MNEMO_COMPILED
