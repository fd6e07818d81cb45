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

#include "mnemo/autograd/ops/common.hpp"
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
/// missing or has another dtype, ValueError when a value is out of its domain: non-finite
/// coefficients or densities, negative σ² or token counts, flags other than 0/1, a row flagged
/// as holding densities without them). All or nothing: everything is read into a new state and
/// checked before `s` is replaced, so a failed call leaves `s` exactly as it was.
template <class T, class B>
void read_state(const SafetensorsReader& r, const std::string& prefix, memory::ContinuousState<T, B>& s) {
  using C = compute_t<T>;
  const int64_t batch = s.batch();
  memory::ContinuousState<T, B> next;
  next.coefficients = Tensor<T, B>(s.coefficients.shape());
  r.read_into(prefix + "coefficients", next.coefficients);
  autograd::check_finite(BackendTraits<B>::default_context(), (prefix + "coefficients").c_str(), next.coefficients);
  next.has_memory = detail::read_vector<uint8_t>(r, prefix + "has_memory", batch);
  next.tokens_written = detail::read_vector<int64_t>(r, prefix + "tokens_written", batch);
  next.has_densities = detail::read_vector<uint8_t>(r, prefix + "has_densities", batch);
  for (int64_t b = 0; b < batch; ++b) {
    const auto i = static_cast<size_t>(b);
    require<ValueError>(next.has_memory[i] <= 1 && next.has_densities[i] <= 1, prefix, "has_memory / has_densities [",
                        b, "] = ", int{next.has_memory[i]}, " / ", int{next.has_densities[i]}, ", expected 0 or 1");
    require<ValueError>(next.tokens_written[i] >= 0, prefix, "tokens_written[", b, "] = ", next.tokens_written[i],
                        ", expected >= 0");
  }
  if (r.contains(prefix + "sticky_mu") || r.contains(prefix + "sticky_sigma2")) {
    next.sticky_mu = r.read<C, B>(prefix + "sticky_mu");
    next.sticky_sigma2 = r.read<C, B>(prefix + "sticky_sigma2");
    check_shape((prefix + "sticky_mu").c_str(), next.sticky_mu.shape(), {{"batch", batch}, {"densities", Dim::any}});
    check_shape((prefix + "sticky_sigma2").c_str(), next.sticky_sigma2.shape(),
                {{"batch", batch}, {"densities", next.sticky_mu.shape()[1]}});
    auto& ctx = BackendTraits<B>::default_context();
    autograd::check_finite(ctx, (prefix + "sticky_mu").c_str(), next.sticky_mu);
    autograd::check_finite(ctx, (prefix + "sticky_sigma2").c_str(), next.sticky_sigma2);
    const auto sigma2 = next.sticky_sigma2.to_host();
    for (size_t i = 0; i < sigma2.size(); ++i)
      require<ValueError>(!(sigma2[i] < C(0)), prefix, "sticky_sigma2 holds ", static_cast<double>(sigma2[i]),
                          " at element ", i, ", expected variances >= 0");
  } else {
    for (int64_t b = 0; b < batch; ++b)
      require<ValueError>(!next.has_densities[static_cast<size_t>(b)], prefix, "has_densities[", b,
                          "] = 1 but the file holds no ", prefix, "sticky_mu / sticky_sigma2");
  }
  const auto rng = r.read<int64_t, Cpu>(prefix + "rng");
  check_shape((prefix + "rng").c_str(), rng.shape(), {{"seed_stream_draws", 3}});
  next.key = RngKey{std::bit_cast<uint64_t>(rng[0]), std::bit_cast<uint64_t>(rng[1])};
  next.draws = std::bit_cast<uint64_t>(rng[2]);
  s = std::move(next);  // nothing below throws
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

/// Metadata keys recording the model settings a state depends on; load_state compares them with
/// the loading model (files written without them are checked structurally only).
inline constexpr const char* kSegmentLengthKey = "mnemo.segment_length";
inline constexpr const char* kStickyKey = "mnemo.sticky";

/// Adds a whole model state and the settings of `model` it depends on (segment length, sticky).
template <class T, class B>
void add_state(SafetensorsWriter& w, const models::InfiniteFormer<T, B>& model, const models::InfiniteFormerState<T, B>& s) {
  add_state(w, s);
  w.set_metadata(kSegmentLengthKey, std::to_string(model.config().segment_length));
  w.set_metadata(kStickyKey, model.config().use_ltm && model.config().ltm.sticky ? "1" : "0");
}

/// Writes a model state to `path` (atomically). Without the model, the segment length and sticky
/// setting are not recorded (load_state then checks the tensors only).
template <class T, class B>
void save_state(const models::InfiniteFormerState<T, B>& s, const std::string& path) {
  SafetensorsWriter w;
  add_state(w, s);
  w.write(path);
}

/// Writes a model state to `path` (atomically) with the settings of `model` it depends on.
template <class T, class B>
void save_state(const models::InfiniteFormer<T, B>& model, const models::InfiniteFormerState<T, B>& s, const std::string& path) {
  SafetensorsWriter w;
  add_state(w, model, s);
  w.write(path);
}

namespace detail {
/// The single value of a one-element I64 tensor (IoError/ShapeError otherwise).
inline int64_t read_count(const SafetensorsReader& r, const std::string& name) {
  const auto t = r.read<int64_t, Cpu>(name);
  check_shape(name.c_str(), t.shape(), {{"one", 1}});
  return t[0];
}
}  // namespace detail

/// Reads a model state saved by save_state (here from reader `r`) for `model` with `batch` rows.
/// Errors name the tensor:
/// IoError (missing, wrong dtype, not a state file, saved by a model with another segment length
/// or sticky setting), ShapeError (another model or batch size), ValueError (a count or value out
/// of its domain). Nothing is returned unless every tensor passed.
template <class T, class B>
models::InfiniteFormerState<T, B> read_state(const SafetensorsReader& r, const models::InfiniteFormer<T, B>& model,
                                             int64_t batch) {
  const std::string& path = r.path();
  const auto& meta = r.metadata();
  auto it = meta.find("mnemo.state");
  require<IoError>(it != meta.end() && it->second == "infinite_former", "load_state: '", path,
                   "' is not an infinite_former state file (metadata mnemo.state missing)");
  const auto& c = model.config();
  const std::string sticky = c.use_ltm && c.ltm.sticky ? "1" : "0";
  if (auto m = meta.find(kSegmentLengthKey); m != meta.end())
    require<IoError>(m->second == std::to_string(c.segment_length), "load_state: '", path, "' was saved by a model with ",
                     kSegmentLengthKey, " = ", m->second, ", expected this model's ", c.segment_length);
  if (auto m = meta.find(kStickyKey); m != meta.end())
    require<IoError>(m->second == sticky, "load_state: '", path, "' was saved by a model with ", kStickyKey, " = ",
                     m->second, ", expected this model's ", sticky);
  auto s = model.initial_state(batch);
  s.steps = detail::read_count(r, "steps");
  require<ValueError>(s.steps >= 0, "load_state: '", path, "': steps = ", s.steps, ", expected >= 0");
  for (size_t i = 0; i < s.ltm.size(); ++i) {
    const std::string prefix = mnemo::detail::cat("ltm.", i, ".");
    require<IoError>(c.ltm.sticky || !r.contains(prefix + "sticky_mu"), "load_state: '", path, "' holds ", prefix,
                     "sticky_mu, but this model has no sticky memories (ltm.sticky = false)");
    read_state(r, prefix, s.ltm[i]);
    if (s.ltm[i].sticky_mu.defined())
      require<ShapeError>(s.ltm[i].sticky_mu.shape()[1] % c.heads == 0 &&
                              s.ltm[i].sticky_mu.shape()[1] <= c.heads * c.segment_length,
                          "load_state: '", path, "': ", prefix, "sticky_mu has shape ", s.ltm[i].sticky_mu.shape().str(),
                          ", expected [batch, heads·L_q] with heads = ", c.heads, " and L_q <= segment_length = ",
                          c.segment_length);
  }
  const int64_t segments = detail::read_count(r, "cache_segments");
  require<IoError>(segments >= 0 && segments <= c.stm_segments + 1, "load_state: '", path, "' holds ", segments,
                   " cached segments, expected at most stm_segments + 1 = ", c.stm_segments + 1);
  const int64_t e = c.d_model;
  for (int64_t k = 0; k < segments; ++k) {
    typename models::InfiniteFormerState<T, B>::CachedSegment seg;
    const std::string pad_name = mnemo::detail::cat("cache.", k, ".padding");
    seg.padding = r.read<uint8_t, Cpu>(pad_name);
    check_shape(pad_name.c_str(), seg.padding.shape(), {{"batch", batch}, {"length", Dim::any}});
    require<ShapeError>(seg.length() >= 1 && seg.length() <= c.segment_length, "load_state: '", path, "': ", pad_name,
                        " has length ", seg.length(), ", expected 1 <= length <= segment_length = ", c.segment_length);
    for (int64_t i = 0; i < c.layers; ++i) {
      const std::string name = mnemo::detail::cat("cache.", k, ".layer.", i);
      seg.inputs.push_back(r.read<T, B>(name));
      check_shape(name.c_str(), seg.inputs.back().shape(), {{"batch", batch}, {"length", seg.length()}, {"d_model", e}});
      autograd::check_finite(BackendTraits<B>::default_context(), name.c_str(), seg.inputs.back());
    }
    s.cache.push_back(std::move(seg));
  }
  return s;
}

/// Where a whole model state goes inside a file that holds other tensors too (a checkpoint with
/// the parameters): one U8 tensor holding a complete state file (save_state's bytes), so that the
/// state's own names ("steps", "ltm.0.…") never meet parameter names (they hold no '@').
inline constexpr const char* kInfiniteFormerStateName = "infinite_former@state";

/// Adds a whole model state (with the settings of `model`) as one U8 tensor `name`.
template <class T, class B>
void add_state_file(SafetensorsWriter& w, const models::InfiniteFormer<T, B>& model,
                    const models::InfiniteFormerState<T, B>& s, const std::string& name = kInfiniteFormerStateName) {
  SafetensorsWriter inner;
  add_state(inner, model, s);
  const std::vector<char> bytes = inner.bytes();
  w.add(name, Tensor<uint8_t, Cpu>::from_host(Shape{static_cast<int64_t>(bytes.size())},
                                              std::vector<uint8_t>(bytes.begin(), bytes.end())));
}

/// Reads add_state_file's state from `r` with every check of read_state (the embedded file is
/// validated like a file on disk; messages name it as 'PATH:NAME').
template <class T, class B>
models::InfiniteFormerState<T, B> read_state_file(const SafetensorsReader& r, const models::InfiniteFormer<T, B>& model,
                                                  int64_t batch, const std::string& name = kInfiniteFormerStateName) {
  const auto t = r.read<uint8_t, Cpu>(name);
  check_shape(name.c_str(), t.shape(), {{"bytes", Dim::any}});
  const auto host = t.to_host();
  return read_state(SafetensorsReader::from_bytes(std::vector<char>(host.begin(), host.end()), r.path() + ":" + name),
                    model, batch);
}

/// read_state from the file `path`.
template <class T, class B>
models::InfiniteFormerState<T, B> load_state(const models::InfiniteFormer<T, B>& model, int64_t batch, const std::string& path) {
  return read_state(SafetensorsReader(path), model, batch);
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
