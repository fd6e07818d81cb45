// bench_recurrent_cell — MRBP against full BPTT for a user-defined train::RecurrentCell: the
// memory-token LM of examples/memory_token_cell.hpp (float, d=256, h=4, ffn=1024, K=32 memory
// tokens, L=64, 4 layers, vocab 256, batch 2), one rollout of T = 4, 16, 32 steps with a loss on
// every step. Counters (docs/benchmarks.md, "MRBP for any recurrent cell"):
//      peak_above_start_MiB  the arena's high-water mark during the rollout minus the bytes in
//                            use at its start (parameters, gradients, inputs): the activations,
//                            temporaries and MRBP's stored states
//      peak_MiB              the absolute high-water mark
//      states_MiB            the T+1 memories MRBP keeps
//   mnemo_bench_cpu --benchmark_filter=BM_TokenCellRollout
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "../../examples/memory_token_cell.hpp"
#include "mnemo/mnemo.hpp"

namespace {

using namespace mnemo;
using Cell = examples::MemoryTokenLM<float>;

examples::MemoryTokenConfig bench_cell_config() {
  examples::MemoryTokenConfig c;
  c.vocab = 256;
  c.d_model = 256;
  c.heads = 4;
  c.d_ff = 1024;
  c.memory_tokens = 32;
  c.layers = 4;
  c.segment_length = 64;
  return c;
}

template <template <class, class> class Trainer>
void BM_TokenCellRollout(benchmark::State& state) {
  const auto cfg = bench_cell_config();
  const int64_t T = state.range(0), batch = 2;
  Cell cell(cfg, 1);
  std::vector<train::Segment> segs;
  for (int64_t t = 0; t <= T; ++t) {
    train::Segment s{Tensor<int32_t, Cpu>(Shape{batch, cfg.segment_length}), {}};
    const RngKey key{static_cast<uint64_t>(t), 0x5e9};
    for (int64_t i = 0; i < s.tokens.numel(); ++i)
      s.tokens[i] = static_cast<int32_t>(key.bits(static_cast<uint64_t>(i)) % static_cast<uint32_t>(cfg.vocab));
    segs.push_back(std::move(s));
  }
  std::vector<Cell::Input> inputs(static_cast<size_t>(T));
  for (size_t t = 0; t < inputs.size(); ++t) inputs[t] = {&segs[t], &segs[t + 1]};
  Trainer<Cell, void> trainer(cell);
  Arena& arena = BackendTraits<Cpu>::default_context().arena();
  double above = 0, absolute = 0, seconds = 0;
  for (auto _ : state) {
    auto memory = cell.initial_state(batch);
    cell.parameters().zero_grad();
    const size_t start = arena.stats().bytes_in_use;
    arena.reset_peak();
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = trainer.rollout(inputs, memory);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    above = static_cast<double>(arena.stats().peak_bytes - start);
    absolute = static_cast<double>(arena.stats().peak_bytes);
    benchmark::DoNotOptimize(r.loss);
  }
  constexpr double kMiB = 1024.0 * 1024.0;
  state.counters["peak_above_start_MiB"] = above / kMiB;
  state.counters["peak_MiB"] = absolute / kMiB;
  state.counters["states_MiB"] =
      static_cast<double>((T + 1) * batch * cfg.memory_tokens * cfg.d_model) * sizeof(float) / kMiB;
  state.counters["s_per_rollout"] = seconds / static_cast<double>(state.iterations());
  state.counters["threads"] = cpu::num_threads();
}
BENCHMARK_TEMPLATE(BM_TokenCellRollout, train::Bptt)
    ->Name("BM_TokenCellRollout/BPTT")->Arg(4)->Arg(16)->Arg(32)->Iterations(1)->Repetitions(3)
    ->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_TokenCellRollout, train::Mrbp)
    ->Name("BM_TokenCellRollout/MRBP")->Arg(4)->Arg(16)->Arg(32)->Iterations(1)->Repetitions(3)
    ->Unit(benchmark::kSecond)->UseRealTime();

}  // namespace
