#!/bin/bash
# Run ninja with its whole output in a log and its progress on the
# terminal: one line rewritten in place ([n/N]) on a terminal, a line
# every tenth of the work otherwise (CI logs), then how long it took.
#
# Usage: ninja-progress.sh LABEL LOG NINJA-ARGS...
# Exit status: ninja's.
set -uo pipefail
label=${1:?usage: ninja-progress.sh LABEL LOG NINJA-ARGS...}
log=${2:?usage: ninja-progress.sh LABEL LOG NINJA-ARGS...}
shift 2
tty=0
[ -t 1 ] && tty=1
start=$SECONDS

NINJA_STATUS='[%f/%t] ' ninja "$@" 2>&1 | tee "$log" |
    awk -v label="$label" -v tty="$tty" '
        match($0, /^\[[0-9]+\/[0-9]+\] /) {
            split(substr($0, 2, RLENGTH - 3), n, "/")
            if (tty) {
                printf "\r%s: [%d/%d]", label, n[1], n[2]
                shown = 1
            } else if (int(n[1] * 10 / n[2]) > tenth) {
                tenth = int(n[1] * 10 / n[2])
                printf "%s: [%d/%d]\n", label, n[1], n[2]
            }
            fflush()
        }
        END { if (shown) printf "\n" }'
status=${PIPESTATUS[0]}

took=$((SECONDS - start))
if [ "$status" -ne 0 ]; then
    echo "$label: failed after ${took} s, full log in $log" >&2
elif grep -q '^ninja: no work to do' "$log"; then
    echo "$label: up to date"
else
    echo "$label: built in $((took / 60)) min $((took % 60)) s"
fi
exit "$status"
