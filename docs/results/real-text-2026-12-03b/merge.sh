#!/usr/bin/env bash
# merge.sh OUT "FILE:ARM:SEED"... — one results file from the runs named (same settings line
# required; placeholder lines of the seed-parallel files are never taken)
out=$1; shift
first=${1%%:*}
head -2 "$first" > "$out"
for spec in "$@"; do
  f=${spec%%:*}; rest=${spec#*:}; arm=${rest%%:*}; seed=${rest#*:}
  [[ "$(head -1 "$f")" == "$(head -1 "$first")" ]] || { echo "settings differ: $f" >&2; exit 1; }
  n=$(grep -c "^$arm,$seed," "$f"); [[ $n == 1 ]] || { echo "$f has $n lines for $arm seed $seed" >&2; exit 1; }
  grep "^$arm,$seed," "$f" >> "$out"
done
