#!/bin/bash
# Run one of upstream QEMU's own qtests (built in the QEMU tree) against
# the fork as it is, or with one of its devices replaced by a remote
# model: the same test body, upstream's, passing on both is the twin
# check.  TAP on stdout.
#   upstream-qtest.sh BUILD TEST local [TEST-ARGS...]
#   upstream-qtest.sh BUILD TEST remote MODEL,PROPS PROXY-DEVICE-OPTIONS
#                     [TEST-ARGS...]          (e.g. -p /x86_64/rtc/alarm)
# remote: dm-remote serves MODEL on a UNIX socket for the run, and every
# QEMU the test starts gets "-device PROXY-DEVICE-OPTIONS,server=..."
# (through a wrapper named as the real binary: libqtest reads the target
# from the name).
#   e.g. upstream-qtest.sh build rtc-test remote mc146818 dm-proxy-isa,rtc=on
# DM_UPSTREAM_QEMU_EXTRA: more QEMU arguments for the remote runs, by hand
# (e.g. "-trace dm_proxy_line -D /tmp/trace.log").
set -eu
build=$(cd "$1" && pwd)
name=$2
mode=$3
bin="$build/qemu-build/tests/qtest/$name"
qemu="$build/qemu-system-x86_64"
if [ ! -x "$bin" ]; then
    echo "Bail out! $bin is missing (run make)"
    exit 1
fi
export QTEST_QEMU_BINARY=$qemu
export QEMU_ACCEL=tcg
if [ "$mode" = remote ]; then
    model=$4
    device=$5
    shift 5
    tmp=$(mktemp -d /tmp/dm-upstream-qtest-XXXXXX)
    model_pid=
    trap '[ -z "$model_pid" ] || kill "$model_pid" 2>/dev/null
          wait 2>/dev/null; rm -rf "$tmp"' EXIT
    "$build/meson/dm-remote/dm-remote" serve --quiet --model "$model" \
        --listen "unix:$tmp/model.sock" 2>"$tmp/dm.log" &
    model_pid=$!
    for _ in $(seq 500); do
        [ -S "$tmp/model.sock" ] && break
        kill -0 "$model_pid" 2>/dev/null ||
            { echo "Bail out! dm-remote: $(cat "$tmp/dm.log")"; exit 1; }
        sleep 0.01
    done
    mkdir "$tmp/bin"
    cat >"$tmp/bin/qemu-system-x86_64" <<WRAP
#!/bin/sh
exec "$qemu" "\$@" -device '$device,server=unix:$tmp/model.sock' ${DM_UPSTREAM_QEMU_EXTRA:-}
WRAP
    chmod +x "$tmp/bin/qemu-system-x86_64"
    export QTEST_QEMU_BINARY=$tmp/bin/qemu-system-x86_64
    rc=0
    "$bin" --tap -k "$@" || rc=$?
    [ -s "$tmp/dm.log" ] && sed 's/^/# dm-remote: /' "$tmp/dm.log"
    exit $rc
fi
shift 3
exec "$bin" --tap -k "$@"
