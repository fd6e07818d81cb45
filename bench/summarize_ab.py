"""Medians of an A/B alternation of two bench runs per round, JSON files named TAG_rROUND.json in
one folder (docs/results/*/ab_*.sh write them): per tag and benchmark, the per-round medians (ms)
and their median, and TEST/BASE per round.

    python3 bench/summarize_ab.py OUTDIR BASE_TAG TEST_TAG     (e.g. old new, or gemm tiles)
"""
import glob, json, os, statistics, sys

out, base_tag, test_tag = sys.argv[1:4]
rows = {}
for path in sorted(glob.glob(os.path.join(out, "*_r*.json"))):
    tag, r = os.path.basename(path)[:-5].split("_")
    for b in json.load(open(path))["benchmarks"]:
        if b.get("aggregate_name") == "median":
            name = "/".join(p for p in b["run_name"].split("/") if not p.startswith(("repeats", "real_time", "min_time")))
            unit = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b["time_unit"]]
            rows.setdefault(name, {}).setdefault(tag, {})[r] = b["real_time"] * unit
def in_order(by_round):
    return sorted(by_round, key=lambda r: int(r[1:]))  # "r1", "r2", ..., "r10"


for name, by in sorted(rows.items()):
    base, test = by.get(base_tag, {}), by.get(test_tag, {})
    if not base or not test:
        continue
    ratios = [test[r] / base[r] for r in in_order(base) if r in test]
    print(f"{name}: {base_tag} {[round(base[r], 3) for r in in_order(base)]} median "
          f"{statistics.median(base.values()):.3f} ms; {test_tag} {[round(test[r], 3) for r in in_order(test)]} "
          f"median {statistics.median(test.values()):.3f} ms; {test_tag}/{base_tag} per round "
          f"{[round(x, 3) for x in ratios]} ({test_tag} faster in {sum(x < 1 for x in ratios)}/{len(ratios)})")
