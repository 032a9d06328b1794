# Shared by the remote-disk guest tests (virtio-blk.sh, disk-fs.sh,
# disk-ro.sh): start and stop the virtio-blk model, boot the Linux guest
# on it with one guest-side check (dm.run=NAME, tests/guest/bin), read
# the check's DM-BLK lines from the console.  Source it after tests/tap.sh
# with $build (absolute), $transport (unix|tcp) and $tmp set.  Under
# tests/net/netns-run.sh ($DM_SERVER_NETNS, $DM_SERVER_ADDR) the model runs
# in the server's namespace and QEMU in this one, over TCP.
# shellcheck shell=bash
# shellcheck disable=SC2154   # $build, $transport, $tmp, tap.sh's $n, $failed
# shellcheck disable=SC2034   # $guest_rc and $console are for the caller

# $DM_REMOTE: another build of the server (the ASan one).
disk_dm=${DM_REMOTE:-$build/meson/dm-remote/dm-remote}
disk_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
server_ns=()
[ -z "${DM_SERVER_NETNS:-}" ] || server_ns=(ip netns exec "$DM_SERVER_NETNS")
pids=()
model_pid=
trap tap_cleanup EXIT

# The model's address: a UNIX socket in $tmp, or a free TCP port (in the
# server's namespace when there is one).  One address for the whole test,
# so that a restarted model is found where the first one was.
case $transport in
    unix) disk_addr=unix:$tmp/blk.sock ;;
    tcp)
        disk_host=${DM_SERVER_ADDR:-127.0.0.1}
        disk_port=$("${server_ns[@]}" /usr/bin/python3 \
                    "$disk_here/../free-port.py" "$disk_host") ||
            bail "no free port"
        disk_addr=tcp:$disk_host:$disk_port ;;
    *) bail "unknown transport $transport" ;;
esac

# model_start PROPS: dm-remote serve --model virtio-blk,PROPS on
# $disk_addr ($DM_BLK_EXTRA, ",prop=value...", appended to PROPS: the
# suites again with iothread=on), its log appended to $tmp/dm.log;
# returns once it accepts connections (bounded), 1 if it exited or
# never did.  It logs at its
# default level, so that a failure's tail shows why a device gave up
# (DM_VERBOSE=--verbose for every failed request, --quiet for errors).
model_start() {
    echo "# dm-remote serve on $disk_addr" \
         "${DM_SERVER_NETNS:+(network namespace $DM_SERVER_NETNS)}"
    "${server_ns[@]}" "$disk_dm" serve ${DM_VERBOSE:-} \
        --model "virtio-blk,$1${DM_BLK_EXTRA:-}" \
        --listen "$disk_addr" 2>>"$tmp/dm.log" &
    model_pid=$!
    pids+=("$model_pid")
    for _ in $(seq 500); do
        kill -0 "$model_pid" 2>/dev/null || return 1
        case $transport in
            unix) [ -S "$tmp/blk.sock" ] && return 0 ;;
            tcp) (exec 3<>"/dev/tcp/$disk_host/$disk_port") 2>/dev/null &&
                     return 0 ;;
        esac
        sleep 0.02
    done
    return 1
}

# model_stop: SIGTERM; succeeds if the model exited with status 0.
model_stop() {
    local rc
    kill -TERM "$model_pid" 2>/dev/null
    wait "$model_pid"
    rc=$?
    model_pid=
    return "$rc"
}

# guest_stuck: a guest that has not powered off long after it should
# have: the model's state (SIGUSR1) and the proxy's counters (QMP) go
# to the logs that disk_finish shows, before the timeout kills QEMU.
guest_stuck() {
    echo "# guest still running after ${disk_watchdog}s: state follows" |
        tee -a "$tmp/qemu.log" >>"$tmp/dm.log"
    [ -z "$model_pid" ] || kill -USR1 "$model_pid" 2>/dev/null
    "$disk_here/guest-stuck.py" "$tmp/qmp.sock" >>"$tmp/qemu.log" 2>&1
}
disk_watchdog=${DM_GUEST_WATCHDOG:-140}   # seconds; by hand: smaller

