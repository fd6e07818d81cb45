// mnemo/memory/sticky_sampler.hpp — sticky memories (infinite_former.md §5.3): where to sample the
// old signal before a contraction, drawn from a histogram of the previous read's densities.
//   mass[d] = Σ_n Φ((e_{d+1} − μ_n)/σ_n) − Φ((e_d − μ_n)/σ_n),   e_d = d/D (outer edges −1e-6, 1 + 1e-6)
//   p = mass / Σ mass,   b_k ~ Categorical(p) i.i.d.,   s_k = e_{b_k} (+ U(0,1)/D with jitter), sorted
// Draws come from a counter-based key, so the same key gives the same positions on every run.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "mnemo/core/error.hpp"
#include "mnemo/core/rng.hpp"

namespace mnemo::memory {

/// Standard normal CDF.
inline double normal_cdf(double x) { return 0.5 * std::erfc(-x * 0.70710678118654752440); }

/// Histogram mass of n densities N(μ_n, σ_n²) over D bins of [0, 1] (σ, not σ²).
inline std::vector<double> sticky_histogram(const std::vector<double>& mu, const std::vector<double>& sigma,
                                            int64_t bins) {
  require<ShapeError>(mu.size() == sigma.size(), "sticky_histogram: ", mu.size(), " means and ", sigma.size(),
                      " standard deviations, expected as many of each");
  require<ConfigError>(bins >= 1, "sticky_histogram: bins = ", bins, ", expected >= 1");
  std::vector<double> edges(static_cast<size_t>(bins + 1));
  for (int64_t d = 0; d <= bins; ++d) edges[static_cast<size_t>(d)] = static_cast<double>(d) / static_cast<double>(bins);
  edges.front() = -1e-6;
  edges.back() = 1.0 + 1e-6;
  std::vector<double> mass(static_cast<size_t>(bins), 0.0);
  for (size_t n = 0; n < mu.size(); ++n) {
    double previous = normal_cdf((edges[0] - mu[n]) / sigma[n]);
    for (int64_t d = 0; d < bins; ++d) {
      const double next = normal_cdf((edges[static_cast<size_t>(d + 1)] - mu[n]) / sigma[n]);
      mass[static_cast<size_t>(d)] += next - previous;
      previous = next;
    }
  }
  return mass;
}

/// mass / Σ mass; uniform when the mass vanishes (every density far outside [0, 1]).
inline std::vector<double> normalise_histogram(std::vector<double> mass) {
  double total = 0;
  for (double m : mass) total += m;
  for (double& m : mass) m = total > 0 ? m / total : 1.0 / static_cast<double>(mass.size());
  return mass;
}

/// `count` positions drawn i.i.d. from the bins' probabilities p (left edges d/D, or with
/// `jitter` the left edge plus U(0,1)/D), sorted ascending. Draw k uses key.uniform_double(k)
/// for the bin and key.derive("jitter").uniform_double(k) for the jitter.
inline std::vector<double> sample_sticky_positions(const std::vector<double>& probabilities, int64_t count,
                                                   const RngKey& key, bool jitter) {
  const auto bins = static_cast<int64_t>(probabilities.size());
  require<ConfigError>(bins >= 1, "sample_sticky_positions: empty histogram");
  std::vector<double> cdf(probabilities.size());
  double acc = 0;
  for (size_t d = 0; d < probabilities.size(); ++d) cdf[d] = acc += probabilities[d];
  const RngKey jitter_key = key.derive("jitter");
  std::vector<double> s(static_cast<size_t>(count));
  for (int64_t k = 0; k < count; ++k) {
    const double u = key.uniform_double(static_cast<uint64_t>(k)) * acc;
    const auto bin = std::min<int64_t>(bins - 1, std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
    double pos = static_cast<double>(bin) / static_cast<double>(bins);
    if (jitter) pos += jitter_key.uniform_double(static_cast<uint64_t>(k)) / static_cast<double>(bins);
    s[static_cast<size_t>(k)] = pos;
  }
  std::sort(s.begin(), s.end());
  return s;
}

}  // namespace mnemo::memory
