// bench/mnemo_bench/run_point.hpp — times one point of a sweep on backend B in element type T:
// the GEMM ceiling of (backend, dtype, threads) once per run, the workload's preparation and
// warm-up calls, then the timed repetitions with the backend's context synchronised around each
// (mnemo/bench/repeat_timer.hpp), and the arena's high-water mark over them
// (mnemo/bench/arena_peak.hpp): the CPU arena for --backend cpu, the GPU's for --backend cuda.
// Written once for every backend (cases.cpp, cases_cuda.cu).
#pragma once

#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <string>
#include <tuple>

#include "mnemo/bench/arena_peak.hpp"
#include "mnemo/bench/gemm_ceiling.hpp"
#include "mnemo/bench/repeat_timer.hpp"
#include "mnemo/backend/cpu/thread_pool.hpp"  // cpu::detail::default_thread_count (not in the compiled mode's headers)
#include "mnemo_bench/report.hpp"
#include "mnemo_bench/workloads.hpp"

namespace mnemo::bench_cli {

/// CPU time of the whole process (every thread), in seconds.
inline double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

/// The GEMM ceiling in GFLOP/s per (backend, dtype, threads, n), measured once per run.
inline std::map<std::tuple<std::string, std::string, int, int64_t>, double>& measured_ceilings() {
  static std::map<std::tuple<std::string, std::string, int, int64_t>, double> c;
  return c;
}

/// Runs point `p` (number `index` of `total`) of the invocation on B in T.
template <class T, class B>
CaseResult run_point(const Invocation& inv, const Point& p, size_t index, size_t total) {
  const RunSettings& settings = inv.settings;
  const int threads = static_cast<int>(p.integer("threads"));
  cpu::set_num_threads(threads > 0 ? threads : cpu::detail::default_thread_count());
  CaseResult r;
  r.case_name = inv.case_name;
  r.params = p.values;
  r.flags.assign(p.flags.begin(), p.flags.end());
  r.threads = cpu::num_threads();
  std::string label;
  for (const auto& [n, v] : p.values) label += " " + n + "=" + v;
  if (settings.progress) std::fprintf(stderr, "[%zu/%zu] %s%s\n", index + 1, total, inv.case_name.c_str(), label.c_str());

  auto& ctx = BackendTraits<B>::default_context();
  const auto synchronize = [&ctx] { BackendTraits<B>::synchronize(ctx); };
  const int64_t gemm_n = settings.gemm_n >= 0 ? settings.gemm_n : default_gemm_n(p.str("backend"));
  if (gemm_n > 0) {
    auto& c = measured_ceilings()[{p.str("backend"), p.str("dtype"), r.threads, gemm_n}];
    if (c == 0) c = bench::measure_gemm_ceiling<T, B>(gemm_n, settings.repetitions, ctx).gflops;
    r.gemm_ceiling_gflops = c;
    r.gemm_ceiling_n = gemm_n;
  }

  Arena& arena = ctx.arena();
  Workload w = make_workload<T, B>(inv.case_name, p);
  for (int i = 0; i < w.prepare_calls; ++i) w.body();
  for (int i = 0; i < settings.warmup; ++i) w.body();
  synchronize();
  bench::ArenaPeak peak(arena);
  bench::RepeatOptions options;
  options.warmup = 0;
  options.repetitions = settings.repetitions;
  options.min_seconds = settings.min_time;
  options.synchronize = synchronize;
  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  auto last_line = started;
  if (settings.progress)
    options.on_repetition = [&](int rep, double seconds) {
      // A line per repetition once the case has run for more than 2 s, at most one a second.
      const auto now = Clock::now();
      if (std::chrono::duration<double>(now - started).count() > 2.0 &&
          std::chrono::duration<double>(now - last_line).count() > 1.0) {
        std::fprintf(stderr, "      repetition %d/%d: %.4g s per call\n", rep + 1, settings.repetitions, seconds);
        last_line = now;
      }
    };
  const double cpu_start = process_cpu_seconds();
  const auto times = bench::time_repetitions(w.body, options);
  r.cpu_seconds_per_call = (process_cpu_seconds() - cpu_start) / static_cast<double>(times.calls_made);
  r.seconds = times.seconds_per_call;
  r.stats = bench::summarize(r.seconds);
  r.calls_per_repetition = times.calls_per_repetition;
  r.tokens_per_call = w.tokens;
  r.flops_per_call = w.flops;
  r.peak_bytes = static_cast<double>(peak.peak());
  r.peak_above_start_bytes = static_cast<double>(peak.above_start());
  r.state_bytes_per_stream = w.state_bytes_per_stream ? w.state_bytes_per_stream() : 0.0;
  if (settings.progress)
    std::fprintf(stderr, "      median %.4g ms, spread %.1f%%\n", r.stats.median * 1e3, 100 * r.stats.spread());
  return r;
}

}  // namespace mnemo::bench_cli
