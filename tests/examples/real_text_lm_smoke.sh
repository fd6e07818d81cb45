#!/usr/bin/env bash
# real_text_lm_smoke.sh BIN SOURCE_DIR — the real-text evaluation (examples/real_text_lm.cpp) end
# to end on a small real corpus: the project's own docs/*.md, one document each. Two updates per
# arm and two seeds (the numbers mean nothing; the plumbing is what is tested): all four arms run
# and are reported with a standard error; the results file holds the 8 runs; a rerun trains
# nothing and reports the same table; a results file written with other settings is refused with
# exit 1 and a message naming both settings, the file's bytes unchanged; an unknown arm is refused.
set -euo pipefail
bin="$1" src="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
cp "$src"/docs/*.md "$work/corpus/"
for f in "$work"/corpus/*.md; do mv "$f" "${f%.md}.txt"; done
common=(--corpus "$work/corpus" --updates 2 --batch 2 --horizon 2 --segment 16 --d 16 --heads 2 --ffn 32
        --layers 1 --slots 4 --basis 16 --eval-bytes 256 --seeds 2 --threads 1 --log 1 --results "$work/r.csv")
fail() { echo "real_text_lm_smoke: $*" >&2; exit 1; }

"$bin" "${common[@]}" >"$work/first.txt"
runs=$(grep -cE '^(memformer|memformer-reset|inf-former|no-ltm),[12],' "$work/r.csv")
[[ $runs == 8 ]] || fail "results file holds $runs runs, expected 8"
for arm in memformer memformer-reset inf-former no-ltm; do
  grep -qE "^$arm +2 +[0-9]+\.[0-9]+ ± [0-9]+\.[0-9]+" "$work/first.txt" || fail "no report line for $arm with n = 2"
done
grep -qE "^memformer − memformer-reset +[-+]" "$work/first.txt" || fail "no memformer comparison line"
grep -qE "^inf-former − no-ltm +[-+]" "$work/first.txt" || fail "no inf-former comparison line"

"$bin" "${common[@]}" >"$work/second.txt"
grep -qE 'update +[0-9]+/' "$work/second.txt" && fail "the rerun trained again instead of reusing the results file"
diff <(sed -n '/^held-out bits per byte/,$p' "$work/first.txt") <(sed -n '/^held-out bits per byte/,$p' "$work/second.txt") ||
  fail "the rerun's report differs from the first"

before="$(sha256sum <"$work/r.csv")"
set +e
"$bin" "${common[@]}" --lr 1e-3 >/dev/null 2>"$work/err.txt"
rc=$?
set -e
[[ $rc == 1 ]] || fail "a results file of other settings gave exit $rc, expected 1"
grep -q "lr=0.002" "$work/err.txt" && grep -q "lr=0.001" "$work/err.txt" || fail "message does not name both settings: $(cat "$work/err.txt")"
[[ "$(sha256sum <"$work/r.csv")" == "$before" ]] || fail "the refused run changed the results file"

set +e
"$bin" "${common[@]}" --arms memformer,gpt >/dev/null 2>"$work/err.txt"
rc=$?
set -e
[[ $rc == 1 ]] && grep -q "unknown arm 'gpt'" "$work/err.txt" || fail "unknown arm: exit $rc, $(cat "$work/err.txt")"
echo "real_text_lm_smoke: ok"
