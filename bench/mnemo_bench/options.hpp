// bench/mnemo_bench/options.hpp — mnemo-bench's command line: the cases, their parameters and
// defaults, and the parser. It includes no model header, so the parser's tests compile cheaply
// (tests/cpu/test_bench_cli.cpp).
//
//   mnemo-bench CASE [--PARAM V[,V...]]... [--causal] [--repetitions N] [--warmup N]
//               [--min-time S] [--gemm-n N] [--json FILE] [--plot FILE.png] [--quiet]
//               [--config FILE]   (the same options from a file, one per line)
//   mnemo-bench --compare A.json B.json
//   mnemo-bench --help | --list | CASE --help
//
// Every parameter takes a comma-separated list: each combination of the values is one run (a
// sweep). Bad input throws UsageError naming the option, what was expected and what came;
// main() prints it and exits with status 2.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "mnemo/core/error.hpp"

namespace mnemo::bench_cli {

/// The command line is wrong: an unknown case or option, a missing or malformed value.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& m) : Error("UsageError", m) {}
};

/// The command line is valid but this machine cannot run it now (e.g. `--backend cuda` in a CUDA
/// build on a machine without a usable GPU). main() exits with status 2, as for a UsageError.
class UnavailableError : public Error {
 public:
  explicit UnavailableError(const std::string& m) : Error("UnavailableError", m) {}
};

/// One parameter of a case: an integer or one of a set of words; every one takes a list.
struct ParamSpec {
  enum class Kind { Int, Choice };
  std::string name;                  // without the leading "--"
  Kind kind = Kind::Int;
  std::string fallback;              // default value(s), as typed on a command line
  std::string help;
  int64_t min = 1;                   // Int: smallest accepted value
  int64_t max = int64_t{1} << 24;    // Int: largest accepted value (guards against typos)
  std::vector<std::pair<std::string, std::string>> choices;  // Choice: {accepted word, canonical}
};

/// One case mnemo-bench can run.
struct CaseSpec {
  std::string name;
  std::string help;
  std::vector<ParamSpec> params;     // the common ones (dtype, backend, threads) included
  std::vector<std::string> flags;    // boolean switches, e.g. "causal"
};

namespace detail {
inline ParamSpec int_param(std::string name, std::string fallback, std::string help, int64_t min = 1) {
  ParamSpec p;
  p.name = std::move(name);
  p.fallback = std::move(fallback);
  p.help = std::move(help);
  p.min = min;
  return p;
}
inline ParamSpec choice_param(std::string name, std::string fallback, std::string help,
                              std::vector<std::pair<std::string, std::string>> choices) {
  ParamSpec p;
  p.name = std::move(name);
  p.kind = ParamSpec::Kind::Choice;
  p.fallback = std::move(fallback);
  p.help = std::move(help);
  p.choices = std::move(choices);
  return p;
}
/// dtype, backend, threads: every case has them. The dtype words are the element types mnemo
/// knows; which of them this build runs is decided when the case runs (cases.cpp).
inline std::vector<ParamSpec> common_params() {
  return {choice_param("dtype", "float", "element type",
                       {{"float", "float32"}, {"float32", "float32"}, {"f32", "float32"},
                        {"double", "float64"}, {"float64", "float64"}, {"f64", "float64"},
                        {"bf16", "bfloat16"}, {"bfloat16", "bfloat16"},
                        {"half", "float16"}, {"fp16", "float16"}, {"float16", "float16"}}),
          choice_param("backend", "cpu", "where the case runs", {{"cpu", "cpu"}, {"cuda", "cuda"}}),
          int_param("threads", "0", "CPU threads (0: MNEMO_NUM_THREADS, OMP_NUM_THREADS or the hardware's)", 0)};
}
inline std::vector<ParamSpec> memformer_params(const char* batch) {
  return {int_param("batch", batch, "streams (batch rows)"),
          int_param("d", "256", "d_model"),
          int_param("heads", "4", "attention heads (must divide --d)"),
          int_param("ff", "1024", "feed-forward width d_ff"),
          int_param("slots", "64", "memory slots K"),
          int_param("segment", "64", "segment length L"),
          int_param("encoder-layers", "4", "encoder layers"),
          int_param("decoder-layers", "4", "decoder layers", 0),
          int_param("vocab", "256", "vocabulary size")};
}
inline CaseSpec make_case(std::string name, std::string help, std::vector<ParamSpec> params,
                          std::vector<std::string> flags = {}) {
  for (auto& p : common_params()) params.push_back(std::move(p));
  return {std::move(name), std::move(help), std::move(params), std::move(flags)};
}
}  // namespace detail

