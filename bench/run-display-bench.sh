#!/bin/bash
# The display table of make bench: a Linux guest under TCG with its bochs
# DRM driver at 1024x768 redraws the whole of /dev/fb0 N times and
# scrolls N lines of text on its framebuffer console (bench/fb-bench.c,
# timed in the guest, fsync() at the end).  Rows: QEMU's own
# bochs-display (the floor), dm-remote's bochs-display over UNIX
# (mapped), over TCP with dirty pages (dm_dirty_pages, dirty-fps 30) and
# over TCP trapped (dirty-fps=0, every store a message; fewer frames and
# lines, it is slow).  Bytes on the wire: a counting relay between the
# fork and the model (bench/count-relay.py), both ways, for the whole
# boot; "frames to the model" is the client-to-server bytes over one
# frame's (3 MiB): how many screens' worth went out.  A VNC viewer on
# the model's server (bench/vnc-count.py; the model compares the screen
# up to 60 times a second) counts the updates it receives: in all, and
# the most in one second.
#   bench/run-display-bench.sh BUILD
# BENCH_FB_FRAMES (60), BENCH_FB_LINES (500); trapped: a tenth of each.
set -euo pipefail
build=$(cd "${1:?usage: run-display-bench.sh BUILD}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
frames=${BENCH_FB_FRAMES:-60}
lines=${BENCH_FB_LINES:-500}
# shellcheck source=bench-lib.sh
. "$here/bench-lib.sh"
bench_init display

free_port() { /usr/bin/python3 "$here/../tests/free-port.py" 127.0.0.1; }

# serve ADDRESS: a bochs-display model with its VNC server, at $vnc.
serve() {
    vnc=unix:$tmp/vnc-$RANDOM.sock
    "$dm" serve --quiet --listen "$1" \
        --model "bochs-display,xres=1024,yres=768,fps=60,vnc=$vnc" \
        2>>"$tmp/dm.log" &
    pids+=("$!")
    bench_wait "$1" && return 0
    echo "display-bench: dm-remote did not start" >&2
    exit 1
}

# relay TARGET-PORT: a counting relay in front of it, at $rport.
relay() {
    rport=$(free_port)
    /usr/bin/python3 "$here/count-relay.py" "$rport" "$1" "$tmp/bytes" \
        >"$tmp/relay.out" 2>&1 &
    pids+=("$!")
    for _ in $(seq 250); do
        grep -q listening "$tmp/relay.out" 2>/dev/null && break
        sleep 0.02
    done
}

# row NAME FRAMES LINES VNC [QEMU-ARGS...]: boot, print the row; VNC:
# the model's VNC server to watch, or -.
row() {
    local name=$1 f=$2 l=$3 viewer=$4 out redraw scroll c2s s2c ups peak
    local vpid=
    shift 4
    rm -f "$tmp/bytes" "$tmp/console" "$tmp/vnc"
    if [ "$viewer" != - ]; then
        /usr/bin/python3 "$here/vnc-count.py" "$viewer" "$tmp/vnc" &
        vpid=$!
        pids+=("$vpid")
    fi
    timeout 900 "$qemu" -accel tcg -M pc -m 256M \
        -monitor none -no-reboot -vga none \
        -kernel "$build/guest/vmlinuz" -initrd "$build/guest/initramfs.cpio.gz" \
        -append "$(cat "$build/guest/append") dm.run=display-bench-run dm.frames=$f dm.lines=$l" \
        -serial "file:$tmp/console" "$@" 2>>"$tmp/qemu.log" || true
    out=$(tr -d '\r' <"$tmp/console")
    redraw=$(sed -n 's/^FB-BENCH redraw //p' <<<"$out")
    scroll=$(sed -n 's/^FB-BENCH scroll //p' <<<"$out")
    sleep 0.5           # the relay's line, written at the close
    read -r c2s s2c < <(tail -n 1 "$tmp/bytes" 2>/dev/null || echo "- -")
    if [ -n "$vpid" ]; then
        kill "$vpid" 2>/dev/null || true
        wait "$vpid" 2>/dev/null || true
    fi
    read -r ups peak < <(cat "$tmp/vnc" 2>/dev/null || echo "- -")
    awk -v name="$name" -v r="$redraw" -v s="$scroll" -v c="${c2s:--}" \
        -v b="${s2c:--}" -v u="${ups:--}" -v p="${peak:--}" 'BEGIN {
        split(r, R, " "); split(s, S, " ")
        fps = R[2] > 0 ? sprintf("%.1f", R[1] / R[2]) : "-"
        lps = S[2] > 0 ? sprintf("%.0f", S[1] / S[2]) : "-"
        mib = c != "-" ? sprintf("%.1f", c / 1048576) : "-"
        back = b != "-" ? sprintf("%.2f", b / 1048576) : "-"
        shots = c != "-" ? sprintf("%.1f", c / (1024 * 768 * 4)) : "-"
        printf "| %-40s | %3s | %7s | %3s | %7s | %10s | %9s | %9s | %7s | %8s |\n",
               name, R[1] ? R[1] : "-", fps, S[1] ? S[1] : "-", lps, mib,
               back, shots, u, p }'
}

echo
echo "A 1024x768 guest display: full-screen redraws of /dev/fb0 and lines"
echo "scrolled on the framebuffer console, timed in the guest (TCG); bytes"
echo "between the fork and the model for the whole boot (MiB), and how many"
echo "1024x768 screens that is:"
echo
printf '| %-40s | %3s | %7s | %3s | %7s | %10s | %9s | %9s | %7s | %8s |\n' \
    configuration N "fps" N "lines/s" "to model" "to fork" "screens" \
    "updates" "peak 1 s"
echo "|------------------------------------------|-----|---------|-----|---------|------------|-----------|-----------|---------|----------|"
# The floor's viewer watches QEMU's own VNC server (scripts/build-qemu.sh
# configures --enable-vnc).
row "local bochs-display, QEMU's VNC (floor)" "$frames" "$lines" \
    "unix:$tmp/qemu-vnc.sock" -display none -vnc "unix:$tmp/qemu-vnc.sock" \
    -device bochs-display,xres=1024,yres=768
serve "unix:$tmp/d.sock"
row "dm-remote over UNIX (mapped)" "$frames" "$lines" "$vnc" -display none \
    -device "dm-proxy-pci,server=unix:$tmp/d.sock"
port=$(free_port)
serve "tcp:127.0.0.1:$port"
relay "$port"
row "dm-remote over TCP, dirty pages 30/s" "$frames" "$lines" "$vnc" \
    -display none -device "dm-proxy-pci,server=tcp:127.0.0.1:$rport"
row "dm-remote over TCP, trapped" "$((frames / 10))" "$((lines / 10))" "$vnc" \
    -display none \
    -device "dm-proxy-pci,server=tcp:127.0.0.1:$rport,dirty-fps=0"
