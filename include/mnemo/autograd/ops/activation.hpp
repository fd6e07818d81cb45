// mnemo/autograd/ops/activation.hpp — fused bias + activation, and dropout.
#pragma once

#include "mnemo/autograd/ops/common.hpp"
#include "mnemo/backend/primitives.hpp"
#include "mnemo/core/rng.hpp"

namespace mnemo::autograd {

/// act(x + bias) over the last dimension (bias optional).
template <class T, class B>
Var<T, B> bias_activation(Context<B>& ctx, const Var<T, B>& x, const Var<T, B>* bias, Activation act) {
  const int64_t cols = x.shape().last(), rows = x.shape().rows();
  if (bias) check_shape("bias_activation: bias", bias->shape(), {{"features", cols}});
  auto y = new_tensor<T, B>(ctx, x.shape());
  BackendTraits<B>::bias_activation_forward(ctx, x.data(), bias ? bias->data() : nullptr, y.data(), rows, cols, act);
  const bool track = bias ? should_record(x, *bias) : should_record(x);
  Var<T, B> out = make_output(std::move(y), track);
  if (track) {
    recording_tape()->record(
        [c = &ctx, rows, cols, act, xv = x.value(), bv = bias ? bias->value() : Tensor<T, B>{},
         sx = x.slot(), sb = bias ? bias->slot() : nullptr, so = out.slot()] {
          auto dx = new_tensor<T, B>(*c, xv.shape());
          T* db = sb ? sb->zeroed_target() : nullptr;
          BackendTraits<B>::bias_activation_backward(*c, xv.data(), bv.defined() ? bv.data() : nullptr,
                                                     so->grad().data(), dx.data(), db, rows, cols, act);
          if (sx) sx->accumulate(*c, std::move(dx));
        },
        {out.slot()});
  }
  return out;
}

template <class T, class B>
Var<T, B> gelu(Context<B>& ctx, const Var<T, B>& x) {
  return bias_activation<T, B>(ctx, x, nullptr, Activation::Gelu);
}
template <class T, class B>
Var<T, B> relu(Context<B>& ctx, const Var<T, B>& x) {
  return bias_activation<T, B>(ctx, x, nullptr, Activation::Relu);
}

/// Inverted dropout with probability p, drawn from `key` (element i uses draw i): replaying
/// with the same key reproduces the mask. p == 0 returns x unchanged.
template <class T, class B>
Var<T, B> dropout(Context<B>& ctx, const Var<T, B>& x, float p, RngKey key) {
  if (!(p >= 0.0f && p < 1.0f))
    throw ValueError(detail::cat("dropout: p = ", p, ", expected 0 <= p < 1"));
  if (p == 0.0f) return x;
  auto y = new_tensor<T, B>(ctx, x.shape());
  BackendTraits<B>::dropout(ctx, x.numel(), x.data(), y.data(), p, key, 0);
  const bool track = should_record(x);
  Var<T, B> out = make_output(std::move(y), track);
  if (track) {
    recording_tape()->record(
        [c = &ctx, p, key, sx = x.slot(), so = out.slot()] {
          const auto& g = so->grad();
          auto dx = new_tensor<T, B>(*c, g.shape());
          BackendTraits<B>::dropout(*c, g.numel(), g.data(), dx.data(), p, key, 0);
          sx->accumulate(*c, std::move(dx));
        },
        {out.slot()});
  }
  return out;
}

}  // namespace mnemo::autograd
