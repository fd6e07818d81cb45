// mnemo/autograd/ops/common.hpp — shared helpers of the differentiable ops.
#pragma once

#include <cmath>
#include <string>

#include "mnemo/autograd/tape.hpp"
#include "mnemo/autograd/var.hpp"
#include "mnemo/core/error.hpp"
#include "mnemo/core/tensor.hpp"

namespace mnemo::autograd {

/// Uninitialised tensor from the context's arena.
template <class T, class B>
Tensor<T, B> new_tensor(Context<B>& ctx, const Shape& shape) {
  return Tensor<T, B>(shape, ctx.arena());
}

/// Throws ShapeError unless `a` and `b` have the same shape.
inline void check_same_shape(const char* op, const char* a_name, const Shape& a,
                             const char* b_name, const Shape& b) {
  if (a != b)
    throw ShapeError(detail::cat(op, ": ", b_name, " has shape ", b.str(), ", expected the shape of ",
                                 a_name, " ", a.str()));
}

/// Throws ValueError if `t` holds NaN or ±Inf (used at public entry points on user inputs).
template <class T, class B>
void check_finite(Context<B>& ctx, Label what, const Tensor<T, B>& t) {
  const int64_t bad = BackendTraits<B>::template count_nonfinite<T>(ctx, t.data(), t.numel());
  if (bad > 0)
    throw ValueError(detail::cat(what, " holds ", bad, " non-finite value(s) (NaN or Inf), expected finite values"));
}

}  // namespace mnemo::autograd
