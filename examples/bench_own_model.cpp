// examples/bench_own_model.cpp — benchmark a model you composed from mnemo's layers with Google
// Benchmark, reporting the columns mnemo-bench reports (docs/benchmarking.md): median and spread
// over repetitions (Google Benchmark's aggregates), tokens/s, GFLOP/s and its fraction of a GEMM
// ceiling measured in the same run, the peak working memory (arena high-water mark) and the
// state a stream keeps.
//
// The model: a streaming block with a slot memory of its own —
//   h = x + SelfAttn(LN(x), causal);  h = h + Read(LN(h), M);  y = h + FFN(LN(h))
//   M' = LN(M + Write(M, y))                           (K slots attend to the segment's outputs)
// built from nn::LayerNorm, nn::MultiHeadAttention and nn::FeedForward; M is the stream's state.
//
//   build/examples/bench_own_model --benchmark_repetitions=5 --benchmark_report_aggregates_only
#include <benchmark/benchmark.h>

#include <chrono>

#include <mnemo/bench/arena_peak.hpp>
#include <mnemo/bench/flops.hpp>
#include <mnemo/bench/gemm_ceiling.hpp>
#include <mnemo/mnemo.hpp>

using namespace mnemo;
using Var = autograd::Var<float, Cpu>;

namespace {

struct Shape3 {
  int64_t batch, length, d_model, heads, d_ff, slots;
};

class StreamingBlock {
 public:
  StreamingBlock(nn::ParameterStore<float, Cpu>& store, const Shape3& s)
      : ctx_(&store.context()),
        ln_self_(store, "ln_self", s.d_model),
        self_(store, "self", s.d_model, s.heads),
        ln_read_(store, "ln_read", s.d_model),
        read_(store, "read", s.d_model, s.heads),
        ln_ffn_(store, "ln_ffn", s.d_model),
        ffn_(store, "ffn", s.d_model, s.d_ff),
        write_(store, "write", s.d_model, s.heads),
        ln_memory_(store, "ln_memory", s.d_model) {
    causal_.causal = true;
  }

  /// x [batch, L, d], memory [batch, K, d] → y [batch, L, d]; memory advances.
  Var step(const Var& x, Var& memory) const {
    const Var a = ln_self_(x);
    Var h = autograd::add(*ctx_, x, self_(a, a, causal_));
    h = autograd::add(*ctx_, h, read_(ln_read_(h), memory));
    const Var y = autograd::add(*ctx_, h, ffn_(ln_ffn_(h)));
    memory = ln_memory_(autograd::add(*ctx_, memory, write_(memory, y)));
    return y;
  }

  /// The same count rule as mnemo-bench: each layer's formula from mnemo/bench/flops.hpp.
  static double flops(const Shape3& s) {
    const double b = static_cast<double>(s.batch);
    return bench::attention_flops(s.batch, s.length, s.length, s.d_model) +  // self-attention
           bench::attention_flops(s.batch, s.length, s.slots, s.d_model) +   // read: L queries, K slots
           b * bench::feed_forward_flops(s.length, s.d_model, s.d_ff) +      // FFN
           bench::attention_flops(s.batch, s.slots, s.length, s.d_model);    // write: K queries, L keys
  }

 private:
  Context<Cpu>* ctx_;
  nn::AttentionMask<Cpu> causal_;
  nn::LayerNorm<float, Cpu> ln_self_;
  nn::MultiHeadAttention<float, Cpu> self_;
  nn::LayerNorm<float, Cpu> ln_read_;
  nn::MultiHeadAttention<float, Cpu> read_;
  nn::LayerNorm<float, Cpu> ln_ffn_;
  nn::FeedForward<float, Cpu> ffn_;
  nn::MultiHeadAttention<float, Cpu> write_;
  nn::LayerNorm<float, Cpu> ln_memory_;
};

Tensor<float, Cpu> normal(const Shape& shape, uint64_t seed) {
  Tensor<float, Cpu> t(shape);
  const RngKey key{seed, 0xe8};
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(key.normal(static_cast<uint64_t>(i)));
  return t;
}

/// The GEMM ceiling of this process, measured once (1024³ float, 5 products).
double ceiling_gflops() {
  static const double g = bench::measure_gemm_ceiling<float>(1024, 5).gflops;
  return g;
}

void BM_GemmCeiling(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(ceiling_gflops());
  state.counters["GFLOP/s"] = ceiling_gflops();
}
BENCHMARK(BM_GemmCeiling)->Iterations(1);

void BM_StreamingBlock(benchmark::State& state) {
  const Shape3 s{1, state.range(0), state.range(1), 4, 4 * state.range(1), state.range(2)};
  nn::ParameterStore<float, Cpu> store(1);
  const StreamingBlock block(store, s);
  autograd::NoGrad inference;
  const Var x = Var::leaf(normal(Shape{s.batch, s.length, s.d_model}, 2));
  Var memory = Var::leaf(normal(Shape{s.batch, s.slots, s.d_model}, 3));
  benchmark::DoNotOptimize(block.step(x, memory).value().data());  // warm-up: fills the arena's cache

  Arena& arena = BackendTraits<Cpu>::default_context().arena();
  bench::ArenaPeak peak(arena);
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) benchmark::DoNotOptimize(block.step(x, memory).value().data());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const double flops = StreamingBlock::flops(s), tokens = static_cast<double>(s.batch * s.length);
  const double gflops = flops * static_cast<double>(state.iterations()) / seconds * 1e-9;
  state.counters["tokens/s"] = benchmark::Counter(tokens, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] = gflops;
  state.counters["%ceiling"] = 100.0 * gflops / ceiling_gflops();
  state.counters["peak_MiB"] = static_cast<double>(peak.peak()) / (1024.0 * 1024.0);
  state.counters["work_MiB"] = static_cast<double>(peak.above_start()) / (1024.0 * 1024.0);
  state.counters["state_KiB/stream"] = static_cast<double>(memory.value().bytes()) / 1024.0 / static_cast<double>(s.batch);
}
// Arguments: {segment length L, d_model, slots K}.
BENCHMARK(BM_StreamingBlock)
    ->ArgNames({"L", "d", "K"})
    ->Args({64, 128, 16})
    ->Args({128, 256, 32})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
