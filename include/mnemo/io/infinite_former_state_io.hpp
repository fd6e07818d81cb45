// mnemo/io/infinite_former_state_io.hpp — safetensors save/load of ∞-former stream states
// (infinite_former.md §15): a restored state resumes bit for bit, the sticky sampler included.
//
// Names (prefix + ...): a long-term memory state is
//   coefficients [batch, N, e] (T), has_memory [batch] (U8), tokens_written [batch] (I64),
//   has_densities [batch] (U8), sticky_mu / sticky_sigma2 [batch, H·L_q] (compute type; only when
//   a read stored them), rng [3] (I64: seed, stream, draws, bit-cast)
// and a model state is "steps", "cache_segments" (I64 [1]), "ltm.<layer>." + the above, and per
// cached segment k (oldest first) "cache.<k>.padding" [batch, L_k] (U8) and "cache.<k>.layer.<i>"
// [batch, L_k, e] (T). Metadata "mnemo.state" = "infinite_former".
#pragma once

#include <bit>
#include <cstdint>
#include <string>
#include <vector>

#include "mnemo/core/error.hpp"
#include "mnemo/core/precision.hpp"
#include "mnemo/core/tensor.hpp"
#include "mnemo/io/safetensors.hpp"
#include "mnemo/memory/continuous_state.hpp"
#include "mnemo/models/infinite_former.hpp"
#include "mnemo/models/infinite_former_state.hpp"

