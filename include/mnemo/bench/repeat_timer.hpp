// mnemo/bench/repeat_timer.hpp — times a callable the way mnemo-bench does, for programs that do
// not use Google Benchmark: warm-up calls (they fill the arena's cache and the thread pool), then
// repetitions of wall-clock time; each repetition repeats the call often enough to last at least
// min_seconds (sized from one timed call first) and reports the seconds per call.
//
//   auto t = mnemo::bench::time_repetitions([&] { model.step(state, segment); }, {});
//   auto s = mnemo::bench::summarize(t.seconds_per_call);
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include "mnemo/core/error.hpp"

namespace mnemo::bench {

/// How time_repetitions() measures.
struct RepeatOptions {
  int warmup = 1;             // untimed calls first
  int repetitions = 5;        // timed repetitions (samples)
  double min_seconds = 0.0;   // a repetition repeats the call until it has lasted this long
  /// Waits until the work of the calls has finished; called before the clock starts and before it
  /// stops for each timed call or repetition. A backend whose calls return before their work is
  /// done (CUDA) passes its synchronize here, e.g. `[&] { BackendTraits<Cuda>::synchronize(ctx); }`;
  /// empty: nothing to wait for (the CPU).
  std::function<void()> synchronize;
  /// Called after each timed repetition with its index and its seconds per call (progress).
  std::function<void(int repetition, double seconds_per_call)> on_repetition;
};

/// What time_repetitions() measured.
struct RepeatTimes {
  std::vector<double> seconds_per_call;  // one sample per repetition
  int64_t calls_per_repetition = 1;      // sized so that a repetition lasts at least min_seconds
  int64_t calls_made = 0;                // every call after the warm-up (the sizing call included)
};

/// Calls `body` options.warmup times; with min_seconds > 0, times one more call to size the
/// repetitions (not a sample); then times options.repetitions repetitions of
/// calls_per_repetition calls each. With options.synchronize, it is called before each clock
/// start and stop, so asynchronous work is inside the repetition that queued it. Throws
/// ValueError for repetitions < 1, warmup < 0 or a negative min_seconds.
template <class Body>
RepeatTimes time_repetitions(Body&& body, const RepeatOptions& options) {
  require<ValueError>(options.repetitions >= 1, "bench::time_repetitions: repetitions = ", options.repetitions,
                      ", expected >= 1");
  require<ValueError>(options.warmup >= 0, "bench::time_repetitions: warmup = ", options.warmup, ", expected >= 0");
  require<ValueError>(options.min_seconds >= 0, "bench::time_repetitions: min_seconds = ", options.min_seconds,
                      ", expected >= 0");
  using Clock = std::chrono::steady_clock;
  const auto wait = [&] {
    if (options.synchronize) options.synchronize();
  };
  const auto start = [&] {
    wait();
    return Clock::now();
  };
  const auto seconds_since = [&](Clock::time_point t0) {
    wait();
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  for (int i = 0; i < options.warmup; ++i) body();
  RepeatTimes out;
  if (options.min_seconds > 0) {
    const auto t0 = start();
    body();
    const double once = seconds_since(t0);
    ++out.calls_made;
    if (once < options.min_seconds) out.calls_per_repetition = static_cast<int64_t>(options.min_seconds / (once > 0 ? once : 1e-9)) + 1;
  }
  for (int r = 0; r < options.repetitions; ++r) {
    const auto t0 = start();
    for (int64_t c = 0; c < out.calls_per_repetition; ++c) body();
    out.seconds_per_call.push_back(seconds_since(t0) / static_cast<double>(out.calls_per_repetition));
    out.calls_made += out.calls_per_repetition;
    if (options.on_repetition) options.on_repetition(r, out.seconds_per_call.back());
  }
  return out;
}

}  // namespace mnemo::bench
