#!/bin/bash
# Two Linux guests whose network cards live on one server, joined by a
# bridge there: two dm-remote virtio-net models on taps (tap=) enslaved
# to one bridge, in a network namespace the test makes and removes (the
# server); two QEMUs outside it (two clients), each on its model over
# UNIX.  Guest b pings guest a and fetches a file a's busybox httpd
# serves; both sides' sha256 compared.  TAP output.
#   tests/guest/virtio-net-bridge.sh BUILD
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2154   # tap.sh's $n and $failed
set -uo pipefail
build=$(cd "${1:?usage: virtio-net-bridge.sh BUILD}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
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
    ip link set br0 up
    for t in dmtapa dmtapb; do
        ip tuntap add dev $t mode tap
        ip link set $t master br0
        ip link set $t up
    done' || bail "no bridge in $netns"

# start_model NAME TAP MAC: its socket is $tmp/NAME.sock.
start_model() {
    "${ns[@]}" "$dm" serve --model "virtio-net,tap=$2,mac=$3" \
        --listen "unix:$tmp/$1.sock" 2>>"$tmp/dm-$1.log" &
    pids+=($!)
    for _ in $(seq 500); do
        [ -S "$tmp/$1.sock" ] && return 0
        sleep 0.02
    done
    return 1
}
start_model a dmtapa 52:54:00:00:04:01 || bail "model a did not start"
start_model b dmtapb 52:54:00:00:04:02 || bail "model b did not start"

# boot NAME APPEND: a guest on model NAME, in the background.
boot() {
    timeout 240 "$build/qemu-system-x86_64" -accel tcg -M pc -m 256M \
        -display none -monitor none -no-reboot \
        -kernel "$build/guest/vmlinuz" \
        -initrd "$build/guest/initramfs.cpio.gz" \
        -append "console=ttyS0 quiet panic=-1 dm.run=virtio-net-peer $2" \
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
if [ "$failed" != 0 ]; then
    for g in a b; do
        echo "# console $g:"; console $g | tail -n 20 | sed 's/^/#   /'
        echo "# dm-remote $g:"; tail -n 5 "$tmp/dm-$g.log" | sed 's/^/#   /'
    done
fi
echo "1..$n"
exit "$failed"
