#!/usr/bin/env bash
# Builds bench/gemm/bench_gemm.cpp once per GEMM provider and runs them in rounds (every provider
# once per round, so a change of load on the shared machine hits all of them), then writes
# results.json + table.md under the output folder and prints two tables of median GFLOP/s per
# shape and provider, with the min–max over the rounds:
#   1. 2 threads (mnemo's pool; the providers' own threads in the "own threads" columns), rate
#      per wall-clock second: what a user gets, disturbed by whatever else runs on the machine;
#   2. 1 thread (OMP_NUM_THREADS=1, BM_Gemm, BM_GemmBf16, BM_GemmPacked), rate per CPU second:
#      the kernel's speed while it holds a CPU, the steadier comparison on a shared machine.
#
#   bench/run_gemm_providers.sh [--out DIR] [--rounds N] [--providers LIST] [--filter REGEX]
#
#   --out DIR         where the files go (default: out/bench-gemm-<UTC time>)
#   --rounds N        rounds (default 3)
#   --providers LIST  comma-separated, from: eigen-avx2 (Eigen built with -march=x86-64-v3, AVX2
#                     + FMA), eigen (-march=native: AVX-512 here), openblas, blis, onednn
#                     (default: all five)
#   --filter REGEX    Google Benchmark filter (default: all cases)
#   --one-thread-only skip the 2-thread runs (table 1)
#
# Builds go to build-gemm-<provider>/ (Release, no CUDA, ccache when present, -j2, only the
# mnemo_bench_gemm target). OpenBLAS and BLIS are linked in their pthread builds here so that
# BM_GemmOwnThreads measures their own 2-thread runs; BM_Gemm asks them for 1 thread per call, the
# same kernel the serial builds (the library's default) run. Threads: mnemo's pool 2
# (OMP_NUM_THREADS=2); OMP_WAIT_POLICY=passive for oneDNN's OpenMP.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT=""
ROUNDS=3
PROVIDERS="eigen-avx2,eigen,openblas,blis,onednn"
FILTER="."
TWO_THREADS=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --providers) PROVIDERS="$2"; shift 2 ;;
    --filter) FILTER="$2"; shift 2 ;;
    --one-thread-only) TWO_THREADS=0; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
OUT="${OUT:-$ROOT/out/bench-gemm-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
LAUNCHER=()
command -v ccache > /dev/null && LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
MULTIARCH="$(gcc -print-multiarch 2> /dev/null || echo x86_64-linux-gnu)"

IFS=, read -r -a LIST <<< "$PROVIDERS"
for p in "${LIST[@]}"; do
  args=(-DCMAKE_BUILD_TYPE=Release -DMNEMO_ENABLE_CUDA=OFF -DMNEMO_BUILD_TESTS=OFF -DMNEMO_BUILD_EXAMPLES=OFF
        -DMNEMO_INSTALL=OFF "${LAUNCHER[@]}")
  case "$p" in
    eigen-avx2) args+=(-DMNEMO_CPU_GEMM=eigen -DMNEMO_BENCH_ARCH=x86-64-v3) ;;
    eigen) args+=(-DMNEMO_CPU_GEMM=eigen) ;;
    openblas | blis)
      args+=(-DMNEMO_CPU_GEMM="$p" -DMNEMO_GEMM_INCLUDE_DIR="/usr/include/$MULTIARCH/$p-pthread"
             -DMNEMO_GEMM_LIBRARY="/usr/lib/$MULTIARCH/$p-pthread/lib$p.so") ;;
    onednn) args+=(-DMNEMO_CPU_GEMM=onednn) ;;
    *) echo "unknown provider: $p" >&2; exit 2 ;;
  esac
  cmake -S "$ROOT" -B "$ROOT/build-gemm-$p" "${args[@]}" > "$OUT/configure-$p.log"
  cmake --build "$ROOT/build-gemm-$p" -j2 --target mnemo_bench_gemm > "$OUT/build-$p.log"
done

export OMP_WAIT_POLICY=passive
uptime > "$OUT/load.txt"
for ((r = 1; r <= ROUNDS; ++r)); do
  for p in "${LIST[@]}"; do
    if [[ $TWO_THREADS == 1 ]]; then
      echo "round $r/$ROUNDS: $p, 2 threads" >&2
      OMP_NUM_THREADS=2 "$ROOT/build-gemm-$p/bench/mnemo_bench_gemm" --benchmark_filter="$FILTER" \
        --benchmark_out="$OUT/$p-round$r.json" --benchmark_out_format=json > /dev/null
    fi
    echo "round $r/$ROUNDS: $p, 1 thread" >&2
    OMP_NUM_THREADS=1 "$ROOT/build-gemm-$p/bench/mnemo_bench_gemm" --benchmark_filter="^BM_Gemm(Bf16|Packed)?/.*($FILTER)" \
      --benchmark_out="$OUT/$p-1thread-round$r.json" --benchmark_out_format=json > /dev/null
    uptime >> "$OUT/load.txt"
  done
done

python3 - "$OUT" "$ROUNDS" "${LIST[@]}" << 'EOF'
import json, os, statistics, sys
out, rounds, providers = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}

def collect(suffix, rate):
    rates = {}  # shape -> column -> [GFLOP/s per round]
    for p in providers:
        for r in range(1, rounds + 1):
            if not os.path.exists(f"{out}/{p}{suffix}-round{r}.json"):
                continue  # --one-thread-only
            for b in json.load(open(f"{out}/{p}{suffix}-round{r}.json"))["benchmarks"]:
                kind, shape = b["name"].split("/")[:2]
                column = {"BM_Gemm": p, "BM_GemmOwnThreads": f"{p} own threads", "BM_GemmBf16": f"{p} bf16",
                          "BM_GemmPacked": f"{p} packed"}[kind]
                rates.setdefault(shape, {}).setdefault(column, []).append(rate(b))
    return rates

def table(rates):
    columns = list(dict.fromkeys(c for v in rates.values() for c in v))
    lines = ["| shape | " + " | ".join(columns) + " |", "| --- |" + " ---: |" * len(columns)]
    for shape, per in rates.items():
        best = max(statistics.median(v) for c, v in per.items() if "bf16" not in c and "packed" not in c)
        cells = []
        for c in columns:
            v = per.get(c)
            if not v:
                cells.append("")
                continue
            med = statistics.median(v)
            cell = f"{med:.1f} ({min(v):.1f}–{max(v):.1f})"
            cells.append(f"**{cell}**" if med == best and "bf16" not in c and "packed" not in c else cell)
        lines.append(f"| {shape} | " + " | ".join(cells) + " |")
    return lines

wall = collect("", lambda b: b["GFLOPs"])
cpu = collect("-1thread", lambda b: b["GFLOP"] / (b["cpu_time"] * SECONDS[b["time_unit"]]))
json.dump({"two_threads_wall": wall, "one_thread_cpu": cpu}, open(f"{out}/results.json", "w"), indent=1)
lines = ["2 threads, GFLOP/s per wall-clock second, median (min–max) over the rounds:", ""] + table(wall) if wall else []
lines += ["", "1 thread, GFLOP/s per CPU second of the thread, median (min–max) over the rounds:", ""] + table(cpu)
open(f"{out}/table.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
