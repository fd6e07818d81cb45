// GPU benchmarks of mnemo's CUDA backend (issue 8, item 6): the four cases of the first CUDA issue
// plus the ceilings they are read against, all measured in the same run.
//   BM_MemformerStreamGraph  streaming Memformer step as a CUDA graph (MemformerStream):
//                            B1 L64 d256 h4 ffn1024 K64, 4+4 layers, vocab 256, fp32
//   BM_MemformerStepEager    the same step without the graph (Memformer::step, host segments)
//   BM_InfiniteFormerStreamGraph  streaming ∞-former step as a CUDA graph (InfiniteFormerStream):
//                            B1 L64 d256 h4 ffn1024, 4 layers, STM 1 segment, N 64, vocab 256, fp32
//   BM_InfiniteFormerStepEager    the same step without the graph (InfiniteFormer::step)
//   BM_MemformerMrbpRollout  one MRBP rollout, T = 4: B16 L128 d512 h8 ffn2048 K64, 4+8 layers,
//                            vocab 8192, bf16 (parameter gradients of the four steps)
//   BM_MhaForwardBackward    MultiHeadAttention forward + backward, B16 L512 d512 h8, bf16
//   BM_LtmReadUpdate         ∞-former long-term memory: write + read forward and backward,
//                            B8 L512 d512 h8 N512, fp32 (the fused read kernels)
//   BM_GemmCeiling           cuBLAS GEMM 4096³ in bf16 and fp32 (TFLOP/s ceiling)
//   BM_CopyCeiling           device-to-device copy of 1 GiB (GB/s ceiling, read + write bytes)
// Every iteration ends with the stream synchronised, so the wall time is the GPU time of the
// work plus its launch overhead, as the PyTorch peers (bench/peers/models_cuda.py) measure it.
// Counters: TFLOPs (model GEMM FLOPs per second, an analytic estimate of the matrix products
// only) and GBps where they apply. Run by bench/cuda/device_check.sh; NOT YET RUN ON A GPU.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "mnemo/cuda.cuh"
// After cuda.cuh (it configures Eigen for nvcc translation units).
#include "mnemo/bench/gemm_ceiling.hpp"

using namespace mnemo;

