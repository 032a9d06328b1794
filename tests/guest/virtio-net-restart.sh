#!/bin/bash
# A remote network card's model killed and restarted in the middle of a
# TCP transfer (issue 18 point 4): the card on a tap in a network
# namespace the test makes (the tap outlives the model, as the
# launcher's do), the model there with --state-file, QEMU outside over
# UNIX.  The guest downloads 4 MiB from an HTTP server on the tap's side
# that sends the first MiB, then waits for the test's word; once the
# guest has that MiB, the model is killed (SIGKILL), the server told to
# send the rest (into no model: TCP must retransmit), and the model
# started again from its state file.  The same download must finish
# whole (sha256 compared), the guest's driver must have seen the link
# go down and come back (its carrier_down_count), and the model must
# have asked the driver to announce itself (GUEST_ANNOUNCE) and had the
# ack.  TAP output.
#   tests/guest/virtio-net-restart.sh BUILD
# DM_REMOTE=PATH runs another build of the model.
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2154   # tap.sh's $n and $failed
set -uo pipefail
build=$(cd "${1:?usage: virtio-net-restart.sh BUILD}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
dm=${DM_REMOTE:-$build/meson/dm-remote/dm-remote}
if [ "$(id -u)" != 0 ] || [ ! -w /dev/net/tun ]; then
    echo "1..0 # SKIP a tap in a network namespace needs root"
    exit 0
fi
tmp=$(mktemp -d /tmp/dm-vnet-restart-XXXXXX)
netns=dm-vnet-rs-$$
pids=()
if ! err=$(ip netns add "$netns" 2>&1); then
    rm -rf "$tmp"
    echo "1..0 # SKIP ip netns add is not permitted here: $err"
    exit 0
fi
trap 'tap_cleanup; ip netns del "$netns" 2>/dev/null' EXIT
ns=(ip netns exec "$netns")
"${ns[@]}" sh -e -c 'ip link set lo up
    ip tuntap add dev dmtap0 mode tap
    ip addr add 10.0.6.1/24 dev dmtap0
    ip link set dmtap0 up' || bail "no tap in $netns"

half=1048576 size=4194304 port=8080
head -c "$size" /dev/urandom >"$tmp/blob"
want=$(sha256sum <"$tmp/blob" | cut -d' ' -f1)
# The server: one GET, the first $half bytes, then the rest once
# $tmp/go exists.
"${ns[@]}" /usr/bin/python3 - "$tmp" "$half" "$port" \
    >"$tmp/http.log" 2>&1 <<'PY' &
import os, socket, sys, time
tmp, half, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = open(tmp + "/blob", "rb").read()
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("10.0.6.1", port))
srv.listen(1)
open(tmp + "/listening", "w").close()
c, _ = srv.accept()
req = b""
while b"\r\n\r\n" not in req:
    req += c.recv(4096)
print("request", req.split(b"\r\n")[0].decode(), flush=True)
c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data))
c.sendall(data[:half])
print("half sent", flush=True)
while not os.path.exists(tmp + "/go"):
    time.sleep(0.05)
c.sendall(data[half:])
c.close()
print("all sent", flush=True)
PY
pids+=($!)

start_model() {
    "${ns[@]}" "$dm" serve --model virtio-net,tap=dmtap0 \
        --listen "unix:$tmp/net.sock" --state-file "$tmp/net.state" \
        2>>"$tmp/dm.log" &
    model_pid=$!
    pids+=("$model_pid")
    for _ in $(seq 500); do
        kill -0 "$model_pid" 2>/dev/null || return 1
        [ -S "$tmp/net.sock" ] && return 0
        sleep 0.02
    done
    return 1
}
start_model || bail "dm-remote serve did not start: $(tail -n 3 "$tmp/dm.log")"
for _ in $(seq 500); do
    [ -e "$tmp/listening" ] && break
    sleep 0.02
done

timeout 300 "$build/qemu-system-x86_64" -accel tcg -M pc -m 256M \
    -display none -monitor none -no-reboot \
    -kernel "$build/guest/vmlinuz" \
    -initrd "$build/guest/initramfs.cpio.gz" \
    -append "console=ttyS0 quiet panic=-1 dm.run=virtio-net-restart dm.ip=10.0.6.2/24 dm.gw=10.0.6.1 dm.srv=10.0.6.1 dm.http=$port dm.half=$half" \
    -serial "file:$tmp/guest.console" \
    -device "dm-proxy-pci,id=net0,server=unix:$tmp/net.sock,timeout=60000" \
    2>>"$tmp/qemu.log" &
qemu_pid=$!
pids+=("$qemu_pid")

console() { tr -d '\r' 2>/dev/null <"$tmp/guest.console"; }
field() { console | sed -n "s/^DM-NET $1 //p" | head -n1; }

restarted=''
for _ in $(seq 3000); do
    kill -0 "$qemu_pid" 2>/dev/null || break
    if console | grep -q '^DM-NET restart-ready'; then
        kill -KILL "$model_pid"
        wait "$model_pid" 2>/dev/null
        rm -f "$tmp/net.sock"
        touch "$tmp/go"         # the rest, while no model runs
        restarted=no
        start_model && restarted=yes
        break
    fi
    sleep 0.1
done
wait "$qemu_pid"
guest_rc=$?

check "the guest ran and powered off (QEMU exit $guest_rc)" \
    [ "$guest_rc" = 0 ]
check "the server had sent the first MiB when the guest had it" \
    grep -q "half sent" "$tmp/http.log"
check "the guest had it before the kill ($(field restart-ready) bytes)" \
    eval '[ "$(field restart-ready)" -ge "$half" ] 2>/dev/null &&
          [ "$(field restart-ready)" -lt "$size" ]'
check "the model was killed and started again from its state file" \
    [ "$restarted" = yes ]
check "the server sent the rest" grep -q "all sent" "$tmp/http.log"
check "the download begun before the kill ended well (wget $(field fetch-rc))" \
    [ "$(field fetch-rc)" = 0 ]
check "and whole (sha256)" [ "$(field fetched)" = "$want" ]
before=$(field downs-before) after=$(field downs-after)
check "the driver saw the link go down and come back (downs $before -> $after)" \
    eval '[ "$after" -gt "$before" ] 2>/dev/null'
check "the carrier is up at the end" [ "$(field carrier-after)" = 1 ]
check "the restarted model showed the link down, then up with an announce" \
    eval 'grep -q "link down until the driver has seen it" "$tmp/dm.log" &&
          grep -q "link up again after the restart, announce asked" \
              "$tmp/dm.log"'
check "the driver acked the announce (it took GUEST_ANNOUNCE)" \
    grep -q "the driver announced itself" "$tmp/dm.log"
kill -TERM "$model_pid" 2>/dev/null
wait "$model_pid"
model_rc=$?
check "the restarted model exited cleanly at SIGTERM (status $model_rc)" \
    [ "$model_rc" = 0 ]

if [ "$failed" != 0 ]; then
    echo "# console:"; console | tail -n 30 | sed 's/^/#   /'
    echo "# dm-remote:"; tail -n 15 "$tmp/dm.log" | sed 's/^/#   /'
    echo "# qemu:"; tail -n 10 "$tmp/qemu.log" | sed 's/^/#   /'
    echo "# http:"; sed 's/^/#   /' "$tmp/http.log"
fi
echo "1..$n"
exit "$failed"
