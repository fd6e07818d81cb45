#!/bin/bash
# paired alternation: old (9f3092b, before the softmax change) vs new (softmax on whole packets, cost 8)
for r in 1 2 3 4 5 6; do
  for v in old new; do
    for t in 2 1; do
      echo -n "round $r $v threads=$t: "
      MNEMO_NUM_THREADS=$t ${BENCH_DIR:-/tmp}/bench_$v --benchmark_filter='BM_Bf16StreamStep|BM_MemformerStreamStep' --benchmark_repetitions=3 --benchmark_report_aggregates_only=true 2>/dev/null | grep median | awk '{printf "%s %s  ", $1, $2}' | sed 's/\/min_time:2.000\/real_time_median//g'
      echo
    done
  done
done
