// mnemo/memory/continuous_memory_config.hpp — every setting of the ∞-former's long-term memory
// (infinite_former.md §2–§6, §10, §15), validated at construction of the layer.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include "mnemo/core/error.hpp"
#include "mnemo/core/size_limits.hpp"
#include "mnemo/memory/basis_config.hpp"
#include "mnemo/memory/position_convention.hpp"

namespace mnemo::memory {

struct ContinuousMemoryConfig {
  BasisConfig basis = BasisConfig::sorting();  // N and the widths S (§2)
  int64_t segment_length = 1024;  // L: vectors written per update (other lengths build lazily)
  int64_t samples = 512;          // M: samples of the old signal per contraction (§5.2)
  double tau = 0.75;              // contraction factor: old memory squeezed into [0, τ]
  double ridge_lambda = 1.0;      // λ of the ridge regression (§3.3)
  PositionConvention positions = PositionConvention::Paper;  // §3.1 (Paper = i/L, the default)
  bool zero_pad = true;           // zero-target pads around the fit lattice (§3.2)
  bool gate = true;               // X̃ = X ⊙ sigmoid(Conv1d(X)) before writing (§4)
  double sigma2_floor = 1e-4;     // ε: σ² = max(softplus(·), ε) (§6)
  double sigma0 = 0.05;           // σ₀ of the KL regulariser
  double kl_weight = 1e-6;        // λ_KL: loss += λ_KL·mean_{rows,heads,queries}(Σ_layers KL)
  bool sticky = false;            // sticky memories (§5.3)
  int64_t sticky_bins = 128;      // D: histogram bins of the previous step's densities
  bool sticky_jitter = false;     // s_k = left edge + U(0,1)/D instead of the left edge
  int64_t reset_every_tokens = 0; // empty the memory once this many tokens were written (0 = never)
  double init_std = 0.02;         // N(0, init_std²) for W_K, W_V, W_O, w_μ, w_σ and the gate conv

  /// Throws ConfigError naming the first bad field.
  void validate() const {
    const std::string who = "ContinuousMemoryConfig";
    basis.validate(who);
    require_extent(who.c_str(), "basis_count", basis.count);
    require_extent(who.c_str(), "segment_length", segment_length);
    require_extent(who.c_str(), "samples", samples);
    require_extent(who.c_str(), "sticky_bins", sticky_bins);
    require<ConfigError>(segment_length >= 1, who, ": segment_length = ", segment_length, ", expected >= 1");
    require<ConfigError>(samples >= 1, who, ": samples = ", samples, ", expected >= 1 (M)");
    require<ConfigError>(tau > 0 && tau < 1, who, ": tau = ", tau, ", expected in (0, 1)");
    require<ConfigError>(std::isfinite(ridge_lambda) && ridge_lambda > 0, who, ": ridge_lambda = ", ridge_lambda,
                         ", expected a finite value > 0");
    require<ConfigError>(std::isfinite(sigma2_floor) && sigma2_floor > 0, who, ": sigma2_floor = ", sigma2_floor,
                         ", expected a finite value > 0");
    require<ConfigError>(std::isfinite(sigma0) && sigma0 > 0, who, ": sigma0 = ", sigma0, ", expected > 0");
    require<ConfigError>(std::isfinite(kl_weight) && kl_weight >= 0, who, ": kl_weight = ", kl_weight, ", expected >= 0");
    require<ConfigError>(sticky_bins >= 1, who, ": sticky_bins = ", sticky_bins, ", expected >= 1");
    require<ConfigError>(reset_every_tokens >= 0, who, ": reset_every_tokens = ", reset_every_tokens,
                         ", expected >= 0 (0 = never)");
    require<ConfigError>(std::isfinite(init_std) && init_std >= 0, who, ": init_std = ", init_std, ", expected >= 0");
  }

  /// The authors' sorting configuration (§10): N 512, S {0.01, 0.05}, λ 1, τ 0.75, M 512,
  /// L 1024, ε 1e-6, σ₀ 0.05, λ_KL 1e-6, no sticky memories.
  static ContinuousMemoryConfig sorting() { return preset(BasisConfig::sorting(), 1024, 0.75, 1.0, 1e-6); }
  /// Language-modelling configuration (§10): N 512, S {0.005, 0.01}, λ 0.5, τ 0.5, M 512,
  /// L 512, ε 1e-4, D 128 (sticky memories off by default; the paper's best rows turn them on).
  static ContinuousMemoryConfig lm() { return preset(BasisConfig::lm(), 512, 0.5, 0.5, 1e-4); }

 private:
  static ContinuousMemoryConfig preset(BasisConfig basis, int64_t length, double tau, double lambda, double floor) {
    ContinuousMemoryConfig c;
    c.basis = std::move(basis);
    c.segment_length = length;
    c.samples = 512;
    c.tau = tau;
    c.ridge_lambda = lambda;
    c.sigma2_floor = floor;
    return c;
  }
};

}  // namespace mnemo::memory