/// Every case, in the order --list prints them.
inline const std::vector<CaseSpec>& cases() {
  using namespace detail;
  static const std::vector<CaseSpec> all = [] {
    std::vector<CaseSpec> c;
    c.push_back(make_case(
        "attention", "nn::MultiHeadAttention: self- or cross-attention, forward or forward+backward",
        {int_param("batch", "1", "batch rows"), int_param("len", "128", "query rows L"),
         int_param("keys", "64", "key rows of --kind cross (self-attention uses --len)"),
         int_param("d", "256", "d_model"), int_param("heads", "4", "heads (must divide --d)"),
         choice_param("kind", "self", "self- or cross-attention", {{"self", "self"}, {"cross", "cross"}}),
         choice_param("pass", "forward", "forward only (no tape) or forward+backward through the tape",
                      {{"forward", "forward"}, {"train", "train"}})},
        {"causal"}));
    c.push_back(make_case("memformer-step", "Memformer::step with a target: encoder + writer + decoder logits",
                          memformer_params("1")));
    c.push_back(make_case("memformer-read", "Memformer::step without a target: encoder + writer (reading a stream)",
                          memformer_params("1")));
    c.push_back(make_case("memformer-generate",
                          "Memformer::generate of one segment (decoder with cache), then the step that encodes it",
                          memformer_params("1")));
    auto rollout = memformer_params("2");
    rollout.insert(rollout.begin(), int_param("rollout", "4", "segment steps T per rollout"));
    rollout.insert(rollout.begin(), choice_param("method", "mrbp", "training method",
                                                 {{"mrbp", "mrbp"}, {"bptt", "bptt"}}));
    c.push_back(make_case("rollout", "one Memformer training rollout (forward + backward) with MRBP or BPTT", rollout));
    c.push_back(make_case(
        "infinite-step", "InfiniteFormer::step (inference) in steady state: short-term window full, LTM in use",
        {int_param("batch", "1", "streams (batch rows)"), int_param("d", "256", "d_model"),
         int_param("heads", "4", "heads (must divide --d)"), int_param("ff", "1024", "feed-forward width d_ff"),
         int_param("layers", "2", "decoder layers"), int_param("segment", "128", "segment length L"),
         int_param("stm-segments", "1", "past segments in the short-term window", 0),
         int_param("basis", "128", "basis functions N of each layer's LTM (a multiple of 2)"),
         int_param("samples", "128", "samples M of the old signal per update"), int_param("vocab", "256", "vocabulary size")}));
    c.push_back(make_case(
        "ltm", "memory::ContinuousMemory: one update (write) and one read of a segment",
        {int_param("batch", "1", "streams (batch rows)"), int_param("d", "256", "d_model"),
         int_param("heads", "4", "heads (must divide --d)"), int_param("segment", "128", "vectors written per update L"),
         int_param("queries", "128", "queries read"),
         int_param("basis", "128", "basis functions N (a multiple of 2)"),
         int_param("samples", "128", "samples M of the old signal per update")}));
    return c;
  }();
  return all;
}

/// Aliases: a name that runs a case with one parameter fixed (`mrbp` = rollout --method mrbp).
inline const std::map<std::string, std::pair<std::string, std::pair<std::string, std::string>>>& case_aliases() {
  static const std::map<std::string, std::pair<std::string, std::pair<std::string, std::string>>> a = {
      {"mrbp", {"rollout", {"method", "mrbp"}}}, {"bptt", {"rollout", {"method", "bptt"}}}};
  return a;
}

/// n of the GEMM ceiling when --gemm-n is not given: 1024 on the CPU; 4096 on CUDA, where a
/// 1024³ product is too short to reach the GPU's rate.
inline int64_t default_gemm_n(const std::string& backend) { return backend == "cuda" ? 4096 : 1024; }

/// How each case is measured (not swept).
struct RunSettings {
  int repetitions = 5;         // timed samples
  int warmup = 1;              // untimed calls first
  double min_time = 0.05;      // seconds: a repetition repeats the call to last at least this long
  int64_t gemm_n = -1;         // n of the n³ GEMM ceiling; 0: not measured; -1: the backend's
                               // default (default_gemm_n)
  std::string json;            // write the results here ("" : no JSON)
  std::string plot;            // FILE.png: write FILE.dat, FILE.gp and, with gnuplot, FILE.png
  bool progress = true;        // progress lines on stderr
};

