// tests/python/twin_reference.cpp — the C++ side of the PyTorch twin test (python/tests/test_twin.py,
// docs/pytorch.md). In double precision it runs a model over a stream of segments on the tape and
// writes what the twin must reproduce: logits, next states and the gradients of a fixed loss.
//
//   twin_reference reference DIR           tiny models with fixed seeds: for each case writes
//                                           DIR/<case>.model.safetensors (io::save_model),
//                                           DIR/<case>.inputs.safetensors and, from running them,
//                                           DIR/<case>.outputs.safetensors
//   twin_reference run MODEL INPUTS OUT    loads MODEL with io::load_model (a file the twin
//                                           exported), runs INPUTS, writes OUT
//
// Inputs (safetensors): tokens.<t> I32 [batch, L]; optional padding.<t> U8 [batch, L] and
// reset.<t> U8 [batch] per segment.
//   Memformer: step t encodes tokens.t and is scored on tokens.<t+1> (decoder, teacher forcing),
//     states chained on the tape (full BPTT); optional initial_state F64 [batch, K, d] (else
//     initial_state(batch)). loss = Σ_t Memformer::loss(logits_t, tokens.<t+1>).
//   ∞-former: step t reads tokens.t with targets.<t> I32 (-100 = ignored); the state starts at
//     initial_state(batch, seed) with seed = I64 state_seed; loss = Σ_t CE_t + kl_scale·kl_mean_t.
// Outputs: logits.<t>, loss [1], grad.<parameter name> (mnemo layout) and the states after every
// step: state.<t> [batch, K, d] (Memformer) or coefficients.<t>.<layer> [batch, N, e] (∞-former).
#include <cstdio>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "mnemo/autograd/ops/arithmetic.hpp"
#include "mnemo/autograd/ops/loss.hpp"
#include "mnemo/autograd/tape.hpp"
#include "mnemo/io/model_file.hpp"
#include "mnemo/io/safetensors.hpp"
#include "mnemo/models/infinite_former.hpp"
#include "mnemo/models/memformer.hpp"

using namespace mnemo;
namespace ag = mnemo::autograd;
using Memformer = models::Memformer<double, Cpu>;
using InfiniteFormer = models::InfiniteFormer<double, Cpu>;
using TensorD = Tensor<double, Cpu>;

