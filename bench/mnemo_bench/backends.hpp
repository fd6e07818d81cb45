// bench/mnemo_bench/backends.hpp — which backends and element types this build of mnemo-bench
// runs, and the check of a command line against them before any case starts. No model header:
// the check's messages are tested cheaply (tests/cpu/test_bench_cli.cpp).
//
// Each backend's translation unit names its element types once, as a DtypeList (cases.cpp: the
// CPU's; cases_cuda.cu: CUDA's), matched to --dtype by Precision<T>::name ("float32", "float64",
// "bfloat16", "float16": the canonical words of options.hpp).
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "mnemo/core/precision.hpp"
#include "options.hpp"  // same folder: the tests include this header by its path

namespace mnemo::bench_cli {

/// The element types a backend runs, as a type list.
template <class... Ts>
struct DtypeList {};

/// What one backend of this build runs.
struct BackendSupport {
  std::string name;   // the --backend word: "cpu", "cuda"
  std::string label;  // how messages name it: "CPU", "CUDA"
  std::vector<std::pair<std::string, size_t>> dtypes;  // Precision<T>::name, sizeof(T)

  bool has_dtype(const std::string& dtype) const { return element_bytes(dtype) != 0; }
  /// sizeof the element type named `dtype`; 0 when this backend has none.
  size_t element_bytes(const std::string& dtype) const {
    for (const auto& [name, bytes] : dtypes)
      if (name == dtype) return bytes;
    return 0;
  }
  std::string dtype_names() const {
    std::string out;
    for (const auto& [name, bytes] : dtypes) out += (out.empty() ? "" : ", ") + name;
    return out;
  }
};

/// A BackendSupport listing the types of `list`.
template <class... Ts>
BackendSupport backend_support(std::string name, std::string label, DtypeList<Ts...>) {
  return {std::move(name), std::move(label), {{Precision<Ts>::name, sizeof(Ts)}...}};
}

/// Calls f(T{}) for the type of `list` named `dtype`; throws UsageError if there is none (the
/// command line was checked by check_supported() before, so that is a bug).
template <class R, class F, class T, class... Ts>
R with_dtype(const std::string& dtype, F&& f, DtypeList<T, Ts...>) {
  if (dtype == Precision<T>::name) return f(T{});
  if constexpr (sizeof...(Ts) > 0) return with_dtype<R>(dtype, std::forward<F>(f), DtypeList<Ts...>{});
  throw UsageError(mnemo::detail::cat("--dtype: ", dtype, " is not built"));
}

/// The entry of `built` for --backend `name`; nullptr when this build has none.
inline const BackendSupport* find_backend(const std::vector<BackendSupport>& built, const std::string& name) {
  for (const auto& b : built)
    if (b.name == name) return &b;
  return nullptr;
}

/// Throws UsageError naming the option, what came and what this build has, for the first point
/// of the sweep whose --backend is not in `built` or whose --dtype that backend lacks.
inline void check_supported(const Invocation& inv, const std::vector<BackendSupport>& built) {
  using mnemo::detail::cat;
  for (const Point& p : inv.points()) {
    const std::string& backend = p.str("backend");
    const BackendSupport* b = find_backend(built, backend);
    if (b == nullptr) {
      std::string names;
      for (const auto& x : built) names += (names.empty() ? "" : ", ") + x.name;
      throw UsageError(cat("--backend ", backend, ": this build of mnemo-bench has no ", backend,
                           " backend (a CUDA build needs -DMNEMO_ENABLE_CUDA=ON and nvcc), expected one of: ", names));
    }
    const std::string& dtype = p.str("dtype");
    if (!b->has_dtype(dtype))
      throw UsageError(cat("--dtype ", dtype, ": this build has no ", b->label, " ", dtype,
                           " element type, expected one of: ", b->dtype_names()));
  }
}

}  // namespace mnemo::bench_cli
