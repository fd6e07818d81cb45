#!/usr/bin/env python3
"""Table over seeds from per-sequence CSVs (seed,arm,length,sequence,right,of), as infinite_former_sorting --seeds prints it."""
import csv, math, sys
from collections import defaultdict
right = defaultdict(dict)  # (seed, length) -> arm -> list
for f in sys.argv[1:]:
    for r in csv.DictReader(open(f)):
        right[(int(r["seed"]), int(r["length"]))].setdefault(r["arm"], []).append(int(r["right"]) / int(r["of"]))
def ms(x):
    m = sum(x) / len(x)
    se = math.sqrt(sum((v - m) ** 2 for v in x) / (len(x) - 1) / len(x)) if len(x) > 1 else 0.0
    return m, se
per_len = defaultdict(lambda: ([], [], []))
for (seed, L), arms in sorted(right.items()):
    a, b = arms["inf-former"], arms["no-ltm"]
    d = [x - y for x, y in zip(a, b)]
    (ma, sa), (mb, sb), (md, sd) = ms(a), ms(b), ms(d)
    print(f"seed {seed} L {L}: inf {ma:.4f} ± {sa:.4f}  no-ltm {mb:.4f} ± {sb:.4f}  diff {md:+.4f} ± {sd:.4f} ({abs(md)/sd if sd else 0:.1f} s.e.)  n={len(d)}")
    per_len[L][0].append(ma); per_len[L][1].append(mb); per_len[L][2].append(md)
for L, (a, b, d) in sorted(per_len.items()):
    if len(d) > 1:
        (ma, sa), (mb, sb), (md, sd) = ms(a), ms(b), ms(d)
        print(f"over {len(d)} seeds L {L}: inf {ma:.4f} ± {sa:.4f}  no-ltm {mb:.4f} ± {sb:.4f}  diff {md:+.4f} ± {sd:.4f} ({abs(md)/sd:.1f} s.e.)")
