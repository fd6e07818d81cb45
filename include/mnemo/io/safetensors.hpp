// mnemo/io/safetensors.hpp — saving and loading a ParameterStore as safetensors (and, through it,
// SafetensorsWriter / SafetensorsReader for any other tensors).
//
// Naming (docs/io.md): a parameter is stored under its store name; with optimizer state its AdamW
// moments are stored as "<name>@adam_m" and "<name>@adam_v". The character '@' is reserved for
// tensors that are not parameters: a store parameter whose name contains '@' cannot be saved or
// loaded (IoError), so these names never collide. A tensor name without '@' is "parameter-like".
//
// read_parameters is strict: every store parameter must be in the file with the store's shape
// (ShapeError otherwise) and dtype (IoError otherwise), and every parameter-like tensor in the file
// must be a store parameter (IoError otherwise). Tensors whose names contain '@' are ignored
// unless they are the moments being loaded. Moments must be finite and second moments >= 0
// (ValueError; parameter values are copied whatever their bits). Everything is read and checked before anything is written, so a failed load leaves
// the store as it was (strong guarantee). Values are copied byte for byte (bit-exact).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "mnemo/autograd/ops/common.hpp"
#include "mnemo/core/error.hpp"
#include "mnemo/core/precision.hpp"
#include "mnemo/core/tensor.hpp"
#include "mnemo/io/safetensors_format.hpp"
#include "mnemo/io/safetensors_reader.hpp"
#include "mnemo/io/safetensors_writer.hpp"
#include "mnemo/nn/parameter_store.hpp"

