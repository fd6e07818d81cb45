#!/usr/bin/env bash
# tests/dist/kill_and_resume.sh MEMFORMER_RECALL MPIEXEC — issue 12's kill-and-resume test, with
# real processes (docs/distributed.md, "Failures"). Three 2-rank runs of the recall demo with the
# same settings:
#   1. uninterrupted, 400 updates, checkpoint at the end (about 1 s: long enough that the kill below
#      lands before the end even on a fast, idle machine, where 30 updates took 70 ms);
#   2. the same run, one rank killed (SIGKILL) soon after the first checkpoint (every 5 updates)
#      appears: mpirun must exit non-zero and the checkpoint must be a complete file;
#   3. resumed from that checkpoint to update 400.
# The final checkpoint of 3 must equal 1's byte for byte (parameters, AdamW moments, counters).
# First, a run whose ranks throw (a setting the demo rejects) must stop with the error named and
# a non-zero status (MpiSession::abort), not hang.
set -euo pipefail
bin="$1"
mpiexec="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
args=(--distributed 1 --steps 400 --checkpoint-every 5 --log-every 1000 --eval-batches 1
      --d 32 --ffn 64 --slots 8 --batch 8 --curriculum 10 --threads 1)

status=0
"$mpiexec" -np 2 "$bin" --distributed 1 --text "$bin" --steps 1 --checkpoint "$work/never.safetensors" \
  > "$work/throw.log" 2>&1 || status=$?
if [[ $status -eq 0 ]] || ! grep -q "mnemo: rank [01]: ConfigError: --distributed 1 with --text" "$work/throw.log"; then
  echo "FAIL: a rank that throws did not stop the job with its error (status $status):"
  cat "$work/throw.log"
  exit 1
fi
echo "a throwing rank stopped the job with status $status and its message"

"$mpiexec" -np 2 "$bin" "${args[@]}" --checkpoint "$work/reference.safetensors" > "$work/reference.log"

"$mpiexec" -np 2 "$bin" "${args[@]}" --checkpoint "$work/killed.safetensors" > "$work/killed.log" 2>&1 &
launcher=$!
for _ in $(seq 1 6000); do  # up to 60 s for the first checkpoint
  [[ -f "$work/killed.safetensors" ]] && break
  sleep 0.01
done
[[ -f "$work/killed.safetensors" ]] || { echo "FAIL: no checkpoint appeared"; exit 1; }
victim="$(pgrep -P "$launcher" | tail -n 1 || true)"
[[ -n "$victim" ]] || { echo "FAIL: the run ended before a rank could be killed"; exit 1; }
kill -9 "$victim"
status=0
wait "$launcher" || status=$?
if [[ $status -eq 0 ]]; then
  echo "FAIL: mpirun exited 0 after a rank was killed"
  exit 1
fi
echo "mpirun stopped with status $status after rank process $victim was killed"

step="$(head -c 4096 "$work/killed.safetensors" | grep -ao '"step":"[0-9]*"' | grep -o '[0-9]*' || true)"
[[ -n "$step" ]] || { echo "FAIL: the checkpoint left by the killed run is not readable"; exit 1; }
[[ "$step" -lt 400 ]] || { echo "FAIL: the killed run reached update $step, expected it to stop before 400"; exit 1; }
echo "checkpoint intact at update $step; resuming"
cp "$work/killed.safetensors" "$work/resume_from.safetensors"
"$mpiexec" -np 2 "$bin" "${args[@]}" --resume "$work/resume_from.safetensors" \
  --checkpoint "$work/resumed.safetensors" > "$work/resumed.log"

if cmp -s "$work/reference.safetensors" "$work/resumed.safetensors"; then
  echo "PASS: resumed from update $step, final checkpoint equals the uninterrupted run's byte for byte"
else
  echo "FAIL: the resumed run's final checkpoint differs from the uninterrupted run's"
  exit 1
fi
