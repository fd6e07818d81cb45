// The streaming step's softmax shapes on their own (4 heads × 64 queries × 64 keys, scale 1/8),
// to build against two include trees (header-only mode): before and after the softmax change.
//   g++ -std=c++20 -O3 -march=native -DNDEBUG -I<tree>/include -I/usr/include/eigen3 \
//       softmax_ab.cpp -o softmax_<v> -lbenchmark -lpthread
// BM_Softmax/<bf16>/<causal>: bf16 = 1 for bfloat16 rows (fp32 sums), 0 for float.
#include <benchmark/benchmark.h>

#include <vector>

#include "mnemo/mnemo.hpp"

namespace {
using namespace mnemo;

template <class T>
void run(benchmark::State& state) {
  SoftmaxDims dims;
  dims.heads = 4;
  dims.rows = 64;
  dims.cols = 64;
  SoftmaxMask mask;
  mask.causal = state.range(1) != 0;
  std::vector<T> x(static_cast<size_t>(dims.total_rows() * dims.cols)), y(x.size());
  const RngKey key{1, 2};
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<T>(static_cast<float>(key.normal(i)));
  for (auto _ : state) {
    cpu::softmax_forward<T>(x.data(), y.data(), dims, compute_t<T>(0.125), mask);
    benchmark::DoNotOptimize(y.data());
  }
}

void BM_Softmax(benchmark::State& state) {
  if (state.range(0) != 0)
    run<bfloat16>(state);
  else
    run<float>(state);
}
BENCHMARK(BM_Softmax)->ArgsProduct({{0, 1}, {0, 1}})->Unit(benchmark::kMicrosecond)->UseRealTime();
}  // namespace

BENCHMARK_MAIN();
