// bench/mnemo_bench/cases.cpp — mnemo-bench's cases: for each point of a sweep, build the layer
// or model at the point's shape and element type, time its call (mnemo/bench/repeat_timer.hpp),
// and fill a CaseResult with the FLOPs (mnemo/bench/flops.hpp), the arena peak
// (mnemo/bench/arena_peak.hpp) and the GEMM ceiling of the same run (mnemo/bench/gemm_ceiling.hpp).
#include "mnemo_bench/cases.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include <unistd.h>

#include "mnemo/bench/arena_peak.hpp"
#include "mnemo/bench/flops.hpp"
#include "mnemo/bench/gemm_ceiling.hpp"
#include "mnemo/bench/repeat_timer.hpp"
#include "mnemo/mnemo.hpp"

namespace mnemo::bench_cli {

namespace {

// ---- element types -------------------------------------------------------------------------
template <class... Ts>
struct DtypeList {};

// The CPU element types this build runs, named by Precision<T>::name ("float32", "float64",
// "bfloat16", ...: the canonical words of --dtype in options.hpp). A new CPU element type is one
// more entry here, e.g. `DtypeList<float, double, bf16>` once a CPU bfloat16 exists.
using BuiltDtypes = DtypeList<float, double>;

template <class... Ts>
std::string built_names(DtypeList<Ts...>) {
  std::string out;
  ((out += (out.empty() ? "" : ", ") + std::string(Precision<Ts>::name)), ...);
  return out;
}

template <class T, class... Ts>
bool is_built(const std::string& name, DtypeList<T, Ts...>) {
  if (name == Precision<T>::name) return true;
  if constexpr (sizeof...(Ts) > 0) return is_built(name, DtypeList<Ts...>{});
  return false;
}

/// sizeof the built type named `name` (0 if none is).
template <class T, class... Ts>
size_t element_bytes(const std::string& name, DtypeList<T, Ts...>) {
  if (name == Precision<T>::name) return sizeof(T);
  if constexpr (sizeof...(Ts) > 0) return element_bytes(name, DtypeList<Ts...>{});
  return 0;
}

/// Calls f(T{}) for the built type named `name` (check_supported() ran before).
template <class F, class T, class... Ts>
CaseResult with_dtype(const std::string& name, F&& f, DtypeList<T, Ts...>) {
  if (name == Precision<T>::name) return f(T{});
  if constexpr (sizeof...(Ts) > 0) return with_dtype(name, std::forward<F>(f), DtypeList<Ts...>{});
  throw UsageError(mnemo::detail::cat("--dtype: ", name, " is not built"));
}

// ---- what a case hands the runner ------------------------------------------------------------
struct Workload {
  std::function<void()> body;          // one call; the state it advances is captured
  double flops = 0, tokens = 0;        // per call
  std::function<double()> state_bytes_per_stream;  // read after the timed calls; empty: none
  int prepare_calls = 0;               // untimed calls the case needs first (steady state)
};

Tensor<int32_t, Cpu> random_ids(int64_t batch, int64_t length, int64_t vocab, uint64_t seed) {
  Tensor<int32_t, Cpu> t(Shape{batch, length});
  const RngKey key{seed, 0x1d5};
  for (int64_t i = 0; i < t.numel(); ++i)
    t[i] = static_cast<int32_t>(key.bits(static_cast<uint64_t>(i)) % static_cast<uint32_t>(vocab));
  return t;
}

template <class T>
Tensor<T, Cpu> random_tensor(const Shape& shape, uint64_t seed) {
  Tensor<T, Cpu> t(shape);
  const RngKey key{seed, 0xbe7c};
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<T>(key.normal(static_cast<uint64_t>(i)));
  return t;
}

template <class T>
Workload attention(const Point& p) {
  const int64_t batch = p.integer("batch"), len = p.integer("len"), d = p.integer("d"), heads = p.integer("heads");
  const bool cross = p.str("kind") == "cross", train = p.str("pass") == "train";
  const int64_t keys = cross ? p.integer("keys") : len;
  require<ConfigError>(d % heads == 0, "attention: --d ", d, " is not divisible by --heads ", heads,
                       " (expected d % heads == 0)");
  struct S {
    nn::ParameterStore<T, Cpu> store{1};
    std::unique_ptr<nn::MultiHeadAttention<T, Cpu>> attention;
    autograd::Var<T, Cpu> xq, xkv;
    Tensor<T, Cpu> dy;
    nn::AttentionMask<Cpu> mask;
    autograd::Tape tape;
  };
  auto s = std::make_shared<S>();
  s->attention = std::make_unique<nn::MultiHeadAttention<T, Cpu>>(s->store, "attn", d, heads);
  s->xq = autograd::Var<T, Cpu>::leaf(random_tensor<T>(Shape{batch, len, d}, 2));
  s->xkv = cross ? autograd::Var<T, Cpu>::leaf(random_tensor<T>(Shape{batch, keys, d}, 3)) : s->xq;
  s->dy = random_tensor<T>(Shape{batch, len, d}, 4);
  s->mask.causal = p.flag("causal");
  // Causal cross-attention: the queries are the last `len` positions of the `keys` context.
  s->mask.query_offset = cross && keys > len ? keys - len : 0;
  Workload w;
  if (train) {
    w.body = [s] {
      const size_t mark = s->tape.mark();
      autograd::Var<T, Cpu> y;
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
      Tensor<T, Cpu> y = s->attention->forward(s->xq.value(), s->xkv.value(), s->mask, nullptr);
      (void)y;
    };
  }
  w.flops = (train ? bench::kTrainingFactor : 1.0) * bench::attention_flops(batch, len, keys, d);
  w.tokens = static_cast<double>(batch * len);
  return w;
}

models::MemformerConfig memformer_config(const Point& p) {
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

template <class T>
Workload memformer_stream(const Point& p, const std::string& mode) {
  using Model = models::Memformer<T, Cpu>;
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

template <class T>
Workload rollout(const Point& p) {
  using Model = models::Memformer<T, Cpu>;
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
    auto trainer = std::make_shared<train::Mrbp<T, Cpu>>(*s->model);
    s->run = [s_raw = s.get(), trainer](typename Model::State& m) { return trainer->rollout(s_raw->segments, {}, m); };
  } else {
    auto trainer = std::make_shared<train::Bptt<T, Cpu>>(*s->model);
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

memory::ContinuousMemoryConfig ltm_config(const Point& p, int64_t segment) {
  auto c = memory::ContinuousMemoryConfig::lm();
  c.basis.count = p.integer("basis");
  c.samples = p.integer("samples");
  c.segment_length = segment;
  return c;
}

template <class T>
Workload infinite_step(const Point& p) {
  using Model = models::InfiniteFormer<T, Cpu>;
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

template <class T>
Workload ltm(const Point& p) {
  const int64_t batch = p.integer("batch"), d = p.integer("d"), heads = p.integer("heads"),
                segment = p.integer("segment"), queries = p.integer("queries");
  require<ConfigError>(d % heads == 0, "ltm: --d ", d, " is not divisible by --heads ", heads, " (expected d % heads == 0)");
  const auto cfg = ltm_config(p, segment);
  struct S {
    nn::ParameterStore<T, Cpu> store{1};
    std::unique_ptr<memory::ContinuousMemory<T, Cpu>> memory;
    memory::ContinuousState<T, Cpu> state;
    Tensor<T, Cpu> x, q;
  };
  auto s = std::make_shared<S>();
  s->memory = std::make_unique<memory::ContinuousMemory<T, Cpu>>(s->store, "ltm", d, heads, cfg);
  s->state = s->memory->initial_state(batch);
  s->x = random_tensor<T>(Shape{batch, segment, d}, 5);
  s->q = random_tensor<T>(Shape{batch, heads, queries, d / heads}, 6);
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

template <class T>
Workload make_workload(const std::string& name, const Point& p) {
  if (name == "attention") return attention<T>(p);
  if (name == "memformer-step") return memformer_stream<T>(p, "step");
  if (name == "memformer-read") return memformer_stream<T>(p, "read");
  if (name == "memformer-generate") return memformer_stream<T>(p, "generate");
  if (name == "rollout") return rollout<T>(p);
  if (name == "infinite-step") return infinite_step<T>(p);
  if (name == "ltm") return ltm<T>(p);
  throw UsageError(mnemo::detail::cat("unknown case '", name, "', expected one of: ", case_names()));
}

/// A rough lower bound of the bytes a case holds at once (parameters, state, one step's
/// activations; BPTT keeps every step's), from its dominant terms, so that a typo such as
/// `--slots 16777216` is refused with a message instead of swapping the machine.
double estimated_bytes(const std::string& name, const Point& p, double element_bytes) {
  const auto get = [&](const char* n) {
    for (const auto& [k, v] : p.values)
      if (k == n) return static_cast<double>(std::stoll(v));
    return 0.0;
  };
  const double B = get("batch"), d = get("d"), h = get("heads"), ff = get("ff"), V = get("vocab");
  double elements = 0;
  if (name == "attention") {
    const double L = get("len"), K = p.str("kind") == "cross" ? get("keys") : L;
    elements = 4 * d * d + B * (L + K) * d * 6 + B * h * L * K * (p.str("pass") == "train" ? 2 : 1);
  } else if (name == "ltm") {
    const double L = get("segment"), Q = get("queries"), N = get("basis"), M = get("samples");
    elements = 6 * d * d + B * N * d + B * L * 3 * d + B * h * Q * N + N * N + (M + L) * N;
  } else if (name == "infinite-step") {
    const double L = get("segment"), N = get("basis"), M = get("samples"), S = get("stm-segments"), layers = get("layers");
    elements = layers * (10 * d * d + 2 * d * ff) + V * d + B * layers * (N * d + S * L * d) +
               B * L * (ff + 6 * d) + B * h * L * ((S + 1) * L + N) + N * N + (M + L) * N + B * L * V;
  } else {  // the Memformer cases
    const double L = get("segment"), K = get("slots"), layers = get("encoder-layers") + get("decoder-layers");
    const double step = layers * (B * L * (ff + 8 * d) + B * h * L * (L + K)) + B * L * V;
    const double steps = name == "rollout" && p.str("method") == "bptt" ? get("rollout") + 1 : 1;
    elements = layers * (8 * d * d + 2 * d * ff) + V * d + B * K * d * (name == "rollout" ? get("rollout") + 1 : 1) +
               steps * step;
  }
  return elements * element_bytes;
}

/// Throws UsageError when estimated_bytes() exceeds the machine's physical memory.
void check_fits(const std::string& name, const Point& p, double element_bytes) {
  const double need = estimated_bytes(name, p, element_bytes);
  const double have = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGESIZE));
  if (have > 0 && need > have)
    throw UsageError(mnemo::detail::cat(name, ": this shape needs at least about ", need / (1 << 30), " GiB, expected it to fit in this machine's ",
                                        have / (1 << 30), " GiB of memory (a typo in a size?)"));
}

/// CPU time of the whole process (every thread), in seconds.
double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

/// The GEMM ceiling per (dtype, threads), measured once per run.
std::map<std::pair<std::string, int>, double>& ceilings() {
  static std::map<std::pair<std::string, int>, double> c;
  return c;
}

template <class T>
CaseResult run_point(const Invocation& inv, const Point& p, size_t index, size_t total) {
  const RunSettings& settings = inv.settings;
  const int threads = static_cast<int>(p.integer("threads"));
  cpu::set_num_threads(threads > 0 ? threads : cpu::detail::default_thread_count());
  CaseResult r;
  r.case_name = inv.case_name;
  r.params = p.values;
  r.flags.assign(p.flags.begin(), p.flags.end());
  r.threads = cpu::num_threads();
  std::string label;
  for (const auto& [n, v] : p.values) label += " " + n + "=" + v;
  if (settings.progress) std::fprintf(stderr, "[%zu/%zu] %s%s\n", index + 1, total, inv.case_name.c_str(), label.c_str());

  if (settings.gemm_n > 0) {
    auto& c = ceilings()[{p.str("dtype"), r.threads}];
    if (c == 0) c = bench::measure_gemm_ceiling<T>(settings.gemm_n, settings.repetitions).gflops;
    r.gemm_ceiling_gflops = c;
    r.gemm_ceiling_n = settings.gemm_n;
  }

  Arena& arena = BackendTraits<Cpu>::default_context().arena();
  Workload w = make_workload<T>(inv.case_name, p);
  for (int i = 0; i < w.prepare_calls; ++i) w.body();
  for (int i = 0; i < settings.warmup; ++i) w.body();
  bench::ArenaPeak peak(arena);
  bench::RepeatOptions options;
  options.warmup = 0;
  options.repetitions = settings.repetitions;
  options.min_seconds = settings.min_time;
  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  auto last_line = started;
  if (settings.progress)
    options.on_repetition = [&](int rep, double seconds) {
      // A line per repetition once the case has run for more than 2 s, at most one a second.
      const auto now = Clock::now();
      if (std::chrono::duration<double>(now - started).count() > 2.0 &&
          std::chrono::duration<double>(now - last_line).count() > 1.0) {
        std::fprintf(stderr, "      repetition %d/%d: %.4g s per call\n", rep + 1, settings.repetitions, seconds);
        last_line = now;
      }
    };
  const double cpu_start = process_cpu_seconds();
  const auto times = bench::time_repetitions(w.body, options);
  r.cpu_seconds_per_call = (process_cpu_seconds() - cpu_start) / static_cast<double>(times.calls_made);
  r.seconds = times.seconds_per_call;
  r.stats = bench::summarize(r.seconds);
  r.calls_per_repetition = times.calls_per_repetition;
  r.tokens_per_call = w.tokens;
  r.flops_per_call = w.flops;
  r.peak_bytes = static_cast<double>(peak.peak());
  r.peak_above_start_bytes = static_cast<double>(peak.above_start());
  r.state_bytes_per_stream = w.state_bytes_per_stream ? w.state_bytes_per_stream() : 0.0;
  if (settings.progress)
    std::fprintf(stderr, "      median %.4g ms, spread %.1f%%\n", r.stats.median * 1e3, 100 * r.stats.spread());
  return r;
}

}  // namespace

void check_supported(const Invocation& inv) {
  for (const auto& [name, values] : inv.values) {
    for (const auto& v : values) {
      if (name == "dtype" && !is_built(v, BuiltDtypes{}))
        throw UsageError(mnemo::detail::cat("--dtype ", v, ": this build has no CPU ", v,
                                            " element type, expected one of: ", built_names(BuiltDtypes{})));
      if (name == "backend" && v != "cpu")
        throw UsageError(mnemo::detail::cat("--backend ", v, ": mnemo-bench's cases are not built for ", v,
                                            " in this build (it runs them on the CPU backend only), expected: cpu"));
    }
  }
}

std::vector<CaseResult> run_cases(const Invocation& inv) {
  check_supported(inv);
  for (const Point& p : inv.points())
    check_fits(inv.case_name, p, static_cast<double>(element_bytes(p.str("dtype"), BuiltDtypes{})));
  const auto points = inv.points();
  std::vector<CaseResult> out;
  for (size_t i = 0; i < points.size(); ++i) {
    const Point& p = points[i];
    out.push_back(with_dtype(p.str("dtype"), [&](auto t) { return run_point<decltype(t)>(inv, p, i, points.size()); },
                             BuiltDtypes{}));
  }
  return out;
}

}  // namespace mnemo::bench_cli
