// mnemo/bench/sample_stats.hpp — the summary mnemo's benchmarks report for repeated timings:
// median, extremes and the spread (max − min) / median.
//
//   auto s = mnemo::bench::summarize({0.012, 0.011, 0.013});
//   // s.median = 0.012, s.spread() = (0.013 − 0.011) / 0.012
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "mnemo/core/error.hpp"

namespace mnemo::bench {

/// Median, minimum, maximum and mean of a set of samples.
struct SampleStats {
  size_t count = 0;
  double median = 0, min = 0, max = 0, mean = 0;

  /// (max − min) / median: the relative width of the range; 0 when the median is 0.
  double spread() const { return median != 0 ? (max - min) / median : 0.0; }
};

/// Summarises `samples`; throws ValueError if there are none. The median of an even count is the
/// mean of the two middle samples.
inline SampleStats summarize(std::vector<double> samples) {
  require<ValueError>(!samples.empty(), "bench::summarize: expected at least one sample, got 0");
  std::sort(samples.begin(), samples.end());
  SampleStats s;
  s.count = samples.size();
  const size_t mid = s.count / 2;
  s.median = s.count % 2 ? samples[mid] : 0.5 * (samples[mid - 1] + samples[mid]);
  s.min = samples.front();
  s.max = samples.back();
  double sum = 0;
  for (double v : samples) sum += v;
  s.mean = sum / static_cast<double>(s.count);
  return s;
}

}  // namespace mnemo::bench
