// CPU benchmarks of bfloat16 (issue 17, "bf16 on the CPU"): the streaming Memformer step with
// bf16 parameters and activations, and the bf16 GEMM against the fp32 GEMM, both through
// BackendTraits<Cpu>::gemm, at the products of the streaming step and at 2048³.
//
//   BM_Bf16StreamStep        Memformer<bfloat16, Cpu> at bench_memformer.cpp's streaming shape
//                            (B1 L64 d256 h4 ffn1024 K64, 4+4 layers, vocab 256): one segment
//                            step, encoder + writer + teacher-forced decoder logits. Its fp32
//                            twin is BM_MemformerStreamStep in bench_memformer.cpp. Its
//                            forks_per_step counts the parallel loops shared with the pool.
//   BM_GemmPrecision<T>/m/n/k   C = A·B, row-major, A m×k, B k×n, T float or bfloat16 (fp32 sums).
//   BM_GemmBf16Kernel/<kernel>/m/n/k   the bf16 GEMM with its micro-kernel chosen: avx512
//                            (VDPBF16PS), avx2 (widening, fp32 FMA), portable; skipped where absent.
//   BM_LtmPrecision<T>       the ∞-former's long-term memory, one write + one read, at
//                            bench_infinite_former.cpp's LTM shape, in float and in bfloat16.
//
//   build/bench/mnemo_bench_cpu --benchmark_filter='BM_MemformerStreamStep|BM_Bf16|BM_GemmPrecision|BM_LtmPrecision' \
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "cpu/memformer_stream_shape.hpp"
#include "mnemo/mnemo.hpp"

