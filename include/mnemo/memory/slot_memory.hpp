// mnemo/memory/slot_memory.hpp — Memformer's slot memory (memformer.md §2.3–2.5): the learned
// forgetting bias v, the initial memory normalize(v), per-row reset at document boundaries, the
// reader (one cross-attention per encoder layer from the tokens to γ·M) and the writer with BMN.
//
//   SlotMemory<float, Cpu> mem(store, opts);
//   auto state = mem.initial_state(batch);                        // every row = normalize(v)
//   Var m    = mem.effective(Var(state.slots()), resets);         // where(reset, normalize(v), M)
//   Var keys = mem.reader_input(m);                               // γ·M, shared by the readers
//   x = x + mem.read(layer, layer_norm(x), keys);                 // in every encoder layer
//   Var next = mem.write(m, H, padding);                          // normalize(writer(M, H) + v)
//
// Parameters: "memory.v_bias" [K, d] ~ N(0, bias_init_norm²/d) per entry (row norm ≈
// bias_init_norm), "writer.{q,k,v}_proj.weight", "<reader_prefix>.{i}.mem_read.{q,k,v,o}_proj.*".
// The memory state is a separate value (SlotState); SlotMemory holds parameters only.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "mnemo/autograd/ops/arithmetic.hpp"
#include "mnemo/autograd/ops/normalization.hpp"
#include "mnemo/memory/slot_state.hpp"
#include "mnemo/memory/slot_writer.hpp"
#include "mnemo/nn/attention.hpp"
#include "mnemo/nn/parameter_store.hpp"

namespace mnemo::memory {

struct SlotMemoryOptions {
  int64_t d_model = 512;
  int64_t heads = 8;
  int64_t slots = 64;              // K
  double temperature = 0.5;        // τ of the writer softmax
  double slot_scale = 1.0;         // γ (Memformer's config defaults it to sqrt(d))
  double bias_init_norm = 0.1;     // expected ||v_i|| at initialisation
  double init_std = 0.02;          // reader / writer projections
  double eps = 1e-12;              // BMN
  int64_t readers = 0;             // reader cross-attentions (one per encoder layer)
  std::string reader_prefix = "encoder.layers";

  void validate() const {
    require<ConfigError>(d_model > 0, "SlotMemoryOptions: d_model = ", d_model, ", expected > 0");
    require<ConfigError>(heads > 0 && d_model % heads == 0, "SlotMemoryOptions: d_model = ", d_model,
                         " is not divisible by heads = ", heads);
    require<ConfigError>(slots > 0, "SlotMemoryOptions: slots = ", slots, ", expected > 0");
    require<ConfigError>(temperature > 0 && std::isfinite(temperature), "SlotMemoryOptions: temperature = ",
                         temperature, ", expected > 0");
    require<ConfigError>(slot_scale > 0 && std::isfinite(slot_scale), "SlotMemoryOptions: slot_scale = ",
                         slot_scale, ", expected > 0");
    require<ConfigError>(bias_init_norm > 0, "SlotMemoryOptions: bias_init_norm = ", bias_init_norm,
                         ", expected > 0");
    require<ConfigError>(eps > 0, "SlotMemoryOptions: eps = ", eps, ", expected > 0");
    require<ConfigError>(readers >= 0, "SlotMemoryOptions: readers = ", readers, ", expected >= 0");
  }
};

template <class T, class B>
class SlotMemory {
 public:
  using Var = autograd::Var<T, B>;
  using Tens = Tensor<T, B>;
  using State = SlotState<T, B>;
  using Reader = nn::MultiHeadAttention<T, B>;

  SlotMemory(nn::ParameterStore<T, B>& store, const SlotMemoryOptions& opt);

  const SlotMemoryOptions& options() const { return opt_; }
  nn::Parameter<T, B>& bias() const { return *v_; }
  const SlotWriter<T, B>& writer() const { return writer_; }
  const Reader& reader(int64_t layer) const { return readers_.at(static_cast<size_t>(layer)); }

  /// m_0 = normalize(v) as a differentiable value [K, d] (§2.5).
  Var initial_slots() const { return autograd::l2_normalize(*ctx_, v_->var(), opt_.eps); }

  /// A state of `batch` rows, each normalize(v).
  State initial_state(int64_t batch) const;

  /// Rows with a nonzero mask entry start over from normalize(v); the others are untouched.
  void reset_rows(State& state, const std::vector<uint8_t>& mask) const;

  /// M_eff = where(reset, normalize(v), M) over batch rows (§2.5): gradients reach v through
  /// m_0 and stop flowing into the old memory of reset rows. `reset` empty = no row resets.
  Var effective(const Var& memory, const std::vector<uint8_t>& reset) const;

  /// γ·M: the key/value input of every reader (computed once per step).
  Var reader_input(const Var& memory) const {
    check_memory("SlotMemory::reader_input", memory.value());
    if (opt_.slot_scale == 1.0) return memory;
    return autograd::scale(*ctx_, memory, static_cast<compute_t<T>>(opt_.slot_scale));
  }

