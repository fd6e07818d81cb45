#!/usr/bin/env bash
# bench/cuda/device_check.sh — the prepared check of mnemo's CUDA backend on a GPU machine, sized
# to finish within 9 minutes on one H200 with 16 cores (build included; a time budget, below):
#   bash bench/cuda/device_check.sh --pack-deps          # here, before the device call (see deps)
#   bash bench/cuda/device_check.sh OUT_DIR              # on the machine with an NVIDIA GPU
#   bash bench/cuda/device_check.sh --dry-run [OUT_DIR]  # anywhere: configure + stage list, no build
# Stages (one progress line each, on stdout and in OUT_DIR/progress.log):
#   1. gpu        nvidia-smi: the device, its compute capability (sets CMAKE_CUDA_ARCHITECTURES)
#   2. configure  CUDA tests and benchmarks only (no CPU tests, examples), Release, ccache if present
#   3. build      mnemo_cuda_tests, mnemo_bench_cuda and mnemo-bench with every core (make -k: a
#                 target that fails to build does not stop the others, nor the stages that use them)
#   4. tests      mnemo_cuda_tests (JUnit report)
#   5. bench      mnemo_bench_cuda: the four cases of issue 8 + GEMM and copy ceilings (JSON)
#   5b. mnemo-bench  every mnemo-bench case with --backend cuda at tiny shapes in float, double,
#                 half and bf16 (bench/mnemo_bench/cuda_smoke.sh; tables + JSON in logs.tar.gz)
#   6. peers      PyTorch eager and torch.compile(mode="reduce-overhead") on the same cases
#                 (bench/peers/models_cuda.py; MHA: attention_cpu.py --device cuda, SDPA)
#   7. memcheck   compute-sanitizer --tool memcheck over a reduced selection of the tests
#   8. racecheck  compute-sanitizer --tool racecheck over the kernels with shared-memory reductions
#   9. summary    OUT_DIR/summary.md (stages + the benchmark table of summarize_device_check.py)
#                 and OUT_DIR/summary.json
# Time budget: MNEMO_DEVICE_BUDGET_S (default 540 s) for the whole script. Stages 4-8 run in order
# of importance under `timeout`, each with its cap or what is left of the budget less a small
# reserve for the later stages, whichever is smaller; a stage with under 20 s left is skipped and
# says so; one cut by its limit is "timed out" (a failure only for the tests).
# Files in OUT_DIR (the device tool returns at most 8): progress.log, summary.md, summary.json,
# tests.xml, bench.json, peers.json, peers_mha.json, logs.tar.gz (every stage's log).
# Dependencies: the device image has CUDA, CMake, Python and PyTorch but not Eigen, nlohmann_json,
# Catch2 or Google Benchmark. --pack-deps copies this machine's Debian packages of those into
# .device_deps/ (git-ignored, about 11 MB): carry it (run's carry: [".device_deps"]); the check
# then points CMake and the loader at it.
# A failing stage is recorded and the next stages still run (except those that need the build).
# --dry-run does stages 1-2 without a GPU (architecture 90), checks this script's syntax, the Python
# peers' and summariser's syntax and the tools, prints the stage list with the commands, and
# writes the summary: seconds, no CUDA build.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEPS="$ROOT/.device_deps"
if [[ ${1:-} == --pack-deps ]]; then
  # Headers, CMake package files and (Google Benchmark) shared libraries, as Debian installed them.
  rm -rf "$DEPS" && mkdir -p "$DEPS"
  for pkg in libeigen3-dev nlohmann-json3-dev catch2 libbenchmark-dev libbenchmark1debian; do
    dpkg -L "$pkg" >/dev/null 2>&1 || { echo "--pack-deps: package $pkg is not installed here" >&2; exit 1; }
    dpkg -L "$pkg" | while read -r f; do
      [[ -f $f || -L $f ]] && [[ $f != /usr/share/doc/* && $f != */pkgconfig/* ]] && { cp -a --parents "$f" "$DEPS" 2>/dev/null || true; }
    done
  done
  echo "packed into $DEPS: $(du -sh "$DEPS" | cut -f1); carry .device_deps in the device call"
  exit 0
fi
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
LOGS="$OUT/logs"
mkdir -p "$LOGS"
BUILD="${MNEMO_DEVICE_BUILD:-$ROOT/build/device_check}"
JOBS="$(nproc)"
NVCC="${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
SANITIZER="$(command -v compute-sanitizer || ls "$(dirname "$NVCC")/compute-sanitizer" \
  "$(dirname "$NVCC")/../extras/compute-sanitizer/compute-sanitizer" 2>/dev/null | head -1)"
TESTS="$BUILD/tests/mnemo_cuda_tests"
# Reduced selections for the sanitizers (Catch2 tag expressions): one test per kernel family.
MEMCHECK_TESTS='[softmax],[layer_norm],[memformer]~[half],[infinite_former],[adamw]'
RACECHECK_TESTS='[softmax],[fused],[reduce]'
BENCH="$BUILD/bench/mnemo_bench_cuda"
TOOL="$BUILD/bench/mnemo-bench"
CUDA_SMOKE="$ROOT/bench/mnemo_bench/cuda_smoke.sh"
PYTHON="${PYTHON:-python3}"
BUDGET="${MNEMO_DEVICE_BUDGET_S:-540}"

STAGES=()   # "name|status|seconds|note"
START_ALL="$(date +%s)"
# Seconds a stage may run: its cap, or what is left of the budget less `reserve`, the smaller.
allowance() {
  local cap="$1" reserve="$2" left
  left=$((BUDGET - ($(date +%s) - START_ALL) - reserve))
  ((left < cap)) && echo "$left" || echo "$cap"
}
progress() { printf '[device_check %5ss] %s\n' "$(($(date +%s) - START_ALL))" "$*" | tee -a "$OUT/progress.log"; }

# stage NAME NOTE COMMAND...: runs COMMAND, its output to OUT/NAME.log, and records the result.
stage() {
  local name="$1" note="$2"
  shift 2
  local t0 status
  t0="$(date +%s)"
  progress "$name: start ($note)"
  "$@" >"$LOGS/$name.log" 2>&1
  status=$?
  local took=$(($(date +%s) - t0))
  local result=ok
  [[ $status -eq 0 ]] || result="failed (exit $status)"
  [[ $status -eq 77 ]] && result="skipped (exit 77)"
  [[ $status -eq 124 ]] && result="timed out (its time limit)"
  STAGES+=("$name|$result|$took|$note")
  progress "$name: $result after ${took}s (log: logs/$name.log)"
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
  local launcher=() deps=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  [[ -d $DEPS/usr ]] && deps=("-DCMAKE_PREFIX_PATH=$DEPS/usr") && echo "dependencies from $DEPS"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMNEMO_ENABLE_CUDA=ON "-DCMAKE_CUDA_COMPILER=$NVCC" \
    "-DCMAKE_CUDA_ARCHITECTURES=$ARCH" -DMNEMO_BUILD_TESTS=ON -DMNEMO_BUILD_BENCHMARKS=ON \
    -DMNEMO_BUILD_HEADER_ONLY_TESTS=OFF -DMNEMO_BUILD_EXAMPLES=OFF -DMNEMO_INSTALL=OFF "${deps[@]}" \
    "${launcher[@]}" || return 1
  # The CUDA backend must have been found: the build has the CUDA test target.
  cmake --build "$BUILD" --target help >"$BUILD/targets.txt" && grep -q mnemo_cuda_tests "$BUILD/targets.txt" &&
    grep -q mnemo_bench_cuda "$BUILD/targets.txt" && grep -q mnemo_bench_tool "$BUILD/targets.txt" ||
    { echo "configured without the CUDA backend (no mnemo_cuda_tests / mnemo_bench_cuda / mnemo_bench_tool target)"; return 1; }
}
# Every target, make -k (Unix Makefiles, the default generator): one that fails leaves the others.
build_stage() {
  local keep_going=()
  grep -q '^CMAKE_GENERATOR:INTERNAL=Unix Makefiles' "$BUILD/CMakeCache.txt" 2>/dev/null && keep_going=(-- -k)
  cmake --build "$BUILD" --target mnemo_cuda_tests mnemo_bench_cuda mnemo_bench_tool -j "$JOBS" "${keep_going[@]}"
}
peers_stage() {  # eager first, then torch.compile; each writes its JSON as it goes
  local t="$1"
  (cd "$ROOT/bench/peers" && PYTHONUNBUFFERED=1 timeout "$((t * 3 / 4))" "$PYTHON" models_cuda.py \
    --variants eager,compile --json "$OUT/peers.json")
  local s1=$?
  (cd "$ROOT/bench/peers" && PYTHONUNBUFFERED=1 timeout "$((t / 4))" "$PYTHON" attention_cpu.py --device cuda \
    --dtype bf16 --impls sdpa --modes fwdbwd --shapes large --variants eager --out "$OUT/peers_mha.json" >/dev/null)
  local s2=$?
  echo "models_cuda.py exit $s1, attention_cpu.py exit $s2 (124: cut by the time limit, results so far kept)"
  (((s1 == 0 || s1 == 124) && (s2 == 0 || s2 == 124)))
}
bench_summary() {
  "$PYTHON" "$ROOT/bench/cuda/summarize_device_check.py" "$OUT/bench.json" "$OUT/peers.json" "$OUT/peers_mha.json"
}
tools_stage() {
  bash -n "${BASH_SOURCE[0]}" && bash -n "$CUDA_SMOKE" && echo "syntax: ok (this script, cuda_smoke.sh)"
  "$NVCC" --version | tail -2
  [[ -x $SANITIZER ]] && echo "compute-sanitizer: $SANITIZER" || echo "compute-sanitizer: not found (stages 7-8 would be skipped)"
  printf 'stages:\n'
  printf '  1 gpu        nvidia-smi --query-gpu=name,compute_cap,...\n'
  printf '  2 configure  cmake -S %s -B %s -DCMAKE_CUDA_ARCHITECTURES=<detected>\n' "$ROOT" "$BUILD"
  printf '  3 build      cmake --build %s --target mnemo_cuda_tests mnemo_bench_cuda mnemo_bench_tool -j %s -- -k\n' "$BUILD" "$JOBS"
  printf '  4 tests      %s --reporter junit --out %s/tests.xml\n' "$TESTS" "$OUT"
  printf '  5 bench      %s --benchmark_out=%s/bench.json --benchmark_out_format=json\n' "$BENCH" "$OUT"
  printf '  5b mnemo-bench  bash %s %s %s/mnemo_bench\n' "$CUDA_SMOKE" "$TOOL" "$LOGS"
  printf '  6 peers      (cd bench/peers; %s models_cuda.py --variants eager,compile; attention_cpu.py --device cuda ...)\n' "$PYTHON"
  printf '  7 memcheck   %s --tool memcheck --error-exitcode 1 %s "%s"\n' "$SANITIZER" "$TESTS" "$MEMCHECK_TESTS"
  printf '  8 racecheck  %s --tool racecheck --error-exitcode 1 %s "%s"\n' "$SANITIZER" "$TESTS" "$RACECHECK_TESTS"
  printf '  9 summary    %s/summary.md, %s/summary.json, logs.tar.gz (budget %s s)\n' "$OUT" "$OUT" "$BUDGET"
  # The Python parts must at least parse (they run only on the GPU machine).
  "$PYTHON" -m py_compile "$ROOT/bench/peers/models_cuda.py" "$ROOT/bench/peers/attention_cpu.py" \
    "$ROOT/bench/cuda/summarize_device_check.py" && echo "python syntax: ok"
  "$PYTHON" "$ROOT/bench/cuda/summarize_device_check.py" /dev/null /dev/null /dev/null >/dev/null && echo "summariser: ok"
}

write_summary() {
  local md="$OUT/summary.md" json="$OUT/summary.json" mode=gpu
  [[ $DRY_RUN == 1 ]] && mode=dry-run
  {
    echo "# mnemo CUDA device check ($mode)"
    echo
    echo "- commit: $(git -C "$ROOT" log -1 --format='%h %s' 2>/dev/null || echo unknown)"
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, CUDA architecture $ARCH"
    echo "- device: $(cat "$LOGS/gpu.log" 2>/dev/null | head -1 || true)"
    echo
    echo "| stage | result | seconds | what |"
    echo "|---|---|---|---|"
    for s in "${STAGES[@]}"; do
      IFS='|' read -r name result took note <<<"$s"
      echo "| $name | $result | $took | $note |"
    done
    if [[ -f $LOGS/tests.log ]]; then
      echo
      echo "mnemo_cuda_tests, last lines:"
      echo '```'
      tail -5 "$LOGS/tests.log"
      echo '```'
    fi
    if [[ -f $OUT/bench.json || -f $OUT/peers.json ]]; then
      echo
      echo "## Benchmarks against the PyTorch peers"
      echo
      bench_summary 2>&1
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
  tar -C "$OUT" -czf "$OUT/logs.tar.gz" logs && rm -rf "$LOGS"
}

if [[ $DRY_RUN == 1 ]]; then
  progress "dry run: no GPU needed, nothing is built; output in $OUT"
  BUILD="$OUT/build"
  stage tools "script syntax, nvcc, compute-sanitizer, stage list" tools_stage
  stage configure "CUDA tests and benchmarks, architecture $ARCH" configure_stage
  write_summary
  tar -xzf "$OUT/logs.tar.gz" -O logs/tools.log
  for s in "${STAGES[@]}"; do [[ $s == *"|failed"* ]] && exit 1; done
  exit 0
fi

stage gpu "device and compute capability" gpu_stage && detect_arch
stage configure "CUDA tests and benchmarks, architecture $ARCH" configure_stage
[[ -d $DEPS/usr/lib/x86_64-linux-gnu ]] && export LD_LIBRARY_PATH="$DEPS/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
built=0
stage build "mnemo_cuda_tests mnemo_bench_cuda mnemo_bench_tool, -j $JOBS" build_stage
[[ -x $TESTS && -x $BENCH ]] && built=1
# timed NAME NOTE CAP RESERVE COMMAND...: a stage under `timeout`, skipped with under 20 s left.
timed() {
  local name="$1" note="$2" cap="$3" reserve="$4" t
  shift 4
  t="$(allowance "$cap" "$reserve")"
  if ((t < 20)); then skip "$name" "time budget spent (${t}s left for it)"; return 1; fi
  stage "$name" "$note, at most ${t}s" timeout "$t" "$@"
}
if [[ $built == 1 ]]; then
  timed tests "every CUDA test" 90 60 "$TESTS" --reporter junit --out "$OUT/tests.xml"
  timed bench "four cases + GEMM and copy ceilings" 100 60 "$BENCH" --benchmark_out="$OUT/bench.json" \
    --benchmark_out_format=json
else
  skip tests "build failed"
  skip bench "build failed"
fi
if [[ -x $TOOL ]]; then
  timed mnemo-bench "every case, --backend cuda, 4 dtypes, tiny shapes" 60 60 bash "$CUDA_SMOKE" "$TOOL" "$LOGS/mnemo_bench"
else
  skip mnemo-bench "mnemo-bench did not build"
fi
t="$(allowance 170 40)"
if ((t >= 20)); then stage peers "PyTorch eager + reduce-overhead, at most ${t}s" peers_stage "$t"; else skip peers "time budget spent"; fi
if [[ $built == 1 && -x $SANITIZER ]]; then
  timed memcheck "reduced selection: $MEMCHECK_TESTS" 70 20 "$SANITIZER" --tool memcheck --error-exitcode 1 \
    "$TESTS" "$MEMCHECK_TESTS"
  timed racecheck "reduced selection: $RACECHECK_TESTS" 50 5 "$SANITIZER" --tool racecheck --error-exitcode 1 \
    "$TESTS" "$RACECHECK_TESTS"
else
  skip memcheck "no build or no compute-sanitizer"
  skip racecheck "no build or no compute-sanitizer"
fi
write_summary
# Failed: any stage that failed, or the tests cut by their time limit (later stages may be cut by
# the budget: their partial results stay in OUT_DIR and the summary says "timed out").
for s in "${STAGES[@]}"; do [[ $s == *"|failed"* || $s == "tests|timed out"* ]] && exit 1; done
exit 0
