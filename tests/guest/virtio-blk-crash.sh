#!/bin/bash
# A remote disk whose model is killed (SIGKILL) and started again, again
# and again, under a write-and-verify load in the Linux guest: the
# guest's driver carries on without an I/O error, every block it saw
# written reads back, and the image on the server holds every block's
# last write.  The model keeps its state with --state-file (the
# transport's set-up, and the journal of requests in flight).  TAP.
# unix-shm: the guest's RAM is shared with the model (memfd), which then
# reaches the rings and buffers in place instead of by DMA messages.
# nbd: the disk is a qcow2 image that Debian's qemu-nbd serves to the
# model's NBD back end; the server outlives every kill, each new model
# connects to it again, and the image is checked through qemu-img.
#   tests/guest/virtio-blk-crash.sh BUILD [unix|unix-shm|tcp|nbd] [KILLS]
# $DM_PROXY_EXTRA (",prop=value...") goes to the proxy, $DM_BLK_EXTRA to
# the model, for runs by hand; $DM_REMOTE is the dm-remote to run.
# A guest whose load stops for $DM_STALL_S seconds (120) is a hang:
# what the proxy, the model and the guest say then is printed (see
# stall_dump), QEMU is stopped and the test fails, well before meson's
# timeout would kill it silently.
set -uo pipefail
build=${1:?usage: virtio-blk-crash.sh BUILD [unix|unix-shm|tcp|nbd] [KILLS]}
transport=${2:-unix}
kills=${3:-5}
writes=1000
stall_s=${DM_STALL_S:-120}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
guest=$build/guest
dm=${DM_REMOTE:-$build/meson/dm-remote/dm-remote}
tmp=$(mktemp -d /tmp/dm-vblk-crash-XXXXXX)
pids=()
trap tap_cleanup EXIT

truncate -s 8M "$tmp/disk.img"
file=$tmp/disk.img
nbd=
if [ "$transport" = nbd ]; then
    if ! command -v qemu-nbd >/dev/null || ! command -v qemu-img >/dev/null
    then
        echo "1..0 # SKIP qemu-nbd or qemu-img missing (qemu-utils)"
        exit 0
    fi
    qemu-img create -q -f qcow2 "$tmp/disk.qcow2" 8M ||
        bail "qemu-img create failed"
    qemu-nbd --socket="$tmp/nbd.sock" --format=qcow2 --export-name=disk \
        --persistent "$tmp/disk.qcow2" 2>"$tmp/nbd.log" &
    nbd=$!
    pids+=("$nbd")
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
memory=()
if [ "$transport" = unix-shm ]; then
    memory=(-object memory-backend-memfd,id=ram,size=256M,share=on
            -machine memory-backend=ram)
fi

model=
# start_model: serve the disk, wait until it listens (bounded).
start_model() {
    # DM_BLK_EXTRA (",prop=value..."): the same with iothread=on.
    "$dm" serve --model "virtio-blk,file=$file${DM_BLK_EXTRA:-}" \
        --listen "$addr" \
        --state-file "$tmp/blk.state" 2>>"$tmp/dm.log" &
    model=$!
    for _ in $(seq 500); do
        if [ "$transport" = tcp ]; then
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        else
            [ -S "$tmp/blk.sock" ] && return 0
        fi
        kill -0 "$model" 2>/dev/null || return 1
        sleep 0.02
    done
    return 1
}
start_model || bail "dm-remote did not start: $(tail -n 3 "$tmp/dm.log")"

# Below meson's 600 s: this script always gets to print what it saw.
# The proxy's rare events traced from the start (a few lines a restart);
# the rest only when the guest stalls (stall_dump).
timeout 540 "$build/qemu-system-x86_64" -accel tcg -M pc -m 256M \
    -display none -monitor none -no-reboot -pidfile "$tmp/qemu.pid" \
    -trace enable=dm_proxy_connected -trace enable=dm_proxy_reconnect_failed \
    -trace enable=dm_proxy_hold -trace enable=dm_proxy_vq_rings \
    -trace enable=dm_proxy_doorbell -D "$tmp/trace.log" \
    -kernel "$guest/vmlinuz" -initrd "$guest/initramfs.cpio.gz" \
    -append "$(cat "$guest/append") dm.run=virtio-blk-verify dm.writes=$writes" \
    -serial "file:$tmp/console" \
    -qmp "unix:$tmp/qmp.sock,server=on,wait=off" \
    -device "dm-proxy-pci,id=disk0,server=$addr,timeout=30000${DM_PROXY_EXTRA:-}" \
    "${memory[@]}" 2>"$tmp/qemu.log" &
qemu=$!
pids+=("$qemu")

progress() {
    sed -n 's/^DM-VERIFY progress \([0-9]*\).*/\1/p' "$tmp/console" 2>/dev/null |
        tail -n 1
}

# qmp CMD [JSON-ARGS]: one QMP command's answer (or its failure), bounded.
qmp() {
    local args=${2:-'{}'}
    timeout 20 /usr/bin/python3 - "$here/.." "$tmp/qmp.sock" "$1" \
        "$args" <<'PY' 2>&1
import json, sys
sys.path.insert(0, sys.argv[1])
import qmplib
q = qmplib.Qmp(sys.argv[2], 10)
print(json.dumps(q.cmd(sys.argv[3], **json.loads(sys.argv[4]))))
PY
}

