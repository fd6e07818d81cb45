// CPU benchmarks of the Memformer (models::Memformer<float, Cpu>), issue 3 items 5 and 6.
//
// 1. Training memory and time, MRBP against full BPTT (BM_MemformerRollout/<method>/<T>):
//    one rollout of T segment steps at L=128, d=512, h=8, ffn=2048, K=64, 4 encoder + 8 decoder
//    layers, vocab 8192, batch MNEMO_BENCH_ROLLOUT_BATCH (default 2: the B=16 needs about
//    30 GB for BPTT at T=32 and minutes per step on two cores; every activation, the stored
//    memories and so both peaks scale with B, the parameters do not). Counters:
//      peak_above_start_MiB  arena high-water mark minus the bytes in use when the rollout
//                            starts (parameters, gradients, inputs): activations + temporaries
//                            + MRBP's stored memories — the figure the 15× target is judged on;
//      peak_MiB              the absolute high-water mark (parameters and gradients included);
//      memories_MiB          (T+1)·B·K·d floats, what MRBP keeps beyond one step's activations;
//      tokens/s              target tokens per second.
// 2. Streaming inference (B=1, L=64, d=256, h=4, ffn=1024, K=64, 4+4 layers, vocab 256):
//    BM_MemformerStreamStep   one segment step: encoder + writer + teacher-forced decoder logits
//                             (the ≈1.1 GFLOP the issue names; FLOPs counted below); its
//                             mallocs_per_step counter counts heap allocations (malloc and
//                             the like, all threads) per step, its forks_per_step the parallel
//                             loops shared with the pool's workers (one fork and one join each);
//    BM_MemformerStreamRead   encoder + writer only (reading a stream);
//    BM_MemformerStreamGenerate  64 tokens generated with the decoder cache, then encoded;
//    BM_MemformerStreamResident  reads MNEMO_BENCH_STREAM_TOKENS tokens (default 1,000,000)
//                             segment by segment and reports the arena's bytes in use and the
//                             process's resident set after 10k tokens and at the end.
//    BM_MemformerConstruct    builds the streaming model (8.7M parameters initialised).
// 3. BM_MemformerGemmCeiling: a 2048³ float GEMM through BackendTraits<Cpu>::gemm, the rate the
//    streaming GFLOP/s is compared with.
//
// FLOPs per segment step: mnemo::bench::memformer_step_flops (include/mnemo/bench/flops.hpp; 2·m·n·k
// per product, dense; softmax, norms and elementwise not counted):
//   encoder layer: 8BLd² + 4BL²d (self) + 4BLd² + 4BKd² + 4BLKd (reader) + 4BLd·ff (FFN)
//   writer:        4BKd² + 4BLd² + 4BKLd
//   decoder layer: 8BLd² + 4BL²d (self) + 8BLd² + 4BL²d (cross) + 4BLd·ff (FFN);  head: 2BLdV
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "cpu/memformer_stream_shape.hpp"
#include "mnemo/bench/flops.hpp"
#include "mnemo/mnemo.hpp"

// Heap allocations of this process, all threads (mallocs_per_step).
#include "mnemo/bench/heap_allocation_counter.hpp"

namespace {

using namespace mnemo;
using Model = models::Memformer<float, Cpu>;
using Clock = std::chrono::steady_clock;
constexpr double kMiB = 1024.0 * 1024.0;

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  const long long n = v ? std::atoll(v) : 0;
  return n > 0 ? n : fallback;
}

models::MemformerConfig rollout_config() {
  models::MemformerConfig c;
  c.vocab = 8192;
  c.d_model = 512;
  c.heads = 8;
  c.d_ff = 2048;
  c.slots = 64;
  c.encoder_layers = 4;
  c.decoder_layers = 8;
  c.segment_length = 128;
  return c;
}

models::MemformerConfig stream_config() { return bench::memformer_stream_config(); }

train::Segment random_segment(int64_t batch, int64_t L, int64_t vocab, uint64_t seed) {
  train::Segment s{Tensor<int32_t, Cpu>(Shape{batch, L}), {}};
  const RngKey key{seed, 0x5e9};
  for (int64_t i = 0; i < s.tokens.numel(); ++i)
    s.tokens[i] = static_cast<int32_t>(key.bits(static_cast<uint64_t>(i)) % static_cast<uint32_t>(vocab));
  return s;
}

