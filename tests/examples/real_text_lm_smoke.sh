#!/usr/bin/env bash
# real_text_lm_smoke.sh BIN SOURCE_DIR — the real-text evaluation (examples/real_text_lm.cpp) end
# to end on a small real corpus: the project's own docs/*.md, one document each. Two updates per
# arm and two seeds (the numbers mean nothing; the plumbing is what is tested): all four arms run
# and are reported with a standard error; the results file holds the 8 runs; a rerun trains
# nothing and reports the same table; a results file written with other settings is refused with
# exit 1 and a message naming both settings, the file's bytes unchanged; an unknown arm is refused;
# a run stopped mid-way resumes from its checkpoint to the bits of an uninterrupted run.
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
# Mid-run checkpoints (--checkpoint-every 1): a run stopped after update 2 (--stop-after: exit 3)
# resumes from its checkpoint; the Memformer run stops once, the infinity-former run (started by
# the first rerun) once too. Every field of the finished runs but the seconds must equal an
# uninterrupted run's, and the checkpoints are removed once the runs are in the results.
ck=(--corpus "$work/corpus" --updates 4 --batch 2 --horizon 2 --segment 16 --d 16 --heads 2 --ffn 32
    --layers 1 --slots 4 --basis 16 --eval-bytes 256 --seeds 1 --threads 1 --log 1 --arms memformer,inf-former)
"$bin" "${ck[@]}" --results "$work/whole.csv" >/dev/null
for pass in 1 2 3; do
  set +e
  "$bin" "${ck[@]}" --results "$work/cut.csv" --checkpoint-every 1 --stop-after 2 >"$work/cut$pass.txt" 2>&1
  rc=$?
  set -e
  expected=$([[ $pass == 3 ]] && echo 0 || echo 3)
  [[ $rc == "$expected" ]] || fail "checkpoint pass $pass: exit $rc, expected $expected: $(tail -3 "$work/cut$pass.txt")"
done
grep -q "stopped after update 2" "$work/cut1.txt" || fail "pass 1 did not stop after update 2"
grep -qE "memformer +seed 1\] resumed from .* at update 2" "$work/cut2.txt" || fail "pass 2 did not resume the memformer run"
grep -qE "inf-former +seed 1\] resumed from .* at update 2" "$work/cut3.txt" || fail "pass 3 did not resume the inf-former run"
ls "$work"/cut.csv.*.ckpt >/dev/null 2>&1 && fail "checkpoints left after the runs finished"
diff <(grep -v '^#' "$work/whole.csv" | cut -d, -f1-3,5-) <(grep -v '^#' "$work/cut.csv" | cut -d, -f1-3,5-) ||
  fail "the resumed runs differ from the uninterrupted runs"

# A truncated checkpoint is refused (exit 1, the reader naming the damage), the file untouched.
"$bin" "${ck[@]}" --results "$work/bad.csv" --checkpoint-every 1 --stop-after 1 >/dev/null 2>&1 || true
[[ -f "$work/bad.csv.memformer.1.ckpt" ]] || fail "no checkpoint after --stop-after 1"
truncate -s -5 "$work/bad.csv.memformer.1.ckpt"
before="$(sha256sum <"$work/bad.csv.memformer.1.ckpt")"
set +e
"$bin" "${ck[@]}" --results "$work/bad.csv" --checkpoint-every 1 >/dev/null 2>"$work/err.txt"
rc=$?
set -e
[[ $rc == 1 ]] && grep -q "point past the end" "$work/err.txt" || fail "truncated checkpoint: exit $rc, $(cat "$work/err.txt")"
[[ "$(sha256sum <"$work/bad.csv.memformer.1.ckpt")" == "$before" ]] || fail "the refused run changed the checkpoint"
echo "real_text_lm_smoke: ok"
