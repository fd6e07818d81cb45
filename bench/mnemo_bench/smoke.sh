#!/usr/bin/env bash
# bench/mnemo_bench/smoke.sh BIN DIR — the CI smoke run of mnemo-bench (ctest mnemo_bench_smoke):
# every case at a tiny shape in float (or double) and bf16, a two-point sweep with --json and
# --plot, --compare of two JSON files, and bad arguments that must exit with status 2 and a
# message naming the option. The CUDA cases have their own script (cuda_smoke.sh).
set -euo pipefail
bin="$1"
dir="$2"
rm -rf "$dir"
mkdir -p "$dir"
quick=(--repetitions 2 --warmup 1 --min-time 0 --gemm-n 32 --threads 1 --quiet)
tiny_memformer=(--d 16 --heads 2 --ff 32 --slots 4 --segment 8 --encoder-layers 1 --decoder-layers 1 --vocab 16)

run() {
  echo "+ mnemo-bench $*"
  "$bin" "$@"
}
run attention --len 8 --d 16 --heads 2 --causal --dtype float,bf16 "${quick[@]}"
run attention --kind cross --len 8 --keys 4 --d 16 --heads 2 --pass train --dtype double,bf16 "${quick[@]}"
run memformer-step "${tiny_memformer[@]}" --dtype float,bf16 "${quick[@]}"
run memformer-read "${tiny_memformer[@]}" --dtype float,bf16 "${quick[@]}"
run memformer-generate "${tiny_memformer[@]}" --dtype float,bf16 "${quick[@]}"
run rollout --method mrbp,bptt --rollout 2 --batch 1 "${tiny_memformer[@]}" "${quick[@]}" --json "$dir/a.json" \
  --plot "$dir/rollout.png"
run rollout --method mrbp,bptt --rollout 2 --batch 1 "${tiny_memformer[@]}" --dtype bf16 "${quick[@]}"
run bptt --rollout 2 --batch 1 "${tiny_memformer[@]}" "${quick[@]}" --json "$dir/b.json"
run infinite-step --d 16 --heads 2 --ff 32 --layers 1 --segment 8 --basis 8 --samples 8 --vocab 16 --dtype float,bf16 \
  "${quick[@]}"
run ltm --d 16 --heads 2 --segment 8 --queries 4 --basis 8 --samples 8 --dtype float,bf16 "${quick[@]}"
test -s "$dir/rollout.dat" && test -s "$dir/rollout.gp"
out="$("$bin" --compare "$dir/a.json" "$dir/b.json")"
echo "$out"
grep -q "1 of 1 cases of B matched" <<<"$out"

# Bad arguments: status 2 and the option, what was expected and what came in the message.
expect_usage_error() {
  local pattern="$1"
  shift
  local status=0 err
  # No GPU visible: in a CUDA build, --backend cuda is then refused as well (status 2).
  err="$(CUDA_VISIBLE_DEVICES= "$bin" "$@" 2>&1 >/dev/null)" || status=$?
  if [[ $status != 2 ]] || ! grep -qF -- "$pattern" <<<"$err"; then
    echo "mnemo-bench $*: expected status 2 and '$pattern', got status $status: $err" >&2
    exit 1
  fi
  echo "ok (status 2): mnemo-bench $* -> $err"
}
expect_usage_error "unknown case 'nope'" nope
expect_usage_error "--segment: expected an integer" memformer-step --segment abc
expect_usage_error "--dtype float16: this build has no CPU float16 element type, expected one of: float32, float64, bfloat16" \
  attention --dtype half
expect_usage_error "--backend cuda" attention --backend cuda
expect_usage_error "is not divisible by heads" memformer-step --d 10 --heads 3 "${quick[@]}"
expect_usage_error "memformer-step: this shape needs at least about" memformer-step --slots 16777216 --d 4096 "${quick[@]}"
echo "mnemo-bench smoke run: ok"