Arena& arena() { return BackendTraits<Cpu>::default_context().arena(); }

/// Resident set size of this process in bytes (Linux /proc/self/statm).
double resident_bytes() {
  std::ifstream f("/proc/self/statm");
  long long pages = 0, resident = 0;
  f >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

// ---- 1. rollouts: MRBP vs BPTT -------------------------------------------------------------
template <template <class, class> class Trainer>
void BM_MemformerRollout(benchmark::State& state) {
  const auto cfg = rollout_config();
  const int64_t T = state.range(0), B = env_int("MNEMO_BENCH_ROLLOUT_BATCH", 2);
  Model model(cfg, 1);
  std::vector<train::Segment> segments;
  for (int64_t t = 0; t <= T; ++t) segments.push_back(random_segment(B, cfg.segment_length, cfg.vocab, static_cast<uint64_t>(t)));
  Trainer<float, Cpu> trainer(model);
  double above = 0, absolute = 0, seconds = 0;
  int64_t tokens = 0;
  for (auto _ : state) {
    auto mem = model.initial_state(B);
    model.parameters().zero_grad();
    const size_t start = arena().stats().bytes_in_use;
    arena().reset_peak();
    const auto t0 = Clock::now();
    const auto r = trainer.rollout(segments, {}, mem);
    seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    const size_t peak = arena().stats().peak_bytes;
    above = static_cast<double>(peak - start);
    absolute = static_cast<double>(peak);
    tokens += r.tokens;
    benchmark::DoNotOptimize(r.loss);
  }
  state.counters["peak_above_start_MiB"] = above / kMiB;
  state.counters["peak_MiB"] = absolute / kMiB;
  state.counters["memories_MiB"] = static_cast<double>((T + 1) * B * cfg.slots * cfg.d_model) * sizeof(float) / kMiB;
  state.counters["batch"] = static_cast<double>(B);
  state.counters["tokens/s"] = static_cast<double>(tokens) / seconds;
  state.counters["threads"] = cpu::num_threads();
}
BENCHMARK_TEMPLATE(BM_MemformerRollout, train::Bptt)
    ->Name("BM_MemformerRollout/BPTT")->Arg(4)->Arg(16)->Arg(32)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_MemformerRollout, train::Mrbp)
    ->Name("BM_MemformerRollout/MRBP")->Arg(4)->Arg(16)->Arg(32)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

// ---- 2. streaming inference ------------------------------------------------------------------
struct Stream {
  models::MemformerConfig cfg = stream_config();
  Model model{cfg, 2};
  Model::State state = model.initial_state(1);
  std::vector<train::Segment> segments;
  Stream() {
    for (uint64_t i = 0; i < 8; ++i) segments.push_back(random_segment(1, cfg.segment_length, cfg.vocab, 100 + i));
  }
};

void report_rate(benchmark::State& state, double flops, double seconds) {
  state.counters["GFLOP/s"] = flops * static_cast<double>(state.iterations()) / seconds * 1e-9;
  state.counters["GFLOP_per_step"] = flops * 1e-9;
  state.counters["threads"] = cpu::num_threads();
}

void BM_MemformerStreamStep(benchmark::State& state) {
  Stream s;
  size_t i = 0;
  s.state = s.model.step(s.state, s.segments[0], &s.segments[1]).next;  // warm-up
  const auto t0 = Clock::now();
  const int64_t allocations0 = bench::heap_allocation_count();
  const uint64_t jobs0 = cpu::parallel_jobs();
  for (auto _ : state) {
    const auto out = s.model.step(s.state, s.segments[i % 8], &s.segments[(i + 1) % 8]);
    s.state = out.next;
    ++i;
    benchmark::DoNotOptimize(out.logits.data());
  }
  const int64_t allocations = bench::heap_allocation_count() - allocations0;
  report_rate(state, bench::memformer_step_flops(s.cfg, 1, true), std::chrono::duration<double>(Clock::now() - t0).count());
  // malloc/calloc/realloc calls per step, all threads (0 where not counted: sanitizer builds).
  state.counters["mallocs_per_step"] = static_cast<double>(allocations) / static_cast<double>(state.iterations());
  // Parallel loops shared with the pool's workers per step (each one fork and one join).
  state.counters["forks_per_step"] =
      static_cast<double>(cpu::parallel_jobs() - jobs0) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_MemformerStreamStep)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

