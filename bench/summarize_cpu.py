#!/usr/bin/env python3
"""Combines one bench/run_cpu.sh session into results.json and a markdown table.

Inputs: our Google Benchmark JSON files (--ours, one per pass; the repetitions of all passes
are pooled), the main PyTorch peer JSON (--peer, from bench/peers/attention_cpu.py) and any
labelled extra peer runs (--extra LABEL=FILE). For each case the peer time is that of its
fastest implementation; ratio = peer ms / mnemo ms (how many times faster mnemo is). GFLOP/s
use the FLOP count of bench_attention.cpp (forward 8·B·L·d² + 4·B·L²·d, forward+backward 3×),
and "of ceiling" divides mnemo's rate by the median rate of the faster 2048³ GEMM of the same
session (BM_EigenGemmCeiling through BackendTraits<Cpu>::gemm, or BM_EigenGemmNative).
"""
import argparse
import json
import re
import statistics

MODES = {"BM_AttentionForward": "fwd", "BM_AttentionForwardBackward": "fwdbwd"}
MODE_TEXT = {"fwd": "forward", "fwdbwd": "forward+backward"}


def forward_flops(b, l, d):
    return 8.0 * b * l * d * d + 4.0 * b * l * l * d


def to_ms(value, unit):
    return value * {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def load_ours(paths):
    """{case key: pooled per-repetition rows} plus the ceiling rows and the benchmark context."""
    cases, ceiling, contexts = {}, {}, []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        contexts.append(data.get("context", {}))
        for row in data["benchmarks"]:
            if row.get("run_type") != "iteration":
                continue
            name = row["run_name"]
            entry = {"ms": to_ms(row["real_time"], row["time_unit"]), "gflops": row["GFLOP/s"],
                     "peak_MiB": row["peak_MiB"], "threads": row["threads"]}
            if name.startswith("BM_EigenGemm"):
                ceiling.setdefault(name.split("/")[0], []).append(entry)
                continue
            m = re.match(r"(\w+)/B:(\d+)/L:(\d+)/d:(\d+)/h:(\d+)", name)
            if not m or m.group(1) not in MODES:
                continue
            key = (MODES[m.group(1)],) + tuple(int(g) for g in m.groups()[1:])
            cases.setdefault(key, []).append(entry)
    return cases, ceiling, contexts


def load_peer(path):
    """{case key: (median ms of the fastest impl, impl, all impls' medians)} and the report."""
    with open(path) as f:
        report = json.load(f)
    best = {}
    for row in report["results"]:
        key = (row["mode"], row["B"], row["L"], row["d"], row["h"])
        impls = best.setdefault(key, {})
        impls[row["impl"]] = row["median_ms"]
    out = {}
    for key, impls in best.items():
        impl = min(impls, key=impls.get)
        out[key] = {"ms": impls[impl], "impl": impl, "by_impl": impls}
    return out, report


def peer_meta(report):
    return {k: report.get(k) for k in ("torch_version", "device", "dtype", "threads", "blas_info",
                                        "blas_loaded", "openblas_num_threads", "omp_wait_policy", "label",
                                        "warmup", "repetitions", "min_time_s")}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ours", nargs="+", required=True)
    ap.add_argument("--peer", required=True)
    ap.add_argument("--extra", action="append", default=[], help="LABEL=FILE")
    ap.add_argument("--meta", default="", help="JSON file with session facts to record")
    ap.add_argument("--out-json", required=True)
    ap.add_argument("--out-md", required=True)
    args = ap.parse_args()

    cases, gemm_rows, contexts = load_ours(args.ours)
    if "BM_EigenGemmCeiling" not in gemm_rows:
        raise SystemExit("summarize_cpu.py: no BM_EigenGemmCeiling rows in " + ", ".join(args.ours))
    gemm = {name: {"gflops": statistics.median(r["gflops"] for r in rows),
                   "ms": statistics.median(r["ms"] for r in rows), "repetitions": len(rows)}
            for name, rows in gemm_rows.items()}
    ceiling_name = max(gemm, key=lambda name: gemm[name]["gflops"])
    ceiling = gemm[ceiling_name]["gflops"]
    peer, peer_report = load_peer(args.peer)
    extras = []
    for spec in args.extra:
        label, _, path = spec.partition("=")
        extras.append((label, *load_peer(path)))

    rows = []
    for key in sorted(cases, key=lambda k: (-k[1] * k[2], k[0])):
        mode, b, l, d, h = key
        reps = cases[key]
        ms = statistics.median(r["ms"] for r in reps)
        gflops = forward_flops(b, l, d) * (3.0 if mode == "fwdbwd" else 1.0) / ms * 1e-6
        row = {"mode": mode, "B": b, "L": l, "d": d, "h": h, "mnemo_ms": ms,
               "mnemo_ms_min": min(r["ms"] for r in reps), "mnemo_ms_max": max(r["ms"] for r in reps),
               "mnemo_repetitions": len(reps), "mnemo_gflops": gflops,
               "fraction_of_ceiling": gflops / ceiling,
               "mnemo_peak_MiB": max(r["peak_MiB"] for r in reps),
               "mnemo_threads": reps[0]["threads"]}
        if key in peer:
            row.update({"peer_ms": peer[key]["ms"], "peer_impl": peer[key]["impl"],
                        "peer_by_impl_ms": peer[key]["by_impl"], "ratio": peer[key]["ms"] / ms})
        for label, extra, _ in extras:
            if key in extra:
                row["extra_" + label] = {"ms": extra[key]["ms"], "impl": extra[key]["impl"],
                                         "ratio": extra[key]["ms"] / ms}
        rows.append(row)

    meta = {}
    if args.meta:
        with open(args.meta) as f:
            meta = json.load(f)
    result = {
        "session": meta,
        "mnemo": {"files": args.ours, "context": contexts[0] if contexts else {},
                  "gemm_2048": gemm, "gemm_ceiling": ceiling_name, "gemm_ceiling_gflops": ceiling},
        "peer": peer_meta(peer_report),
        "extras": {label: peer_meta(report) for label, _, report in extras},
        "rows": rows,
    }
    with open(args.out_json, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")

    threads = rows[0]["mnemo_threads"] if rows else "?"
    head = ("| case | B, L, d, h | mnemo ms | PyTorch ms (impl) | ratio | mnemo GFLOP/s | of GEMM ceiling "
            "| mnemo peak MiB |")
    rule = "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    for label, _, _ in extras:
        head += f" extra: {label} ms (ratio) |"
        rule += " ---: |"
    lines = [head, rule]
    for r in rows:
        peer_cell = f"{r['peer_ms']:.2f} ({r['peer_impl']})" if "peer_ms" in r else "n/a"
        ratio_cell = f"**{r['ratio']:.1f}×**" if "ratio" in r else "n/a"
        line = (f"| {MODE_TEXT[r['mode']]} | {r['B']}, {r['L']}, {r['d']}, {r['h']} | {r['mnemo_ms']:.3f} "
                f"| {peer_cell} | {ratio_cell} | {r['mnemo_gflops']:.1f} | {100 * r['fraction_of_ceiling']:.0f} % "
                f"| {r['mnemo_peak_MiB']:.1f} |")
        for label, _, _ in extras:
            e = r.get("extra_" + label)
            line += f" {e['ms']:.2f} ({e['ratio']:.1f}×) |" if e else " n/a |"
        lines.append(line)
    peer_threads = peer_report.get("threads")
    lines.append("")
    rates = ", ".join(f"{name} {g['gflops']:.1f} GFLOP/s (median of {g['repetitions']})" for name, g in gemm.items())
    lines.append(f"GEMM ceiling = the faster 2048³ float product of this session: {rates}. "
                 f"Threads: mnemo {threads:.0f} (OpenMP), PyTorch "
                 f"{peer_threads} (torch.set_num_threads), BLAS {peer_report.get('blas_info')} "
                 f"({', '.join(peer_report.get('blas_loaded') or []) or 'not found in maps'}). "
                 f"OMP_WAIT_POLICY: {meta.get('omp_wait_policy', '?')}.")
    for label, _, report in extras:
        lines.append(f"Extra '{label}': PyTorch threads {report.get('threads')}, BLAS loaded "
                     f"{', '.join(report.get('blas_loaded') or []) or '?'}"
                     + (f", OPENBLAS_NUM_THREADS={report['openblas_num_threads']}"
                        if report.get("openblas_num_threads") else "")
                     + (f" — {report['label']}" if report.get("label") else "") + ".")
    text = "\n".join(lines) + "\n"
    with open(args.out_md, "w") as f:
        f.write(text)
    print(text, end="")


if __name__ == "__main__":
    main()
