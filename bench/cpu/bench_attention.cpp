// CPU benchmarks of nn::MultiHeadAttention<float, Cpu>: causal self-attention forward (NoGrad,
// tensor-level forward) and forward+backward (through the tape), at the foundation issue's two
// shapes, plus the rate Eigen's GEMM reaches on a large product (the machine's ceiling, measured
// in the same run so the attention rates can be read as a fraction of it).
//
// FLOPs counted per forward by mnemo::bench::attention_flops (include/mnemo/bench/flops.hpp),
// dense (what an implementation that ignores the causal mask does, as
// the PyTorch peer's math path does; mnemo's CPU path skips the blocks the mask hides, see
// nn/attention.hpp, so its rate here can exceed the GEMM ceiling):
//   projections Q, K, V, O:  4 · 2·B·L·d²
//   S = Q·Kᵀ and A·V:        2 · 2·B·h·L²·d_h = 4·B·L²·d
//   forward = 8·B·L·d² + 4·B·L²·d;   forward+backward = 3 × forward
// (the backward runs two GEMMs of the forward's size for each forward GEMM: dX and dW of every
// projection, dQ and dK of Q·Kᵀ, dA and dV of A·V; softmax, bias and permutes are not counted).
//
// Counters (the console shows the aggregates over repetitions; --benchmark_out files keep every
// repetition too):
//   GFLOP/s   the FLOPs above over wall time;
//   peak_MiB  the CPU arena's high-water mark during the timed loop (parameters, inputs and all
//             activations and workspaces in use at once);
//   threads   threads mnemo's kernels (GEMM included) may use (its own pool, cpu/thread_pool.hpp).
//
// BM_AttentionHead compares, on one thread and one head, the two kernels the layer's taped
// attention may take (cpu/attention_head.hpp's tiles, or a GEMM call per block); its GEMM
// ceiling is BM_EigenGemmCeiling at MNEMO_NUM_THREADS=1.
//
// The ceiling: BM_EigenGemmCeiling is a 2048³ float product through BackendTraits<Cpu>::gemm
// (Eigen's kernel, threaded by mnemo: blocks of rows, see backend/cpu/gemm.hpp);
// BM_EigenGemmNative is the same product with Eigen's own threading (OpenMP, only with
// MNEMO_OPENMP=ON; single-threaded otherwise), for comparison.
// bench/summarize_cpu.py divides by the faster of the two.
//
// Repetitions: MNEMO_BENCH_REPETITIONS (default 5). bench/run_cpu.sh runs these together with
// the PyTorch peers in bench/peers/attention_cpu.py.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>

#include "mnemo/bench/flops.hpp"
#include "mnemo/mnemo.hpp"

