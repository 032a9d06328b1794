#!/bin/bash
# TCP congestion control chosen on both ends of a vfio-user connection:
# dm-remote serve --tcp-congestion, the proxy's tcp-congestion= and
# dm-remote route --tcp-congestion (both its legs) put it on their
# sockets (ss shows it), without them all keep the host's default; bad names and unix: addresses are clear errors at
# start.  TAP output.
#   tests/net/congestion-test.sh BUILD
set -u
build=$(cd "${1:?usage: congestion-test.sh BUILD}" && pwd)
dm=$build/meson/dm-remote/dm-remote
qemu=$build/qemu-system-x86_64
tmp=$(mktemp -d /tmp/dm-cc-XXXXXX)
pids=()
. "$(dirname "$0")/../tap.sh"
trap tap_cleanup EXIT

default=$(cat /proc/sys/net/ipv4/tcp_congestion_control)
pick=
for cc in $(cat /proc/sys/net/ipv4/tcp_allowed_congestion_control); do
    [ "$cc" != "$default" ] && { pick=$cc; break; }
done
if [ -z "$pick" ]; then
    echo "1..0 # SKIP this host allows only its default congestion" \
         "control ($default): nothing to choose"
    exit 0
fi
echo "# host default $default, choosing $pick"

# The congestion control on the established socket with local port
# $1 (sport) or remote port $1 (dport).
cc_of() {
    ss -Htin state established "( $1 )" 2>/dev/null |
        grep -ow -E "$(tr ' ' '|' </proc/sys/net/ipv4/tcp_available_congestion_control)" |
        head -n 1
}

# start_dm LOG PORT ARGS...: dm-remote ARGS in the background, until
# it says it serves.
start_dm() {
    local log=$1 port=$2
    shift 2
    "$dm" "$@" >"$log" 2>&1 &
    pids+=("$!")
    for _ in $(seq 500); do
        grep -q -E "serving|routing" "$log" && break; sleep 0.01
    done
}

# session NAME SERVE-ARGS ROUTE-ARGS DEVICE-ARGS WANT: a model and a
# QEMU connected to it, through a router unless ROUTE-ARGS is "-";
# every end of every connection uses WANT.
session() {
    local name=$1 serve=$2 route=$3 dev=$4 want=$5 mport rport qp ends e got
    local n0=${#pids[@]}
    mport=$("$(dirname "$0")/../free-port.py")
    # shellcheck disable=SC2086
    start_dm "$tmp/dm-$name.log" "$mport" serve --model edu \
        --listen "tcp:127.0.0.1:$mport" $serve
    rport=$mport
    ends=("model:sport = :$mport" "QEMU:dport = :$mport")
    if [ "$route" != - ]; then
        rport=$("$(dirname "$0")/../free-port.py")
        # shellcheck disable=SC2086
        start_dm "$tmp/route-$name.log" "$rport" route \
            --listen "tcp:127.0.0.1:$rport" \
            --route "dm-edu=tcp:127.0.0.1:$mport" $route
        dev=",device-model-id=dm-edu$dev"
        ends=("model:sport = :$mport" "router to the model:dport = :$mport"
              "router from QEMU:sport = :$rport" "QEMU:dport = :$rport")
    fi
    timeout 120 "$qemu" -M pc -accel qtest -qtest null -display none \
        -nodefaults -monitor none \
        -remote-device "bus=pci,server=tcp:127.0.0.1:$rport$dev" \
        >"$tmp/qemu-$name.log" 2>&1 &
    qp=$!
    pids+=("$qp")
    for _ in $(seq 600); do
        got=
        for e in "${ends[@]}"; do
            got+="${e%%:*} '$(cc_of "${e#*:}")', "
        done
        [[ $got != *"''"* ]] && break
        kill -0 "$qp" 2>/dev/null || break
        sleep 0.05
    done
    if [ "$(grep -o "'[^']*'" <<<"$got" | sort -u)" = "'$want'" ]; then
        ok "$name: ${#ends[@]} ends all use $want"
    else
        not_ok "$name: ${got%, }; wanted $want:" \
               "$(tail -n 3 "$tmp"/*-"$name".log)"
    fi
    stop_pids "${pids[@]:$n0}"
}

session chosen "--tcp-congestion $pick" - ",tcp-congestion=$pick" "$pick"
session default "" - "" "$default"
session routed "--tcp-congestion $pick" "--tcp-congestion $pick" \
    ",tcp-congestion=$pick" "$pick"
session routed-default "" "" "" "$default"

# expect NAME STATUS PATTERN CMD...: exit status and message.
expect() {
    local name=$1 status=$2 pattern=$3 out rc
    shift 3
    out=$(timeout 60 "$@" 2>&1)
    rc=$?
    if [ "$rc" = "$status" ] && grep -q -- "$pattern" <<<"$out"; then
        ok "$name"
    else
        not_ok "$name: exit $rc (wanted $status): $out"
    fi
}

expect "serve: an unknown name is refused at start, with the host's list" \
    2 "this host allows: " \
    "$dm" serve --model edu --listen tcp:127.0.0.1:0 --tcp-congestion nosuchcc
expect "serve: a malformed name is refused" 2 "a-z 0-9" \
    "$dm" serve --model edu --listen tcp:127.0.0.1:0 --tcp-congestion 'BB R'
expect "serve: --tcp-congestion needs a tcp: address" 2 "needs a tcp:" \
    "$dm" serve --model edu --listen "unix:$tmp/x.sock" --tcp-congestion reno
expect "serve --help documents it" 0 "--tcp-congestion=NAME" \
    "$dm" serve --help
expect "route: an unknown name is refused at start" 2 "this host allows: " \
    "$dm" route --listen tcp:127.0.0.1:0 --route a=unix:/x \
    --tcp-congestion nosuchcc
expect "route --help documents it" 0 "--tcp-congestion=NAME" \
    "$dm" route --help
expect "QEMU: an unknown name fails the device, with the host's list" \
    1 "tcp-congestion: cannot use TCP congestion control 'nosuchcc'" \
    "$qemu" -M pc -accel qtest -qtest null -display none -nodefaults \
    -remote-device bus=pci,server=tcp:127.0.0.1:1,tcp-congestion=nosuchcc
expect "QEMU: tcp-congestion is refused for a unix: server" \
    1 "'tcp-congestion' is for a tcp: server" \
    "$qemu" -M pc -accel qtest -qtest null -display none -nodefaults \
    -device "dm-proxy-pci,server=unix:$tmp/x.sock,tcp-congestion=reno"
expect "QEMU -help documents it" 0 "tcp-congestion=NAME" "$qemu" -help

echo "1..$n"
exit $failed
