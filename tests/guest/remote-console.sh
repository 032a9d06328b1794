#!/bin/bash
# A Linux guest whose console is a remote UART: Debian's kernel boots
# under TCG with console=ttyS0 on -remote-device bus=isa, served by
# "dm-remote serve --model uart16550" whose console is a UNIX socket.
# The boot log must reach the server's console, commands typed there
# (one sent whole, five a key at a time) must run in the guest and their
# output come back, and poweroff must end QEMU.  TAP output.
#   tests/guest/remote-console.sh BUILD [unix|tcp] [restart|restart-held]
# With restart the model keeps its state in a file and is killed
# (SIGKILL) and started again after the first command: the guest's
# driver set the UART up once, and the typed commands must still cross.
# With restart-held the model stays away 2 s while the guest writes a
# line, which must reach the new model: the proxy holds the vCPU's
# accesses until the model is back (dm-proxy's `hold`).  Not in make
# check: it passes on a quiet machine and fails under load (the console
# dead after the restart; docs/testing.md).
# With tcp the model listens on TCP loopback, or, under
# tests/net/netns-run.sh, on $DM_SERVER_ADDR in the namespace
# $DM_SERVER_NETNS while QEMU runs in this one: two hosts on a veth pair.
set -uo pipefail
build=$(cd "${1:?usage: remote-console.sh BUILD [unix|tcp] [restart]}" && pwd)
transport=${2:-unix}
restart=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/dm-console-XXXXXX)
dm_pid= qemu_pid=
trap 'kill $qemu_pid $dm_pid 2>/dev/null; rm -rf "$tmp"' EXIT
. "$(dirname "$0")/../tap.sh"
finish() {
    if [ "$failed" != 0 ]; then
        for f in console dm.log qemu.log trace.log; do
            [ -s "$tmp/$f" ] || continue
            echo "# $f (last 30 lines):"
            tail -n 30 "$tmp/$f" | sed 's/^/#   /'
        done
    fi
    echo "1..$n"
    exit $failed
}

server_ns=()
[ -z "${DM_SERVER_NETNS:-}" ] || server_ns=(ip netns exec "$DM_SERVER_NETNS")
case $transport in
    unix) listen="unix:$tmp/uart.sock" server=$listen ;;
    tcp)
        host=${DM_SERVER_ADDR:-127.0.0.1}
        port=$("${server_ns[@]}" "$here/../free-port.py" "$host")
        listen="tcp:$host:$port" server=$listen ;;
    *) echo "Bail out! unknown transport $transport"; exit 1 ;;
esac

state=() hold=
# The outage lasts 2 s and a restart on a loaded machine (a CI run of
# guests in parallel) takes more: hold the guest's accesses 20 s, not
# the default 5, so that only a lost write fails the test, not the load.
[ -z "$restart" ] || state=(--state-file "$tmp/uart.state")
[ "$restart" != restart-held ] || hold=,hold=20000
start_model() {
    "${server_ns[@]}" "$build/meson/dm-remote/dm-remote" serve \
        --model uart16550 "${state[@]}" --console "unix:$tmp/console.sock" \
        --listen "$listen" >>"$tmp/dm.log" 2>&1 &
    dm_pid=$!
    for _ in $(seq 500); do [ -S "$tmp/console.sock" ] && break; sleep 0.01; done
    sleep 0.2
}
# dump_guest: a guest that stopped answering: what it, the proxy, the
# model (SIGUSR1) and the console's backlog say, into the logs shown.
dump_guest() {
    kill -USR1 $dm_pid
    "$here/guest-stuck.py" "$tmp/qmp.sock" "info pic" >>"$tmp/qemu.log" 2>&1
    /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(1)
data = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except OSError:
    pass
print("# the console backlog ends:", repr(data[-300:]))
' "$tmp/console.sock" >>"$tmp/qemu.log" 2>&1
}

start_model

timeout 180 "$build/qemu-system-x86_64" -accel tcg -M pc -m 256M \
    -display none -monitor none -serial none -no-reboot \
    -qmp "unix:$tmp/qmp.sock,server=on,wait=off" \
    -trace dm_proxy_line -trace dm_proxy_hold -D "$tmp/trace.log" \
    -kernel "$build/guest/vmlinuz" -initrd "$build/guest/initramfs.cpio.gz" \
    -append "console=ttyS0 panic=-1" \
    -remote-device "id=ser0,bus=isa,server=$server,iobase=0x3f8,irq=4$hold" \
    >"$tmp/qemu.log" 2>&1 &
qemu_pid=$!

# The whole conversation happens on the server's console socket: a
# command sent at once, then five typed a key at a time, as a person or
# the web console's terminal does (an interrupt per key: over TCP, one
# that the proxy had read ahead while another thread held its lock once
# waited for the next access, and the input stalled).
typed=()
for i in 1 2 3 4 5; do
    typed+=("type:echo key-$i-\$(($i * 3))" "line:key-$i-$((i * 3))")
done
first=("expect:Linux version" "expect:DM-GUEST-READY"
       "send:echo hello-\$((6 * 7))-$$" "line:hello-42-$$")
if [ -n "$restart" ]; then
    if [ "$restart" = restart-held ]; then
        # The guest's shell writes "held-..." 1 s later, with no model.
        first+=("send:(sleep 1; echo held-\$((7 * 6))-$$) & echo bg-\$((2 * 3))-$$"
                "expect:bg-6-$$")
    fi
    if "$here/console-chat.py" "$tmp/console.sock" 150 "${first[@]}" \
            >"$tmp/console" 2>&1; then
        ok "boot log and a command crossed the remote UART ($transport)"
    else
        not_ok "console conversation: $(tail -n 1 "$tmp/console")"
    fi
    # A new process, from the set-up the driver left in the state file.
    kill -KILL $dm_pid
    wait $dm_pid 2>/dev/null
    rm -f "$tmp/console.sock"
    first=()
    if [ "$restart" = restart-held ]; then
        sleep 2
        first=("expect:held-42-$$")
    fi
    start_model
fi
if "$here/console-chat.py" "$tmp/console.sock" 150 "${first[@]}" \
        "${typed[@]}" \
        "send:poweroff -f" >>"$tmp/console" 2>&1; then
    ok "commands typed ${restart:+after a kill and restart of the model }crossed the remote UART ($transport)"
else
    not_ok "console conversation: $(tail -n 1 "$tmp/console")"
    dump_guest
fi
grep -q "Linux version" "$tmp/console" && ok "kernel boot log on the server's console" ||
    not_ok "no kernel boot log on the server's console"

for _ in $(seq 600); do kill -0 $qemu_pid 2>/dev/null || break; sleep 0.1; done
stuck=
if kill -0 $qemu_pid 2>/dev/null; then
    stuck=1
    dump_guest
    kill $qemu_pid
fi
if wait $qemu_pid && [ -z "$stuck" ]; then
    ok "poweroff ended QEMU (exit 0)"
else
    not_ok "QEMU did not exit cleanly after poweroff${stuck:+ (still running a minute later)}"
fi
qemu_pid=

kill -TERM $dm_pid
if wait $dm_pid && [ ! -e "$tmp/uart.sock" ] && [ ! -e "$tmp/console.sock" ]; then
    ok "dm-remote stopped cleanly, sockets removed"
else
    not_ok "dm-remote did not stop cleanly"
fi
dm_pid=
finish