namespace mnemo::io {

namespace detail {
template <class U>
Tensor<U, Cpu> host_vector(const std::vector<U>& v) {
  return Tensor<U, Cpu>::from_host(Shape{static_cast<int64_t>(v.size())}, v);
}
template <class U>
std::vector<U> read_vector(const SafetensorsReader& r, const std::string& name, int64_t expected) {
  const auto t = r.read<U, Cpu>(name);
  check_shape(name.c_str(), t.shape(), {{"batch", expected}});
  return t.to_host();
}
}  // namespace detail

/// Adds one long-term-memory state under `prefix`.
template <class T, class B>
void add_state(SafetensorsWriter& w, const std::string& prefix, const memory::ContinuousState<T, B>& s) {
  w.add(prefix + "coefficients", s.coefficients);
  w.add(prefix + "has_memory", detail::host_vector(s.has_memory));
  w.add(prefix + "tokens_written", detail::host_vector(s.tokens_written));
  w.add(prefix + "has_densities", detail::host_vector(s.has_densities));
  if (s.sticky_mu.defined()) {
    w.add(prefix + "sticky_mu", s.sticky_mu);
    w.add(prefix + "sticky_sigma2", s.sticky_sigma2);
  }
  const std::vector<int64_t> rng = {std::bit_cast<int64_t>(s.key.seed), std::bit_cast<int64_t>(s.key.stream),
                                    std::bit_cast<int64_t>(s.draws)};
  w.add(prefix + "rng", detail::host_vector(rng));
}

/// Restores a long-term-memory state from `prefix` into `s`, whose coefficients already have the
/// expected shape [batch, N, e] (ShapeError when the file's differ, IoError when a tensor is
/// missing or has another dtype).
template <class T, class B>
void read_state(const SafetensorsReader& r, const std::string& prefix, memory::ContinuousState<T, B>& s) {
  const int64_t batch = s.batch();
  r.read_into(prefix + "coefficients", s.coefficients);
  s.has_memory = detail::read_vector<uint8_t>(r, prefix + "has_memory", batch);
  s.tokens_written = detail::read_vector<int64_t>(r, prefix + "tokens_written", batch);
  s.has_densities = detail::read_vector<uint8_t>(r, prefix + "has_densities", batch);
  if (r.contains(prefix + "sticky_mu")) {
    s.sticky_mu = r.read<compute_t<T>, B>(prefix + "sticky_mu");
    s.sticky_sigma2 = r.read<compute_t<T>, B>(prefix + "sticky_sigma2");
    check_shape((prefix + "sticky_mu").c_str(), s.sticky_mu.shape(), {{"batch", batch}, {"densities", Dim::any}});
    check_shape((prefix + "sticky_sigma2").c_str(), s.sticky_sigma2.shape(), {{"batch", batch}, {"densities", s.sticky_mu.shape()[1]}});
  } else {
    s.sticky_mu = {};
    s.sticky_sigma2 = {};
  }
  const auto rng = r.read<int64_t, Cpu>(prefix + "rng");
  check_shape((prefix + "rng").c_str(), rng.shape(), {{"seed_stream_draws", 3}});
  s.key = RngKey{std::bit_cast<uint64_t>(rng[0]), std::bit_cast<uint64_t>(rng[1])};
  s.draws = std::bit_cast<uint64_t>(rng[2]);
}

/// Adds a whole model state (long-term memories + short-term cache).
template <class T, class B>
void add_state(SafetensorsWriter& w, const models::InfiniteFormerState<T, B>& s) {
  w.set_metadata("mnemo.state", "infinite_former");
  w.add("steps", detail::host_vector(std::vector<int64_t>{s.steps}));
  w.add("cache_segments", detail::host_vector(std::vector<int64_t>{static_cast<int64_t>(s.cache.size())}));
  for (size_t i = 0; i < s.ltm.size(); ++i) add_state(w, mnemo::detail::cat("ltm.", i, "."), s.ltm[i]);
  for (size_t k = 0; k < s.cache.size(); ++k) {
    w.add(mnemo::detail::cat("cache.", k, ".padding"), s.cache[k].padding);
    for (size_t i = 0; i < s.cache[k].inputs.size(); ++i) w.add(mnemo::detail::cat("cache.", k, ".layer.", i), s.cache[k].inputs[i]);
  }
}

/// Writes a model state to `path` (atomically).
template <class T, class B>
void save_state(const models::InfiniteFormerState<T, B>& s, const std::string& path) {
  SafetensorsWriter w;
  add_state(w, s);
  w.write(path);
}

/// Reads a model state saved by save_state for `model` with `batch` rows. Errors name the tensor:
/// IoError (missing, wrong dtype, not a state file), ShapeError (another model or batch size).
template <class T, class B>
models::InfiniteFormerState<T, B> load_state(const models::InfiniteFormer<T, B>& model, int64_t batch, const std::string& path) {
  const SafetensorsReader r(path);
  auto it = r.metadata().find("mnemo.state");
  require<IoError>(it != r.metadata().end() && it->second == "infinite_former", "load_state: '", path,
                   "' is not an infinite_former state file (metadata mnemo.state missing)");
  auto s = model.initial_state(batch);
  s.steps = r.read<int64_t, Cpu>("steps")[0];
  for (size_t i = 0; i < s.ltm.size(); ++i) read_state(r, mnemo::detail::cat("ltm.", i, "."), s.ltm[i]);
  const int64_t segments = r.read<int64_t, Cpu>("cache_segments")[0];
  require<IoError>(segments >= 0 && segments <= model.config().stm_segments + 1, "load_state: '", path, "' holds ", segments,
                   " cached segments, expected at most stm_segments + 1 = ", model.config().stm_segments + 1);
  const int64_t e = model.config().d_model;
  for (int64_t k = 0; k < segments; ++k) {
    typename models::InfiniteFormerState<T, B>::CachedSegment c;
    c.padding = r.read<uint8_t, Cpu>(mnemo::detail::cat("cache.", k, ".padding"));
    check_shape(mnemo::detail::cat("cache.", k, ".padding").c_str(), c.padding.shape(), {{"batch", batch}, {"length", Dim::any}});
    for (int64_t i = 0; i < model.config().layers; ++i) {
      const std::string name = mnemo::detail::cat("cache.", k, ".layer.", i);
      c.inputs.push_back(r.read<T, B>(name));
      check_shape(name.c_str(), c.inputs.back().shape(), {{"batch", batch}, {"length", c.padding.shape()[1]}, {"d_model", e}});
    }
    s.cache.push_back(std::move(c));
  }
  return s;
}

}  // namespace mnemo::io

// Compiled mode (docs/compile_time.md): with MNEMO_COMPILED (set by linking mnemo::compiled) the
// state IO of the float and double CPU models is compiled once, in src/compiled/.
#if defined(MNEMO_COMPILED)
namespace mnemo::io {
extern template void save_state<float, Cpu>(const models::InfiniteFormerState<float, Cpu>&, const std::string&);
extern template void save_state<double, Cpu>(const models::InfiniteFormerState<double, Cpu>&, const std::string&);
extern template models::InfiniteFormerState<float, Cpu> load_state<float, Cpu>(
    const models::InfiniteFormer<float, Cpu>&, int64_t, const std::string&);
extern template models::InfiniteFormerState<double, Cpu> load_state<double, Cpu>(
    const models::InfiniteFormer<double, Cpu>&, int64_t, const std::string&);
}  // namespace mnemo::io
#endif  // MNEMO_COMPILED
