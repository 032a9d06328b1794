#!/bin/bash
# Many VMs over many server platforms (issue 21 point 4): SERVERS server
# launchers, each in its own network namespace with capacity CAP, two
# client launchers whose QEMU is tests/scale/fake-qemu.py (it opens a real
# vfio-user session to each of its models, with the identifiers and token
# the orchestrator gave, as QEMU would: a thousand QEMUs do not fit in
# memory), and one dm-orchestrator (SQLite) on the "ctl" namespace.
# fleet.py creates SERVERS*CAP+1 VMs of one edu each and starts them:
# all but the last are placed, the last is refused (every server full).
# FLEET_STORE=etcd: the orchestrator on a 3-member etcd (namespaces e1-e3,
# tests/scale/cluster-lib.sh) instead of SQLite.
#   tests/scale/fleet-test.sh BUILD SERVERS CAP [--tap]
#   --tap: behaviour only (make check); without: the numbers (make density)
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: fleet-test.sh BUILD SERVERS CAP [--tap]}" && pwd)
servers=${2:?servers} cap=${3:?capacity} mode=${4:-}
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
    echo "1..0 # SKIP network namespaces need root and iproute2"
    exit 0
fi
meson_build=${ORCH_MESON_BUILD:-$build/meson}
dm=$meson_build/dm-remote/dm-remote
orch=$meson_build/orchestrator/dm-orchestrator
tmp=$(mktemp -d /tmp/dm-fleet-XXXXXX)
. "$here/../net/lan.sh"
. "$here/cluster-lib.sh"
store=${FLEET_STORE:-sqlite}
pids=()
cleanup() {
    kill "${pids[@]}" 2>/dev/null
    wait 2>/dev/null
    starter_kill_all
    lan_down
    rm -rf "$tmp"
}
trap cleanup EXIT

hosts=(ctl=192.0.2.250 c1=192.0.2.201 c2=192.0.2.202)
# The servers are 192.0.2.1-SERVERS; the members 192.0.2.21-23.
if [ "$store" = etcd ] && [ "$servers" -gt 20 ]; then
    echo "fleet-test.sh: FLEET_STORE=etcd takes 20 servers at most" >&2
    exit 2
fi
if [ "$store" = etcd ]; then
    hosts+=($(etcd3_hosts))
fi
for i in $(seq "$servers"); do
    hosts+=("s$i=192.0.2.$i")
done
if ! lan_up $$ "${hosts[@]}" 2>"$tmp/lan.err"; then
    echo "1..0 # SKIP network namespaces cannot be made here: $(head -1 "$tmp/lan.err")"
    exit 0
fi

# launcher NAME ROLE ADDR ARGS...: a dm-remote daemon in NAME's namespace.
launcher() {
    local name=$1 role=$2 addr=$3
    shift 3
    mkdir -p "$tmp/$name"
    ip netns exec "$(lan_ns "$name")" "$dm" daemon --role "$role" \
        --listen "tcp:$addr:7000" --insecure-plain-tcp --platform-id "$name" \
        --state-dir "$tmp/$name" "$@" >"$tmp/$name.log" 2>&1 &
    pids+=($!)
}
for i in $(seq "$servers"); do
    launcher "s$i" server "192.0.2.$i" --model-host "192.0.2.$i" \
        --capacity "$cap" --models edu
done
half=$(( (servers * cap + 2) / 2 + 1 ))
launcher c1 client 192.0.2.201 --qemu "$here/fake-qemu.py" --capacity "$half"
launcher c2 client 192.0.2.202 --qemu "$here/fake-qemu.py" --capacity "$half"
where=(--db "$tmp/db.sqlite")
if [ "$store" = etcd ]; then
    if ! etcd3_up ctl; then
        echo "the 3-member etcd did not come up: $(tail -1 "$tmp/e1.log")" >&2
        exit 1
    fi
    where=(--store "etcd:$etcd3_endpoints" --save-dir "$tmp/saved")
fi
ip netns exec "$(lan_ns ctl)" "$orch" "${where[@]}" \
    --listen "unix:$tmp/orch.sock" >"$tmp/orch.log" 2>&1 &
orch_pid=$!
pids+=($orch_pid)

export FLEET_NETNS_PREFIX=dm-$$- FLEET_TMP=$tmp FLEET_STORE=$store
/usr/bin/python3 "$here/fleet.py" "unix:$tmp/orch.sock" "$orch_pid" \
    "$servers" "$cap" "$mode"
rc=$?
if [ $rc != 0 ] && [ "$mode" = --tap ]; then
    tail -n 5 "$tmp"/*.log | sed 's/^/# /'
fi
exit $rc
