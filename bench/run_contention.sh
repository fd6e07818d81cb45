#!/usr/bin/env bash
# Threading that cannot collapse (issue #17, item 1): runs a CPU benchmark with the machine as it
# is ("idle") and with one extra busy process (a shell loop that never sleeps), interleaved round
# by round (the order alternates), and prints per condition the median and the min–max of the
# benchmark's repetitions, and the ratio busy / idle of the medians. OMP_WAIT_POLICY and
# GOMP_SPINCOUNT are removed from the environment: the point is how mnemo behaves by default.
#
#   bench/run_contention.sh [--bin LABEL=PATH]... [--program LABEL=PATH]... [--filter REGEX]
#                           [--rounds N] [--reps N] [--threads N] [--out DIR]
#
#   --bin LABEL=PATH   a mnemo_bench_cpu binary to measure (repeatable; default
#                      mnemo=build/bench/mnemo_bench_cpu); LABEL:N=PATH runs it on N threads
#   --program LABEL=PATH a whole program (e.g. examples/infinite_former_quickstart, the program
#                      of the issue's report), run --reps times per condition and round from a
#                      scratch directory; its wall time per run from start to exit is the figure
#   --filter REGEX     benchmark filter (default ^BM_MemformerStreamStep/)
#   --rounds N         idle/busy pairs (default 4)
#   --reps N           Google Benchmark repetitions per run (default 3)
#   --threads N        MNEMO_NUM_THREADS and OMP_NUM_THREADS (default 2)
#   --out DIR          raw JSON and summary.md (default out/contention-<UTC time>)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BINS=()
PROGS=()
FILTER='^BM_MemformerStreamStep/'
ROUNDS=4
REPS=3
THREADS=2
OUT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin) BINS+=("$2"); shift 2 ;;
    --program) PROGS+=("$2"); shift 2 ;;
    --filter) FILTER="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ ${#BINS[@]} -gt 0 || ${#PROGS[@]} -gt 0 ]] || BINS=("mnemo=$ROOT/build/bench/mnemo_bench_cpu")
OUT="${OUT:-$ROOT/out/contention-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"

BUSY_PID=""
stop_busy() { if [[ -n "$BUSY_PID" ]]; then kill "$BUSY_PID" 2>/dev/null || true; wait "$BUSY_PID" 2>/dev/null || true; BUSY_PID=""; fi; }
trap stop_busy EXIT

run_one() {  # label path condition round
  local label="$1" path="$2" cond="$3" round="$4" threads="$THREADS"
  if [[ "$label" == *:* ]]; then threads="${label##*:}"; label="${label%%:*}-t$threads"; fi
  if [[ "$cond" == busy ]]; then
    bash -c 'while :; do :; done' &
    BUSY_PID=$!
    sleep 0.5
  fi
  env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT MNEMO_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" \
    "$path" --benchmark_filter="$FILTER" --benchmark_repetitions="$REPS" \
    --benchmark_format=json --benchmark_out="$OUT/$label-$cond-$round.json" --benchmark_out_format=json \
    > /dev/null
  stop_busy
  grep -q '"run_type"' "$OUT/$label-$cond-$round.json" || { echo "no benchmark matched $FILTER in $path" >&2; exit 1; }
}

run_program() {  # label path condition round: REPS whole runs, written as benchmark-style JSON
  local label="$1" path="$2" cond="$3" round="$4" scratch
  scratch="$(mktemp -d)"
  if [[ "$cond" == busy ]]; then
    bash -c 'while :; do :; done' &
    BUSY_PID=$!
    sleep 0.5
  fi
  (cd "$scratch" && env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT MNEMO_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS" \
    python3 - "$path" "$REPS" "$(basename "$path") (whole run)" > "$OUT/$label-$cond-$round.json") <<'PY'
import json, subprocess, sys, time
path, reps, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
runs = []
for _ in range(reps):
    start = time.perf_counter()
    subprocess.run([path], check=True, stdout=subprocess.DEVNULL)
    runs.append({"run_type": "iteration", "run_name": name, "real_time": (time.perf_counter() - start) * 1e3})
print(json.dumps({"benchmarks": runs}))
PY
  stop_busy
  rm -rf "$scratch"
}

# Every measured thing as RUNNER:LABEL=PATH (run_one: a benchmark binary; run_program: a program).
TARGETS=()
for spec in "${BINS[@]}"; do TARGETS+=("run_one:$spec"); done
for spec in "${PROGS[@]}"; do TARGETS+=("run_program:$spec"); done

for ((r = 0; r < ROUNDS; ++r)); do
  if (( r % 2 == 0 )); then order=(idle busy); else order=(busy idle); fi
  for target in "${TARGETS[@]}"; do
    runner="${target%%:*}"; spec="${target#*:}"
    label="${spec%%=*}"; path="${spec#*=}"
    for cond in "${order[@]}"; do
      echo "round $r: $label $cond" >&2
      "$runner" "$label" "$path" "$cond" "$r"
    done
  done
done

python3 - "$OUT" "$THREADS" <<'PY' | tee "$OUT/summary.md"
import glob, json, os, statistics, sys
out, threads = sys.argv[1], sys.argv[2]
runs = {}
for f in sorted(glob.glob(os.path.join(out, "*-*-*.json"))):
    label, cond, _ = os.path.basename(f)[:-5].rsplit("-", 2)
    for b in json.load(open(f))["benchmarks"]:
        if b.get("run_type") == "iteration":
            runs.setdefault((label, b["run_name"]), {}).setdefault(cond, []).append(b["real_time"])
print(f"Threads {threads} unless the label says -tN; OMP_WAIT_POLICY unset; busy = one extra `while :; do :; done` shell loop.\n")
print("| binary | benchmark | idle median (min–max) ms | busy median (min–max) ms | busy / idle | n |")
print("|---|---|---|---|---|---|")
for (label, name), c in sorted(runs.items()):
    i, b = c.get("idle", []), c.get("busy", [])
    if not i or not b: continue
    mi, mb = statistics.median(i), statistics.median(b)
    print(f"| {label} | {name} | {mi:.2f} ({min(i):.2f}–{max(i):.2f}) | {mb:.2f} ({min(b):.2f}–{max(b):.2f}) "
          f"| {mb / mi:.2f} | {len(i)}/{len(b)} |")
PY
