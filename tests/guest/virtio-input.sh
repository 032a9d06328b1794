#!/bin/bash
# A Linux guest with a remote keyboard and tablet: dm-remote serves
# virtio-keyboard and virtio-tablet (one process each), the guest's own
# virtio_input and evdev (Debian's modules) bind them; the test checks
# the capabilities evdev shows (sysfs), then writes keys and absolute
# pointer moves, buttons and the wheel into each model's input link
# (docs/input-link.md), with a record out of range among them, and the
# guest's reader (tests/guest/bin/virtio-input-check: dd and od on
# /dev/input/event*) must show exactly those events, in order, with
# their SYN_REPORTs, and not the bad one.  Then the guest turns caps
# lock's LED on through evdev, which must reach the keyboard's status
# queue.  TAP output.
#   tests/guest/virtio-input.sh BUILD [unix|tcp]
# tcp: the tablet's model over TCP, the keyboard's over UNIX.
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2154   # tap.sh's $n and $failed
set -uo pipefail
build=$(cd "${1:?usage: virtio-input.sh BUILD [unix|tcp]}" && pwd)
transport=${2:-unix}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
tmp=$(mktemp -d /tmp/dm-vinput-XXXXXX)
dm=${DM_REMOTE:-$build/meson/dm-remote/dm-remote}
pids=()
trap tap_cleanup EXIT

kbd_addr=unix:$tmp/kbd.sock tab_addr=unix:$tmp/tab.sock
case $transport in
    unix) ;;
    tcp)
        port=$(/usr/bin/python3 "$here/../free-port.py" 127.0.0.1) ||
            bail "no free port"
        tab_addr=tcp:127.0.0.1:$port ;;
    *) bail "unknown transport $transport" ;;
esac

# start_model MODEL ADDR LINK: serve MODEL on ADDR with its input link at
# LINK, its log in $tmp/MODEL.log (one each: two processes writing one
# file mix their lines); returns once both listen (bounded), 1 if it
# exited or never did.
start_model() {
    local pid
    # shellcheck disable=SC2086  # DM_VERBOSE: empty, or an option
    "$dm" serve ${DM_VERBOSE---quiet} --model "$1,input=unix:$3" \
        --listen "$2" 2>>"$tmp/$1.log" &
    pid=$!
    pids+=("$pid")
    model_pids+=("$pid")
    for _ in $(seq 500); do
        kill -0 "$pid" 2>/dev/null || return 1
        if [ -S "$3" ]; then
            case $2 in
                unix:*) [ -S "${2#unix:}" ] && return 0 ;;
                tcp:*) (exec 3<>"/dev/tcp/127.0.0.1/${2##*:}") 2>/dev/null &&
                           return 0 ;;
            esac
        fi
        sleep 0.02
    done
    return 1
}
model_pids=()
# Not --quiet: the models log the guest's LED changes (info).
DM_VERBOSE=${DM_VERBOSE:-}
start_model virtio-keyboard "$kbd_addr" "$tmp/kbd-input.sock" ||
    bail "keyboard model did not start: $(tail -n 3 "$tmp/virtio-keyboard.log")"
start_model virtio-tablet "$tab_addr" "$tmp/tab-input.sock" ||
    bail "tablet model did not start: $(tail -n 3 "$tmp/virtio-tablet.log")"
check "the input links are the owner's only (0600)" \
    [ "$(stat -c %a "$tmp/kbd-input.sock" "$tmp/tab-input.sock" | sort -u)" = 600 ]

# What the test sends (TYPE CODE VALUE, "syn" ends a batch) and what the
# guest must see.  Key presses and releases go in one batch: the guest's
# autorepeat (EV_REP) never starts between them under a slow TCG.
kbd_send="1 30 1;1 30 0;syn;1 48 1;1 48 0;syn"
kbd_want="1 30 1;1 30 0;0 0 0;1 48 1;1 48 0;0 0 0"
# ABS_X 40000 is outside 0..32767: dropped by the model.
tab_send="3 0 40000;3 0 16384;3 1 8192;syn;1 272 1;syn;1 272 0;syn;2 8 -1;syn;3 0 32767;3 1 1;syn"
tab_want="3 0 16384;3 1 8192;0 0 0;1 272 1;0 0 0;1 272 0;0 0 0;2 8 -1;0 0 0;3 0 32767;3 1 1;0 0 0"
count() { tr ';' '\n' <<<"$1" | grep -c .; }

timeout 200 "$build/qemu-system-x86_64" -accel tcg -M pc -m 256M \
    -display none -monitor none -no-reboot \
    -qmp "unix:$tmp/qmp.sock,server=on,wait=off" \
    -kernel "$build/guest/vmlinuz" \
    -initrd "$build/guest/initramfs.cpio.gz" \
    -append "$(cat "$build/guest/append") dm.run=virtio-input-check dm.kbd=$(count "$kbd_want") dm.tablet=$(count "$tab_want")" \
    -serial "file:$tmp/guest.console" \
    -device "dm-proxy-pci,id=kbd0,server=$kbd_addr,timeout=30000" \
    -device "dm-proxy-pci,id=tab0,server=$tab_addr,timeout=30000" \
    2>>"$tmp/qemu.log" &
