// bench/mnemo_bench/report.hpp — what mnemo-bench measured for one case and how it is shown: the
// table, the JSON file, the comparison of two JSON files and the plot of a sweep (report.cpp).
// No model header: the tests of the JSON round trip and of --compare stay cheap.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include "mnemo/bench/sample_stats.hpp"

namespace mnemo::bench_cli {

/// One measured point of a sweep.
struct CaseResult {
  std::string case_name;
  std::vector<std::pair<std::string, std::string>> params;  // every parameter, canonical values
  std::vector<std::string> flags;
  std::vector<double> seconds;        // seconds per call, one sample per repetition
  mnemo::bench::SampleStats stats;    // of `seconds`
  int64_t calls_per_repetition = 1;
  double cpu_seconds_per_call = 0;    // process CPU time (all threads) over the timed calls, per call
  int threads = 0;                    // threads the CPU kernels could use
  double tokens_per_call = 0;
  double flops_per_call = 0;          // mnemo::bench formulas (docs/benchmarking.md)
  double gemm_ceiling_gflops = 0;     // measured in the same run for this dtype and thread count; 0: none
  int64_t gemm_ceiling_n = 0;
  double peak_bytes = 0;              // arena high-water mark (absolute)
  double peak_above_start_bytes = 0;  // ... above the bytes in use before the timed calls
  double state_bytes_per_stream = 0;  // what one stream keeps between calls

  double tokens_per_second() const { return stats.median > 0 ? tokens_per_call / stats.median : 0; }
  double gflops() const { return stats.median > 0 ? flops_per_call / stats.median * 1e-9 : 0; }
  double ceiling_fraction() const { return gemm_ceiling_gflops > 0 ? gflops() / gemm_ceiling_gflops : 0; }
  /// "d=256 segment=64": the parameters named in `names`.
  std::string label(const std::vector<std::string>& names) const;
  const std::string& param(const std::string& name) const;
};

/// Prints the results as an aligned table: the swept parameters first, then the columns of
/// docs/benchmarking.md. The parameters that do not vary are printed once above the table.
void print_table(std::ostream& out, const std::vector<CaseResult>& results, const std::vector<std::string>& swept);

/// Writes the results as JSON (format "mnemo-bench/1"; every sample included).
void write_json(const std::string& path, const std::vector<CaseResult>& results, const std::string& command_line);

/// Reads a file write_json() wrote. Throws mnemo::IoError naming the file and what is wrong.
std::vector<CaseResult> read_json(const std::string& path);

/// Matches the cases of `a` and `b` (same case, parameters and flags) and prints B/A ratios of
/// median time, tokens/s and peak memory; returns how many pairs matched.
int print_comparison(std::ostream& out, const std::vector<CaseResult>& a, const std::vector<CaseResult>& b,
                     const std::string& name_a, const std::string& name_b);

/// Writes `png_path` minus ".png" + ".dat" (one block per series) and + ".gp" (the gnuplot
/// script: median time and peak memory over the first swept parameter with numeric values, one
/// line per combination of the others), then runs gnuplot when it is on PATH. Returns a line saying what was written.
std::string write_plot(const std::string& png_path, const std::vector<CaseResult>& results,
                       const std::vector<std::string>& swept);

}  // namespace mnemo::bench_cli