// Building the streaming model: 8.7M parameters drawn from N(0, 0.02²) (Philox + Box–Muller per
// value, nn/parameter_store.hpp), gradients zeroed; what a user waits for before the first step.
void BM_MemformerConstruct(benchmark::State& state) {
  const models::MemformerConfig cfg = stream_config();
  int64_t parameters = 0;
  const auto t0 = Clock::now();
  for (auto _ : state) {
    Model model(cfg, 2);
    parameters = model.parameters().numel();
    benchmark::DoNotOptimize(model.parameters()[0].value.data());
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  state.counters["parameters"] = static_cast<double>(parameters);
  state.counters["ns_per_parameter"] = seconds * 1e9 / static_cast<double>(state.iterations() * parameters);
  state.counters["threads"] = cpu::num_threads();
}
BENCHMARK(BM_MemformerConstruct)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

void BM_MemformerStreamRead(benchmark::State& state) {
  Stream s;
  size_t i = 0;
  s.state = s.model.step(s.state, s.segments[0]).next;
  const auto t0 = Clock::now();
  for (auto _ : state) s.state = s.model.step(s.state, s.segments[i++ % 8]).next;
  report_rate(state, bench::memformer_step_flops(s.cfg, 1, false), std::chrono::duration<double>(Clock::now() - t0).count());
}
BENCHMARK(BM_MemformerStreamRead)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

void BM_MemformerStreamGenerate(benchmark::State& state) {
  Stream s;
  auto out = s.model.step(s.state, s.segments[0]);
  for (auto _ : state) {
    const auto next = s.model.generate(out);
    out = s.model.step(out.next, next);
  }
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(state.iterations() * s.cfg.segment_length),
                                                  benchmark::Counter::kIsRate);
  state.counters["threads"] = cpu::num_threads();
}
BENCHMARK(BM_MemformerStreamGenerate)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

void BM_MemformerStreamResident(benchmark::State& state) {
  Stream s;
  const int64_t total = env_int("MNEMO_BENCH_STREAM_TOKENS", 1000000), L = s.cfg.segment_length;
  const int64_t early = 10000;
  for (auto _ : state) {
    double in_use_early = 0, rss_early = 0, state_early = 0;
    int64_t read = 0;
    for (size_t i = 0; read < total; ++i) {
      s.state = s.model.step(s.state, s.segments[i % 8]).next;
      read += L;
      if (read >= early && in_use_early == 0) {
        in_use_early = static_cast<double>(arena().stats().bytes_in_use);
        rss_early = resident_bytes();
        state_early = static_cast<double>(s.state.bytes());
      }
    }
    state.counters["tokens"] = static_cast<double>(read);
    state.counters["arena_in_use_10k_KiB"] = in_use_early / 1024.0;
    state.counters["arena_in_use_end_KiB"] = static_cast<double>(arena().stats().bytes_in_use) / 1024.0;
    state.counters["rss_10k_MiB"] = rss_early / kMiB;
    state.counters["rss_end_MiB"] = resident_bytes() / kMiB;
    state.counters["state_10k_KiB"] = state_early / 1024.0;
    state.counters["state_end_KiB"] = static_cast<double>(s.state.bytes()) / 1024.0;
  }
}
BENCHMARK(BM_MemformerStreamResident)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

// ---- 3. the machine's GEMM ceiling -----------------------------------------------------------
void BM_MemformerGemmCeiling(benchmark::State& state) {
  const int64_t n = 2048;
  Tensor<float, Cpu> a(Shape{n, n}), b(Shape{n, n}), c(Shape{n, n});
  a.fill(0.5f);
  b.fill(0.25f);
  auto& ctx = BackendTraits<Cpu>::default_context();
  const auto t0 = Clock::now();
  for (auto _ : state)
    BackendTraits<Cpu>::gemm<float>(ctx, Trans::N, Trans::N, n, n, n, 1.0f, a.data(), n, 0, b.data(), n, 0, 0.0f,
                                    c.data(), n, 0, 1);
  report_rate(state, bench::gemm_flops(n, n, n), std::chrono::duration<double>(Clock::now() - t0).count());
}
BENCHMARK(BM_MemformerGemmCeiling)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

}  // namespace
