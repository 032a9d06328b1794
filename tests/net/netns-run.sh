#!/bin/bash
# Run a test across two hosts simulated on this machine: network
# namespaces dm-client-N and dm-server-N joined by a veth pair, with
# 192.0.2.1/24 (client) and 192.0.2.2/24 (server), addresses of the
# documentation range that exist only inside them.  The command runs in
# the client namespace with DM_SERVER_NETNS and DM_SERVER_ADDR set, so
# that it can start the device model in the server namespace.  Both
# namespaces are removed at the end, whatever happens.
#   tests/net/netns-run.sh COMMAND [ARGS...]
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: netns-run.sh COMMAND [ARGS...]" >&2; exit 2; }
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
    echo "1..0 # SKIP network namespaces need root and iproute2"
    exit 0
fi
id=$$
client=dm-client-$id server=dm-server-$id
cleanup() {
    ip netns del "$client" 2>/dev/null
    ip netns del "$server" 2>/dev/null
}
trap cleanup EXIT
fail() { echo "Bail out! netns set-up failed: $*"; exit 1; }

# Root without the right to make namespaces (a container): a skip.
if ! err=$(ip netns add "$client" 2>&1); then
    echo "1..0 # SKIP ip netns add is not permitted here: $err"
    exit 0
fi
ip netns add "$server" || fail "ip netns add $server"
ip link add "dmc$id" netns "$client" type veth peer name "dms$id" \
    netns "$server" || fail "veth pair"
ip -n "$client" addr add 192.0.2.1/24 dev "dmc$id"
ip -n "$server" addr add 192.0.2.2/24 dev "dms$id"
for ns in "$client" "$server"; do
    ip -n "$ns" link set lo up
done
ip -n "$client" link set "dmc$id" up
ip -n "$server" link set "dms$id" up
# Wait (bounded) until the carrier is up on both ends.
for _ in $(seq 100); do
    ip -n "$client" link show "dmc$id" | grep -q LOWER_UP &&
        ip -n "$server" link show "dms$id" | grep -q LOWER_UP && break
    sleep 0.01
done

export DM_SERVER_NETNS=$server DM_SERVER_ADDR=192.0.2.2
ip netns exec "$client" "$@"
