// mnemo/autograd/ops/normalization.hpp — layer normalisation and L2 row normalisation.
#pragma once

#include "mnemo/autograd/ops/common.hpp"

namespace mnemo::autograd {

/// LayerNorm over the last dimension: (x − μ)/sqrt(var + eps)·γ + β.
template <class T, class B>
Var<T, B> layer_norm(Context<B>& ctx, const Var<T, B>& x, const Var<T, B>& gamma,
                     const Var<T, B>& beta, double eps = 1e-5) {
  using A = accumulate_t<T>;
  const int64_t cols = x.shape().last(), rows = x.shape().rows();
  check_shape("layer_norm: gamma", gamma.shape(), {{"features", cols}});
  check_shape("layer_norm: beta", beta.shape(), {{"features", cols}});
  auto y = new_tensor<T, B>(ctx, x.shape());
  const bool track = should_record(x, gamma, beta);
  Tensor<A, B> mean, rstd;
  if (track) {
    mean = Tensor<A, B>(Shape{rows}, ctx.arena());
    rstd = Tensor<A, B>(Shape{rows}, ctx.arena());
  }
  BackendTraits<B>::layer_norm_forward(ctx, x.data(), gamma.data(), beta.data(), y.data(),
                                       mean.data(), rstd.data(), rows, cols, static_cast<A>(eps));
  Var<T, B> out = make_output(std::move(y), track);
  if (track) {
    recording_tape()->record(
        [c = &ctx, rows, cols, mean, rstd, xv = x.value(), gv = gamma.value(), sx = x.slot(),
         sg = gamma.slot(), sb = beta.slot(), so = out.slot()] {
          Tensor<T, B> dx;
          if (sx) dx = new_tensor<T, B>(*c, xv.shape());
          T* dg = sg ? sg->zeroed_target() : nullptr;
          T* db = sb ? sb->zeroed_target() : nullptr;
          BackendTraits<B>::layer_norm_backward(*c, so->grad().data(), xv.data(), gv.data(), mean.data(),
                                                rstd.data(), dx.data(), dg, db, rows, cols);
          if (sx) sx->accumulate(*c, std::move(dx));
        },
        {out.slot()});
  }
  return out;
}

/// Rows of the last dimension scaled to unit L2 norm: x / max(||x||, eps).
template <class T, class B>
Var<T, B> l2_normalize(Context<B>& ctx, const Var<T, B>& x, double eps = 1e-12) {
  using A = accumulate_t<T>;
  const int64_t cols = x.shape().last(), rows = x.shape().rows();
  auto y = new_tensor<T, B>(ctx, x.shape());
  Tensor<A, B> norms(Shape{rows}, ctx.arena());
  BackendTraits<B>::l2_normalize_forward(ctx, x.data(), y.data(), norms.data(), rows, cols, static_cast<A>(eps));
  const bool track = should_record(x);
  Var<T, B> out = make_output(y, track);
  if (track) {
    recording_tape()->record(
        [c = &ctx, y, norms, rows, cols, eps, sx = x.slot(), so = out.slot()] {
          auto dx = new_tensor<T, B>(*c, y.shape());
          BackendTraits<B>::l2_normalize_backward(*c, y.data(), norms.data(), so->grad().data(), dx.data(),
                                                  rows, cols, static_cast<A>(eps));
          sx->accumulate(*c, std::move(dx));
        },
        {out.slot()});
  }
  return out;
}

}  // namespace mnemo::autograd
