#!/usr/bin/env python3
"""Table of run.sh's results: per round and thread count, mnemo's median of 3 and torch's median of 5 builds (ms)."""
import glob, json, os, statistics, sys
out = sys.argv[1]
rows = []
for threads in (2, 1):
    ratios, m_all, t_all = [], [], []
    for round_ in (1, 2, 3, 4):
        m = json.load(open(os.path.join(out, f"mnemo_t{threads}_r{round_}.json")))
        med = [b["real_time"] for b in m["benchmarks"] if b.get("aggregate_name") == "median"][0]
        t = json.load(open(os.path.join(out, f"torch_t{threads}_r{round_}.json")))["cases"]["construct"]["median_ms"]
        m_all.append(med); t_all.append(t); ratios.append(t / med)
        print(f"threads {threads} round {round_}: mnemo {med:.1f} ms, torch {t:.1f} ms, torch/mnemo {t / med:.2f}")
    print(f"threads {threads}: mnemo median {statistics.median(m_all):.1f} [{min(m_all):.1f}-{max(m_all):.1f}], "
          f"torch {statistics.median(t_all):.1f} [{min(t_all):.1f}-{max(t_all):.1f}], "
          f"ratio median {statistics.median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}]")
