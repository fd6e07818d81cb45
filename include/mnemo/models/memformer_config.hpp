// mnemo/models/memformer_config.hpp — the hyperparameters of a Memformer (memformer.md §5, §11),
// validated at model construction; every error names the offending field.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>

#include "mnemo/core/error.hpp"
#include "mnemo/core/size_limits.hpp"

namespace mnemo::models {

struct MemformerConfig {
  int64_t vocab = 8192;
  int64_t d_model = 512;
  int64_t heads = 8;
  int64_t d_ff = 2048;
  int64_t slots = 64;                 // K memory slots per batch row
  double temperature = 0.5;           // τ of the writer softmax (paper: τ < 1)
  std::optional<double> slot_scale;   // γ, the slot input scale; unset = sqrt(d_model) (§2.3)
  int64_t encoder_layers = 4;
  int64_t decoder_layers = 8;
  int64_t segment_length = 64;        // L: tokens per segment
  double dropout = 0.0;               // residual-branch and embedding dropout while training
  bool tie_embeddings = true;         // one matrix for encoder, decoder and vocabulary head
  double bias_init_norm = 0.1;        // ||v_i|| at initialisation (slow forgetting at start)
  double init_std = 0.02;             // linear and embedding weights ~ N(0, init_std²)
  std::optional<double> position_scale;  // X⁰ = E[s] + position_scale·PE; unset = init_std, so
                                         // positions start no larger than token embeddings
  double layer_norm_eps = 1e-5;
  int32_t bos_id = 1;                 // first decoder input of every segment (§2.1)

  /// γ as used: slot_scale if set, else sqrt(d_model).
  double resolved_slot_scale() const {
    return slot_scale ? *slot_scale : std::sqrt(static_cast<double>(d_model));
  }
  int64_t head_dim() const { return heads > 0 ? d_model / heads : 0; }
  /// The factor on the sinusoidal positions as used: position_scale if set, else init_std.
  double resolved_position_scale() const { return position_scale ? *position_scale : init_std; }

  /// Throws ConfigError naming the first invalid field.
  void validate() const {
    auto positive = [](const char* field, auto value) {
      require<ConfigError>(value > 0, "MemformerConfig: ", field, " = ", value, ", expected > 0");
    };
    auto finite = [](const char* field, double value) {
      require<ConfigError>(std::isfinite(value), "MemformerConfig: ", field, " = ", value, ", expected a finite value");
    };
    positive("vocab", vocab);
    positive("d_model", d_model);
    positive("heads", heads);
    require<ConfigError>(d_model % heads == 0, "MemformerConfig: d_model = ", d_model,
                         " is not divisible by heads = ", heads, " (expected d_model % heads == 0)");
    positive("d_ff", d_ff);
    positive("slots", slots);
    require<ConfigError>(temperature > 0 && std::isfinite(temperature), "MemformerConfig: temperature = ",
                         temperature, ", expected a finite value > 0");
    require<ConfigError>(!slot_scale || (*slot_scale > 0 && std::isfinite(*slot_scale)),
                         "MemformerConfig: slot_scale = ", slot_scale ? *slot_scale : 0.0,
                         ", expected a finite value > 0 (or unset for sqrt(d_model))");
    positive("encoder_layers", encoder_layers);
    require<ConfigError>(decoder_layers >= 0, "MemformerConfig: decoder_layers = ", decoder_layers,
                         ", expected >= 0");
    positive("segment_length", segment_length);
    require<ConfigError>(dropout >= 0 && dropout < 1, "MemformerConfig: dropout = ", dropout,
                         ", expected 0 <= dropout < 1");
    positive("bias_init_norm", bias_init_norm);
    positive("init_std", init_std);
    require<ConfigError>(!position_scale || (*position_scale >= 0 && std::isfinite(*position_scale)),
                         "MemformerConfig: position_scale = ", position_scale ? *position_scale : 0.0,
                         ", expected a finite value >= 0 (or unset for init_std)");
    positive("layer_norm_eps", layer_norm_eps);
    finite("temperature", temperature);
    finite("bias_init_norm", bias_init_norm);
    finite("init_std", init_std);
    finite("layer_norm_eps", layer_norm_eps);
    const char* who = "MemformerConfig";
    require_extent(who, "vocab", vocab);
    require_extent(who, "d_model", d_model);
    require_extent(who, "heads", heads);
    require_extent(who, "d_ff", d_ff);
    require_extent(who, "slots", slots);
    require_extent(who, "encoder_layers", encoder_layers);
    require_extent(who, "decoder_layers", decoder_layers);
    require_extent(who, "segment_length", segment_length);
    require_elements(who, "vocab", vocab, "d_model", d_model);
    require_elements(who, "d_model", d_model, "d_ff", d_ff);
    require_elements(who, "d_model", d_model, "d_model", d_model);
    require_elements(who, "slots", slots, "d_model", d_model);
    require_elements(who, "segment_length", segment_length, "d_model", d_model);
    require<ConfigError>(bos_id >= 0 && bos_id < vocab, "MemformerConfig: bos_id = ", bos_id,
                         ", expected 0 <= bos_id < vocab = ", vocab);
  }
};

}  // namespace mnemo::models