/// One point of a sweep: every parameter of the case with one value (canonical spelling).
class Point {
 public:
  std::vector<std::pair<std::string, std::string>> values;
  std::set<std::string> flags;

  /// The value of parameter `name` (throws UsageError for a name the case lacks: a bug).
  const std::string& str(const std::string& name) const {
    for (const auto& [k, v] : values)
      if (k == name) return v;
    throw UsageError(mnemo::detail::cat("no parameter --", name, " in this case"));
  }
  int64_t integer(const std::string& name) const { return std::stoll(str(name)); }
  bool flag(const std::string& name) const { return flags.count(name) != 0; }
};

/// What the command line asks for.
struct Invocation {
  enum class Action { Run, Compare, Help, List };
  Action action = Action::Help;
  std::string case_name;                       // Run, or Help of one case ("" : general help)
  std::vector<std::pair<std::string, std::vector<std::string>>> values;  // every parameter, spec order
  std::set<std::string> flags;
  RunSettings settings;
  std::vector<std::string> compare_files;      // Compare: two JSON files

  /// Parameters given more than one value, in spec order.
  std::vector<std::string> swept() const {
    std::vector<std::string> out;
    for (const auto& [name, vals] : values)
      if (vals.size() > 1) out.push_back(name);
    return out;
  }
  /// Every combination of the values, the first parameter varying slowest.
  std::vector<Point> points() const {
    std::vector<Point> out(1);
    out[0].flags = flags;
    for (const auto& [name, vals] : values) {
      std::vector<Point> next;
      for (const auto& p : out)
        for (const auto& v : vals) {
          Point q = p;
          q.values.emplace_back(name, v);
          next.push_back(std::move(q));
        }
      out = std::move(next);
    }
    return out;
  }
};

/// The case named `name` (an alias resolves to its case); nullptr if none.
inline const CaseSpec* find_case(const std::string& name) {
  for (const auto& c : cases())
    if (c.name == name) return &c;
  const auto it = case_aliases().find(name);
  return it == case_aliases().end() ? nullptr : find_case(it->second.first);
}

inline std::string case_names() {
  std::string out;
  for (const auto& c : cases()) out += (out.empty() ? "" : ", ") + c.name;
  for (const auto& [alias, target] : case_aliases()) out += ", " + alias;
  return out;
}

namespace detail {
inline std::vector<std::string> split_list(const std::string& option, const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ','))
    out.push_back(item);
  if (!text.empty() && text.back() == ',') out.emplace_back();
  for (const auto& v : out)
    if (v.empty())
      throw UsageError(mnemo::detail::cat("--", option, ": expected a value or a comma-separated list of values, got '",
                                          text, "' (an empty item)"));
  if (out.empty()) throw UsageError(mnemo::detail::cat("--", option, ": expected a value, got an empty string"));
  return out;
}

inline int64_t parse_integer(const std::string& option, const std::string& text, int64_t min, int64_t max,
                             const char* what) {
  const auto bad = [&](const char* why) {
    return UsageError(mnemo::detail::cat("--", option, ": expected ", what, " in [", min, ", ", max, "], got '", text,
                                         "'", why));
  };
  if (text.empty() || (text[0] != '-' && (text[0] < '0' || text[0] > '9'))) throw bad("");
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (*end != '\0') throw bad(" (not an integer)");
  if (errno == ERANGE || v < min || v > max) throw bad(" (out of range)");
  return v;
}

inline double parse_seconds(const std::string& option, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE || !(v >= 0) || v > 3600)
    throw UsageError(mnemo::detail::cat("--", option, ": expected a number of seconds in [0, 3600], got '", text, "'"));
  return v;
}

inline std::string expected_choices(const ParamSpec& p) {
  std::string out;
  for (const auto& [word, canonical] : p.choices) out += (out.empty() ? "" : ", ") + word;
  return out;
}

/// Checks and canonicalises the values of parameter `p`.
inline std::vector<std::string> parse_values(const ParamSpec& p, const std::string& text) {
  std::vector<std::string> out;
  for (const auto& item : split_list(p.name, text)) {
    if (p.kind == ParamSpec::Kind::Int) {
      out.push_back(std::to_string(parse_integer(p.name, item, p.min, p.max, "an integer (or a comma-separated list)")));
    } else {
      const auto it = std::find_if(p.choices.begin(), p.choices.end(), [&](const auto& c) { return c.first == item; });
      if (it == p.choices.end())
        throw UsageError(mnemo::detail::cat("--", p.name, ": expected one of ", expected_choices(p), ", got '", item, "'"));
      out.push_back(it->second);
    }
  }
  return out;
}
}  // namespace detail

