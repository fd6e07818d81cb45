#!/usr/bin/env bash
# Building the 8.7M-parameter streaming Memformer: mnemo (BM_MemformerConstruct) against PyTorch's
# module + nn.init.normal_ (bench/peers/memformer_cpu.py, case construct), alternated, 4 rounds,
# two threads then one on each side. Usage: run.sh BENCH OUTDIR (BENCH = mnemo_bench_cpu).
set -euo pipefail
bench=$1; out=$2; mkdir -p "$out"
here=$(cd "$(dirname "$0")/../../.." && pwd)
py=${PYTHON:-/work/torchvenv/bin/python}
for round in 1 2 3 4; do
  for threads in 2 1; do
    MNEMO_NUM_THREADS=$threads "$bench" --benchmark_filter='BM_MemformerConstruct' --benchmark_repetitions=3 \
      --benchmark_out="$out/mnemo_t${threads}_r${round}.json" --benchmark_out_format=json > /dev/null
    OMP_WAIT_POLICY=passive "$py" "$here/bench/peers/memformer_cpu.py" --threads "$threads" --warmup 0 --reps 1 \
      --json "$out/torch_t${threads}_r${round}.json" > /dev/null
  done
done
