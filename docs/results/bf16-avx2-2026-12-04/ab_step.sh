#!/usr/bin/env bash
# The streaming steps (fp32 and bf16) of two bench builds, alternated (order flips each round), on
# one and two threads: before (main at fd47edb, the portable bf16 kernel on a CPU without
# avx512_bf16) and after (the AVX2 kernel). Usage: ab_step.sh OLD_BENCH NEW_BENCH OUTDIR [ROUNDS]
set -euo pipefail
OLD="$1"; NEW="$2"; OUT="$3"; ROUNDS="${4:-3}"
mkdir -p "$OUT"
run() {  # run BIN TAG THREADS ROUND
  MNEMO_NUM_THREADS="$3" "$1" --benchmark_filter='^BM_(Bf16StreamStep|MemformerStreamStep)' --benchmark_repetitions=3 \
    --benchmark_out="$OUT/$2_t$3_r$4.json" --benchmark_out_format=json > /dev/null
}
for r in $(seq 1 "$ROUNDS"); do
  for t in 2 1; do
    if (( r % 2 )); then run "$OLD" old "$t" "$r"; run "$NEW" new "$t" "$r"; else run "$NEW" new "$t" "$r"; run "$OLD" old "$t" "$r"; fi
  done
  echo "round $r $(date -u +%T) $(uptime)" >> "$OUT/load.txt"
done
