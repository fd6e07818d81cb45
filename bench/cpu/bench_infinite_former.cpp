// ∞-former long-term memory: cost per token of one segment's read + update against full causal
// attention over the same stored context (infinite_former.md §1: read O(L_q·N·e + N·e²), update
// O((M+L)·N·e) per segment, independent of the context length).
//
// Shape: B = 8 rows, segment L = 512, d = 512, h = 8, N = 512, M = 512, float, LM preset of the
// memory (widths {0.005, 0.01}, λ 0.5, τ 0.5), gate on, sticky memories off.
//
//  BM_InfFormerLtmReadUpdate/<context>: one write (gate + contraction of the old signal into
//    [0, τ] + the new segment into [τ, 1]) and one read (the segment's 512 queries per head) on a
//    state that already summarises <context> tokens. The state is built by <context>/512 genuine
//    writes for 4k and 64k tokens; for 1M tokens by 8 writes followed by the effect of 2040
//    contraction steps of the same operator without the gate (B ← C_old·B + G_newᵀX), computed in
//    closed form by repeated squaring of C_old: the state is N·e numbers per row whatever the
//    context.
//  BM_FullAttention/<context>: softmax(QKᵀ/√d_h + causal mask) V of the segment's queries over
//    the cached keys/values of the whole context (projections of the context are not counted),
//    query chunks of 64 to bound the score buffer. B = 8 up to 64k; at 1M the K/V cache of 8 rows
//    (32 GB) does not fit, so 1M runs with B = 1 (the per-token cost does not depend on B).
//
// Counters: s_per_token (wall time / (B·L)); context_tokens; state_MB: what the stream keeps between segments (the
// LTM coefficients, or the K/V cache); work_MB: the arena's high-water mark during the iterations
// above what was in use before them (temporaries); total_MB = state_MB + work_MB.
#include <benchmark/benchmark.h>

#include <Eigen/Dense>

#include <cmath>
#include <map>
#include <memory>

#include "mnemo/mnemo.hpp"

using namespace mnemo;

namespace {

constexpr int64_t kBatch = 8, kSegment = 512, kModel = 512, kHeads = 8, kBasis = 512;

Tensor<float, Cpu> random_tensor(const Shape& shape, uint64_t seed, double scale = 1.0) {
  Tensor<float, Cpu> t(shape);
  const RngKey key{seed, 0x7e57};
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(scale * key.normal(static_cast<uint64_t>(i)));
  return t;
}

memory::ContinuousMemoryConfig ltm_config() {
  auto c = memory::ContinuousMemoryConfig::lm();
  c.basis.count = kBasis;
  c.segment_length = kSegment;
  return c;
}

struct LtmFixture {
  nn::ParameterStore<float, Cpu> store{1};
  memory::ContinuousMemory<float, Cpu> ltm{store, "ltm", kModel, kHeads, ltm_config()};
  Tensor<float, Cpu> x = random_tensor({kBatch, kSegment, kModel}, 2), q = random_tensor({kBatch, kHeads, kSegment, kModel / kHeads}, 3);
  std::map<int64_t, memory::ContinuousState<float, Cpu>> states;

  static LtmFixture& get() {
    static LtmFixture f;
    return f;
  }

  /// A state that summarises `context` tokens (see the file comment).
  memory::ContinuousState<float, Cpu>& state(int64_t context) {
    auto it = states.find(context);
    if (it != states.end()) return it->second;
    autograd::NoGrad off;
    auto s = ltm.initial_state(kBatch);
    const int64_t writes = context / kSegment, genuine = context <= 65536 ? writes : 8;
    for (int64_t k = 0; k < genuine; ++k) ltm.write_forward(x, nullptr, s, nullptr);
    if (genuine < writes) {
      // The remaining k = writes − genuine contraction steps B ← C·B + F (C = contract, F = G_newᵀX
      // per row) give B_k = C^k B_0 + (Σ_{i<k} C^i) F; both N×N factors by repeated squaring in
      // double (same result as k explicit steps, up to rounding; minutes cheaper).
      using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
      using MapF = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
      const auto& ops = ltm.operators()->for_length(kSegment);
      const Mat contract = MapF(ops.contract.data(), kBasis, kBasis).cast<double>();
      const Mat fit_new = MapF(ops.fit_new.data(), kSegment, kBasis).cast<double>();
      Mat power = Mat::Identity(kBasis, kBasis), sum = Mat::Zero(kBasis, kBasis);  // C^r, Σ_{i<r} C^i
      Mat block_power = contract, block_sum = Mat::Identity(kBasis, kBasis);          // C^m, Σ_{i<m} C^i, m = 2^j
      for (int64_t k = writes - genuine; k > 0; k >>= 1) {
        if (k & 1) {
          sum += power * block_sum;
          power = power * block_power;
        }
        block_sum += block_power * block_sum;
        block_power = block_power * block_power;
      }
      for (int64_t b = 0; b < kBatch; ++b) {
        const Mat xb = MapF(x.data() + b * kSegment * kModel, kSegment, kModel).cast<double>();
        const Mat b0 = MapF(s.coefficients.data() + b * kBasis * kModel, kBasis, kModel).cast<double>();
        const Mat next = power * b0 + sum * (fit_new.transpose() * xb);
        Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
            s.coefficients.data() + b * kBasis * kModel, kBasis, kModel) = next.cast<float>();
      }
      for (auto& t : s.tokens_written) t += (writes - genuine) * kSegment;
    }
    return states.emplace(context, std::move(s)).first->second;
  }
};

