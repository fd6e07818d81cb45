#!/usr/bin/env python3
"""Plot of every recorded peer session: mnemo against the faster PyPI torch mode, per case, in time order.

Reads each results.json that bench/summarize_peers.py --json wrote under RESULTS (default
docs/results; one per session of bench/run_peers_session.sh) and the mnemo_r1.json beside it (Google
Benchmark's context: the session's start time and the CPU's L1 data and L2 caches, which tell the
hosts these sessions ran on apart). Draws one panel per case of issue #17, with its target as a dashed line:
the ratio faster peer / mnemo (> 1: mnemo faster; log scale), except MHA forward+backward at B16 L512,
whose target is mnemo's rate as a fraction of the GEMM ceiling measured in the same session. The
code changed between sessions: a point is what main did at that time, not one build.

  /work/torchvenv/bin/python bench/plot_peer_sessions.py [--results DIR] [--out PNG] [--table]

--table also prints the points as a markdown table. Needs matplotlib (a benchmarking venv).
"""
import argparse
import glob
import json
import os
import statistics

# (prefix of the case name in results.json, panel title, measure, target, target's wording)
CASES = [
    ("MHA forward, B16", "MHA forward, B16 L512 d512 h8", "ratio", 1.2, "≥ 1.2× SDPA"),
    ("MHA forward+backward, B16", "MHA forward+backward, B16 L512", "ceiling", 0.9, "≥ 90 % of the GEMM rate"),
    ("MHA forward, B1", "MHA forward, B1 L64 d256 h4", "ratio", 2.0, "≥ 2×"),
    ("MHA forward+backward, B1", "MHA forward+backward, B1 L64", "ratio", 3.0, "≥ 3×"),
    ("Memformer streaming step", "Memformer streaming step", "ratio", 2.5, "≥ 2.5×"),
    ("∞-former LTM", "∞-former LTM read+update", "ratio", 4.0, "≥ 4×"),
]


def sessions(results_dir):
    out = []
    for path in glob.glob(os.path.join(results_dir, "**", "results.json"), recursive=True):
        folder = os.path.dirname(path)
        bench = os.path.join(folder, "mnemo_r1.json")
        if not os.path.exists(bench):
            continue
        context = json.load(open(bench))["context"]
        l1 = [c["size"] for c in context.get("caches", []) if c["level"] == 1 and c["type"] == "Data"]
        l2 = [c["size"] for c in context.get("caches", []) if c["level"] == 2]
        doc = json.load(open(path))
        points = {}
        for row in doc["rows"]:
            for prefix, _, measure, _, _ in CASES:
                if row["case"].startswith(prefix):
                    value = row["ratio"] if measure == "ratio" else row.get("fraction_of_ceiling")
                    if value is not None:
                        points[prefix] = value
        out.append({"folder": os.path.relpath(folder, results_dir), "date": context["date"][:16],
                    "host": (l1[0] // 1024 if l1 else None, l2[0] // 1024 if l2 else None), "points": points})
    return sorted(out, key=lambda s: s["date"])


# The hosts seen so far, by (L1d, L2) KiB per core.
HOSTS = {(48, 1024): ("48 KiB L1d host (1 MiB L2)", "tab:blue"), (48, 2048): ("48 KiB L1d, 2 MiB L2 host", "tab:purple"),
         (32, 1024): ("32 KiB L1d, 1 MiB L2 (Zen 4 EPYC)", "tab:orange"),
         (32, 512): ("Zen 3 EPYC, AVX2 only (512 KiB L2)", "tab:green")}


def host_label(host):
    return HOSTS.get(host, (f"host with {host[0]} KiB L1d, {host[1]} KiB L2", None))[0]


def host_colour(host):
    return HOSTS.get(host, (None, "tab:gray"))[1]


def print_table(runs):
    print("| session (UTC) | host (L1d, L2 KiB) | " + " | ".join(title for _, title, _, _, _ in CASES) + " |")
    print("| --- | ---: |" + " ---: |" * len(CASES))
    for s in runs:
        cells = []
        for prefix, _, measure, target, _ in CASES:
            v = s["points"].get(prefix)
            text = "" if v is None else (f"{100 * v:.0f} %" if measure == "ceiling" else f"{v:.2f}×")
            cells.append(f"**{text}**" if v is not None and v >= target else text)
        print(f"| {s['date'].replace('T', ' ')} | {s['host'][0]}, {s['host'][1]} | " + " | ".join(cells) + " |")


def plot(runs, out_png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5), sharex=True)
    xs = list(range(len(runs)))
    for ax, (prefix, title, measure, target, wording) in zip(axes.flat, CASES):
        for host in sorted({s["host"] for s in runs}, key=str):
            pts = [(x, s["points"][prefix]) for x, s in zip(xs, runs) if s["host"] == host and prefix in s["points"]]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] if measure == "ratio" else 100 * p[1] for p in pts], "o",
                        color=host_colour(host), label=host_label(host))
        ax.axhline(target if measure == "ratio" else 100 * target, color="tab:red", linestyle="--",
                   label=f"target {wording}")
        if measure == "ratio":
            ax.set_yscale("log")
            ax.axhline(1.0, color="black", linewidth=0.6)
            ax.set_ylabel("faster peer / mnemo")
            ticks = [0.5, 1, 2, 3, 4, 6, 10]
            ax.set_yticks(ticks)
            ax.set_yticklabels([f"{t:g}×" for t in ticks])
        else:
            ax.set_ylabel("mnemo, % of the in-run GEMM rate")
        ax.set_title(title)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    labels = [s["date"][5:].replace("T", " ") for s in runs]
    for ax in axes[1]:
        ax.set_xticks(xs)
        ax.set_xticklabels(labels, rotation=90, fontsize=7)
    fig.suptitle("mnemo against PyPI torch 2.15 (faster of eager and torch.compile), 2 threads, one point per "
                 "recorded session (docs/results/peers-*)", fontsize=11)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="docs/results")
    parser.add_argument("--out", default="docs/peer_sessions.png")
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    runs = sessions(args.results)
    if not runs:
        raise SystemExit(f"no session (results.json beside mnemo_r1.json) under {args.results}")
    if args.table:
        print_table(runs)
    plot(runs, args.out)
    medians = {prefix: statistics.median(s["points"][prefix] for s in runs if prefix in s["points"])
               for prefix, *_ in CASES}
    print(f"{len(runs)} sessions; medians over all: " +
          ", ".join(f"{p}: {v:.2f}" for p, v in medians.items()))


if __name__ == "__main__":
    main()
