#!/usr/bin/env bash
# run.sh NAME ARMS [extra options...] — one 900-update, 3-seed experiment, CPU time recorded
name=$1 arms=$2; shift 2
cd /work/wt/rtwhy/build/runs
/usr/bin/time -o $name.$arms.time nice -n 10 ../examples/real_text_lm --corpus ../kjv --arms $arms --updates 900 --seeds 3 --threads 1 \
  --log 100 --checkpoint-every 100 --score-train 8 --empty-memory 1 --results $name.$arms.csv "$@" > $name.$arms.txt 2>&1
