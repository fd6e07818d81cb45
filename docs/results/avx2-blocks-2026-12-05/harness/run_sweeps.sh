#!/usr/bin/env bash
# The one-thread sweeps of docs/results/avx2-blocks-2026-12-05 (Zen 3 EPYC, AVX2 + FMA, no AVX-512).
# Usage: run_sweeps.sh REPO OUT
# The block sweeps build against include/ of 46bf95e (before Avx2Tiles::causal_block, which now
# overrides the block they pass); the expectation harness and the LTM stage harness
# (docs/results/ltm-2026-12-02/ltm_stages_round2.cpp) against 46bf95e and REPO's include/, alternated.
set -euo pipefail
REPO="$1"; OUT="$2"
H="$(cd "$(dirname "$0")" && pwd)"
W="$OUT/work"; rm -rf "$W"; mkdir -p "$W/old"
git -C "$REPO" archive 46bf95e include | tar -x -C "$W/old"
CXX="g++ -O3 -march=native -std=gnu++20 -isystem /usr/include/eigen3"
$CXX -I"$W/old/include" "$H/head_blocks.cpp" -o "$W/head_blocks" -lpthread
$CXX -I"$W/old/include" "$H/forward_blocks.cpp" -o "$W/forward_blocks" -lpthread
$CXX -I"$W/old/include" "$H/expectation_periodic.cpp" -o "$W/expectation_periodic"
for v in old new; do
  inc="$W/old/include"; [[ $v == new ]] && inc="$REPO/include"
  $CXX -DNDEBUG -DMNEMO_CPU_GEMM_ONEDNN -I"$inc" "$REPO/docs/results/ltm-2026-12-02/ltm_stages_round2.cpp" \
    -o "$W/ltm_$v" -ldnnl -lgomp -lpthread
done
# 1. Query blocks of 64, 32, 16 rows (causal, d_h 64): one head forward with P + backward, and the
#    forward without P over 4 heads, at L 64, 128, 256, 512; twice each, alternated.
for L in 64 128 256 512; do
  for rep in 1 2; do
    for b in 64 32 16; do
      echo "L $L block $b (rep $rep)"; "$W/head_blocks" "$b" "$L"; "$W/forward_blocks" "$b" "$L"
    done
  done
done > "$OUT/blocks.txt"
# 2. The Gaussian expectation (32768 queries × 512 functions, widths of period 2): per entry
#    against once per query, and whether the bits agree.
"$W/expectation_periodic" > "$OUT/expectation.txt"
# 3. The LTM stages, one thread, before and after, alternated, 3 rounds.
for r in 1 2 3; do for v in old new; do
  echo "== $v round $r"; MNEMO_NUM_THREADS=1 "$W/ltm_$v" 5 | grep -E "total|read_forward blocked|gaussian"
done; done > "$OUT/ltm_stages.txt"
