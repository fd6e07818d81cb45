#!/usr/bin/env bash
# Builds mnemo_bench_cpu and runs the attention benchmarks and their PyTorch peers in one
# session, then writes results.json + table.md and prints the markdown table (ratios = PyTorch
# ms / mnemo ms). Order: mnemo (pass 1), PyTorch peers, mnemo (pass 2); mnemo's repetitions of
# both passes are pooled, so a load change during the session shows up on both sides.
#
#   bench/run_cpu.sh [--out DIR] [--reps N] [--peer-reps-large N] [--peer-reps-small N]
#                    [--openblas DIR|fetch] [--no-extras] [--peer-shapes large,small] [--quick]
#
#   --out DIR            where the files go (default: out/bench-cpu-<UTC time>)
#   --reps N             mnemo repetitions per pass (default 5)
#   --peer-reps-large N  PyTorch repetitions at B=16, L=512 (default 3: each forward+backward
#                        takes tens of seconds with Debian's reference BLAS)
#   --peer-reps-small N  PyTorch repetitions at B=1, L=64 (default 7)
#   --openblas DIR       extra, labelled column: the peer again with the OpenBLAS libblas.so.3
#                        in DIR put first on LD_LIBRARY_PATH (this process only; the system's
#                        libblas.so.3 alternative is not touched). 'fetch' downloads Debian's
#                        libopenblas0-pthread with `apt-get download` and unpacks it under the
#                        build folder.
#   --no-extras          skip the extra column with torch's default thread count
#   --peer-shapes LIST   which shapes the peers run (default large,small; mnemo runs both)
#   --quick              smoke test: 2 repetitions everywhere, short peer loops
#
# Threads: OMP_NUM_THREADS=2 for mnemo (its own thread pool reads it; kernels and GEMM) and
# torch.set_num_threads(2) for the peer (and OPENBLAS_NUM_THREADS=2 in the OpenBLAS column). An
# OMP_WAIT_POLICY set in the environment only affects the peer (libgomp; mnemo's pool has its own
# bounded-spin policy); it is recorded in meta.json. On a machine busy with other work,
# OMP_WAIT_POLICY=passive keeps the peer's waiting threads from spinning (docs/benchmarks.md).
# Environment: MNEMO_BENCH_BUILD (build folder, default build-bench), PYTHON (default
# /usr/bin/python3, Debian's python3-torch).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${MNEMO_BENCH_BUILD:-$ROOT/build-bench}"
PYTHON="${PYTHON:-/usr/bin/python3}"
THREADS=2
OUT=""
REPS=5
PEER_REPS_LARGE=3
PEER_REPS_SMALL=7
PEER_MIN_TIME=0.5
OPENBLAS=""
EXTRAS=1
PEER_SHAPES=large,small
PEER_VARIANTS="${PEER_VARIANTS:-eager}"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    --peer-reps-large) PEER_REPS_LARGE="$2"; shift 2 ;;
    --peer-reps-small) PEER_REPS_SMALL="$2"; shift 2 ;;
    --openblas) OPENBLAS="$2"; shift 2 ;;
    --no-extras) EXTRAS=0; shift ;;
    --peer-shapes) PEER_SHAPES="$2"; shift 2 ;;
    --quick) REPS=2; PEER_REPS_LARGE=1; PEER_REPS_SMALL=2; PEER_MIN_TIME=0.1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "run_cpu.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
OUT="${OUT:-$ROOT/out/bench-cpu-$(date -u +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
LOADS="$OUT/loadavg.txt"
: > "$LOADS"
note_load() { echo "$1 $(cut -d' ' -f1-3 /proc/loadavg)" >> "$LOADS"; }

echo "== building mnemo_bench_cpu in $BUILD" >&2
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMNEMO_ENABLE_CUDA=OFF \
  -DMNEMO_BUILD_TESTS=OFF -DMNEMO_BUILD_EXAMPLES=OFF -DMNEMO_BUILD_BENCHMARKS=ON > "$OUT/cmake.log"
make -C "$BUILD" -j2 mnemo_bench_cpu > "$OUT/make.log"
BENCH="$BUILD/bench/mnemo_bench_cpu"

if [[ "$OPENBLAS" == fetch ]]; then
  OPENBLAS_ROOT="$BUILD/openblas"
  if [[ ! -d "$OPENBLAS_ROOT/usr" ]]; then
    mkdir -p "$OPENBLAS_ROOT"
    (cd "$OPENBLAS_ROOT" && apt-get download libopenblas0-pthread >&2 &&
      dpkg-deb -x libopenblas0-pthread_*.deb .)
  fi
  OPENBLAS="$(dirname "$(find "$OPENBLAS_ROOT/usr" -name libblas.so.3 | head -n1)")"
