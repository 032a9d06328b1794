#!/bin/bash
# Run COMMAND with a single-member etcd of its own on 127.0.0.1 (free
# ports, a temporary data directory, gone afterwards), named to it as
# ORCH_TEST_STORE=etcd:http://127.0.0.1:PORT.  Without etcd (Debian's
# etcd-server, scripts/deps.sh) the test is skipped, as TAP says.
#
#   with-etcd.sh COMMAND [ARG...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v etcd >/dev/null; then
    echo "1..0 # SKIP etcd not installed (etcd-server: scripts/deps.sh)"
    exit 0
fi
dir=$(mktemp -d /tmp/with-etcd.XXXXXX)
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

port=$("$here/../free-port.py" 127.0.0.1 2)
client="http://127.0.0.1:$port"
peer="http://127.0.0.1:$((port + 1))"
etcd --name test --data-dir "$dir/data" \
    --listen-client-urls "$client" --advertise-client-urls "$client" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
    --initial-cluster "test=$peer" --initial-cluster-state new \
    --logger zap --log-outputs "$dir/etcd.log" &
pid=$!
# Ready once it answers a read through the gateway (it has a leader);
# python, not curl, which the machines may lack.
for _ in $(seq 200); do
    if /usr/bin/python3 -c 'import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/v3/kv/range", b"{\"key\":\"AA==\"}",
                       timeout=2).read()' "$client" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "with-etcd: etcd exited; its log:" >&2
        tail -20 "$dir/etcd.log" >&2
        exit 1
    fi
    sleep 0.1
done
export ORCH_TEST_STORE="etcd:$client"
status=0
"$@" || status=$?
exit $status
