#!/bin/bash
# The readiness probe must not take its own connection for the model's.
# Model ports lie inside Linux's ephemeral range; in a network namespace
# whose ephemeral range is the one port of --port-range, the launcher's
# first connect() to the model's port, sent before the model listens,
# gets that port as its source and TCP connects it to itself.  The model
# then cannot bind it and exits: the launch must answer 500 (with the
# model's log), never 201 "running" for a dead model.  (A model quick
# enough to listen before the first probe leaves the probe no source
# port at all: 500 too, after the start timeout.)  TAP.
#   tests/launcher/self-connect-test.sh DM_REMOTE
set -u
dm=${1:?usage: self-connect-test.sh DM_REMOTE}
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
    echo "1..0 # SKIP network namespaces need root and iproute2"
    exit 0
fi
ns=dm-self-$$
if ! ip netns add "$ns" 2>/dev/null; then
    echo "1..0 # SKIP ip netns add is not permitted here"
    exit 0
fi
tmp=$(mktemp -d /tmp/dm-self-XXXXXX)
cleanup() {
    [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid"
    ip netns del "$ns"
    rm -rf "$tmp"
}
trap cleanup EXIT
ip -n "$ns" link set lo up
echo "1..2"
if ! ip netns exec "$ns" sysctl -qw \
        net.ipv4.ip_local_port_range="40000 40000"; then
    echo "Bail out! cannot narrow the ephemeral range"
    exit 1
fi
ip netns exec "$ns" "$dm" daemon --role server --listen "unix:$tmp/api" \
    --platform-id self --state-dir "$tmp/state" --port-range 40000-40000 \
    >"$tmp/log" 2>&1 &
pid=$!
for _ in $(seq 500); do [ -S "$tmp/api" ] && break; sleep 0.01; done
out=$(/usr/bin/python3 "$here/api.py" "unix:$tmp/api" POST /v1/instances \
      '{"id": "e1", "model": "edu"}')
status=${out%%$'\t'*}
if [ "$status" = 500 ]; then
    echo "ok 1 the launch answers 500"
else
    echo "not ok 1 the launch answers 500: $out"
fi
if ! grep -q "e1 (edu) running" "$tmp/log"; then
    echo "ok 2 the dead model was never logged running"
else
    echo "not ok 2 the dead model was never logged running: $(tail -3 "$tmp/log")"
fi
