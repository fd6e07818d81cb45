#!/usr/bin/env python3
"""Table of run.sh's session: mnemo (medians of the 2-thread repetitions of both mnemo runs) against
the faster of PyPI torch eager and torch.compile, per case and precision.  summarize.py OUTDIR"""
import json
import statistics
import sys

out = sys.argv[1]


def mnemo(tag):
    rows = {}
    for b in json.load(open(f"{out}/mnemo_{tag}.json"))["benchmarks"]:
        if b.get("run_type") == "iteration":
            rows.setdefault(b["run_name"].split("/min_time")[0], []).append(b["real_time"])
    return rows


two = {}
for tag in ("t2_a", "t2_b"):
    for k, v in mnemo(tag).items():
        two.setdefault(k, []).extend(v)
one = mnemo("t1")


def peer_step(dtype):
    cases = json.load(open(f"{out}/peer_step_{dtype}.json"))["cases"]
    return {v: cases[k]["median_ms"] for k, v in (("step", "eager"), ("step/compile", "compile")) if k in cases}


def peer_ltm(dtype):
    variants = json.load(open(f"{out}/peer_ltm_{dtype}.json"))["variants"]
    return {v: variants[v]["ms_per_segment"] for v in variants}


rows = [("Memformer streaming step, fp32", "BM_MemformerStreamStep", peer_step("float32")),
        ("Memformer streaming step, bf16", "BM_Bf16StreamStep", peer_step("bfloat16")),
        ("∞-former LTM read+update, fp32", "BM_LtmPrecision/fp32", peer_ltm("float32")),
        ("∞-former LTM read+update, bf16", "BM_LtmPrecision/bf16", peer_ltm("bfloat16"))]
print("| case | mnemo ms, 2 threads: median [min–max] (n) | mnemo ms, 1 thread | torch eager ms | torch.compile ms | faster peer / mnemo |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for text, name, peer in rows:
    t = two[name]
    med = statistics.median(t)
    best = min(peer.values())
    print(f"| {text} | {med:.2f} [{min(t):.2f}–{max(t):.2f}] ({len(t)}) | {statistics.median(one[name]):.2f} | "
          f"{peer.get('eager', float('nan')):.2f} | {peer.get('compile', float('nan')):.2f} | **{best / med:.2f}×** |")
