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
# Diagnosis (--score-train K, --empty-memory 1): the extra evaluations leave training untouched
# (every held-out field of every run equals the plain run's), score exactly the held-out protocol's
# positions of the first K training documents by name, and emptying the memory changes nothing for
# the arms without one (bitwise) and something for the two with one. The settings line names them.
"$bin" "${common[@]}" --results "$work/diag.csv" --score-train 3 --empty-memory 1 >"$work/diag.txt"
grep -q "score_train=3 empty_memory=1" "$work/diag.csv" || fail "the settings line does not name the diagnosis"
header=$(grep '^arm,' "$work/diag.csv")
[[ $header == *",bits_emptied_0,"*",bits_train_0,"*",bits_train_emptied_3,count_train_emptied_0,"* ]] || fail "columns: $header"
diff <(grep -v '^#' "$work/r.csv" | grep -v '^arm,' | cut -d, -f1-3,5-13 | sort) \
     <(grep -v '^#' "$work/diag.csv" | grep -v '^arm,' | cut -d, -f1-3,5-13 | sort) ||
  fail "scoring training documents or emptying the memory changed the runs' held-out results"
# Held-out protocol on each of the first 3 training documents (sorted names, every 8th held out):
# bytes [L, S·L), S = floor(min(n, eval-bytes) / L), L = 16, eval-bytes = 256.
expected=0
for f in $(ls "$work"/corpus/*.txt | sort | awk 'NR % 8 != 0' | head -3); do
  n=$(stat -c %s "$f"); n=$(( n < 256 ? n : 256 )); expected=$(( expected + (n / 16) * 16 - 16 ))
done
grep -q "the training documents $(ls "$work"/corpus/*.txt | sort | awk 'NR % 8 != 0' | head -3 | xargs -n1 basename | tr '\n' ' ' | sed 's/ $//')\$" \
  "$work/diag.txt" || fail "the report does not name the first 3 training documents: $(grep 'training documents' "$work/diag.txt")"
awk -F, -v want="$expected" '!/^#/ && !/^arm,/ {
    train = $26 + $27 + $28 + $29; emptied = $34 + $35 + $36 + $37
    if (train != want || emptied != want) { print "count " train "/" emptied " expected " want; exit 1 }
    same = ($6 == $14 && $22 == $30)   # bits_0 = bits_emptied_0, bits_train_0 = bits_train_emptied_0
    if (($1 == "no-ltm" || $1 == "memformer-reset") && !same) { print $1 " changed when emptied"; exit 1 }
    if (($1 == "inf-former" || $1 == "memformer") && same) { print $1 " unchanged when emptied"; exit 1 } }' \
  "$work/diag.csv" || fail "the diagnosis columns are wrong"
grep -qE "^inf-former − emptied \(held-out\) +[-+]" "$work/diag.txt" || fail "no read − emptied line"
set +e
"$bin" "${common[@]}" --results "$work/diag.csv" --score-train 4 --empty-memory 1 >/dev/null 2>"$work/err.txt"
rc=$?
set -e
[[ $rc == 1 ]] && grep -q "score_train=3" "$work/err.txt" && grep -q "score_train=4" "$work/err.txt" ||
  fail "a results file of another --score-train: exit $rc, $(cat "$work/err.txt")"
echo "real_text_lm_smoke: ok"
