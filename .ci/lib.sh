# .ci/lib.sh — shared by .ci/run (the whole CI), .ci/test (the test suite) and .ci/demo (the main
# demo). Sourced, not run. Everything builds under build/ in the repository root.
#
# Environment knobs (all optional):
#   MNEMO_JOBS        parallel build jobs (default 2)
#   MNEMO_BUILD_ROOT  where the build trees go (default <repo>/build)
#   MNEMO_CUDA        auto (default): configure the CUDA backend when nvcc is found; off: never
#   CUDACXX           the nvcc to use (default: nvcc on PATH, else /usr/local/cuda/bin/nvcc)

set -euo pipefail

MNEMO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MNEMO_JOBS="${MNEMO_JOBS:-2}"
MNEMO_BUILD_ROOT="${MNEMO_BUILD_ROOT:-$MNEMO_ROOT/build}"
MNEMO_RELEASE_DIR="$MNEMO_BUILD_ROOT/release"  # shared by .ci/test, .ci/demo and .ci/run

# Debian packages the build needs. The test suite needs no Python; ctest includes the PyTorch twin
# test when /usr/bin/python3 has torch, and .ci/run installs python3-torch for its own twin step.
# clang-14 + libclang-rt-14-dev: the libFuzzer targets (tests/fuzz/run.sh).
# libopenmpi-dev + openmpi-bin: data-parallel training over MPI and its mpirun tests (docs/distributed.md).
MNEMO_APT_PACKAGES=(cmake g++ make pkg-config doxygen libeigen3-dev catch2 libbenchmark-dev nlohmann-json3-dev
                    clang-14 libclang-rt-14-dev libopenmpi-dev openmpi-bin)

# ---- steps with banners and timings -------------------------------------------------------------

_ci_start_ns="$(date +%s%N)"
_ci_summary=()
_ci_notes=()          # lines printed under the summary (note "...")
_ci_last_wall=0       # wall and CPU seconds of the last step that finished
_ci_last_cpu=0

_ci_seconds_since() {  # elapsed seconds since a `date +%s%N` stamp, one decimal
  local now
  now="$(date +%s%N)"
  awk -v a="$1" -v b="$now" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'
}

# CPU seconds (user + system) used so far by this shell's finished children, in clock ticks.
# Wall time on a shared machine says little; CPU time shows what a step costs.
_ci_child_ticks() {
  if [[ -r /proc/$$/stat ]]; then awk '{ print $16 + $17 }' "/proc/$$/stat"; else echo 0; fi
}
_ci_ticks_per_second="$(getconf CLK_TCK 2>/dev/null || echo 100)"

# step "title" command [args...]: runs one CI step between banners and records its time. A failing
# step prints the summary so far and exits with the step's status. The command runs in a subshell
# with errexit on (a shell function called as `f || ...` would run with errexit ignored).
step() {
  local title="$1"
  shift
  local start status ticks
  start="$(date +%s%N)"
  ticks="$(_ci_child_ticks)"
  printf '\n==============================================================================\n'
  printf '== %s\n' "$title"
  printf '==============================================================================\n'
  set +e
  (set -euo pipefail; "$@")
  status=$?
  set -e
  local took cpu
  took="$(_ci_seconds_since "$start")"
  cpu="$(awk -v a="$ticks" -v b="$(_ci_child_ticks)" -v hz="$_ci_ticks_per_second" 'BEGIN { printf "%.1f", (b - a) / hz }')"
  if [[ $status -ne 0 ]]; then
    _ci_summary+=("$(printf '%8ss %8ss  FAILED  %s' "$took" "$cpu" "$title")")
    printf '\n== FAILED (exit %d after %ss): %s\n' "$status" "$took" "$title"
    summary
    exit "$status"
  fi
  _ci_summary+=("$(printf '%8ss %8ss  ok      %s' "$took" "$cpu" "$title")")
  _ci_last_wall="$took"
  _ci_last_cpu="$cpu"
  printf -- '-- done in %ss (%ss CPU): %s\n' "$took" "$cpu" "$title"
}

# note "text": a line for the end of the summary (printed now too).
note() {
  _ci_notes+=("$*")
  printf '%s\n' "$*"
}

summary() {
  printf '\n==============================================================================\n'
  printf '== Summary (total %ss wall)\n' "$(_ci_seconds_since "$_ci_start_ns")"
  printf '==============================================================================\n'
  printf '%9s %9s  %-6s  %s\n' wall CPU status step
  local line
  for line in "${_ci_summary[@]}"; do printf '%s\n' "$line"; done
  for line in "${_ci_notes[@]}"; do printf '%s\n' "$line"; done
}

die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# ---- dependencies -------------------------------------------------------------------------------

