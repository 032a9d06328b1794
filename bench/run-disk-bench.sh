#!/bin/bash
# The disk table of make bench: bench/blk-bench (O_DIRECT on /dev/vda,
# queue depth N = N threads of synchronous pread/pwrite) in the Linux
# guest under TCG, against one raw image file served by QEMU's own
# virtio-blk-pci and by dm-remote's virtio-blk model behind dm-proxy-pci
# over UNIX (guest RAM shared: zero-copy) and TCP loopback (DMA
# messages).  Every column comes from this run, same image, same guest.
#   bench/run-disk-bench.sh BUILD
# BENCH_DISK_SECS (3) per test after 500 ms of warm-up; BENCH_DISK_BOOTS
# (1) rounds of one boot per column, the median per test; BENCH_DISK_MB
# (256) the image; BENCH_PIN=0 as in run-bench.sh.
set -euo pipefail
build=$(cd "${1:?usage: run-disk-bench.sh BUILD}" && pwd)
qemu=$build/qemu-system-x86_64
dm=$build/meson/dm-remote/dm-remote
secs=${BENCH_DISK_SECS:-3}
boots=${BENCH_DISK_BOOTS:-1}
mb=${BENCH_DISK_MB:-256}
# Beside the build, not in /tmp, which may be a tmpfs: no O_DIRECT there
# (cache=none), and every column would be a memcpy.
tmp=$(mktemp -d "${BENCH_DISK_DIR:-$build}/dm-disk-bench-XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# Same pinning as run-bench.sh: QEMU on CPU 0, dm-remote on CPU 1.
pin_client=() pin_server=()
if [ "${BENCH_PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ]; then
    pin_client=(taskset -c 0) pin_server=(taskset -c 1)
fi

mem="-m 256M -object memory-backend-memfd,id=ram,size=256M,share=on"
mem="$mem -machine memory-backend=ram"

# Real blocks (not fallocate's unwritten extents, which read as zeros
# without touching anything), synced, so that cache=none reads the disk.
img=$tmp/disk.img
dd if=/dev/zero of="$img" bs=1M count="$mb" conv=fsync status=none

tests=(randread-4k-qd1 randread-4k-qd32 randwrite-4k-qd1 randwrite-4k-qd32
       seqread-1m-qd1 seqwrite-1m-qd1)
declare -A iops mbps

# boot COLUMN QEMU-ARGS...: one guest run of blk-bench, QEMU pinned by
# $pin; adds "IOPS:MB/s " per test to runs[COLUMN:test].  A run that
# stops short (a hung disk: the timeout) is reported, and its missing
# tests are left out rather than the whole table.
declare -A runs
short=()
boot() {
    local col=$1 out t
    shift
    out=$(timeout $((6 * secs + 90)) "${pin[@]}" "$qemu" -accel tcg -M pc $mem \
          -nographic -no-reboot \
          -kernel "$build/guest/vmlinuz" \
          -initrd "$build/guest/initramfs.cpio.gz" \
          -append "console=ttyS0 quiet panic=-1 dm.run=disk-bench dm.secs=$secs" \
          "$@" </dev/null 2>&1 | tr -d '\r') || true
    if ! grep -q "BLK-BENCH ${tests[-1]} " <<<"$out"; then
        echo "bench: disk $col: the run stopped short; guest said:" >&2
        tail -n 8 <<<"$out" >&2
        case $col in
        unix | tcp) sed 's/^/bench: dm-remote: /' "$tmp/dm.log" | tail -n 5 >&2 ;;
        esac
        short+=("$col")
    fi
    [ -n "${queue:-}" ] || queue=$(sed -n 's/^BLK-BENCH-QUEUE //p' <<<"$out")
    for t in "${tests[@]}"; do
        runs[$col:$t]+="$(sed -n "s/^BLK-BENCH $t IOPS \([0-9]*\) MBPS \([0-9.]*\).*/\1:\2/p" <<<"$out") "
    done
}
# medians COLUMN: per test the median IOPS of its runs (and the MB/s of
# the same run) into iops[COLUMN:test] and mbps[COLUMN:test].
medians() {
    local t line
    for t in "${tests[@]}"; do
        # shellcheck disable=SC2086  # one word per run
        line=$(printf '%s\n' ${runs[$1:$t]:-} | sort -t: -k1,1n)
        line=$(sed -n "$(( ($(wc -l <<<"$line") + 1) / 2 ))p" <<<"$line")
        [ -n "$line" ] || line=-:-
        iops[$1:$t]=${line%%:*} mbps[$1:$t]=${line##*:}
    done
}

# serve ADDR: dm-remote's virtio-blk on the image; kill_server before the
# next one (the model locks the image).
serve() {
    "${pin_server[@]}" "$dm" serve --quiet --model "virtio-blk,file=$img" \
        --listen "$1" >"$tmp/dm.log" 2>&1 & pids+=($!)
    for _ in $(seq 500); do
        case $1 in
        unix:*) [ -S "${1#unix:}" ] && return ;;
        tcp:*) (exec 3<>"/dev/tcp/127.0.0.1/${1##*:}") 2>/dev/null && return ;;
        esac
        grep -q . "$tmp/dm.log" && break
        sleep 0.02
    done
    echo "bench: dm-remote did not start:" >&2; cat "$tmp/dm.log" >&2; exit 1
}
kill_server() {
    kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
    unset 'pids[-1]'
}

