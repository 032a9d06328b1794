#!/bin/bash
# The event-timer table of make bench: a Linux guest under TCG programs
# the RTC's periodic interrupt straight at the ports (bench/rtc-bench.c)
# and counts IRQ 8 over a few seconds at 64, 1024 and 8192 Hz, polls
# IRQ 8's count for the interrupts' spread at 1024 Hz, then times a
# CMOS read.  Rows: the pc machine's own mc146818 (the floor), and
# dm-remote's mc146818 in its place (dm-proxy-isa,rtc=on) over UNIX
# and over TCP loopback.  hpet=off on every row, so that IRQ 8 is the
# RTC's.  Same guest, same run; the rate column says how many of the
# asked interrupts the guest got (TCG and a 2-CPU machine cap it).
#   bench/run-rtc-bench.sh BUILD
# BENCH_RTC_SECS (3) seconds per rate.
set -euo pipefail
build=$(cd "${1:?usage: run-rtc-bench.sh BUILD}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
secs=${BENCH_RTC_SECS:-3}
# shellcheck source=bench-lib.sh
. "$here/bench-lib.sh"
bench_init rtc

port=$(/usr/bin/python3 "$here/../tests/free-port.py" 127.0.0.1)

# serve ADDRESS: the model, until its address answers.
serve() {
    "$dm" serve --quiet --model mc146818 --listen "$1" 2>>"$tmp/dm.log" &
    pids+=("$!")
    bench_wait "$1" && return 0
    echo "rtc-bench: dm-remote did not start: $(tail -n 3 "$tmp/dm.log")" >&2
    exit 1
}

# row NAME [QEMU-ARGS...]: boot, print the row.
row() {
    local name=$1 out
    shift
    timeout 300 "$qemu" -accel tcg -M pc,hpet=off -m 256M \
        -display none -monitor none -no-reboot \
        -kernel "$build/guest/vmlinuz" -initrd "$build/guest/initramfs.cpio.gz" \
        -append "$(cat "$build/guest/append") dm.run=rtc-bench-run dm.secs=$secs" \
        -serial "file:$tmp/console" "$@" 2>>"$tmp/qemu.log" || true
    out=$(tr -d '\r' <"$tmp/console")
    rate() { sed -n "s/^RTC-BENCH rate $1 //p" <<<"$out"; }
    jitter() { sed -n "s/^RTC-BENCH jitter 1024 //p" <<<"$out" |
               awk '{ print $'"$1"' }'; }
    printf '| %-28s | %9s | %9s | %9s | %9s | %9s | %11s |\n' "$name" \
        "$(rate 64)" "$(rate 1024)" "$(rate 8192)" "$(jitter 1)" \
        "$(jitter 2)" "$(sed -n 's/^RTC-BENCH read-us //p' <<<"$out")"
}

echo
echo "RTC periodic interrupts delivered per second (asked: 64, 1024, 8192),"
echo "the spread of the interrupts at 1024 Hz (arrivals polled: standard and"
echo "largest deviation from the period, us) and the cost of a CMOS read,"
echo "$secs s per rate, one boot per row:"
echo
printf '| %-28s | %9s | %9s | %9s | %9s | %9s | %11s |\n' configuration \
    64 1024 8192 "sd us" "max us" "read us"
echo "|------------------------------|-----------|-----------|-----------|-----------|-----------|-------------|"
row "local mc146818 (floor)"
serve "unix:$tmp/rtc.sock"
row "dm-remote over UNIX" \
    -device "dm-proxy-isa,server=unix:$tmp/rtc.sock,rtc=on"
serve "tcp:127.0.0.1:$port"
row "dm-remote over TCP" \
    -device "dm-proxy-isa,server=tcp:127.0.0.1:$port,rtc=on"
