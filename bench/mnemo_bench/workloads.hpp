// bench/mnemo_bench/workloads.hpp — mnemo-bench's cases as workloads: for one point of a sweep,
// build the layer or model at the point's shape, element type T and backend B, and hand the
// runner (run_point.hpp) one call to time, its FLOPs (mnemo/bench/flops.hpp), its tokens and the
// state a stream keeps. Written once for every backend: cases.cpp instantiates it on the CPU,
// cases_cuda.cu on CUDA. Inputs are made on the host and copied to B; token ids stay on the host
// (the models take host segments on every backend).
//
// Include after the model headers of the backend (mnemo/mnemo.hpp; mnemo/cuda.cuh for CUDA).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mnemo/bench/flops.hpp"
#include "mnemo_bench/options.hpp"

namespace mnemo::bench_cli {

/// One case at one point, ready to time.
struct Workload {
  std::function<void()> body;          // one call; the state it advances is captured
  double flops = 0, tokens = 0;        // per call
  std::function<double()> state_bytes_per_stream;  // read after the timed calls; empty: none
  int prepare_calls = 0;               // untimed calls the case needs first (steady state)
};

namespace workloads {

inline Tensor<int32_t, Cpu> random_ids(int64_t batch, int64_t length, int64_t vocab, uint64_t seed) {
  Tensor<int32_t, Cpu> t(Shape{batch, length});
  const RngKey key{seed, 0x1d5};
  for (int64_t i = 0; i < t.numel(); ++i)
    t[i] = static_cast<int32_t>(key.bits(static_cast<uint64_t>(i)) % static_cast<uint32_t>(vocab));
  return t;
}

/// Standard normal values (rounded through float), made on the host and copied to B.
template <class T, class B>
Tensor<T, B> random_tensor(const Shape& shape, uint64_t seed) {
  std::vector<T> host(static_cast<size_t>(shape.numel()));
  const RngKey key{seed, 0xbe7c};
  for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<T>(static_cast<float>(key.normal(i)));
  return Tensor<T, B>::from_host(shape, host);
}

template <class T, class B>
Workload attention(const Point& p) {
  const int64_t batch = p.integer("batch"), len = p.integer("len"), d = p.integer("d"), heads = p.integer("heads");
  const bool cross = p.str("kind") == "cross", train = p.str("pass") == "train";
  const int64_t keys = cross ? p.integer("keys") : len;
  require<ConfigError>(d % heads == 0, "attention: --d ", d, " is not divisible by --heads ", heads,
                       " (expected d % heads == 0)");
  struct S {
    nn::ParameterStore<T, B> store{1};
    std::unique_ptr<nn::MultiHeadAttention<T, B>> attention;
    autograd::Var<T, B> xq, xkv;
    Tensor<T, B> dy;
    nn::AttentionMask<B> mask;
    autograd::Tape tape;
  };
  auto s = std::make_shared<S>();
  s->attention = std::make_unique<nn::MultiHeadAttention<T, B>>(s->store, "attn", d, heads);
  s->xq = autograd::Var<T, B>::leaf(random_tensor<T, B>(Shape{batch, len, d}, 2));
  s->xkv = cross ? autograd::Var<T, B>::leaf(random_tensor<T, B>(Shape{batch, keys, d}, 3)) : s->xq;
  s->dy = random_tensor<T, B>(Shape{batch, len, d}, 4);
  s->mask.causal = p.flag("causal");
  // Causal cross-attention: the queries are the last `len` positions of the `keys` context.
  s->mask.query_offset = cross && keys > len ? keys - len : 0;
  Workload w;
  if (train) {
    w.body = [s] {
      const size_t mark = s->tape.mark();
      autograd::Var<T, B> y;
      {
        autograd::Recording recording(s->tape);
        y = (*s->attention)(s->xq, s->xkv, s->mask);
      }
      s->tape.seed(y, s->dy);
      s->tape.backward(mark);
      s->tape.rewind(mark);
    };
  } else {
    w.body = [s] {
      autograd::NoGrad off;
      Tensor<T, B> y = s->attention->forward(s->xq.value(), s->xkv.value(), s->mask, nullptr);
      (void)y;
    };
  }
  w.flops = (train ? bench::kTrainingFactor : 1.0) * bench::attention_flops(batch, len, keys, d);
  w.tokens = static_cast<double>(batch * len);
  return w;
}

inline models::MemformerConfig memformer_config(const Point& p) {
  models::MemformerConfig c;
  c.d_model = p.integer("d");
  c.heads = p.integer("heads");
  c.d_ff = p.integer("ff");
  c.slots = p.integer("slots");
  c.segment_length = p.integer("segment");
  c.encoder_layers = p.integer("encoder-layers");
  c.decoder_layers = p.integer("decoder-layers");
  c.vocab = p.integer("vocab");
  c.bos_id = 0;
  c.validate();
  return c;
}

/// memformer-step ("step"), memformer-read ("read") or memformer-generate ("generate").
template <class T, class B>
Workload memformer_stream(const Point& p, const std::string& mode) {
  using Model = models::Memformer<T, B>;
  struct S {
    std::unique_ptr<Model> model;
    typename Model::State state;
    typename Model::StepOutput out;
    std::vector<train::Segment> segments;
    size_t i = 0;
  };
  const auto cfg = memformer_config(p);
  const int64_t batch = p.integer("batch");
  auto s = std::make_shared<S>();
  s->model = std::make_unique<Model>(cfg, 1);
  s->state = s->model->initial_state(batch);
  for (uint64_t k = 0; k < 4; ++k)
    s->segments.push_back(train::Segment{random_ids(batch, cfg.segment_length, cfg.vocab, 100 + k), {}});
  Workload w;
  w.tokens = static_cast<double>(batch * cfg.segment_length);
  w.state_bytes_per_stream = [s, batch] { return static_cast<double>(s->state.bytes()) / static_cast<double>(batch); };
  if (mode == "step") {
    w.body = [s] {
      const auto& seg = s->segments;
      s->state = s->model->step(s->state, seg[s->i % 4], &seg[(s->i + 1) % 4]).next;
      ++s->i;
    };
    w.flops = bench::memformer_step_flops(cfg, batch, true);
  } else if (mode == "read") {
    w.body = [s] { s->state = s->model->step(s->state, s->segments[s->i++ % 4]).next; };
    w.flops = bench::memformer_step_flops(cfg, batch, false);
  } else {
    s->out = s->model->step(s->state, s->segments[0]);
    w.body = [s] {
      const auto next = s->model->generate(s->out);
      s->out = s->model->step(s->out.next, next);
    };
    w.flops = bench::memformer_generate_flops(cfg, batch);
  }
  return w;
}

template <class T, class B>
Workload rollout(const Point& p) {
  using Model = models::Memformer<T, B>;
  const auto cfg = memformer_config(p);
  const int64_t batch = p.integer("batch"), steps = p.integer("rollout");
  struct S {
    std::unique_ptr<Model> model;
    std::vector<train::Segment> segments;
    std::function<train::RolloutResult(typename Model::State&)> run;
  };
  auto s = std::make_shared<S>();
  s->model = std::make_unique<Model>(cfg, 1);
  for (int64_t t = 0; t <= steps; ++t)
    s->segments.push_back(train::Segment{random_ids(batch, cfg.segment_length, cfg.vocab, static_cast<uint64_t>(t)), {}});
  if (p.str("method") == "mrbp") {
    auto trainer = std::make_shared<train::Mrbp<T, B>>(*s->model);
    s->run = [s_raw = s.get(), trainer](typename Model::State& m) { return trainer->rollout(s_raw->segments, {}, m); };
  } else {
    auto trainer = std::make_shared<train::Bptt<T, B>>(*s->model);
    s->run = [s_raw = s.get(), trainer](typename Model::State& m) { return trainer->rollout(s_raw->segments, {}, m); };
  }
  Workload w;
  w.body = [s, batch] {
    auto memory = s->model->initial_state(batch);
    s->model->parameters().zero_grad();
    (void)s->run(memory);
  };
  w.flops = bench::memformer_rollout_flops(cfg, batch, steps);
  w.tokens = static_cast<double>(batch * cfg.segment_length * steps);
  // M_t, what a stream carries from one rollout to the next: K·d values.
  w.state_bytes_per_stream = [bytes = static_cast<double>(cfg.slots * cfg.d_model * static_cast<int64_t>(sizeof(T)))] {
    return bytes;
  };
  return w;
}

inline memory::ContinuousMemoryConfig ltm_config(const Point& p, int64_t segment) {
  auto c = memory::ContinuousMemoryConfig::lm();
  c.basis.count = p.integer("basis");
  c.samples = p.integer("samples");
  c.segment_length = segment;
  return c;
}

template <class T, class B>
Workload infinite_step(const Point& p) {
  using Model = models::InfiniteFormer<T, B>;
  models::InfiniteFormerConfig c;
  c.d_model = p.integer("d");
  c.heads = p.integer("heads");
  c.d_ff = p.integer("ff");
  c.layers = p.integer("layers");
  c.segment_length = p.integer("segment");
  c.stm_segments = p.integer("stm-segments");
  c.vocab = p.integer("vocab");
  c.dropout = 0;
  c.ltm = ltm_config(p, c.segment_length);
  c.validate();
  const int64_t batch = p.integer("batch");
  struct S {
    std::unique_ptr<Model> model;
    typename Model::State state;
    std::vector<Tensor<int32_t, Cpu>> segments;
    size_t i = 0;
  };
  auto s = std::make_shared<S>();
  s->model = std::make_unique<Model>(c, 1);
  s->state = s->model->initial_state(batch);
  for (uint64_t k = 0; k < 4; ++k) s->segments.push_back(random_ids(batch, c.segment_length, c.vocab, 200 + k));
  Workload w;
  w.body = [s] {
    autograd::NoGrad off;
    const auto out = s->model->step(s->segments[s->i++ % 4], nullptr, s->state);
    (void)out;
  };
  // Fill the short-term window and write the LTM before timing (steady state).
  w.prepare_calls = static_cast<int>(c.stm_segments) + 2;
  w.flops = bench::infinite_former_step_flops(c, batch);
  w.tokens = static_cast<double>(batch * c.segment_length);
  // LTM coefficients + short-term cache of every layer, in steady state.
  w.state_bytes_per_stream = [s, batch] {
    return static_cast<double>(s->state.numel()) * sizeof(T) / static_cast<double>(batch);
  };
  return w;
}

template <class T, class B>
Workload ltm(const Point& p) {
  const int64_t batch = p.integer("batch"), d = p.integer("d"), heads = p.integer("heads"),
                segment = p.integer("segment"), queries = p.integer("queries");
  require<ConfigError>(d % heads == 0, "ltm: --d ", d, " is not divisible by --heads ", heads, " (expected d % heads == 0)");
  const auto cfg = ltm_config(p, segment);
  struct S {
    nn::ParameterStore<T, B> store{1};
    std::unique_ptr<memory::ContinuousMemory<T, B>> memory;
    memory::ContinuousState<T, B> state;
    Tensor<T, B> x, q;
  };
  auto s = std::make_shared<S>();
  s->memory = std::make_unique<memory::ContinuousMemory<T, B>>(s->store, "ltm", d, heads, cfg);
  s->state = s->memory->initial_state(batch);
  s->x = random_tensor<T, B>(Shape{batch, segment, d}, 5);
  s->q = random_tensor<T, B>(Shape{batch, heads, queries, d / heads}, 6);
  Workload w;
  w.body = [s] {
    autograd::NoGrad off;
    const auto coefficients = s->memory->write_forward(s->x, nullptr, s->state, nullptr);
    double kl = 0;
    const auto z = s->memory->read_forward(coefficients, s->q, s->state, nullptr, &kl);
    (void)z;
  };
  w.prepare_calls = 2;  // the first write fills an empty memory; later ones contract (steady state)
  w.flops = bench::ltm_read_update_flops(batch, segment, queries, d, cfg.basis.count, cfg.samples);
  w.tokens = static_cast<double>(batch * segment);
  w.state_bytes_per_stream = [s, batch] {
    return static_cast<double>(s->state.numel()) * sizeof(T) / static_cast<double>(batch);
  };
  return w;
}

}  // namespace workloads

/// The workload of case `name` at point `p`, in T on B.
template <class T, class B>
Workload make_workload(const std::string& name, const Point& p) {
  if (name == "attention") return workloads::attention<T, B>(p);
  if (name == "memformer-step") return workloads::memformer_stream<T, B>(p, "step");
  if (name == "memformer-read") return workloads::memformer_stream<T, B>(p, "read");
  if (name == "memformer-generate") return workloads::memformer_stream<T, B>(p, "generate");
  if (name == "rollout") return workloads::rollout<T, B>(p);
  if (name == "infinite-step") return workloads::infinite_step<T, B>(p);
  if (name == "ltm") return workloads::ltm<T, B>(p);
  throw UsageError(mnemo::detail::cat("unknown case '", name, "', expected one of: ", case_names()));
}

}  // namespace mnemo::bench_cli
