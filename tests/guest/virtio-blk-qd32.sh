#!/bin/bash
# Many requests in flight on a remote disk with the guest's RAM shared:
# the disk benchmark's program (bench/blk-bench.c: 4 KiB random reads and
# writes at queue depth 1 and 32, 1 MiB sequential, 1 s each) runs to
# its end three times, every request answered.  A device that misses a
# kick (avail_event published without a barrier before the next look at
# the ring) hangs here in about one boot in three.  TAP.
#   tests/guest/virtio-blk-qd32.sh BUILD
set -uo pipefail
build=${1:?usage: virtio-blk-qd32.sh BUILD}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
dm=$build/meson/dm-remote/dm-remote
tmp=$(mktemp -d /tmp/dm-vblk-qd32-XXXXXX)
pids=()
trap tap_cleanup EXIT
truncate -s 64M "$tmp/disk.img"

for round in 1 2 3; do
    rm -f "$tmp/blk.sock"
    "$dm" serve --model "virtio-blk,file=$tmp/disk.img" \
        --listen "unix:$tmp/blk.sock" 2>"$tmp/dm.log" &
    model=$!
    for _ in $(seq 500); do
        [ -S "$tmp/blk.sock" ] && break
        sleep 0.02
    done
    out=$(timeout 120 "$build/qemu-system-x86_64" -accel tcg -M pc -m 256M \
          -object memory-backend-memfd,id=ram,size=256M,share=on \
          -machine memory-backend=ram -nographic -no-reboot \
          -kernel "$build/guest/vmlinuz" \
          -initrd "$build/guest/initramfs.cpio.gz" \
          -append "console=ttyS0 quiet panic=-1 dm.run=disk-bench dm.secs=1" \
          -device "dm-proxy-pci,server=unix:$tmp/blk.sock,timeout=30000" \
          </dev/null 2>&1 | tr -d '\r')
    kill "$model"
    wait "$model" 2>/dev/null
    if grep -q '^BLK-BENCH seqwrite-1m-qd1 ' <<<"$out" &&
       ! grep -q 'BLK-BENCH-ERROR' <<<"$out"; then
        ok "round $round: every test ran to its end, no I/O error"
    else
        not_ok "round $round: the guest stopped short"
        tail -n 8 <<<"$out" | sed 's/^/#   /'
    fi
done
echo "1..$n"
exit "$failed"
