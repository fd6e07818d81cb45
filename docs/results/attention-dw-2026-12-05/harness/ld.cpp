#include <benchmark/benchmark.h>
#include <vector>
#include "mnemo/backend/cpu.hpp"
using namespace mnemo;
static void run(benchmark::State& st) {
  const Trans ta = Trans::T, tb = Trans::N;
  const int64_t m = st.range(4), n = st.range(0), k = 8192;
  const int64_t lda = st.range(1) ? st.range(1) : m, ldb = n + st.range(2), ldc = n + st.range(3);
  std::vector<float> A(k * lda, 0.1f), B(k * ldb, 0.01f), C(m * ldc);
  for (auto _ : st) {
    cpu::gemm_strided_batched<float>(ta, tb, m, n, k, 1.f, A.data(), lda, 0, B.data(), ldb, 0, 1.f, C.data(), ldc, 0, 1);
    benchmark::DoNotOptimize(C.data());
  }
  st.counters["GFLOPs"] = benchmark::Counter(2.0 * m * n * k * st.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(run)->Args({512,512,0,0,256})->Args({512,0,0,0,256})->Args({512,1536,0,0,256})->Args({512,0,1024,0,256})->Args({512,512,1024,0,256})->UseRealTime()->MinTime(0.3);
BENCHMARK_MAIN();
