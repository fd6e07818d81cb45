// mnemo/autograd/ops/layout.hpp — data movement: swapping dimensions 1 and 2 (attention heads),
// concatenation along dimension 1.
#pragma once

#include <vector>

#include "mnemo/autograd/ops/common.hpp"

namespace mnemo::autograd {

/// [d0, d1, d2, d3] → [d0, d2, d1, d3]. Its own inverse, which is also its adjoint.
template <class T, class B>
Var<T, B> permute_0213(Context<B>& ctx, const Var<T, B>& x) {
  if (x.shape().rank() != 4)
    throw ShapeError(detail::cat("permute_0213: x has shape ", x.shape().str(), ", expected rank 4"));
  const Shape s = x.shape();
  auto y = new_tensor<T, B>(ctx, Shape{s[0], s[2], s[1], s[3]});
  BackendTraits<B>::permute_0213(ctx, x.data(), y.data(), s[0], s[1], s[2], s[3]);
  const bool track = should_record(x);
  Var<T, B> out = make_output(std::move(y), track);
  if (track) {
    recording_tape()->record(
        [c = &ctx, s, sx = x.slot(), so = out.slot()] {
          auto d = new_tensor<T, B>(*c, s);
          BackendTraits<B>::permute_0213(*c, so->grad().data(), d.data(), s[0], s[2], s[1], s[3]);
          sx->accumulate(*c, std::move(d));
        },
        {out.slot()});
  }
  return out;
}

/// Concatenation along dimension 1 of [n, a, ...] and [n, b, ...] → [n, a + b, ...].
template <class T, class B>
Var<T, B> concat1(Context<B>& ctx, const Var<T, B>& x, const Var<T, B>& y) {
  const Shape sx = x.shape(), sy = y.shape();
  bool ok = sx.rank() >= 2 && sx.rank() == sy.rank() && sx[0] == sy[0];
  for (int i = 2; ok && i < sx.rank(); ++i) ok = sx[i] == sy[i];
  if (!ok)
    throw ShapeError(detail::cat("concat1: cannot join ", sx.str(), " and ", sy.str(),
                                 " along dimension 1 (other dimensions must agree)"));
  const int64_t n = sx[0], inner = sx.numel() / (sx[0] * sx[1] == 0 ? 1 : sx[0] * sx[1]);
  const int64_t a = sx[1] * inner, b = sy[1] * inner;  // elements per outer row
  Shape so = sx;
  so[1] = sx[1] + sy[1];
  auto z = new_tensor<T, B>(ctx, so);
  const size_t e = sizeof(T), pitch = e * static_cast<size_t>(a + b);
  const size_t un = static_cast<size_t>(n);
  BackendTraits<B>::copy_2d(ctx, z.data(), pitch, x.data(), e * static_cast<size_t>(a), e * static_cast<size_t>(a), un);
  BackendTraits<B>::copy_2d(ctx, z.data() + a, pitch, y.data(), e * static_cast<size_t>(b), e * static_cast<size_t>(b), un);
  const bool track = should_record(x, y);
  Var<T, B> out = make_output(std::move(z), track);
  if (track) {
    recording_tape()->record(
        [c = &ctx, n, a, b, sx, sy, slx = x.slot(), sly = y.slot(), so_ = out.slot()] {
          const T* g = so_->grad().data();
          const size_t e = sizeof(T), pitch = e * static_cast<size_t>(a + b), un = static_cast<size_t>(n);
          if (slx) {
            auto d = new_tensor<T, B>(*c, sx);
            BackendTraits<B>::copy_2d(*c, d.data(), e * static_cast<size_t>(a), g, pitch, e * static_cast<size_t>(a), un);
            slx->accumulate(*c, std::move(d));
          }
          if (sly) {
            auto d = new_tensor<T, B>(*c, sy);
            BackendTraits<B>::copy_2d(*c, d.data(), e * static_cast<size_t>(b), g + a, pitch, e * static_cast<size_t>(b), un);
            sly->accumulate(*c, std::move(d));
          }
        },
        {out.slot()});
  }
  return out;
}

}  // namespace mnemo::autograd
