// bench/mnemo_bench/main.cpp — mnemo-bench: measure any of mnemo's layers and models at shapes,
// precision and threads given on the command line (docs/benchmarking.md).
//
// Exit status: 0 done; 1 a case failed while running (out of memory, a backend error);
// 2 bad arguments, an invalid configuration, a dtype/backend this build does not run, or
// `--backend cuda` on a machine without a usable GPU.
#include <cstdio>
#include <exception>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include "mnemo_bench/cases.hpp"
#include "mnemo_bench/options.hpp"
#include "mnemo_bench/report.hpp"

namespace {

int run(const std::vector<std::string>& args) {
  using namespace mnemo::bench_cli;
  const Invocation inv = parse(args);
  switch (inv.action) {
    case Invocation::Action::Help:
      std::cout << help_text(inv.case_name.empty() ? nullptr : find_case(inv.case_name));
      return 0;
    case Invocation::Action::List:
      for (const auto& c : cases()) std::cout << c.name << "\n";
      return 0;
    case Invocation::Action::Compare: {
      const auto a = read_json(inv.compare_files[0]), b = read_json(inv.compare_files[1]);
      return print_comparison(std::cout, a, b, inv.compare_files[0], inv.compare_files[1]) > 0 ? 0 : 1;
    }
    case Invocation::Action::Run:
      break;
  }
  const auto results = run_cases(inv);
  print_table(std::cout, results, inv.swept());
  std::string command_line = "mnemo-bench";
  for (const auto& a : args) command_line += " " + a;
  if (!inv.settings.json.empty()) {
    write_json(inv.settings.json, results, command_line);
    std::cerr << "--json: wrote " << inv.settings.json << "\n";
  }
  if (!inv.settings.plot.empty()) std::cerr << write_plot(inv.settings.plot, results, inv.swept()) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    return run(args);
  } catch (const mnemo::bench_cli::UsageError& e) {
    std::cerr << "mnemo-bench: " << e.what() << "\n(mnemo-bench --help lists the cases; mnemo-bench CASE --help their options)\n";
    return 2;
  } catch (const mnemo::bench_cli::UnavailableError& e) {
    std::cerr << "mnemo-bench: " << e.what() << "\n";
    return 2;
  } catch (const mnemo::ConfigError& e) {
    std::cerr << "mnemo-bench: " << e.what() << "\n";
    return 2;
  } catch (const mnemo::IoError& e) {
    std::cerr << "mnemo-bench: " << e.what() << "\n";
    return 2;
  } catch (const std::bad_alloc&) {
    std::cerr << "mnemo-bench: out of memory (try a smaller shape or batch)\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "mnemo-bench: " << e.what() << "\n";
    return 1;
  }
}