namespace {

std::string key(const char* what, size_t t) { return std::string(what) + "." + std::to_string(t); }

size_t count_segments(const io::SafetensorsReader& in) {
  size_t n = 0;
  while (in.contains(key("tokens", n))) ++n;
  return n;
}

TensorD scalar(double v) { return TensorD::from_host(Shape{1}, std::vector<double>{v}); }

void add_gradients(io::SafetensorsWriter& out, const nn::ParameterStore<double, Cpu>& store) {
  for (const auto& p : store) out.add("grad." + p->name, p->grad);
}

void run_memformer(Memformer& model, const io::SafetensorsReader& in, io::SafetensorsWriter& out) {
  auto& ctx = model.context();
  const size_t segments = count_segments(in);
  std::vector<train::Segment> s(segments);
  std::vector<std::vector<uint8_t>> resets(segments);
  for (size_t t = 0; t < segments; ++t) {
    s[t].tokens = in.read<int32_t>(key("tokens", t));
    if (in.contains(key("padding", t))) s[t].padding = in.read<uint8_t>(key("padding", t));
    if (in.contains(key("reset", t))) resets[t] = in.read<uint8_t>(key("reset", t)).to_host();
  }
  const int64_t batch = s.at(0).batch();
  const TensorD start = in.contains("initial_state") ? in.read<double>("initial_state") : model.initial_state(batch).slots();
  model.parameters().zero_grad();
  ag::Tape tape;
  ag::Var<double, Cpu> loss;
  {
    ag::Recording on(tape);
    ag::Var<double, Cpu> memory(start);
    for (size_t t = 0; t + 1 < segments; ++t) {
      const auto e = model.encode(s[t], memory, resets[t]);
      const auto logits = model.decode(e.hidden, e.padding, s[t + 1]);
      const auto l = model.loss(logits, s[t + 1]);
      loss = loss.defined() ? ag::add(ctx, loss, l) : l;
      out.add(key("logits", t), logits.value());
      out.add(key("hidden", t), e.hidden.value());
      out.add(key("state", t), e.next_memory.value());
      memory = e.next_memory;
    }
  }
  tape.backward(loss);
  out.add("loss", loss.value().reshape(Shape{1}));
  add_gradients(out, model.parameters());
}

void run_infinite_former(InfiniteFormer& model, const io::SafetensorsReader& in, io::SafetensorsWriter& out) {
  auto& ctx = model.context();
  const size_t segments = count_segments(in);
  const double kl_scale = in.read<double>("kl_scale")[0];
  const int64_t batch = in.read<int32_t>("tokens.0").shape()[0];
  auto state = model.initial_state(batch, static_cast<uint64_t>(in.read<int64_t>("state_seed")[0]));
  model.parameters().zero_grad();
  ag::Tape tape;
  ag::Var<double, Cpu> loss;
  {
    ag::Recording on(tape);
    for (size_t t = 0; t < segments; ++t) {
      if (in.contains(key("reset", t))) state.reset_rows(in.read<uint8_t>(key("reset", t)).to_host());
      const auto tokens = in.read<int32_t>(key("tokens", t));
      Tensor<uint8_t, Cpu> padding;
      if (in.contains(key("padding", t))) padding = in.read<uint8_t>(key("padding", t));
      const auto step = model.step(tokens, padding.defined() ? &padding : nullptr, state);
      const auto targets = in.read<int32_t>(key("targets", t));
      const auto ce = ag::cross_entropy(ctx, step.logits, targets, static_cast<const Tensor<float, Cpu>*>(nullptr),
                                        ag::CrossEntropyOptions{});
      const auto l = ag::add(ctx, ce, ag::scale(ctx, step.kl_mean, kl_scale));
      loss = loss.defined() ? ag::add(ctx, loss, l) : l;
      out.add(key("logits", t), step.logits.value());
      out.add(key("kl_mean", t), step.kl_mean.value().reshape(Shape{1}));
      for (size_t i = 0; i < state.ltm.size(); ++i)
        out.add(key("coefficients", t) + "." + std::to_string(i), state.ltm[i].coefficients);
    }
  }
  tape.backward(loss);
  out.add("loss", loss.value().reshape(Shape{1}));
  add_gradients(out, model.parameters());
}

/// Runs the inputs on the model file `model_path` (its kind from its metadata) into `out_path`.
void run_file(const std::string& model_path, const std::string& inputs_path, const std::string& out_path) {
  const io::SafetensorsReader in(inputs_path);
  io::SafetensorsWriter out;
  const std::string kind = io::SafetensorsReader(model_path).metadata().at(io::model_key::model);
  if (kind == "memformer") {
    auto model = io::load_model<Memformer>(model_path);
    run_memformer(model, in, out);
  } else {
    auto model = io::load_model<InfiniteFormer>(model_path);
    run_infinite_former(model, in, out);
  }
  out.write(out_path);
}

Tensor<int32_t, Cpu> random_tokens(int64_t batch, int64_t len, int64_t vocab, uint64_t seed) {
  Tensor<int32_t, Cpu> t(Shape{batch, len});
  const RngKey k{seed, 3};
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<int32_t>(k.bits(static_cast<uint64_t>(i)) % static_cast<uint32_t>(vocab));
  return t;
}

Tensor<uint8_t, Cpu> flags(const Shape& shape, const std::vector<int64_t>& set) {
  auto t = Tensor<uint8_t, Cpu>::zeros(shape);
  for (int64_t i : set) t[i] = 1;
  return t;
}

models::MemformerConfig memformer_config(bool tied) {
  models::MemformerConfig c;
  c.vocab = 11;
  c.d_model = 8;
  c.heads = 2;
  c.d_ff = 12;
  c.slots = 3;
  c.encoder_layers = 2;
  c.decoder_layers = 2;
  c.segment_length = 4;
  c.init_std = 0.3;  // large enough that every path carries a visible gradient
  c.bias_init_norm = 0.8;
  c.tie_embeddings = tied;
  if (!tied) {  // the other branches of the optional settings
    c.slot_scale = 1.7;
    c.position_scale = 0.5;
    c.temperature = 0.8;
    c.bos_id = 3;
  }
  return c;
}

/// The ∞-former cases: 0 = one-segment short-term window with the gate; 1 = sticky memories and
/// the other lattice; 2 = no long-term memory and no ALiBi, two cached segments.
models::InfiniteFormerConfig infinite_former_config(int variant) {
  const bool sticky = variant == 1;
  models::InfiniteFormerConfig c;
  c.vocab = 11;
  c.d_model = 8;
  c.heads = 2;  // ALiBi slopes 2^-4, 2^-8: exact in the float mnemo computes them in
  c.d_ff = 16;
  c.layers = 2;
  c.segment_length = 4;
  c.dropout = 0.0;
  c.init_std = 0.3;
  c.ltm.basis = memory::BasisConfig{8, {0.15, 0.3}};
  c.ltm.samples = 6;
  c.ltm.tau = 0.6;
  c.ltm.ridge_lambda = 0.3;
  c.ltm.kl_weight = 0.01;
  c.stm_segments = sticky ? 0 : 1;
  c.tie_embeddings = !sticky;
  if (sticky) {  // the other branches: sticky sampling, cell-centre lattice without pads, resets
    c.ltm.sticky = true;
    c.ltm.sticky_bins = 8;
    c.ltm.sticky_jitter = true;
    c.ltm.positions = memory::PositionConvention::CellCentre;
    c.ltm.zero_pad = false;
    c.ltm.reset_every_tokens = 12;
  }
  if (variant == 2) {
    c.use_ltm = false;
    c.alibi = false;
    c.stm_segments = 2;
  }
  return c;
}

void reference(const std::string& dir) {
  const int64_t batch = 2, L = 4;
  for (bool tied : {true, false}) {
    const std::string name = dir + (tied ? "/memformer_tied" : "/memformer_untied");
    Memformer model(memformer_config(tied), tied ? 21 : 22);
    io::save_model(model, name + ".model.safetensors");
    io::SafetensorsWriter in;
    for (size_t t = 0; t < 4; ++t) in.add(key("tokens", t), random_tokens(batch, L, 11, 10 * (tied ? 1 : 2) + t));
    in.add("padding.0", flags(Shape{batch, L}, {7}));       // row 1, last token
    in.add("padding.2", flags(Shape{batch, L}, {2, 3}));    // row 0, last two
    in.add("reset.1", flags(Shape{batch}, {1}));            // row 1 starts a new document
    in.write(name + ".inputs.safetensors");
    run_file(name + ".model.safetensors", name + ".inputs.safetensors", name + ".outputs.safetensors");
  }
  const char* variants[] = {"/infinite_former", "/infinite_former_sticky", "/infinite_former_plain"};
  for (int variant = 0; variant < 3; ++variant) {
    const std::string name = dir + variants[variant];
    InfiniteFormer model(infinite_former_config(variant), 31 + static_cast<uint64_t>(variant));
    io::save_model(model, name + ".model.safetensors");
    io::SafetensorsWriter in;
    for (size_t t = 0; t < 6; ++t) {
      in.add(key("tokens", t), random_tokens(batch, L, 11, 40 + t));
      auto targets = random_tokens(batch, L, 11, 60 + t);
      if (t == 3) targets[5] = -100;  // an ignored target
      in.add(key("targets", t), targets);
    }
    in.add("padding.1", flags(Shape{batch, L}, {7}));       // row 1, last token: masked, written as zero
    in.add("padding.4", flags(Shape{batch, L}, {0, 1, 2, 3}));  // row 0 all padding: its write is skipped
    in.add("reset.3", flags(Shape{batch}, {0}));
    in.add("kl_scale", scalar(0.02));
    in.add("state_seed", Tensor<int64_t, Cpu>::from_host(Shape{1}, std::vector<int64_t>{5}));
    in.write(name + ".inputs.safetensors");
    run_file(name + ".model.safetensors", name + ".inputs.safetensors", name + ".outputs.safetensors");
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "reference" && argc == 3) {
      reference(argv[2]);
      return 0;
    }
    if (mode == "run" && argc == 5) {
      run_file(argv[2], argv[3], argv[4]);
      return 0;
    }
    std::fprintf(stderr, "usage: %s reference DIR | run MODEL INPUTS OUT\n", argv[0]);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "twin_reference: %s\n", e.what());
    return 1;
  }
}
