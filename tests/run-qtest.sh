#!/bin/bash
# Run one of our qtests (built inside the QEMU tree) against the fork,
# with dm-remote for the remote twins.  TAP on stdout.
#   run-qtest.sh BUILD NAME [TEST-ARGS...]   (e.g. -p /x86_64/dm/edu/proxy-tcp)
set -eu
build=$(cd "$1" && pwd)
name=$2
shift 2
bin="$build/qemu-build/tests/qtest/dm/$name"
if [ ! -x "$bin" ]; then
    echo "Bail out! $bin is missing (run make)"
    exit 1
fi
export QTEST_QEMU_BINARY="$build/qemu-system-x86_64"
export DM_REMOTE="$build/meson/dm-remote/dm-remote"
export DM_DELAY_RELAY="$(cd "$(dirname "$0")" && pwd)/net/delay-relay.py"
export DM_HOSTILE_SERVER="$(cd "$(dirname "$0")" && pwd)/hostile/hostile-server.py"
# Tests use TCG or qtest: keep a nested /dev/kvm out of their way.
export QEMU_ACCEL=tcg
# Certificates for the TLS back ends, fresh for each run.
DM_TLS_DIR=$(mktemp -d /tmp/dm-tls-XXXXXX)
export DM_TLS_DIR
trap 'rm -rf "$DM_TLS_DIR"' EXIT
"$(dirname "$0")/net/make-certs.sh" "$DM_TLS_DIR"
"$bin" --tap -k "$@"
