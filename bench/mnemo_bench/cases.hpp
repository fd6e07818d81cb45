// bench/mnemo_bench/cases.hpp — runs the cases of options.hpp on the backends this build has
// (cases.cpp: the CPU, and the dispatch; cases_cuda.cu: CUDA, in a CUDA build).
#pragma once

#include <vector>

#include "mnemo_bench/options.hpp"
#include "mnemo_bench/report.hpp"

namespace mnemo::bench_cli {

/// Throws UsageError if a point asks for a dtype or backend this build does not run, and
/// UnavailableError if it asks for CUDA on a machine without a usable GPU, before any case
/// starts (so a long sweep does not fail half way).
void check_supported(const Invocation& invocation);

/// Runs every point of the sweep in order; progress lines go to stderr unless settings say not.
std::vector<CaseResult> run_cases(const Invocation& invocation);

}  // namespace mnemo::bench_cli
