#!/usr/bin/env bash
# Benchmarks of two bench builds, alternated (order flips each round), on two threads: OLD (main
# before a change) against NEW. FILTER (environment) picks the benchmarks, by default the attention
# ones. Usage: [FILTER=regex] ab_builds.sh OLD_BENCH NEW_BENCH OUTDIR [ROUNDS]
# Summary: python3 bench/summarize_ab.py OUTDIR old new
set -euo pipefail
OLD="$1"; NEW="$2"; OUT="$3"; ROUNDS="${4:-6}"
mkdir -p "$OUT"
FILTER="${FILTER:-^BM_(AttentionForward|AttentionForwardBackward)/}"
run() {  # run TAG ROUND
  local bin="$OLD"
  [[ $1 == new ]] && bin="$NEW"
  "$bin" --benchmark_filter="$FILTER" --benchmark_repetitions=3 \
    --benchmark_out="$OUT/$1_r$2.json" --benchmark_out_format=json > /dev/null
}
for r in $(seq 1 "$ROUNDS"); do
  if (( r % 2 )); then run old "$r"; run new "$r"; else run new "$r"; run old "$r"; fi
  echo "round $r $(date -u +%T) $(uptime)" >> "$OUT/load.txt"
done
