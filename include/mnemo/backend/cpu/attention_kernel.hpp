// mnemo/backend/cpu/attention_kernel.hpp — which kernel runs the products of the CPU attention in
// float (cpu/attention_forward.hpp, cpu/attention_head.hpp):
//   Avx512  register tiles of 6 rows × 64 columns, 16-float vectors (cpu/attention_tiles_avx512.hpp);
//   Avx2    register tiles of 6 rows × 16 columns, 8-float vectors, AVX2 + FMA
//           (cpu/attention_tiles_avx2.hpp);
//   Gemm    a GEMM call (the provider's or Eigen's) per block of queries, the path of double, of
//           head widths that are not a multiple of 16, and of CPUs without AVX2.
// Auto (the default) takes the widest the CPU has. The environment can say what Auto means, for
// comparisons in a whole program: MNEMO_ATTENTION_KERNEL=avx512|avx2|gemm|auto (read once; a
// value that is not one of these, or a kernel the CPU cannot run, makes the first attention call
// throw mnemo::Error), else MNEMO_ATTENTION_AVX512=0 (the older switch) means gemm.
// set_attention_kernel() picks one for the whole process: the tests run every kernel the CPU has
// against the same reference, the benchmarks compare them.
// Every kernel computes the same function; the results differ in rounding only.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>

#include "mnemo/backend/cpu/small_gemm.hpp"  // MNEMO_SMALL_GEMM_X86
#include "mnemo/core/error.hpp"

