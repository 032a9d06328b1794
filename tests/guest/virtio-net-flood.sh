#!/bin/bash
# A Linux guest floods its remote network card's transmit queue (raw
# frames through AF_PACKET as fast as its driver takes them: tests/guest/
# net-flood.c) and, while the flood runs, fetches a file through the
# same card (slirp's TCP, the model's receive path and its socket work):
# the fetch is whole and ends before the flood does, so a flooded
# transmit queue does not starve the model's other work (a transmit kick
# takes at most 256 frames before the loop serves the rest).  The
# model's counts (SIGUSR1) show the frames went.  TAP.
#   tests/guest/virtio-net-flood.sh BUILD
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2154   # tap.sh's $n and $failed
set -uo pipefail
build=$(cd "${1:?usage: virtio-net-flood.sh BUILD}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
tmp=$(mktemp -d /tmp/dm-vnet-flood-XXXXXX)
. "$here/net-guest-lib.sh"
net_guest_start virtio-net-flood
wait "$qemu_pid"
guest_rc=$?

check "the guest ran and powered off (QEMU exit $guest_rc)" \
    [ "$guest_rc" = 0 ]
check "the guest was flooding" [ "$(field flooding)" = yes ]
check "a file fetched while the flood ran is whole" \
    [ "$(field fetched)" = "$want" ]
check "the fetch ended while the flood still ran" \
    [ "$(field still-flooding)" = yes ]
check "the guest stopped the flood" eval 'console | grep -q "^DM-NET flood-done"'
# SIGUSR1: the card's counts in the log (even under --quiet).
kill -USR1 "$model_pid" 2>/dev/null
for _ in $(seq 100); do
    grep -q 'virtio-net: .* frames to the guest' "$tmp/dm.log" && break
    sleep 0.05
done
from=$(sed -n 's/.*virtio-net: [0-9]* frames to the guest ([0-9]* joined by the kernel), \([0-9]*\) from it.*/\1/p' \
       "$tmp/dm.log" | tail -n 1)
# The fetch's own frames are under a thousand (1 MiB, slirp's ACKs).
check "the model took the flood's frames ($from from the guest)" \
    [ "${from:-0}" -ge 5000 ]
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