# guest_boot NAME RUN: boot the guest (a new QEMU) on the model with
# dm.run=RUN; its console goes to $tmp/NAME.console and, without the
# carriage returns, to $console; $guest_rc is QEMU's exit status (0 after
# the guest's poweroff).  $guest_accel (tcg) and $guest_args (none) are
# the caller's; $DM_PROXY_EXTRA (",prop=value...") goes to the proxy,
# for runs by hand (",ioeventfd=on").
guest_boot() {
    guest_boot_once "$@"
    # A guest whose init never ran: in CI, one boot in some hundreds
    # stalls in early boot with every vCPU halted and its timers not
    # firing (RCU stall reports; our device as the firmware left it, the
    # kernel's virtio not loaded yet).  Under investigation (issue 17's
    # note); the state above is kept in the logs, and the guest boots
    # once more.  A second stall fails the test.
    if [ "$guest_rc" != 0 ] && ! grep -q DM-GUEST-READY <<<"$console"; then
        echo "# $1: the guest stopped before its init ran (QEMU status" \
             "$guest_rc; state in the logs): booting it once more" |
            tee -a "$tmp/qemu.log"
        mv "$tmp/$1.console" "$tmp/$1.console.stalled"
        guest_boot_once "$@"
    fi
}

guest_boot_once() {
    local name=$1 run=$2 qemu watchdog shm=''
    # iothread=on: guest RAM shared (a memfd), which the threads need.
    if [[ "${DM_BLK_EXTRA:-}" == *iothread=on* &&
          "${guest_args:-}" != *memory-backend* ]]; then
        shm="-object memory-backend-memfd,id=ram,size=256M,share=on"
        shm="$shm -machine memory-backend=ram"
    fi
    # shellcheck disable=SC2086  # guest_args, shm: words
    timeout 150 "$build/qemu-system-x86_64" -accel "${guest_accel:-tcg}" \
        -M pc -m 256M ${guest_args:-} $shm \
        -display none -monitor none -no-reboot \
        -qmp "unix:$tmp/qmp.sock,server=on,wait=off" \
        -kernel "$build/guest/vmlinuz" \
        -initrd "$build/guest/initramfs.cpio.gz" \
        -append "$(cat "$build/guest/append") dm.run=$run" \
        -serial "file:$tmp/$name.console" \
        -device "dm-proxy-pci,id=disk0,server=$disk_addr,timeout=30000${DM_PROXY_EXTRA:-}" \
        2>>"$tmp/qemu.log" &
    qemu=$!
    # Its sleep goes with it, and nothing of it holds the TAP output open.
    (trap 'kill "$s" 2>/dev/null; exit 0' TERM
     sleep "$disk_watchdog" & s=$!
     wait "$s" && guest_stuck) >/dev/null 2>&1 &
    watchdog=$!
    wait "$qemu"
    guest_rc=$?
    kill "$watchdog" 2>/dev/null
    wait "$watchdog" 2>/dev/null
    console=$(tr -d '\r' <"$tmp/$name.console")
    last_console=$name
}

# field KEY: the value of the first "DM-BLK KEY value" line of $console.
field() { sed -n "s/^DM-BLK $1 //p" <<<"$console" | head -n1; }
# guest_exit: the status the guest's check ended with (tests/guest/init).
guest_exit() { sed -n 's/^DM-GUEST-EXIT //p' <<<"$console" | head -n1; }

# disk_finish: on failure the tails of the last console and the logs;
# then the TAP plan and the exit status.
disk_finish() {
    if [[ "${DM_BLK_EXTRA:-}" == *iothread=on* ]]; then
        check "the model served a queue on an I/O thread (iothread=on)" \
            grep -q 'on an I/O thread of its own' "$tmp/dm.log"
    fi
    if [ "$failed" != 0 ]; then
        echo "# console ($last_console):"
        tail -n 30 <<<"$console" | sed 's/^/#   /'
        echo "# dm-remote:"; tail -n 25 "$tmp/dm.log" 2>/dev/null |
            sed 's/^/#   /'
        # Why a queue stopped, wherever it is in the log (a dump may
        # have pushed it out of the tail): breaks, parks, lost sessions.
        echo "# dm-remote, why a queue stopped:"
        grep -E 'needs a reset|parks:|is lost|disconnected' "$tmp/dm.log" \
            2>/dev/null | head -n 20 | sed 's/^/#   /'
        echo "# qemu, its sessions:"
        grep -E 'dm-proxy .*(lost|reconnected)' "$tmp/qemu.log" 2>/dev/null |
            head -n 10 | sed 's/^/#   /'
        echo "# qemu:"; tail -n 10 "$tmp/qemu.log" 2>/dev/null |
            sed 's/^/#   /'
    fi
    echo "1..$n"
    exit "$failed"
}
console='' last_console=none
