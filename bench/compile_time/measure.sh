#!/usr/bin/env bash
# bench/compile_time/measure.sh — CPU time and peak memory to compile one user translation unit in
# the header-only mode and in the compiled mode, with the flags CMake uses for a Release build
# (-O3 -DNDEBUG -fopenmp -std=gnu++20). The machine may be shared: compare the CPU (user + sys)
# seconds, not wall time.
#
#   bash bench/compile_time/measure.sh [build-dir] [file.cpp ...]
#
# Files default to every bench/compile_time/*.cpp. Given a configured build dir, the compiled-mode
# objects are also linked against <build-dir>/libmnemo_compiled.a (built on demand) and run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-}"
[[ $# -gt 0 ]] && shift
files=("$@")
[[ ${#files[@]} -gt 0 ]] || files=("$root"/bench/compile_time/*.cpp)
cxx="${CXX:-g++}"
flags=(-O3 -DNDEBUG -fopenmp -std=gnu++20 "-I$root/include" -isystem /usr/include/eigen3)
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

if [[ -n $build ]]; then cmake --build "$build" --target mnemo_compiled -j "${MNEMO_JOBS:-2}" >/dev/null; fi

printf '%-28s %-12s %9s %9s\n' file mode 'CPU s' 'peak MB'
for file in "${files[@]}"; do
  name="$(basename "$file" .cpp)"
  for mode in header-only compiled; do
    defs=()
    [[ $mode == compiled ]] && defs=(-DMNEMO_COMPILED)
    /usr/bin/time -f '%U %S %M' -o "$out/time" "$cxx" "${flags[@]}" "${defs[@]}" -c "$file" -o "$out/$name.$mode.o"
    read -r user sys rss <"$out/time"
    printf '%-28s %-12s %9.1f %9.0f\n' "$name" "$mode" "$(echo "$user + $sys" | bc)" "$(echo "$rss / 1024" | bc)"
  done
  if [[ -n $build ]]; then
    "$cxx" -fopenmp "$out/$name.compiled.o" "$build/libmnemo_compiled.a" -o "$out/$name"
    printf '  run (compiled mode): %s\n' "$("$out/$name")"
  fi
done
