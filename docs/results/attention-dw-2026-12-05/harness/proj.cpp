#include <benchmark/benchmark.h>
#include <vector>
#include "mnemo/backend/cpu.hpp"
using namespace mnemo;
static void run(benchmark::State& st) {
  const Trans ta = st.range(0) ? Trans::T : Trans::N, tb = st.range(1) ? Trans::T : Trans::N;
  const int64_t m = st.range(2), n = st.range(3), k = st.range(4);
  std::vector<float> A(m * k, 0.1f), B(k * n, 0.01f), C(m * n);
  const int64_t lda = ta == Trans::N ? k : m, ldb = tb == Trans::N ? n : k;
  for (auto _ : st) {
    cpu::gemm_strided_batched<float>(ta, tb, m, n, k, 1.f, A.data(), lda, 0, B.data(), ldb, 0, 1.f, C.data(), n, 0, 1);
    benchmark::DoNotOptimize(C.data());
  }
  st.counters["GFLOPs"] = benchmark::Counter(2.0 * m * n * k * st.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(run)->Args({1,0,512,512,1024})->Args({1,0,512,512,2048})->Args({1,0,512,512,8192})->Args({1,0,512,1024,8192})->Args({1,0,512,768,8192})->Args({0,0,512,512,8192})->Args({1,0,512,1536,8192})->UseRealTime()->MinTime(0.5);
BENCHMARK_MAIN();
