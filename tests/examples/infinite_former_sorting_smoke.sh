#!/usr/bin/env bash
# infinite_former_sorting_smoke.sh BIN — the sorting evaluation (examples/infinite_former_sorting.cpp)
# end to end at toy size (4 updates, 2 seeds, 8 held-out sequences; the numbers mean nothing, the
# plumbing is what is tested): the per-seed and over-seed tables with standard errors are printed;
# a run stopped at update 2 (--stop-after) and resumed from its checkpoints ends with the same
# per-sequence results and the same final losses, bit for bit, as an uninterrupted run; a rerun of a
# finished run trains nothing and reports the same table; a checkpoint of other options is refused
# with exit 1 and a message naming both settings, its bytes unchanged.
set -euo pipefail
bin="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
common=(--lengths 64,96 --segment 32 --updates 4 --batch 2 --eval 8 --seeds 1,2 --threads 1 --log 1 --checkpoint-every 1)
fail() { echo "infinite_former_sorting_smoke: $*" >&2; exit 1; }
report() { sed -n '/^teacher-forced accuracy/,/^final training loss/p' "$1"; }

"$bin" "${common[@]}" --checkpoint "$work/a" --per-sequence "$work/a.csv" >"$work/a.txt"
for L in 64 96; do
  for seed in 1 2; do
    grep -qE "^ +$seed +$L +[0-9.]+ ± [0-9.]+ +[0-9.]+ ± [0-9.]+ +[-+][0-9.]+ ± [0-9.]+" "$work/a.txt" || fail "no row for seed $seed, L $L"
  done
  grep -qE "^ +$L +[0-9.]+ ± [0-9.]+ +[0-9.]+ ± [0-9.]+ +[-+][0-9.]+ ± [0-9.]+" "$work/a.txt" || fail "no over-seed row for L $L"
done
rows=$(grep -cE '^[12],(inf-former|no-ltm),(64|96),[0-7],[0-8],8$' "$work/a.csv")
[[ $rows == 64 ]] || fail "per-sequence file holds $rows rows, expected 64"
grep -qE 'program ETA' "$work/a.txt" || fail "no progress line with ETA"

"$bin" "${common[@]}" --checkpoint "$work/b" --stop-after 2 >"$work/b1.txt"
grep -q "stopped at update 2" "$work/b1.txt" || fail "--stop-after 2 did not stop"
grep -qE '\] update 3/4' "$work/b1.txt" && fail "--stop-after 2 trained past update 2"
"$bin" "${common[@]}" --checkpoint "$work/b" --per-sequence "$work/b.csv" >"$work/b2.txt"
grep -q "resumed from .* at update 2/4" "$work/b2.txt" || fail "the rerun did not resume at update 2"
grep -qE '\] update 1/4' "$work/b2.txt" && fail "the resumed run trained update 1 again"
cmp -s "$work/a.csv" "$work/b.csv" || fail "stopped + resumed per-sequence results differ from the uninterrupted run's"
diff <(report "$work/a.txt") <(report "$work/b2.txt") || fail "stopped + resumed report differs from the uninterrupted run's"

"$bin" "${common[@]}" --checkpoint "$work/a" >"$work/a2.txt"
grep -qE '\] update [0-9]+/4' "$work/a2.txt" && fail "the rerun of a finished run trained again"
diff <(report "$work/a.txt") <(report "$work/a2.txt") || fail "the rerun's report differs from the first"

before="$(cat "$work"/a/*.safetensors | sha256sum)"
set +e
"$bin" "${common[@]}" --checkpoint "$work/a" --lr 1e-3 >/dev/null 2>"$work/err.txt"
rc=$?
set -e
[[ $rc == 1 ]] || fail "a checkpoint of other options gave exit $rc, expected 1"
grep -q "lr=0.002" "$work/err.txt" && grep -q "lr=0.001" "$work/err.txt" || fail "message does not name both settings: $(cat "$work/err.txt")"
[[ "$(cat "$work"/a/*.safetensors | sha256sum)" == "$before" ]] || fail "the refused run changed a checkpoint"
echo "infinite_former_sorting_smoke: ok"
