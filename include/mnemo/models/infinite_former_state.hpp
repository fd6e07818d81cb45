// mnemo/models/infinite_former_state.hpp — the stream state of an ∞-former language model
// (infinite_former.md §9), separate from its parameters:
//   ltm     one long-term-memory state per layer (coefficients, sticky densities, sampler key)
//   cache   the short-term window: up to stm_segments + 1 past segments, each with every layer's
//           input (the residual stream before LN, detached) and its key-padding mask; the oldest
//           leaves for the long-term memory at the start of the next step
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "mnemo/core/error.hpp"
#include "mnemo/core/tensor.hpp"
#include "mnemo/memory/continuous_state.hpp"

namespace mnemo::models {

template <class T, class B>
struct InfiniteFormerState {
  /// One past segment in the short-term window.
  struct CachedSegment {
    std::vector<Tensor<T, B>> inputs;  // per layer [batch, L_s, e]
    Tensor<uint8_t, Cpu> padding;      // [batch, L_s] host, nonzero = padding (or a reset row)
    int64_t length() const { return padding.shape()[1]; }
  };

  std::vector<memory::ContinuousState<T, B>> ltm;  // per layer (empty without long-term memory)
  std::deque<CachedSegment> cache;
  int64_t batch = 0;
  int64_t steps = 0;  // segments processed

  /// Starts new documents in the rows whose flag is set: their long-term memories are emptied
  /// and their cached segments masked (never attended, never written). Other rows are untouched.
  void reset_rows(const std::vector<uint8_t>& mask) {
    require<ShapeError>(static_cast<int64_t>(mask.size()) == batch, "InfiniteFormerState::reset_rows: mask has ",
                        mask.size(), " entries, expected batch=", batch);
    bool any = false;
    for (uint8_t m : mask) any = any || m;
    if (!any) return;
    for (auto& s : ltm) s.reset_rows(mask);
    for (auto& entry : cache) {
      entry.padding = entry.padding.clone();  // cached masks may be shared with a clone
      const int64_t len = entry.length();
      for (int64_t b = 0; b < batch; ++b)
        if (mask[static_cast<size_t>(b)])
          for (int64_t t = 0; t < len; ++t) entry.padding[b * len + t] = 1;
    }
  }

  /// A deep copy (a branch of the stream: e.g. to try a continuation without committing it).
  InfiniteFormerState clone() const {
    InfiniteFormerState s;
    s.batch = batch;
    s.steps = steps;
    for (const auto& m : ltm) s.ltm.push_back(m.clone());
    for (const auto& entry : cache) {
      CachedSegment c;
      for (const auto& x : entry.inputs) c.inputs.push_back(x.clone());
      c.padding = entry.padding.clone();
      s.cache.push_back(std::move(c));
    }
    return s;
  }

  /// Numbers held in backend memory: the long-term memories (constant in the stream length)
  /// plus the short-term cache (at most stm_segments + 1 segments).
  int64_t numel() const {
    int64_t n = 0;
    for (const auto& m : ltm) n += m.numel();
    for (const auto& entry : cache)
      for (const auto& x : entry.inputs) n += x.numel();
    return n;
  }
};

}  // namespace mnemo::models
