#!/usr/bin/env python3
"""Table of one bench/run_peers_session.sh session: mnemo vs PyPI torch eager and torch.compile.

Reads OUT/mnemo_r*.json (Google Benchmark), OUT/attn_eager_r*.json, OUT/attn_compile_r*.json
(bench/peers/attention_cpu.py), OUT/memformer_r*.json (memformer_cpu.py), OUT/ltm_r*.json
(infinite_former_cpu.py) and OUT/load.txt; pools the repetitions of all rounds per side and prints
a markdown table: median [min–max] per side, ratio = faster peer / mnemo (> 1: mnemo faster), and
mnemo's rate (and the faster peer's, for the same FLOP count) as a fraction of the faster in-run
2048³ GEMM ceiling, which is mnemo's Eigen GEMM as bench/CMakeLists.txt builds it, not the CPU's peak. FLOPs: attention as in
bench_attention.cpp (forward 8·B·L·d² + 4·B·L²·d, dense; forward+backward 3×), the streaming step
as bench_memformer.cpp counts it (its GFLOP_per_step counter), the LTM read+update as the GEMM
work of infinite_former_cpu.py's code (conv 6·B·L·d², Psi_s B 2·B·M·N·d, G_inf 2·B·N·(M+L)·d,
K/V 4·B·N·d², scores and r·V 4·B·L·N·d, output 2·B·L·d²).

  python3 bench/summarize_peers.py OUT [--json FILE]
"""
import glob
import json
import os
import re
import statistics
import sys


