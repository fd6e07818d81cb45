#!/usr/bin/env bash
# bench/mnemo_bench/cuda_smoke.sh [--expect-no-device] BIN DIR — mnemo-bench's CUDA cases in a
# CUDA build (ctests mnemo_bench_cuda_smoke and mnemo_bench_cuda_no_device; bench/cuda/device_check.sh).
#   default             every case once at a tiny shape with --backend cuda, in float, double, half
#                       and bf16, then a cpu,cuda sweep with --json; each GPU result must have a
#                       positive median and GPU arena peak. Exits 77 (skipped) when no GPU can be
#                       used, after checking that the refusal is the clean one (status 2, message).
#   --expect-no-device  with no GPU visible (CUDA_VISIBLE_DEVICES empty, on any machine):
#                       --backend cuda must exit with status 2 and say that no device can be used,
#                       before anything runs, also within a cpu,cuda sweep; --backend cpu still runs.
set -euo pipefail
expect_no_device=0
if [[ ${1:-} == --expect-no-device ]]; then
  expect_no_device=1
  shift
fi
bin="$1"
dir="$2"
rm -rf "$dir"
mkdir -p "$dir"
quick=(--repetitions 2 --warmup 1 --min-time 0 --gemm-n 64 --threads 1 --quiet)
tiny_memformer=(--d 16 --heads 2 --ff 32 --slots 4 --segment 8 --encoder-layers 1 --decoder-layers 1 --vocab 16)
no_device="--backend cuda: no CUDA device can be used here"

# refused PATTERN ARGS...: status 2 and PATTERN in stderr, nothing on stdout (no case ran).
refused() {
  local pattern="$1" status=0
  shift
  "$@" >"$dir/out.txt" 2>"$dir/err.txt" || status=$?
  if [[ $status != 2 ]] || ! grep -qF -- "$pattern" "$dir/err.txt" || [[ -s $dir/out.txt ]]; then
    echo "$*: expected status 2, '$pattern' and no table, got status $status:" >&2
    cat "$dir/err.txt" "$dir/out.txt" >&2
    return 1
  fi
  echo "ok (status 2): $* -> $(cat "$dir/err.txt")"
}

if [[ $expect_no_device == 1 ]]; then
  export CUDA_VISIBLE_DEVICES=
  refused "$no_device" "$bin" attention --backend cuda "${quick[@]}"
  refused "$no_device" "$bin" memformer-step --backend cpu,cuda --dtype bf16 "${tiny_memformer[@]}" "${quick[@]}"
  refused "--dtype float16: this build has no CPU float16" "$bin" attention --backend cpu,cuda --dtype half "${quick[@]}"
  "$bin" attention --len 8 --d 16 --heads 2 --backend cpu "${quick[@]}" >/dev/null
  echo "ok: --backend cpu runs in this CUDA build with no GPU visible"
  echo "mnemo-bench no-device check: ok"
  exit 0
fi

probe_status=0
"$bin" attention --backend cuda --len 8 --d 16 --heads 2 "${quick[@]}" >"$dir/probe.txt" 2>&1 || probe_status=$?
if [[ $probe_status == 2 ]] && grep -qF -- "$no_device" "$dir/probe.txt"; then
  echo "no usable GPU ($(cat "$dir/probe.txt")): the refusal is clean; the CUDA cases were not run (skipped)"
  exit 77
fi
[[ $probe_status == 0 ]] || { cat "$dir/probe.txt" >&2; echo "probe failed with status $probe_status" >&2; exit 1; }

dtypes=(--dtype float,double,half,bf16)
run() {
  echo "+ mnemo-bench $*"
  "$bin" "$@"
}
n=0
case_run() {  # case_run ARGS...: one case on the GPU in every dtype, JSON kept for the checks below
  n=$((n + 1))
  run "$@" --backend cuda "${dtypes[@]}" "${quick[@]}" --json "$dir/case$n.json"
}
case_run attention --len 8 --d 16 --heads 2 --causal
case_run attention --kind cross --len 8 --keys 4 --d 16 --heads 2 --pass train
case_run memformer-step "${tiny_memformer[@]}"
case_run memformer-read "${tiny_memformer[@]}"
case_run memformer-generate "${tiny_memformer[@]}"
case_run rollout --method mrbp,bptt --rollout 2 --batch 1 "${tiny_memformer[@]}"
case_run infinite-step --d 16 --heads 2 --ff 32 --layers 1 --segment 8 --basis 8 --samples 8 --vocab 16
case_run ltm --d 16 --heads 2 --segment 8 --queries 4 --basis 8 --samples 8
run memformer-step --backend cpu,cuda "${tiny_memformer[@]}" "${quick[@]}" --json "$dir/both.json"
run --compare "$dir/case3.json" "$dir/both.json"

# Every GPU result: a positive median, GPU FLOP rate and arena peak, a ceiling from cuBLAS.
python3 - "$dir"/case*.json "$dir/both.json" <<'PY'
import json, sys
gpu = 0
for path in sys.argv[1:]:
    for r in json.load(open(path))["results"]:
        p = r["params"]
        if p["backend"] != "cuda":
            continue
        gpu += 1
        what = f'{path}: {r["case"]} {p["dtype"]}'
        assert r["median_s"] > 0, what + ": median 0"
        assert r["peak_bytes"] > 0, what + ": no GPU arena peak"
        assert r["gemm_ceiling_gflops"] > 0, what + ": no cuBLAS ceiling"
print(f"{gpu} GPU results checked: positive median, arena peak and ceiling")
assert gpu == 37, f"expected 37 GPU results (8 case runs in 4 dtypes, rollout with 2 methods, 1 of the sweep), got {gpu}"
PY
echo "mnemo-bench CUDA smoke run: ok"
