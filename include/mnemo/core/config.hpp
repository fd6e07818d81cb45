// mnemo/core/config.hpp — compiler portability macros shared by host and device code.
#pragma once

#if defined(__CUDACC__)
#define MNEMO_HOST_DEVICE __host__ __device__
#define MNEMO_DEVICE_INLINE __host__ __device__ __forceinline__
#else
#define MNEMO_HOST_DEVICE
#define MNEMO_DEVICE_INLINE inline
#endif

// Compiled mode (docs/compile_time.md): MNEMO_COMPILED is defined for the users of mnemo::compiled,
// MNEMO_COMPILED_LIBRARY while that library's own sources (src/compiled/) are built.
// MNEMO_COMPILED_BODIES is 1 where a translation unit compiles the bodies the library holds: in
// the header-only mode and in the library itself. A user TU of the compiled mode sees 0 and only
// the declarations, so the headers those bodies need (Eigen) are not parsed there.
#if !defined(MNEMO_COMPILED) || defined(MNEMO_COMPILED_LIBRARY)
#define MNEMO_COMPILED_BODIES 1
#else
#define MNEMO_COMPILED_BODIES 0
#endif

// MNEMO_COLD marks a function that is called off the hot paths (building an error message or a
// parameter name): compiled for size and never inlined, so each translation unit that
// instantiates one spends little time optimising it.
#if defined(__GNUC__) || defined(__clang__)
#define MNEMO_COLD __attribute__((cold, noinline))
#else
#define MNEMO_COLD
#endif

// MNEMO_NO_ALIAS_LOOP before a loop promises the compiler that its stores never alias its loads
// (scratch buffers written from inputs), so that it vectorises the loop without run-time overlap
// checks, which GCC gives up on beyond ten pairs of pointers.
#if defined(__clang__)
#define MNEMO_NO_ALIAS_LOOP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define MNEMO_NO_ALIAS_LOOP _Pragma("GCC ivdep")
#else
#define MNEMO_NO_ALIAS_LOOP
#endif

namespace mnemo {
inline constexpr int kVersionMajor = 0;
inline constexpr int kVersionMinor = 1;
inline constexpr int kVersionPatch = 0;
}  // namespace mnemo
