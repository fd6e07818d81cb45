#include <benchmark/benchmark.h>
#include <vector>
#include <cstring>
#include "mnemo/backend/cpu.hpp"
using namespace mnemo;
namespace P = mnemo::cpu::provider;
// mode 0: provider (copies B when ldb*4 % 4096 == 0); 1: sgemm direct, ldb = n; 2: padded ldb = n + 16
static void run(benchmark::State& st) {
  const int64_t m = st.range(0), n = st.range(1), k = st.range(2), mode = st.range(3), cold = st.range(4);
  const int64_t ldb = mode == 2 ? n + 16 : n;
  const int64_t copies = cold ? std::max<int64_t>(2, (96ll << 20) / (ldb * k * 4)) : 1;
  std::vector<float> A(m * k, 0.1f), C(m * n);
  std::vector<float> Bs(copies * k * ldb + 16, 0.01f);
  int64_t it = 0;
  const int64_t parts = cpu::parallel_threads();
  for (auto _ : st) {
    const float* B = Bs.data() + (it++ % copies) * k * ldb;
    cpu::parallel_for(parts, 1 << 30, [&](int64_t b, int64_t e) {
      for (int64_t part = b; part < e; ++part) {
        const int64_t lo = n * part / parts, hi = n * (part + 1) / parts, w = hi - lo;
        if (mode == 0) P::gemm(Trans::N, Trans::N, m, w, k, 1.f, A.data(), k, B + lo, ldb, 0.f, C.data() + lo, n);
        else P::detail::sgemm_one_thread('N', 'N', m, w, k, 1.f, A.data(), k, B + lo, ldb, 0.f, C.data() + lo, n);
      }
    });
    benchmark::DoNotOptimize(C.data());
  }
  st.counters["GFLOPs"] = benchmark::Counter(2.0 * m * n * k * st.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(run)->ArgsProduct({{64},{1024},{256},{0,1,2},{0,1}})->UseRealTime()->MinTime(0.3)->Repetitions(3)->ReportAggregatesOnly(false);
BENCHMARK_MAIN();
