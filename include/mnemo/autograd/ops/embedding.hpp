// mnemo/autograd/ops/embedding.hpp — table lookup and its adjoint (scatter-add).
#pragma once

#include <cstdint>
#include <vector>

#include "mnemo/autograd/ops/common.hpp"

namespace mnemo::autograd {

/// Value of `allowed` in check_ids that lets no out-of-range id pass.
inline constexpr int64_t kNoIgnoreIndex = INT64_MIN;

/// Throws ValueError when an id lies outside [0, vocab) (ids equal to `allowed` pass).
template <class B>
void check_ids(Context<B>& ctx, Label what, const Tensor<int32_t, B>& ids, int64_t vocab,
               int64_t allowed = kNoIgnoreIndex) {
  const int64_t bad = BackendTraits<B>::count_invalid_ids(ctx, ids.data(), ids.numel(), vocab, allowed);
  if (bad > 0)
    throw ValueError(detail::cat(what, ": ", bad, " id(s) outside [0, ", vocab, ")", " (vocab=", vocab, ")"));
}

/// out[..., :] = table[ids[...], :] : ids of any shape, table [vocab, dim].
template <class T, class B>
Var<T, B> embedding(Context<B>& ctx, const Var<T, B>& table, const Tensor<int32_t, B>& ids) {
  if (table.shape().rank() != 2)
    throw ShapeError(detail::cat("embedding: table has shape ", table.shape().str(), ", expected [vocab, dim]"));
  const int64_t vocab = table.shape()[0], dim = table.shape()[1];
  check_ids(ctx, "embedding: ids", ids, vocab);
  auto y = new_tensor<T, B>(ctx, ids.shape().appended(dim));
  BackendTraits<B>::embedding_gather(ctx, table.data(), ids.data(), y.data(), ids.numel(), dim);
  const bool track = should_record(table);
  Var<T, B> out = make_output(std::move(y), track);
  if (track) {
    recording_tape()->record(
        [c = &ctx, ids, dim, st = table.slot(), so = out.slot()] {
          T* dt = st->zeroed_target();
          BackendTraits<B>::embedding_scatter_add(*c, so->grad().data(), ids.data(), dt, ids.numel(), dim);
        },
        {out.slot()});
  }
  return out;
}

}  // namespace mnemo::autograd
