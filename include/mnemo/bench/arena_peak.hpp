// mnemo/bench/arena_peak.hpp — the peak working memory of a piece of code: the high-water mark of
// a backend arena (core/arena.hpp) over a scope, measured from the bytes in use when it began.
//
//   auto& arena = mnemo::BackendTraits<mnemo::Cpu>::default_context().arena();
//   mnemo::bench::ArenaPeak peak(arena);        // restarts the arena's high-water mark
//   run_the_step();
//   state.counters["peak_MiB"] = peak.above_start() / (1024.0 * 1024.0);
//
// The arena keeps one high-water mark, so two ArenaPeak scopes on one arena must not overlap.
#pragma once

#include <cstddef>

#include "mnemo/core/arena.hpp"

namespace mnemo::bench {

/// Records an arena's bytes in use and restarts its high-water mark (Arena::reset_peak).
class ArenaPeak {
 public:
  explicit ArenaPeak(Arena& arena) : arena_(&arena) { restart(); }

  /// Starts over: the current bytes in use become the baseline and the high-water mark.
  void restart() {
    arena_->reset_peak();
    start_ = arena_->stats().bytes_in_use;
  }
  /// Bytes in use when the scope (or the last restart()) began.
  size_t start() const { return start_; }
  /// The arena's high-water mark since then: everything in use at once (parameters included).
  size_t peak() const { return arena_->stats().peak_bytes; }
  /// peak() − start(): what the measured code needed on top of what was already held (its
  /// activations, workspaces and temporaries). Zero if it freed more than it allocated.
  size_t above_start() const {
    const size_t p = peak();
    return p > start_ ? p - start_ : 0;
  }

 private:
  Arena* arena_;
  size_t start_ = 0;
};

}  // namespace mnemo::bench