  /// Reader of encoder layer `layer`: cross-attention from x_normed [batch, L, d] to the slots
  /// (reader_input(M) [batch, K, d]); no mask, slots carry no positions (§2.3).
  Var read(int64_t layer, const Var& x_normed, const Var& reader_keys) const;

  /// Writer + BMN (§2.4–2.5): next memory from M [batch, K, d], encoder output H [batch, L, d]
  /// and the token padding [batch, L] (nullable).
  Var write(const Var& memory, const Var& hidden, const Tensor<uint8_t, B>* padding = nullptr) const;

 private:
  static SlotWriterOptions writer_options(const SlotMemoryOptions& o) {
    SlotWriterOptions w;
    w.d_model = o.d_model;
    w.heads = o.heads;
    w.slots = o.slots;
    w.temperature = o.temperature;
    w.slot_scale = o.slot_scale;
    w.init_std = o.init_std;
    w.eps = o.eps;
    return w;
  }
  void check_memory(const char* who, const Tens& m) const {
    check_shape(Label(who, ": memory"), m.shape(), {{"batch", Dim::any}, {"slots", opt_.slots}, {"d_model", opt_.d_model}});
  }

  Context<B>* ctx_;
  SlotMemoryOptions opt_;
  nn::Parameter<T, B>* v_;
  SlotWriter<T, B> writer_;
  std::vector<Reader> readers_;
};

template <class T, class B>
SlotMemory<T, B>::SlotMemory(nn::ParameterStore<T, B>& store, const SlotMemoryOptions& opt)
    : ctx_(&store.context()),
      opt_((opt.validate(), opt)),
      v_(&store.add("memory.v_bias", Shape{opt.slots, opt.d_model},
                    nn::Init::normal(opt.bias_init_norm / std::sqrt(static_cast<double>(opt.d_model))))),
      writer_(store, "writer", *v_, writer_options(opt)) {
  readers_.reserve(static_cast<size_t>(opt.readers));
  for (int64_t i = 0; i < opt.readers; ++i)
    readers_.emplace_back(store, detail::cat(opt.reader_prefix, ".", i, ".mem_read"), opt.d_model, opt.heads,
                          true, opt.init_std);
}

template <class T, class B>
auto SlotMemory<T, B>::initial_state(int64_t batch) const -> State {
  require<ShapeError>(batch > 0, "SlotMemory::initial_state: batch = ", batch, ", expected > 0");
  autograd::NoGrad off;
  State s(Tens(Shape{batch, opt_.slots, opt_.d_model}, ctx_->arena()));
  s.reset_rows(std::vector<uint8_t>(static_cast<size_t>(batch), 1), initial_slots().value());
  return s;
}

template <class T, class B>
auto SlotMemory<T, B>::reset_rows(State& state, const std::vector<uint8_t>& mask) const -> void {
  autograd::NoGrad off;
  state.reset_rows(mask, initial_slots().value());
}

template <class T, class B>
auto SlotMemory<T, B>::effective(const Var& memory, const std::vector<uint8_t>& reset) const -> Var {
  check_memory("SlotMemory::effective", memory.value());
  if (reset.empty()) return memory;
  if (static_cast<int64_t>(reset.size()) != memory.shape()[0])
    throw ShapeError(detail::cat("SlotMemory::effective: reset has ", reset.size(), " flags, expected batch=",
                                 memory.shape()[0]));
  bool any = false;
  for (uint8_t r : reset) any = any || r != 0;
  if (!any) return memory;
  return autograd::select_rows(*ctx_, reset, initial_slots(), memory);
}

template <class T, class B>
auto SlotMemory<T, B>::read(int64_t layer, const Var& x_normed, const Var& reader_keys) const -> Var {
  require<ShapeError>(layer >= 0 && layer < static_cast<int64_t>(readers_.size()), "SlotMemory::read: layer = ",
                      layer, ", expected 0 <= layer < readers=", readers_.size());
  return readers_[static_cast<size_t>(layer)](x_normed, reader_keys);
}

template <class T, class B>
auto SlotMemory<T, B>::write(const Var& memory, const Var& hidden, const Tensor<uint8_t, B>* padding) const -> Var {
  return writer_(memory, hidden, padding);
}

}  // namespace mnemo::memory

// Compiled mode (docs/compile_time.md): linking mnemo::compiled defines MNEMO_COMPILED; these
// instantiations are then compiled once, in src/compiled/, instead of in every user TU.
#if defined(MNEMO_COMPILED)
#include "mnemo/backend/cpu.hpp"

namespace mnemo::memory {
extern template class SlotMemory<float, Cpu>;
extern template class SlotMemory<double, Cpu>;
}  // namespace mnemo::memory
#endif  // MNEMO_COMPILED
