#!/usr/bin/env python3
"""Table of run.sh's session: mnemo (medians of the 2-thread repetitions of both mnemo runs) against
the faster of PyPI torch eager and torch.compile, per case and precision.  summarize.py OUTDIR

Where the session timed the 2048³ GEMM (BM_GemmPrecision, fp32 and bf16, sessions after 2026-12-04
12:00), two more columns: mnemo's rate and the faster peer's as a fraction of the in-run 2048³
GEMM of the case's own precision (median GFLOP/s of the two-thread repetitions), each side
counted with the GEMM work its own code does. The streaming step: as bench_memformer.cpp counts it
(GFLOP_per_step), the same for both sides and precisions. The LTM, peer: the GEMM work of
infinite_former_cpu.py's code, as in bench/summarize_peers.py (23.6 GFLOP: a direct convolution,
the fit over M + L, K and V, dense scores and r·V). The LTM, mnemo: its own GEMM work in units of
U = 2·B·512³ (docs/infinite_former.md, "Third round"): gate 1.5 U by Winograd F(4, 3) in fp32 and
2 U by F(2, 3) in bf16, banded fit and contraction 1.04 U, V projection, r·V and output projection
1 U each: 5.54 U = 11.9 GFLOP in fp32, 6.04 U = 13.0 GFLOP in bf16.

Where the session timed it (after 2026-12-04 15:30), a last line: building the fp32 streaming
model (BM_MemformerConstruct) against the fp32 peer's "construct" case (nn.Module + nn.init)."""
import json
import statistics
import sys

out = sys.argv[1]


def mnemo(tag):
    rows, counters = {}, {}
    for b in json.load(open(f"{out}/mnemo_{tag}.json"))["benchmarks"]:
        if b.get("run_type") == "iteration":
            name = b["run_name"].split("/min_time")[0]
            rows.setdefault(name, []).append(b["real_time"])
            for c in ("GFLOP/s", "GFLOP_per_step"):
                if c in b:
                    counters.setdefault((name, c), []).append(b[c])
    return rows, counters


two, counters = {}, {}
for tag in ("t2_a", "t2_b"):
    rows, cnt = mnemo(tag)
    for k, v in rows.items():
        two.setdefault(k, []).extend(v)
    for k, v in cnt.items():
        counters.setdefault(k, []).extend(v)
one, _ = mnemo("t1")


def ceiling(precision):
    rates = counters.get((f"BM_GemmPrecision/{precision}/2048/2048/2048", "GFLOP/s"))
    return statistics.median(rates) if rates else None


def peer_step(dtype):
    cases = json.load(open(f"{out}/peer_step_{dtype}.json"))["cases"]
    return {v: cases[k]["median_ms"] for k, v in (("step", "eager"), ("step/compile", "compile")) if k in cases}


def peer_ltm(dtype):
    variants = json.load(open(f"{out}/peer_ltm_{dtype}.json"))["variants"]
    return {v: variants[v]["ms_per_segment"] for v in variants}


step_flop = statistics.median(counters[("BM_MemformerStreamStep", "GFLOP_per_step")]) * 1e9 \
    if ("BM_MemformerStreamStep", "GFLOP_per_step") in counters else None
b, l, m, n, d = 8, 512, 512, 512, 512
ltm_flop = 6 * b * l * d * d + 2 * b * m * n * d + 2 * b * n * (m + l) * d + 4 * b * n * d * d \
    + 4 * b * l * n * d + 2 * b * l * d * d
unit = 2.0 * b * 512 ** 3
rows = [("Memformer streaming step, fp32", "BM_MemformerStreamStep", peer_step("float32"), step_flop, step_flop, "fp32"),
        ("Memformer streaming step, bf16", "BM_Bf16StreamStep", peer_step("bfloat16"), step_flop, step_flop, "bf16"),
        ("∞-former LTM read+update, fp32", "BM_LtmPrecision/fp32", peer_ltm("float32"), 5.54 * unit, ltm_flop, "fp32"),
        ("∞-former LTM read+update, bf16", "BM_LtmPrecision/bf16", peer_ltm("bfloat16"), 6.04 * unit, ltm_flop, "bf16")]
ceilings = {p: ceiling(p) for p in ("fp32", "bf16")}
with_ceiling = all(ceilings.values()) and step_flop is not None
head = "| case | mnemo ms, 2 threads: median [min–max] (n) | mnemo ms, 1 thread | torch eager ms | torch.compile ms | faster peer / mnemo |"
rule = "| --- | ---: | ---: | ---: | ---: | ---: |"
if with_ceiling:
    head += " mnemo's GEMM work / own-precision ceiling | faster peer's, same |"
    rule += " ---: | ---: |"
print(head)
print(rule)
for text, name, peer, flop, peer_flop, precision in rows:
    t = two[name]
    med = statistics.median(t)
    best = min(peer.values())
    line = (f"| {text} | {med:.2f} [{min(t):.2f}–{max(t):.2f}] ({len(t)}) | {statistics.median(one[name]):.2f} | "
            f"{peer.get('eager', float('nan')):.2f} | {peer.get('compile', float('nan')):.2f} | **{best / med:.2f}×** |")
    if with_ceiling:
        fraction = lambda work, ms: work / (ms * 1e-3) * 1e-9 / ceilings[precision]
        line += f" {100 * fraction(flop, med):.0f} % | {100 * fraction(peer_flop, best):.0f} % |"
    print(line)
if with_ceiling:
    print(f"\nIn-run 2048³ GEMM, two threads (median GFLOP/s): fp32 {ceilings['fp32']:.1f}, bf16 {ceilings['bf16']:.1f}.")
construct = "BM_MemformerConstruct"
if construct in two:
    peer = json.load(open(f"{out}/peer_step_float32.json"))["cases"].get("construct")
    line = (f"\nBuilding the fp32 streaming model (8.7M parameters): mnemo {statistics.median(two[construct]):.0f} ms "
            f"[{min(two[construct]):.0f}–{max(two[construct]):.0f}] on two threads, "
            f"{statistics.median(one[construct]):.0f} ms on one")
    if peer:
        line += f"; torch eager {peer['median_ms']:.0f} ms [{peer['min_ms']:.0f}–{peer['max_ms']:.0f}] (two threads)"
    print(line + ".")
