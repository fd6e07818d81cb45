// examples/example_args.hpp — the example programs' command lines: `--name value` pairs, -h/--help.
// Bad syntax or an unknown option prints a message and exits with status 2; a value that is not a
// number throws std::invalid_argument from std::stod/std::stoll.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <type_traits>

namespace examples {

class ExampleArgs {
 public:
  /// Reads argv; on -h/--help prints `usage` and exits 0.
  ExampleArgs(int argc, char** argv, const char* usage) {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "-h" || a == "--help") {
        std::fputs(usage, stdout);
        std::exit(0);
      }
      if (a.rfind("--", 0) != 0 || i + 1 >= argc) {
        std::fprintf(stderr, "bad argument '%s' (try --help)\n", a.c_str());
        std::exit(2);
      }
      values_[a.substr(2)] = argv[++i];
    }
  }

  /// Sets `field` from --name when it was given (string, floating point or integer field).
  template <class F>
  void take(const char* name, F& field) {
    auto it = values_.find(name);
    if (it == values_.end()) return;
    if constexpr (std::is_same_v<F, std::string>) field = it->second;
    else if constexpr (std::is_floating_point_v<F>) field = std::stod(it->second);
    else field = static_cast<F>(std::stoll(it->second));
    values_.erase(it);
  }

  /// Exits with status 2 when an option was given that no take() asked for.
  void reject_unknown() const {
    if (values_.empty()) return;
    std::fprintf(stderr, "unknown option --%s (try --help)\n", values_.begin()->first.c_str());
    std::exit(2);
  }

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace examples
