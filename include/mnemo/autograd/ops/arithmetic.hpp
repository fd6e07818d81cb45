// mnemo/autograd/ops/arithmetic.hpp — elementwise arithmetic, bias add, reductions to a scalar,
// reshape and per-row selection, each with its reverse-mode rule.
#pragma once

#include <cstdint>
#include <vector>

#include "mnemo/autograd/ops/common.hpp"

namespace mnemo::autograd {

/// a + b (same shape).
template <class T, class B>
Var<T, B> add(Context<B>& ctx, const Var<T, B>& a, const Var<T, B>& b) {
  check_same_shape("add", "a", a.shape(), "b", b.shape());
  auto y = new_tensor<T, B>(ctx, a.shape());
  BackendTraits<B>::add(ctx, y.numel(), a.data(), b.data(), y.data());
  const bool track = should_record(a, b);
  Var<T, B> out = make_output(std::move(y), track);
  if (track) {
    recording_tape()->record(
        [c = &ctx, sa = a.slot(), sb = b.slot(), so = out.slot()] {
          if (sa) sa->accumulate(*c, so->grad());
          if (sb) sb->accumulate(*c, so->grad());
        },
        {out.slot()});
  }
  return out;
}

/// alpha·a + beta·b (same shape).
template <class T, class B>
Var<T, B> axpby(Context<B>& ctx, compute_t<T> alpha, const Var<T, B>& a, compute_t<T> beta, const Var<T, B>& b) {
  check_same_shape("axpby", "a", a.shape(), "b", b.shape());
  auto y = b.value().clone();
  BackendTraits<B>::template axpby<T>(ctx, y.numel(), alpha, a.data(), beta, y.data());
  const bool track = should_record(a, b);
  Var<T, B> out = make_output(std::move(y), track);
  if (track) {
    recording_tape()->record(
        [c = &ctx, alpha, beta, sa = a.slot(), sb = b.slot(), so = out.slot()] {
          const auto& g = so->grad();
          for (auto [slot, f] : {std::pair{sa, alpha}, std::pair{sb, beta}}) {
            if (!slot) continue;
            auto d = new_tensor<T, B>(*c, g.shape());
            BackendTraits<B>::template axpby<T>(*c, g.numel(), f, g.data(), compute_t<T>(0), d.data());
            slot->accumulate(*c, std::move(d));
          }
        },
        {out.slot()});
  }
  return out;
}

/// alpha·a
template <class T, class B>
Var<T, B> scale(Context<B>& ctx, const Var<T, B>& a, compute_t<T> alpha) {
  auto y = new_tensor<T, B>(ctx, a.shape());
  BackendTraits<B>::template axpby<T>(ctx, y.numel(), alpha, a.data(), compute_t<T>(0), y.data());
  const bool track = should_record(a);
  Var<T, B> out = make_output(std::move(y), track);
  if (track) {
    recording_tape()->record(
        [c = &ctx, alpha, sa = a.slot(), so = out.slot()] {
          const auto& g = so->grad();
          auto d = new_tensor<T, B>(*c, g.shape());
          BackendTraits<B>::template axpby<T>(*c, g.numel(), alpha, g.data(), compute_t<T>(0), d.data());
          sa->accumulate(*c, std::move(d));
        },
        {out.slot()});
  }
  return out;
}

/// a ⊙ b (same shape).
template <class T, class B>
Var<T, B> mul(Context<B>& ctx, const Var<T, B>& a, const Var<T, B>& b) {
  check_same_shape("mul", "a", a.shape(), "b", b.shape());
  auto y = new_tensor<T, B>(ctx, a.shape());
  BackendTraits<B>::mul(ctx, y.numel(), a.data(), b.data(), y.data());
  const bool track = should_record(a, b);
  Var<T, B> out = make_output(std::move(y), track);
  if (track) {
    recording_tape()->record(
        [c = &ctx, av = a.value(), bv = b.value(), sa = a.slot(), sb = b.slot(), so = out.slot()] {
          const auto& g = so->grad();
          if (sa) {
            auto d = new_tensor<T, B>(*c, g.shape());
            BackendTraits<B>::mul(*c, g.numel(), g.data(), bv.data(), d.data());
            sa->accumulate(*c, std::move(d));
          }
          if (sb) {
            auto d = new_tensor<T, B>(*c, g.shape());
            BackendTraits<B>::mul(*c, g.numel(), g.data(), av.data(), d.data());
            sb->accumulate(*c, std::move(d));
          }
        },
        {out.slot()});
  }
  return out;
}

/// x[..., n] + bias[n]
template <class T, class B>
Var<T, B> add_bias(Context<B>& ctx, const Var<T, B>& x, const Var<T, B>& bias) {
  const int64_t n = x.shape().last();
  check_shape("add_bias: bias", bias.shape(), {{"features", n}});
  auto y = new_tensor<T, B>(ctx, x.shape());
  BackendTraits<B>::add_row_broadcast(ctx, x.data(), bias.data(), y.data(), x.shape().rows(), n);
  const bool track = should_record(x, bias);
  Var<T, B> out = make_output(std::move(y), track);
  if (track) {
    recording_tape()->record(
        [c = &ctx, sx = x.slot(), sb = bias.slot(), so = out.slot(), rows = x.shape().rows(), n] {
          const auto& g = so->grad();
          if (sx) sx->accumulate(*c, g);
          if (sb) {
            auto [dst, beta] = sb->accumulation_target();
            BackendTraits<B>::sum_rows(*c, g.data(), dst, rows, n, beta != compute_t<T>(0));
          }
        },
        {out.slot()});
  }
  return out;
}

/// Σ_i x_i·w_i as a one-element value (w is a constant of x's shape). With w = 1: the sum.
template <class T, class B>
Var<T, B> sum_product(Context<B>& ctx, const Var<T, B>& x, const Tensor<T, B>& w) {
  check_same_shape("sum_product", "x", x.shape(), "w", w.shape());
  const double s = BackendTraits<B>::dot(ctx, x.data(), w.data(), x.numel());
  auto y = new_tensor<T, B>(ctx, Shape{});
  const T v = static_cast<T>(s);
  BackendTraits<B>::copy_from_host(ctx, y.data(), &v, sizeof(T));
  const bool track = should_record(x);
  Var<T, B> out = make_output(std::move(y), track);
  if (track) {
    recording_tape()->record(
        [c = &ctx, w, sx = x.slot(), so = out.slot()] {
          T g{};
          BackendTraits<B>::copy_to_host(*c, &g, so->grad().data(), sizeof(T));
          auto d = new_tensor<T, B>(*c, w.shape());
          BackendTraits<B>::template axpby<T>(*c, w.numel(), static_cast<compute_t<T>>(g), w.data(), compute_t<T>(0), d.data());
          sx->accumulate(*c, std::move(d));
        },
        {out.slot()});
  }
  return out;
}

/// Σ_i x_i as a one-element value.
template <class T, class B>
Var<T, B> sum(Context<B>& ctx, const Var<T, B>& x) {
  return sum_product(ctx, x, Tensor<T, B>::full(x.shape(), T(1)));
}

/// The same elements viewed with another shape (no copy).
template <class T, class B>
Var<T, B> reshape(const Var<T, B>& x, const Shape& shape) {
  auto y = x.value().reshape(shape);
  if (!x.requires_grad()) return Var<T, B>(std::move(y));
  // The output shares the input's gradient slot: a reshape moves no data and needs no node.
  // The slot's shape stays the input's; gradients are accepted by element count.
  return Var<T, B>(std::move(y), x.slot());
}

/// out[r] = select[r] ? a[r] : b[r] over rows of the leading dimension; `a` may hold a single
/// row that is broadcast to every selected row. `select` (host memory, rows entries).
/// Gradient: selected rows flow to a (summed when broadcast), the others to b.
template <class T, class B>
Var<T, B> select_rows(Context<B>& ctx, const std::vector<uint8_t>& select, const Var<T, B>& a,
                      const Var<T, B>& b) {
  const int64_t rows = b.shape()[0];
  const int64_t cols = b.numel() / (rows == 0 ? 1 : rows);
  if (static_cast<int64_t>(select.size()) != rows)
    throw ShapeError(detail::cat("select_rows: select has ", select.size(), " entries, expected rows=", rows));
  const bool broadcast = a.numel() == cols && rows != 1;
  if (!broadcast && a.numel() != b.numel())
    throw ShapeError(detail::cat("select_rows: a has shape ", a.shape().str(), ", expected ",
                                 b.shape().str(), " or one row of ", cols, " elements"));
  auto y = new_tensor<T, B>(ctx, b.shape());
  BackendTraits<B>::select_rows(ctx, select.data(), a.data(), broadcast ? 0 : cols, b.data(), y.data(), rows, cols);
  const bool track = should_record(a, b);
  Var<T, B> out = make_output(std::move(y), track);
  if (track) {
    recording_tape()->record(
        [c = &ctx, select, broadcast, rows, cols, sa = a.slot(), sb = b.slot(), so = out.slot(),
         a_shape = a.shape(), b_shape = b.shape()] {
          const auto& g = so->grad();
          std::vector<uint8_t> inverse(select.size());
          for (size_t i = 0; i < select.size(); ++i) inverse[i] = select[i] ? 0 : 1;
          auto zeros = Tensor<T, B>(Shape{cols}, c->arena());
          zeros.zero();
          if (sb) {  // d_b[r] = select[r] ? 0 : g[r]
            auto d = new_tensor<T, B>(*c, b_shape);
            BackendTraits<B>::select_rows(*c, select.data(), zeros.data(), 0, g.data(), d.data(), rows, cols);
            sb->accumulate(*c, std::move(d));
          }
          if (sa) {  // d_a[r] = select[r] ? g[r] : 0, summed over rows when broadcast
            auto d = new_tensor<T, B>(*c, b_shape);
            BackendTraits<B>::select_rows(*c, inverse.data(), zeros.data(), 0, g.data(), d.data(), rows, cols);
            if (broadcast) {
              auto row = new_tensor<T, B>(*c, a_shape);
              BackendTraits<B>::sum_rows(*c, d.data(), row.data(), rows, cols, false);
              sa->accumulate(*c, std::move(row));
            } else {
              sa->accumulate(*c, std::move(d));
            }
          }
        },
        {out.slot()});
  }
  return out;
}

}  // namespace mnemo::autograd