fi
if [[ -n "$OPENBLAS" && ! -e "$OPENBLAS/libblas.so.3" ]]; then
  echo "run_cpu.sh: no libblas.so.3 in '$OPENBLAS'" >&2
  exit 2
fi

run_ours() {  # $1 = pass number
  echo "== mnemo pass $1 (OMP_NUM_THREADS=$THREADS, $REPS repetitions)" >&2
  note_load "mnemo-pass-$1-start"
  # The binary holds every CPU benchmark (bench/cpu/*.cpp); this script's cases are these.
  OMP_NUM_THREADS=$THREADS MNEMO_BENCH_REPETITIONS=$REPS "$BENCH" \
    '--benchmark_filter=^BM_(Attention|EigenGemm)' \
    --benchmark_out="$OUT/mnemo_pass$1.json" --benchmark_out_format=json >&2
}

run_peer() {  # $1 = output file, rest: extra arguments; env is passed by the caller
  local out="$1"; shift
  local shape reps parts=()
  for shape in ${PEER_SHAPES//,/ }; do
    reps=$PEER_REPS_SMALL
    [[ $shape == large ]] && reps=$PEER_REPS_LARGE
    "$PYTHON" "$ROOT/bench/peers/attention_cpu.py" --shapes "$shape" --repetitions "$reps" \
      --min-time "$PEER_MIN_TIME" --variants "$PEER_VARIANTS" --out "$out.$shape.json" "$@" > /dev/null
    parts+=("$out.$shape.json")
  done
  "$PYTHON" - "$out" "${parts[@]}" <<'EOF'
import json, sys
out, first, *rest = sys.argv[1:]
merged = json.load(open(first))
merged["repetitions"] = {merged["results"][0]["L"]: merged["repetitions"]}
for path in rest:
    part = json.load(open(path))
    merged["results"] += part["results"]
    merged["repetitions"][part["results"][0]["L"]] = part["repetitions"]
json.dump(merged, open(out, "w"), indent=1)
EOF
}

run_ours 1

echo "== PyTorch peer: Debian's python3-torch, torch.set_num_threads($THREADS)" >&2
note_load "peer-default-start"
OMP_NUM_THREADS=$THREADS run_peer "$OUT/peer.json" --threads "$THREADS" \
  --label "Debian python3-torch, default BLAS"
EXTRA_ARGS=()
if [[ $EXTRAS == 1 ]]; then
  echo "== extra: PyTorch with its default thread count (manual module only)" >&2
  note_load "peer-torch-default-threads-start"
  (unset OMP_NUM_THREADS; run_peer "$OUT/peer_torch_default_threads.json" --threads 0 --impls manual \
    --label "Debian python3-torch, default BLAS, torch's default thread count")
  EXTRA_ARGS+=(--extra "torch-default-threads=$OUT/peer_torch_default_threads.json")
fi
if [[ -n "$OPENBLAS" ]]; then
  echo "== extra: PyTorch with OpenBLAS from $OPENBLAS (OPENBLAS_NUM_THREADS=$THREADS)" >&2
  note_load "peer-openblas-start"
  OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS LD_LIBRARY_PATH="$OPENBLAS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    run_peer "$OUT/peer_openblas.json" --threads "$THREADS" \
    --label "Debian python3-torch with libopenblas0-pthread's libblas.so.3 (LD_LIBRARY_PATH)"
  EXTRA_ARGS+=(--extra "openblas=$OUT/peer_openblas.json")
fi

run_ours 2
note_load "end"

"$PYTHON" - "$OUT" "$LOADS" "$BUILD" <<'EOF'
import json, os, subprocess, sys
out, loads, build = sys.argv[1:4]
def sh(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
meta = {
    "date_utc": sh("date -u +%Y-%m-%dT%H:%M:%SZ"),
    "cpu": sh("lscpu | sed -n 's/^Model name: *//p'"),
    "cpus": sh("nproc"),
    "compiler": sh("c++ --version | head -n1"),
    "flags": sh(f"grep -h CXX_FLAGS {build}/bench/CMakeFiles/mnemo_bench_cpu.dir/flags.make"),
    "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset: libgomp default)"),
    "loadavg_1_5_15": [line.split(" ", 1) for line in open(loads).read().splitlines()],
}
json.dump(meta, open(f"{out}/meta.json", "w"), indent=1)
EOF

"$PYTHON" "$ROOT/bench/summarize_cpu.py" --ours "$OUT/mnemo_pass1.json" "$OUT/mnemo_pass2.json" \
  --peer "$OUT/peer.json" "${EXTRA_ARGS[@]}" --meta "$OUT/meta.json" \
  --out-json "$OUT/results.json" --out-md "$OUT/table.md"
echo "Load average (1, 5, 15 min) at each phase:"
sed 's/^/  /' "$LOADS"
echo "Files: $OUT"
