#!/usr/bin/env bash
# seed.sh NAME SEED SEDX [options] — seed SEED alone of a 900-update inf-former run, in its own
# results file NAME.s<SEED>.csv: placeholder lines (never used) for seeds 1..SEED-1 make the
# program skip them; SEDX turns the base settings line into this run's.
name=$1 seed=$2 sedx=$3; shift 3
cd /work/wt/rtwhy/build/runs
f=$name.s$seed.csv
if [[ ! -e $f && $seed -gt 1 ]]; then
  { head -2 base.inf-former.csv | sed "$sedx"; for ((s = 1; s < seed; ++s)); do grep "^inf-former,1," base.inf-former.csv | sed "s/^inf-former,1,/inf-former,$s,/"; done; } > $f
fi
/usr/bin/time -o $name.s$seed.time nice -n 10 ../examples/real_text_lm --corpus ../kjv --arms inf-former --updates 900 --seeds $seed --threads 1 \
  --log 100 --checkpoint-every 100 --score-train 8 --empty-memory 1 --results $f "$@" > $name.s$seed.txt 2>&1
