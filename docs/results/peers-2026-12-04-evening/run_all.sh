#!/usr/bin/env bash
# The sessions of 2026-12-04 evening (run from /work/main at d70d344, after the fresh-clone CI of
# e00dcd1, machine otherwise idle): the 01:55 script, unchanged, writing into this folder.
exec bash docs/results/peers-2026-12-04/run_all.sh "$PWD/docs/results/peers-2026-12-04-evening"