/// Replaces every `--config FILE` by the options the file holds: one per line, `name value`,
/// `name=value` or a lone `name` for a switch (a leading "--" optional); '#' starts a comment.
inline std::vector<std::string> expand_config_files(const std::vector<std::string>& args) {
  using mnemo::detail::cat;
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] != "--config") {
      out.push_back(args[i]);
      continue;
    }
    if (i + 1 >= args.size()) throw UsageError("--config: expected a file name after it, got the end of the arguments");
    const std::string& path = args[++i];
    std::ifstream in(path);
    if (!in) throw UsageError(cat("--config: expected a readable file, got '", path, "' (cannot open it)"));
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      line = line.substr(0, line.find('#'));
      std::istringstream words(line);
      std::vector<std::string> w;
      for (std::string word; words >> word;) w.push_back(word);
      if (w.empty()) continue;
      if (w.size() > 2)
        throw UsageError(cat("--config ", path, " line ", number, ": expected 'name value', got '", line, "'"));
      std::string name = w[0].rfind("--", 0) == 0 ? w[0] : "--" + w[0];
      if (name == "--config") throw UsageError(cat("--config ", path, " line ", number, ": expected no nested --config"));
      out.push_back(name);
      if (w.size() == 2) out.push_back(w[1]);
    }
  }
  return out;
}

/// Parses argv[1..] (the program name excluded). Throws UsageError on anything it cannot use.
inline Invocation parse(const std::vector<std::string>& raw_args) {
  using mnemo::detail::cat;
  const std::vector<std::string> args = expand_config_files(raw_args);
  Invocation inv;
  if (args.empty()) throw UsageError(cat("expected a case (", case_names(), ") or --help, got no arguments"));
  const std::string& first = args[0];
  if (first == "--help" || first == "-h" || first == "help") return inv;
  if (first == "--list") {
    inv.action = Invocation::Action::List;
    return inv;
  }
  if (first == "--compare" || first == "compare") {
    inv.action = Invocation::Action::Compare;
    inv.compare_files.assign(args.begin() + 1, args.end());
    if (inv.compare_files.size() != 2)
      throw UsageError(cat("--compare: expected two JSON files (A.json B.json), got ", inv.compare_files.size()));
    return inv;
  }
  const CaseSpec* spec = find_case(first);
  if (spec == nullptr) throw UsageError(cat("unknown case '", first, "', expected one of: ", case_names()));
  inv.action = Invocation::Action::Run;
  inv.case_name = spec->name;

  std::map<std::string, std::string> given;  // parameter -> text as given
  const auto alias = case_aliases().find(first);
  if (alias != case_aliases().end()) given[alias->second.second.first] = alias->second.second.second;

  const auto expected_options = [&] {
    std::string out;
    for (const auto& p : spec->params) out += (out.empty() ? "--" : ", --") + p.name;
    for (const auto& f : spec->flags) out += ", --" + f;
    return out + ", --repetitions, --warmup, --min-time, --gemm-n, --json, --plot, --quiet, --config, --help";
  };

  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      inv.action = Invocation::Action::Help;
      return inv;
    }
    if (arg.rfind("--", 0) != 0 || arg.size() == 2)
      throw UsageError(cat(spec->name, ": expected an option (--name value), got '", arg, "'"));
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (std::find(spec->flags.begin(), spec->flags.end(), name) != spec->flags.end()) {
      if (has_value) throw UsageError(cat("--", name, ": a switch takes no value, got '", value, "'"));
      inv.flags.insert(name);
      continue;
    }
    if (name == "quiet") {
      if (has_value) throw UsageError(cat("--quiet: a switch takes no value, got '", value, "'"));
      inv.settings.progress = false;
      continue;
    }
    const bool is_param = std::any_of(spec->params.begin(), spec->params.end(), [&](const auto& p) { return p.name == name; });
    static const std::set<std::string> kSettings = {"repetitions", "warmup", "min-time", "gemm-n", "json", "plot"};
    if (!is_param && kSettings.count(name) == 0)
      throw UsageError(cat(spec->name, ": unknown option '--", name, "', expected one of: ", expected_options()));
    if (!has_value) {
      if (i + 1 >= args.size()) throw UsageError(cat("--", name, ": expected a value after it, got the end of the arguments"));
      value = args[++i];
      if (value.rfind("--", 0) == 0) throw UsageError(cat("--", name, ": expected a value after it, got the option '", value, "'"));
    }
    if (given.count(name) || (kSettings.count(name) && given.count("@" + name))) {
      if (alias != case_aliases().end() && name == alias->second.second.first)
        throw UsageError(cat("--", name, ": '", first, "' fixes it to ", alias->second.second.second,
                             "; use the case '", spec->name, "' to choose it"));
      throw UsageError(cat("--", name, ": given twice, expected it once (a sweep is one comma-separated list: --", name,
                           " 64,128)"));
    }
    if (is_param) {
      given[name] = value;
      continue;
    }
    given["@" + name] = value;
    auto& s = inv.settings;
    if (name == "repetitions") s.repetitions = static_cast<int>(detail::parse_integer(name, value, 1, 100000, "an integer"));
    else if (name == "warmup") s.warmup = static_cast<int>(detail::parse_integer(name, value, 0, 100000, "an integer"));
    else if (name == "gemm-n") s.gemm_n = detail::parse_integer(name, value, 0, 16384, "an integer (0: no ceiling)");
    else if (name == "min-time") s.min_time = detail::parse_seconds(name, value);
    else if (name == "json" || name == "plot") {
      if (value.empty()) throw UsageError(cat("--", name, ": expected a file name, got an empty string"));
      if (name == "plot" && (value.size() < 5 || value.substr(value.size() - 4) != ".png"))
        throw UsageError(cat("--plot: expected a file name ending in .png, got '", value, "'"));
      (name == "json" ? s.json : s.plot) = value;
    }
  }
  for (const auto& p : spec->params) {
    const auto it = given.find(p.name);
    inv.values.emplace_back(p.name, detail::parse_values(p, it == given.end() ? p.fallback : it->second));
  }
  if (!inv.settings.plot.empty() && inv.swept().empty())
    throw UsageError(cat("--plot: expected a sweep (a parameter given as a list, e.g. --segment 64,128), got none"));
  return inv;
}

