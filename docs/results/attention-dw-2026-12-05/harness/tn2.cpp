#include <benchmark/benchmark.h>
#include <vector>
#include "mnemo/backend/cpu.hpp"
using namespace mnemo;
namespace P = mnemo::cpu::provider;
// mnemo's split (rows when m >= n, else columns), each part: variant 0 direct sgemm, 1 slabs
static void run(benchmark::State& st) {
  const int64_t m = st.range(0), n = st.range(1), k = st.range(2), variant = st.range(3);
  std::vector<float> A(k * m, 0.1f), B(k * n, 0.01f), C(m * n);
  const int64_t parts = cpu::parallel_threads();
  const bool rows = m >= n;
  for (auto _ : st) {
    cpu::parallel_for(parts, 1 << 30, [&](int64_t b, int64_t e) {
      for (int64_t part = b; part < e; ++part) {
        const int64_t ext = rows ? m : n, lo = ext * part / parts, hi = ext * (part + 1) / parts;
        const int64_t mm = rows ? hi - lo : m, nn = rows ? n : hi - lo;
        const float* a = A.data() + (rows ? lo : 0);
        const float* bb = B.data() + (rows ? 0 : lo);
        float* c = C.data() + (rows ? lo * n : lo);
        if (variant == 0) P::detail::sgemm_one_thread('T', 'N', mm, nn, k, 1.f, a, m, bb, n, 1.f, c, n);
        else P::detail::sgemm_transposed_a_on_slabs('N', mm, nn, k, 1.f, a, m, bb, n, 1.f, c, n);
      }
    });
    benchmark::DoNotOptimize(C.data());
  }
  st.counters["GFLOPs"] = benchmark::Counter(2.0 * m * n * k * st.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(run)->ArgsProduct({{2048},{512},{8192},{0,1}})->ArgsProduct({{1024},{256},{1024},{0,1}})->ArgsProduct({{1024},{256},{4096},{0,1}})->ArgsProduct({{512},{512},{8192},{0,1}})->UseRealTime()->MinTime(0.2);
BENCHMARK_MAIN();
