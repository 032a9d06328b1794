#!/bin/bash
# A Linux guest on a remote disk: dm-remote serves virtio-blk on an image
# file, the guest's own virtio_pci and virtio_blk drivers (Debian's
# modules) find /dev/vda, read the host's sector pattern, write with a
# flush, read back past the page cache; the host then finds the write in
# the image.  TAP output.
#   tests/guest/virtio-blk.sh BUILD [unix|tcp]
set -uo pipefail
build=${1:?usage: virtio-blk.sh BUILD [unix|tcp]}
transport=${2:-unix}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
guest=$build/guest
dm=$build/meson/dm-remote/dm-remote
tmp=$(mktemp -d /tmp/dm-vblk-XXXXXX)
pids=()
trap 'stop_pids "${pids[@]}"; rm -rf "$tmp"' EXIT

# 8 MiB; every byte of sector S is S & 0xff.
/usr/bin/python3 -c '
import sys
sys.stdout.buffer.write(b"".join(bytes([s & 0xff]) * 512
                                 for s in range(16384)))' >"$tmp/disk.img"
if [ "$transport" = tcp ]; then
    port=$(/usr/bin/python3 "$here/../free-port.py" 127.0.0.1) ||
        bail "no free port"
    addr=tcp:127.0.0.1:$port
else
    addr=unix:$tmp/blk.sock
fi
"$dm" serve --quiet --model "virtio-blk,file=$tmp/disk.img,serial=dm-disk0" \
    --listen "$addr" 2>"$tmp/dm.log" &
pids+=($!)
for _ in $(seq 500); do
    grep -q . "$tmp/dm.log" && break
    if [ "$transport" = tcp ]; then
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    else
        [ -S "$tmp/blk.sock" ] && break
    fi
    sleep 0.02
done

timeout 150 "$build/qemu-system-x86_64" -accel tcg -M pc -m 256M \
    -display none -monitor none -no-reboot \
    -kernel "$guest/vmlinuz" -initrd "$guest/initramfs.cpio.gz" \
    -append "console=ttyS0 quiet panic=-1 dm.run=virtio-blk-check" \
    -serial "file:$tmp/console" \
    -device "dm-proxy-pci,id=disk0,server=$addr,timeout=30000" \
    2>"$tmp/qemu.log"
rc=$?
console=$(tr -d '\r' <"$tmp/console")
field() { sed -n "s/^DM-BLK $1 //p" <<<"$console" | head -n1; }

check "the guest ran and powered off (QEMU exit $rc)" [ "$rc" = 0 ]
check "its virtio drivers found /dev/vda of 16384 sectors" \
    [ "$(field size)" = 16384 ]
check "GET_ID gives the serial" [ "$(field serial)" = dm-disk0 ]
check "it reads the host's pattern (sector 3)" \
    [ "$(field sector3)" = 03030303030303030303030303030303 ]
check "a flushed write reads back past the page cache" \
    [ "$(field readback)" = remote-disk-ok ]
check "the write is in the image on the server" \
    [ "$(dd if="$tmp/disk.img" bs=512 skip=100 count=1 2>/dev/null |
         head -c 14)" = remote-disk-ok ]
if [ "$failed" != 0 ]; then
    echo "# console:"; tail -n 30 <<<"$console" | sed 's/^/#   /'
    echo "# dm-remote:"; tail -n 10 "$tmp/dm.log" | sed 's/^/#   /'
    echo "# qemu:"; tail -n 10 "$tmp/qemu.log" | sed 's/^/#   /'
fi
echo "1..$n"
exit "$failed"