# The guest stalled: what each side says, into $tmp/stall.log.
stall_dump() {
    local qpid
    qpid=$(cat "$tmp/qemu.pid" 2>/dev/null)
    {
        echo "query-remote-devices: $(qmp query-remote-devices)"
        # Every proxy event for a few seconds: what (if anything) moves.
        qmp trace-event-set-state '{"name": "dm_proxy*", "enable": true}'
        # The model's queues as it sees them, and the guest's indexes.
        kill -USR1 "$model" 2>/dev/null
        sleep 3
        qmp trace-event-set-state '{"name": "dm_proxy*", "enable": false}'
        echo "query-remote-devices: $(qmp query-remote-devices)"
        for p in "$qpid" "$model"; do
            [ -n "$p" ] && command -v gdb >/dev/null || continue
            echo "threads of $p:"
            timeout 60 gdb -p "$p" -batch -ex 'thread apply all bt 12' \
                2>&1 | grep -E '^(Thread|#)'
        done
    } >"$tmp/stall.log" 2>&1
}

# Kill the model whenever the guest has made 64 more writes, KILLS times.
# The guest's load (4 threads x $writes flushed writes) outlasts the kills
# however fast the path: each kill waits for 64 more writes.  All along,
# a guest whose progress stops for $stall_s s while QEMU runs is a hang.
done_kills=0 last=0 seen= moved=$SECONDS stalled= stopped=
while kill -0 "$qemu" 2>/dev/null; do
    p=$(progress)
    # From the load's first line on (a quiet boot under load may print
    # nothing for longer: QEMU's timeout bounds that).
    if [ -z "$p" ] || [ "$p" != "$seen" ]; then
        seen=$p moved=$SECONDS
    elif [ $((SECONDS - moved)) -ge "$stall_s" ]; then
        stalled="no progress for $((SECONDS - moved)) s at $p writes"
        stalled+=" after $done_kills kills"
        echo "# stalled: $stalled"
        stall_dump
        stopped="stalled"
        stop_pids "$qemu"
        break
    fi
    if [ "$done_kills" -lt "$kills" ] && [ -n "$p" ] &&
       [ "$p" -ge $((last + 64)) ]; then
        kill -KILL "$model"
        wait "$model" 2>/dev/null
        if ! start_model; then
            stopped="the model did not start again after kill $((done_kills + 1))"
            echo "# $stopped"
            stop_pids "$qemu"
            break
        fi
        done_kills=$((done_kills + 1))
        last=$p
        echo "# kill $done_kills at $p writes"
    fi
    sleep 0.2
done
pids+=("$model")
wait "$qemu"
rc=$?
# QEMU exits 0 on the SIGTERM that stopped it: not an end of the run.
[ -n "$stopped" ] && rc="stopped: $stopped"
console=$(tr -d '\r' <"$tmp/console")

check "the guest's load never stalled for ${stall_s} s" \
    [ -z "$stalled" ]
check "the model was killed and restarted $kills times under load" \
    [ "$done_kills" = "$kills" ]
check "the guest ran to the end and powered off (QEMU exit $rc)" \
    [ "$rc" = 0 ]
check "QEMU reconnected after every kill" \
    [ "$(grep -c 'reconnected to' "$tmp/qemu.log")" -ge "$kills" ]
# The last model (the killed ones say nothing) sent no DMA message.
in_place() {
    grep -q ', 0 DMA messages)' "$tmp/dm.log" &&
        ! grep -qE ', [1-9][0-9]* DMA messages\)' "$tmp/dm.log"
}
if [ "$transport" = unix-shm ]; then
    check "the model reached guest memory in place (no DMA messages)" \
        in_place
fi
check "every write completed without an I/O error, every block verified" \
    grep -q "^DM-VERIFY done writes=$((4 * writes)) ioerr=0 bad=0" <<<"$console"
if [ -n "$nbd" ]; then
    # The model, then the server, go: the qcow2 image is then complete.
    stop_pids "$model"
    stop_pids "$nbd"
    qemu-img convert -f qcow2 -O raw "$tmp/disk.qcow2" "$tmp/disk.img"
fi
# Each block's last round, as blk-verify wrote it (4 threads x 16 blocks,
# $writes writes each): the image on the server holds them all.
check "the image holds every block's last acknowledged write" \
    "$here/blk-verify-image.py" "$tmp/disk.img" 4 16 "$writes"
if [ "$failed" != 0 ]; then
    echo "# console:"; tail -n 30 <<<"$console" | sed 's/^/#   /'
    echo "# dm-remote:"; tail -n 30 "$tmp/dm.log" | sed 's/^/#   /'
    echo "# qemu:"; tail -n 10 "$tmp/qemu.log" | sed 's/^/#   /'
    echo "# proxy trace:"; tail -n 40 "$tmp/trace.log" | sed 's/^/#   /'
fi
if [ -n "$stalled" ]; then
    echo "# at the stall:"; sed 's/^/#   /' "$tmp/stall.log"
fi
# Requests run again after a kill; a start that waited for the image's
# lock (its predecessor's io_uring not yet let go of by the kernel).
grep -E 'run again|locked after' "$tmp/dm.log" | sed 's/^/# /'
echo "1..$n"
exit "$failed"