void BM_InfFormerLtmReadUpdate(benchmark::State& bm) {
  const int64_t context = bm.range(0);
  auto& f = LtmFixture::get();
  auto& s = f.state(context);
  autograd::NoGrad off;
  Arena& arena = BackendTraits<Cpu>::default_context().arena();
  arena.reset_peak();
  const size_t base = arena.stats().bytes_in_use;
  for (auto _ : bm) {
    const auto coeffs = f.ltm.write_forward(f.x, nullptr, s, nullptr);
    double kl = 0;
    auto z = f.ltm.read_forward(coeffs, f.q, s, nullptr, &kl);
    benchmark::DoNotOptimize(z.data());
  }
  bm.counters["s_per_token"] = benchmark::Counter(static_cast<double>(kBatch * kSegment),
                                                  benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  const double state_mb = static_cast<double>(s.numel() * static_cast<int64_t>(sizeof(float))) / 1e6;
  bm.counters["work_MB"] = static_cast<double>(arena.stats().peak_bytes - base) / 1e6;
  bm.counters["state_MB"] = state_mb;
  bm.counters["total_MB"] = state_mb + static_cast<double>(arena.stats().peak_bytes - base) / 1e6;
  bm.counters["context_tokens"] = static_cast<double>(context);
}

/// Causal softmax attention of the segment's queries over [context ; segment] keys, per (row,
/// head), in query chunks of 64.
void BM_FullAttention(benchmark::State& bm) {
  const int64_t context = bm.range(0), batch = context > 65536 ? 1 : kBatch, dh = kModel / kHeads;
  const int64_t keys = context + kSegment, chunk = 64;
  auto& ctx = BackendTraits<Cpu>::default_context();
  Arena& arena = ctx.arena();
  Tensor<float, Cpu> k({batch, kHeads, keys, dh}), v({batch, kHeads, keys, dh});
  {
    const RngKey key{4, 0};
    for (int64_t i = 0; i < k.numel(); ++i) {
      k[i] = key.uniform(static_cast<uint64_t>(2 * i)) - 0.5f;
      v[i] = key.uniform(static_cast<uint64_t>(2 * i + 1)) - 0.5f;
    }
  }
  const auto q = random_tensor({batch, kHeads, kSegment, dh}, 5);
  Tensor<float, Cpu> out({batch, kHeads, kSegment, dh});
  arena.reset_peak();
  const size_t base = arena.stats().bytes_in_use;
  Tensor<float, Cpu> scores({chunk, keys});
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  for (auto _ : bm) {
    for (int64_t bh = 0; bh < batch * kHeads; ++bh)
      for (int64_t q0 = 0; q0 < kSegment; q0 += chunk) {
        const float* qp = q.data() + (bh * kSegment + q0) * dh;
        const float* kp = k.data() + bh * keys * dh;
        const float* vp = v.data() + bh * keys * dh;
        BackendTraits<Cpu>::gemm<float>(ctx, Trans::N, Trans::T, chunk, keys, dh, 1.f, qp, dh, 0, kp, dh, 0, 0.f, scores.data(), keys, 0, 1);
        SoftmaxMask mask;
        mask.causal = true;
        mask.query_offset = context + q0;
        BackendTraits<Cpu>::softmax_forward<float>(ctx, scores.data(), scores.data(), SoftmaxDims{1, 1, chunk, keys}, scale, mask);
        BackendTraits<Cpu>::gemm<float>(ctx, Trans::N, Trans::N, chunk, dh, keys, 1.f, scores.data(), keys, 0, vp, dh, 0, 0.f,
                                        out.data() + (bh * kSegment + q0) * dh, dh, 0, 1);
      }
    benchmark::DoNotOptimize(out.data());
  }
  bm.counters["s_per_token"] = benchmark::Counter(static_cast<double>(batch * kSegment),
                                                  benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  const double state_mb = static_cast<double>(2 * k.bytes()) / 1e6;
  bm.counters["work_MB"] = static_cast<double>(arena.stats().peak_bytes - base) / 1e6;
  bm.counters["state_MB"] = state_mb;
  bm.counters["total_MB"] = state_mb + static_cast<double>(arena.stats().peak_bytes - base) / 1e6;
  bm.counters["batch"] = static_cast<double>(batch);
}

}  // namespace

// Wall-clock time (the kernels are multi-threaded): rates and s_per_token use it too. The CPU
// column is the process's CPU time over all threads (the robust figure on a shared machine).
BENCHMARK(BM_InfFormerLtmReadUpdate)->Arg(4096)->Arg(65536)->Arg(1048576)->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime()->MeasureProcessCPUTime();
BENCHMARK(BM_FullAttention)->Arg(4096)->Arg(16384)->Arg(65536)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime()->MeasureProcessCPUTime();
BENCHMARK(BM_FullAttention)->Arg(1048576)->Unit(benchmark::kMillisecond)->Iterations(1)->UseRealTime()->MeasureProcessCPUTime();
