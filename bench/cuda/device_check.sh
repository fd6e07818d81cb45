#!/usr/bin/env bash
# bench/cuda/device_check.sh — the prepared check of mnemo's CUDA backend on a GPU machine, sized
# for about 9 minutes on one H200 with 16 cores (build included):
#   bash bench/cuda/device_check.sh OUT_DIR            # on a machine with an NVIDIA GPU
#   bash bench/cuda/device_check.sh --dry-run [OUT_DIR] # anywhere: configure + stage list, no build
# Stages (one progress line each, on stdout and in OUT_DIR/progress.log):
#   1. gpu        nvidia-smi: the device, its compute capability (sets CMAKE_CUDA_ARCHITECTURES)
#   2. configure  CUDA tests only (no CPU tests, benchmarks, examples), Release, ccache if present
#   3. build      mnemo_cuda_tests with every core
#   4. tests      mnemo_cuda_tests (JUnit report)
#   5. memcheck   compute-sanitizer --tool memcheck over a reduced selection of the tests
#   6. racecheck  compute-sanitizer --tool racecheck over the kernels with shared-memory reductions
#   7. bench      GPU benchmarks of bench/cuda/ when that target exists (none yet: skipped)
#   8. summary    OUT_DIR/summary.md and OUT_DIR/summary.json (every stage: status, seconds)
# A failing stage is recorded and the next stages still run (except those that need the build).
# --dry-run does stages 1-2 without a GPU (architecture 90), checks this script's syntax and the
# tools, prints the stage list with the commands, and writes the summary: seconds, no CUDA build.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DRY_RUN=0
if [[ ${1:-} == --dry-run ]]; then
  DRY_RUN=1
  shift
fi
OUT="${1:-}"
if [[ -z $OUT ]]; then
  if [[ $DRY_RUN == 1 ]]; then OUT="$(mktemp -d)"; else
    echo "usage: $0 [--dry-run] OUT_DIR" >&2
    exit 2
  fi
fi
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
BUILD="${MNEMO_DEVICE_BUILD:-$ROOT/build/device_check}"
JOBS="$(nproc)"
NVCC="${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
SANITIZER="$(command -v compute-sanitizer || ls "$(dirname "$NVCC")/compute-sanitizer" \
  "$(dirname "$NVCC")/../extras/compute-sanitizer/compute-sanitizer" 2>/dev/null | head -1)"
TESTS="$BUILD/tests/mnemo_cuda_tests"
# Reduced selections for the sanitizers (Catch2 tag expressions): one test per kernel family.
MEMCHECK_TESTS='[softmax],[layer_norm],[memformer],[infinite_former],[adamw]'
RACECHECK_TESTS='[softmax],[memformer],[reduce]'

STAGES=()   # "name|status|seconds|note"
START_ALL="$(date +%s)"
progress() { printf '[device_check %5ss] %s\n' "$(($(date +%s) - START_ALL))" "$*" | tee -a "$OUT/progress.log"; }

# stage NAME NOTE COMMAND...: runs COMMAND, its output to OUT/NAME.log, and records the result.
stage() {
  local name="$1" note="$2"
  shift 2
  local t0 status
  t0="$(date +%s)"
  progress "$name: start ($note)"
  "$@" >"$OUT/$name.log" 2>&1
  status=$?
  local took=$(($(date +%s) - t0))
  local result=ok
  [[ $status -eq 0 ]] || result="failed (exit $status)"
  [[ $status -eq 77 ]] && result="skipped (exit 77)"
  STAGES+=("$name|$result|$took|$note")
  progress "$name: $result after ${took}s (log: $OUT/$name.log)"
  return $status
}
skip() {
  STAGES+=("$1|skipped|0|$2")
  progress "$1: skipped ($2)"
}

ARCH=90
gpu_stage() {
  command -v nvidia-smi >/dev/null || { echo "nvidia-smi not found"; return 1; }
  nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv,noheader
}
detect_arch() {
  local cap
  cap="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')"
  [[ $cap =~ ^[0-9]+$ ]] && ARCH="$cap"
}

