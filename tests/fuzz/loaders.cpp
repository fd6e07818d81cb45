// tests/fuzz/loaders.cpp — see loaders.hpp.
#include "loaders.hpp"

#include <cstdlib>
#include <string>
#include <vector>

#include "mnemo/io/infinite_former_state_io.hpp"
#include "mnemo/io/model_file.hpp"
#include "mnemo/io/safetensors.hpp"
#include "mnemo/io/slot_state_io.hpp"
#include "mnemo/mnemo.hpp"

namespace mnemo::fuzz {
namespace {

using Memformer = models::Memformer<float, Cpu>;
using InfFormer = models::InfiniteFormer<float, Cpu>;

/// The tiny models whose parameters and states the targets load (built once per process; small,
/// so that the seeds are small and an execution is fast).
models::MemformerConfig memformer_config() {
  models::MemformerConfig c;
  c.vocab = 5;
  c.d_model = 4;
  c.heads = 1;
  c.d_ff = 4;
  c.slots = 2;
  c.encoder_layers = 1;
  c.decoder_layers = 1;
  c.segment_length = 4;
  c.bos_id = 1;
  return c;
}

models::InfiniteFormerConfig infinite_former_config() {
  models::InfiniteFormerConfig c;
  c.vocab = 5;
  c.d_model = 4;
  c.heads = 1;
  c.d_ff = 4;
  c.layers = 1;
  c.segment_length = 4;
  c.stm_segments = 1;
  c.dropout = 0.0;
  c.ltm.basis = memory::BasisConfig{4, {0.2, 0.4}};
  c.ltm.samples = 4;
  c.ltm.sticky = true;
  c.ltm.sticky_bins = 8;
  return c;
}

Memformer& memformer() {
  static Memformer model(memformer_config(), 1);
  return model;
}
InfFormer& infinite_former() {
  static InfFormer model(infinite_former_config(), 1);
  return model;
}

io::SafetensorsReader reader_of(const uint8_t* data, size_t size) {
  return io::SafetensorsReader::from_bytes(std::vector<char>(data, data + size), "<fuzz input>");
}

train::Segment segment(int64_t batch, int64_t length) {
  train::Segment s{Tensor<int32_t, Cpu>(Shape{batch, length}), {}};
  for (int64_t i = 0; i < s.tokens.numel(); ++i) s.tokens[i] = static_cast<int32_t>(i % 5);
  return s;
}

/// Runs `body`; a mnemo::Error is the expected answer to bad input.
template <class F>
void guarded(F&& body) {
  try {
    body();
  } catch (const Error&) {
  }
}

template <class T>
void touch(const io::SafetensorsReader& r, const std::string& name) {
  const auto t = r.read<T>(name);
  volatile T sink{};
  for (int64_t i = 0; i < t.numel(); ++i) sink = t[i];
  (void)sink;
}

void load_parameters_into(Memformer& model, const io::SafetensorsReader& r, bool with_moments) {
  io::read_parameters(r, model.parameters(), with_moments);
  if (!with_moments) return;
  // Use what was loaded: one AdamW step (zero gradients) from the restored moments.
  model.parameters().zero_grad();
  train::AdamW<float, Cpu> opt(model.parameters());
  opt.step();
}

void step_memformer(const memory::SlotState<float, Cpu>& state) {
  memformer().step(state, segment(state.batch(), memformer_config().segment_length));
}

void save_slot_seed(const std::string& dir) {
  auto& model = memformer();
  auto state = model.initial_state(2);
  state = model.step(state, segment(2, 4)).next;
  io::save_state(state, dir + "/slot_state.safetensors");
}

}  // namespace

void safetensors(const uint8_t* data, size_t size) {
  guarded([&] {
    const auto r = reader_of(data, size);
    for (const std::string& name : r.names()) {
      const std::string dtype = r.dtype(name);
      (void)r.shape(name);
      if (dtype == "F32") touch<float>(r, name);
      else if (dtype == "F64") touch<double>(r, name);
      else if (dtype == "I32") touch<int32_t>(r, name);
      else if (dtype == "I64") touch<int64_t>(r, name);
      else if (dtype == "U8") touch<uint8_t>(r, name);
      else guarded([&] { touch<float>(r, name); });  // another dtype: must be an IoError
    }
  });
}

void parameters(const uint8_t* data, size_t size) {
  guarded([&] { load_parameters_into(memformer(), reader_of(data, size), false); });
}

void optimizer_state(const uint8_t* data, size_t size) {
  guarded([&] { load_parameters_into(memformer(), reader_of(data, size), true); });
}

void slot_state(const uint8_t* data, size_t size) {
  guarded([&] { step_memformer(io::read_state<float, Cpu>(reader_of(data, size))); });
}

void infinite_former_state(const uint8_t* data, size_t size) {
  guarded([&] {
    auto& model = infinite_former();
    autograd::NoGrad off;
    auto state = io::read_state(reader_of(data, size), model, 2);
    // Use the state: two steps (the second writes the cached segment into the memory and samples
    // sticky positions from the loaded densities).
    for (int k = 0; k < 2; ++k) model.step(segment(2, 4).tokens, nullptr, state);
  });
}

void checkpoint(const uint8_t* data, size_t size) {
  guarded([&] {
    const auto r = reader_of(data, size);
    load_parameters_into(memformer(), r, true);
    step_memformer(io::read_state<float, Cpu>(r));
  });
}

void model_file(const uint8_t* data, size_t size) {
  // Both kinds on every input (a file claims one; the other's load must be an IoError), and a
  // step of whatever loads, at the loaded configuration's segment length.
  guarded([&] {
    const auto model = io::load_model<Memformer>(reader_of(data, size));
    model.step(model.initial_state(1), segment(1, model.config().segment_length));
  });
  guarded([&] {
    const auto model = io::load_model<InfFormer>(reader_of(data, size));
    autograd::NoGrad off;
    auto state = model.initial_state(1);
    model.step(segment(1, model.config().segment_length).tokens, nullptr, state);
  });
}

void write_seeds(const std::string& target, const std::string& dir) {
  auto& mf = memformer();
  if (target == "parameters" || target == "safetensors") io::save_parameters(mf.parameters(), dir + "/parameters.safetensors");
  if (target == "optimizer_state" || target == "checkpoint" || target == "safetensors") {
    mf.parameters().zero_grad();
    for (auto& p : mf.parameters()) p->grad.fill(0.01f);
    train::AdamW<float, Cpu> opt(mf.parameters());
    opt.step();
    io::SafetensorsWriter w;
    io::add_parameters(w, mf.parameters(), true);
    w.write(dir + "/optimizer_state.safetensors");
    if (target == "checkpoint") {
      io::SafetensorsWriter c;
      io::add_parameters(c, mf.parameters(), true);
      auto state = mf.initial_state(2);
      state = mf.step(state, segment(2, 4)).next;
      io::add_state(c, state);
      c.set_metadata("adamw.steps", "1");
      c.write(dir + "/checkpoint.safetensors");
    }
  }
  if (target == "slot_state" || target == "safetensors") save_slot_seed(dir);
  if (target == "model_file" || target == "safetensors") {
    io::save_model(mf, dir + "/memformer_model.safetensors");
    io::save_model(infinite_former(), dir + "/infinite_former_model.safetensors");
  }
  if (target == "infinite_former_state" || target == "safetensors") {
    auto& model = infinite_former();
    autograd::NoGrad off;
    auto state = model.initial_state(2, 3);
    for (int k = 0; k < 3; ++k) model.step(segment(2, 4).tokens, nullptr, state);
    io::save_state(model, state, dir + "/infinite_former_state.safetensors");
    io::save_state(state, dir + "/infinite_former_state_no_settings.safetensors");
  }
}

}  // namespace mnemo::fuzz
