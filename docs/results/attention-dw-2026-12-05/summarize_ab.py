"""Medians of ab_builds.sh's runs: per build and benchmark, the per-round medians (ms) and their
median; new/old per round. Usage: python3 summarize_ab.py OUTDIR"""
import glob, json, os, statistics, sys

out = sys.argv[1]
rows = {}
for path in sorted(glob.glob(os.path.join(out, "*_r*.json"))):
    tag, r = os.path.basename(path)[:-5].split("_")
    for b in json.load(open(path))["benchmarks"]:
        if b.get("aggregate_name") == "median":
            name = "/".join(p for p in b["run_name"].split("/") if not p.startswith(("repeats", "real_time", "min_time")))
            unit = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b["time_unit"]]
            rows.setdefault(name, {}).setdefault(tag, {})[r] = b["real_time"] * unit
for name, by in sorted(rows.items()):
    old, new = by.get("old", {}), by.get("new", {})
    ratios = [new[r] / old[r] for r in sorted(old) if r in new]
    print(f"{name}: old {[round(old[r], 3) for r in sorted(old)]} median {statistics.median(old.values()):.3f} ms;"
          f" new {[round(new[r], 3) for r in sorted(new)]} median {statistics.median(new.values()):.3f} ms;"
          f" new/old per round {[round(x, 3) for x in ratios]} (new faster in {sum(x < 1 for x in ratios)}/{len(ratios)})")
