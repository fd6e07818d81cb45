#!/usr/bin/env bash
# watch.sh PID CSV ARM: stop process PID (one I started) once CSV holds ARM's seed-2 run (seed 3 runs elsewhere)
pid=$1 csv=$2 arm=$3
while kill -0 $pid 2>/dev/null; do
  if grep -q "^$arm,2," $csv 2>/dev/null; then kill $pid; echo "stopped $pid after seed 2 of $csv" >> watch.log; exit 0; fi
  sleep 10
done
