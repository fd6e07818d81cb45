#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS [TARGET...] — builds mnemo's libFuzzer targets with clang++-14
# (-fsanitize=fuzzer,address,undefined), outside the CMake build, under build/fuzz/, and runs each
# target (default: all) for SECONDS seconds on one core, seeded from tests/data/*.safetensors and
# from real objects the target saves on start (tests/fuzz/loaders.cpp, write_seeds). Fails on any
# finding (crash, sanitizer report, uncaught non-mnemo exception, timeout > 10 s, > 2 GB RSS; inputs
# up to 16 KB) and
# leaves the input under build/fuzz/artifacts/. Prints the executions per target and in total.
#
# Environment: MNEMO_FUZZ_CXX (default clang++-14), MNEMO_FUZZ_DIR (default <repo>/build/fuzz),
# MNEMO_FUZZ_FLAGS (extra libFuzzer flags, e.g. "-jobs=1 -workers=1").
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SECONDS_EACH="${1:?usage: tests/fuzz/run.sh SECONDS [TARGET...]}"
shift
TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=(safetensors parameters optimizer_state slot_state infinite_former_state checkpoint)
OUT="${MNEMO_FUZZ_DIR:-$ROOT/build/fuzz}"
CXX="${MNEMO_FUZZ_CXX:-clang++-14}"
LAUNCHER=()
command -v ccache >/dev/null && LAUNCHER=(ccache)
FLAGS=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
       "-I$ROOT/include" -isystem /usr/include/eigen3)
mkdir -p "$OUT/obj" "$OUT/artifacts"

build_start=$(date +%s)
# The loaders (all of mnemo that the targets reach) compile once; each target is a small entry point.
"${LAUNCHER[@]}" "$CXX" "${FLAGS[@]}" -fsanitize=fuzzer-no-link -c "$ROOT/tests/fuzz/loaders.cpp" -o "$OUT/obj/loaders.o"
for t in "${TARGETS[@]}"; do
  "${LAUNCHER[@]}" "$CXX" "${FLAGS[@]}" -fsanitize=fuzzer -c "$ROOT/tests/fuzz/fuzz_$t.cpp" -o "$OUT/obj/fuzz_$t.o"
  "$CXX" "${FLAGS[@]}" -fsanitize=fuzzer "$OUT/obj/fuzz_$t.o" "$OUT/obj/loaders.o" -o "$OUT/fuzz_$t"
done
printf 'built %d fuzz targets in %d s\n' "${#TARGETS[@]}" "$(($(date +%s) - build_start))"

total=0
for t in "${TARGETS[@]}"; do
  corpus="$OUT/corpus/$t"
  mkdir -p "$corpus"
  cp "$ROOT"/tests/data/*.safetensors "$corpus/"
  log="$OUT/$t.log"
  printf '\n== fuzz_%s for %s s (corpus %s)\n' "$t" "$SECONDS_EACH" "$corpus"
  # shellcheck disable=SC2086  # MNEMO_FUZZ_FLAGS is a list of flags
  if ! MNEMO_FUZZ_WRITE_SEEDS="$corpus" ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
       "$OUT/fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
       -artifact_prefix="$OUT/artifacts/$t-" ${MNEMO_FUZZ_FLAGS:-} "$corpus" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "FINDING in fuzz_$t: see $log and $OUT/artifacts/" >&2
    exit 1
  fi
  runs=$(awk '/stat::number_of_executed_units/ { n = $2 } END { print n + 0 }' "$log")
  total=$((total + runs))
  grep -E '^#[0-9]+ +DONE' "$log" | tail -n 1 || true
  printf 'fuzz_%s: %s executions, no finding\n' "$t" "$runs"
done
printf '\nall %d targets: %d executions in total, no finding\n' "${#TARGETS[@]}" "$total"
