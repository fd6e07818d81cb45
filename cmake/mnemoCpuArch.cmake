# cmake/mnemoCpuArch.cmake — MNEMO_CPU_ARCH: the instruction set mnemo's CPU code is built for.
#
#   -DMNEMO_CPU_ARCH=          (default) the compiler's default target: portable x86-64 (SSE2)
#   -DMNEMO_CPU_ARCH=native    -march=native: every vector unit of the building machine
#   -DMNEMO_CPU_ARCH=<name>    -march=<name>, e.g. x86-64-v3 (AVX2+FMA), x86-64-v4 (AVX-512)
#
# Eigen's GEMM and mnemo's kernels are templates compiled in the user's translation units, so the
# flag is the consumer's choice. Here it applies to everything this project builds (tests,
# examples, benchmarks, mnemo::compiled) through mnemo::mnemo's build interface only; an installed
# mnemo::mnemo exports no -march. mnemo::compiled exports it (PUBLIC): its archive holds code for
# that instruction set, and the translation units that link it must agree on Eigen's inline code.
#
# MNEMO_BENCH_ARCH (bench/CMakeLists.txt) defaults to `native` when MNEMO_CPU_ARCH is empty:
# a benchmark measures this machine, so its GEMM ceiling must use the machine's widest vectors.

set(MNEMO_CPU_ARCH "" CACHE STRING
    "CPU instruction set of mnemo's code: empty (the compiler's portable default), native, or an -march name")

set(MNEMO_CPU_ARCH_FLAGS "")
if(MNEMO_CPU_ARCH)
  include(CheckCXXCompilerFlag)
  check_cxx_compiler_flag("-march=${MNEMO_CPU_ARCH}" MNEMO_CPU_ARCH_SUPPORTED)
  if(NOT MNEMO_CPU_ARCH_SUPPORTED)
    message(FATAL_ERROR "MNEMO_CPU_ARCH=${MNEMO_CPU_ARCH}: the compiler rejects -march=${MNEMO_CPU_ARCH}")
  endif()
  set(MNEMO_CPU_ARCH_FLAGS "-march=${MNEMO_CPU_ARCH}")
  target_compile_options(mnemo INTERFACE $<BUILD_INTERFACE:${MNEMO_CPU_ARCH_FLAGS}>)
  target_compile_options(mnemo_compiled PUBLIC ${MNEMO_CPU_ARCH_FLAGS})
endif()
if(MNEMO_CPU_ARCH)
  message(STATUS "mnemo: CPU code built with ${MNEMO_CPU_ARCH_FLAGS}")
else()
  message(STATUS "mnemo: CPU code built for the compiler's default target (MNEMO_CPU_ARCH empty)")
endif()
