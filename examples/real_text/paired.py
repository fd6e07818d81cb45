#!/usr/bin/env python3
"""paired.py — mean ± standard error and paired differences from real_text_lm results files.

  paired.py table FILE.csv...            every arm × evaluation of each file: bits/byte, all + buckets
  paired.py diff A B                     A − B paired by seed (A, B = FILE.csv:ARM[:EVAL])
  paired.py diff A B C D                 (A − B) − (C − D) paired by seed

EVAL is a column suffix of the file: '' (held-out, the default), emptied, train, train_emptied.
The difference of each seed is taken, then their mean ± sample s.d./√n; called a difference only
beyond two standard errors (as real_text_lm's report). Files of other settings pair by seed too:
use that only where the runs of a seed share what the comparison needs (docs/real_text.md)."""
import math
import sys


def load(path):
    with open(path) as f:
        lines = [l.rstrip("\n") for l in f]
    header = next(l for l in lines if l.startswith("arm,")).split(",")
    runs = []
    for l in lines:
        if not l or l.startswith("#") or l.startswith("arm,"):
            continue
        runs.append(dict(zip(header, l.split(","))))
    return header, runs


def bpb(run, suffix, k):
    """Bits per byte of a run in evaluation `suffix`, bucket k (None: all positions)."""
    ks = [k] if k is not None else range(4)
    bits = sum(float(run[f"bits{suffix}_{i}"]) for i in ks)
    count = sum(float(run[f"count{suffix}_{i}"]) for i in ks)
    return bits / count if count > 0 else None


def mean_se(x):
    n = len(x)
    if n == 0:
        return None
    m = sum(x) / n
    se = math.sqrt(sum((v - m) ** 2 for v in x) / (n - 1) / n) if n > 1 else 0.0
    return m, se, n


def spec(s):
    parts = s.split(":")
    path, arm = parts[0], parts[1]
    suffix = "_" + parts[2] if len(parts) > 2 and parts[2] else ""
    _, runs = load(path)
    return {int(r["seed"]): r for r in runs if r["arm"] == arm}, suffix


BUCKETS = ["all", "64-512", "512-2048", "2048-8192", ">=8192"]


def table(paths):
    for path in paths:
        header, runs = load(path)
        suffixes = [""] + [h[4:-2] for h in header if h.startswith("bits_") and h.endswith("_0") and h != "bits_0"]
        print(f"{path}")
        for suffix in suffixes:
            for arm in dict.fromkeys(r["arm"] for r in runs):
                cells = []
                for k in [None, 0, 1, 2, 3]:
                    ms = mean_se([v for r in runs if r["arm"] == arm for v in [bpb(r, suffix, k)] if v is not None])
                    cells.append(f"{ms[0]:.4f} ± {ms[1]:.4f}" if ms else "-")
                print(f"  {arm + (':' + suffix[1:] if suffix else ''):28s} n={sum(r['arm'] == arm for r in runs)}  " + "  ".join(cells))


def diff(specs):
    loaded = [spec(s) for s in specs]
    seeds = sorted(set.intersection(*[set(runs) for runs, _ in loaded]))
    sign = [1, -1, -1, 1]
    label = f"{specs[0]} − {specs[1]}" if len(specs) == 2 else f"({specs[0]} − {specs[1]}) − ({specs[2]} − {specs[3]})"
    print(f"{label}  (seeds {seeds})")
    for name, k in zip(BUCKETS, [None, 0, 1, 2, 3]):
        x = [[bpb(runs[s], suffix, k) for runs, suffix in loaded] for s in seeds]
        if any(v is None for row in x for v in row):
            continue  # nothing scored in this bucket
        d = [sum(sg * v for sg, v in zip(sign, row)) for row in x]
        m, se, n = mean_se(d)
        verdict = "n<2" if n < 2 else ("better" if m < 0 else "worse") if abs(m) > 2 * se else "no diff."
        print(f"  {name:10s} {m:+.4f} ± {se:.4f} {verdict:8s}  per seed: " + " ".join(f"{v:+.4f}" for v in d))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "table":
        table(sys.argv[2:])
    elif len(sys.argv) in (4, 6) and sys.argv[1] == "diff":
        diff(sys.argv[2:])
    else:
        sys.exit(__doc__)
