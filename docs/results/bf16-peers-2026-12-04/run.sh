#!/usr/bin/env bash
# mnemo in bfloat16 and in float against PyPI torch in bfloat16 and in float (eager and torch.compile),
# the streaming Memformer step and the ∞-former LTM, in one session on an idle machine:
#   docs/results/bf16-peers-2026-12-04/run.sh BENCH OUTDIR
# BENCH = mnemo_bench_cpu of a Release build with the oneDNN provider (-DMNEMO_CPU_GEMM=onednn).
# Order: mnemo, the four peer runs, mnemo again (5 repetitions each time), then mnemo on one thread.
# Each mnemo run includes the 2048³ GEMM in fp32 and bf16 (BM_GemmPrecision): the in-run ceilings;
# since 2026-12-04 15:30 also building the fp32 streaming model (BM_MemformerConstruct).
set -euo pipefail
BENCH="${1:?usage: run.sh BENCH OUTDIR}"
OUT="${2:?usage: run.sh BENCH OUTDIR}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
PY="${PYTHON:-/work/torchvenv/bin/python}"
mkdir -p "$OUT"
FILTER='BM_MemformerStreamStep|BM_Bf16StreamStep|BM_LtmPrecision|BM_GemmPrecision/(fp32|bf16)/2048/|BM_MemformerConstruct'
lscpu > "$OUT/lscpu.txt"
uptime > "$OUT/load.txt"
mnemo() {  # mnemo THREADS TAG
  MNEMO_NUM_THREADS="$1" "$BENCH" --benchmark_filter="$FILTER" --benchmark_repetitions=5 \
    --benchmark_out="$OUT/mnemo_$2.json" --benchmark_out_format=json >/dev/null
  uptime >> "$OUT/load.txt"
}
mnemo 2 t2_a
for dtype in bfloat16 float32; do
  OMP_WAIT_POLICY=passive "$PY" "$ROOT/bench/peers/memformer_cpu.py" --dtype "$dtype" --variants eager,compile \
    --json "$OUT/peer_step_$dtype.json" >/dev/null
  OMP_WAIT_POLICY=passive "$PY" "$ROOT/bench/peers/infinite_former_cpu.py" --dtype "$dtype" --variants eager,compile \
    > "$OUT/peer_ltm_$dtype.json"
  uptime >> "$OUT/load.txt"
done
mnemo 2 t2_b
mnemo 1 t1