/// The help text of one case (or, for nullptr, of the program).
inline std::string help_text(const CaseSpec* spec) {
  std::ostringstream out;
  if (spec == nullptr) {
    out << "mnemo-bench: measure mnemo's layers and models at any shape, precision and thread count.\n\n"
           "usage: mnemo-bench CASE [--PARAM V[,V,...]]... [options]\n"
           "       mnemo-bench --compare A.json B.json\n"
           "       mnemo-bench CASE --help     (the case's parameters and defaults)\n\ncases:\n";
    for (const auto& c : cases()) out << "  " << c.name << std::string(c.name.size() < 20 ? 20 - c.name.size() : 1, ' ') << c.help << "\n";
    for (const auto& [alias, target] : case_aliases())
      out << "  " << alias << std::string(20 - alias.size(), ' ') << target.first << " --" << target.second.first << " "
          << target.second.second << "\n";
  } else {
    out << "mnemo-bench " << spec->name << ": " << spec->help << "\n\nparameters (each takes a comma-separated list to sweep):\n";
    for (const auto& p : spec->params) {
      out << "  --" << p.name << std::string(p.name.size() < 18 ? 18 - p.name.size() : 1, ' ') << p.help << " [" << p.fallback << "]";
      if (p.kind == ParamSpec::Kind::Choice) out << " {" << detail::expected_choices(p) << "}";
      out << "\n";
    }
    for (const auto& f : spec->flags) out << "  --" << f << std::string(f.size() < 18 ? 18 - f.size() : 1, ' ') << "switch\n";
  }
  out << "\noptions:\n"
         "  --repetitions N   timed samples per case [5]\n"
         "  --warmup N        untimed calls before them [1]\n"
         "  --min-time S      seconds a sample lasts at least (the call is repeated) [0.05]\n"
         "  --gemm-n N        n of the n^3 GEMM ceiling measured in the run; 0: none [1024; cuda: 4096]\n"
         "  --json FILE       write every result (and every sample) as JSON\n"
         "  --plot FILE.png   draw a sweep: FILE.dat + FILE.gp, and FILE.png when gnuplot is installed\n"
         "  --quiet           no progress lines on stderr\n"
         "  --config FILE     read options from FILE: one per line, 'name value' ('#' comments)\n"
         "exit status: 0 done, 1 a case failed while running, 2 bad arguments, an unsupported dtype/backend\n"
         "             or no GPU for --backend cuda\n";
  return out.str();
}

}  // namespace mnemo::bench_cli
