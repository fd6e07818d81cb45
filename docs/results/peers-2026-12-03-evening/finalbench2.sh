#!/usr/bin/env bash
# Idle benches after the merges (2026-12-03 afternoon). Usage: finalbench2.sh OUTDIR (run from /work/main)
set -uo pipefail
OUT="$1"; mkdir -p "$OUT"
B=/work/lead/benchdnn
BIN=$B/bench/mnemo_bench_cpu
echo "start $(date -u +%T) $(uptime)" | tee -a "$OUT/load.txt"
for s in 1 2; do
MNEMO_BENCH_BUILD=$B bench/run_peers_session.sh --out "$OUT/session$s" --rounds 1 --reps 3 > "$OUT/session$s.log" 2>&1
echo "peers$s done $(date -u +%T) $(uptime)" | tee -a "$OUT/load.txt"
done
for t in 1 2; do MNEMO_NUM_THREADS=$t $BIN --benchmark_filter='BM_InfFormerLtmReadUpdate/4096/' --benchmark_repetitions=5 --benchmark_report_aggregates_only=true > "$OUT/ltm_t$t.txt" 2>&1; done
echo "ltm done $(date -u +%T) $(uptime)" | tee -a "$OUT/load.txt"
bench/run_contention.sh --bin mnemo=$BIN --program quickstart=/work/lead/cpu/examples/infinite_former_quickstart --rounds 3 --reps 3 --out "$OUT/contention" > "$OUT/contention.log" 2>&1
echo "contention done $(date -u +%T) $(uptime)" | tee -a "$OUT/load.txt"
echo "end $(date -u +%T) $(uptime)" | tee -a "$OUT/load.txt"
