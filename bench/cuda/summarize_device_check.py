#!/usr/bin/env python3
"""Markdown table of one device check's GPU benchmarks against their PyTorch peers (issue 8, item 6).

  summarize_device_check.py BENCH_JSON PEERS_JSON MHA_JSON > table.md

BENCH_JSON: mnemo_bench_cuda --benchmark_out (Google Benchmark JSON, repetitions aggregated);
PEERS_JSON: bench/peers/models_cuda.py --json; MHA_JSON: bench/peers/attention_cpu.py --out.
Missing or partial files give "—" cells. Ratios are peer time / mnemo time (> 1: mnemo faster),
next to the issue's targets; rates against the GEMM and copy ceilings measured in the same run.
"""
import json
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def medians(bench):
    """name -> median row (ms, counters) of a Google Benchmark JSON with repetitions."""
    out = {}
    for row in bench.get("benchmarks", []):
        if row.get("aggregate_name") == "median":
            out[row["run_name"]] = row
    return out


def ms(row):
    if not row:
        return None
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[row.get("time_unit", "ns")]
    return row["real_time"] * scale


def fmt(x, digits=3):
    return "—" if x is None else f"{x:.{digits}f}"


def ratio(peer, mine):
    return None if peer is None or mine is None or mine == 0 else peer / mine


def main(argv):
    bench, peers, mha = (load(p) for p in argv[1:4])
    med = medians(bench)
    cases = peers.get("cases", {})

    def peer_ms(key, per_step=False):
        c = cases.get(key)
        if not c:
            return None
        return c["per_step_ms"] if per_step else c["median_ms"]

    sdpa = next((r["median_ms"] for r in mha.get("results", []) if r.get("impl") == "sdpa" and r.get("mode") == "fwdbwd"),
                None)
    pushes = 32  # the streaming cases (Memformer, ∞-former; graph and eager): steps per timed iteration
    graph = med.get("BM_MemformerStreamGraph")
    step_ms = ms(graph) / pushes if graph else None
    eager_row = med.get("BM_MemformerStepEager")

    def per_push(case):  # the streaming cases time `pushes` steps per iteration
        row = med.get(case)
        return ms(row) / pushes if row else None
    rows = [
        ("streaming Memformer step (graph), ms/step", step_ms, peer_ms("memformer_step", True),
         peer_ms("memformer_step/compile", True), ">= 10x eager, >= 2x compiled", graph),
        ("streaming Memformer step (mnemo eager), ms/step", ms(eager_row) / pushes if eager_row else None,
         peer_ms("memformer_step", True), peer_ms("memformer_step/compile", True), "(no target)", eager_row),
        ("streaming ∞-former step (graph), ms/step", per_push("BM_InfiniteFormerStreamGraph"), None, None,
         "(no peer; vs mnemo eager below)", med.get("BM_InfiniteFormerStreamGraph")),
        ("streaming ∞-former step (mnemo eager), ms/step", per_push("BM_InfiniteFormerStepEager"), None, None, "(no target)",
         med.get("BM_InfiniteFormerStepEager")),
        ("MRBP rollout T=4 bf16 (peer: BPTT), ms", ms(med.get("BM_MemformerMrbpRollout")), peer_ms("memformer_bptt4"),
         peer_ms("memformer_bptt4/compile"), ">= 5x eager, >= 3x compiled", med.get("BM_MemformerMrbpRollout")),
        ("MHA fwd+bwd B16 L512 d512 h8 bf16, ms", ms(med.get("BM_MhaForwardBackward")), sdpa, None, ">= 2x SDPA eager",
         med.get("BM_MhaForwardBackward")),
        ("∞-former LTM read+update fwd+bwd, ms", ms(med.get("BM_LtmReadUpdate")), peer_ms("ltm"), peer_ms("ltm/compile"),
         ">= 3x eager, >= 2x compiled", med.get("BM_LtmReadUpdate")),
    ]
    gemm_bf16 = (med.get("BM_GemmCeiling<__nv_bfloat16>") or {}).get("TFLOPs")
    gemm_fp32 = (med.get("BM_GemmCeiling<float>") or {}).get("TFLOPs")
    copy = (med.get("BM_CopyCeiling") or {}).get("GBps")
    print("| case | mnemo | torch eager | torch.compile (reduce-overhead) | x eager | x compiled | target | "
          "TFLOP/s (est.) | of GEMM ceiling |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, mine, eager, comp, target, row in rows:
        tflops = (row or {}).get("TFLOPs")
        ceiling = gemm_bf16 if "bf16" in name else gemm_fp32
        frac = None if tflops is None or not ceiling else 100.0 * tflops / ceiling
        print(f"| {name} | {fmt(mine)} | {fmt(eager)} | {fmt(comp)} | {fmt(ratio(eager, mine), 2)} | "
              f"{fmt(ratio(comp, mine), 2)} | {target} | {fmt(tflops, 2)} | {fmt(frac, 1)} % |")
    print()
    print(f"Ceilings measured in the same run: cuBLAS GEMM 4096³ bf16 {fmt(gemm_bf16, 1)} TFLOP/s, fp32 "
          f"{fmt(gemm_fp32, 1)} TFLOP/s; device copy {fmt(copy, 0)} GB/s (read + write).")
    if peers.get("unavailable"):
        print()
        print("Peer variants that did not run: " + "; ".join(f"{k}: {v}" for k, v in peers["unavailable"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv if len(sys.argv) == 4 else sys.argv[:1] + ["", "", ""]))
