#!/bin/bash
# A VM boots from its remote disk, with no -kernel: dm-remote serves
# virtio-blk on a copy of the boot disk (scripts/boot-disk-image.sh), and
# SeaBIOS's own virtio-blk driver reads the MBR and SYSLINUX from it;
# SYSLINUX loads the kernel and initramfs from the disk's FAT partition,
# the initramfs mounts the ext4 root /dev/vda2, whose busybox init runs
# /etc/init.d/rcS: it prints where root is, appends a line to a file on
# root and powers off.  The host then finds that line in the image and
# the root file system clean.  TAP output.
# high: a device with a 2 GiB 64-bit BAR (pci-testdev) fills the 32-bit
# window, so SeaBIOS puts the disk's BAR above 4 GiB, where it reaches it
# only through the virtio PCI_CFG window in config space.
#   tests/guest/virtio-blk-boot.sh BUILD [unix|tcp] [high]
set -uo pipefail
build=${1:?usage: virtio-blk-boot.sh BUILD [unix|tcp] [high]}
transport=${2:-unix}
high=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
image=$build/guest/boot-disk.img
dm=$build/meson/dm-remote/dm-remote
tmp=$(mktemp -d /tmp/dm-vblk-boot-XXXXXX)
pids=()
trap tap_cleanup EXIT
export PATH=$PATH:/usr/sbin:/sbin

[ -s "$image" ] || bail "no $image (scripts/build-ours.sh builds it)"
# The guest writes: a copy, so that every run starts from the same disk.
cp --sparse=always "$image" "$tmp/disk.img"
if [ "$transport" = tcp ]; then
    port=$(/usr/bin/python3 "$here/../free-port.py" 127.0.0.1) ||
        bail "no free port"
    addr=tcp:127.0.0.1:$port
else
    addr=unix:$tmp/blk.sock
fi
"$dm" serve --quiet --model "virtio-blk,file=$tmp/disk.img" \
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

# No -kernel, -initrd or -append: the firmware boots the remote disk
# because it has bootindex=1, ahead of a blank local IDE disk that
# SeaBIOS's default order would try first (and fail on).
# SeaBIOS's log goes to its debug port (0x402), the rest to the serial
# port (SYSLINUX's SERIAL 0, Linux's console=ttyS0).
truncate -s 1M "$tmp/blank.img"
big_bar=()
[ -z "$high" ] || big_bar=(-device pci-testdev,membar=2G)
timeout 300 "$build/qemu-system-x86_64" -accel tcg -M pc -m 256M \
    -display none -monitor none -no-reboot -nic none \
    -serial "file:$tmp/console" \
    -chardev "file,id=bios,path=$tmp/seabios.log" \
    -device isa-debugcon,iobase=0x402,chardev=bios \
    "${big_bar[@]}" \
    -drive "file=$tmp/blank.img,format=raw,if=ide" \
    -device "dm-proxy-pci,id=disk0,server=$addr,timeout=30000,bootindex=1" \
    2>"$tmp/qemu.log"
rc=$?
console=$(tr -d '\r' <"$tmp/console")
bios=$(tr -d '\r' <"$tmp/seabios.log")
field() { sed -n "s/^DM-BOOT $1: //p" <<<"$console" | head -n1; }

check "the VM booted and powered off (QEMU exit $rc)" [ "$rc" = 0 ]
check "SeaBIOS drove the remote disk with its virtio-blk driver" \
    grep -q '^found virtio-blk at ' <<<"$bios"
if [ -n "$high" ]; then
    # "type 1 bar 4 at 0x180000000 off +0x0000 [pcicfg]": the common
    # configuration, reached through the window.
    check "SeaBIOS found its BAR above 4 GiB and used the PCI_CFG window" \
        grep -Eq '^pci dev .* type 1 bar 4 at 0x[1-9a-f][0-9a-f]{8} .*\[pcicfg\]$' \
        <<<"$bios"
fi
check "SeaBIOS booted from it" grep -q '^Booting from Hard Disk' <<<"$bios"
check "SYSLINUX started and loaded the kernel and initramfs from it" \
    grep -Pzq 'SYSLINUX 6[^\n]*\nLoading /vmlinuz\.\.\. ?ok\nLoading /initrd\.gz\.\.\. ?ok' \
    <<<"$console"
check "Linux got its command line from the disk's syslinux.cfg" \
    grep -q '^\[ *[0-9.]*\] Command line: BOOT_IMAGE=/vmlinuz .*root=/dev/vda2' \
    <<<"$console"
check "the initramfs mounted /dev/vda2" \
    [ "$(field initramfs)" = "/dev/vda2 mounted, switching to its /sbin/init" ]
root=$(field root)
check "the root's own rcS ran, with / on /dev/vda2 as ext4 ($root)" \
    [ "${root%% rw,*}" = "/dev/vda2 / ext4" ]
wrote=$(field wrote)
check "it wrote a line on root ($wrote)" \
    grep -Eq '^boot 1 [0-9a-f-]{36}$' <<<"$wrote"

# Partition 2, out of the served image.
read -r start size < <(sfdisk -d "$tmp/disk.img" |
    sed -n 's/^.*img2 : start= *\([0-9]*\), size= *\([0-9]*\),.*/\1 \2/p')
dd if="$tmp/disk.img" of="$tmp/root.ext4" bs=512 skip="${start:-0}" \
    count="${size:-0}" status=none
in_image() {
    [ -n "$wrote" ] && [ "$(debugfs -R 'cat /var/log/dm-boot' \
        "$tmp/root.ext4" 2>/dev/null)" = "$wrote" ]
}
check "the line is in the image on the server" in_image
fsck_clean() { e2fsck -fn "$tmp/root.ext4" >"$tmp/e2fsck.log" 2>&1; }
check "the root file system is clean after the power-off" fsck_clean
if [ "$failed" != 0 ]; then
    echo "# console:"; tail -n 30 <<<"$console" | sed 's/^/#   /'
    echo "# seabios:"; grep -v '^VBE' <<<"$bios" | tail -n 15 | sed 's/^/#   /'
    echo "# e2fsck:"; tail -n 5 "$tmp/e2fsck.log" | sed 's/^/#   /'
    echo "# dm-remote:"; tail -n 10 "$tmp/dm.log" | sed 's/^/#   /'
    echo "# qemu:"; tail -n 10 "$tmp/qemu.log" | sed 's/^/#   /'
fi
echo "1..$n"
exit "$failed"
