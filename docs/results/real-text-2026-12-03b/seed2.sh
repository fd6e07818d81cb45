#!/usr/bin/env bash
# seed2.sh NAME ARM SEED [options] — seed SEED alone of ARM (900 updates, d 32, FFN 128, τ 0.75) into
# NAME.ARM.sSEED.csv; placeholder lines (never used) for seeds 1..SEED-1 make the program skip them.
name=$1 arm=$2 seed=$3; shift 3
cd /work/wt/rtwhy/build/runs
f=$name.$arm.s$seed.csv
{ head -2 d32tau075.csv; for ((s = 1; s < seed; ++s)); do grep "^inf-former,1," d32tau075.csv | sed "s/^inf-former,1,/$arm,$s,/"; done; } > $f
/usr/bin/time -o $name.$arm.s$seed.time nice -n 10 ../examples/real_text_lm --corpus ../kjv --arms $arm --updates 900 --seeds $seed --threads 1 \
  --log 100 --checkpoint-every 100 --score-train 8 --empty-memory 1 --d 32 --ffn 128 --tau 0.75 --results $f > $name.$arm.s$seed.txt 2>&1
