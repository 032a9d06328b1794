#!/bin/bash
# make check's run of one libFuzzer target: every input of its corpus and
# regressions, then RUNS executions more from a fixed seed.  No time is
# asserted; a crash, a leak, a sanitizer report or a timeout fails it.
#   run-corpus.sh TARGET RUNS NEW_DIR SRC_DIR
# SRC_DIR is the target's folder in tests/fuzz: its corpus/, and its
# regressions/ when there is one (looked up here, not when meson
# configured).  NEW_DIR (in the build) takes the inputs it finds, emptied
# first so that every run is the same: the committed corpus stays as it
# is.
set -euo pipefail
exe=$1 runs=$2 new=$3 src=$4
dirs=("$src/corpus")
[ -d "$src/regressions" ] && dirs+=("$src/regressions")
rm -rf "$new"
mkdir -p "$new" "$new.crashes"
# libFuzzer's own exit status for a crash, 77, is meson's for "skipped".
exec "$exe" -runs="$runs" -seed=1 -timeout=30 -max_len=65536 \
    -error_exitcode=1 -timeout_exitcode=1 \
    -print_final_stats=1 -artifact_prefix="$new.crashes/" "$new" "${dirs[@]}"
