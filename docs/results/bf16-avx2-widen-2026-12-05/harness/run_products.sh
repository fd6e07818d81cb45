#!/usr/bin/env bash
# Builds harness/bf16_products.cpp against REPO's include/ (after) and OLD_COMMIT's (before) and runs
# the two, alternated, ROUNDS times (oneDNN: libdnnl-dev). Usage: run_products.sh REPO OLD_COMMIT OUT [ROUNDS]
set -euo pipefail
REPO="$(cd "$1" && pwd)"; OLD="$2"; OUT="$3"; ROUNDS="${4:-3}"
H="$(cd "$(dirname "$0")" && pwd)"
W="$(mktemp -d)"
mkdir -p "$OUT" "$W/old"
git -C "$REPO" archive "$OLD" include | tar -x -C "$W/old"
FLAGS=(-O3 -std=c++20 -DNDEBUG -I/usr/include/eigen3)
g++ "${FLAGS[@]}" -DOLD_KERNEL -I"$W/old/include" "$H/bf16_products.cpp" -o "$W/before" -ldnnl -fopenmp
g++ "${FLAGS[@]}" -I"$REPO/include" "$H/bf16_products.cpp" -o "$W/after" -ldnnl -fopenmp
for r in $(seq 1 "$ROUNDS"); do
  order="before after"; (( r % 2 )) || order="after before"
  for v in $order; do "$W/$v" | sed "s/^/round $r $v /"; done
done | tee "$OUT/products.txt"
rm -rf "$W"
