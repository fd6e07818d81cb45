// mnemo/autograd/ops/loss.hpp — softmax cross-entropy with ignore index and per-row weights.
#pragma once

#include <vector>

#include "mnemo/autograd/ops/common.hpp"
#include "mnemo/autograd/ops/embedding.hpp"

namespace mnemo::autograd {

enum class Reduction {
  Mean,  // Σ_r w_r·loss_r / Σ_{r counted} w_r   (w = 1 without weights: mean over counted rows)
  Sum    // Σ_r w_r·loss_r
};

struct CrossEntropyOptions {
  int32_t ignore_index = -100;
  Reduction reduction = Reduction::Mean;
};

/// Cross-entropy of logits [..., vocab] against integer targets (one per row of logits).
/// `weights` (optional, one float per row, in the backend's memory) scales each row's loss.
/// Returns a one-element value. Rows whose target is ignore_index count for nothing.
template <class T, class B>
Var<T, B> cross_entropy(Context<B>& ctx, const Var<T, B>& logits, const Tensor<int32_t, B>& targets,
                        const Tensor<float, B>* weights = nullptr, CrossEntropyOptions opt = {}) {
  using BT = BackendTraits<B>;
  using A = accumulate_t<T>;
  const int64_t vocab = logits.shape().last(), rows = logits.shape().rows();
  if (targets.numel() != rows)
    throw ShapeError(detail::cat("cross_entropy: targets have shape ", targets.shape().str(), " (",
                                 targets.numel(), " ids), expected one id per row of logits ",
                                 logits.shape().str(), " (rows=", rows, ")"));
  if (weights && weights->numel() != rows)
    throw ShapeError(detail::cat("cross_entropy: weights have shape ", weights->shape().str(),
                                 ", expected one weight per row (rows=", rows, ")"));
  check_ids(ctx, "cross_entropy: targets", targets, vocab, opt.ignore_index);

  double normaliser = 1.0;
  if (opt.reduction == Reduction::Mean) {
    const auto t = targets.to_host();
    std::vector<float> w = weights ? weights->to_host() : std::vector<float>{};
    normaliser = 0.0;
    for (size_t r = 0; r < t.size(); ++r)
      if (t[r] != opt.ignore_index) normaliser += weights ? static_cast<double>(w[r]) : 1.0;
    if (normaliser == 0.0) normaliser = 1.0;  // nothing counted: loss 0, gradient 0
  }
  Tensor<A, B> loss_rows(Shape{rows}, ctx.arena()), lse(Shape{rows}, ctx.arena());
  const float* wp = weights ? weights->data() : nullptr;
  BT::cross_entropy_forward(ctx, logits.data(), targets.data(), wp, loss_rows.data(), lse.data(), rows,
                            vocab, opt.ignore_index);
  const T value = static_cast<T>(BT::sum(ctx, loss_rows.data(), rows) / normaliser);
  auto y = new_tensor<T, B>(ctx, Shape{});
  BT::copy_from_host(ctx, y.data(), &value, sizeof(T));
  const bool track = should_record(logits);
  Var<T, B> out = make_output(std::move(y), track);
  if (track) {
    recording_tape()->record(
        [c = &ctx, lv = logits.value(), targets, w = weights ? *weights : Tensor<float, B>{}, lse, rows,
         vocab, normaliser, ignore = opt.ignore_index, sl = logits.slot(), so = out.slot()] {
          T g{};
          BT::copy_to_host(*c, &g, so->grad().data(), sizeof(T));
          auto d = new_tensor<T, B>(*c, lv.shape());
          BT::cross_entropy_backward(*c, lv.data(), targets.data(), w.defined() ? w.data() : nullptr, lse.data(),
                                     static_cast<A>(static_cast<double>(g) / normaliser), d.data(), rows, vocab, ignore);
          sl->accumulate(*c, std::move(d));
        },
        {out.slot()});
  }
  return out;
}

}  // namespace mnemo::autograd
