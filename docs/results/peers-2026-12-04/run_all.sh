#!/usr/bin/env bash
# The sessions of 2026-12-04 (run from /work/main, after the fresh-clone CI, machine otherwise idle):
# CPU identification, one run of the afternoon's finalbench2.sh (unchanged: 2 peer sessions, the
# LTM alone on 1 and 2 threads, contention), then the fp32 and bf16 streaming steps at 2 and 1
# threads with their allocation counts. Usage: run_all.sh [OUTDIR] (default: this folder).
set -uo pipefail
OUT=${1:-$PWD/docs/results/peers-2026-12-04}
BIN=/work/lead/benchdnn/bench/mnemo_bench_cpu
{ lscpu; grep -m1 -o 'avx512[a-z_0-9]*' /proc/cpuinfo | sort -u; } > "$OUT/lscpu.txt"
git log -1 --format='%h %s' > "$OUT/commit.txt"
bash docs/results/peers-2026-12-03-afternoon/finalbench2.sh "$OUT/run1"
for t in 2 1; do
  MNEMO_NUM_THREADS=$t $BIN --benchmark_filter='^BM_(Bf16StreamStep|MemformerStreamStep|MemformerGemmCeiling)' \
    --benchmark_repetitions=5 --benchmark_out="$OUT/step_t$t.json" --benchmark_out_format=json > "$OUT/step_t$t.txt" 2>&1
done
echo "all done $(date -u +%T) $(uptime)" >> "$OUT/load.txt"
