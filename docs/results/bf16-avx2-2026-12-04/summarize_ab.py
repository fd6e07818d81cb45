"""Medians of ab_step.sh's runs: per build, threads and benchmark, the per-round medians (ms) and
their median; new/old per round. Usage: python3 summarize_ab.py OUTDIR"""
import glob, json, os, statistics, sys

out = sys.argv[1]
rows = {}
for path in sorted(glob.glob(os.path.join(out, "*_t*_r*.json"))):
    tag, t, r = os.path.basename(path)[:-5].split("_")
    for b in json.load(open(path))["benchmarks"]:
        if b.get("aggregate_name") == "median":
            name = b["run_name"].split("/")[0]
            rows.setdefault((name, t), {}).setdefault(tag, {})[r] = b["real_time"]
for (name, t), by in sorted(rows.items()):
    old, new = by.get("old", {}), by.get("new", {})
    ratios = [new[r] / old[r] for r in sorted(old) if r in new]
    print(f"{name} {t}: old {[round(old[r], 2) for r in sorted(old)]} median {statistics.median(old.values()):.2f} ms;"
          f" new {[round(new[r], 2) for r in sorted(new)]} median {statistics.median(new.values()):.2f} ms;"
          f" new/old per round {[round(x, 3) for x in ratios]}")
