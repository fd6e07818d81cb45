#!/usr/bin/env bash
# Reruns the measurements of docs/results/wgrad-2026-12-05 (oneDNN provider, libdnnl-dev):
#   1. wgrad_sweep: C += Aᵀ·B at short k on one thread, oneDNN's sgemm against the small-matrix
#      kernel with B's 16-column panels copied (panel_copyB) and Eigen's kernel (SSE build);
#   2. b1_probe: B1 L64 d256 h4 causal self-attention forward+backward, median µs per call over
#      3000 calls, OLD (include/ of commit OLD_COMMIT) against NEW (REPO's include/), alternated,
#      ROUNDS rounds on one thread, then on two.
# Usage: run_wgrad.sh REPO OLD_COMMIT OUT [ROUNDS]
set -euo pipefail
REPO="$(cd "$1" && pwd)"; OLD="$2"; OUT="$3"; ROUNDS="${4:-6}"
H="$(cd "$(dirname "$0")" && pwd)"
W="$(mktemp -d)"
mkdir -p "$OUT" "$W/old"
git -C "$REPO" archive "$OLD" include | tar -x -C "$W/old"
FLAGS=(-O3 -std=c++20 -DNDEBUG -I/usr/include/eigen3 -DMNEMO_CPU_GEMM_ONEDNN)
LIBS=(-ldnnl -fopenmp)
g++ -O2 -std=c++20 -I"$REPO/include" -I/usr/include/eigen3 "$H/wgrad_sweep.cpp" -o "$W/sweep" "${LIBS[@]}"
g++ "${FLAGS[@]}" -I"$W/old/include" "$H/b1_probe.cpp" -o "$W/probe_old" "${LIBS[@]}"
g++ "${FLAGS[@]}" -I"$REPO/include" "$H/b1_probe.cpp" -o "$W/probe_new" "${LIBS[@]}"
"$W/sweep" | tee "$OUT/sweep.txt"
for threads in 1 2; do
  for r in $(seq 1 "$ROUNDS"); do
    order="old new"; (( r % 2 )) || order="new old"
    for v in $order; do
      echo "round $r $v $(MNEMO_NUM_THREADS=$threads "$W/probe_$v" 1 3000)"
    done
  done | tee "$OUT/b1_probe_${threads}t.txt"
done
rm -rf "$W"
