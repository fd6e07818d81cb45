#!/usr/bin/env bash
# ∞-former cost benchmark, both sides in one go (see docs/benchmarks.md, section "∞-former"):
#   1. builds mnemo_bench_cpu (Release, AVX2+FMA) and runs the BM_InfFormerLtmReadUpdate and
#      BM_FullAttention cases (B 8, segment 512, d 512, 8 heads, N 512, float);
#   2. runs the PyTorch eager peer bench/peers/infinite_former_cpu.py (Debian's torch);
#   3. writes docs/infinite_former_bench.json (raw Google Benchmark output + the peer's JSON),
#      docs/infinite_former_cost.dat and the plot docs/infinite_former_cost.png (gnuplot), and
#      prints a markdown table.
# Environment: PYTHON (default /usr/bin/python3, Debian's torch; /work/torchvenv/bin/python for PyPI
# torch), PEER_VARIANTS (default eager; eager,compile also times torch.compile, and the table
# uses the first variant's figures, all of them in the JSON), THREADS (default 2) for both sides, BUILD_DIR (default build-bench), FILTER (the
# Google Benchmark filter; default all ∞-former cases, e.g. FILTER='InfFormer|FullAttention/(4096|16384|65536)/'
# leaves out the 1M-token full attention, which takes minutes).
# Takes several minutes: the 64k-token state is built by 128 writes and the 1M-token
# full-attention case (B = 1, 4.3 GB of K/V) runs one iteration of ~1 TFLOP.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
threads=${THREADS:-2}
out=$root/docs
mkdir -p "$out"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMNEMO_ENABLE_CUDA=OFF \
  -DMNEMO_BUILD_TESTS=OFF -DMNEMO_BUILD_EXAMPLES=OFF > /dev/null
make -C "$build" -j2 mnemo_bench_cpu > /dev/null

ours=$(mktemp)
peer=$(mktemp)
trap 'rm -f "$ours" "$peer"' EXIT
OMP_NUM_THREADS=$threads "$build/bench/mnemo_bench_cpu" --benchmark_filter="${FILTER:-InfFormer|FullAttention}" \
  --benchmark_out="$ours" --benchmark_out_format=json
"${PYTHON:-/usr/bin/python3}" "$root/bench/peers/infinite_former_cpu.py" --threads "$threads" \
  --variants "${PEER_VARIANTS:-eager}" > "$peer"

/usr/bin/python3 - "$ours" "$peer" "$out" "$threads" <<'PY'
import json, sys
ours_path, peer_path, out, threads = sys.argv[1:5]
ours = json.load(open(ours_path))
peer = json.load(open(peer_path))
json.dump({"mnemo": ours, "pytorch": peer}, open(f"{out}/infinite_former_bench.json", "w"), indent=1)
rows = []
for b in ours["benchmarks"]:
    name, ctx = b["name"].split("/")[0], int(b["name"].split("/")[1])
    batch = b.get("batch", 8)
    scale = {"ms": 1e-3, "us": 1e-6, "ns": 1e-9, "s": 1.0}[b["time_unit"]]
    cpu_per_token = b["cpu_time"] * scale / (batch * 512)
    rows.append((name, ctx, b["s_per_token"], b["state_MB"], b["work_MB"], b["total_MB"], batch, cpu_per_token))
with open(f"{out}/infinite_former_cost.dat", "w") as f:
    f.write("# context_tokens  ltm_us_per_token  full_attention_us_per_token  pytorch_ltm_us_per_token\n")
    for ctx in sorted({r[1] for r in rows}):
        ltm = [r[2] for r in rows if r[0] == "BM_InfFormerLtmReadUpdate" and r[1] == ctx]
        att = [r[2] for r in rows if r[0] == "BM_FullAttention" and r[1] == ctx]
        f.write(f"{ctx} {ltm[0]*1e6 if ltm else 'NaN'} {att[0]*1e6 if att else 'NaN'} {peer['s_per_token']*1e6}\n")
print(f"\n| case | context tokens | rows | wall us/token | CPU us/token | state MB | work MB | total MB |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for r in rows:
    print(f"| {'LTM read + update' if r[0] == 'BM_InfFormerLtmReadUpdate' else 'full causal attention'} | {r[1]} | {int(r[6])} | {r[2]*1e6:.2f} | {r[7]*1e6:.2f} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.1f} |")
ltm = {r[1]: r[2] for r in rows if r[0] == "BM_InfFormerLtmReadUpdate"}
if 4096 in ltm and 1048576 in ltm:
    print(f"\nLTM time ratio 1M / 4k: {ltm[1048576] / ltm[4096]:.3f}")
print(f"PyTorch eager ({peer['torch']}, {threads} threads): {peer['s_per_token']*1e6:.2f} us per token wall, "
      f"{peer['cpu_s_per_token']*1e6:.2f} us CPU ({peer['ms_per_segment']:.1f} ms per segment of {peer['batch']}x{peer['segment']} tokens)")
ltm_cpu = {r[1]: r[7] for r in rows if r[0] == "BM_InfFormerLtmReadUpdate"}
if 4096 in ltm:
    print(f"speed-up of mnemo over PyTorch at 4k: {peer['s_per_token'] / ltm[4096]:.1f}x wall, "
          f"{peer['cpu_s_per_token'] / ltm_cpu[4096]:.1f}x CPU time")
PY

gnuplot <<GP
set terminal pngcairo size 800,520 font "sans,11"
set output "$out/infinite_former_cost.png"
set logscale xy
set xlabel "context length (tokens)"
set ylabel "time per token (microseconds)"
set title "inf-former LTM read + update vs full causal attention (B 8, d 512, 8 heads, N 512, $threads threads)"
set key left top
set grid
set datafile missing "NaN"
plot "$out/infinite_former_cost.dat" using 1:2 with linespoints lw 2 pt 7 title "LTM read + update (mnemo)", \
     "$out/infinite_former_cost.dat" using 1:3 with linespoints lw 2 pt 5 title "full causal attention (mnemo kernels)", \
     "$out/infinite_former_cost.dat" using 1:4 with lines lw 2 dt 2 title "LTM read + update (PyTorch eager; context-independent)"
GP
echo "wrote $out/infinite_former_bench.json, $out/infinite_former_cost.dat, $out/infinite_former_cost.png"
