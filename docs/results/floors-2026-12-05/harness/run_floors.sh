#!/usr/bin/env bash
# The measurements of docs/results/floors-2026-12-05 (Zen 3 EPYC, 2 vCPUs). Usage:
#   [PARTS="1 2 3 4 5"] run_floors.sh REPO BENCH_BUILD OUT
# REPO: the mnemo checkout (include/); BENCH_BUILD: a -DMNEMO_CPU_GEMM=onednn Release build dir;
# PARTS: which of the numbered parts below to run (all by default; 6 runs before 5).
set -euo pipefail
REPO="$1"; BUILD="$2"; OUT="$3"
H="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$OUT"; W="$OUT/work"; rm -rf "$W"; mkdir -p "$W"
CXX="g++ -O3 -march=native -std=gnu++20 -DMNEMO_CPU_GEMM_ONEDNN -I$REPO/bench -I/usr/include/eigen3"
LIBS="-ldnnl -lgomp -lpthread"
python3 "$H/make_probe_tree.py" "$REPO" "$W/probe"
python3 "$H/make_prepack_tree.py" "$REPO" "$W/prepack"
$CXX -I"$REPO/include" "$H/step_floor.cpp" -o "$W/step_floor" $LIBS
$CXX -DPROBE -I"$W/probe/include" "$H/step_floor.cpp" -o "$W/step_probe" $LIBS
$CXX -DPREPACK -I"$W/prepack/include" "$H/step_floor.cpp" -o "$W/step_prepack" $LIBS
g++ -O3 -march=native -std=gnu++17 "$H/pk.cpp" -o "$W/pk" -ldnnl -lgomp
PARTS="${PARTS:-1 2 3 4 5 6}"
want() { [[ " $PARTS " == *" $1 "* ]]; }
echo "start (parts $PARTS) $(date -u +%T) $(uptime)" >> "$OUT/load.txt"
# 1. One thread against two, alternated: the B1 attention and the streaming step (bench binary).
want 1 && for r in 1 2 3 4; do
  for t in 1 2; do
    MNEMO_NUM_THREADS=$t "$BUILD/bench/mnemo_bench_cpu" \
      --benchmark_filter='^BM_(AttentionForwardBackward/B:1/|MemformerStreamStep)' --benchmark_repetitions=3 \
      --benchmark_out="$OUT/threads${t}_r$r.json" --benchmark_out_format=json > /dev/null
  done
  echo "threads round $r $(date -u +%T) $(uptime)" >> "$OUT/load.txt"
done
# 2. Weights in cache or not: 1+1 layers, one model (9.5 MB of weights) or eight (76 MB); 4+4 layers.
want 2 && for r in 1 2 3; do
  for args in "1 1 1 600" "1 1 8 600" "4 4 1 300"; do "$W/step_floor" $args; done
done > "$OUT/cache.txt"
want 2 && echo "cache $(date -u +%T) $(uptime)" >> "$OUT/load.txt"
# 3. The prepacked-weights prototype and the bias pass left out (wrong results), against neither.
want 3 && for r in 1 2 3 4; do
  for v in none PACK NOBIAS; do echo "variant $v"; env $v=1 "$W/step_prepack" 4 4 1 300; done
done > "$OUT/prepack.txt"
want 3 && echo "prepack $(date -u +%T) $(uptime)" >> "$OUT/load.txt"
# 4. The probes: time inside the GEMM calls, forks per call site, the pool's waits.
want 4 && for r in 1 2 3 4 5 6; do echo "two threads"; "$W/step_probe" 4 4 1 300; done > "$OUT/probe.txt"
want 4 && for r in 1 2; do echo "one thread"; MNEMO_NUM_THREADS=1 "$W/step_probe" 4 4 1 200; done >> "$OUT/probe.txt"
want 4 && echo "probe $(date -u +%T) $(uptime)" >> "$OUT/load.txt"
# 6. Part 3 on one thread (no second vCPU in the measurement).
want 6 && for r in 1 2 3; do
  for v in none PACK NOBIAS; do echo "variant $v, one thread"; env $v=1 MNEMO_NUM_THREADS=1 "$W/step_prepack" 4 4 1 150; done
  echo "variant PACK with PACK_MAX_N=256, one thread"
  PACK=1 PACK_MAX_N=256 MNEMO_NUM_THREADS=1 "$W/step_prepack" 4 4 1 150
done > "$OUT/prepack_one_thread.txt"
want 6 && echo "prepack, one thread $(date -u +%T) $(uptime)" >> "$OUT/load.txt"
# 5. One thread: dnnl_sgemm against the matmul primitive on weights packed once, hot and cold.
want 5 && "$W/pk" > "$OUT/pk.txt"
echo "end $(date -u +%T) $(uptime)" >> "$OUT/load.txt"
