#!/bin/sh
MNEMO_SOLO=256 exec /work/lead/benchexp/bench/mnemo_bench_cpu "$@"