namespace mnemo::io {

/// Marks tensor names that are not parameters (optimizer moments, states): never in a parameter name.
inline constexpr char kNonParameterMark = '@';

/// True when a tensor name has the form of a parameter name (no '@').
inline bool is_parameter_like(std::string_view tensor_name) {
  return tensor_name.find(kNonParameterMark) == std::string_view::npos;
}
/// The tensor names of a parameter's AdamW moments.
inline std::string adam_m_name(const std::string& parameter) { return parameter + kNonParameterMark + "adam_m"; }
inline std::string adam_v_name(const std::string& parameter) { return parameter + kNonParameterMark + "adam_v"; }

namespace detail {
inline void require_parameter_name(const std::string& name, const char* caller) {
  require<IoError>(is_parameter_like(name), caller, ": parameter name '", name, "' contains '",
                   kNonParameterMark, "', which safetensors io reserves for tensors that are not parameters");
}
}  // namespace detail

/// Adds every parameter of `store` to `writer` (and its allocated AdamW moments if asked).
template <class T, class B>
void add_parameters(SafetensorsWriter& writer, const nn::ParameterStore<T, B>& store,
                    bool with_optimizer_state = false) {
  for (const auto& p : store) {
    detail::require_parameter_name(p->name, "add_parameters");
    writer.add(p->name, p->value);
    if (with_optimizer_state && p->adam_m.defined()) {
      require<IoError>(p->adam_v.defined(), "add_parameters: parameter '", p->name,
                       "' has adam_m but no adam_v, expected both or neither");
      writer.add(adam_m_name(p->name), p->adam_m);
      writer.add(adam_v_name(p->name), p->adam_v);
    }
  }
}

/// Loads every parameter of `store` from `reader` (strict; see the top of this file). With
/// optimizer state, a parameter's moments are loaded when the file has them (allocating them if
/// needed) and dropped (left undefined, so the optimizer starts afresh) when it has neither.
template <class T, class B>
void read_parameters(const SafetensorsReader& reader, nn::ParameterStore<T, B>& store,
                     bool with_optimizer_state = false) {
  const std::string& file = reader.path();
  auto check_tensor = [&](const std::string& tensor, std::string_view dtype, const std::string& what,
                          const Shape& shape) {
    require<IoError>(reader.contains(tensor), "safetensors file '", file, "' has no tensor '", tensor,
                     "' for ", what, " (expected dtype ", dtype, ", shape ", shape.str(), ")");
    require<IoError>(reader.dtype(tensor) == dtype, "safetensors file '", file, "': ", what, " '", tensor,
                     "' has dtype ", reader.dtype(tensor), ", expected ", dtype);
    if (reader.shape(tensor) != shape)
      throw ShapeError(mnemo::detail::cat("safetensors file '", file, "': ", what, " '", tensor, "' has shape ",
                                          reader.shape(tensor).str(), ", expected ", shape.str()));
  };
  // Check everything first so that a failed load changes nothing.
  for (const auto& p : store) {
    detail::require_parameter_name(p->name, "read_parameters");
    check_tensor(p->name, dtype_of<T>(), "parameter", p->shape());
    if (with_optimizer_state) {
      const bool has_m = reader.contains(adam_m_name(p->name)), has_v = reader.contains(adam_v_name(p->name));
      require<IoError>(has_m == has_v, "safetensors file '", file, "': parameter '", p->name, "' has ",
                       has_m ? adam_m_name(p->name) : adam_v_name(p->name), " but not ",
                       has_m ? adam_v_name(p->name) : adam_m_name(p->name), ", expected both or neither");
      if (has_m) {
        check_tensor(adam_m_name(p->name), dtype_of<master_t<T>>(), "optimizer moment", p->shape());
        check_tensor(adam_v_name(p->name), dtype_of<master_t<T>>(), "optimizer moment", p->shape());
      }
    }
  }
  for (const std::string& name : reader.names())
    require<IoError>(!is_parameter_like(name) || store.contains(name), "safetensors file '", file,
                     "' holds parameter '", name, "' (shape ", reader.shape(name).str(),
                     "), which the store does not have (expected only the store's ", store.size(),
                     " parameters; names with '", kNonParameterMark, "' are not parameters)");

  // Read every tensor into new storage and check the moments, then commit: a file that fails a
  // value check (a non-finite moment, a negative second moment) changes nothing either.
  struct Staged {
    Tensor<T, B> value;
    Tensor<master_t<T>, B> m, v;
  };
  auto& ctx = store.context();
  std::vector<Staged> staged;
  staged.reserve(store.size());
  for (const auto& p : store) {
    Staged st;
    st.value = Tensor<T, B>(p->shape(), ctx.arena());
    reader.read_into(p->name, st.value);  // any bits, NaN and Inf included: values round-trip exactly
    if (with_optimizer_state && reader.contains(adam_m_name(p->name))) {
      st.m = Tensor<master_t<T>, B>(p->shape(), ctx.arena());
      st.v = Tensor<master_t<T>, B>(p->shape(), ctx.arena());
      reader.read_into(adam_m_name(p->name), st.m);
      reader.read_into(adam_v_name(p->name), st.v);
      autograd::check_finite(ctx, mnemo::detail::cat("safetensors file '", file, "': ", adam_m_name(p->name)).c_str(), st.m);
      autograd::check_finite(ctx, mnemo::detail::cat("safetensors file '", file, "': ", adam_v_name(p->name)).c_str(), st.v);
      // v is a running mean of squared gradients: a negative entry makes sqrt(v̂) NaN at the next step.
      const auto v = st.v.to_host();
      for (size_t i = 0; i < v.size(); ++i)
        require<ValueError>(!(v[i] < master_t<T>(0)), "safetensors file '", file, "': ", adam_v_name(p->name),
                            " holds ", static_cast<double>(v[i]), " at element ", i,
                            ", expected second moments >= 0");
    }
    staged.push_back(std::move(st));
  }
  size_t i = 0;
  for (auto& p : store) {
    Staged& st = staged[i++];
    p->value.copy_from(st.value);
    p->master = {};  // mixed precision: the next AdamW step takes the fp32 master from the new value
    if (!with_optimizer_state) continue;
    p->adam_m = std::move(st.m);  // undefined when the file has no moments: the optimizer starts afresh
    p->adam_v = std::move(st.v);
  }
}

/// Writes the parameters of `store` (no optimizer state) and `metadata` to `path` atomically.
template <class T, class B>
void save_parameters(const nn::ParameterStore<T, B>& store, const std::string& path,
                     const std::map<std::string, std::string>& metadata = {}) {
  SafetensorsWriter writer;
  add_parameters(writer, store, false);
  for (const auto& [key, value] : metadata) writer.set_metadata(key, value);
  writer.write(path);
}

/// Loads the parameters of `store` from `path` (strict; optimizer moments in the file are ignored).
template <class T, class B>
void load_parameters(nn::ParameterStore<T, B>& store, const std::string& path) {
  read_parameters(SafetensorsReader(path), store, false);
}

}  // namespace mnemo::io