echo "bench: disk: 5 columns, $boots round(s), about $((6 * (secs + 1) + 12)) s per boot..." >&2
# The columns take turns, round after round, so that the machine's drift
# (other tenants of this shared VM) falls on all of them alike.
for ((round = 0; round < boots; round++)); do
    # Local, the way our model opens the file: pread/pwrite through the
    # host page cache on a thread pool (cache=writeback, aio=threads).
    # Pinned to CPU 0, QEMU's main loop and I/O threads share the CPU of
    # the TCG vCPU while a remote model has CPU 1 to itself; so local
    # also runs on both CPUs, the two the remote pair uses, and the
    # better local is the floor.
    pin=()
    boot local2 -drive "if=none,id=d0,file=$img,format=raw,cache=writeback,aio=threads" \
        -device virtio-blk-pci,drive=d0
    pin=("${pin_client[@]}")
    boot local -drive "if=none,id=d0,file=$img,format=raw,cache=writeback,aio=threads" \
        -device virtio-blk-pci,drive=d0
    # Local with O_DIRECT on the host (cache=none): the disk under the
    # file (itself virtual on this machine).
    boot direct -drive "if=none,id=d0,file=$img,format=raw,cache=none,aio=threads" \
        -device virtio-blk-pci,drive=d0
    serve "unix:$tmp/blk.sock"
    boot unix -device "dm-proxy-pci,server=unix:$tmp/blk.sock,timeout=30000"
    kill_server
    rm -f "$tmp/blk.sock"
    port=$("$(dirname "$0")/../tests/free-port.py" 127.0.0.1)
    serve "tcp:127.0.0.1:$port"
    boot tcp -device "dm-proxy-pci,server=tcp:127.0.0.1:$port,timeout=30000"
    kill_server
done
for col in local local2 direct unix tcp; do medians "$col"; done

# The floor per test: the better of the two local runs.
for t in "${tests[@]}"; do
    best=local
    [ "${iops[local:$t]}" != - ] || best=local2
    [ "${iops[local2:$t]}" = - ] ||
        [ "${iops[local:$t]}" = - ] ||
        [ "${iops[local2:$t]}" -le "${iops[local:$t]}" ] || best=local2
    iops[best:$t]=${iops[$best:$t]}
done
ratio() {
    if [ "$1" = - ] || [ "$2" = - ]; then echo -; return; fi
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}
cell() { printf '%s / %s' "${iops[$1:$2]}" "${mbps[$1:$2]}"; }
line() { printf '| %-18s | %16s | %16s | %16s | %16s | %16s | %10s |\n' "$@"; }
dashes() { printf -- '-%.0s' $(seq "$1"); }
printf '\nDisk: blk-bench in the guest (O_DIRECT on /dev/vda, QD N = N threads),\n'
printf '%s s per test after 500 ms of warm-up, median of %s round(s) of boots;\n' \
    "$secs" "$boots"
printf 'IOPS / MB/s.  One %s MiB raw image for all columns (host: %s, %s cores,\n' \
    "$mb" "$(uname -r)" "$(nproc)"
printf '%s; guest queue: %s).\n' "$([ ${#pin_client[@]} -gt 0 ] &&
    echo 'QEMU pinned to CPU 0, dm-remote to CPU 1' || echo 'not pinned')" \
    "${queue:-?}"
printf 'local: virtio-blk-pci, cache=writeback (host page cache, as the model),\n'
printf 'QEMU on CPU 0 or on both CPUs; cache=none: O_DIRECT on the host, CPU 0;\n'
printf 'UNIX and TCP: dm-proxy-pci -> dm-remote virtio-blk; "UNIX/local": IOPS\n'
printf 'over the better of the two local columns.\n\n'
line test "local CPU 0" "local 2 CPUs" "cache=none CPU 0" "remote UNIX" \
    "remote TCP" "UNIX/local"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "$(dashes 20)" "$(dashes 18)" "$(dashes 18)" \
    "$(dashes 18)" "$(dashes 18)" "$(dashes 18)" "$(dashes 12)"
for t in "${tests[@]}"; do
    line "$t" "$(cell local "$t")" "$(cell local2 "$t")" "$(cell direct "$t")" \
        "$(cell unix "$t")" "$(cell tcp "$t")" \
        "$(ratio "${iops[unix:$t]}" "${iops[best:$t]}")"
done
printf '\nGoal (issue 16): over UNIX at QD32, at least 0.5x the local IOPS:\n'
for t in randread-4k-qd32 randwrite-4k-qd32; do
    r=$(ratio "${iops[unix:$t]}" "${iops[best:$t]}")
    printf '  %-18s %sx  %s\n' "$t" "$r" \
        "$(awk -v r="$r" 'BEGIN {
            print (r == "-" ? "no result" : (r >= 0.5 ? "met" : "NOT met")) }')"
done
if [ ${#short[@]} -gt 0 ]; then
    printf '\nRuns that stopped short (their missing tests are left out): %s\n' \
        "${short[*]}"
fi
