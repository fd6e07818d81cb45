// mnemo/io/config_json.hpp — a model configuration as the JSON text stored in a model file's
// `__metadata__` (docs/io.md, "Model files").
//
// Every field of MemformerConfig, InfiniteFormerConfig and ContinuousMemoryConfig is listed once,
// in `config_fields`; the encoder and the decoder both walk that list, so a field added to a
// config and to its list is saved and loaded, and one missing from the list is caught by the
// round-trip test. Decoding is strict: a missing field, an unknown field or a value of the wrong
// JSON type is an IoError naming the field's path (`ltm.basis.widths[1]`), what was expected and
// what came. Range checks are the config's own `validate()`.
#pragma once

#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "mnemo/core/error.hpp"
#include "mnemo/memory/basis_config.hpp"
#include "mnemo/memory/continuous_memory_config.hpp"
#include "mnemo/memory/position_convention.hpp"
#include "mnemo/models/infinite_former_config.hpp"
#include "mnemo/models/memformer_config.hpp"

namespace mnemo::io {

// ---- the field lists: (name in the file, member) for every configuration field ----------------

template <class C, class F>
  requires std::same_as<std::remove_const_t<C>, models::MemformerConfig>
void config_fields(C& c, F&& field) {
  field("vocab", c.vocab);
  field("d_model", c.d_model);
  field("heads", c.heads);
  field("d_ff", c.d_ff);
  field("slots", c.slots);
  field("temperature", c.temperature);
  field("slot_scale", c.slot_scale);
  field("encoder_layers", c.encoder_layers);
  field("decoder_layers", c.decoder_layers);
  field("segment_length", c.segment_length);
  field("dropout", c.dropout);
  field("tie_embeddings", c.tie_embeddings);
  field("bias_init_norm", c.bias_init_norm);
  field("init_std", c.init_std);
  field("position_scale", c.position_scale);
  field("layer_norm_eps", c.layer_norm_eps);
  field("bos_id", c.bos_id);
}

template <class C, class F>
  requires std::same_as<std::remove_const_t<C>, memory::BasisConfig>
void config_fields(C& c, F&& field) {
  field("count", c.count);
  field("widths", c.widths);
}

template <class C, class F>
  requires std::same_as<std::remove_const_t<C>, memory::ContinuousMemoryConfig>
void config_fields(C& c, F&& field) {
  field("basis", c.basis);
  field("segment_length", c.segment_length);
  field("samples", c.samples);
  field("tau", c.tau);
  field("ridge_lambda", c.ridge_lambda);
  field("positions", c.positions);
  field("zero_pad", c.zero_pad);
  field("gate", c.gate);
  field("sigma2_floor", c.sigma2_floor);
  field("sigma0", c.sigma0);
  field("kl_weight", c.kl_weight);
  field("sticky", c.sticky);
  field("sticky_bins", c.sticky_bins);
  field("sticky_jitter", c.sticky_jitter);
  field("reset_every_tokens", c.reset_every_tokens);
  field("init_std", c.init_std);
}

template <class C, class F>
  requires std::same_as<std::remove_const_t<C>, models::InfiniteFormerConfig>
void config_fields(C& c, F&& field) {
  field("vocab", c.vocab);
  field("d_model", c.d_model);
  field("heads", c.heads);
  field("d_ff", c.d_ff);
  field("layers", c.layers);
  field("segment_length", c.segment_length);
  field("stm_segments", c.stm_segments);
  field("dropout", c.dropout);
  field("use_ltm", c.use_ltm);
  field("alibi", c.alibi);
  field("tie_embeddings", c.tie_embeddings);
  field("init_std", c.init_std);
  field("ltm", c.ltm);
}

namespace detail {

/// A configuration struct: something `config_fields` lists.
template <class C>
concept ListedConfig = requires(C& c) { config_fields(c, [](const char*, auto&) {}); };

inline const char* position_convention_name(memory::PositionConvention p) {
  return p == memory::PositionConvention::Paper ? "paper" : "cell_centre";
}

// ---- encoding -----------------------------------------------------------------------------------

inline nlohmann::json encode_value(bool v) { return v; }
inline nlohmann::json encode_value(int32_t v) { return v; }
inline nlohmann::json encode_value(int64_t v) { return v; }
inline nlohmann::json encode_value(double v) {
  require<IoError>(std::isfinite(v), "config_to_json: a configuration value is ", v,
                   ", expected a finite number (JSON has no NaN or infinity)");
  return v;
}
inline nlohmann::json encode_value(const std::optional<double>& v) { return v ? encode_value(*v) : nlohmann::json(nullptr); }
inline nlohmann::json encode_value(const std::vector<double>& v) {
  auto out = nlohmann::json::array();
  for (double x : v) out.push_back(encode_value(x));
  return out;
}
inline nlohmann::json encode_value(memory::PositionConvention p) { return position_convention_name(p); }
template <ListedConfig C>
nlohmann::json encode_value(const C& c) {
  auto out = nlohmann::json::object();
  config_fields(c, [&](const char* name, const auto& member) { out[name] = encode_value(member); });
  return out;
}

// ---- decoding -----------------------------------------------------------------------------------

[[noreturn]] inline void bad_field(const std::string& path, const char* expected, const nlohmann::json& came) {
  // Names the JSON type, never the value: a value may be large or deeply nested.
  throw IoError(mnemo::detail::cat("model configuration: field '", path, "' is a JSON ", came.type_name(),
                                   ", expected ", expected));
}

inline void decode_value(const nlohmann::json& j, bool& out, const std::string& path) {
  if (!j.is_boolean()) bad_field(path, "true or false", j);
  out = j.get<bool>();
}
template <class I>
  requires(std::same_as<I, int32_t> || std::same_as<I, int64_t>)
void decode_value(const nlohmann::json& j, I& out, const std::string& path) {
  if (!j.is_number_integer()) bad_field(path, "an integer", j);
  if (j.is_number_unsigned()) {
    const auto u = j.get<uint64_t>();
    require<IoError>(u <= static_cast<uint64_t>(std::numeric_limits<I>::max()), "model configuration: field '",
                     path, "' = ", u, ", expected at most ", std::numeric_limits<I>::max());
    out = static_cast<I>(u);
    return;
  }
  const auto s = j.get<int64_t>();
  require<IoError>(s >= std::numeric_limits<I>::min() && s <= std::numeric_limits<I>::max(),
                   "model configuration: field '", path, "' = ", s, ", expected a ", sizeof(I) * 8,
                   "-bit integer");
  out = static_cast<I>(s);
}
inline void decode_value(const nlohmann::json& j, double& out, const std::string& path) {
  if (!j.is_number()) bad_field(path, "a number", j);
  out = j.get<double>();
}
inline void decode_value(const nlohmann::json& j, std::optional<double>& out, const std::string& path) {
  if (j.is_null()) {
    out.reset();
    return;
  }
  if (!j.is_number()) bad_field(path, "a number or null (unset)", j);
  out = j.get<double>();
}
inline void decode_value(const nlohmann::json& j, std::vector<double>& out, const std::string& path) {
  if (!j.is_array()) bad_field(path, "an array of numbers", j);
  std::vector<double> values(j.size());
  for (size_t i = 0; i < j.size(); ++i) decode_value(j[i], values[i], mnemo::detail::cat(path, "[", i, "]"));
  out = std::move(values);
}
inline void decode_value(const nlohmann::json& j, memory::PositionConvention& out, const std::string& path) {
  if (!j.is_string()) bad_field(path, "\"paper\" or \"cell_centre\"", j);
  const auto s = j.get<std::string>();
  if (s == "paper") out = memory::PositionConvention::Paper;
  else if (s == "cell_centre") out = memory::PositionConvention::CellCentre;
  else throw IoError(mnemo::detail::cat("model configuration: field '", path, "' = \"", s,
                                        "\", expected \"paper\" or \"cell_centre\""));
}
template <ListedConfig C>
void decode_value(const nlohmann::json& j, C& out, const std::string& path) {
  if (!j.is_object()) bad_field(path.empty() ? std::string("(top level)") : path, "an object", j);
  const std::string prefix = path.empty() ? "" : path + ".";
  C decoded = out;
  std::set<std::string> known;
  config_fields(decoded, [&](const char* name, auto& member) {
    known.insert(name);
    const auto it = j.find(name);
    require<IoError>(it != j.end(), "model configuration: field '", prefix, name,
                     "' is missing (a format-1 file lists every field)");
    decode_value(*it, member, prefix + name);
  });
  for (const auto& [key, value] : j.items())
    require<IoError>(known.count(key) == 1, "model configuration: unknown field '", prefix, key,
                     "' (written by a newer mnemo, or not a mnemo model file)");
  out = std::move(decoded);
}

}  // namespace detail

/// The configuration as one line of JSON (every field; unset optionals as null).
template <detail::ListedConfig C>
std::string config_to_json(const C& config) {
  return detail::encode_value(config).dump();
}

/// Parses `text` written by config_to_json. IoError on malformed JSON, a missing, unknown or
/// mistyped field; the result is not validated (call `validate()`).
template <detail::ListedConfig C>
C config_from_json(const std::string& text) {
  // A configuration nests three levels deep; refusing deeper input while parsing keeps a hostile
  // file from building (and recursively destroying) a deeply nested value.
  constexpr int kMaxDepth = 8;
  auto bounded = [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    require<IoError>(depth <= kMaxDepth, "model configuration: JSON nested deeper than ", kMaxDepth,
                     " levels, expected a flat configuration object");
    return true;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text, bounded);
  } catch (const nlohmann::json::exception& e) {
    throw IoError(mnemo::detail::cat("model configuration: not valid JSON (", e.what(), ")"));
  }
  C config;
  detail::decode_value(j, config, "");
  return config;
}

}  // namespace mnemo::io
