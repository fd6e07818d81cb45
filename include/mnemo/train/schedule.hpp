// mnemo/train/schedule.hpp — learning-rate schedule: linear warm-up, then cosine decay.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "mnemo/core/error.hpp"

namespace mnemo::train {

struct WarmupCosine {
  double peak_lr = 3e-4;
  int64_t warmup_steps = 1000;
  int64_t total_steps = 100000;
  double final_lr_fraction = 0.1;  // lr at total_steps = fraction·peak

  void validate() const {
    require<ConfigError>(peak_lr >= 0, "WarmupCosine: peak_lr = ", peak_lr, ", expected >= 0");
    require<ConfigError>(warmup_steps >= 0, "WarmupCosine: warmup_steps = ", warmup_steps, ", expected >= 0");
    require<ConfigError>(total_steps > 0, "WarmupCosine: total_steps = ", total_steps, ", expected > 0");
    require<ConfigError>(final_lr_fraction >= 0 && final_lr_fraction <= 1, "WarmupCosine: final_lr_fraction = ",
                         final_lr_fraction, ", expected in [0, 1]");
  }

  /// Learning rate for 0-based `step`.
  double operator()(int64_t step) const {
    if (step < warmup_steps) return peak_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
    const double span = static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps));
    const double p = std::min(1.0, static_cast<double>(step - warmup_steps) / span);
    const double cosine = 0.5 * (1.0 + std::cos(3.14159265358979323846 * p));
    return peak_lr * (final_lr_fraction + (1.0 - final_lr_fraction) * cosine);
  }
};

}  // namespace mnemo::train