def to_ms(v, unit):
    return v * {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def pool(paths, loader):
    out = {}
    for p in sorted(paths):
        for key, vals in loader(json.load(open(p))).items():
            out.setdefault(key, []).extend(vals)
    return out


def mnemo_rows(doc):
    rows = {}
    for b in doc["benchmarks"]:
        if b.get("run_type") != "iteration":
            continue
        name = b["run_name"]
        m = re.match(r"BM_(AttentionForward|AttentionForwardBackward)/B:(\d+)/L:(\d+)/d:(\d+)/h:(\d+)", name)
        if m:
            mode = "fwd" if m.group(1) == "AttentionForward" else "fwdbwd"
            key = ("attn", mode) + tuple(int(g) for g in m.groups()[1:])
        elif name.startswith("BM_MemformerStreamStep"):
            key = ("step",)
        elif name.startswith("BM_InfFormerLtmReadUpdate/4096"):
            key = ("ltm",)
        elif name.startswith("BM_EigenGemmCeiling") or name.startswith("BM_MemformerGemmCeiling"):
            key = ("gemm", name.split("/")[0])
        else:
            continue
        rows.setdefault(key, []).append({"ms": to_ms(b["real_time"], b["time_unit"]),
                                         "gflops": b.get("GFLOP/s"), "gflop": b.get("GFLOP_per_step")})
    return rows


def attn_peer(doc):
    rows = {}
    for r in doc["results"]:
        key = ("attn", r["mode"], r["B"], r["L"], r["d"], r["h"], r["variant"], r["impl"])
        rows.setdefault(key, []).extend(r["times_ms"])
    return rows


def memformer_peer(doc):
    return {("step", "eager" if "/" not in k else k.split("/")[1]): v["times_ms"]
            for k, v in doc["cases"].items() if k.split("/")[0] == "step"}


def ltm_peer(doc):
    return {("ltm", v): d["all_ms"] for v, d in doc.get("variants", {}).items()}


def fmt(vals, digits):
    return f"{statistics.median(vals):.{digits}f} [{min(vals):.{digits}f}–{max(vals):.{digits}f}]"


def main():
    out = sys.argv[1]
    ours = pool(glob.glob(os.path.join(out, "mnemo_r*.json")), mnemo_rows)
    peer = pool(glob.glob(os.path.join(out, "attn_*_r*.json")), attn_peer)
    peer.update(pool(glob.glob(os.path.join(out, "memformer_r*.json")), memformer_peer))
    peer.update(pool(glob.glob(os.path.join(out, "ltm_r*.json")), ltm_peer))
    unavailable = []
    for p in sorted(glob.glob(os.path.join(out, "*_r*.json"))):
        doc = json.load(open(p))
        if isinstance(doc, dict) and doc.get("unavailable"):
            unavailable.append(f"{os.path.basename(p)}: {doc['unavailable']}")

    gemms = {k[1]: statistics.median(r["gflops"] for r in v) for k, v in ours.items() if k[0] == "gemm"}
    ceiling_name = max(gemms, key=gemms.get)
    ceiling = gemms[ceiling_name]

    def best_peer(prefix, variant):
        cands = {k: v for k, v in peer.items() if k[:len(prefix)] == prefix and k[len(prefix)] == variant}
        if not cands:
            return None, None
        k = min(cands, key=lambda k: statistics.median(cands[k]))
        return cands[k], (k[-1] if prefix[0] == "attn" else variant)

    lines = ["| case | mnemo ms | PyPI torch eager ms | torch.compile ms | faster peer / mnemo | mnemo of GEMM ceiling "
             "| faster peer's rate / same ceiling |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    result = {"gemm_gflops": gemms, "ceiling": ceiling_name, "rows": []}
    cases = [(("attn", "fwd", 16, 512, 512, 8), "MHA forward, B16 L512 d512 h8 (causal)", 1),
             (("attn", "fwdbwd", 16, 512, 512, 8), "MHA forward+backward, B16 L512 d512 h8 (causal)", 1),
             (("attn", "fwd", 1, 64, 256, 4), "MHA forward, B1 L64 d256 h4 (causal)", 3),
             (("attn", "fwdbwd", 1, 64, 256, 4), "MHA forward+backward, B1 L64 d256 h4 (causal)", 3),
             (("step",), "Memformer streaming step, B1 L64 d256 h4 ffn1024 K64 4+4 layers", 2),
             (("ltm",), "∞-former LTM read+update, B8 seg512 d512 N512", 1)]
    for key, text, digits in cases:
        if key not in ours:
            continue
        mine = [r["ms"] for r in ours[key]]
        m_med = statistics.median(mine)
        if key[0] == "attn":
            _, mode, b, l, d, h = key
            flop = (8.0 * b * l * d * d + 4.0 * b * l * l * d) * (3.0 if mode == "fwdbwd" else 1.0)
        elif key[0] == "step":
            flop = ours[key][0]["gflop"] * 1e9
        else:
            b, l, m, n, d = 8, 512, 512, 512, 512
            flop = 6 * b * l * d * d + 2 * b * m * n * d + 2 * b * n * (m + l) * d + 4 * b * n * d * d \
                + 4 * b * l * n * d + 2 * b * l * d * d
        frac = flop / (m_med * 1e-3) * 1e-9 / ceiling
        cells, meds = [], {}
        for variant in ("eager", "compile"):
            vals, impl = best_peer(key, variant)
            if vals is None:
                cells.append("n/a")
                continue
            meds[variant] = statistics.median(vals)
            cells.append(fmt(vals, digits) + (f" ({impl.split('/')[0]})" if key[0] == "attn" else ""))
        fastest = min(meds, key=meds.get) if meds else None
        ratio = meds[fastest] / m_med if fastest else float("nan")
        peer_frac = frac * m_med / meds[fastest] if fastest else float("nan")
        lines.append(f"| {text} | {fmt(mine, digits)} | {cells[0]} | {cells[1]} | "
                     f"**{ratio:.2f}×** ({fastest}) | {100 * frac:.0f} % | {100 * peer_frac:.0f} % |")
        result["rows"].append({"case": text, "mnemo_ms": mine, "peer": {v: meds.get(v) for v in ("eager", "compile")},
                               "ratio": ratio, "faster": fastest, "fraction_of_ceiling": frac,
                               "peer_fraction_of_ceiling": peer_frac,
                               "mnemo_repetitions": len(mine)})
    lines.append("")
    lines.append("In-run 2048³ float GEMM (mnemo, median GFLOP/s): " +
                 ", ".join(f"{k} {v:.1f}" for k, v in gemms.items()) + f"; ceiling = {ceiling_name}.")
    reps = {k: len(v) for k, v in ours.items()}
    lines.append(f"mnemo repetitions pooled per case: {sorted(set(reps.values()))}; "
                 f"peer repetitions: {sorted(set(len(v) for v in peer.values()))}.")
    for u in unavailable:
        lines.append(f"unavailable: {u}")
    if os.path.exists(os.path.join(out, "load.txt")):
        lines.append("\nLoad (uptime) at each phase:")
        lines += ["    " + l for l in open(os.path.join(out, "load.txt")).read().splitlines()]
    print("\n".join(lines))
    if "--json" in sys.argv:
        json.dump(result, open(sys.argv[sys.argv.index("--json") + 1], "w"), indent=1)


if __name__ == "__main__":
    main()
