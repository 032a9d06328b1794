#!/bin/bash
# A Linux guest's remote network card (virtio-net, slirp, over UNIX)
# whose link the VM's management sets down and up (QMP set_link on the
# proxy's id, the dm_controls extension) while the guest fetches a file
# in a loop: the guest's driver sees carrier 0 (NO-CARRIER), a fetch
# fails while down; carrier 1 once up, and a new fetch is whole.  TAP.
#   tests/guest/virtio-net-link.sh BUILD
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2154   # tap.sh's $n and $failed
set -uo pipefail
build=$(cd "${1:?usage: virtio-net-link.sh BUILD}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
tmp=$(mktemp -d /tmp/dm-vnet-link-XXXXXX)
. "$here/net-guest-lib.sh"
net_guest_start virtio-net-link
# set_link UP: QMP's answer, "ok" or the error.
set_link() {
    PYTHONPATH=$here/.. /usr/bin/python3 - "$tmp/qmp.sock" "$1" <<'PY'
import sys
import qmplib
r = qmplib.Qmp(sys.argv[1], 60).cmd("set_link", name="net0",
                                    up=sys.argv[2] == "up")
print("ok" if "return" in r else r)
PY
}
# wait_line WORD: until the console has "DM-NET WORD" or QEMU is gone.
wait_line() {
    for _ in $(seq 3000); do
        console | grep -q "^DM-NET $1" && return 0
        kill -0 "$qemu_pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
down='' up=''
if wait_line link-ready; then
    down=$(set_link down)
    if wait_line down-checked; then
        up=$(set_link up)
    fi
fi
wait "$qemu_pid"
guest_rc=$?

check "the guest ran and powered off (QEMU exit $guest_rc)" \
    [ "$guest_rc" = 0 ]
check "fetches ran before the link went down ($(field link-ready))" \
    [ "$(field link-ready)" -ge 1 ] 2>/dev/null
check "QMP set_link net0 down answered ($down)" [ "$down" = ok ]
check "the guest's driver saw carrier 0" [ "$(field carrier-down)" = 0 ]
check "ip link says NO-CARRIER" [ "$(field no-carrier)" = yes ]
check "a fetch while the link is down fails" \
    [ "$(field down-fetch)" = failed ]
check "QMP set_link net0 up answered ($up)" [ "$up" = ok ]
check "the guest's driver saw carrier 1 again" [ "$(field carrier-up)" = 1 ]
check "a fetch after the link came back is whole" \
    [ "$(field up-fetched)" = "$want" ]
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
