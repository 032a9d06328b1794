#!/bin/bash
# A Linux guest on a remote network card: dm-remote serves virtio-net
# with user-mode networking (libslirp in the model), the guest's own
# virtio_net driver (Debian's module) gets 10.0.2.15 from slirp's DHCP
# (busybox udhcpc), fetches a file from an HTTP server on the server
# platform's loopback (10.0.2.2) and the host compares its sha256; then
# the host fetches a file the guest serves with busybox nc through a
# hostfwd of the model.  TAP output.
#   tests/guest/virtio-net.sh BUILD [unix|tcp]
# DM_REMOTE=PATH runs another build of the model (dm-remote-asan: a
# memory error or a leak makes it exit non-zero, which fails the test).
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2154   # tap.sh's $n and $failed
set -uo pipefail
build=$(cd "${1:?usage: virtio-net.sh BUILD [unix|tcp]}" && pwd)
transport=${2:-unix}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
tmp=$(mktemp -d /tmp/dm-vnet-XXXXXX)
# DM_REMOTE: another build of the program (dm-remote-asan).
dm=${DM_REMOTE:-$build/meson/dm-remote/dm-remote}
pids=()
trap tap_cleanup EXIT

# Three free ports: the model (tcp), the HTTP server, the hostfwd.
ports=$(/usr/bin/python3 "$here/../free-port.py" 127.0.0.1 3) ||
    bail "no free ports"
model_port=$ports http_port=$((ports + 1)) fwd_port=$((ports + 2))
case $transport in
    unix) addr=unix:$tmp/net.sock ;;
    tcp) addr=tcp:127.0.0.1:$model_port ;;
    *) bail "unknown transport $transport" ;;
esac

# The file the guest fetches: 1 MiB of random bytes.
mkdir "$tmp/www"
head -c 1048576 /dev/urandom >"$tmp/www/blob"
want=$(sha256sum <"$tmp/www/blob" | cut -d' ' -f1)
/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$tmp/www" \
    "$http_port" >"$tmp/http.log" 2>&1 &
pids+=($!)

# shellcheck disable=SC2086  # DM_VERBOSE: empty, or an option
"$dm" serve ${DM_VERBOSE:---quiet} \
    --model "virtio-net,net=user,hostfwd=tcp:127.0.0.1:$fwd_port-:8080" \
    --listen "$addr" 2>>"$tmp/dm.log" &
model_pid=$!
pids+=("$model_pid")
for _ in $(seq 500); do
    kill -0 "$model_pid" 2>/dev/null || bail "dm-remote serve exited: $(tail -n 3 "$tmp/dm.log")"
    case $transport in
        unix) [ -S "$tmp/net.sock" ] && break ;;
        tcp) (exec 3<>"/dev/tcp/127.0.0.1/$model_port") 2>/dev/null && break ;;
    esac
    sleep 0.02
done
for _ in $(seq 500); do
    (exec 3<>"/dev/tcp/127.0.0.1/$http_port") 2>/dev/null && break
    sleep 0.02
done

timeout 200 "$build/qemu-system-x86_64" -accel tcg -M pc -m 256M \
    -display none -monitor none -no-reboot \
    -kernel "$build/guest/vmlinuz" \
    -initrd "$build/guest/initramfs.cpio.gz" \
    -append "console=ttyS0 quiet panic=-1 dm.run=virtio-net-check dm.http=$http_port dm.fwd=8080" \
    -serial "file:$tmp/guest.console" \
    -device "dm-proxy-pci,id=net0,server=$addr,timeout=30000" \
    2>>"$tmp/qemu.log" &
qemu_pid=$!
pids+=("$qemu_pid")

console() { tr -d '\r' 2>/dev/null <"$tmp/guest.console"; }
field() { console | sed -n "s/^DM-NET $1 //p" | head -n1; }

# Once the guest serves its file: fetch it through the hostfwd (retried:
# until nc listens, slirp's connection to the guest is refused and ours
# closes empty).
got=
for _ in $(seq 1800); do
    kill -0 "$qemu_pid" 2>/dev/null || break
    if console | grep -q '^DM-NET hostfwd-ready'; then
        for _ in $(seq 50); do
            got=$(/usr/bin/python3 - "$fwd_port" <<'PY'
import hashlib, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=60)
data = b""
while len(data) < 262144:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
s.close()
print(hashlib.sha256(data).hexdigest() if data else "")
PY
            )
            [ -n "$got" ] && break
            sleep 0.2
        done
        break
    fi
    sleep 0.1
done
wait "$qemu_pid"
guest_rc=$?

check "the guest ran and powered off (QEMU exit $guest_rc)" \
    [ "$guest_rc" = 0 ]
check "virtio_net found the card with the model's MAC" \
    [ "$(field mac)" = 52:54:00:12:34:56 ]
# CSUM 0, GUEST_CSUM 1, MRG_RXBUF 15, CTRL_VQ 17, VERSION_1 32.
features=$(field features)
check "the driver took CSUM, GUEST_CSUM, MRG_RXBUF, CTRL_VQ, VERSION_1" \
    [ "${features:0:1}${features:1:1}${features:15:1}${features:17:1}${features:32:1}" = 11111 ]
check "the link is up" [ "$(field carrier)" = 1 ]
check "DHCP gave 10.0.2.15/24" [ "$(field addr)" = 10.0.2.15/24 ]
check "the default route is slirp's gateway" \
    [ "$(field route)" = 10.0.2.2 ]
check "the file fetched from the server's loopback is whole" \
    [ "$(field fetched)" = "$want" ]
check "the host fetched the guest's file through hostfwd" \
    [ "${got:-nothing}" = "$(field served)" ]
check "the guest's nc served it and exited" \
    [ "$(field hostfwd-done)" = 0 ]
kill -TERM "$model_pid" 2>/dev/null
wait "$model_pid"
model_rc=$?
check "the model exited cleanly at SIGTERM (status $model_rc)" \
    [ "$model_rc" = 0 ]

if [ "$failed" != 0 ]; then
    echo "# console:"; console | tail -n 30 | sed 's/^/#   /'
    echo "# dm-remote:"; tail -n 10 "$tmp/dm.log" | sed 's/^/#   /'
    echo "# qemu:"; tail -n 10 "$tmp/qemu.log" | sed 's/^/#   /'
fi
echo "1..$n"
exit "$failed"
