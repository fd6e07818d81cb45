// mnemo/io/model_file.hpp — self-describing model files: a Memformer or an ∞-former saved with its
// full configuration, rebuilt from the file alone (docs/io.md, "Model files").
//
//   io::save_model(model, "lm.safetensors");
//   auto model = io::load_model<models::Memformer<float, Cpu>>("lm.safetensors");
//
// The file is an ordinary safetensors file of the model's parameters (the names and layouts of
// docs/io.md) whose `__metadata__` also holds
//   mnemo.format_version  "1"
//   mnemo.model           "memformer" | "infinite_former"
//   mnemo.dtype           the parameters' safetensors dtype ("F32", "F64", ...)
//   mnemo.config          the configuration as JSON (io/config_json.hpp)
// plus any metadata the caller adds. Loading checks each of these and then that the tensors are
// exactly the parameters the configuration builds; any mismatch is an IoError naming the file,
// what was expected and what came. A load builds a new model, so a failure changes nothing.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "mnemo/core/error.hpp"
#include "mnemo/core/precision.hpp"
#include "mnemo/io/config_json.hpp"
#include "mnemo/io/safetensors.hpp"
#include "mnemo/models/infinite_former.hpp"
#include "mnemo/models/memformer.hpp"

namespace mnemo::io {

/// The model-file format this mnemo writes and the only one it reads.
inline constexpr int kModelFormatVersion = 1;

/// What a model file records about a model type: its kind name and configuration type.
template <class Model>
struct ModelFileTraits;  // undefined: only the library's models have model files

template <class T, class B>
struct ModelFileTraits<models::Memformer<T, B>> {
  using Element = T;
  using Backend = B;
  static constexpr const char* kind = "memformer";
  using Config = models::MemformerConfig;
};

template <class T, class B>
struct ModelFileTraits<models::InfiniteFormer<T, B>> {
  using Element = T;
  using Backend = B;
  static constexpr const char* kind = "infinite_former";
  using Config = models::InfiniteFormerConfig;
};

/// The metadata keys of a model file.
namespace model_key {
inline constexpr const char* format_version = "mnemo.format_version";
inline constexpr const char* model = "mnemo.model";
inline constexpr const char* dtype = "mnemo.dtype";
inline constexpr const char* config = "mnemo.config";
}  // namespace model_key

/// Writes `model`'s parameters and configuration to `path` atomically. `metadata` is added as is;
/// keys starting with "mnemo." are reserved (IoError).
template <class Model>
void save_model(const Model& model, const std::string& path, const std::map<std::string, std::string>& metadata = {}) {
  using Traits = ModelFileTraits<Model>;
  using T = typename Traits::Element;
  SafetensorsWriter writer;
  for (const auto& [key, value] : metadata) {
    require<IoError>(key.rfind("mnemo.", 0) != 0, "save_model: metadata key '", key,
                     "' starts with 'mnemo.', which model files reserve for their own keys");
    writer.set_metadata(key, value);
  }
  writer.set_metadata(model_key::format_version, std::to_string(kModelFormatVersion));
  writer.set_metadata(model_key::model, Traits::kind);
  writer.set_metadata(model_key::dtype, std::string(dtype_of<T>()));
  writer.set_metadata(model_key::config, config_to_json(model.config()));
  add_parameters(writer, model.parameters(), /*with_optimizer_state=*/false);
  writer.write(path);
}

namespace detail {
inline const std::string& model_metadata(const SafetensorsReader& reader, const char* key) {
  const auto& meta = reader.metadata();
  const auto it = meta.find(key);
  require<IoError>(it != meta.end(), "model file '", reader.path(), "' has no metadata '", key,
                   "' (expected a file written by io::save_model; a plain parameter file loads with "
                   "io::load_parameters into a model built from its configuration)");
  return it->second;
}
}  // namespace detail

/// Reads the configuration recorded in a model file of type `Model` (checks format, kind, dtype).
template <class Model>
typename ModelFileTraits<Model>::Config read_model_config(const SafetensorsReader& reader) {
  using Traits = ModelFileTraits<Model>;
  using T = typename Traits::Element;
  const std::string& file = reader.path();
  const std::string& version = detail::model_metadata(reader, model_key::format_version);
  require<IoError>(version == std::to_string(kModelFormatVersion), "model file '", file, "' has format version '",
                   version, "', expected ", kModelFormatVersion, " (this mnemo reads only that)");
  const std::string& kind = detail::model_metadata(reader, model_key::model);
  require<IoError>(kind == Traits::kind, "model file '", file, "' holds a ", kind, " model, expected a ",
                   Traits::kind);
  const std::string& dtype = detail::model_metadata(reader, model_key::dtype);
  require<IoError>(dtype == dtype_of<T>(), "model file '", file, "' has ", dtype, " parameters, expected ",
                   dtype_of<T>(), " for this model type (no conversion on load)");
  typename Traits::Config config;
  try {
    config = config_from_json<typename Traits::Config>(detail::model_metadata(reader, model_key::config));
    config.validate();
  } catch (const Error& e) {
    throw IoError(mnemo::detail::cat("model file '", file, "': ", e.what()));
  }
  return config;
}

/// Largest segment length, LTM sample count and sticky-bin count a model file may configure, and
/// the largest LTM operator (basis count × the largest of segment length, samples and basis count)
/// it may imply. These sizes allocate buffers that no tensor in the file accounts for, so a file
/// could otherwise make a loader allocate without bound; configurations beyond them are built in
/// code and their parameters loaded with io::load_parameters. (The papers' settings: L ≤ 1024,
/// M = N = 512.)
inline constexpr int64_t kMaxModelFileExtent = 16384;
inline constexpr int64_t kMaxModelFileOperator = int64_t{1} << 26;

namespace detail {

/// The number of parameter elements a configuration builds (docs/io.md, "Parameter names"),
/// exact: the round-trip tests compare it with the built store. 128-bit sums cannot overflow for
/// validated configurations (extents < 2^31, products < 2^40).
inline __int128 parameter_count(const models::MemformerConfig& c) {
  const __int128 d = c.d_model, f = c.d_ff, V = c.vocab, K = c.slots;
  const __int128 attention = 4 * (d * d + d), ffn = 2 * d * f + f + d, norms = 3 * 2 * d;
  const __int128 layer = 2 * attention + ffn + norms;  // self-attention + (memory read | cross-attention)
  return V * d + (c.tie_embeddings ? 0 : d * V) + K * d + 3 * d * d +
         (static_cast<__int128>(c.encoder_layers) + c.decoder_layers) * layer + 2 * 2 * d;
}

inline __int128 parameter_count(const models::InfiniteFormerConfig& c) {
  const __int128 d = c.d_model, f = c.d_ff, V = c.vocab, N = c.ltm.basis.count;
  const __int128 ltm = c.use_ltm ? (c.ltm.gate ? 3 * d * d + d : 0) + 3 * d * d + 2 * N : 0;
  const __int128 layer = 2 * 2 * d + 4 * (d * d + d) + 2 * d * f + f + d + ltm;
  return V * d + (c.tie_embeddings ? 0 : d * V) + c.layers * layer + 2 * d;
}

inline void check_model_file_extents(const std::string& file, const models::MemformerConfig& c) {
  require<IoError>(c.segment_length <= kMaxModelFileExtent, "model file '", file, "': segment_length = ",
                   c.segment_length, ", expected <= ", kMaxModelFileExtent, " in a model file");
}

inline void check_model_file_extents(const std::string& file, const models::InfiniteFormerConfig& c) {
  for (auto [field, value] : {std::pair<const char*, int64_t>{"segment_length", c.segment_length},
                              {"ltm.samples", c.ltm.samples},
                              {"ltm.sticky_bins", c.ltm.sticky_bins}})
    require<IoError>(value <= kMaxModelFileExtent, "model file '", file, "': ", field, " = ", value, ", expected <= ",
                     kMaxModelFileExtent, " in a model file");
  if (!c.use_ltm) return;
  const int64_t n = c.ltm.basis.count, widest = std::max({c.segment_length, c.ltm.samples, n});
  require<IoError>(n <= kMaxModelFileOperator / widest, "model file '", file, "': ltm.basis.count · max(segment_length, ",
                   "ltm.samples, ltm.basis.count) = ", n, " · ", widest, ", expected <= ", kMaxModelFileOperator,
                   " (2^26) in a model file");
}

/// Before anything is built: the configuration must account for exactly the parameter elements
/// the file holds, so a lying configuration cannot make the loader allocate more than the file
/// (already in memory) justifies.
template <class Config>
void check_config_against_tensors(const SafetensorsReader& reader, const Config& config) {
  check_model_file_extents(reader.path(), config);
  __int128 held = 0;
  for (const std::string& name : reader.names())
    if (is_parameter_like(name)) held += reader.shape(name).numel();
  const __int128 implied = parameter_count(config);
  auto text = [](__int128 v) {  // v >= 0
    std::string digits;
    do {
      digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
      v /= 10;
    } while (v > 0);
    return digits;
  };
  require<IoError>(implied == held, "model file '", reader.path(), "': its configuration builds ", text(implied),
                   " parameter elements, its tensors hold ", text(held), " (expected equal)");
}

}  // namespace detail

/// Builds a model from an opened model file: its configuration, then its parameters (strict:
/// exactly the parameters that configuration builds, with their shapes). IoError on any mismatch.
template <class Model, class B = typename ModelFileTraits<Model>::Backend>
Model load_model(const SafetensorsReader& reader, Context<B>& ctx = BackendTraits<B>::default_context()) {
  const auto config = read_model_config<Model>(reader);
  detail::check_config_against_tensors(reader, config);
  Model model(config, /*seed=*/0, ctx);
  try {
    read_parameters(reader, model.parameters(), /*with_optimizer_state=*/false);
  } catch (const Error& e) {
    throw IoError(mnemo::detail::cat("model file '", reader.path(), "': its tensors do not match its configuration: ",
                                     e.what()));
  }
  return model;
}

/// Builds a model from the file at `path` alone (see above).
template <class Model, class B = typename ModelFileTraits<Model>::Backend>
Model load_model(const std::string& path, Context<B>& ctx = BackendTraits<B>::default_context()) {
  return load_model<Model, B>(SafetensorsReader(path), ctx);
}

}  // namespace mnemo::io
