// mnemo/models/infinite_former_config.hpp — configuration of the ∞-former decoder language model
// (infinite_former.md §9, §10), validated at construction of the model.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include "mnemo/core/error.hpp"
#include "mnemo/core/size_limits.hpp"
#include "mnemo/memory/continuous_memory_config.hpp"

namespace mnemo::models {

struct InfiniteFormerConfig {
  int64_t vocab = 256;
  int64_t d_model = 512;
  int64_t heads = 8;
  int64_t d_ff = 2048;
  int64_t layers = 6;
  int64_t segment_length = 512;  // L: tokens per step and vectors per long-term-memory write
  int64_t stm_segments = 0;      // past segments the short-term attention sees (0: GPT-2 flavour,
                                 // 1: sorting flavour); a segment enters the LTM when it leaves
  double dropout = 0.1;          // after the embedding, on each residual branch
  bool use_ltm = true;           // false: the same model without long-term memory (baseline)
  bool alibi = true;             // ALiBi distance biases in the short-term attention (§9)
  bool tie_embeddings = true;    // the output head is the embedding matrix transposed
  double init_std = 0.02;
  /// The long-term memory of every layer; its segment_length is taken from `segment_length`.
  memory::ContinuousMemoryConfig ltm = memory::ContinuousMemoryConfig::lm();

  /// Throws ConfigError naming the first bad field.
  void validate() const {
    const std::string who = "InfiniteFormerConfig";
    require<ConfigError>(vocab >= 2, who, ": vocab = ", vocab, ", expected >= 2");
    require<ConfigError>(d_model >= 1, who, ": d_model = ", d_model, ", expected >= 1");
    require<ConfigError>(heads >= 1, who, ": heads = ", heads, ", expected >= 1");
    require<ConfigError>(d_model % heads == 0, who, ": d_model=", d_model, " is not divisible by heads=", heads);
    require<ConfigError>(d_ff >= 1, who, ": d_ff = ", d_ff, ", expected >= 1");
    require<ConfigError>(layers >= 1, who, ": layers = ", layers, ", expected >= 1");
    require<ConfigError>(segment_length >= 1, who, ": segment_length = ", segment_length, ", expected >= 1");
    require<ConfigError>(stm_segments >= 0, who, ": stm_segments = ", stm_segments, ", expected >= 0");
    require<ConfigError>(dropout >= 0 && dropout < 1, who, ": dropout = ", dropout, ", expected in [0, 1)");
    require<ConfigError>(std::isfinite(init_std) && init_std >= 0, who, ": init_std = ", init_std, ", expected >= 0");
    for (auto [field, value] : {std::pair<const char*, int64_t>{"vocab", vocab}, {"d_model", d_model}, {"heads", heads},
                                {"d_ff", d_ff}, {"layers", layers}, {"segment_length", segment_length},
                                {"stm_segments", stm_segments}})
      require_extent("InfiniteFormerConfig", field, value);
    require_elements("InfiniteFormerConfig", "vocab", vocab, "d_model", d_model);
    require_elements("InfiniteFormerConfig", "d_model", d_model, "d_ff", d_ff);
    require_elements("InfiniteFormerConfig", "d_model", d_model, "d_model", d_model);
    // The short-term window: (stm_segments + 1)·segment_length keys of width d_model.
    require_elements("InfiniteFormerConfig", "(stm_segments + 1) · segment_length", (stm_segments + 1) * segment_length,
                     "d_model", d_model);
    memory_config().validate();
  }

  /// The LTM configuration the layers use (segment_length filled in).
  memory::ContinuousMemoryConfig memory_config() const {
    memory::ContinuousMemoryConfig c = ltm;
    c.segment_length = segment_length;
    return c;
  }

  /// The authors' sorting model (§10): 3 layers, e 300, 6 heads, FFN 300, dropout 0.1, vocab 22,
  /// L 1024, short-term memory of one segment, the sorting LTM preset.
  static InfiniteFormerConfig sorting() {
    InfiniteFormerConfig c;
    c.vocab = 22;
    c.d_model = 300;
    c.heads = 6;
    c.d_ff = 300;
    c.layers = 3;
    c.segment_length = 1024;
    c.stm_segments = 1;
    c.dropout = 0.1;
    c.ltm = memory::ContinuousMemoryConfig::sorting();
    return c;
  }
  /// The reduced sorting demo of §12: 2 layers, e 64, 4 heads, L 128, STM 1 segment, N 64 with
  /// widths {0.02, 0.05}, M 64, τ 0.75, λ 1.
  static InfiniteFormerConfig sorting_demo(int64_t symbols = 8) {
    InfiniteFormerConfig c = sorting();
    c.vocab = symbols + 2;
    c.d_model = 64;
    c.heads = 4;
    c.d_ff = 128;
    c.layers = 2;
    c.segment_length = 128;
    c.ltm.basis = memory::BasisConfig{64, {0.02, 0.05}};
    c.ltm.samples = 64;
    return c;
  }
};

}  // namespace mnemo::models
