#include <benchmark/benchmark.h>
#include <vector>
#include <cstring>
#include <immintrin.h>
#include "mnemo/backend/cpu.hpp"
using namespace mnemo;
namespace P = mnemo::cpu::provider;
static void run(benchmark::State& st) {
  const int64_t m = st.range(0), n = st.range(1), k = st.range(2), sub = st.range(3), copy = st.range(4), cold = st.range(5);
  const int64_t copies = cold ? std::max<int64_t>(2, (96ll << 20) / (n * k * 4)) : 1;
  std::vector<float> A(m * k, 0.1f), C(m * n);
  std::vector<std::vector<float>> Bs(copies, std::vector<float>(k * n, 0.01f));
  int64_t it = 0;
  const int64_t parts = 2;
  for (auto _ : st) {
    const float* B = Bs[it++ % copies].data();
    cpu::parallel_for(parts, 1 << 30, [&](int64_t b, int64_t e) {
      for (int64_t part = b; part < e; ++part) {
        const int64_t lo = n * part / parts, hi = n * (part + 1) / parts, w = (hi - lo) / sub;
        for (int64_t s = 0; s < sub; ++s) {
          const int64_t c0 = lo + s * w;
          if (copy == 2) {
            for (int64_t p = 0; p < k; ++p) for (int64_t c = 0; c < w; c += 16) _mm_prefetch(reinterpret_cast<const char*>(B + p * n + c0 + c), _MM_HINT_T1);
            P::gemm(Trans::N, Trans::N, m, w, k, 1.f, A.data(), k, B + c0, n, 0.f, C.data() + c0, n);
          } else if (copy) {
            static thread_local std::vector<float> buf;
            buf.resize(k * w);
            for (int64_t p = 0; p < k; ++p) std::memcpy(buf.data() + p * w, B + p * n + c0, w * 4);
            P::gemm(Trans::N, Trans::N, m, w, k, 1.f, A.data(), k, buf.data(), w, 0.f, C.data() + c0, n);
          } else {
            P::gemm(Trans::N, Trans::N, m, w, k, 1.f, A.data(), k, B + c0, n, 0.f, C.data() + c0, n);
          }
        }
      }
    });
    benchmark::DoNotOptimize(C.data());
  }
  st.counters["GFLOPs"] = benchmark::Counter(2.0 * m * n * k * st.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(run)->ArgsProduct({{64},{1024},{256},{1,2,4},{0,1,2},{0,1}})->ArgsProduct({{64},{256},{1024},{1,2},{0,2},{1}})->UseRealTime()->MinTime(0.2);
BENCHMARK_MAIN();
