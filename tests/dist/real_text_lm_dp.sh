#!/usr/bin/env bash
# tests/dist/real_text_lm_dp.sh REAL_TEXT_LM MPIEXEC SOURCE_DIR — the real-text evaluation under
# mpirun (docs/distributed.md, docs/real_text.md) on the project's docs as a tiny corpus:
#   1. one rank with --distributed 1 gives the single-process run's numbers exactly (every field
#      of the results but the seconds): the data-parallel path adds nothing to one rank's run;
#   2. two ranks (each its own rows) finish both model families, rank 0 writing one results file
#      whose header names ranks=2, with finite held-out bits per byte;
#   3. a 2-rank run with --checkpoint-every 1, stopped after update 2 and resumed, ends with the
#      uninterrupted 2-rank run's results exactly; a 1-rank run refuses its checkpoint.
set -euo pipefail
bin="$1" mpiexec="$2" src="$3"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
for f in "$src"/docs/*.md; do cp "$f" "$work/corpus/$(basename "${f%.md}").txt"; done
args=(--corpus "$work/corpus" --updates 3 --batch 2 --horizon 2 --segment 16 --d 16 --heads 2 --ffn 32
      --layers 1 --slots 4 --basis 16 --eval-bytes 256 --seeds 1 --threads 1 --log 1 --arms memformer,inf-former)
fail() { echo "real_text_lm_dp: $*" >&2; exit 1; }

"$bin" "${args[@]}" --results "$work/single.csv" >"$work/single.txt"
"$mpiexec" -np 1 "$bin" "${args[@]}" --distributed 1 --results "$work/one.csv" >"$work/one.txt" 2>&1 ||
  fail "1-rank run failed: $(tail -5 "$work/one.txt")"
diff <(grep -v '^#' "$work/single.csv" | cut -d, -f1-3,5-) <(grep -v '^#' "$work/one.csv" | cut -d, -f1-3,5-) ||
  fail "the 1-rank data-parallel run differs from the single-process run"

"$mpiexec" -np 2 "$bin" "${args[@]}" --distributed 1 --results "$work/two.csv" >"$work/two.txt" 2>&1 ||
  fail "2-rank run failed: $(tail -5 "$work/two.txt")"
head -1 "$work/two.csv" | grep -q " ranks=2" || fail "results header does not name ranks=2: $(head -1 "$work/two.csv")"
[[ $(grep -cE '^(memformer|inf-former),1,' "$work/two.csv") == 2 ]] || fail "expected 2 runs in $(cat "$work/two.csv")"
grep -q "data parallel: 2 ranks x 2 rows (global batch 4)" "$work/two.txt" || fail "no data-parallel line"
grep -qE "^inf-former +1 +[0-9]+\.[0-9]+ ±" "$work/two.txt" || fail "no finite report line: $(cat "$work/two.txt")"

# Mid-run checkpoints of a 2-rank run: stopped after update 2 (both families, one after the
# other), resumed, the results equal the uninterrupted 2-rank run's (every field but the seconds).
for pass in 1 2 3; do
  status=0
  "$mpiexec" -np 2 "$bin" "${args[@]}" --distributed 1 --checkpoint-every 1 --stop-after 2 --results "$work/cut.csv" \
    >"$work/cut$pass.txt" 2>&1 || status=$?
  expected=$([[ $pass == 3 ]] && echo 0 || echo 3)
  [[ $status == "$expected" ]] || fail "checkpoint pass $pass: status $status, expected $expected: $(tail -5 "$work/cut$pass.txt")"
done
grep -qE "memformer +seed 1\] resumed from .* at update 2" "$work/cut2.txt" || fail "pass 2 did not resume the memformer run"
grep -qE "inf-former +seed 1\] resumed from .* at update 2" "$work/cut3.txt" || fail "pass 3 did not resume the inf-former run"
ls "$work"/cut.csv.*.ckpt >/dev/null 2>&1 && fail "checkpoints left after the runs finished"
diff <(grep -v '^#' "$work/two.csv" | cut -d, -f1-3,5-) <(grep -v '^#' "$work/cut.csv" | cut -d, -f1-3,5-) ||
  fail "the resumed 2-rank runs differ from the uninterrupted 2-rank runs"

# A 1-rank run cannot resume a 2-rank checkpoint: refused (the settings differ: ranks=2 vs 1).
"$mpiexec" -np 2 "$bin" "${args[@]}" --distributed 1 --checkpoint-every 1 --stop-after 1 --results "$work/x.csv" \
  >/dev/null 2>&1 || true
status=0
"$mpiexec" -np 1 "$bin" "${args[@]}" --distributed 1 --checkpoint-every 1 --results "$work/x.csv" >"$work/refused.txt" 2>&1 ||
  status=$?
[[ $status != 0 ]] && grep -q "ranks=2" "$work/refused.txt" && grep -q "ranks=1" "$work/refused.txt" ||
  fail "a 2-rank checkpoint under 1 rank: status $status, $(cat "$work/refused.txt")"
echo "real_text_lm_dp: ok"
