// mnemo/autograd/ops/matmul.hpp — (batched) matrix products and the affine map x·W + b.
#pragma once

#include <cstdint>
#include <vector>

#include "mnemo/autograd/ops/common.hpp"
#include "mnemo/backend/primitives.hpp"

namespace mnemo::autograd {

}  // namespace mnemo::autograd

namespace mnemo::detail {
struct MatmulDims {
  int64_t batch, m, n, k;
  bool broadcast_b;  // b is one matrix shared by every batch entry of a
};

inline MatmulDims matmul_dims(const Shape& a, const Shape& b, Trans ta, Trans tb) {
  if (a.rank() < 2 || b.rank() < 2)
    throw ShapeError(cat("matmul: operands need rank >= 2, got ", a.str(), " and ", b.str()));
  MatmulDims d{};
  d.m = ta == Trans::N ? a[-2] : a[-1];
  const int64_t ka = ta == Trans::N ? a[-1] : a[-2];
  d.k = tb == Trans::N ? b[-2] : b[-1];
  d.n = tb == Trans::N ? b[-1] : b[-2];
  if (ka != d.k)
    throw ShapeError(cat("matmul: inner dimensions differ: op(a) of ", a.str(), " has ", ka,
                                        " columns, op(b) of ", b.str(), " has ", d.k, " rows"));
  d.batch = a.numel() / (a[-1] * a[-2] == 0 ? 1 : a[-1] * a[-2]);
  d.broadcast_b = b.rank() == 2 && a.rank() > 2;
  if (d.broadcast_b) {
    if (ta != Trans::N)
      throw ShapeError("matmul: a shared right operand needs an untransposed left operand");
  } else {
    if (a.rank() != b.rank())
      throw ShapeError(cat("matmul: batch ranks differ: ", a.str(), " and ", b.str()));
    for (int i = 0; i + 2 < a.rank(); ++i)
      if (a[i] != b[i])
        throw ShapeError(cat("matmul: batch dimensions differ: ", a.str(), " and ", b.str()));
  }
  return d;
}
}  // namespace mnemo::detail

