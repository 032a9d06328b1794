#!/bin/bash
# A Linux guest on a remote disk: dm-remote serves virtio-blk on an image
# file, the guest's own virtio_pci and virtio_blk drivers (Debian's
# modules) find /dev/vda, read the host's sector pattern, write with a
# flush, read back past the page cache; the host then finds the write in
# the image.  TAP output.  With nbd, the disk is a qcow2 overlay on that
# image (its raw backing file), served by Debian's qemu-nbd and reached
# through the model's NBD back end (libnbd): the write lands in the
# overlay, the backing file stays as it was.
#   tests/guest/virtio-blk.sh BUILD [unix|tcp|nbd]
set -uo pipefail
build=${1:?usage: virtio-blk.sh BUILD [unix|tcp|nbd]}
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
file=$tmp/disk.img
if [ "$transport" = nbd ]; then
    if ! command -v qemu-nbd >/dev/null || ! command -v qemu-img >/dev/null
    then
        echo "1..0 # SKIP qemu-nbd or qemu-img missing (qemu-utils)"
        exit 0
    fi
    qemu-img create -q -f qcow2 -b "$tmp/disk.img" -F raw \
        "$tmp/disk.qcow2" || bail "qemu-img create failed"
    qemu-nbd --socket="$tmp/nbd.sock" --format=qcow2 --export-name=disk \
        --persistent "$tmp/disk.qcow2" 2>"$tmp/nbd.log" &
    nbd_pid=$!
    pids+=($nbd_pid)
    for _ in $(seq 500); do
        [ -S "$tmp/nbd.sock" ] && break
        sleep 0.02
    done
    file="nbd+unix:///disk?socket=$tmp/nbd.sock"
fi
if [ "$transport" = tcp ]; then
    port=$(/usr/bin/python3 "$here/../free-port.py" 127.0.0.1) ||
        bail "no free port"
    addr=tcp:127.0.0.1:$port
else
    addr=unix:$tmp/blk.sock
fi
"$dm" serve --quiet --model "virtio-blk,file=$file,serial=dm-disk0" \
    --listen "$addr" 2>"$tmp/dm.log" &
dm_pid=$!
pids+=($dm_pid)
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
if [ "$transport" = nbd ]; then
    # The model, then the NBD server, go; the overlay is then complete.
    stop_pids "$dm_pid"
    stop_pids "$nbd_pid"
    qemu-img convert -f qcow2 -O raw "$tmp/disk.qcow2" "$tmp/out.img"
    check "the write is in the qcow2 overlay on the server" \
        [ "$(dd if="$tmp/out.img" bs=512 skip=100 count=1 2>/dev/null |
             head -c 14)" = remote-disk-ok ]
    check "the raw backing file is unchanged" \
        [ "$(dd if="$tmp/disk.img" bs=512 skip=100 count=1 2>/dev/null |
             od -An -tx1 -N4 | tr -d ' ')" = 64646464 ]
else
    check "the write is in the image on the server" \
        [ "$(dd if="$tmp/disk.img" bs=512 skip=100 count=1 2>/dev/null |
             head -c 14)" = remote-disk-ok ]
fi
if [ "$failed" != 0 ]; then
    echo "# console:"; tail -n 30 <<<"$console" | sed 's/^/#   /'
    echo "# dm-remote:"; tail -n 10 "$tmp/dm.log" | sed 's/^/#   /'
    echo "# qemu:"; tail -n 10 "$tmp/qemu.log" | sed 's/^/#   /'
fi
echo "1..$n"
exit "$failed"
