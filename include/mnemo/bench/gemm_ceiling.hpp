// mnemo/bench/gemm_ceiling.hpp — the GEMM ceiling: the rate mnemo's CPU GEMM
// (BackendTraits<Cpu>::gemm: Eigen's kernel on mnemo's thread pool) reaches on a large square
// product, measured in the same run as a benchmark so that its GFLOP/s can be read as a fraction
// of what this machine, with these threads and this load, delivers. It is mnemo's GEMM, not the
// CPU's theoretical peak.
//
//   auto ceiling = mnemo::bench::measure_gemm_ceiling<float>(1024);
//   double fraction = achieved_gflops / ceiling.gflops;
#pragma once

#include <cstdint>

#include "mnemo/backend/cpu.hpp"
#include "mnemo/bench/flops.hpp"
#include "mnemo/bench/repeat_timer.hpp"
#include "mnemo/bench/sample_stats.hpp"
#include "mnemo/core/rng.hpp"
#include "mnemo/core/tensor.hpp"

namespace mnemo::bench {

/// The result of measure_gemm_ceiling().
struct GemmCeiling {
  int64_t n = 0;         // the product was n×n×n
  SampleStats seconds;   // per product, over the repetitions
  double gflops = 0;     // 2·n³ / median seconds · 1e-9
};

/// Times C = A·B with n×n matrices of T through BackendTraits<Cpu>::gemm on `ctx` (one warm-up,
/// then `repetitions` products). Throws ValueError unless n >= 1 and repetitions >= 1.
template <class T>
GemmCeiling measure_gemm_ceiling(int64_t n = 1024, int repetitions = 5,
                                 Context<Cpu>& ctx = BackendTraits<Cpu>::default_context()) {
  require<ValueError>(n >= 1, "bench::measure_gemm_ceiling: n = ", n, ", expected >= 1");
  Tensor<T, Cpu> a(Shape{n, n}), b(Shape{n, n}), c(Shape{n, n});
  const RngKey key{7, 0x9e11};
  for (int64_t i = 0; i < a.numel(); ++i) {
    a[i] = static_cast<T>(key.uniform(static_cast<uint64_t>(2 * i)) - 0.5);
    b[i] = static_cast<T>(key.uniform(static_cast<uint64_t>(2 * i + 1)) - 0.5);
  }
  RepeatOptions options;
  options.repetitions = repetitions;
  const auto times = time_repetitions(
      [&] {
        BackendTraits<Cpu>::gemm<T>(ctx, Trans::N, Trans::N, n, n, n, T(1), a.data(), n, 0, b.data(), n, 0, T(0),
                                    c.data(), n, 0, 1);
      },
      options);
  GemmCeiling out;
  out.n = n;
  out.seconds = summarize(times.seconds_per_call);
  out.gflops = gemm_flops(n, n, n) / out.seconds.median * 1e-9;
  return out;
}

}  // namespace mnemo::bench
