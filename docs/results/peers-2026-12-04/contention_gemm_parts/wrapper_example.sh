#!/bin/sh
MNEMO_EXP_PARTS=2 exec /work/lead/benchexp/bench/mnemo_bench_cpu "$@"
