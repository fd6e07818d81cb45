// mnemo/autograd/ops/softmax.hpp — masked softmax over the last dimension with a logit scale.
#pragma once

#include "mnemo/autograd/ops/common.hpp"
#include "mnemo/backend/primitives.hpp"

namespace mnemo::autograd {

/// p = softmax(scale·x + mask) over the last dimension of x viewed as [outer, heads, rows, cols]
/// (dims.total_rows()·dims.cols must equal x's element count). scale = 1/temperature for a
/// temperature softmax. Masked entries get probability 0; fully masked rows are all zero.
/// Backward: dx = scale·p⊙(dp − <p, dp>).
template <class T, class B>
Var<T, B> softmax(Context<B>& ctx, const Var<T, B>& x, const SoftmaxDims& dims,
                  compute_t<T> scale = compute_t<T>(1), const SoftmaxMask& mask = {}) {
  if (dims.total_rows() * dims.cols != x.numel() || x.shape().last() != dims.cols)
    throw ShapeError(detail::cat("softmax: x has shape ", x.shape().str(), ", expected ",
                                 dims.total_rows(), " rows of cols=", dims.cols));
  auto y = new_tensor<T, B>(ctx, x.shape());
  BackendTraits<B>::softmax_forward(ctx, x.data(), y.data(), dims, scale, mask);
  const bool track = should_record(x);
  Var<T, B> out = make_output(y, track);
  if (track) {
    recording_tape()->record(
        [c = &ctx, y, scale, rows = dims.total_rows(), cols = dims.cols, sx = x.slot(), so = out.slot()] {
          auto d = new_tensor<T, B>(*c, y.shape());
          BackendTraits<B>::softmax_backward(*c, y.data(), so->grad().data(), d.data(), rows, cols, scale);
          sx->accumulate(*c, std::move(d));
        },
        {out.slot()});
  }
  return out;
}

/// Plain softmax over the last dimension.
template <class T, class B>
Var<T, B> softmax(Context<B>& ctx, const Var<T, B>& x) {
  SoftmaxDims dims;
  dims.rows = x.shape().rows();
  dims.cols = x.shape().last();
  return softmax(ctx, x, dims);
}

}  // namespace mnemo::autograd