namespace {

using namespace mnemo;
using Attention = nn::MultiHeadAttention<float, Cpu>;
using TensorF = Tensor<float, Cpu>;
using VarF = autograd::Var<float, Cpu>;
using Clock = std::chrono::steady_clock;

int repetitions() {
  const char* env = std::getenv("MNEMO_BENCH_REPETITIONS");
  const int n = env ? std::atoi(env) : 0;
  return n > 0 ? n : 5;
}

TensorF normal_tensor(const Shape& shape, uint64_t seed) {
  TensorF t(shape);
  const RngKey key{seed, 0xbe7c};
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(key.normal(static_cast<uint64_t>(i)));
  return t;
}

/// Times the loop, then sets the counters every case reports.
template <class Body>
void run_timed(benchmark::State& state, double flops_per_iteration, Body&& body) {
  Arena& arena = BackendTraits<Cpu>::default_context().arena();
  body();  // warm-up: fills the arena's cache so the loop measures the steady state
  arena.reset_peak();
  const auto start = Clock::now();
  for (auto _ : state) body();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  state.counters["GFLOP/s"] = flops_per_iteration * static_cast<double>(state.iterations()) / seconds * 1e-9;
  state.counters["peak_MiB"] = static_cast<double>(arena.stats().peak_bytes) / (1024.0 * 1024.0);
  state.counters["threads"] = cpu::num_threads();
}

struct AttentionCase {
  int64_t batch, len, d, heads;
  explicit AttentionCase(const benchmark::State& state)
      : batch(state.range(0)), len(state.range(1)), d(state.range(2)), heads(state.range(3)) {}
};

void BM_AttentionForward(benchmark::State& state) {
  const AttentionCase c(state);
  nn::ParameterStore<float, Cpu> store(1);
  Attention attention(store, "attn", c.d, c.heads);
  const TensorF x = normal_tensor(Shape{c.batch, c.len, c.d}, 2);
  nn::AttentionMask<Cpu> mask;
  mask.causal = true;
  autograd::NoGrad no_grad;
  run_timed(state, bench::attention_flops(c.batch, c.len, c.len, c.d), [&] {
    TensorF y = attention.forward(x, x, mask, nullptr);
    benchmark::DoNotOptimize(y.data());
  });
}

void BM_AttentionForwardBackward(benchmark::State& state) {
  const AttentionCase c(state);
  nn::ParameterStore<float, Cpu> store(1);
  Attention attention(store, "attn", c.d, c.heads);
  // The input takes a gradient too (as inside a layer stack), so the backward is the full 2×.
  const VarF x = VarF::leaf(normal_tensor(Shape{c.batch, c.len, c.d}, 2));
  const TensorF dy = normal_tensor(Shape{c.batch, c.len, c.d}, 3);
  nn::AttentionMask<Cpu> mask;
  mask.causal = true;
  autograd::Tape tape;
  run_timed(state, bench::kTrainingFactor * bench::attention_flops(c.batch, c.len, c.len, c.d), [&] {
    const size_t mark = tape.mark();
    VarF y;
    {
      autograd::Recording recording(tape);
      y = attention(x, x, mask);
    }
    tape.seed(y, dy);
    tape.backward(mark);
    tape.rewind(mark);
    benchmark::DoNotOptimize(x.grad().data());
  });
}

/// One head's taped attention, forward (P kept) + backward, on one thread: L queries and keys,
/// d_h 64, causal, blocks of 64 queries, as nn::MultiHeadAttention runs each (batch row, head) of
/// the B16 L512 case. kernel 0: cpu/attention_head.hpp's AVX-512 tiles; kernel 1: a GEMM call
/// (BackendTraits<Cpu>::gemm, the configured provider) per block and product, the softmax kernels
/// between them (the layer's path where the tiles do not apply); kernel 2: the AVX2 tiles (a
/// kernel the CPU lacks is skipped). GFLOP/s counts the six products over the keys each block
/// sees (2·64·keys·d_h each), not the whole square.
void BM_AttentionHead(benchmark::State& state) {
  const int64_t len = state.range(0), dh = 64, block = 64;
  const bool tiles = state.range(1) != 1;
  const auto kernel = state.range(1) == 0 ? cpu::AttentionKernel::Avx512 : cpu::AttentionKernel::Avx2;
  if (tiles && !cpu::attention_kernel_available(kernel))
    return state.SkipWithError("this CPU cannot run this attention kernel");
  const TensorF q = normal_tensor(Shape{len, dh}, 6), k = normal_tensor(Shape{len, dh}, 7),
                v = normal_tensor(Shape{len, dh}, 8), dO = normal_tensor(Shape{len, dh}, 9);
  TensorF p(Shape{len, len}), dp(Shape{len, len}), o(Shape{len, dh}), dQ(Shape{len, dh}), dK(Shape{len, dh}),
      dV(Shape{len, dh});
  SoftmaxMask mask;
  mask.causal = true;
  const float scale = 0.125f;
  auto& ctx = BackendTraits<Cpu>::default_context();
  using BT = BackendTraits<Cpu>;
  auto gemm = [&](Trans ta, Trans tb, int64_t m, int64_t n, int64_t kk, const float* a, int64_t lda, const float* b,
                  int64_t ldb, float* c, int64_t ldc) {
    BT::gemm<float>(ctx, ta, tb, m, n, kk, 1.0f, a, lda, 0, b, ldb, 0, 0.0f, c, ldc, 0, 1);
  };
  auto gemm_path = [&] {  // the calls of nn::MultiHeadAttention::head_forward and head_backward
    for (int64_t r0 = 0; r0 < len; r0 += block)
      gemm(Trans::N, Trans::T, block, std::min(len, r0 + block), dh, q.data() + r0 * dh, dh, k.data(), dh,
           p.data() + r0 * len, len);
    BT::softmax_forward(ctx, p.data(), p.data(), SoftmaxDims{1, 1, len, len}, scale, mask);
    for (int64_t r0 = 0; r0 < len; r0 += block)
      gemm(Trans::N, Trans::N, block, dh, std::min(len, r0 + block), p.data() + r0 * len, len, v.data(), dh,
           o.data() + r0 * dh, dh);
    for (int64_t r0 = 0; r0 < len; r0 += block) {
      const int64_t keys = std::min(len, r0 + block);
      gemm(Trans::N, Trans::T, block, keys, dh, dO.data() + r0 * dh, dh, v.data(), dh, dp.data() + r0 * len, len);
      for (int64_t i = r0; i < r0 + block; ++i) std::fill(dp.data() + i * len + keys, dp.data() + (i + 1) * len, 0.0f);
    }
    for (int64_t c0 = 0; c0 < len; c0 += block)
      gemm(Trans::T, Trans::N, block, dh, len - c0, p.data() + c0 * len + c0, len, dO.data() + c0 * dh, dh,
           dV.data() + c0 * dh, dh);
    BT::softmax_backward(ctx, p.data(), dp.data(), dp.data(), len, len, scale);
    for (int64_t r0 = 0; r0 < len; r0 += block)
      gemm(Trans::N, Trans::N, block, dh, std::min(len, r0 + block), dp.data() + r0 * len, len, k.data(), dh,
           dQ.data() + r0 * dh, dh);
    for (int64_t c0 = 0; c0 < len; c0 += block)
      gemm(Trans::T, Trans::N, block, dh, len - c0, dp.data() + c0 * len + c0, len, q.data() + c0 * dh, dh,
           dK.data() + c0 * dh, dh);
  };
  auto tile_path = [&] {
    return cpu::attention_head_forward<float>(q.data(), k.data(), v.data(), p.data(), o.data(), dh, len, len, dh,
                                              true, 0, block, scale, mask) &&
           cpu::attention_head_backward<float>(p.data(), dO.data(), dh, q.data(), k.data(), v.data(), dQ.data(),
                                               dK.data(), dV.data(), dh, len, len, dh, true, 0, block, scale, 0.0f);
  };
  if (len % block != 0) return state.SkipWithError("L must be a multiple of 64");
  if (tiles) cpu::set_attention_kernel(kernel);
  if (tiles && !tile_path()) {
    cpu::set_attention_kernel(cpu::AttentionKernel::Auto);
    return state.SkipWithError("the register tiles do not apply on this CPU");
  }
  const int threads = cpu::num_threads();
  cpu::set_num_threads(1);
  double flops = 0;
  for (int64_t r0 = 0; r0 < len; r0 += block) flops += 6 * bench::gemm_flops(block, std::min(len, r0 + block), dh);
  run_timed(state, flops, [&] {
    if (tiles) tile_path();
    else gemm_path();
    benchmark::DoNotOptimize(dK.data());
  });
  state.counters["threads"] = 1;
  cpu::set_num_threads(threads);
  cpu::set_attention_kernel(cpu::AttentionKernel::Auto);
}

/// The GEMM ceiling: C = A·B, n×n×n floats, through BackendTraits<Cpu>::gemm (Eigen's kernel on
/// blocks of rows, one block per thread of mnemo's pool).
void BM_EigenGemmCeiling(benchmark::State& state) {
  const int64_t n = state.range(0);
  const TensorF a = normal_tensor(Shape{n, n}, 4), b = normal_tensor(Shape{n, n}, 5);
  TensorF c(Shape{n, n});
  auto& ctx = BackendTraits<Cpu>::default_context();
  run_timed(state, bench::gemm_flops(n, n, n), [&] {
    BackendTraits<Cpu>::gemm<float>(ctx, Trans::N, Trans::N, n, n, n, 1.0f, a.data(), n, 0, b.data(), n, 0,
                                    0.0f, c.data(), n, 0, 1);
    benchmark::DoNotOptimize(c.data());
  });
}

/// The same product with Eigen's own threading (OpenMP; a single thread unless built with
/// MNEMO_OPENMP=ON).
void BM_EigenGemmNative(benchmark::State& state) {
  using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const int64_t n = state.range(0);
  const TensorF a = normal_tensor(Shape{n, n}, 4), b = normal_tensor(Shape{n, n}, 5);
  TensorF c(Shape{n, n});
  const Eigen::Map<const Matrix> am(a.data(), n, n), bm(b.data(), n, n);
  Eigen::Map<Matrix> cm(c.data(), n, n);
  run_timed(state, bench::gemm_flops(n, n, n), [&] {
    cm.noalias() = am * bm;
    benchmark::DoNotOptimize(c.data());
  });
  state.counters["eigen_threads"] = Eigen::nbThreads();
}

void gemm_size(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n"})
      ->Arg(2048)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->Repetitions(repetitions())
      ->DisplayAggregatesOnly(true);
}

// Arguments: {batch, len, d_model, heads}.
void attention_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"B", "L", "d", "h"})
      ->Args({16, 512, 512, 8})
      ->Args({1, 64, 256, 4})
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->Repetitions(repetitions())
      ->DisplayAggregatesOnly(true);
}

BENCHMARK(BM_EigenGemmCeiling)->Apply(gemm_size);
BENCHMARK(BM_EigenGemmNative)->Apply(gemm_size);
BENCHMARK(BM_AttentionForward)->Apply(attention_shapes);
BENCHMARK(BM_AttentionForwardBackward)->Apply(attention_shapes);
BENCHMARK(BM_AttentionHead)
    ->ArgNames({"L", "kernel"})
    ->Args({512, 0})
    ->Args({512, 1})
    ->Args({512, 2})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime()
    ->Repetitions(repetitions())
    ->DisplayAggregatesOnly(true);

}  // namespace