namespace {

using BT = BackendTraits<Cuda>;

Tensor<int32_t, Cpu> tokens(int64_t batch, int64_t len, int64_t vocab, uint64_t seed) {
  Tensor<int32_t, Cpu> t(Shape{batch, len});
  const RngKey key{seed, 5};
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<int32_t>(key.bits(static_cast<uint64_t>(i)) % static_cast<uint32_t>(vocab));
  return t;
}

template <class T>
Tensor<T, Cuda> random_device(const Shape& shape, uint64_t seed, double scale = 1.0) {
  std::vector<T> host(static_cast<size_t>(shape.numel()));
  const RngKey key{seed, 0x7e57};
  for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<T>(static_cast<float>(scale * key.normal(i)));
  return Tensor<T, Cuda>::from_host(shape, host);
}

models::MemformerConfig memformer(int64_t d, int64_t h, int64_t ff, int64_t K, int64_t enc, int64_t dec, int64_t L,
                                  int64_t vocab) {
  models::MemformerConfig c;
  c.vocab = vocab;
  c.d_model = d;
  c.heads = h;
  c.d_ff = ff;
  c.slots = K;
  c.encoder_layers = enc;
  c.decoder_layers = dec;
  c.segment_length = L;
  c.dropout = 0.0;
  return c;
}

/// Matrix-product FLOPs of one Memformer step's forward (encoder + writer + decoder + head) for
/// batch B: an estimate (projections, attention scores and values, FFN, vocabulary head).
double memformer_forward_flops(const models::MemformerConfig& c, int64_t B) {
  const double L = static_cast<double>(c.segment_length), d = static_cast<double>(c.d_model),
               K = static_cast<double>(c.slots), ff = static_cast<double>(c.d_ff), V = static_cast<double>(c.vocab);
  const double self_attn = 8 * L * d * d + 4 * L * L * d, ffn = 4 * L * d * ff;
  const double reader = 4 * L * d * d + 4 * K * d * d + 4 * L * K * d;   // q, o on tokens; k, v on slots
  const double cross = 4 * L * d * d + 4 * L * d * d + 4 * L * L * d;     // q, o; k, v on H_t; scores, values
  const double writer = 2 * K * d * d + 4 * L * d * d + 2 * K * d * d + 4 * K * L * d;
  const double enc = static_cast<double>(c.encoder_layers) * (self_attn + reader + ffn);
  const double dec = static_cast<double>(c.decoder_layers) * (self_attn + cross + ffn);
  return static_cast<double>(B) * (enc + writer + dec + 2 * L * d * V);
}

void set_flops(benchmark::State& bm, double flops_per_iteration) {
  bm.counters["TFLOPs"] = benchmark::Counter(flops_per_iteration * 1e-12, benchmark::Counter::kIsIterationInvariantRate);
}

// ---- streaming Memformer step -------------------------------------------------------------------

constexpr int64_t kStreamPushes = 32;  // graph replays per iteration (then one synchronisation)

/// The streaming case's model config, its eight segments, and the per-step counters.
models::MemformerConfig streaming_config() { return memformer(256, 4, 1024, 64, 4, 4, 64, 256); }
std::vector<train::Segment> streaming_segments() {
  std::vector<train::Segment> segs;
  for (uint64_t i = 0; i < 8; ++i) segs.push_back({tokens(1, 64, 256, i), {}});
  return segs;
}
void set_step_counters(benchmark::State& bm, const models::MemformerConfig& cfg) {
  bm.counters["step_us"] = benchmark::Counter(static_cast<double>(kStreamPushes) * 1e-6,
                                              benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  set_flops(bm, kStreamPushes * memformer_forward_flops(cfg, 1));
}

void BM_MemformerStreamGraph(benchmark::State& bm) {
  const auto cfg = streaming_config();
  CudaContext ctx;
  models::Memformer<float, Cuda> model(cfg, 1, ctx);
  mnemo::cuda::MemformerStream<float> stream(model, 1);
  const auto segs = streaming_segments();
  int64_t t = 0;
  for (auto _ : bm) {
    for (int64_t k = 0; k < kStreamPushes; ++k, ++t) stream.push(segs[t % 8], &segs[(t + 1) % 8]);
    ctx.synchronize();
  }
  set_step_counters(bm, cfg);
}
BENCHMARK(BM_MemformerStreamGraph)->Unit(benchmark::kMillisecond)->MinTime(1.0)->Repetitions(3)->UseRealTime();

void BM_MemformerStepEager(benchmark::State& bm) {
  const auto cfg = streaming_config();
  CudaContext ctx;
  models::Memformer<float, Cuda> model(cfg, 1, ctx);
  const auto segs = streaming_segments();
  auto state = model.initial_state(1);
  int64_t t = 0;
  for (auto _ : bm) {
    for (int64_t k = 0; k < kStreamPushes; ++k, ++t) state = model.step(state, segs[t % 8], &segs[(t + 1) % 8]).next;
    ctx.synchronize();
  }
  set_step_counters(bm, cfg);
}
BENCHMARK(BM_MemformerStepEager)->Unit(benchmark::kMillisecond)->MinTime(1.0)->Repetitions(3)->UseRealTime();

// ---- streaming ∞-former step ----------------------------------------------------------------------

/// The ∞-former streaming case: the Memformer case's sizes, STM of one segment, N = 64 basis functions.
models::InfiniteFormerConfig infinite_former_streaming_config() {
  models::InfiniteFormerConfig c;
  c.vocab = 256;
  c.d_model = 256;
  c.heads = 4;
  c.d_ff = 1024;
  c.layers = 4;
  c.segment_length = 64;
  c.stm_segments = 1;
  c.dropout = 0.0;
  c.ltm.basis = memory::BasisConfig{64, {0.05, 0.1}};
  c.ltm.samples = 64;
  return c;
}
void set_push_counter(benchmark::State& bm) {
  bm.counters["step_us"] = benchmark::Counter(static_cast<double>(kStreamPushes) * 1e-6,
                                              benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void BM_InfiniteFormerStreamGraph(benchmark::State& bm) {
  CudaContext ctx;
  models::InfiniteFormer<float, Cuda> model(infinite_former_streaming_config(), 1, ctx);
  mnemo::cuda::InfiniteFormerStream<float> stream(model, 1);
  const auto segs = streaming_segments();
  int64_t t = 0;
  for (auto _ : bm) {
    for (int64_t k = 0; k < kStreamPushes; ++k, ++t) stream.push(segs[t % 8].tokens);
    ctx.synchronize();
  }
  set_push_counter(bm);
}
BENCHMARK(BM_InfiniteFormerStreamGraph)->Unit(benchmark::kMillisecond)->MinTime(0.5)->Repetitions(3)->UseRealTime();

void BM_InfiniteFormerStepEager(benchmark::State& bm) {
  CudaContext ctx;
  models::InfiniteFormer<float, Cuda> model(infinite_former_streaming_config(), 1, ctx);
  const auto segs = streaming_segments();
  auto state = model.initial_state(1);
  int64_t t = 0;
  for (auto _ : bm) {
    for (int64_t k = 0; k < kStreamPushes; ++k, ++t) model.step(segs[t % 8].tokens, nullptr, state);
    ctx.synchronize();
  }
  set_push_counter(bm);
}
BENCHMARK(BM_InfiniteFormerStepEager)->Unit(benchmark::kMillisecond)->MinTime(0.5)->Repetitions(3)->UseRealTime();

// ---- MRBP rollout --------------------------------------------------------------------------------

void BM_MemformerMrbpRollout(benchmark::State& bm) {
  const auto cfg = memformer(512, 8, 2048, 64, 4, 8, 128, 8192);
  const int64_t B = 16, T = 4;
  models::Memformer<__nv_bfloat16, Cuda> model(cfg, 1);
  std::vector<train::Segment> segs;
  for (uint64_t i = 0; i <= static_cast<uint64_t>(T); ++i) segs.push_back({tokens(B, 128, 8192, 10 + i), {}});
  train::Mrbp<__nv_bfloat16, Cuda> trainer(model, {});
  for (auto _ : bm) {
    model.parameters().zero_grad();
    auto state = model.initial_state(B);
    benchmark::DoNotOptimize(trainer.rollout(segs, {}, state).loss);  // the loss is read: synchronised
    BT::synchronize(BT::default_context());
  }
  // Forward + backward ≈ 3 forwards; MRBP re-runs each encoder step once more (≈ +1 forward of it).
  set_flops(bm, static_cast<double>(T) * 4.0 * memformer_forward_flops(cfg, B));
}
BENCHMARK(BM_MemformerMrbpRollout)->Unit(benchmark::kMillisecond)->MinTime(1.0)->Repetitions(3)->UseRealTime();

// ---- multi-head attention ------------------------------------------------------------------------

void BM_MhaForwardBackward(benchmark::State& bm) {
  using T = __nv_bfloat16;
  const int64_t B = 16, L = 512, d = 512, h = 8;
  nn::ParameterStore<T, Cuda> store(1);
  nn::MultiHeadAttention<T, Cuda> attn(store, "attn", d, h);
  auto x = random_device<T>(Shape{B, L, d}, 2);
  auto dy = random_device<T>(Shape{B, L, d}, 3);
  for (auto _ : bm) {
    autograd::Tape tape;
    {
      autograd::Recording on(tape);
      const auto xv = autograd::Var<T, Cuda>::leaf(x);
      const auto y = attn(xv, xv, {});
      tape.seed(y, dy);
      tape.backward();
    }
    BT::synchronize(BT::default_context());
  }
  const double fwd = static_cast<double>(B) * (8.0 * L * d * d + 4.0 * L * L * d);  // as bench/peers/attention_cpu.py
  set_flops(bm, 3.0 * fwd);
}
BENCHMARK(BM_MhaForwardBackward)->Unit(benchmark::kMillisecond)->MinTime(1.0)->Repetitions(3)->UseRealTime();

// ---- ∞-former long-term memory -------------------------------------------------------------------

void BM_LtmReadUpdate(benchmark::State& bm) {
  const int64_t B = 8, L = 512, e = 512, h = 8, N = 512;
  auto cfg = memory::ContinuousMemoryConfig::lm();
  cfg.basis.count = N;
  cfg.segment_length = L;
  nn::ParameterStore<float, Cuda> store(1);
  memory::ContinuousMemory<float, Cuda> ltm(store, "ltm", e, h, cfg);
  auto x = random_device<float>(Shape{B, L, e}, 4);
  auto q = random_device<float>(Shape{B, h, L, e / h}, 5);
  auto dz = random_device<float>(Shape{B, L, e}, 6);
  auto state = ltm.initial_state(B);
  ltm.write_forward(x, nullptr, state, nullptr);  // every row holds a memory: later writes contract
  for (auto _ : bm) {
    typename memory::ContinuousMemory<float, Cuda>::WriteSaved ws;
    typename memory::ContinuousMemory<float, Cuda>::ReadSaved rs;
    const auto coeffs = ltm.write_forward(x, nullptr, state, &ws);
    double kl = 0;
    auto z = ltm.read_forward(coeffs, q, state, &rs, &kl);
    auto grads = ltm.read_backward(rs, dz, 1e-6, true, true);
    ltm.write_backward(ws, grads.dcoefficients);
    BT::synchronize(BT::default_context());
  }
  const double fe = static_cast<double>(e), fn = static_cast<double>(N), fl = static_cast<double>(L);
  // write: gate conv GEMM + fit/contraction; read: K, V, O projections, context; backward ≈ 2×.
  const double write = 2 * fl * 3 * fe * fe + 2 * fn * fe * fl + 2 * fn * fe * fn;
  const double read = 2 * 2 * fn * fe * fe + 2 * fl * fe * fe + 2 * fl * fn * fe;
  set_flops(bm, 3.0 * static_cast<double>(B) * (write + read));
}
BENCHMARK(BM_LtmReadUpdate)->Unit(benchmark::kMillisecond)->MinTime(1.0)->Repetitions(3)->UseRealTime();

// ---- ceilings ------------------------------------------------------------------------------------

// The product mnemo-bench's --backend cuda ceiling times too (mnemo/bench/gemm_ceiling.hpp).
template <class T>
void BM_GemmCeiling(benchmark::State& bm) {
  bench::SquareGemm<T, Cuda> product(4096);
  for (auto _ : bm) {
    product.run();
    BT::synchronize(product.context());
  }
  set_flops(bm, product.flops());
}
BENCHMARK(BM_GemmCeiling<__nv_bfloat16>)->Unit(benchmark::kMillisecond)->MinTime(0.5)->Repetitions(3)->UseRealTime();
BENCHMARK(BM_GemmCeiling<float>)->Unit(benchmark::kMillisecond)->MinTime(0.5)->Repetitions(3)->UseRealTime();

void BM_CopyCeiling(benchmark::State& bm) {
  const int64_t bytes = int64_t{1} << 30;
  Tensor<uint8_t, Cuda> src(Shape{bytes}), dst(Shape{bytes});
  auto& ctx = BT::default_context();
  BT::fill(ctx, src.data(), bytes, uint8_t{1});
  for (auto _ : bm) {
    BT::copy_device(ctx, dst.data(), src.data(), static_cast<size_t>(bytes));
    BT::synchronize(ctx);
  }
  bm.counters["GBps"] = benchmark::Counter(2.0 * static_cast<double>(bytes) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_CopyCeiling)->Unit(benchmark::kMillisecond)->MinTime(0.5)->Repetitions(3)->UseRealTime();

}  // namespace
