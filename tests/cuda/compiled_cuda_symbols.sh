#!/usr/bin/env bash
# tests/cuda/compiled_cuda_symbols.sh LIBRARY OBJECT... — the compiled mode on CUDA moves the model
# instantiations out of the programs that link it (docs/compile_time.md). With `nm -C`:
#   - LIBRARY (libmnemo_compiled_cuda.a) must define each member below for float, double, __half
#     and __nv_bfloat16 (the heavy, out-of-class members of the list in backend/cuda/compiled.cuh);
#   - the OBJECTs (of a program linking it) must define none of them for any of the four types,
#     and must reference (leave undefined) at least one, so a name spelled differently from what
#     nm prints cannot make the check pass by matching nothing.
# Exit status 1 with the offending symbols listed.
set -euo pipefail
[[ $# -ge 2 ]] || { echo "usage: $0 LIBRARY OBJECT..." >&2; exit 2; }
library="$1"
shift
# CTest passes $<TARGET_OBJECTS:...> as one ;-separated argument (add_test does not expand lists).
objects=()
for argument in "$@"; do
  IFS=';' read -r -a parts <<<"$argument"
  objects+=("${parts[@]}")
done
set -- "${objects[@]}"

# '@' stands for the element type.
members=(
  'mnemo::nn::MultiHeadAttention<@, mnemo::Cuda>::forward_impl('
  'mnemo::nn::FeedForward<@, mnemo::Cuda>::operator()('
  'mnemo::models::Memformer<@, mnemo::Cuda>::step('
  'mnemo::models::InfiniteFormer<@, mnemo::Cuda>::step('
  'mnemo::train::AdamW<@, mnemo::Cuda>::step('
  'mnemo::train::RolloutResult mnemo::train::memformer_detail::rollout<mnemo::train::Mrbp, @, mnemo::Cuda>('
  'mnemo::cuda::MemformerStream<@>::push('
  'mnemo::cuda::InfiniteFormerStream<@>::push('
)
types=(float double __half __nv_bfloat16)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
nm -C --defined-only "$library" >"$work/library_defined"
nm -C --defined-only "$@" >"$work/objects_defined"
nm -C --undefined-only "$@" >"$work/objects_undefined"
failures=0
defined=0
referenced=0
for member in "${members[@]}"; do
  for type in "${types[@]}"; do
    symbol="${member//@/$type}"
    if ! grep -qF -- "$symbol" "$work/library_defined"; then
      printf 'FAIL: %s defines no %s...\n' "$library" "$symbol"
      failures=$((failures + 1))
    fi
    if grep -F -- "$symbol" "$work/objects_defined"; then
      printf 'FAIL: the objects above define %s... (expected extern: from the library)\n' "$symbol"
      failures=$((failures + 1))
      defined=$((defined + 1))
    fi
    if grep -qF -- "$symbol" "$work/objects_undefined"; then referenced=$((referenced + 1)); fi
  done
done
if [[ $referenced -eq 0 ]]; then
  printf 'FAIL: the objects reference none of the listed members: %s\n' "$*"
  failures=$((failures + 1))
fi
printf '%d members x %d types, checked against %s; in the %d objects: %d defined (expected 0), %d referenced; %s\n' \
  "${#members[@]}" "${#types[@]}" "$(basename "$library")" "$#" "$defined" "$referenced" "$failures failures"
[[ $failures -eq 0 ]]
