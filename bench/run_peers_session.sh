#!/usr/bin/env bash
# One interleaved session, mnemo vs PyPI torch (eager and torch.compile) at issue #17's cases:
#   MHA forward and forward+backward (causal) at B16 L512 d512 h8 and B1 L64 d256 h4,
#   the Memformer streaming step (B1 L64 d256 h4 ffn1024 K64 4+4 layers vocab 256),
#   the ∞-former LTM read+update (B8 seg512 d512 N512, state of 4096 tokens),
#   and the in-run 2048³ float GEMM ceilings (BM_EigenGemmCeiling, BM_MemformerGemmCeiling).
# Rounds alternate mnemo then torch; repetitions of all rounds are pooled by summarize_peers.py.
#
#   bench/run_peers_session.sh [--out DIR] [--rounds N] [--reps N] [--no-ltm]
#
# Environment: MNEMO_BENCH_BUILD (build folder with mnemo_bench_cpu already built, default build),
# TORCH_PYTHON (default /work/torchvenv/bin/python: PyPI torch with MKL + oneDNN).
# torch runs with torch.set_num_threads(2) and OMP_WAIT_POLICY=passive; mnemo with no setting
# (its own thread pool).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${MNEMO_BENCH_BUILD:-$ROOT/build}"
PY="${TORCH_PYTHON:-/work/torchvenv/bin/python}"
OUT="$ROOT/out/peers-$(date -u +%Y%m%dT%H%M%SZ)"
ROUNDS=2
REPS=3
LTM=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    --no-ltm) LTM=0; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "run_peers_session.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
BENCH="$BUILD/bench/mnemo_bench_cpu"
FILTER='^BM_(AttentionForward|AttentionForwardBackward|EigenGemmCeiling|MemformerStreamStep|MemformerGemmCeiling)'
[[ $LTM == 1 ]] && FILTER="$FILTER|^BM_InfFormerLtmReadUpdate/4096/"
note() { echo "$1 $(date -u +%H:%M:%S) $(uptime)" | tee -a "$OUT/load.txt" >&2; }
note start
for r in $(seq 1 "$ROUNDS"); do
  note "round-$r-mnemo"
  MNEMO_BENCH_REPETITIONS=$REPS "$BENCH" --benchmark_filter="$FILTER" --benchmark_repetitions="$REPS" \
    --benchmark_out="$OUT/mnemo_r$r.json" --benchmark_out_format=json >&2
  note "round-$r-torch"
  export OMP_WAIT_POLICY=passive
  "$PY" "$ROOT/bench/peers/attention_cpu.py" --threads 2 --impls sdpa,manual --variants eager \
    --repetitions "$REPS" --min-time 0.5 --out "$OUT/attn_eager_r$r.json" > /dev/null
  "$PY" "$ROOT/bench/peers/attention_cpu.py" --threads 2 --impls sdpa,manual --variants compile \
    --repetitions "$REPS" --min-time 0.5 --out "$OUT/attn_compile_r$r.json" > /dev/null
  "$PY" "$ROOT/bench/peers/memformer_cpu.py" --threads 2 --variants eager,compile --warmup 3 --reps $((5 * REPS)) \
    --json "$OUT/memformer_r$r.json" >&2
  if [[ $LTM == 1 ]]; then
    "$PY" "$ROOT/bench/peers/infinite_former_cpu.py" --threads 2 --variants eager,compile --repeats "$REPS" \
      > "$OUT/ltm_r$r.json"
  fi
  unset OMP_WAIT_POLICY
done
note end
"$PY" "$ROOT/bench/summarize_peers.py" "$OUT" --json "$OUT/results.json" | tee "$OUT/table.md"
