// mnemo/memory/basis_config.hpp — the size and widths of the ∞-former's Gaussian radial basis
// (infinite_former.md §2): the configuration only, without Eigen, so that the memory's
// configuration (continuous_memory_config.hpp) does not pull in the host-side linear algebra of
// continuous_basis.hpp and ridge_fit.hpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "mnemo/core/error.hpp"

namespace mnemo::memory {

/// Number of basis functions and their widths; the centres follow from them (§2).
struct BasisConfig {
  int64_t count = 512;                      // N
  std::vector<double> widths = {0.01, 0.05};  // S, W = widths.size()

  /// Throws ConfigError naming the field: N > 0, W ≥ 1, every width > 0 and finite,
  /// N mod W = 0 and N/W ≥ 2 (the spec's requirement; the reference code silently rounds N up).
  void validate(const std::string& owner = "BasisConfig") const {
    require<ConfigError>(!widths.empty(), owner, ": basis_widths is empty, expected at least one width");
    require<ConfigError>(count > 0, owner, ": basis_count = ", count, ", expected > 0");
    for (size_t w = 0; w < widths.size(); ++w)
      require<ConfigError>(std::isfinite(widths[w]) && widths[w] > 0, owner, ": basis_widths[", w, "] = ",
                           widths[w], ", expected a finite width > 0");
    const auto W = static_cast<int64_t>(widths.size());
    require<ConfigError>(count % W == 0, owner, ": basis_count = ", count, " is not a multiple of the ", W,
                         " basis_widths (expected basis_count mod W = 0)");
    require<ConfigError>(count / W >= 2, owner, ": basis_count / W = ", count / W,
                         ", expected at least 2 centres per width (basis_count >= ", 2 * W, ")");
  }

  /// Sorting-task preset (§10): N = 512, S = {0.01, 0.05}.
  static BasisConfig sorting() { return {512, {0.01, 0.05}}; }
  /// Language-modelling preset (§2, §10): N = 512, S = {0.005, 0.01}.
  static BasisConfig lm() { return {512, {0.005, 0.01}}; }
};

}  // namespace mnemo::memory
