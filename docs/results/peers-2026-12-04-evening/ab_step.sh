#!/bin/bash
# Paired alternation, was the step slowed by the Box-Muller change? old = 2206d4c (bench build in
# /work/lead/bench_before), new = d70d344 (/work/lead/benchdnn); the order within a round alternates.
old=/work/lead/bench_before/bench/mnemo_bench_cpu; new=/work/lead/benchdnn/bench/mnemo_bench_cpu
for r in 1 2 3 4 5 6; do
  if (( r % 2 )); then order="old new"; else order="new old"; fi
  for v in $order; do
    bin=${!v}
    for t in 2 1; do
      echo -n "round $r $v threads=$t: "
      MNEMO_NUM_THREADS=$t $bin --benchmark_filter='BM_Bf16StreamStep|BM_MemformerStreamStep' --benchmark_repetitions=3 \
        --benchmark_report_aggregates_only=true 2>/dev/null | grep median | awk '{printf "%s %s  ", $1, $2}' |
        sed 's/\/min_time:2.000\/real_time_median//g'
      echo
    done
  done
done
