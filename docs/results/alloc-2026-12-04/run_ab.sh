#!/usr/bin/env bash
# Paired alternation: old (7b04c11) and new (0b5c176) builds, oneDNN and Eigen providers.
set -eu
OUT=${1:-/tmp/ab}
for r in 1 2 3 4 5 6; do
  for b in benchold benchdnn benchdefold benchdef; do
    /work/lead/$b/bench/mnemo_bench_cpu --benchmark_filter='BM_(MemformerStreamStep|Bf16StreamStep)' \
      --benchmark_out="$OUT/${b}_r$r.json" --benchmark_out_format=json > /dev/null 2>&1
  done
done
