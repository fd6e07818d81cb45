#!/usr/bin/env bash
# Builds mnemo_bench_cpu and runs the Memformer benchmarks (bench/cpu/bench_memformer.cpp) and
# their PyTorch eager peer (bench/peers/memformer_cpu.py) in one session, then writes
#   OUT/stream.json, OUT/peer.json, OUT/rollout.json, OUT/resident.json   raw results
#   OUT/summary.md                                                        the tables
#   OUT/peak_memory.dat + docs/memformer_peak_memory.png                   the plot (gnuplot)
# and prints summary.md.
#
#   bench/run_memformer.sh [--out DIR] [--reps N] [--batch B] [--threads N] [--stream-tokens N] [--quick]
#                          [--skip-rollout] [--skip-resident] [--no-plot]
#
#   --out DIR           where the files go (default out/memformer-bench-<UTC time>)
#   --reps N            repetitions of the streaming cases, both sides (default 5 mnemo, 15 peer)
#   --batch B           rollout batch (default 2; the issue names 16, see bench_memformer.cpp)
#   --stream-tokens N   tokens read by the resident-memory case (default 1000000)
#   --quick             smoke test: 2 repetitions, 20k-token stream, rollouts T = 4 only
#   --no-plot           leave docs/memformer_peak_memory.png alone
#
# Threads: OMP_NUM_THREADS=2 for mnemo (its own thread pool reads it: kernels and GEMM),
# torch.set_num_threads(2) for the peer (--threads N to change both). OMP_WAIT_POLICY defaults to
# passive; it only affects the peer (libgomp) since mnemo's kernels left OpenMP (issue #17): with
# libgomp's default policy a waiting thread spins on the core its partner needs, and on a machine
# busy with other work a two-thread step ran 35x slower than a one-thread one. Compare ratios
# from one run.
# Environment: MNEMO_BENCH_BUILD (build folder, default build-bench), PYTHON (default /usr/bin/python3;
# /work/torchvenv/bin/python for PyPI torch), PEER_VARIANTS (default eager; eager,compile adds
# torch.compile, and the table then uses the faster of the two).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${MNEMO_BENCH_BUILD:-$ROOT/build-bench}"
PYTHON="${PYTHON:-/usr/bin/python3}"
OUT=""
REPS=5
PEER_REPS=15
BATCH=2
THREADS=2
STREAM_TOKENS=1000000
PEER_VARIANTS="${PEER_VARIANTS:-eager}"
ROLLOUT_FILTER='BM_MemformerRollout/(BPTT|MRBP)/(4|16|32)/'
ROLLOUT=1
RESIDENT=1
PLOT=1

while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --reps) REPS="$2"; PEER_REPS="$2"; shift 2 ;;
    --batch) BATCH="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --stream-tokens) STREAM_TOKENS="$2"; shift 2 ;;
    --quick) REPS=2; PEER_REPS=3; STREAM_TOKENS=20000; ROLLOUT_FILTER='BM_MemformerRollout/(BPTT|MRBP)/4/'; shift ;;
    --skip-rollout) ROLLOUT=0; shift ;;
    --skip-resident) RESIDENT=0; shift ;;
    --no-plot) PLOT=0; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done
OUT="${OUT:-$ROOT/out/memformer-bench-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMNEMO_ENABLE_CUDA=OFF -DMNEMO_BUILD_TESTS=OFF \
  -DMNEMO_BUILD_EXAMPLES=OFF -DMNEMO_BUILD_BENCHMARKS=ON > "$OUT/cmake.log"
make -C "$BUILD" -j2 mnemo_bench_cpu > "$OUT/make.log"
BENCH="$BUILD/bench/mnemo_bench_cpu"
export OMP_NUM_THREADS="$THREADS"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
echo "OMP_NUM_THREADS=$OMP_NUM_THREADS OMP_WAIT_POLICY=$OMP_WAIT_POLICY load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/meta.txt" >&2

echo "== mnemo streaming cases and GEMM ceiling" >&2
"$BENCH" --benchmark_filter='BM_Memformer(StreamStep|StreamRead|StreamGenerate|GemmCeiling)' \
  --benchmark_repetitions="$REPS" --benchmark_out="$OUT/stream.json" --benchmark_out_format=json >&2
echo "== PyTorch eager peer" >&2
"$PYTHON" "$ROOT/bench/peers/memformer_cpu.py" --threads "$THREADS" --reps "$PEER_REPS" --variants "$PEER_VARIANTS" \
  --json "$OUT/peer.json" >&2
if [[ $ROLLOUT == 1 ]]; then
  echo "== rollouts, MRBP vs BPTT (batch $BATCH)" >&2
  MNEMO_BENCH_ROLLOUT_BATCH="$BATCH" "$BENCH" --benchmark_filter="$ROLLOUT_FILTER" \
    --benchmark_out="$OUT/rollout.json" --benchmark_out_format=json >&2
fi
if [[ $RESIDENT == 1 ]]; then
  echo "== resident memory over a $STREAM_TOKENS-token stream" >&2
  MNEMO_BENCH_STREAM_TOKENS="$STREAM_TOKENS" "$BENCH" --benchmark_filter='BM_MemformerStreamResident' \
    --benchmark_out="$OUT/resident.json" --benchmark_out_format=json >&2
fi

"$PYTHON" - "$OUT" <<'PY'
import json, os, statistics, sys
out = sys.argv[1]
def load(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if os.path.exists(p) and os.path.getsize(p) > 0 else None
def runs(doc, prefix):
    return [b for b in doc["benchmarks"] if b["name"].startswith(prefix) and b.get("run_type") == "iteration"]
def ms(b):
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b["time_unit"]]
    return b["real_time"] * scale