qemu_pid=$!
pids+=("$qemu_pid")

console() { tr -d '\r' 2>/dev/null <"$tmp/guest.console"; }

# inject SOCKET "RECORDS": the records, little-endian, on the input link.
inject() {
    /usr/bin/python3 - "$1" "$2" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
for r in sys.argv[2].split(";"):
    t, c, v = (0, 0, 0) if r == "syn" else map(int, r.split())
    s.sendall(struct.pack("<HHi", t, c, v))
s.close()
PY
}

# Once the guest's readers are open, the events; a guest stuck past the
# watchdog gets the models' state (SIGUSR1) in the log first.
sent=no
for _ in $(seq 1500); do
    kill -0 "$qemu_pid" 2>/dev/null || break
    if [ "$sent" = no ] && console | grep -q '^DM-INPUT ready'; then
        inject "$tmp/kbd-input.sock" "$kbd_send" &&
            inject "$tmp/tab-input.sock" "$tab_send" && sent=yes
    fi
    sleep 0.1
done
if kill -0 "$qemu_pid" 2>/dev/null; then
    echo "# guest still running: state follows" |
        tee -a "$tmp/virtio-keyboard.log" >>"$tmp/virtio-tablet.log"
    kill -USR1 "${model_pids[@]}" 2>/dev/null
    sleep 1
fi
wait "$qemu_pid"
guest_rc=$?

got() { console | sed -n "s/^DM-INPUT $1 //p" | paste -sd';'; }
cap() { console | sed -n "s/^DM-INPUT cap $1 $2 //p" | head -n1; }

check "the guest ran and powered off (QEMU exit $guest_rc)" \
    [ "$guest_rc" = 0 ]
check "the events went into the input links" [ "$sent" = yes ]
check "the guest's reader finished" bash -c "grep -q '^DM-INPUT done' '$tmp/guest.console'"
check "keyboard: virtio bus, 1af4:0001" \
    [ "$(console | sed -n 's/^DM-INPUT id kbd //p')" = "0006 1af4 0001" ]
check "tablet: virtio bus, 1af4:0003" \
    [ "$(console | sed -n 's/^DM-INPUT id tab //p')" = "0006 1af4 0003" ]
# EV_SYN, EV_KEY, EV_LED (0x11), EV_REP (0x14); KEY_* 1..248; 3 LEDs.
check "keyboard: evdev has EV_KEY, EV_LED, EV_REP" [ "$(cap kbd ev)" = 120003 ]
check "keyboard: keys 1..248" \
    [ "$(cap kbd key)" = "1ffffffffffffff ffffffffffffffff ffffffffffffffff fffffffffffffffe" ]
check "keyboard: num, caps and scroll lock LEDs" [ "$(cap kbd led)" = 7 ]
check "keyboard: no axes" [ "$(cap kbd abs)" = 0 ]
# EV_SYN, EV_KEY, EV_REL, EV_ABS; BTN_LEFT..BTN_MIDDLE; REL_WHEEL; X, Y.
check "tablet: evdev has EV_KEY, EV_REL, EV_ABS" [ "$(cap tab ev)" = f ]
check "tablet: three buttons" [ "$(cap tab key)" = "70000 0 0 0 0" ]
check "tablet: the wheel" [ "$(cap tab rel)" = 100 ]
check "tablet: ABS_X and ABS_Y" [ "$(cap tab abs)" = 3 ]
check "the keyboard's events reached the guest, exactly" \
    [ "$(got kbd)" = "$kbd_want" ]
check "the tablet's events reached the guest, exactly (the bad one dropped)" \
    [ "$(got tablet)" = "$tab_want" ]
# SIGUSR1: the link's counters in the log (even under --quiet).
kill -USR1 "${model_pids[@]}" 2>/dev/null
for _ in $(seq 100); do
    grep -q "1 out of range" "$tmp/virtio-tablet.log" && break
    sleep 0.05
done
check "the tablet's dump counts the record out of range" \
    grep -q "virtio-tablet: .*dropped: 0 unknown, 1 out of range" \
    "$tmp/virtio-tablet.log"
check "the guest set caps lock's LED" \
    bash -c "grep -q '^DM-INPUT led-written' '$tmp/guest.console'"
# The device's reset at the guest's power-off clears the LEDs: the model's
# log line of the change is what shows it.
check "the keyboard's statusq got it: caps lock on" \
    grep -q "virtio-keyboard: LEDs now 0x2 (num 0, caps 1, scroll 0)" \
    "$tmp/virtio-keyboard.log"
for pid in "${model_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null
    wait "$pid"
    check "model $pid exited cleanly" [ $? = 0 ]
done
if [ "$failed" != 0 ]; then
    echo "# console:"; console | tail -n 40 | sed 's/^/#   /'
    for m in virtio-keyboard virtio-tablet; do
        echo "# $m:"; tail -n 15 "$tmp/$m.log" | sed 's/^/#   /'
    done
    echo "# qemu:"; tail -n 10 "$tmp/qemu.log" | sed 's/^/#   /'
fi
echo "1..$n"
exit "$failed"
