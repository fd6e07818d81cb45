#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS [TARGET...] — builds mnemo's libFuzzer targets with clang++-14
# (-fsanitize=fuzzer,address,undefined), outside the CMake build, under build/fuzz/, and runs each
# target (default: all) for SECONDS seconds, one process per target, seeded from
# tests/data/*.safetensors and from real objects the target saves on start (tests/fuzz/loaders.cpp,
# write_seeds). Fails on any finding (crash, sanitizer report, uncaught non-mnemo exception,
# timeout > 10 s, > 2 GB RSS; inputs up to 16 KB) and leaves the input under build/fuzz/artifacts/.
# Prints the executions per target and in total.
#
# Environment: MNEMO_FUZZ_CXX (default clang++-14), MNEMO_FUZZ_DIR (default <repo>/build/fuzz),
# MNEMO_FUZZ_PARALLEL (targets run at the same time, default 1), MNEMO_FUZZ_FLAGS (extra
# libFuzzer flags).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SECONDS_EACH="${1:?usage: tests/fuzz/run.sh SECONDS [TARGET...]}"
shift
TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=(safetensors parameters optimizer_state slot_state infinite_former_state checkpoint model_file)
OUT="${MNEMO_FUZZ_DIR:-$ROOT/build/fuzz}"
CXX="${MNEMO_FUZZ_CXX:-clang++-14}"
PARALLEL="${MNEMO_FUZZ_PARALLEL:-1}"
LAUNCHER=()
command -v ccache >/dev/null && LAUNCHER=(ccache)
FLAGS=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
       "-I$ROOT/include" -isystem /usr/include/eigen3)
mkdir -p "$OUT/obj" "$OUT/artifacts"

build_start=$(date +%s)
# The loaders (all of mnemo that the targets reach) compile once, while the small entry points do.
"${LAUNCHER[@]}" "$CXX" "${FLAGS[@]}" -fsanitize=fuzzer-no-link -c "$ROOT/tests/fuzz/loaders.cpp" -o "$OUT/obj/loaders.o" &
loaders=$!
for t in "${TARGETS[@]}"; do
  "${LAUNCHER[@]}" "$CXX" "${FLAGS[@]}" -fsanitize=fuzzer -c "$ROOT/tests/fuzz/fuzz_$t.cpp" -o "$OUT/obj/fuzz_$t.o"
done
wait "$loaders"
for t in "${TARGETS[@]}"; do
  "$CXX" "${FLAGS[@]}" -fsanitize=fuzzer "$OUT/obj/fuzz_$t.o" "$OUT/obj/loaders.o" -o "$OUT/fuzz_$t"
done
printf 'built %d fuzz targets in %d s\n' "${#TARGETS[@]}" "$(($(date +%s) - build_start))"

# fuzz TARGET: runs one target; its log is build/fuzz/TARGET.log.
fuzz() {
  local t="$1" corpus="$OUT/corpus/$1"
  mkdir -p "$corpus"
  cp "$ROOT"/tests/data/*.safetensors "$corpus/"
  # shellcheck disable=SC2086  # MNEMO_FUZZ_FLAGS is a list of flags
  MNEMO_FUZZ_WRITE_SEEDS="$corpus" ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$OUT/fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$t-" ${MNEMO_FUZZ_FLAGS:-} "$corpus" >"$OUT/$t.log" 2>&1
}

printf 'running %d targets for %s s each, %s at a time\n' "${#TARGETS[@]}" "$SECONDS_EACH" "$PARALLEL"
declare -A pid_of
failed=()
for ((i = 0; i < ${#TARGETS[@]}; i += PARALLEL)); do
  for t in "${TARGETS[@]:i:PARALLEL}"; do
    fuzz "$t" &
    pid_of[$t]=$!
  done
  for t in "${TARGETS[@]:i:PARALLEL}"; do
    wait "${pid_of[$t]}" || failed+=("$t")
  done
done

total=0
for t in "${TARGETS[@]}"; do
  runs=$(awk '/stat::number_of_executed_units/ { n = $2 } END { print n + 0 }' "$OUT/$t.log")
  total=$((total + runs))
  printf 'fuzz_%-22s %10d executions  %s\n' "$t" "$runs" "$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9a-zA-Z]+' "$OUT/$t.log" | tail -n 1)"
done
printf 'all %d targets: %d executions in total\n' "${#TARGETS[@]}" "$total"
for t in "${failed[@]}"; do
  printf '\n== FINDING in fuzz_%s (log %s, input under %s):\n' "$t" "$OUT/$t.log" "$OUT/artifacts/"
  tail -n 60 "$OUT/$t.log"
done
[[ ${#failed[@]} -eq 0 ]] || { echo "fuzzing found ${#failed[@]} problem(s)" >&2; exit 1; }
echo "no finding"
