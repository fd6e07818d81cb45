#!/usr/bin/env bash
# Three variants alternated (order rotates each round): old = bench at bcdea4a, tails = the bench at
# 00498d0 with MNEMO_SMOOTH_READ=0 (low-rank tails only), new = the bench at 00498d0.
# Usage: ab3.sh OLD_BENCH NEW_BENCH OUTDIR ROUNDS   (MNEMO_NUM_THREADS as the caller sets it)
set -euo pipefail
OLD="$1"; NEW="$2"; OUT="$3"; ROUNDS="${4:-4}"
mkdir -p "$OUT"
FILTER='^BM_(InfFormerLtmReadUpdate/4096/|LtmPrecision/)'
run() {
  case $1 in
    old) "$OLD" --benchmark_filter="$FILTER" --benchmark_repetitions=3 --benchmark_out="$OUT/old_r$2.json" --benchmark_out_format=json > /dev/null ;;
    tails) MNEMO_SMOOTH_READ=0 "$NEW" --benchmark_filter="$FILTER" --benchmark_repetitions=3 --benchmark_out="$OUT/tails_r$2.json" --benchmark_out_format=json > /dev/null ;;
    new) "$NEW" --benchmark_filter="$FILTER" --benchmark_repetitions=3 --benchmark_out="$OUT/new_r$2.json" --benchmark_out_format=json > /dev/null ;;
  esac
}
orders=("old tails new" "new old tails" "tails new old")
for r in $(seq 1 "$ROUNDS"); do
  for v in ${orders[$(( (r - 1) % 3 ))]}; do run "$v" "$r"; done
  echo "round $r $(date -u +%T) $(uptime)" >> "$OUT/load.txt"
done
