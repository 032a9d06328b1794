#!/bin/bash
# make fuzz: run every libFuzzer target (BUILD/fuzz, scripts/build-fuzz.sh)
# for FUZZ_SECONDS each (default 60), one at a time on one CPU, from its
# corpus and regressions, and print a table: target, executions, coverage
# (cov and ft of libFuzzer's last stats line), crashes.  What a run finds
# stays in BUILD/fuzz-runs/TARGET (corpus/ and crashes/); the committed
# corpus is not touched.  FUZZ_TARGETS picks some ("vup-msg virtq").
# FUZZ_CPU: the CPU the targets are pinned to (default the last): a
# session target's two threads on one CPU spare each unmap a TLB-shootdown
# interrupt to the other, 1.7-2x the executions a second on these VMs.
# Exit status: non-zero if any target crashed.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(cd "${1:?usage: run-fuzz.sh BUILD}" && pwd)
secs=${FUZZ_SECONDS:-60}
bin="$out/fuzz/tests/fuzz"
runs="$out/fuzz-runs"

if [ ! -d "$bin" ]; then
    echo "fuzz: no targets built (no clang with libFuzzer?)" >&2
    exit 1
fi
targets=${FUZZ_TARGETS:-$(cd "$top/tests/fuzz" &&
                          for d in */corpus; do echo "${d%/corpus}"; done)}
pin=()
command -v taskset > /dev/null &&
    pin=(taskset -c "${FUZZ_CPU:-$(( $(nproc) - 1 ))}")
failed=0
rows=()
for t in $targets; do
    dirs=("$runs/$t/corpus" "$top/tests/fuzz/$t/corpus")
    [ -d "$top/tests/fuzz/$t/regressions" ] &&
        dirs+=("$top/tests/fuzz/$t/regressions")
    mkdir -p "$runs/$t/corpus" "$runs/$t/crashes"
    echo "fuzz: $t for ${secs}s" >&2
    # -jobs=1: one worker process, its log (fuzz-0.log) in its directory.
    (cd "$runs/$t" &&
     "${pin[@]}" "$bin/fuzz-$t" -max_total_time="$secs" -jobs=1 -timeout=30 \
         -max_len=65536 -print_final_stats=1 \
         -artifact_prefix="$runs/$t/crashes/" "${dirs[@]}" > log 2>&1)
    status=$?
    # The last "#N ... cov: C ft: F" line, and the final stats.
    last=$(grep -a -E '^#[0-9]+.*cov: ' "$runs/$t/log" | tail -n 1)
    execs=$(grep -a -E '^stat::number_of_executed_units:' "$runs/$t/log" |
            awk '{ print $2 }')
    [ -n "$execs" ] || execs=$(sed -E 's/^#([0-9]+).*/\1/' <<< "$last")
    cov=$(sed -E 's/.*cov: ([0-9]+).*/\1/' <<< "$last")
    ft=$(sed -E 's/.*ft: ([0-9]+).*/\1/' <<< "$last")
    # crash-, leak-, timeout-, oom-: a slow-unit- is not a failure.
    crashes=$(find "$runs/$t/crashes" -type f ! -name 'slow-unit-*' | wc -l)
    if [ "$status" != 0 ] || [ "$crashes" != 0 ]; then
        failed=1
        echo "fuzz: $t failed (status $status), see $runs/$t/log" >&2
    fi
    rows+=("$t ${execs:-?} ${cov:-?} ${ft:-?} $crashes")
done

printf '%-22s %12s %8s %8s %8s\n' target executions cov ft crashes
for r in "${rows[@]}"; do
    # shellcheck disable=SC2086
    printf '%-22s %12s %8s %8s %8s\n' $r
done
exit $failed
