// mnemo/io/slot_state_io.hpp — saving and loading a Memformer stream state (memory::SlotState,
// [batch, K, d]) as safetensors, alone or next to the parameters in one checkpoint. The state is
// stored as one tensor whose name contains '@' (default "memformer@state"), so read_parameters
// never mistakes it for a parameter. Values are copied byte for byte: a restored stream
// continues bit for bit.
#pragma once

#include <map>
#include <string>

#include "mnemo/core/error.hpp"
#include "mnemo/io/safetensors.hpp"
#include "mnemo/memory/slot_state.hpp"

namespace mnemo::io {

inline constexpr const char* kSlotStateName = "memformer@state";

/// Adds `state` to `writer` under `name` (which must contain '@').
template <class T, class B>
void add_state(SafetensorsWriter& writer, const memory::SlotState<T, B>& state,
               const std::string& name = kSlotStateName) {
  require<IoError>(!is_parameter_like(name), "add_state: tensor name '", name, "' has no '", kNonParameterMark,
                   "' (expected one, so that it is never read as a parameter)");
  require<StateError>(state.defined(), "add_state: the state is empty");
  writer.add(name, state.slots());
}

/// The state stored under `name`: IoError if it is absent or not of T's dtype, ShapeError unless
/// it has rank 3 ([batch, slots, d_model]) with batch >= 1.
template <class T, class B = Cpu>
memory::SlotState<T, B> read_state(const SafetensorsReader& reader, const std::string& name = kSlotStateName) {
  require<IoError>(reader.contains(name), "safetensors file '", reader.path(), "' has no memory state '", name, "'");
  if (reader.shape(name).rank() != 3)
    throw ShapeError(mnemo::detail::cat("safetensors file '", reader.path(), "': memory state '", name,
                                        "' has shape ", reader.shape(name).str(), ", expected [batch, slots, d_model]"));
  require<ShapeError>(reader.shape(name)[0] >= 1, "safetensors file '", reader.path(), "': memory state '", name,
                      "' has shape ", reader.shape(name).str(), ", expected batch >= 1 (as initial_state requires)");
  return memory::SlotState<T, B>(reader.template read<T, B>(name));
}

/// Writes `state` (and `metadata`) to `path` atomically.
template <class T, class B>
void save_state(const memory::SlotState<T, B>& state, const std::string& path,
                const std::map<std::string, std::string>& metadata = {}) {
  SafetensorsWriter writer;
  add_state(writer, state);
  for (const auto& [key, value] : metadata) writer.set_metadata(key, value);
  writer.write(path);
}

template <class T, class B = Cpu>
memory::SlotState<T, B> load_state(const std::string& path) {
  return read_state<T, B>(SafetensorsReader(path));
}

}  // namespace mnemo::io