namespace mnemo::autograd {

/// op(a)·op(b) over matching leading (batch) dimensions; b may be a single matrix shared by
/// every batch entry when ta == N (then the batch folds into the rows of one product).
template <class T, class B>
Var<T, B> matmul(Context<B>& ctx, const Var<T, B>& a, const Var<T, B>& b, Trans ta = Trans::N,
                 Trans tb = Trans::N) {
  using BT = BackendTraits<B>;
  using C = compute_t<T>;
  const auto d = detail::matmul_dims(a.shape(), b.shape(), ta, tb);
  Shape out_shape = a.shape();  // a's batch dimensions, then [m, n]
  out_shape[-2] = d.m;
  out_shape[-1] = d.n;
  auto y = new_tensor<T, B>(ctx, out_shape);
  const int64_t lda = a.shape()[-1], ldb = b.shape()[-1];
  if (d.broadcast_b)
    BT::gemm(ctx, Trans::N, tb, d.batch * d.m, d.n, d.k, C(1), a.data(), lda, 0, b.data(), ldb, 0,
             C(0), y.data(), d.n, 0, 1);
  else
    BT::gemm(ctx, ta, tb, d.m, d.n, d.k, C(1), a.data(), lda, d.m * d.k, b.data(), ldb, d.k * d.n,
             C(0), y.data(), d.n, d.m * d.n, d.batch);
  const bool track = should_record(a, b);
  Var<T, B> out = make_output(std::move(y), track);
  if (!track) return out;
  recording_tape()->record(
      [c = &ctx, d, ta, tb, lda, ldb, av = a.value(), bv = b.value(), sa = a.slot(), sb = b.slot(),
       so = out.slot()] {
        const T* g = so->grad().data();
        const T* A = av.data();
        const T* Bm = bv.data();
        const int64_t m = d.broadcast_b ? d.batch * d.m : d.m;
        const int64_t batch = d.broadcast_b ? 1 : d.batch;
        const int64_t sA = d.broadcast_b ? 0 : d.m * d.k, sB = d.broadcast_b ? 0 : d.k * d.n;
        const int64_t sC = d.broadcast_b ? 0 : d.m * d.n;
        const int64_t n = d.n, k = d.k;
        if (sa) {
          auto [dA, beta] = sa->accumulation_target();
          if (ta == Trans::N && tb == Trans::N)  // dA = dC·Bᵀ
            BT::gemm(*c, Trans::N, Trans::T, m, k, n, C(1), g, n, sC, Bm, ldb, sB, beta, dA, lda, sA, batch);
          else if (ta == Trans::N)  // C = A·Bᵀ: dA = dC·B
            BT::gemm(*c, Trans::N, Trans::N, m, k, n, C(1), g, n, sC, Bm, ldb, sB, beta, dA, lda, sA, batch);
          else if (tb == Trans::N)  // C = Aᵀ·B: dA = B·dCᵀ
            BT::gemm(*c, Trans::N, Trans::T, k, m, n, C(1), Bm, ldb, sB, g, n, sC, beta, dA, lda, sA, batch);
          else  // C = Aᵀ·Bᵀ: dA = Bᵀ·dCᵀ
            BT::gemm(*c, Trans::T, Trans::T, k, m, n, C(1), Bm, ldb, sB, g, n, sC, beta, dA, lda, sA, batch);
        }
        if (sb) {
          auto [dB, beta] = sb->accumulation_target();
          if (ta == Trans::N && tb == Trans::N)  // dB = Aᵀ·dC
            BT::gemm(*c, Trans::T, Trans::N, k, n, m, C(1), A, lda, sA, g, n, sC, beta, dB, ldb, sB, batch);
          else if (ta == Trans::N)  // dB = dCᵀ·A
            BT::gemm(*c, Trans::T, Trans::N, n, k, m, C(1), g, n, sC, A, lda, sA, beta, dB, ldb, sB, batch);
          else if (tb == Trans::N)  // dB = A·dC
            BT::gemm(*c, Trans::N, Trans::N, k, n, m, C(1), A, lda, sA, g, n, sC, beta, dB, ldb, sB, batch);
          else  // dB = dCᵀ·Aᵀ
            BT::gemm(*c, Trans::T, Trans::T, n, k, m, C(1), g, n, sC, A, lda, sA, beta, dB, ldb, sB, batch);
        }
      },
      {out.slot()});
  return out;
}

/// y = x·W + b over the last dimension: x [..., in], W [in, out], b [out] (optional).
template <class T, class B>
Var<T, B> linear(Context<B>& ctx, const Var<T, B>& x, const Var<T, B>& w, const Var<T, B>* bias = nullptr) {
  using BT = BackendTraits<B>;
  using C = compute_t<T>;
  if (w.shape().rank() != 2)
    throw ShapeError(detail::cat("linear: weight has shape ", w.shape().str(), ", expected [in_features, out_features]"));
  const int64_t in = w.shape()[0], out_f = w.shape()[1];
  if (x.shape().rank() < 1 || x.shape().last() != in)
    throw ShapeError(detail::cat("linear: input has shape ", x.shape().str(), ", expected [..., in_features=", in, "]"));
  if (bias) check_shape("linear: bias", bias->shape(), {{"out_features", out_f}});
  const int64_t rows = x.shape().rows();
  auto y = new_tensor<T, B>(ctx, x.shape().with_last(out_f));
  BT::gemm(ctx, Trans::N, Trans::N, rows, out_f, in, C(1), x.data(), in, 0, w.data(), out_f, 0, C(0),
           y.data(), out_f, 0, 1);
  if (bias) BT::add_row_broadcast(ctx, y.data(), bias->data(), y.data(), rows, out_f);
  const bool track = bias ? should_record(x, w, *bias) : should_record(x, w);
  Var<T, B> out = make_output(std::move(y), track);
  if (!track) return out;
  recording_tape()->record(
      [c = &ctx, rows, in, out_f, xv = x.value(), wv = w.value(), sx = x.slot(), sw = w.slot(),
       sbias = bias ? bias->slot() : nullptr, so = out.slot()] {
        const T* g = so->grad().data();
        if (sx) {  // dx = dy·Wᵀ
          auto [dx, beta] = sx->accumulation_target();
          BT::gemm(*c, Trans::N, Trans::T, rows, in, out_f, C(1), g, out_f, 0, wv.data(), out_f, 0, beta, dx, in, 0, 1);
        }
        if (sw) {  // dW += xᵀ·dy
          auto [dw, beta] = sw->accumulation_target();
          BT::gemm(*c, Trans::T, Trans::N, in, out_f, rows, C(1), xv.data(), in, 0, g, out_f, 0, beta, dw, out_f, 0, 1);
        }
        if (sbias) {  // db += Σ_rows dy
          auto [db, beta] = sbias->accumulation_target();
          BT::sum_rows(*c, g, db, rows, out_f, beta != C(0));
        }
      },
      {out.slot()});
  return out;
}

}  // namespace mnemo::autograd
