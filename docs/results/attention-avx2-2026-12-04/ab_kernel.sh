#!/usr/bin/env bash
# The attention benchmarks and the streaming step of one bench binary on two attention kernels,
# alternated (order flips each round), on two threads: AVX2 register tiles (AttentionKernel::Auto
# on a CPU with AVX2 and no AVX-512) against a GEMM call per block (MNEMO_ATTENTION_AVX512=0 makes
# Auto mean Gemm). Usage: ab_kernel.sh BENCH OUTDIR [ROUNDS] [FIRST_ROUND]
set -euo pipefail
BENCH="$1"; OUT="$2"; ROUNDS="${3:-3}"; FIRST="${4:-1}"
mkdir -p "$OUT"
FILTER='^BM_(AttentionForward|AttentionForwardBackward|MemformerStreamStep)/'
run() {  # run TAG ROUND
  local env=()
  [[ $1 == gemm ]] && env=(MNEMO_ATTENTION_AVX512=0)
  env "${env[@]}" OMP_WAIT_POLICY=passive "$BENCH" --benchmark_filter="$FILTER" --benchmark_repetitions=3 \
    --benchmark_out="$OUT/$1_r$2.json" --benchmark_out_format=json > /dev/null
}
for r in $(seq "$FIRST" $((FIRST + ROUNDS - 1))); do
  if (( r % 2 )); then run tiles "$r"; run gemm "$r"; else run gemm "$r"; run tiles "$r"; fi
  echo "round $r $(date -u +%T) $(uptime)" >> "$OUT/load.txt"
done
