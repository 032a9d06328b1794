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
dm=${DM_REMOTE:-$build/meson/dm-remote/dm-remote}
pids=()
trap tap_cleanup EXIT

http_port=$(/usr/bin/python3 "$here/../free-port.py" 127.0.0.1 1) ||
    bail "no free port"
mkdir "$tmp/www"
head -c 1048576 /dev/urandom >"$tmp/www/blob"
want=$(sha256sum <"$tmp/www/blob" | cut -d' ' -f1)
/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$tmp/www" \
    "$http_port" >"$tmp/http.log" 2>&1 &
pids+=($!)
"$dm" serve --quiet --model virtio-net,net=user \
    --listen "unix:$tmp/net.sock" 2>>"$tmp/dm.log" &
model_pid=$!
pids+=("$model_pid")
for _ in $(seq 500); do
    [ -S "$tmp/net.sock" ] && bash -c "exec 3<>/dev/tcp/127.0.0.1/$http_port" \
        2>/dev/null && break
    sleep 0.02
done
[ -S "$tmp/net.sock" ] || bail "dm-remote serve did not start"

timeout 300 "$build/qemu-system-x86_64" -accel tcg -M pc -m 256M \
    -display none -monitor none -no-reboot \
    -qmp "unix:$tmp/qmp.sock,server=on,wait=off" \
    -kernel "$build/guest/vmlinuz" \
    -initrd "$build/guest/initramfs.cpio.gz" \
    -append "console=ttyS0 quiet panic=-1 dm.run=virtio-net-link dm.srv=10.0.2.2 dm.http=$http_port" \
    -serial "file:$tmp/guest.console" \
    -device "dm-proxy-pci,id=net0,server=unix:$tmp/net.sock,timeout=30000" \
    2>>"$tmp/qemu.log" &
qemu_pid=$!
pids+=("$qemu_pid")

console() { tr -d '\r' 2>/dev/null <"$tmp/guest.console"; }
field() { console | sed -n "s/^DM-NET $1 //p" | head -n1; }
# set_link UP: QMP's answer, "ok" or the error.
set_link() {
    PYTHONPATH=$here/.. /usr/bin/python3 - "$tmp/qmp.sock" "$1" <<'PY'
import json
import sys
import qmplib
# (Qmp.cmd's own "name" parameter would take set_link's)
q = qmplib.Qmp(sys.argv[1], 60)
q.sock.sendall(json.dumps({"execute": "set_link", "arguments": {
    "name": "net0", "up": sys.argv[2] == "up"}}).encode() + b"\n")
while True:
    r = json.loads(q.file.readline())
    if "event" not in r:
        break
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
