// bench/mnemo_bench/cases.hpp — runs the cases of options.hpp (cases.cpp: the only translation
// unit of mnemo-bench that includes the models; it links mnemo::compiled).
#pragma once

#include <vector>

#include "mnemo_bench/options.hpp"
#include "mnemo_bench/report.hpp"

namespace mnemo::bench_cli {

/// Throws UsageError if a point asks for a dtype or backend this build does not run, before any
/// case starts (so a long sweep does not fail half way).
void check_supported(const Invocation& invocation);

/// Runs every point of the sweep in order; progress lines go to stderr unless settings say not.
std::vector<CaseResult> run_cases(const Invocation& invocation);

}  // namespace mnemo::bench_cli
