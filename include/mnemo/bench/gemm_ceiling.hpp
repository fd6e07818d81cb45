// mnemo/bench/gemm_ceiling.hpp — the GEMM ceiling: the rate a backend's GEMM
// (BackendTraits<B>::gemm: on the CPU Eigen's kernel, or the bfloat16 kernel, on mnemo's thread
// pool; on CUDA cuBLAS) reaches on a large square product, measured in the same run as a
// benchmark so that its GFLOP/s can be read as a fraction of what this machine, with these
// threads and this load, delivers. It is mnemo's GEMM, not the hardware's theoretical peak.
//
//   auto ceiling = mnemo::bench::measure_gemm_ceiling<float>(1024);             // CPU
//   auto gpu = mnemo::bench::measure_gemm_ceiling<__nv_bfloat16, mnemo::Cuda>(4096);  // in a .cu
//   double fraction = achieved_gflops / ceiling.gflops;
#pragma once

#include <cstdint>
#include <vector>

#include "mnemo/backend/cpu.hpp"
#include "mnemo/bench/flops.hpp"
#include "mnemo/bench/repeat_timer.hpp"
#include "mnemo/bench/sample_stats.hpp"
#include "mnemo/core/precision.hpp"
#include "mnemo/core/rng.hpp"
#include "mnemo/core/tensor.hpp"

namespace mnemo::bench {

/// The ceiling's product C = A·B on n×n matrices of T on backend B (inputs uniform in
/// [−0.5, 0.5), from a fixed seed): the one piece a Google Benchmark program and
/// measure_gemm_ceiling() share. run() queues one product; on an asynchronous backend (CUDA) it
/// may return before the product is done: synchronise the context before reading a clock.
template <class T, class B = Cpu>
class SquareGemm {
 public:
  /// Throws ValueError unless n >= 1.
  explicit SquareGemm(int64_t n, Context<B>& ctx = BackendTraits<B>::default_context()) : n_(n), ctx_(&ctx) {
    require<ValueError>(n >= 1, "bench::SquareGemm: n = ", n, ", expected >= 1");
    std::vector<T> a(static_cast<size_t>(n * n)), b(a.size());
    const RngKey key{7, 0x9e11};
    for (size_t i = 0; i < a.size(); ++i) {
      a[i] = static_cast<T>(static_cast<float>(key.uniform(2 * i) - 0.5));
      b[i] = static_cast<T>(static_cast<float>(key.uniform(2 * i + 1) - 0.5));
    }
    a_ = Tensor<T, B>::from_host(Shape{n, n}, a);
    b_ = Tensor<T, B>::from_host(Shape{n, n}, b);
    c_ = Tensor<T, B>(Shape{n, n});
  }

  /// One product C = A·B (queued on the context's stream).
  void run() {
    using C = compute_t<T>;
    BackendTraits<B>::template gemm<T>(*ctx_, Trans::N, Trans::N, n_, n_, n_, C(1), a_.data(), n_, 0, b_.data(), n_, 0,
                                       C(0), c_.data(), n_, 0, 1);
  }
  /// 2·n³: the FLOPs of one run().
  double flops() const { return gemm_flops(n_, n_, n_); }
  int64_t n() const { return n_; }
  Context<B>& context() const { return *ctx_; }

 private:
  int64_t n_;
  Context<B>* ctx_;
  Tensor<T, B> a_, b_, c_;
};

/// The result of measure_gemm_ceiling().
struct GemmCeiling {
  int64_t n = 0;         // the product was n×n×n
  SampleStats seconds;   // per product, over the repetitions
  double gflops = 0;     // 2·n³ / median seconds · 1e-9
};

/// Times SquareGemm<T, B>(n, ctx).run() (one warm-up, then `repetitions` products, the context
/// synchronised around each). Throws ValueError unless n >= 1 and repetitions >= 1.
template <class T, class B = Cpu>
GemmCeiling measure_gemm_ceiling(int64_t n = 1024, int repetitions = 5,
                                 Context<B>& ctx = BackendTraits<B>::default_context()) {
  require<ValueError>(repetitions >= 1, "bench::measure_gemm_ceiling: repetitions = ", repetitions, ", expected >= 1");
  require<ValueError>(n >= 1, "bench::measure_gemm_ceiling: n = ", n, ", expected >= 1");
  SquareGemm<T, B> product(n, ctx);
  RepeatOptions options;
  options.repetitions = repetitions;
  options.synchronize = [&ctx] { BackendTraits<B>::synchronize(ctx); };
  const auto times = time_repetitions([&] { product.run(); }, options);
  GemmCeiling out;
  out.n = n;
  out.seconds = summarize(times.seconds_per_call);
  out.gflops = product.flops() / out.seconds.median * 1e-9;
  return out;
}

}  // namespace mnemo::bench
