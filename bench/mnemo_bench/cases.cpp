// bench/mnemo_bench/cases.cpp — mnemo-bench's cases on the CPU, and the dispatch of every point
// of a sweep to its backend: the CPU here, CUDA in cases_cuda.cu (a CUDA build only). The cases
// themselves are workloads.hpp, timed by run_point.hpp; this is the only CPU translation unit of
// mnemo-bench that includes the models (it links mnemo::compiled).
#include "mnemo_bench/cases.hpp"

#include <cstdio>
#include <string>
#include <type_traits>
#include <vector>

#include <unistd.h>

#include "mnemo/mnemo.hpp"
// bfloat16 is not instantiated in mnemo::compiled: its models are instantiated here, and the
// ∞-former memory's operators need their bodies (docs/compile_time.md; mnemo.hpp includes them
// too, this says why they must stay).
#include "mnemo/memory/continuous_operators.hpp"
#include "mnemo_bench/backends.hpp"
#include "mnemo_bench/run_point.hpp"
#include "mnemo_bench/workloads.hpp"
#if MNEMO_BENCH_CUDA
#include "mnemo_bench/cuda_cases.hpp"
#endif

namespace mnemo::bench_cli {

namespace {

// The CPU element types this build runs (backends.hpp). bfloat16's GEMM is VDPBF16PS on a CPU
// with avx512_bf16 and a portable kernel on any other (backend/cpu/gemm_bf16.hpp).
using CpuDtypes = DtypeList<float, double, bfloat16>;

std::vector<BackendSupport> built_backends() {
  std::vector<BackendSupport> b{backend_support("cpu", "CPU", CpuDtypes{})};
#if MNEMO_BENCH_CUDA
  b.push_back(cuda_backend());
#endif
  return b;
}

/// A rough lower bound of the bytes a case holds at once (parameters, state, one step's
/// activations; BPTT keeps every step's), from its dominant terms, so that a typo such as
/// `--slots 16777216` is refused with a message instead of swapping the machine.
double estimated_bytes(const std::string& name, const Point& p, double element_bytes) {
  const auto get = [&](const char* n) {
    for (const auto& [k, v] : p.values)
      if (k == n) return static_cast<double>(std::stoll(v));
    return 0.0;
  };
  const double B = get("batch"), d = get("d"), h = get("heads"), ff = get("ff"), V = get("vocab");
  double elements = 0;
  if (name == "attention") {
    const double L = get("len"), K = p.str("kind") == "cross" ? get("keys") : L;
    elements = 4 * d * d + B * (L + K) * d * 6 + B * h * L * K * (p.str("pass") == "train" ? 2 : 1);
  } else if (name == "ltm") {
    const double L = get("segment"), Q = get("queries"), N = get("basis"), M = get("samples");
    elements = 6 * d * d + B * N * d + B * L * 3 * d + B * h * Q * N + N * N + (M + L) * N;
  } else if (name == "infinite-step") {
    const double L = get("segment"), N = get("basis"), M = get("samples"), S = get("stm-segments"), layers = get("layers");
    elements = layers * (10 * d * d + 2 * d * ff) + V * d + B * layers * (N * d + S * L * d) +
               B * L * (ff + 6 * d) + B * h * L * ((S + 1) * L + N) + N * N + (M + L) * N + B * L * V;
  } else {  // the Memformer cases
    const double L = get("segment"), K = get("slots"), layers = get("encoder-layers") + get("decoder-layers");
    const double step = layers * (B * L * (ff + 8 * d) + B * h * L * (L + K)) + B * L * V;
    const double steps = name == "rollout" && p.str("method") == "bptt" ? get("rollout") + 1 : 1;
    elements = layers * (8 * d * d + 2 * d * ff) + V * d + B * K * d * (name == "rollout" ? get("rollout") + 1 : 1) +
               steps * step;
  }
  return elements * element_bytes;
}

/// Throws UsageError when estimated_bytes() exceeds `have` bytes (`where`: whose memory).
void check_fits(const std::string& name, const Point& p, double element_bytes, double have, const char* where) {
  const double need = estimated_bytes(name, p, element_bytes);
  if (have > 0 && need > have)
    throw UsageError(mnemo::detail::cat(name, ": this shape needs at least about ", need / (1 << 30), " GiB, expected it to fit in ",
                                        where, " ", have / (1 << 30), " GiB of memory (a typo in a size?)"));
}

/// Physical memory of this machine, in bytes.
double host_memory_bytes() {
  return static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

template <class T>
CaseResult run_cpu_point(const Invocation& inv, const Point& p, size_t index, size_t total) {
  if constexpr (std::is_same_v<T, bfloat16>) {
    static bool said = false;
    if (inv.settings.progress && !said)
      std::fprintf(stderr, "bfloat16 GEMM: %s\n",
                   cpu::cpu_has_avx512_bf16() ? "the AVX512-BF16 kernel (VDPBF16PS)"
                   : cpu::cpu_has_avx2_fma()
                       ? "the AVX2 kernel (this CPU has no avx512_bf16: bfloat16 widened to fp32, fp32 FMA)"
                       : "the portable kernel (this CPU has neither avx512_bf16 nor AVX2: expect a lower rate)");
    said = true;
  }
  if constexpr (std::is_same_v<T, float>) {
    static bool said = false;
    if (inv.settings.progress && !said) {
      const cpu::AttentionKernel kernel = cpu::attention_kernel();
      std::fprintf(stderr, "float attention (head width a multiple of 16): %s (MNEMO_ATTENTION_KERNEL=%s)\n",
                   kernel == cpu::AttentionKernel::Avx512 ? "AVX-512 register tiles"
                   : kernel == cpu::AttentionKernel::Avx2 ? "AVX2 register tiles"
                                                          : "a GEMM call per block of queries",
                   cpu::attention_kernel_name(kernel));
    }
    said = true;
  }
  return run_point<T, Cpu>(inv, p, index, total);
}

}  // namespace

void check_supported(const Invocation& inv) {
  check_supported(inv, built_backends());
#if MNEMO_BENCH_CUDA
  for (const Point& p : inv.points())
    if (p.str("backend") == "cuda") {
      require_cuda_device();
      break;
    }
#endif
}

std::vector<CaseResult> run_cases(const Invocation& inv) {
  check_supported(inv);
  const auto backends = built_backends();
  const auto points = inv.points();
  for (const Point& p : points) {
    const double bytes = static_cast<double>(find_backend(backends, p.str("backend"))->element_bytes(p.str("dtype")));
#if MNEMO_BENCH_CUDA
    if (p.str("backend") == "cuda") {
      check_fits(inv.case_name, p, bytes, cuda_device_memory_bytes(), "the GPU's");
      continue;
    }
#endif
    check_fits(inv.case_name, p, bytes, host_memory_bytes(), "this machine's");
  }
  std::vector<CaseResult> out;
  for (size_t i = 0; i < points.size(); ++i) {
    const Point& p = points[i];
#if MNEMO_BENCH_CUDA
    if (p.str("backend") == "cuda") {
      out.push_back(run_cuda_point(inv, p, i, points.size()));
      continue;
    }
#endif
    out.push_back(with_dtype<CaseResult>(
        p.str("dtype"), [&](auto t) { return run_cpu_point<decltype(t)>(inv, p, i, points.size()); }, CpuDtypes{}));
  }
  return out;
}

}  // namespace mnemo::bench_cli