lines = []
stream, peer = load("stream.json"), load("peer.json")
ctx = stream["context"]
lines.append(f"machine: {ctx.get('num_cpus')} CPUs at {ctx.get('mhz_per_cpu')} MHz, load average "
             f"{', '.join(f'{x:.2f}' for x in ctx.get('load_avg', []))} at the start of the streaming cases; "
             f"{os.environ.get('OMP_NUM_THREADS')} mnemo threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}; "
             f"torch {peer['torch']} ({peer['threads']} threads)\n")
lines.append("| case (B=1, L=64, d=256, 4+4 layers) | mnemo ms (median) | PyTorch ms (median, faster variant) | speed-up | mnemo GFLOP/s |")
lines.append("| --- | ---: | ---: | ---: | ---: |")
ceiling = statistics.median(b["GFLOP/s"] for b in runs(stream, "BM_MemformerGemmCeiling"))
for case, peer_case in (("BM_MemformerStreamStep", "step"), ("BM_MemformerStreamRead", "read"),
                        ("BM_MemformerStreamGenerate", None)):
    rs = runs(stream, case)
    if not rs:
        continue
    m = statistics.median(ms(b) for b in rs)
    rate = statistics.median(b.get("GFLOP/s", float("nan")) for b in rs)
    # the faster of the peer's variants (eager, and "<case>/compile" when run)
    p = min((v["median_ms"] for k, v in peer["cases"].items() if k.split("/")[0] == peer_case),
            default=None) if peer_case else None
    lines.append(f"| {case.replace('BM_Memformer', '')} | {m:.2f} | {p:.2f} | {p / m:.1f}x | {rate:.1f} |" if p else
                 f"| {case.replace('BM_Memformer', '')} (64 tokens, cached decoder, then encoded) | {m:.2f} | – | – | – |")
lines.append(f"\nEigen GEMM ceiling (2048³ float, same run): {ceiling:.1f} GFLOP/s; the step reaches "
             f"{100 * statistics.median(b['GFLOP/s'] for b in runs(stream, 'BM_MemformerStreamStep')) / ceiling:.0f}% of it.\n")
roll = load("rollout.json")
if roll:
    lines.append("| method | T | batch | peak above start MiB | absolute peak MiB | stored memories MiB | s per rollout | tokens/s |")
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    table = {}
    for b in roll["benchmarks"]:
        _, method, t = b["name"].split("/")[:3]
        table[(method, int(t))] = b
        lines.append(f"| {method} | {t} | {int(b['batch'])} | {b['peak_above_start_MiB']:.1f} | {b['peak_MiB']:.1f} | "
                     f"{b['memories_MiB']:.2f} | {ms(b) / 1e3:.2f} | {b['tokens/s']:.0f} |")
    ts = sorted({t for (_, t) in table})
    lines.append("")
    for t in ts:
        if ("BPTT", t) in table and ("MRBP", t) in table:
            bp, mr = table[("BPTT", t)], table[("MRBP", t)]
            lines.append(f"- T={t}: BPTT/MRBP peak above start {bp['peak_above_start_MiB'] / mr['peak_above_start_MiB']:.1f}x, "
                         f"absolute {bp['peak_MiB'] / mr['peak_MiB']:.1f}x; MRBP/BPTT time {ms(mr) / ms(bp):.2f}x")
    mr_ts = [t for t in ts if ("MRBP", t) in table]
    if len(mr_ts) >= 2:
        a, z = table[("MRBP", mr_ts[0])], table[("MRBP", mr_ts[-1])]
        lines.append(f"- MRBP peak growth T={mr_ts[0]}→{mr_ts[-1]}: {z['peak_above_start_MiB'] - a['peak_above_start_MiB']:.2f} MiB; "
                     f"stored memories grew by {z['memories_MiB'] - a['memories_MiB']:.2f} MiB")
    with open(os.path.join(out, "peak_memory.dat"), "w") as f:
        f.write("# T  BPTT_peak_above_start_MiB  MRBP_peak_above_start_MiB\n")
        for t in ts:
            f.write(f"{t} {table.get(('BPTT', t), {}).get('peak_above_start_MiB', float('nan'))} "
                    f"{table.get(('MRBP', t), {}).get('peak_above_start_MiB', float('nan'))}\n")
res = load("resident.json")
if res:
    b = res["benchmarks"][0]
    lines.append(f"\nresident memory over {int(b['tokens'])} tokens: state {b['state_10k_KiB']:.0f} KiB after 10k tokens, "
                 f"{b['state_end_KiB']:.0f} KiB at the end; arena in use {b['arena_in_use_10k_KiB']:.0f} KiB → "
                 f"{b['arena_in_use_end_KiB']:.0f} KiB; process RSS {b['rss_10k_MiB']:.1f} MiB → {b['rss_end_MiB']:.1f} MiB "
                 f"({ms(b) / 1e3:.0f} s)")
open(os.path.join(out, "summary.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY

if [[ $PLOT == 1 && -f "$OUT/peak_memory.dat" ]] && command -v gnuplot > /dev/null; then
  gnuplot <<GP
set terminal pngcairo size 720,440 font "sans,11"
set output "$ROOT/docs/memformer_peak_memory.png"
set title "Memformer training: arena peak above rollout start (batch $BATCH, L=128, d=512, 4+8 layers)"
set xlabel "horizon T (segments per rollout)"
set ylabel "peak memory above start (MiB)"
set logscale y
set key top left
set grid
set xtics (4, 16, 32)
plot "$OUT/peak_memory.dat" using 1:2 with linespoints lw 2 pt 7 title "full BPTT", \
     "$OUT/peak_memory.dat" using 1:3 with linespoints lw 2 pt 5 title "MRBP"
GP
  echo "plot: $ROOT/docs/memformer_peak_memory.png" >&2
fi
echo "results: $OUT" >&2
