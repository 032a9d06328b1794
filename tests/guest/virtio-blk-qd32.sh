#!/bin/bash
# Many requests in flight on a remote disk with the guest's RAM shared:
# the disk benchmark's program (bench/blk-bench.c: 4 KiB random reads and
# writes at queue depth 1 and 32, 1 MiB sequential, 1 s each) runs to
# its end three times, every request answered.  A device that misses a
# kick (avail_event published without a barrier before the next look at
# the ring) hangs here in about one boot in three.  A guest that stops
# leaves the model's and the proxy's state in the log (disk-lib.sh's
# watchdog).  TAP.  tcp: the same over TCP, guest RAM private: every
# kick's chains pushed with it (dm_vq_push), a chain fetched and pushed
# run once, the look after an answer done by the fork (DM_VQ_RECHECK).
#   tests/guest/virtio-blk-qd32.sh BUILD [unix|tcp]
set -uo pipefail
build=$(cd "${1:?usage: virtio-blk-qd32.sh BUILD}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
transport=${2:-unix}
tmp=$(mktemp -d /tmp/dm-vblk-qd32-XXXXXX)
. "$here/disk-lib.sh"
truncate -s 64M "$tmp/disk.img"
if [ "$transport" = unix ]; then
    guest_args="-object memory-backend-memfd,id=ram,size=256M,share=on
                -machine memory-backend=ram"
fi
# The proxy holding interrupts by message while the vCPU is busy
# (irq-hold-us, auto by default: 200 us under TCG): its trace says why
# each hold ended, in qemu.log.  Over UNIX interrupts are eventfds: none.
hold_us=$(sed -n 's/.*irq-hold-us=\([0-9a-z]*\).*/\1/p' <<<"${DM_PROXY_EXTRA:-}")
guest_args="${guest_args:-} -trace dm_proxy_irq_hold_end"

for round in 1 2 3; do
    rm -f "$tmp/blk.sock"
    model_start "file=$tmp/disk.img" || bail "the model did not start"
    # dm.run's value ends the kernel's command line: dm.secs rides on it.
    guest_boot "qd32-$round" "disk-bench dm.secs=1"
    model_stop
    if grep -q '^BLK-BENCH seqwrite-1m-qd1 ' <<<"$console" &&
       ! grep -q 'BLK-BENCH-ERROR' <<<"$console"; then
        ok "round $round: every test ran to its end, no I/O error"
    else
        not_ok "round $round: the guest stopped short (QEMU status $guest_rc)"
        echo "# its console:"; tail -n 12 <<<"$console" | sed 's/^/#   /'
    fi
done
# irq_delay_us=auto (the default): the fork tells the model its guest runs
# on TCG, so interrupts are held where the rings are shared, not over TCP.
if [ -z "${DM_BLK_EXTRA:-}" ]; then
    auto='interrupts held 50 us, up to 200 while holding pays (irq_delay_us=auto'
    if [ "$transport" = unix ]; then
        check "irq_delay_us=auto holds interrupts for this TCG guest" \
            grep -qF "$auto" "$tmp/dm.log"
    else
        check "irq_delay_us=auto holds none over TCP" \
            bash -c '! grep -qF "$1" "$2"' _ "$auto" "$tmp/dm.log"
    fi
fi
# Held at depth, where the vCPU never idles, until the hold's end; at
# queue depth 1 raised as soon as the vCPU sleeps (a guest waiting for
# its one request never waits for a hold).
if [ "$transport" = tcp ] && [ "${hold_us:-auto}" != 0 ]; then
    check "interrupts held while the vCPU ran were raised at the hold's end" \
        grep -q "dm_proxy_irq_hold_end .*(timer)" "$tmp/qemu.log"
    check "interrupts held were raised when the vCPU went idle" \
        grep -q "dm_proxy_irq_hold_end .*(idle vCPU)" "$tmp/qemu.log"
else
    check "no interrupt held (irq-hold-us=${hold_us:-auto}, $transport)" \
        bash -c '! grep -q "dm_proxy_irq_hold_end" "$1"' _ "$tmp/qemu.log"
fi
disk_finish
