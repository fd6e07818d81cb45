#!/usr/bin/env bash
# bench/run_dp_scaling.sh [BUILD_DIR] — issue 12 item 5: data-parallel throughput at 1 and 2 ranks,
# one thread per rank (docs/distributed.md, docs/benchmarks.md "Data-parallel training (MPI)").
#   recall      examples/memformer_recall --distributed 1, STEPS updates (defaults: 32 rows per
#               rank, d 64, MRBP), the demo's own tok/s (loss-carrying tokens over the training
#               time, summed over the ranks);
#   real_text   examples/real_text_lm --distributed 1, the inf-former arm, RT_UPDATES updates of
#               4 rows × 2 segments × 64 bytes per rank on CORPUS (default: the project's docs, one
#               document per file); bytes/s = updates × ranks × 4 × 2 × 64 over the training time
#               of its last progress line (the evaluation after it is not counted).
# REPS repetitions (default 3), the rank counts interleaved (1, 2, 1, 2, ...); prints every
# figure, the medians and the scaling efficiency = median(2 ranks) / (2 × median(1 rank)), and the
# load average before and after (on a busy machine the figures say little: see benchmarks.md).
#
#   bench/run_dp_scaling.sh build                       # both programs, 3 repetitions
#   REPS=5 STEPS=60 SKIP_REAL_TEXT=1 bench/run_dp_scaling.sh build/release
#
# Environment: MPIEXEC (mpirun), MPI_FLAGS (default "--bind-to core"; as root
# --allow-run-as-root is added; with fewer than 2 cores --oversubscribe --bind-to none).
set -euo pipefail
build="${1:-build}"
reps="${REPS:-3}" steps="${STEPS:-40}" rt_updates="${RT_UPDATES:-60}"
mpiexec="${MPIEXEC:-mpirun}"
here="$(cd "$(dirname "$0")/.." && pwd)"
recall="$build/examples/memformer_recall" real_text="$build/examples/real_text_lm"
[[ -x $recall ]] || { echo "run_dp_scaling: no $recall (build the memformer_recall target with MPI found)" >&2; exit 2; }
cores=$(nproc)  # before OMP_NUM_THREADS=1, which nproc honours
export MNEMO_NUM_THREADS=1 OMP_NUM_THREADS=1
flags=(${MPI_FLAGS:---bind-to core})
(( cores < 2 )) && flags=(--oversubscribe --bind-to none)
[[ $(id -u) == 0 ]] && flags+=(--allow-run-as-root)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

corpus="${CORPUS:-}"
if [[ -z $corpus ]]; then
  corpus="$work/corpus"
  mkdir "$corpus"
  for f in "$here"/docs/*.md; do cp "$f" "$corpus/$(basename "${f%.md}").txt"; done
fi

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

run_recall() {  # ranks -> tok/s
  "$mpiexec" "${flags[@]}" -np "$1" "$recall" --distributed 1 --threads 1 --steps "$steps" --log-every "$steps" \
    --checkpoint none --eval-batches 1 | grep -oE '[0-9]+ tok/s' | tail -1 | cut -d' ' -f1
}

run_real_text() {  # ranks rep -> bytes/s
  local line seconds
  line=$("$mpiexec" "${flags[@]}" -np "$1" "$real_text" --distributed 1 --threads 1 --corpus "$corpus" --arms inf-former \
           --seeds 1 --updates "$rt_updates" --batch 4 --horizon 2 --segment 64 --d 64 --layers 2 --log "$rt_updates" \
           --eval-bytes 128 --results "$work/rt_$1_$2.csv" | grep -E "update +$rt_updates/$rt_updates" | tail -1)
  seconds=$(sed -E 's/.* ([0-9.]+) s +ETA.*/\1/' <<<"$line")
  awk -v u="$rt_updates" -v r="$1" -v s="$seconds" 'BEGIN {printf "%.0f\n", u * r * 4 * 2 * 64 / s}'
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $cores cores; MPI flags: ${flags[*]}"
declare -A got
for ((i = 1; i <= reps; i++)); do
  for np in 1 2; do
    got[recall_$np]+="$(run_recall "$np") "
    [[ -n ${SKIP_REAL_TEXT:-} || ! -x $real_text ]] || got[real_text_$np]+="$(run_real_text "$np" "$i") "
  done
done
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
for what in recall real_text; do
  [[ -n ${got[${what}_1]:-} ]] || continue
  unit=$([[ $what == recall ]] && echo "tokens/s" || echo "bytes/s")
  m1=$(median ${got[${what}_1]}) m2=$(median ${got[${what}_2]})
  printf '%-9s 1 rank : %s%s(median %s)\n' "$what" "$unit " "${got[${what}_1]}" "$m1"
  printf '%-9s 2 ranks: %s%s(median %s)\n' "$what" "$unit " "${got[${what}_2]}" "$m2"
  awk -v a="$m1" -v b="$m2" -v w="$what" 'BEGIN {printf "%-9s scaling efficiency (2 ranks / (2 x 1 rank), medians): %.2f\n", w, b / (2 * a)}'
done
