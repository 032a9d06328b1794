#!/bin/bash
# make bench: the cost of one trapped 4-byte MMIO access of edu, measured
# by a Linux guest (bench/mmio-bench.c) under TCG, for each way of serving
# the device, beside the floors: a raw request/reply ping-pong of the
# same message sizes over a UNIX socket, TCP loopback and TLS, measured
# again after each boot.  Every row comes from this run.
# Then the disk table (bench/run-disk-bench.sh); BENCH_DISK=0 skips it,
# BENCH_DISK=only runs it alone.  Then the network table
# (bench/run-net-bench.sh); BENCH_NET=0 skips it, BENCH_NET=only runs it
# alone.  Then the event-timer table (bench/run-rtc-bench.sh), BENCH_RTC
# likewise, and the display table (bench/run-display-bench.sh),
# BENCH_DISPLAY likewise.
#   bench/run-bench.sh BUILD
set -euo pipefail
build=$(cd "${1:?usage: run-bench.sh BUILD}" && pwd)
if [ "${BENCH_DISK:-1}" = only ]; then
    exec "$(dirname "$0")/run-disk-bench.sh" "$build"
fi
if [ "${BENCH_NET:-1}" = only ]; then
    exec "$(dirname "$0")/run-net-bench.sh" "$build"
fi
if [ "${BENCH_RTC:-1}" = only ]; then
    exec "$(dirname "$0")/run-rtc-bench.sh" "$build"
fi
if [ "${BENCH_DISPLAY:-1}" = only ]; then
    exec "$(dirname "$0")/run-display-bench.sh" "$build"
