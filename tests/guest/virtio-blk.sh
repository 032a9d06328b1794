#!/bin/bash
# A Linux guest on a remote disk: dm-remote serves virtio-blk on an image
# file, the guest's own virtio_pci and virtio_blk drivers (Debian's
# modules) find /dev/vda, read the host's sector pattern, write with a
# flush, read back past the page cache; the host then finds the write in
# the image.  TAP output.  With nbd, the disk is a qcow2 overlay on that
# image (its raw backing file), served by Debian's qemu-nbd and reached
# through the model's NBD back end (libnbd): the write lands in the
# overlay, the backing file stays as it was.
# kvm: over UNIX under -accel kvm, where MSI-X vectors go through KVM
# irqfds (the model's eventfd injects without QEMU); skipped without a
# usable /dev/kvm or where a Linux guest does not boot under it.
#   tests/guest/virtio-blk.sh BUILD [unix|tcp|nbd|kvm]
# Under tests/net/netns-run.sh (tcp) the model runs in the server's
# network namespace and QEMU in the client's: two hosts on a veth pair.
# tcp: the kicks carry their chains (dm_vq_push, the proxy's trace says
# so) unless one side goes without: DM_NO_VQ_PUSH=1 (the model) or
# DM_PROXY_EXTRA=,vq-push=off (the fork); then none does, and the model
# fetches every chain.
# shellcheck source-path=SCRIPTDIR
set -uo pipefail
build=$(cd "${1:?usage: virtio-blk.sh BUILD [unix|tcp|nbd]}" && pwd)
mode=${2:-unix}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
tmp=$(mktemp -d /tmp/dm-vblk-XXXXXX)
transport=$mode
[ "$mode" != nbd ] && [ "$mode" != kvm ] || transport=unix
if [ "$mode" = kvm ]; then
    if [ ! -w /dev/kvm ]; then
        echo "1..0 # SKIP no usable /dev/kvm (the irqfd path needs KVM)"
        exit 0
    fi
    guest_accel=kvm
    guest_args="-trace dm_proxy_pci_irqfd"
fi
push=
if [ "$mode" = tcp ]; then
    guest_args="-trace dm_proxy_vq_push"
    push=yes
    if [ -n "${DM_NO_VQ_PUSH:-}" ] ||
       [[ "${DM_PROXY_EXTRA:-}" == *vq-push=off* ]]; then
        push=no
    fi
fi
. "$here/disk-lib.sh"

# 8 MiB; every byte of sector S is S & 0xff.
/usr/bin/python3 -c '
import sys
sys.stdout.buffer.write(b"".join(bytes([s & 0xff]) * 512
                                 for s in range(16384)))' >"$tmp/disk.img"
file=$tmp/disk.img
if [ "$mode" = nbd ]; then
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
    pids+=("$nbd_pid")
    for _ in $(seq 500); do
        [ -S "$tmp/nbd.sock" ] && break
        sleep 0.02
    done
    file="nbd+unix:///disk?socket=$tmp/nbd.sock"
fi
model_start "file=$file,serial=dm-disk0" ||
    bail "dm-remote serve did not start: $(tail -n 3 "$tmp/dm.log")"
guest_boot vblk virtio-blk-check

if [ "$mode" = kvm ] && [ "$guest_rc" != 0 ] && [ -z "$(field size)" ]; then
    echo "1..0 # SKIP a Linux guest does not boot under this KVM (nested)"
    exit 0
fi
check "the guest ran and powered off (QEMU exit $guest_rc)" \
    [ "$guest_rc" = 0 ]
if [ "$mode" = kvm ]; then
    check "its MSI-X vectors went through KVM irqfds" \
        grep -q "through KVM irqfd" "$tmp/qemu.log"
fi
if [ "$push" = yes ]; then
    check "both sides took dm_vq_push" \
        grep -q "chains with the kick" "$tmp/dm.log"
    check "its kicks carried their chains (dm_vq_push)" \
        grep -Eq "push from [0-9]+, avail [0-9]+: [1-9][0-9]* chains" \
        "$tmp/qemu.log"
elif [ "$push" = no ]; then
    check "one side without dm_vq_push: no kick carried chains" \
        bash -c "! grep -q 'chains with the kick' '$tmp/dm.log' &&
                 ! grep -Eq 'push from [0-9]+, avail [0-9]+: [1-9]' \
                   '$tmp/qemu.log'"
fi
check "its virtio drivers found /dev/vda of 16384 sectors" \
    [ "$(field size)" = 16384 ]
check "GET_ID gives the serial" [ "$(field serial)" = dm-disk0 ]
check "its interrupts are MSI-X vectors, not the INTx line" \
    [ "$(field irq)" = msix ]
check "it reads the host's pattern (sector 3)" \
    [ "$(field sector3)" = 03030303030303030303030303030303 ]
check "a flushed write reads back past the page cache" \
    [ "$(field readback)" = remote-disk-ok ]
if [ "$mode" = nbd ]; then
    # The model, then the NBD server, go; the overlay is then complete.
    model_stop
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
disk_finish
