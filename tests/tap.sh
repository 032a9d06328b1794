# TAP output for the shell tests: source it (". tests/tap.sh"), report
# with ok/not_ok/check, end with 'echo "1..$n"; exit $failed'.
n=0 failed=0
ok() { echo "ok $((n += 1)) - $1"; }
not_ok() { echo "not ok $((n += 1)) - $1"; failed=1; }
# check NAME CMD...: ok if CMD succeeds
# check NAME CMD...: one command; several conditions go in eval '... && ...'
# (a bare && would end check's command: the rest would decide nothing).
check() { local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name"; fi; }
bail() { echo "Bail out! $*"; exit 1; }
# stop_pids PID...: SIGTERM, up to 10 s for all to exit, then SIGKILL
stop_pids() {
    local p
    for p in "$@"; do
        kill -TERM "$p" 2>/dev/null
    done
    for _ in $(seq 100); do
        for p in "$@"; do
            kill -0 "$p" 2>/dev/null && break
            p=
        done
        [ -z "${p:-}" ] && break
        sleep 0.1
    done
    for p in "$@"; do
        kill -KILL "$p" 2>/dev/null
    done
}
# At exit: stop every pid in $pids, then remove $tmp (kept with KEEP=1).
tap_cleanup() {
    stop_pids "${pids[@]}"
    wait 2>/dev/null
    [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