fi
qemu=$build/qemu-system-x86_64
dm=$build/meson/dm-remote/dm-remote
tmp=$(mktemp -d /tmp/dm-bench-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# With two CPUs or more, QEMU runs on CPU 0 and every server (dm-remote,
# x-vfio-user-server, the floors' peer) on CPU 1, for every row alike:
# left to the scheduler on this shared 2-core VM, a run's median moves by
# 2x from boot to boot (QEMU's main loop and vCPU threads land on the
# model's CPU).  BENCH_PIN=0 turns it off; one TCP row is also shown
# unpinned.
pin_client=() pin_server=() pin_cpu_client= pin_cpu_server=
if [ "${BENCH_PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ]; then
    pin_client=(taskset -c 0) pin_server=(taskset -c 1)
    pin_cpu_client=0 pin_cpu_server=1
fi

mem="-m 256M -object memory-backend-memfd,id=ram,size=256M,share=on"
mem="$mem -machine memory-backend=ram"

# The floors: a ping-pong of the same message sizes, polling 50 us first,
# over a UNIX socketpair, TCP loopback, or TLS on TCP loopback.  The
# machine's speed drifts by 1.5x within minutes, so each boot is followed
# by its own floors and compared with those.
pp=("$build/meson/bench/pingpong" 20000 50)
floor_of() {
    PINGPONG_CPU=${pin_cpu_client:-} PINGPONG_PEER_CPU=${pin_cpu_server:-} \
        "${pp[@]}" "$@" | sed -n 's/PINGPONG-NS //p'
}

# boot NAME ARGS...: guest runs of $prog (mmio-bench or pio-bench), $boots
# of them (BENCH_BOOTS, default 3): a run's median moves by 2x between
# boots on this shared machine (where the scheduler puts the vCPU and the
# model), so each row is the median of the runs and BEST_NS their
# fastest.  Sets READ_NS, BEST_NS and WRITE_NS; with $kind (unix, tcp or
# tls) also FLOOR_NS (its own transport's floor) and TCP_NS (the TCP
# floor), measured after each boot, and the medians of the per-boot
# ratios OWN_RATIO (read / its floor) and GOAL_RATIO (read / (TCP floor,
# or UNIX for unix rows, + local)).  The results come on the guest's
# console: QEMU's stdout, or $console_file when the UART is remote.
prog=mmio-bench
console_file=
qemu_wrap=()
kind=
local_ns=0
boots=${BENCH_BOOTS:-3}
boot_once() {
    local name=$1 out tag r w f t
    shift
    out=$(timeout 300 "${qemu_wrap[@]}" "${pin_client[@]}" "$qemu" -accel tcg -M pc $mem -nographic -no-reboot \
          -kernel "$build/guest/vmlinuz" -initrd "$build/guest/initramfs.cpio.gz" \
          -append "$(cat "$build/guest/append") dm.run=$prog" "$@" \
          </dev/null 2>&1) || true
    [ -z "$console_file" ] || out=$(cat "$console_file")
    tag=$([ "$prog" = pio-bench ] && echo PIO || echo MMIO)
    r=$(sed -n "s/.*$tag-READ-NS \([0-9]*\).*/\1/p" <<<"$out" | head -n1)
    w=$(sed -n "s/.*$tag-WRITE-NS \([0-9]*\).*/\1/p" <<<"$out" | head -n1)
    if [ -z "$r" ] || [ -z "$w" ]; then
        echo "bench: $name: no result; guest said:" >&2
        tail -n 15 <<<"$out" >&2
        exit 1
    fi
    runs_r+=("$r") runs_w+=("$w")
    case $kind in
    unix) f=$(floor_of); t=$f ;;
    tcp) f=$(floor_of tcp); t=$f ;;
    tls) f=$(floor_of tls "$certs"); t=$(floor_of tcp) ;;
    *) return ;;
    esac
    runs_f+=("$f") runs_t+=("$t")
    runs_own+=("$(ratio "$r" "$f")")
    runs_goal+=("$(ratio "$r" $((t + local_ns)))")
}
# median of the arguments (numbers)
median() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }
# ratio A B: A / B with two decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
boot() {
    local i n=$boots
    runs_r=() runs_w=() runs_f=() runs_t=() runs_own=() runs_goal=()
    # Only one client per server at a time: a server that cannot take a
    # second one (x-vfio-user-server) is booted against once.
    [ "${single:-}" = 1 ] && n=1
    for ((i = 0; i < n; i++)); do boot_once "$@"; done
    READ_NS=$(median "${runs_r[@]}")
    WRITE_NS=$(median "${runs_w[@]}")
    BEST_NS=$(printf '%s\n' "${runs_r[@]}" | sort -n | head -n1)
    FLOOR_NS=- TCP_NS=- OWN_RATIO=- GOAL_RATIO=-
    if [ ${#runs_f[@]} -gt 0 ]; then
        FLOOR_NS=$(median "${runs_f[@]}") TCP_NS=$(median "${runs_t[@]}")
        OWN_RATIO=$(median "${runs_own[@]}")
        GOAL_RATIO=$(median "${runs_goal[@]}")
    fi
}

# serve_dm NAME [MODEL ARGS...]: a dm-remote (edu) on $tmp/NAME.sock
serve_dm() {
    local name=$1 model=${2:-edu}
    shift $(($# > 1 ? 2 : 1))
    "${pin_server[@]}" "$dm" serve --quiet --model "$model" \
        --listen "unix:$tmp/$name.sock" \
        "$@" >/dev/null & pids+=($!)
    for _ in $(seq 500); do [ -S "$tmp/$name.sock" ] && return; sleep 0.01; done
    echo "bench: dm-remote did not start" >&2; exit 1
}

serve_qemu() {
    "${pin_server[@]}" "$qemu" -machine x-remote,vfio-user=on -accel tcg -nodefaults \
        -display none -monitor none -serial none -device edu,id=edu0 \
        -object "x-vfio-user-server,id=v0,type=unix,path=$tmp/$1.sock,device=edu0" \
        >/dev/null & pids+=($!)
    for _ in $(seq 500); do [ -S "$tmp/$1.sock" ] && return; sleep 0.01; done
    echo "bench: x-vfio-user-server did not start" >&2; exit 1
}

vfio_user() {
    echo "{\"driver\":\"vfio-user-pci\",\"socket\":{\"type\":\"unix\",\"path\":\"$tmp/$1.sock\"}}"
}

declare -a names reads bests writes floors owns goals
row() {
    names+=("$1"); reads+=("$READ_NS"); bests+=("$BEST_NS")
    writes+=("$WRITE_NS"); floors+=("$FLOOR_NS"); owns+=("$OWN_RATIO")
    goals+=("$GOAL_RATIO")
}

# TLS: certificates for both ends (tests/net/make-certs.sh).
certs=$tmp/certs
"$(dirname "$0")/../tests/net/make-certs.sh" "$certs"
tls_obj="tls-creds-x509,id=tls0,endpoint=client,dir=$certs/client"

echo "bench: booting guests (TCG), $boots per row, about 10 s each..." >&2
boot local -device edu;                                   row "local edu (floor of QEMU itself)"
local_ns=$READ_NS
kind=unix
serve_dm a; boot a -device "$(vfio_user a)";              row "vfio-user-pci -> dm-remote"
serve_qemu b; single=1 boot b -device "$(vfio_user b)";   row "vfio-user-pci -> x-vfio-user-server"
serve_dm c; boot c -device "dm-proxy-pci,server=unix:$tmp/c.sock"
row "dm-proxy-pci -> dm-remote"
serve_dm d; boot d -device "dm-proxy-pci,server=unix:$tmp/d.sock,posted-writes=off"
row "dm-proxy-pci -> dm-remote, writes not posted"
kind=tcp
port=$("$(dirname "$0")/../tests/free-port.py" 127.0.0.1 2)
"${pin_server[@]}" "$dm" serve --quiet --model edu \
    --listen "tcp:127.0.0.1:$port" >/dev/null 2>&1 &
pids+=($!)
sleep 0.3
boot t -device "dm-proxy-pci,server=tcp:127.0.0.1:$port"
row "dm-proxy-pci -> dm-remote, TCP loopback"
if [ ${#pin_client[@]} -gt 0 ]; then
    # The same server, QEMU (and the floors' client) this time wherever
    # the scheduler puts it.
    saved_pin=("${pin_client[@]}") pin_client=() pin_cpu_client=
    boot tu -device "dm-proxy-pci,server=tcp:127.0.0.1:$port"
    row "dm-proxy-pci -> dm-remote, TCP loopback, QEMU unpinned"
    pin_client=("${saved_pin[@]}") pin_cpu_client=0
fi

kind=tls
tport=$((port + 1))
"${pin_server[@]}" "$dm" serve --quiet --model edu --listen "tcp:127.0.0.1:$tport" \
    --tls-creds "$certs/server" >/dev/null 2>&1 &
pids+=($!)
sleep 0.3
boot tl -object "$tls_obj" \
    -device "dm-proxy-pci,server=tcp:127.0.0.1:$tport,tls-creds=tls0"
row "dm-proxy-pci -> dm-remote, TLS over TCP loopback"

# Two hosts on one machine: QEMU and the model in network namespaces
# joined by a veth pair (removed at the end).  Their floors stay on
# loopback: the goal is set against the TCP floor.
if [ "$(id -u)" = 0 ]; then
    ns=dm-bench-$$
    ip netns add "$ns-c" && ip netns add "$ns-s" &&
    ip link add "dbc$$" netns "$ns-c" type veth peer name "dbs$$" netns "$ns-s" &&
    ip -n "$ns-c" addr add 192.0.2.1/24 dev "dbc$$" &&
    ip -n "$ns-s" addr add 192.0.2.2/24 dev "dbs$$" &&
    ip -n "$ns-c" link set "dbc$$" up && ip -n "$ns-s" link set "dbs$$" up &&
    ip -n "$ns-c" link set lo up && ip -n "$ns-s" link set lo up
    ip netns exec "$ns-s" "${pin_server[@]}" "$dm" serve --quiet --model edu \
        --listen "tcp:192.0.2.2:$port" >/dev/null 2>&1 & pids+=($!)
    sleep 0.5
    ip netns exec "$ns-s" "${pin_server[@]}" "$dm" serve --quiet --model edu \
        --listen "tcp:192.0.2.2:$tport" --tls-creds "$certs/server" \
        >/dev/null 2>&1 & pids+=($!)
    sleep 0.5
    qemu_wrap=(ip netns exec "$ns-c")
    kind=tcp
    boot v -device "dm-proxy-pci,server=tcp:192.0.2.2:$port"
    row "dm-proxy-pci -> dm-remote, TCP over veth (netns)"
    kind=tls
    boot vt -object "$tls_obj" \
        -device "dm-proxy-pci,server=tcp:192.0.2.2:$tport,tls-creds=tls0"
    row "dm-proxy-pci -> dm-remote, TLS over veth (netns)"
    qemu_wrap=()
    kill "${pids[-1]}" "${pids[-2]}" 2>/dev/null
    ip netns del "$ns-c"; ip netns del "$ns-s"
fi
kind=
sleeping=$("$build/meson/bench/pingpong" 20000 | sed -n 's/PINGPONG-NS //p')
serve_dm e
rtt=$("${pin_client[@]}" "$build/meson/bench/vup-rtt" "$tmp/e.sock" 20000 50 |
      sed -n 's/VUP-RTT-NS //p')
unix_floor=$(floor_of) tcp_floor=$(floor_of tcp)
tls_floor=$(floor_of tls "$certs")

line() {
    printf '| %-48s | %8s | %8s | %10s | %8s | %7s | %7s | %9s | %11s |\n' "$@"
}
dashes() { printf -- '-%.0s' $(seq "$1"); }
printf '\nOne trapped 4-byte MMIO access of edu, guest user space, ns: the median\n'
printf 'of %s boots'"'"' medians, and the best boot (host: %s, %s cores;\n' \
    "$boots" "$(uname -r)" "$(nproc)"
printf '%s).\n' "$([ ${#pin_client[@]} -gt 0 ] &&
    echo 'QEMU pinned to CPU 0, servers and floor peers to CPU 1' ||
    echo 'not pinned')"
printf 'After each boot, the floors are measured again: a ping-pong of the same\n'
printf 'sizes (32/36 bytes), polling 50 us first, over the row'"'"'s own transport\n'
printf '("floor": UNIX, TCP loopback, or TLS on TCP loopback).  "÷ floor" is\n'
printf 'read / floor; "÷ goal" is read / (TCP floor + local), UNIX for UNIX\n'
printf 'rows; the goal is 1.5 or less.  Both are medians of per-boot ratios.\n\n'
line "configuration" "read ns" "best ns" "over local" "floor ns" "÷ floor" \
    "÷ goal" "write ns" "writes/s"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' "$(dashes 50)" "$(dashes 10)" \
    "$(dashes 10)" "$(dashes 12)" "$(dashes 10)" "$(dashes 9)" "$(dashes 9)" \
    "$(dashes 11)" "$(dashes 13)"
for i in "${!names[@]}"; do
    line "${names[i]}" "${reads[i]}" "${bests[i]}" $((reads[i] - local_ns)) \
        "${floors[i]}" "${owns[i]}" "${goals[i]}" "${writes[i]}" \
        "$(awk -v w="${writes[i]}" 'BEGIN { printf "%d", 1e9 / w }')"
done
line "libvup client -> dm-remote (no QEMU, polling)" "$rtt" - - \
    "$unix_floor" "$(ratio "$rtt" "$unix_floor")" - - -
printf '\nThe floors once more, side by side, ns:\n\n'
printf '| %-48s | %8s | %8s |\n' "floor" "ns" "÷ UNIX"
printf '|%s|%s|%s|\n' "$(dashes 50)" "$(dashes 10)" "$(dashes 10)"
for f in "UNIX socket ping-pong, polling 50 us:$unix_floor" \
         "TCP loopback ping-pong, polling 50 us:$tcp_floor" \
         "TLS over TCP loopback ping-pong, polling 50 us:$tls_floor" \
         "UNIX socket ping-pong, sleeping:$sleeping"; do
    printf '| %-48s | %8s | %8s |\n' "${f%:*}" "${f##*:}" \
        "$(ratio "${f##*:}" "$unix_floor")"
done

# Port I/O: the UART's scratch register, local and remote.
prog=pio-bench
boot pio-local
pio_local_r=$READ_NS pio_local_w=$WRITE_NS
serve_dm u uart16550 --console "file:$tmp/console.out"
console_file=$tmp/console.out
boot pio-remote -serial none \
    -remote-device "bus=isa,server=unix:$tmp/u.sock,iobase=0x3f8,irq=4"
pio_remote_r=$READ_NS pio_remote_w=$WRITE_NS

printf '\nOne trapped 1-byte port access (IN/OUT of the UART scratch register at 0x3ff), median ns\n\n'
printf '| %-48s | %8s | %10s | %8s | %9s |\n' "configuration" "read ns" \
    "over local" "÷ floor" "write ns"
printf '|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..50})" \
    "$(printf -- '-%.0s' {1..10})" "$(printf -- '-%.0s' {1..12})" \
    "$(printf -- '-%.0s' {1..10})" "$(printf -- '-%.0s' {1..11})"
printf '| %-48s | %8s | %10s | %8s | %9s |\n' "local isa-serial" \
    "$pio_local_r" 0 - "$pio_local_w"
over=$((pio_remote_r - pio_local_r))
printf '| %-48s | %8s | %10s | %8s | %9s |\n' \
    "dm-proxy-isa -> dm-remote uart16550" "$pio_remote_r" "$over" \
    "$(awk -v o="$over" -v f="$unix_floor" 'BEGIN { printf "%.2f", o / f }')" \
    "$pio_remote_w"

if [ "${BENCH_DISK:-1}" != 0 ]; then
    "$(dirname "$0")/run-disk-bench.sh" "$build"
fi
if [ "${BENCH_NET:-1}" != 0 ]; then
    "$(dirname "$0")/run-net-bench.sh" "$build"
fi
if [ "${BENCH_RTC:-1}" != 0 ]; then
    "$(dirname "$0")/run-rtc-bench.sh" "$build"
fi
if [ "${BENCH_DISPLAY:-1}" != 0 ]; then
    "$(dirname "$0")/run-display-bench.sh" "$build"
fi
