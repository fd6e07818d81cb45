// mnemo/io/partial_load.hpp — loading some parameters of a store, possibly under other names: a
// pretrained encoder into a new model, one model's layers into another (docs/io.md, "Partial and
// renamed loads").
//
//   // every "encoder.*" parameter of the new model from the same name in the file:
//   io::load_parameters_partial(model.parameters(), "pretrained.safetensors",
//                               io::prefix_mapping(model.parameters(), "encoder."));
//   // explicit pairs, file name -> store name:
//   io::load_parameters_partial(store, path, {{"layers.0.ffn.fc1.weight", "layers.3.ffn.fc1.weight"}});
//
// The list is the contract: every entry must exist on both sides with the store's shape and dtype,
// no store parameter may be named twice, and parameters the list does not name keep their values.
// Everything is checked and read into fresh tensors before any parameter changes, so a failed
// load leaves the store exactly as it was. Whole-store loads stay strict (io/safetensors.hpp).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "mnemo/core/error.hpp"
#include "mnemo/core/tensor.hpp"
#include "mnemo/io/safetensors.hpp"
#include "mnemo/nn/parameter_store.hpp"

namespace mnemo::io {

/// One entry of a partial load: the file's tensor `from` goes into the store's parameter `to`.
struct ParameterMapping {
  std::string from;
  std::string to;
};

/// Every store parameter whose name starts with `store_prefix`, read from the file tensor named
/// with `file_prefix` in its place (the same prefix by default). IoError when no parameter matches.
template <class T, class B>
std::vector<ParameterMapping> prefix_mapping(const nn::ParameterStore<T, B>& store, std::string_view store_prefix,
                                             std::optional<std::string_view> file_prefix = std::nullopt) {
  const std::string_view into = file_prefix.value_or(store_prefix);
  std::vector<ParameterMapping> mapping;
  for (const auto& p : store)
    if (std::string_view(p->name).starts_with(store_prefix))
      mapping.push_back({std::string(into) + p->name.substr(store_prefix.size()), p->name});
  require<IoError>(!mapping.empty(), "prefix_mapping: no parameter of the store (", store.size(),
                   " parameters) starts with '", store_prefix, "'");
  return mapping;
}

/// Loads exactly the parameters `mapping` names from `reader` into `store` (see the top of this file).
template <class T, class B>
void read_parameters_partial(const SafetensorsReader& reader, nn::ParameterStore<T, B>& store,
                             const std::vector<ParameterMapping>& mapping) {
  const std::string& file = reader.path();
  require<IoError>(!mapping.empty(), "read_parameters_partial: the mapping is empty, expected at least one "
                                     "(file tensor, store parameter) pair");
  std::set<std::string> targets;
  for (const auto& [from, to] : mapping) {
    require<IoError>(store.contains(to), "read_parameters_partial: the store has no parameter '", to,
                     "' (mapped from '", from, "')");
    require<IoError>(targets.insert(to).second, "read_parameters_partial: parameter '", to,
                     "' is named twice in the mapping, expected each at most once");
    const auto& p = store.get(to);
    require<IoError>(reader.contains(from), "safetensors file '", file, "' has no tensor '", from,
                     "' for parameter '", to, "' (expected dtype ", dtype_of<T>(), ", shape ", p.shape().str(), ")");
    require<IoError>(reader.dtype(from) == dtype_of<T>(), "safetensors file '", file, "': tensor '", from,
                     "' has dtype ", reader.dtype(from), ", expected ", dtype_of<T>(), " for parameter '", to, "'");
    if (reader.shape(from) != p.shape())
      throw ShapeError(mnemo::detail::cat("safetensors file '", file, "': tensor '", from, "' has shape ",
                                          reader.shape(from).str(), ", expected ", p.shape().str(),
                                          " for parameter '", to, "'"));
  }
  // Read everything first: a read that fails half-way must not leave some parameters changed.
  std::vector<Tensor<T, B>> loaded;
  loaded.reserve(mapping.size());
  for (const auto& entry : mapping) {
    auto& p = store.get(entry.to);
    loaded.emplace_back(p.shape(), store.context().arena());
    reader.read_into(entry.from, loaded.back());
  }
  for (size_t i = 0; i < mapping.size(); ++i) {
    auto& p = store.get(mapping[i].to);
    p.value.copy_from(loaded[i]);
    p.master = {};  // mixed precision: the next AdamW step takes the fp32 master from the new value
  }
}

/// Opens `path` and loads the parameters `mapping` names (read_parameters_partial).
template <class T, class B>
void load_parameters_partial(nn::ParameterStore<T, B>& store, const std::string& path,
                             const std::vector<ParameterMapping>& mapping) {
  read_parameters_partial(SafetensorsReader(path), store, mapping);
}

}  // namespace mnemo::io
