#!/bin/bash
# A file system on a remote disk survives the guest: a first boot makes
# ext4 on /dev/vda with e2fsprogs' mkfs.ext4 (Debian's, in the initramfs),
# writes files of random content and prints their sha256, syncs and
# unmounts; a second boot (a new QEMU) mounts it, must find the same
# sums, writes one more file, and e2fsck -f -n must find the file system
# clean.  The host then checks the image too (e2fsck, debugfs) where
# e2fsprogs is installed.  TAP output.
#   tests/guest/disk-fs.sh BUILD [unix|tcp] [same|restart] [PROPS]
# same: one model process serves both boots (a second session);
# restart: the model is stopped after the first boot and a new one
# serves the second on the same image.  PROPS: more of the model's
# properties (cache=none; queues=N, which also gives the guest N vCPUs,
# so that Linux uses every queue, and checks it did), or vcpus=N: not a
# property but the guest's vCPUs, with the model's default queues (one
# per vCPU, up to 4, from what the fork tells it): checked the same.
# shellcheck source-path=SCRIPTDIR
set -uo pipefail
build=$(cd "${1:?usage: disk-fs.sh BUILD [unix|tcp] [same|restart] [PROPS]}" &&
        pwd)
transport=${2:-unix}
model=${3:-same}
extra=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
tmp=$(mktemp -d /tmp/dm-diskfs-XXXXXX)
. "$here/disk-lib.sh"
case $model in same|restart) ;; *) bail "unknown mode $model" ;; esac

# 64 MiB, sparse: what the guest does not write stays a hole.
truncate -s 64M "$tmp/disk.img"
vcpus=$(sed -n 's/^vcpus=\([0-9]*\)$/\1/p' <<<"$extra")
if [ -n "$vcpus" ]; then
    extra=
    guest_args="-smp $vcpus"
    queues=$((vcpus < 4 ? vcpus : 4))
else
    queues=$(sed -n 's/.*queues=\([0-9]*\).*/\1/p' <<<"$extra")
    [ -z "$queues" ] || guest_args="-smp $queues"
fi
props="file=$tmp/disk.img${extra:+,$extra}"
model_start "$props" ||
    bail "dm-remote serve did not start: $(tail -n 3 "$tmp/dm.log")"

# sums: the guest's "DM-BLK sum HASH  NAME" lines, as "HASH  NAME".
sums() { sed -n 's/^DM-BLK sum //p' <<<"$console"; }

guest_boot first disk-fs-write
check "first boot: the guest ran and powered off (QEMU exit $guest_rc)" \
    [ "$guest_rc" = 0 ]
check "first boot: e2fsprogs' mkfs.ext4 (not busybox's) ran: $(field mkfs)" \
    grep -q '^mke2fs 1\.' <<<"$(field mkfs)"
check "first boot: ext4 made, files written, synced and unmounted" \
    grep -qx "DM-BLK written" <<<"$console"
first_sums=$(sums)
if [ -n "$queues" ]; then
    check "first boot: Linux uses the disk's $queues queues: $(field queues)" \
        [ "$(field queues)" = "$queues" ]
fi
check "first boot: 14 files summed (one of 6 MiB)" \
    [ "$(wc -l <<<"$first_sums")" = 14 ]

if [ "$model" = restart ]; then
    check "the model stopped cleanly (exit 0) after the first boot" \
        model_stop
    model_start "$props"
    check "a new model opened the image (its lock was released)" \
        [ $? = 0 ]
fi

guest_boot second disk-fs-check
check "second boot: the guest ran and powered off (QEMU exit $guest_rc)" \
    [ "$guest_rc" = 0 ]
second_sums=$(sums)
check "second boot: the same 14 files with the same sha256" \
    eval '[ -n "$first_sums" ] && [ "$second_sums" = "$first_sums" ]'
check "second boot: e2fsck -f -n in the guest finds it clean (exit 0)" \
    [ "$(field fsck)" = 0 ]
check "second boot: the guest's check ended well" [ "$(guest_exit)" = 0 ]

check "the model stopped cleanly (exit 0)" model_stop

# The host reads the image itself: the bytes really are on the server.
if command -v e2fsck >/dev/null && command -v debugfs >/dev/null; then
    e2fsck -f -n "$tmp/disk.img" >"$tmp/fsck.log" 2>&1
    rc=$?
    check "host: e2fsck -f -n on the image finds it clean (exit $rc)" \
        [ "$rc" = 0 ]
    big=$(debugfs -R "cat /big" "$tmp/disk.img" 2>/dev/null |
          sha256sum | awk '{print $1}')
    check "host: /big read with debugfs has the guest's sha256" \
        grep -q "^$big  big\$" <<<"$first_sums"
    check "host: the second boot's file is there" \
        [ "$(debugfs -R "cat /second" "$tmp/disk.img" 2>/dev/null)" = \
          "written in the second boot" ]
else
    ok "host: e2fsck -f -n on the image # SKIP no e2fsprogs on the host"
fi
disk_finish