namespace {

using namespace mnemo;
using Clock = std::chrono::steady_clock;

train::Segment bf16_segment(int64_t L, int64_t vocab, uint64_t seed) {
  train::Segment s{Tensor<int32_t, Cpu>(Shape{1, L}), {}};
  const RngKey key{seed, 0x5e9};
  for (int64_t i = 0; i < s.tokens.numel(); ++i)
    s.tokens[i] = static_cast<int32_t>(key.bits(static_cast<uint64_t>(i)) % static_cast<uint32_t>(vocab));
  return s;
}

void BM_Bf16StreamStep(benchmark::State& state) {
  const auto cfg = bench::memformer_stream_config();
  models::Memformer<bfloat16, Cpu> model(cfg, 2);
  auto s = model.initial_state(1);
  std::vector<train::Segment> segments;
  for (uint64_t i = 0; i < 8; ++i) segments.push_back(bf16_segment(cfg.segment_length, cfg.vocab, 100 + i));
  s = model.step(s, segments[0], &segments[1]).next;  // warm-up
  size_t i = 0;
  const uint64_t jobs0 = cpu::parallel_jobs();
  for (auto _ : state) {
    const auto out = model.step(s, segments[i % 8], &segments[(i + 1) % 8]);
    s = out.next;
    ++i;
    benchmark::DoNotOptimize(out.logits.data());
  }
  state.counters["threads"] = cpu::num_threads();
  // Parallel loops shared with the pool's workers per step (each one fork and one join).
  state.counters["forks_per_step"] =
      static_cast<double>(cpu::parallel_jobs() - jobs0) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_Bf16StreamStep)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

template <class T>
void BM_GemmPrecision(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  Tensor<T, Cpu> a(Shape{m, k}), b(Shape{k, n}), c(Shape{m, n});
  const RngKey key{7, 1};
  for (int64_t i = 0; i < a.numel(); ++i) a[i] = static_cast<T>(key.normal(static_cast<uint64_t>(i)));
  for (int64_t i = 0; i < b.numel(); ++i) b[i] = static_cast<T>(key.normal(static_cast<uint64_t>(i + a.numel())));
  auto& ctx = BackendTraits<Cpu>::default_context();
  const auto t0 = Clock::now();
  for (auto _ : state)
    BackendTraits<Cpu>::gemm<T>(ctx, Trans::N, Trans::N, m, n, k, 1.0f, a.data(), k, 0, b.data(), n, 0, 0.0f,
                                c.data(), n, 0, 1);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  state.counters["GFLOP/s"] = 2.0 * static_cast<double>(m * n * k) * static_cast<double>(state.iterations()) / seconds * 1e-9;
  state.counters["threads"] = cpu::num_threads();
}
// The streaming step's products (B1 L64 d256 ffn1024 K64 vocab 256) and the large-GEMM ceiling.
#define MNEMO_GEMM_SHAPES \
  ->Args({64, 256, 256})->Args({64, 768, 256})->Args({64, 1024, 256})->Args({64, 256, 1024})->Args({2048, 2048, 2048})
BENCHMARK_TEMPLATE(BM_GemmPrecision, float)
    ->Name("BM_GemmPrecision/fp32") MNEMO_GEMM_SHAPES->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(1.0);
BENCHMARK_TEMPLATE(BM_GemmPrecision, bfloat16)
    ->Name("BM_GemmPrecision/bf16") MNEMO_GEMM_SHAPES->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(1.0);

// The bfloat16 GEMM with each of its micro-kernels chosen explicitly (cpu::Bf16Kernel), the same
// shapes: what AVX512-BF16, the AVX2 widening kernel and the portable one each give on this CPU. A
// kernel the CPU lacks is skipped.
void BM_GemmBf16Kernel(benchmark::State& state, cpu::Bf16Kernel kernel) {
  if ((kernel == cpu::Bf16Kernel::Avx512 && !cpu::cpu_has_avx512_bf16()) ||
      (kernel == cpu::Bf16Kernel::Avx2 && !cpu::cpu_has_avx2_fma())) {
    state.SkipWithError("this CPU has no such kernel");
    return;
  }
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  Tensor<bfloat16, Cpu> a(Shape{m, k}), b(Shape{k, n}), c(Shape{m, n});
  const RngKey key{7, 1};
  for (int64_t i = 0; i < a.numel(); ++i) a[i] = static_cast<bfloat16>(key.normal(static_cast<uint64_t>(i)));
  for (int64_t i = 0; i < b.numel(); ++i) b[i] = static_cast<bfloat16>(key.normal(static_cast<uint64_t>(i + a.numel())));
  const auto t0 = Clock::now();
  for (auto _ : state)
    cpu::gemm_bf16_strided_batched<bfloat16>(Trans::N, Trans::N, m, n, k, 1.0f, a.data(), k, 0, b.data(), n, 0, 0.0f,
                                             c.data(), n, 0, 1, kernel);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  state.counters["GFLOP/s"] = 2.0 * static_cast<double>(m * n * k) * static_cast<double>(state.iterations()) / seconds * 1e-9;
  state.counters["threads"] = cpu::num_threads();
}
BENCHMARK_CAPTURE(BM_GemmBf16Kernel, avx512, cpu::Bf16Kernel::Avx512)
    MNEMO_GEMM_SHAPES->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(1.0);
BENCHMARK_CAPTURE(BM_GemmBf16Kernel, avx2, cpu::Bf16Kernel::Avx2)
    MNEMO_GEMM_SHAPES->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(1.0);
BENCHMARK_CAPTURE(BM_GemmBf16Kernel, portable, cpu::Bf16Kernel::Portable)
    MNEMO_GEMM_SHAPES->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(1.0);
#undef MNEMO_GEMM_SHAPES

// The ∞-former's long-term memory, one write + one read, at bench_infinite_former.cpp's shape (B8,
// segment 512, d 512, h 8, N 512, the LM preset) on a state of 4096 tokens (8 writes), in float and
// in bf16 (parameters, activations and the coefficients in bf16; fp32 sums).
template <class T>
void BM_LtmPrecision(benchmark::State& state) {
  constexpr int64_t batch = 8, segment = 512, model = 512, heads = 8;
  auto config = memory::ContinuousMemoryConfig::lm();
  config.basis.count = 512;
  config.segment_length = segment;
  nn::ParameterStore<T, Cpu> store(1);
  memory::ContinuousMemory<T, Cpu> ltm(store, "ltm", model, heads, config);
  Tensor<T, Cpu> x(Shape{batch, segment, model}), q(Shape{batch, heads, segment, model / heads});
  const RngKey key{2, 0x7e57};
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<T>(key.normal(static_cast<uint64_t>(i)));
  for (int64_t i = 0; i < q.numel(); ++i) q[i] = static_cast<T>(key.normal(static_cast<uint64_t>(i + x.numel())));
  autograd::NoGrad off;
  auto s = ltm.initial_state(batch);
  for (int k = 0; k < 8; ++k) ltm.write_forward(x, nullptr, s, nullptr);
  for (auto _ : state) {
    const auto coeffs = ltm.write_forward(x, nullptr, s, nullptr);
    double kl = 0;
    auto z = ltm.read_forward(coeffs, q, s, nullptr, &kl);
    benchmark::DoNotOptimize(z.data());
  }
  state.counters["threads"] = cpu::num_threads();
}
BENCHMARK_TEMPLATE(BM_LtmPrecision, float)->Name("BM_LtmPrecision/fp32")->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK_TEMPLATE(BM_LtmPrecision, bfloat16)->Name("BM_LtmPrecision/bf16")->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

}  // namespace