namespace mnemo::cpu {

/// The kernels of the float attention products (see above).
enum class AttentionKernel { Auto, Avx512, Avx2, Gemm };

/// The kernel's name as the tests and benchmarks print it.
inline const char* attention_kernel_name(AttentionKernel kernel) {
  switch (kernel) {
    case AttentionKernel::Auto: return "auto";
    case AttentionKernel::Avx512: return "avx512";
    case AttentionKernel::Avx2: return "avx2";
    case AttentionKernel::Gemm: return "gemm";
  }
  return "?";
}

/// Whether this binary has the kernel and the CPU it runs on can run it (Auto and Gemm: always).
inline bool attention_kernel_available(AttentionKernel kernel) {
#if defined(MNEMO_SMALL_GEMM_X86)
  static const bool avx512 = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  static const bool avx2 = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  if (kernel == AttentionKernel::Avx512) return avx512;
  if (kernel == AttentionKernel::Avx2) return avx2;
#else
  if (kernel == AttentionKernel::Avx512 || kernel == AttentionKernel::Avx2) return false;
#endif
  return true;
}

/// The kernel named `name` ("auto", "avx512", "avx2" or "gemm", as attention_kernel_name writes
/// them); throws mnemo::Error naming `what` (where the name came from) for anything else.
inline AttentionKernel parse_attention_kernel(std::string_view name, std::string_view what = "attention kernel") {
  for (auto kernel : {AttentionKernel::Auto, AttentionKernel::Avx512, AttentionKernel::Avx2, AttentionKernel::Gemm})
    if (name == attention_kernel_name(kernel)) return kernel;
  throw Error(std::string(what) + " is '" + std::string(name) + "', expected auto, avx512, avx2 or gemm");
}

/// What Auto means given the values of MNEMO_ATTENTION_KERNEL and MNEMO_ATTENTION_AVX512 (null:
/// unset): the kernel the first names (auto or empty: as if unset), else gemm when the second is
/// "0", else the widest kernel the CPU has. Throws mnemo::Error for a name that is not a kernel
/// and for a kernel the CPU cannot run.
inline AttentionKernel attention_kernel_from_environment(const char* kernel_env, const char* avx512_env) {
  if (kernel_env && kernel_env[0] != '\0') {
    const AttentionKernel named = parse_attention_kernel(kernel_env, "MNEMO_ATTENTION_KERNEL");
    if (!attention_kernel_available(named))
      throw Error(std::string("MNEMO_ATTENTION_KERNEL is '") + kernel_env +
                  "', which this CPU (or this build) cannot run; expected auto, gemm or a kernel that "
                  "attention_kernel_available() accepts");
    if (named != AttentionKernel::Auto) return named;
  }
  if (avx512_env && avx512_env[0] == '0') return AttentionKernel::Gemm;
  if (attention_kernel_available(AttentionKernel::Avx512)) return AttentionKernel::Avx512;
  if (attention_kernel_available(AttentionKernel::Avx2)) return AttentionKernel::Avx2;
  return AttentionKernel::Gemm;
}

namespace detail {
/// The process-wide choice (set_attention_kernel).
inline std::atomic<AttentionKernel> g_attention_kernel{AttentionKernel::Auto};

/// What Auto means in this process (the environment is read once; a throw is repeated on each call).
inline AttentionKernel attention_kernel_auto() {
  static const AttentionKernel chosen =
      attention_kernel_from_environment(std::getenv("MNEMO_ATTENTION_KERNEL"), std::getenv("MNEMO_ATTENTION_AVX512"));
  return chosen;
}
}  // namespace detail

/// Makes every later float attention product take `kernel` (Auto: the widest the CPU has). Throws
/// mnemo::Error, changing nothing, when this CPU or build cannot run it.
inline void set_attention_kernel(AttentionKernel kernel) {
  if (!attention_kernel_available(kernel))
    throw Error(std::string("attention kernel: '") + attention_kernel_name(kernel) +
                "' was asked for, but this CPU (or this build) cannot run it; expected AttentionKernel::Auto, "
                "Gemm, or one that attention_kernel_available() accepts");
  detail::g_attention_kernel.store(kernel, std::memory_order_relaxed);
}

/// The kernel float products take now, Auto resolved (never Auto).
inline AttentionKernel attention_kernel() {
  const AttentionKernel chosen = detail::g_attention_kernel.load(std::memory_order_relaxed);
  return chosen == AttentionKernel::Auto ? detail::attention_kernel_auto() : chosen;
}

/// The kernel for element type T and head width d_h: the tiles take float with d_h a multiple of
/// 16 (whole vectors of 16 columns); everything else takes the GEMM.
template <class T>
AttentionKernel attention_kernel_for(int64_t head_dim) {
  if constexpr (std::is_same_v<T, float>)
    if (head_dim > 0 && head_dim % 16 == 0) return attention_kernel();
  return AttentionKernel::Gemm;
}

/// Queries per block under a causal mask on the register tiles (Avx512Tiles, Avx2Tiles), at most
/// the caller's `block`: 16 up to 64 queries, 32 beyond. A block ending at query r1 multiplies keys
/// [0, r1 + offset) only, so shorter blocks skip more of the masked keys, at more per-block
/// overhead. One thread, d_h 64, against 64-row blocks (docs/benchmarks.md, "Causal blocks of 16
/// and 32 queries"): at L 64 the forward of 4 heads without P 69.7 → 57.0 µs on the Zen 3 host
/// (AVX2) and 55.8 → 45.0 µs on the Zen 4 host (AVX-512); at L 128–512, 32 rows gain 2–15 % on both
/// (most at 128) and 16 rows lose again.
inline int64_t register_tiles_causal_block(int64_t lq, int64_t block) {
  return std::min<int64_t>(block, lq <= 64 ? 16 : 32);
}

/// e^r on |r| ≤ ln2/2 as Cephes' expf: 1 + r + r²·(c0 + c1·r + … + c5·r⁵), the coefficients from
/// the highest power down; the tiles' exponentials use them with n = round(x·log₂e),
/// r = x − n·ln2 (ln2 = kExpLn2Hi + kExpLn2Lo) and e^x = 2ⁿ·e^r.
inline constexpr float kExpLog2e = 1.44269504088896341f;
inline constexpr float kExpLn2Hi = 0.693359375f;
inline constexpr float kExpLn2Lo = -2.12194440e-4f;
inline constexpr float kExpPoly[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                      4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

}  // namespace mnemo::cpu