configure_stage() {
  local launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMNEMO_ENABLE_CUDA=ON "-DCMAKE_CUDA_COMPILER=$NVCC" \
    "-DCMAKE_CUDA_ARCHITECTURES=$ARCH" -DMNEMO_BUILD_TESTS=ON -DMNEMO_BUILD_BENCHMARKS=OFF \
    -DMNEMO_BUILD_EXAMPLES=OFF -DMNEMO_INSTALL=OFF "${launcher[@]}" || return 1
  # The CUDA backend must have been found: the build has the CUDA test target.
  cmake --build "$BUILD" --target help >"$BUILD/targets.txt" && grep -q mnemo_cuda_tests "$BUILD/targets.txt" ||
    { echo "configured without the CUDA backend (no mnemo_cuda_tests target)"; return 1; }
}
tools_stage() {
  bash -n "${BASH_SOURCE[0]}" && echo "syntax: ok"
  "$NVCC" --version | tail -2
  [[ -x $SANITIZER ]] && echo "compute-sanitizer: $SANITIZER" || echo "compute-sanitizer: not found (stages 5-6 would be skipped)"
  printf 'stages:\n'
  printf '  1 gpu        nvidia-smi --query-gpu=name,compute_cap,...\n'
  printf '  2 configure  cmake -S %s -B %s -DCMAKE_CUDA_ARCHITECTURES=<detected>\n' "$ROOT" "$BUILD"
  printf '  3 build      cmake --build %s --target mnemo_cuda_tests -j %s\n' "$BUILD" "$JOBS"
  printf '  4 tests      %s --reporter junit --out %s/tests.xml\n' "$TESTS" "$OUT"
  printf '  5 memcheck   %s --tool memcheck --error-exitcode 1 %s "%s"\n' "$SANITIZER" "$TESTS" "$MEMCHECK_TESTS"
  printf '  6 racecheck  %s --tool racecheck --error-exitcode 1 %s "%s"\n' "$SANITIZER" "$TESTS" "$RACECHECK_TESTS"
  printf '  7 bench      bench/cuda benchmarks (none yet)\n'
  printf '  8 summary    %s/summary.md, %s/summary.json\n' "$OUT" "$OUT"
}

write_summary() {
  local md="$OUT/summary.md" json="$OUT/summary.json" mode=gpu
  [[ $DRY_RUN == 1 ]] && mode=dry-run
  {
    echo "# mnemo CUDA device check ($mode)"
    echo
    echo "- commit: $(git -C "$ROOT" log -1 --format='%h %s' 2>/dev/null || echo unknown)"
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, CUDA architecture $ARCH"
    echo "- device: $(cat "$OUT/gpu.log" 2>/dev/null | head -1 || true)"
    echo
    echo "| stage | result | seconds | what |"
    echo "|---|---|---|---|"
    for s in "${STAGES[@]}"; do
      IFS='|' read -r name result took note <<<"$s"
      echo "| $name | $result | $took | $note |"
    done
    if [[ -f $OUT/tests.log ]]; then
      echo
      echo "mnemo_cuda_tests, last lines:"
      echo '```'
      tail -5 "$OUT/tests.log"
      echo '```'
    fi
  } >"$md"
  {
    printf '{\n  "mode": "%s",\n  "architecture": "%s",\n  "total_seconds": %s,\n  "stages": [\n' "$mode" "$ARCH" \
      "$(($(date +%s) - START_ALL))"
    local i=0
    for s in "${STAGES[@]}"; do
      IFS='|' read -r name result took note <<<"$s"
      [[ $i -gt 0 ]] && printf ',\n'
      printf '    {"stage": "%s", "result": "%s", "seconds": %s}' "$name" "$result" "$took"
      i=$((i + 1))
    done
    printf '\n  ]\n}\n'
  } >"$json"
  progress "summary: $md, $json"
}

if [[ $DRY_RUN == 1 ]]; then
  progress "dry run: no GPU needed, nothing is built; output in $OUT"
  BUILD="$OUT/build"
  stage tools "script syntax, nvcc, compute-sanitizer, stage list" tools_stage
  stage configure "CUDA tests only, architecture $ARCH" configure_stage
  write_summary
  cat "$OUT/tools.log"
  for s in "${STAGES[@]}"; do [[ $s == *"|failed"* ]] && exit 1; done
  exit 0
fi

stage gpu "device and compute capability" gpu_stage && detect_arch
stage configure "CUDA tests only, architecture $ARCH" configure_stage
built=0
stage build "mnemo_cuda_tests, -j $JOBS" cmake --build "$BUILD" --target mnemo_cuda_tests -j "$JOBS" && built=1
if [[ $built == 1 ]]; then
  stage tests "every CUDA test" "$TESTS" --reporter junit --out "$OUT/tests.xml"
  if [[ -x $SANITIZER ]]; then
    stage memcheck "reduced selection: $MEMCHECK_TESTS" timeout 150 "$SANITIZER" --tool memcheck --error-exitcode 1 \
      "$TESTS" "$MEMCHECK_TESTS"
    stage racecheck "reduced selection: $RACECHECK_TESTS" timeout 120 "$SANITIZER" --tool racecheck \
      --error-exitcode 1 "$TESTS" "$RACECHECK_TESTS"
  else
    skip memcheck "compute-sanitizer not found"
    skip racecheck "compute-sanitizer not found"
  fi
else
  skip tests "build failed"
  skip memcheck "build failed"
  skip racecheck "build failed"
fi
skip bench "no GPU benchmark target in bench/cuda yet"
write_summary
for s in "${STAGES[@]}"; do [[ $s == *"|failed"* ]] && exit 1; done
exit 0
