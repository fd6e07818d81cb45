#!/usr/bin/env bash
# Alternates two mnemo_bench_cpu binaries (base = main at 0c98004, new = this change): MHA forward+backward
# B16 L512 and the in-run 2048³ GEMM, 3 repetitions each; argument: pairs. (The 17:07 pairs also ran B1 L64.)
for r in $(seq 1 ${1:-4}); do
for bin in base new; do
  B=/work/lead/base0c9/bench/mnemo_bench_cpu; [ $bin = new ] && B=/work/lead/benchdnn/bench/mnemo_bench_cpu
  MNEMO_BENCH_REPETITIONS=3 $B --benchmark_filter='^BM_(AttentionForwardBackward/B:16|EigenGemmCeiling)' --benchmark_report_aggregates_only=true 2>/dev/null | grep median | awk -v b=$bin -v r=$r '{print r, b, $1, $2, $3}'
done; done
