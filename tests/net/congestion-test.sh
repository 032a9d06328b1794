#!/bin/bash
# TCP congestion control chosen on both ends of a vfio-user connection:
# dm-remote serve --tcp-congestion and the proxy's tcp-congestion=
# put it on their sockets (ss shows it), without them both keep the
# host's default; bad names and unix: addresses are clear errors at
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

# session NAME SERVE-ARGS DEVICE-ARGS WANT: a model and a QEMU connected
# to it; both ends of the connection use WANT.
session() {
    local name=$1 serve=$2 dev=$3 want=$4 port srv cli qp dp
    port=$("$(dirname "$0")/../free-port.py")
    # shellcheck disable=SC2086
    "$dm" serve --model edu --listen "tcp:127.0.0.1:$port" $serve \
        >"$tmp/dm-$name.log" 2>&1 &
    dp=$!
    pids+=("$dp")
    for _ in $(seq 500); do
        grep -q "serving" "$tmp/dm-$name.log" && break; sleep 0.01
    done
    timeout 120 "$qemu" -M pc -accel qtest -qtest null -display none \
        -nodefaults -monitor none \
        -remote-device "bus=pci,server=tcp:127.0.0.1:$port$dev" \
        >"$tmp/qemu-$name.log" 2>&1 &
    qp=$!
    pids+=("$qp")
    srv= cli=
    for _ in $(seq 600); do
        srv=$(cc_of "sport = :$port") cli=$(cc_of "dport = :$port")
        [ -n "$srv" ] && [ -n "$cli" ] && break
        kill -0 "$qp" 2>/dev/null || break
        sleep 0.05
    done
    if [ "$srv" = "$want" ] && [ "$cli" = "$want" ]; then
        ok "$name: model and QEMU both use $want"
    else
        not_ok "$name: model '$srv', QEMU '$cli', wanted $want:" \
               "$(tail -n 3 "$tmp/qemu-$name.log" "$tmp/dm-$name.log")"
    fi
    stop_pids "$qp" "$dp"
}

session chosen "--tcp-congestion $pick" ",tcp-congestion=$pick" "$pick"
session default "" "" "$default"

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
