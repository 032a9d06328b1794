#!/bin/bash
# The control plane under faults (issue 21 point 5): a 3-member etcd,
# 3 dm-orchestrators sharing it, SERVERS server launchers (capacity CAP,
# models edu) and 2 client launchers (QEMU replaced by
# tests/scale/fake-qemu.py), each in a network namespace of its own on
# one LAN; every launcher registered in etcd.  cluster.py drives
# create/start/migrate/stop traffic through any orchestrator while it
# injects faults (kill -9, SIGSTOP and a partition of the leader, an etcd
# member lost and restored, a server launcher restarted), then runs the
# checkers.
#   tests/scale/cluster-test.sh BUILD SERVERS CAP ROUNDS [--tap]
#   --tap: TAP for make check; without: the counts and failover times
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: cluster-test.sh BUILD SERVERS CAP ROUNDS [--tap]}" \
        && pwd)
servers=${2:?servers} cap=${3:?capacity} rounds=${4:?rounds} mode=${5:-}
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
    echo "1..0 # SKIP network namespaces need root and iproute2"
    exit 0
fi
if ! command -v etcd >/dev/null; then
    echo "1..0 # SKIP etcd not installed (etcd-server: scripts/deps.sh)"
    exit 0
fi
meson_build=${ORCH_MESON_BUILD:-$build/meson}
dm=$meson_build/dm-remote/dm-remote
orch=$meson_build/orchestrator/dm-orchestrator
tmp=$(mktemp -d /tmp/dm-cluster-XXXXXX)
. "$here/../net/lan.sh"
. "$here/cluster-lib.sh"
cleanup() {
    starter_kill_all
    lan_down
    if [ -n "${CLUSTER_KEEP:-}" ]; then
        echo "# kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT

hosts=(drv=192.0.2.250 c1=192.0.2.201 c2=192.0.2.202 $(etcd3_hosts))
for i in 1 2 3; do
    hosts+=("o$i=192.0.2.3$i")
done
for i in $(seq "$servers"); do
    hosts+=("s$i=192.0.2.$((100 + i))")
done
if ! lan_up $$ "${hosts[@]}" 2>"$tmp/lan.err"; then
    echo "1..0 # SKIP network namespaces cannot be made here: $(head -1 "$tmp/lan.err")"
    exit 0
fi
# The cluster answering (a quorum) before anything registers in it.
if ! etcd3_up drv; then
    echo "1..1"
    echo "not ok 1 - the 3-member etcd came up: $(tail -1 "$tmp/e1.log")"
    exit 1
fi
endpoints=$etcd3_endpoints
for i in $(seq "$servers"); do
    mkdir -p "$tmp/s$i"
    starter "s$i" "$dm" daemon --role server --listen "tcp:192.0.2.$((100 + i)):7000" \
        --insecure-plain-tcp --platform-id "s$i" --state-dir "$tmp/s$i" \
        --model-host "192.0.2.$((100 + i))" --capacity "$cap" --models edu \
        --register "etcd:$endpoints" --register-ttl 4
done
for c in c1 c2; do
    mkdir -p "$tmp/$c"
    starter "$c" "$dm" daemon --role client --listen "tcp:192.0.2.20${c#c}:7000" \
        --insecure-plain-tcp --platform-id "$c" --state-dir "$tmp/$c" \
        --qemu "$here/fake-qemu.py" --capacity $((servers * cap)) \
        --register "etcd:$endpoints" --register-ttl 4
done
for i in 1 2 3; do
    starter "o$i" "$orch" --store "etcd:$endpoints" --save-dir "$tmp/saved" \
        --listen "unix:$tmp/o$i.sock" --leader-ttl 3 -v
done

export CLUSTER_TMP=$tmp CLUSTER_NS=dm-$$- CLUSTER_ENDPOINTS=$endpoints
ip netns exec "$(lan_ns drv)" /usr/bin/python3 "$here/cluster.py" \
    "$servers" "$cap" "$rounds" "$mode"
rc=$?
if [ $rc != 0 ] && [ "$mode" = --tap ]; then
    tail -n 4 "$tmp"/o*.log | sed 's/^/# /'
fi
exit $rc
