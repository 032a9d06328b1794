#!/bin/bash
# make bench: the cost of one trapped 4-byte MMIO access of edu, measured
# by a Linux guest (bench/mmio-bench.c) under TCG, for each way of serving
# the device, beside the floor: a raw request/reply ping-pong of the same
# message sizes over a UNIX socket.  Every row comes from this run.
#   bench/run-bench.sh BUILD
set -euo pipefail
build=$(cd "${1:?usage: run-bench.sh BUILD}" && pwd)
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
pin_client=() pin_server=()
if [ "${BENCH_PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ]; then
    pin_client=(taskset -c 0) pin_server=(taskset -c 1)
fi

mem="-m 256M -object memory-backend-memfd,id=ram,size=256M,share=on"
mem="$mem -machine memory-backend=ram"

# boot NAME ARGS...: guest runs of $prog (mmio-bench or pio-bench), $boots
# of them (BENCH_BOOTS, default 3): a run's median moves by 2x between
# boots on this shared machine (where the scheduler puts the vCPU and the
# model), so each row is the median of the runs and BEST_NS their
# fastest.  Sets READ_NS, BEST_NS and WRITE_NS.  The results come on the
# guest's console: QEMU's stdout, or $console_file when the UART is remote.
prog=mmio-bench
console_file=
qemu_wrap=()
boots=${BENCH_BOOTS:-3}
boot_once() {
    local name=$1 out tag r w
    shift
    out=$(timeout 300 "${qemu_wrap[@]}" "${pin_client[@]}" "$qemu" -accel tcg -M pc $mem -nographic -no-reboot \
          -kernel "$build/guest/vmlinuz" -initrd "$build/guest/initramfs.cpio.gz" \
          -append "console=ttyS0 quiet panic=-1 dm.run=$prog" "$@" \
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
}
# median of the arguments (numbers)
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
boot() {
    local i n=$boots
    runs_r=() runs_w=()
    # Only one client per server at a time: a server that cannot take a
    # second one (x-vfio-user-server) is booted against once.
    [ "${single:-}" = 1 ] && n=1
    for ((i = 0; i < n; i++)); do boot_once "$@"; done
    READ_NS=$(median "${runs_r[@]}")
    WRITE_NS=$(median "${runs_w[@]}")
    BEST_NS=$(printf '%s\n' "${runs_r[@]}" | sort -n | head -n1)
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

declare -a names reads bests writes
row() {
    names+=("$1"); reads+=("$READ_NS"); bests+=("$BEST_NS")
    writes+=("$WRITE_NS")
}

echo "bench: booting guests (TCG), $boots per row, about 10 s each..." >&2
boot local -device edu;                                   row "local edu (floor of QEMU itself)"
serve_dm a; boot a -device "$(vfio_user a)";              row "vfio-user-pci -> dm-remote"
serve_qemu b; single=1 boot b -device "$(vfio_user b)";   row "vfio-user-pci -> x-vfio-user-server"
serve_dm c; boot c -device "dm-proxy-pci,server=unix:$tmp/c.sock"
row "dm-proxy-pci -> dm-remote"
serve_dm d; boot d -device "dm-proxy-pci,server=unix:$tmp/d.sock,posted-writes=off"
row "dm-proxy-pci -> dm-remote, writes not posted"
port=$((20000 + RANDOM % 20000))
"${pin_server[@]}" "$dm" serve --quiet --model edu \
    --listen "tcp:127.0.0.1:$port" >/dev/null 2>&1 &
pids+=($!)
sleep 0.3
boot t -device "dm-proxy-pci,server=tcp:127.0.0.1:$port"
row "dm-proxy-pci -> dm-remote, TCP loopback"
if [ ${#pin_client[@]} -gt 0 ]; then
    # The same server, QEMU this time wherever the scheduler puts it.
    saved_pin=("${pin_client[@]}") pin_client=()
    boot tu -device "dm-proxy-pci,server=tcp:127.0.0.1:$port"
    row "dm-proxy-pci -> dm-remote, TCP loopback, QEMU unpinned"
    pin_client=("${saved_pin[@]}")
fi

# TLS: certificates for both ends (tests/net/make-certs.sh).
certs=$tmp/certs
"$(dirname "$0")/../tests/net/make-certs.sh" "$certs"
tls_obj="tls-creds-x509,id=tls0,endpoint=client,dir=$certs/client"
tport=$((port + 1))
"${pin_server[@]}" "$dm" serve --quiet --model edu --listen "tcp:127.0.0.1:$tport" \
    --tls-creds "$certs/server" >/dev/null 2>&1 &
pids+=($!)
sleep 0.3
boot tl -object "$tls_obj" \
    -device "dm-proxy-pci,server=tcp:127.0.0.1:$tport,tls-creds=tls0"
row "dm-proxy-pci -> dm-remote, TLS over TCP loopback"

# Two hosts on one machine: QEMU and the model in network namespaces
# joined by a veth pair (removed at the end).
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
    boot v -device "dm-proxy-pci,server=tcp:192.0.2.2:$port"
    row "dm-proxy-pci -> dm-remote, TCP over veth (netns)"
    boot vt -object "$tls_obj" \
        -device "dm-proxy-pci,server=tcp:192.0.2.2:$tport,tls-creds=tls0"
    row "dm-proxy-pci -> dm-remote, TLS over veth (netns)"
    qemu_wrap=()
    kill "${pids[-1]}" "${pids[-2]}" 2>/dev/null
    ip netns del "$ns-c"; ip netns del "$ns-s"
fi
if [ ${#pin_client[@]} -gt 0 ]; then
    export PINGPONG_CPU=0 PINGPONG_PEER_CPU=1
fi
floor=$("$build/meson/bench/pingpong" 20000 | sed -n 's/PINGPONG-NS //p')
spin=$("$build/meson/bench/pingpong" 20000 50 | sed -n 's/PINGPONG-NS //p')
tcpspin=$("$build/meson/bench/pingpong" 20000 50 tcp | sed -n 's/PINGPONG-NS //p')
serve_dm e
rtt=$("${pin_client[@]}" "$build/meson/bench/vup-rtt" "$tmp/e.sock" 20000 50 |
      sed -n 's/VUP-RTT-NS //p')

local_ns=${reads[0]}
# ratio A B: A / B with two decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
line() { printf '| %-48s | %8s | %8s | %10s | %9s | %9s | %11s |\n' "$@"; }
printf '\nOne trapped 4-byte MMIO access of edu, guest user space, ns: the median\n'
printf 'of %s boots'"'"' medians, and the best boot (host: %s, %s cores;\n' \
    "$boots" "$(uname -r)" "$(nproc)"
printf '%s).\n' "$([ ${#pin_client[@]} -gt 0 ] &&
    echo 'QEMU pinned to CPU 0, servers and floor peers to CPU 1' ||
    echo 'not pinned')"
printf 'Floors: a ping-pong of the same sizes (32/36 bytes), polling 50 us first:\n'
printf 'UNIX %s ns, TCP loopback %s ns.  "÷ goal" is read / (its floor + local):\n' \
    "$spin" "$tcpspin"
printf 'the TCP/TLS rows against the TCP floor (goal: 1.5 or less), the others\n'
printf 'against the UNIX one.\n\n'
line "configuration" "read ns" "best ns" "over local" "÷ goal" "write ns" \
    "writes/s"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..50})" \
    "$(printf -- '-%.0s' {1..10})" "$(printf -- '-%.0s' {1..10})" \
    "$(printf -- '-%.0s' {1..12})" "$(printf -- '-%.0s' {1..11})" \
    "$(printf -- '-%.0s' {1..11})" "$(printf -- '-%.0s' {1..13})"
for i in "${!names[@]}"; do
    f=$spin
    case ${names[i]} in *TCP*|*TLS*) f=$tcpspin ;; esac
    goal=$(ratio "${reads[i]}" $((f + local_ns)))
    [ "$i" = 0 ] && goal="-"
    line "${names[i]}" "${reads[i]}" "${bests[i]}" $((reads[i] - local_ns)) \
        "$goal" "${writes[i]}" "$(awk -v w="${writes[i]}" \
                                   'BEGIN { printf "%d", 1e9 / w }')"
done
line "libvup client -> dm-remote (no QEMU, polling)" "$rtt" - - \
    "$(ratio "$rtt" "$spin")" - -
line "floor: UNIX socket ping-pong, polling 50 us" "$spin" - - 1.00 - -
line "floor: TCP loopback ping-pong, polling 50 us" "$tcpspin" - - \
    "$(ratio "$tcpspin" "$spin")" - -
line "floor: UNIX socket ping-pong, sleeping" "$floor" - - \
    "$(ratio "$floor" "$spin")" - -

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
    "$(awk -v o="$over" -v f="$spin" 'BEGIN { printf "%.2f", o / f }')" \
    "$pio_remote_w"
