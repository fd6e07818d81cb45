"""Medians of ab_kernel.sh's runs: per kernel and benchmark, the per-round medians (ms) and their
median; tiles/gemm per round. Usage: python3 summarize_ab.py OUTDIR"""
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
    gemm, tiles = by.get("gemm", {}), by.get("tiles", {})
    ratios = [tiles[r] / gemm[r] for r in sorted(gemm) if r in tiles]
    print(f"{name}: gemm {[round(gemm[r], 3) for r in sorted(gemm)]} median {statistics.median(gemm.values()):.3f} ms;"
          f" tiles {[round(tiles[r], 3) for r in sorted(tiles)]} median {statistics.median(tiles.values()):.3f} ms;"
          f" tiles/gemm per round {[round(x, 3) for x in ratios]}")
