// BM_MemformerConstruct (bench/cpu/bench_memformer.cpp) on its own, to build against two include
// trees (header-only mode): before and after the parameter-initialisation change.
//   g++ -std=c++20 -O3 -march=native -DNDEBUG -I<tree>/include -I<tree>/bench -I/usr/include/eigen3 \
//       construct_ab.cpp -o construct_<v> -lbenchmark -lpthread
#include <benchmark/benchmark.h>

#include <chrono>

#include "cpu/memformer_stream_shape.hpp"
#include "mnemo/mnemo.hpp"

namespace {
using namespace mnemo;
using Model = models::Memformer<float, Cpu>;

void BM_MemformerConstruct(benchmark::State& state) {
  const models::MemformerConfig cfg = bench::memformer_stream_config();
  int64_t parameters = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    Model model(cfg, 2);
    parameters = model.parameters().numel();
    benchmark::DoNotOptimize(model.parameters()[0].value.data());
  }
  state.counters["parameters"] = static_cast<double>(parameters);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  state.counters["ns_per_parameter"] = seconds * 1e9 / static_cast<double>(state.iterations() * parameters);
}
BENCHMARK(BM_MemformerConstruct)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
}  // namespace

BENCHMARK_MAIN();