# Installs, with apt-get, whichever of the given Debian packages are missing (nothing when all are
# present, so reruns are fast). Needs root, or sudo.
ensure_packages() {
  command -v dpkg-query >/dev/null 2>&1 || {
    printf 'dpkg-query not found: not a Debian system; assuming %s are installed\n' "$*"
    return 0
  }
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    printf 'all present: %s\n' "$*"
    return 0
  fi
  printf 'installing: %s\n' "${missing[*]}"
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install ${missing[*]} first"
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

ensure_build_dependencies() { ensure_packages "${MNEMO_APT_PACKAGES[@]}"; }

# ---- CUDA -------------------------------------------------------------------------------------

# Prints the nvcc to configure with, or nothing (no toolkit, or MNEMO_CUDA=off).
find_nvcc() {
  if [[ ${MNEMO_CUDA:-auto} == off ]]; then return 0; fi
  local candidate
  for candidate in "${CUDACXX:-}" "$(command -v nvcc 2>/dev/null || true)" /usr/local/cuda/bin/nvcc; do
    if [[ -n $candidate && -x $candidate ]]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
}

MNEMO_NVCC="$(find_nvcc)"
# CMake arguments that turn the CUDA backend on (nvcc found) or off. The machine has no GPU, so
# CUDA code is compiled for sm_90 (H100) and CUDA tests report "skipped" (exit 77).
if [[ -n $MNEMO_NVCC ]]; then
  MNEMO_CUDA_ARGS=(-DMNEMO_ENABLE_CUDA=ON "-DCMAKE_CUDA_COMPILER=$MNEMO_NVCC" -DCMAKE_CUDA_ARCHITECTURES=90)
else
  MNEMO_CUDA_ARGS=(-DMNEMO_ENABLE_CUDA=OFF)
fi

# ---- the Release build (tests, examples, benchmarks) and the test suite -------------------------

# With CUDA, mnemo::compiled_cuda's host code is built at -O0 here (MNEMO_COMPILED_CUDA_HOST_OPT,
# a test-build option; the device code is optimised as always): the CUDA test programs and
# mnemo-bench link it, and without a GPU nothing here runs its code (with one, the CUDA tests run
# its host code unoptimised: correct, slower). -O0 instead of the default -O3 roughly halves the
# library's CPU time (docs/compile_time.md). A library to ship keeps the default.
configure_release() {
  printf 'CUDA: %s\n' "${MNEMO_NVCC:-not found, configuring without the CUDA backend}"
  local cuda_args=("${MNEMO_CUDA_ARGS[@]}")
  [[ -n $MNEMO_NVCC ]] && cuda_args+=(-DMNEMO_COMPILED_CUDA_HOST_OPT=-O0)
  cmake -S "$MNEMO_ROOT" -B "$MNEMO_RELEASE_DIR" -DCMAKE_BUILD_TYPE=Release "${cuda_args[@]}"
}

# The test suite as README.md documents it (`bash .ci/test`); .ci/run runs exactly these steps.
# The build is split so that every log carries the test suite's own build time (issue 15: "the
# whole test suite builds in <= 8 minutes on 2 cores from a clean tree"): first
# `mnemo_cpu_test_suite` (CMakeLists.txt: mnemo::compiled and every test program without a CUDA
# source), timed on its own; then `mnemo_test_suite` (adds the CUDA test programs, when nvcc is
# found); then ctest, which fails on a test whose program those targets forgot; then the rest of
# `all` (benchmarks, examples), which must still compile.
run_test_suite_steps() {
  local tree="clean tree"
  [[ -f $MNEMO_RELEASE_DIR/CMakeCache.txt ]] && tree="incremental: $MNEMO_RELEASE_DIR existed"
  step "configure Release build ($MNEMO_RELEASE_DIR)" configure_release
  step "build the CPU test suite (mnemo_cpu_test_suite: every CPU program ctest runs) with -j$MNEMO_JOBS" \
    cmake --build "$MNEMO_RELEASE_DIR" --target mnemo_cpu_test_suite -j "$MNEMO_JOBS"
  local cpu_wall="$_ci_last_wall" cpu_cpu="$_ci_last_cpu"
  step "build the CUDA test programs (rest of mnemo_test_suite) with -j$MNEMO_JOBS" \
    cmake --build "$MNEMO_RELEASE_DIR" --target mnemo_test_suite -j "$MNEMO_JOBS"
  note "$(printf 'test suite build (%s, -j%s): CPU test programs %ss wall (%ss CPU), issue 15 target <= 480 s wall on 2 cores; CUDA test programs %ss more (%ss CPU)' \
    "$tree" "$MNEMO_JOBS" "$cpu_wall" "$cpu_cpu" "$_ci_last_wall" "$_ci_last_cpu")"
  step "ctest (Release)" ctest --test-dir "$MNEMO_RELEASE_DIR" --output-on-failure
  step "build the rest of everything (benchmarks, examples) with -j$MNEMO_JOBS" \
    cmake --build "$MNEMO_RELEASE_DIR" -j "$MNEMO_JOBS"
}
