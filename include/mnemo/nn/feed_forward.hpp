// mnemo/nn/feed_forward.hpp — position-wise feed-forward block FFN(x) = act(x·W₁ + b₁)·W₂ + b₂,
// with the bias and activation fused into one pass. Inside an nn::InferenceScope (no tape) on the
// CPU, x·W₁ runs in column blocks in one parallel region and each block's bias + activation is
// applied by the thread that computed it, while the block is in its cache (one fork/join instead
// of two, no second pass over the hidden layer from memory); same formula, rounding may differ
// from the recorded path where the activation's vectorised rows split differently.
#pragma once

#include <algorithm>
#include <string>
#include <type_traits>

#include "mnemo/autograd/ops/activation.hpp"
#include "mnemo/autograd/ops/matmul.hpp"
#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/nn/inference_scope.hpp"
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
  /// act(x·W₁ + b₁) for the inference path (CPU): column blocks of W₁, one per thread.
  Tensor<T, B> hidden_inference(const Tensor<T, B>& x) const;

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
  if constexpr (std::is_same_v<B, Cpu>)
    if (InferenceScope::active() && !autograd::recording_tape() && x.shape().rank() >= 2 &&
        x.shape().last() == d_model())
      return fc2_(Var(hidden_inference(x.value())));
  const Var b1 = fc1_.bias()->var();
  const Var h = autograd::linear<T, B>(*ctx_, x, fc1_.weight().var(), nullptr);
  return fc2_(autograd::bias_activation(*ctx_, h, &b1, act_));
}

template <class T, class B>
auto FeedForward<T, B>::hidden_inference(const Tensor<T, B>& x) const -> Tensor<T, B> {
  using BT = BackendTraits<B>;
  using C = compute_t<T>;
  const int64_t rows = x.shape().rows(), din = d_model(), dff = d_ff();
  Tensor<T, B> h(x.shape().with_last(dff), ctx_->arena());
  const T* w = fc1_.weight().value.data();
  const T* b = fc1_.bias()->value.data();
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(cpu::parallel_threads(), dff / 16));
  cpu::parallel_for(parts, 2 * rows * din * dff / parts, [&](int64_t begin, int64_t end) {
    for (int64_t part = begin; part < end; ++part) {
      // Block [lo, hi) of the hidden columns; inner boundaries on multiples of 16.
      const int64_t lo = part == 0 ? 0 : (dff * part / parts) / 16 * 16;
      const int64_t hi = part + 1 == parts ? dff : (dff * (part + 1) / parts) / 16 * 16;
      T* y = h.data() + lo;
      BT::gemm(*ctx_, Trans::N, Trans::N, rows, hi - lo, din, C(1), x.data(), din, 0, w + lo, dff, 0, C(0), y, dff, 0, 1);
      for (int64_t r = 0; r < rows; ++r)
        BT::bias_activation_forward(*ctx_, y + r * dff, b + lo, y + r * dff, 1, hi - lo, act_);
    }
  });
  return h;
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
