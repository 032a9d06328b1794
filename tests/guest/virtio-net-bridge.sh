#!/bin/bash
# Two Linux guests whose network cards live on one server, joined by a
# bridge there: two dm-remote virtio-net models on taps (tap=) enslaved
# to one bridge, in a network namespace the test makes and removes (the
# server); two QEMUs outside it (two clients), each on its model over
# UNIX.  Guest b pings guest a and fetches a file a's busybox httpd
# serves; both sides' sha256 compared.  With "launcher", the server is
# a dm-remote daemon (--bridges br0) in the namespace and both cards are
# its instances with "bridge": "br0": the launcher makes the taps, and
# removes them with the instances at the end.  TAP output.
#   tests/guest/virtio-net-bridge.sh BUILD [launcher]
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2154   # tap.sh's $n and $failed
set -uo pipefail
build=$(cd "${1:?usage: virtio-net-bridge.sh BUILD}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
via=${2:-hand}
. "$here/../tap.sh"
dm=${DM_REMOTE:-$build/meson/dm-remote/dm-remote}
if [ "$(id -u)" != 0 ] || [ ! -w /dev/net/tun ]; then
    echo "1..0 # SKIP taps in a network namespace need root"
    exit 0
fi
tmp=$(mktemp -d /tmp/dm-vnet-br-XXXXXX)
netns=dm-vnet-br-$$
pids=()
if ! err=$(ip netns add "$netns" 2>&1); then
    rm -rf "$tmp"
    echo "1..0 # SKIP ip netns add is not permitted here: $err"
    exit 0
fi
trap 'tap_cleanup; ip netns del "$netns" 2>/dev/null' EXIT
ns=(ip netns exec "$netns")
# shellcheck disable=SC2016   # $t is the inner shell's
"${ns[@]}" sh -e -c 'ip link set lo up
    ip link add br0 type bridge
    ip link set br0 up' || bail "no bridge in $netns"
if [ "$via" = hand ]; then
    # shellcheck disable=SC2016   # $t is the inner shell's
    "${ns[@]}" sh -e -c 'for t in dmtapa dmtapb; do
            ip tuntap add dev $t mode tap
            ip link set $t master br0
            ip link set $t up
        done' || bail "no taps in $netns"
else
    api=unix:$tmp/launcher.sock
    "${ns[@]}" "$dm" daemon --role server --listen "$api" --platform-id srv \
        --state-dir "$tmp/state" --bridges br0 2>>"$tmp/launcher.log" &
    launcher=$!
    pids+=("$launcher")
    for _ in $(seq 500); do
        grep -q "listening on" "$tmp/launcher.log" && break
        sleep 0.02
    done
fi
api() { /usr/bin/python3 "$here/../launcher/api.py" "$api" "$@"; }

# start_model NAME TAP MAC: its socket is $tmp/NAME.sock.
start_model() {
    local out
    if [ "$via" = hand ]; then
        "${ns[@]}" "$dm" serve --model "virtio-net,tap=$2,mac=$3" \
            --listen "unix:$tmp/$1.sock" 2>>"$tmp/dm-$1.log" &
        pids+=($!)
    else
        # The launcher's instance: its tap made on br0, its socket linked.
        out=$(api POST /v1/instances "{\"id\": \"$1\", \"model\":
            \"virtio-net\", \"transport\": \"unix\",
            \"props\": {\"bridge\": \"br0\", \"mac\": \"$3\"}}")
        echo "$out" >>"$tmp/dm-$1.log"
        [ "${out%%$'\t'*}" = 201 ] || return 1
        ln -s "$tmp/state/instances/$1/sock" "$tmp/$1.sock"
    fi
    for _ in $(seq 500); do
        [ -S "$tmp/$1.sock" ] && return 0
        sleep 0.02
    done
    return 1
}
start_model a dmtapa 52:54:00:00:04:01 || bail "model a did not start"
start_model b dmtapb 52:54:00:00:04:02 || bail "model b did not start"
# bridged TAP...: each is a port of br0 in the server's namespace.
bridged() {
    local t
    for t in "$@"; do
        "${ns[@]}" ip -o link show "$t" | grep -q " master br0 " || return 1
    done
}
if [ "$via" = launcher ]; then
    taps=$("${ns[@]}" ip -o link show master br0 | awk -F': ' '{print $2}' |
           grep '^dmt' | sort | tr '\n' ' ')
    check "the launcher made two taps on br0 ($taps)" \
        [ "$(wc -w <<<"$taps")" = 2 ]
fi

# boot NAME APPEND: a guest on model NAME, in the background.
boot() {
    timeout 240 "$build/qemu-system-x86_64" -accel tcg -M pc -m 256M \
        -display none -monitor none -no-reboot \
        -kernel "$build/guest/vmlinuz" \
        -initrd "$build/guest/initramfs.cpio.gz" \
        -append "$(cat "$build/guest/append") dm.run=virtio-net-peer $2" \
        -serial "file:$tmp/$1.console" \
        -device "dm-proxy-pci,id=net0,server=unix:$tmp/$1.sock,timeout=30000" \
        2>>"$tmp/qemu-$1.log" &
}
boot a "dm.role=a dm.ip=10.0.4.1/24 dm.gw=10.0.4.254"
qemu_a=$!
boot b "dm.role=b dm.ip=10.0.4.2/24 dm.gw=10.0.4.254 dm.peer=10.0.4.1"
qemu_b=$!
pids+=("$qemu_a" "$qemu_b")
wait "$qemu_b"
rc_b=$?
wait "$qemu_a"
rc_a=$?

console() { tr -d '\r' 2>/dev/null <"$tmp/$1.console"; }
field() { console "$1" | sed -n "s/^DM-NET $2 //p" | head -n1; }
served=$(field a served)
check "both guests ran and powered off (QEMU exits $rc_a, $rc_b)" \
    [ "$rc_a:$rc_b" = 0:0 ]
check "each has its model's MAC" \
    [ "$(field a mac) $(field b mac)" = "52:54:00:00:04:01 52:54:00:00:04:02" ]
check "b pings a through the server's bridge" [ "$(field b ping)" = ok ]
check "b fetched a's file whole over TCP" \
    [ "${served:-none}" = "$(field b fetched)" ]
check "a got b's word" [ "$(field a word)" = fetched ]
if [ "$via" = launcher ]; then
    # shellcheck disable=SC2086   # $taps: two names
    check "the taps are still on the bridge after the run" bridged $taps
    api DELETE /v1/instances/a >/dev/null
    api DELETE /v1/instances/b >/dev/null
    # shellcheck disable=SC2016,SC2086
    check "DELETE removes the launcher's taps" \
        "${ns[@]}" sh -c 'for _ in $(seq 100); do
            ip -o link show | grep -q " dmt" || exit 0; sleep 0.1; done
            exit 1'
fi
if [ "$failed" != 0 ]; then
    for g in a b; do
        echo "# console $g:"; console $g | tail -n 20 | sed 's/^/#   /'
        echo "# dm-remote $g:"; tail -n 5 "$tmp/dm-$g.log" | sed 's/^/#   /'
    done
fi
echo "1..$n"
exit "$failed"
