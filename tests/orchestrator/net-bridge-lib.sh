# Sourced by the orchestrator's tests of network cards on a server's
# bridge (net-bridge-test.sh, net-bridge-pair-test.sh), with $here and
# $build set and tests/tap.sh sourced.  Skips the test without root.
#   netbr_start BRADDR CLIENT=ADDR...: the real launchers in network
#     namespaces (tests/net/lan.sh) as in lifecycle-test.sh: the
#     orchestrator on "ctl", a server platform "srv" (platform srv1)
#     whose launcher has --bridges br0 (br0 made here as an operator
#     would, with BRADDR if not empty), and each client (its launcher
#     with the build's QEMU, a platform of the same name).
#   taps: the launcher's taps (dmt...) on srv's br0, one a line.
#   in_srv CMD...: CMD in srv's namespace.
#   dmctl, jget EXPR (a Python expression of d, the JSON on stdin),
#   wait_for SHELL-CONDITION (10 s at most).
# Everything started goes in $pids; $tmp is removed at exit (not with
# KEEP=1), and so are the namespaces.
# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154   # $dm, $chat, $py for the caller; $here, $build from it
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null ||
   [ ! -w /dev/net/tun ]; then
    echo "1..0 # SKIP network namespaces and taps need root and iproute2"
    exit 0
fi
meson_build=${ORCH_MESON_BUILD:-$build/meson}
dm=$meson_build/dm-remote/dm-remote
orch=$meson_build/orchestrator/dm-orchestrator
dmctl_bin=$meson_build/orchestrator/dmctl
chat=$here/../guest/console-chat.py
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/dm-netbr-XXXXXX)
. "$here/../net/lan.sh"
pids=()
netbr_cleanup() {
    kill "${pids[@]}" 2>/dev/null
    wait 2>/dev/null
    lan_down
    [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap netbr_cleanup EXIT
wait_for() { for _ in $(seq 1000); do eval "$1" && return 0; sleep 0.01; done
             return 1; }
export DMCTL_ORCHESTRATOR=unix:$tmp/orch.sock
dmctl() { timeout 120 "$dmctl_bin" "$@"; }
jget() { "$py" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
in_srv() { ip netns exec "$(lan_ns srv)" "$@"; }
taps() { in_srv ip -o link show master br0 | awk -F': ' '{print $2}' |
         sed 's/@.*//' | grep '^dmt'; }

# netbr_launcher NAME ROLE ADDR ARG...
netbr_launcher() {
    local name=$1 role=$2 addr=$3
    shift 3
    mkdir -p "$tmp/$name"
    ip netns exec "$(lan_ns "$name")" "$dm" daemon --role "$role" \
        --listen "tcp:$addr:7000" --insecure-plain-tcp --platform-id "$name" \
        --state-dir "$tmp/$name" "$@" >"$tmp/$name.log" 2>&1 &
    pids+=($!)
}

netbr_start() {
    local braddr=$1 spec up
    shift
    lan_up $$ ctl=192.0.2.10 srv=192.0.2.2 "$@" ||
        bail "cannot set up the namespaces"
    in_srv sh -e -c 'ip link add br0 type bridge
        ip link set br0 up' || bail "no bridge on srv"
    if [ -n "$braddr" ]; then
        in_srv ip addr add "$braddr" dev br0 || bail "no address on br0"
    fi
    netbr_launcher srv server 192.0.2.2 --model-host 192.0.2.2 --bridges br0
    up='grep -q listening "$tmp/srv.log"'
    for spec in "$@"; do
        netbr_launcher "${spec%%=*}" client "${spec#*=}" \
            --qemu "$build/qemu-system-x86_64"
        up+=" && grep -q listening \"\$tmp/${spec%%=*}.log\""
    done
    ip netns exec "$(lan_ns ctl)" "$orch" --db "$tmp/db.sqlite" \
        --listen "unix:$tmp/orch.sock" >>"$tmp/orch.log" 2>&1 &
    pids+=($!)
    wait_for "$up"' && [ -S "$tmp/orch.sock" ]' ||
        bail "launchers or orchestrator did not start"
    dmctl platform add srv1 --role server --address tcp:192.0.2.2:7000 \
        >/dev/null || bail "platform srv1 not added"
    for spec in "$@"; do
        dmctl platform add "${spec%%=*}" --role client \
            --address "tcp:${spec#*=}:7000" >/dev/null ||
            bail "platform ${spec%%=*} not added"
    done
}
