#!/bin/bash
# A read-only remote disk: dm-remote serves virtio-blk with readonly=on
# (VIRTIO_BLK_F_RO); the guest's Linux sees /dev/vda read-only, reads the
# host's sector pattern, and an O_DIRECT write fails; the image's bytes
# are unchanged on the host.  TAP output.
#   tests/guest/disk-ro.sh BUILD [unix|tcp]
# shellcheck source-path=SCRIPTDIR
set -uo pipefail
build=$(cd "${1:?usage: disk-ro.sh BUILD [unix|tcp]}" && pwd)
transport=${2:-unix}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
tmp=$(mktemp -d /tmp/dm-diskro-XXXXXX)
. "$here/disk-lib.sh"

# 8 MiB; every byte of sector S is S & 0xff.
/usr/bin/python3 -c '
import sys
sys.stdout.buffer.write(b"".join(bytes([s & 0xff]) * 512
                                 for s in range(16384)))' >"$tmp/disk.img"
before=$(sha256sum <"$tmp/disk.img")
model_start "file=$tmp/disk.img,readonly=on" ||
    bail "dm-remote serve did not start: $(tail -n 3 "$tmp/dm.log")"
guest_boot ro disk-ro-check

check "the guest ran and powered off (QEMU exit $guest_rc)" \
    [ "$guest_rc" = 0 ]
check "blockdev --getro /dev/vda is 1" [ "$(field getro)" = 1 ]
check "/sys/block/vda/ro is 1" [ "$(field sysfs-ro)" = 1 ]
check "it reads the host's pattern (sector 3, O_DIRECT)" \
    [ "$(field sector3)" = 03030303030303030303030303030303 ]
check "an O_DIRECT write fails: $(sed -n 's/^DM-BLK write //p' \
                                   <<<"$console" | head -n1)" \
    grep -q '^DM-BLK write refused' <<<"$console"
check "the model stopped cleanly (exit 0)" model_stop
check "the image's bytes are unchanged" \
    [ "$(sha256sum <"$tmp/disk.img")" = "$before" ]
disk_finish
