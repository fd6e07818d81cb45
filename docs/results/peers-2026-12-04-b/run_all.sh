#!/usr/bin/env bash
# The sessions of 2026-12-04, 04:38-04:45 UTC (run from /work/main, after the fresh-clone CI of
# 2cba927): the 01:55 script, unchanged, writing into this folder.
exec bash docs/results/peers-2026-12-04/run_all.sh "$PWD/docs/results/peers-2026-12-04-b"
