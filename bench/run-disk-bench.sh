#!/bin/bash
# The disk table of make bench: bench/blk-bench (O_DIRECT on /dev/vda,
# queue depth N = N threads of synchronous pread/pwrite) in the Linux
# guest under TCG, one row per way of serving one raw image file to it:
# QEMU's own virtio-blk-pci (the floor), dm-proxy-pci -> dm-remote's
# virtio-blk model over UNIX (guest RAM shared; again with iothread=on,
# each queue on an I/O thread of its own), TCP loopback, TCP
# between two network namespaces and TLS, and the peers a user would
# otherwise pick: upstream's vfio-user-pci -> a second QEMU's
# x-vfio-user-server exporting its own virtio-blk-pci,
# vhost-user-blk-pci -> qemu-storage-daemon, and QEMU's NBD client ->
# qemu-storage-daemon's NBD export.  Same image, same guest, same run.
#   bench/run-disk-bench.sh BUILD
# BENCH_DISK_SECS (2) per test after 500 ms of warm-up; BENCH_DISK_BOOTS
# (3) rounds of one boot per row, the rows taking turns (a median of 3
# leaves one odd boot out); BENCH_DISK_MB
# (256) the image; BENCH_DISK_ROWS (all) a space-separated subset of the
# row keys below; BENCH_PIN=0 as in run-bench.sh; QSD the storage daemon
# (default: qemu-storage-daemon on PATH).
set -euo pipefail
build=$(cd "${1:?usage: run-disk-bench.sh BUILD}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
qemu=$build/qemu-system-x86_64
dm=$build/meson/dm-remote/dm-remote
qsd=${QSD:-$(command -v qemu-storage-daemon || true)}
secs=${BENCH_DISK_SECS:-2}
boots=${BENCH_DISK_BOOTS:-3}
mb=${BENCH_DISK_MB:-256}
hz=$(getconf CLK_TCK)
# Beside the build, not in /tmp, which may be a tmpfs: no O_DIRECT there
# (cache=none), and every row would be a memcpy.
tmp=$(mktemp -d "${BENCH_DISK_DIR:-$build}/dm-disk-bench-XXXXXX")
pids=()
ns=
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "$ns" ]; then
        ip netns del "$ns-c" 2>/dev/null || true
        ip netns del "$ns-s" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# Same pinning as run-bench.sh: QEMU on CPU 0, whatever serves the disk
# (dm-remote, the second QEMU, qemu-storage-daemon) on CPU 1.
pin_client=() pin_server=()
if [ "${BENCH_PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ]; then
    pin_client=(taskset -c 0) pin_server=(taskset -c 1)
fi

# Guest RAM in a shared memfd on every row: the remote ones need it
# (dm-remote, x-vfio-user-server and vhost-user map it), and the local
# ones lose nothing by it.
mem="-m 256M -object memory-backend-memfd,id=ram,size=256M,share=on"
mem="$mem -machine memory-backend=ram"

# Real blocks (not fallocate's unwritten extents, which read as zeros
# without touching anything), synced: one image, the same bytes for
# every row (each row's writes stay for the next; they are all random
# 0xa5-ish blocks).
img=$tmp/disk.img
dd if=/dev/zero of="$img" bs=1M count="$mb" conv=fsync status=none

tests=(randread-4k-qd1 randread-4k-qd32 randwrite-4k-qd1 randwrite-4k-qd32
       seqread-1m-qd1 seqwrite-1m-qd1)
# The table's columns: key, heading, which test and field, and whether
# more is better (for "best").
cols=(rr1 rr32 rw1 rw32 lat p99 sr sw cpu irq)
declare -A col_head=(
    [rr1]="rd QD1" [rr32]="rd QD32" [rw1]="wr QD1" [rw32]="wr QD32"
    [lat]="rd lat us" [p99]="rd p99 us" [sr]="seq rd MB/s" [sw]="seq wr MB/s"
    [cpu]="CPU s/GiB" [irq]="irq/rq rd32")
declare -A col_test=(
    [rr1]=randread-4k-qd1 [rr32]=randread-4k-qd32 [rw1]=randwrite-4k-qd1
    [rw32]=randwrite-4k-qd32 [lat]=randread-4k-qd1 [p99]=randread-4k-qd1
    [sr]=seqread-1m-qd1 [sw]=seqwrite-1m-qd1 [irq]=randread-4k-qd32)
declare -A col_field=([rr1]=IOPS [rr32]=IOPS [rw1]=IOPS [rw32]=IOPS
                      [lat]=LAT-US [p99]=P99-US [sr]=MBPS [sw]=MBPS
                      [irq]=IRQ-PER-REQ)

# The rows, in the table's order.  Each has a name, and a start_KEY
# function that starts its peer (if any) and sets dev (QEMU's arguments
# for the disk), peer (the pid whose CPU time is counted: empty for QEMU
# itself), wrap (a command QEMU runs under: its network namespace) and
# pin; or sets why (the reason the row cannot run) and returns 1.
all_rows=(local local2 unix unixnow unixio tcp netns tls vfu vhost nbd nbdns)
declare -A row_name=(
    [local]="local virtio-blk-pci, QEMU on CPU 0 *"
    [local2]="local virtio-blk-pci, QEMU on 2 CPUs *"
    [unix]="dm-proxy-pci -> dm-remote, UNIX"
    [unixio]="dm-proxy-pci -> dm-remote, UNIX, iothread"
    [unixnow]="dm-proxy-pci -> dm-remote, UNIX, irq at once"
    # Not in a full run: the default under TCG, with BENCH_IRQ_DELAY_US.
    [unixirq]="dm-proxy-pci -> dm-remote, UNIX, irq held"
    # Not in a full run: BENCH_DISK_ROWS="local unix unixpoll vhost".
    [unixpoll]="dm-proxy-pci -> dm-remote, UNIX, poll_us=${BENCH_POLL_US:-50}"
    # Not in a full run: BENCH_DISK_ROWS="local unix unixuring vhost".
    [unixuring]="dm-proxy-pci -> dm-remote, UNIX, inline_writes=off"
    [tcp]="dm-proxy-pci -> dm-remote, TCP loopback"
    # Not in a full run: BENCH_DISK_ROWS="tcp tcpfetch tcpirq nbd" compares.
    [tcpfetch]="TCP loopback, no chains with the kick"
    [tcpirq]="dm-proxy-pci -> dm-remote, TCP, irq held"
    [netns]="dm-proxy-pci -> dm-remote, TCP netns"
    # Not in a full run: BENCH_DISK_ROWS="netns netnsirq netnsnow nbdns"
    # compares (the model holding interrupts; QEMU raising them at once,
    # irq-hold-us=0, where its default holds them while the vCPU is
    # busy).
    [netnsirq]="dm-proxy-pci -> dm-remote, TCP netns, irq held"
    [netnsnow]="TCP netns, irq at once (irq-hold-us=0)"
    # Not in a full run: BENCH_DISK_ROWS="netns netnscc nbdns nbdnscc"
    # compares congestion controls (the host's default, BBR here,
    # against BENCH_TCP_CC on both ends; docs/performance.md).
    [netnscc]="TCP netns, tcp-congestion=${BENCH_TCP_CC:-reno}"
    [nbdnscc]="NBD, TCP netns, namespaces' default ${BENCH_TCP_CC:-reno}"
    [tls]="dm-proxy-pci -> dm-remote, TLS loopback"
    [vfu]="vfio-user-pci -> x-vfio-user-server, INTx"
    [vhost]="vhost-user-blk-pci -> qemu-storage-daemon"
    [nbd]="NBD client -> q-s-d, TCP loopback"
    [nbdns]="NBD client -> q-s-d, TCP netns")
# shellcheck disable=SC2206  # a list of words
rows=(${BENCH_DISK_ROWS:-${all_rows[*]}})
declare -A why=()

log() { echo "bench: disk: $*" >&2; }

# wait_peer PID LOG CHECK...: until CHECK succeeds (bounded), 1 if PID
# exited or never got there, with the reason in $why_now.
wait_peer() {
    local pid=$1 plog=$2
    shift 2
    for _ in $(seq 500); do
        if ! kill -0 "$pid" 2>/dev/null; then
            why_now="exited: $(tail -n 3 "$plog" | tr '\n' ' ')"
            return 1
        fi
        "$@" 2>/dev/null && return 0
        sleep 0.02
    done
    why_now="did not start listening within 10 s"
    return 1
}
tcp_open() { (exec 3<>"/dev/tcp/$1/$2"); }
in_ns() { local n=$1; shift; ip netns exec "$n" "$@"; }

# peer_start LOG CHECK-ARGS... -- CMD...: start a peer (CMD pins it), its
# output in LOG; peer=its pid once CHECK-ARGS succeed.
peer_start() {
    local plog=$1 check=()
    shift
    while [ "$1" != -- ]; do check+=("$1"); shift; done
    shift
    "$@" >"$plog" 2>&1 &
    peer=$! peer_log=$plog
    pids+=("$peer")
    wait_peer "$peer" "$plog" "${check[@]}"
}
peer_stop() {
    [ -n "${peer:-}" ] || return 0
    kill "$peer" 2>/dev/null || true
    wait "$peer" 2>/dev/null || true
    unset 'pids[-1]'
    peer=
}

serve_dm() {   # ADDR CHECK... [-- EXTRA dm-remote ARGS]: prefix from $srv_wrap
    local addr=$1
    shift
    local check=() extra=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do check+=("$1"); shift; done
    [ $# -eq 0 ] || { shift; extra=("$@"); }
    peer_start "$tmp/peer.log" "${check[@]}" -- "${srv_wrap[@]}" \
        "${pin_server[@]}" "$dm" serve --quiet \
        --model "virtio-blk,file=$img${model_extra:-}" --listen "$addr" \
        "${extra[@]}"
}

local_drive="-drive if=none,id=d0,file=$img,format=raw,cache=writeback,aio=threads"
start_local() {
    # The way our model opens the file: pread/pwrite through the host
    # page cache on a thread pool (cache=writeback, aio=threads).
    dev="$local_drive -device virtio-blk-pci,drive=d0"
}
start_local2() {
    # Pinned to CPU 0, QEMU's vCPU, main loop and I/O threads share one
    # CPU while a remote pair has one each: QEMU also on both CPUs, and
    # the better of the two is the floor.
    start_local
    pin=()
}
start_unix() {
    rm -f "$tmp/blk.sock"
    serve_dm "unix:$tmp/blk.sock" test -S "$tmp/blk.sock" || return 1
    dev="-device dm-proxy-pci,server=unix:$tmp/blk.sock,timeout=30000"
}
# start_with ROW ,PROP=V...: row ROW with the model's properties.
start_with() {
    model_extra=$2
    "start_$1"
    local ret=$?
    model_extra=
    return $ret
}
# Each queue on an I/O thread of its own.
start_unixio() { start_with unix ,iothread=on; }
# The ring polled 50 us after each kick's requests.
start_unixpoll() { start_with unix ",poll_us=${BENCH_POLL_US:-50}"; }
# Every write through io_uring (ext4: a kernel worker's), as before.
start_unixuring() { start_with unix ,inline_writes=off; }
# Interrupts at once: irq_delay_us=auto holds them for this TCG guest.
start_unixnow() { start_with unix ,irq_delay_us=0; }
# Interrupts held for answers to share them.
start_unixirq() { start_with unix ",irq_delay_us=${BENCH_IRQ_DELAY_US:-50}"; }
start_tcpirq() { start_with tcp ",irq_delay_us=${BENCH_IRQ_DELAY_US:-50}"; }
# The proxy raises interrupts at once (its default, irq-hold-us=auto,
# holds them while the guest's vCPU runs, under TCG).
start_netnsnow() {
    start_netns || return 1
    dev="$dev,irq-hold-us=0"
}
start_netnsirq() { start_with netns ",irq_delay_us=${BENCH_IRQ_DELAY_US:-50}"; }
start_tcp() {
    serve_dm "tcp:127.0.0.1:$port" tcp_open 127.0.0.1 "$port" || return 1
    dev="-device dm-proxy-pci,server=tcp:127.0.0.1:$port,timeout=30000"
}
start_tcpfetch() {
    # Row tcp as it was before dm_vq_push: every kick's chains fetched.
    start_tcp || return 1
    dev="$dev,vq-push=off"
}
start_tls() {
    serve_dm "tcp:127.0.0.1:$port" tcp_open 127.0.0.1 "$port" -- \
        --tls-creds "$certs/server" || return 1
    dev="-object tls-creds-x509,id=tls0,endpoint=client,dir=$certs/client"
    dev="$dev -device dm-proxy-pci,server=tcp:127.0.0.1:$port"
    dev="$dev,tls-creds=tls0,timeout=30000"
}
# Two hosts on one machine: QEMU and the server in two network
# namespaces joined by a veth pair, made once for the run and removed at
# its end.
netns_up() {
    [ -z "$ns" ] || return 0
    ns=dm-disk-$$
    ip netns add "$ns-c" && ip netns add "$ns-s" &&
    ip link add "ddc$$" netns "$ns-c" type veth peer name "dds$$" \
        netns "$ns-s" &&
    ip -n "$ns-c" addr add 192.0.2.1/24 dev "ddc$$" &&
    ip -n "$ns-s" addr add 192.0.2.2/24 dev "dds$$" &&
    ip -n "$ns-c" link set "ddc$$" up && ip -n "$ns-s" link set "dds$$" up &&
    ip -n "$ns-c" link set lo up && ip -n "$ns-s" link set lo up
}
# ns_cc CC: the default congestion control of both namespaces (each
# netns has its own): the host's, unless a row says otherwise.
host_cc=$(cat /proc/sys/net/ipv4/tcp_congestion_control 2>/dev/null || echo ?)
ns_cc() {
    ip netns exec "$ns-c" sysctl -qw "net.ipv4.tcp_congestion_control=$1" &&
        ip netns exec "$ns-s" sysctl -qw "net.ipv4.tcp_congestion_control=$1"
}
start_netns() {   # [EXTRA dm-remote ARGS]
    ns_cc "$host_cc" || { why_now="cannot set $host_cc"; return 1; }
    srv_wrap=(ip netns exec "$ns-s")
    serve_dm "tcp:192.0.2.2:$port" in_ns "$ns-c" bash -c \
        "exec 3<>/dev/tcp/192.0.2.2/$port" -- "$@" ||
        { srv_wrap=(); return 1; }
    srv_wrap=()
    wrap=(ip netns exec "$ns-c")
    dev="-device dm-proxy-pci,server=tcp:192.0.2.2:$port,timeout=30000"
}
# Our two ends choose their congestion control; the namespaces keep
# the host's default.
start_netnscc() {
    start_netns --tcp-congestion "${BENCH_TCP_CC:-reno}" || return 1
    dev="$dev,tcp-congestion=${BENCH_TCP_CC:-reno}"
}
start_vfu() {
    # Upstream's pair: a second QEMU serves its own virtio-blk-pci on the
    # same image through x-vfio-user-server; guest RAM shared (memfd).
    # iommu_platform=on (so disable-legacy=on): without it virtio DMAs
    # through the remote machine's system memory, which holds nothing
    # (the client's RAM is mapped into the device's IOMMU address space
    # only), and the rings read as unassigned memory: SeaBIOS and Linux
    # wait for a request forever.  vectors=0 (INTx): with MSI-X the
    # server signalled no completion (its msix_function_masked stayed
    # true) and Linux waited for its first read forever (QEMU 10.2).
    rm -f "$tmp/vfu.sock"
    peer_start "$tmp/peer.log" test -S "$tmp/vfu.sock" -- \
        "${pin_server[@]}" "$qemu" -machine x-remote,vfio-user=on \
        -accel tcg -nodefaults -display none -monitor none -serial none \
        -drive "if=none,id=d0,file=$img,format=raw,cache=writeback,aio=threads" \
        -device virtio-blk-pci,id=dev0,drive=d0,disable-legacy=on,iommu_platform=on,vectors=0 \
        -object "x-vfio-user-server,id=v0,type=unix,path=$tmp/vfu.sock,device=dev0" ||
        return 1
    dev="-device {\"driver\":\"vfio-user-pci\","
    dev="$dev\"socket\":{\"type\":\"unix\",\"path\":\"$tmp/vfu.sock\"}}"
}
qsd_file="driver=file,node-name=f0,filename=$img,cache.direct=off,aio=threads"
start_vhost() {
    rm -f "$tmp/vhost.sock"
    peer_start "$tmp/peer.log" test -S "$tmp/vhost.sock" -- \
        "${pin_server[@]}" "$qsd" --blockdev "$qsd_file" \
        --export "type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path=$tmp/vhost.sock,writable=on" ||
        return 1
    dev="-chardev socket,id=vu0,path=$tmp/vhost.sock"
    dev="$dev -device vhost-user-blk-pci,chardev=vu0"
}
# qsd_nbd HOST: qemu-storage-daemon's NBD export of the image on
# HOST:$port (in the server's namespace with srv_wrap), QEMU's NBD
# client under a local virtio-blk-pci.
qsd_nbd() {
    peer_start "$tmp/peer.log" "${check[@]}" -- "${srv_wrap[@]}" \
        "${pin_server[@]}" "$qsd" --blockdev "$qsd_file" \
        --nbd-server "addr.type=inet,addr.host=$1,addr.port=$port" \
        --export type=nbd,id=e0,node-name=f0,name=disk,writable=on ||
        return 1
    dev="-blockdev driver=nbd,node-name=n0,server.type=inet"
    dev="$dev,server.host=$1,server.port=$port,export=disk"
    dev="$dev -device virtio-blk-pci,drive=n0"
}
start_nbd() {
    check=(tcp_open 127.0.0.1 "$port")
    qsd_nbd 127.0.0.1
}
start_nbdns() {
    ns_cc "${1:-$host_cc}" || { why_now="cannot set ${1:-$host_cc}"; return 1; }
    srv_wrap=(ip netns exec "$ns-s")
    check=(in_ns "$ns-c" bash -c "exec 3<>/dev/tcp/192.0.2.2/$port")
    qsd_nbd 192.0.2.2 || { srv_wrap=(); return 1; }
    srv_wrap=()
    wrap=(ip netns exec "$ns-c")
}
# NBD has no setting of its own: both namespaces' default.
start_nbdnscc() { start_nbdns "${BENCH_TCP_CC:-reno}"; }

# What each row needs beyond dm-remote and QEMU; a row without it is
# printed with "-" and the reason.
have_dev() { grep -q "\"$1\"" <<<"$dev_help"; }
dev_help=$("$qemu" -device help 2>&1 || true)
obj_help=$("$qemu" -object help 2>&1 || true)
for r in "${rows[@]}"; do
    [ -n "${row_name[$r]:-}" ] || { echo "bench: disk: no row '$r'" >&2; exit 2; }
    case $r in
    netns | netnsirq | netnsnow | netnscc | nbdns | nbdnscc)
        [ "$(id -u)" = 0 ] || why[$r]="network namespaces need root"
        command -v ip >/dev/null || why[$r]="no ip(8)" ;;
    tls)
        command -v certtool >/dev/null || why[$r]="no certtool (gnutls-bin)" ;;
    vfu)
        have_dev vfio-user-pci || why[$r]="QEMU has no vfio-user-pci"
        grep -q x-vfio-user-server <<<"$obj_help" ||
            why[$r]="QEMU has no x-vfio-user-server" ;;
    vhost)
        have_dev vhost-user-blk-pci ||
            why[$r]="QEMU built without vhost-user (no vhost-user-blk-pci)" ;;
    esac
    case $r in
    vhost | nbd | nbdns | nbdnscc)
        [ -n "$qsd" ] && [ -x "$qsd" ] ||
            why[$r]="no qemu-storage-daemon (Debian: qemu-system-common)" ;;
    esac
done
if [[ " ${rows[*]} " == *" tls "* ]] && [ -z "${why[tls]:-}" ]; then
    certs=$tmp/certs
    "$here/../tests/net/make-certs.sh" "$certs" >/dev/null 2>&1 ||
        why[tls]="could not make certificates (tests/net/make-certs.sh)"
fi
if [[ " ${rows[*]} " =~ \ (netns|netnsirq|netnsnow|netnscc|nbdns|nbdnscc)\  ]] &&
   [ -z "${why[netns]:-}${why[netnsirq]:-}${why[nbdns]:-}" ]; then
    if ! netns_up 2>"$tmp/netns.log"; then
        why[netns]="could not make the namespaces: $(head -n1 "$tmp/netns.log")"
        why[netnsirq]=${why[netns]}
        why[netnsnow]=${why[netns]}
        why[netnscc]=${why[netns]}
        why[nbdns]=${why[netns]}
        why[nbdnscc]=${why[netns]}
    fi
fi

# cpu PID: its utime + stime so far, in clock ticks, all its threads.
cpu() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    s=${s##*) }
    # shellcheck disable=SC2086  # the fields
    set -- $s
    echo $((${12} + ${13}))
}
# The watch below runs every 0.1 s through a whole boot: with a fork
# for each look (cat, grep, sleep) it took a tenth of a CPU from the
# rows it measured, so it uses builtins alone.
# state PID: st=its state letter (Z once it has exited), empty once reaped.
state() {
    local s=''
    { read -r s <"/proc/$1/stat"; } 2>/dev/null || { st=''; return 0; }
    s=${s##*) }
    st=${s%% *}
}
# con_has TEXT: the console holds TEXT (anywhere).
con_has() {
    local text=''
    read -r -d '' text <"$con" || true
    [[ $text == *"$1"* ]]
}
# nap: 0.1 s, without a sleep process.
exec {nap_fd}<> <(:)
nap() { read -r -t 0.1 -u "$nap_fd" _ || true; }

# boot ROW: one guest run of blk-bench on the row's disk.  Adds its
# figures to runs[ROW:COL] (one word per boot).  The CPU time of the
# process that serves the disk is taken when the guest starts its tests
# (BLK-BENCH-SIZE) and when it has printed the last one, and divided by
# the bytes all the tests moved.  A run that stops short (a hung disk:
# the deadline) names the test it stopped in, shows the guest's last
# lines and the server's log, and its missing figures are left out.
declare -A runs
short=()
boot() {
    local r=$1 con=$tmp/console qpid cpid c0='' c1='' t0=$SECONDS deadline out t
    local line v last st
    dev='' peer='' wrap=() pin=("${pin_client[@]}") srv_wrap=() why_now=''
    port=$("$here/../tests/free-port.py" 127.0.0.1)
    if ! "start_$r"; then
        why[$r]="server did not start: ${why_now:-?}"
        log "$r: ${why[$r]}"
        peer_stop
        return
    fi
    : >"$con"
    # shellcheck disable=SC2086  # $mem and $dev are lists of words
    "${wrap[@]}" "${pin[@]}" "$qemu" -accel tcg -M pc $mem \
        -display none -monitor none -no-reboot -serial "file:$con" \
        -kernel "$build/guest/vmlinuz" \
        -initrd "$build/guest/initramfs.cpio.gz" \
        -append "$(cat "$build/guest/append") dm.run=disk-bench dm.secs=$secs" \
        $dev </dev/null >"$tmp/qemu.log" 2>&1 &
    qpid=$!
    pids+=("$qpid")
    cpid=${peer:-$qpid}
    # Two deadlines: the guest boots and reaches the tests (its first
    # I/O on the disk) within 180 s (a boot takes 10-20 s on a quiet
    # machine, but over 90 s was seen with the machine's two CPUs
    # shared by a compile), then runs them within their time plus a
    # minute.
    deadline=$((SECONDS + 180))
    while :; do
        # The state first: a QEMU that has exited printed all it will,
        # and stays readable (a zombie) until the wait below.
        state "$qpid"
        # Unanchored: a kernel message may land in front of the line.
        if [ -z "$c0" ] && con_has 'BLK-BENCH-SIZE'; then
            c0=$(cpu "$cpid") || c0=''
            deadline=$((SECONDS + 6 * (secs + 1) + 60))
        fi
        if [ -z "$c1" ] && con_has "BLK-BENCH ${tests[-1]} "; then
            c1=$(cpu "$cpid") || c1=''
        fi
        case $st in '' | Z) break ;; esac
        if [ "$SECONDS" -ge "$deadline" ]; then
            kill "$qpid" 2>/dev/null || true
            break
        fi
        nap
    done
    wait "$qpid" 2>/dev/null || true
    unset 'pids[-1]'
    out=$(tr -d '\r' <"$con")
    if ! grep -q "^BLK-BENCH ${tests[-1]} " <<<"$out"; then
        if ! grep -q '^BLK-BENCH-SIZE' <<<"$out"; then
            t="the check before the tests (the guest's first I/O on the disk)"
            # Not a slow test but a disk that never answered: no later
            # rounds for this row.
            why[$r]="the guest never reached the tests (see the log above)"
        else
            last=none
            for t in "${tests[@]}"; do
                grep -q "^BLK-BENCH $t " <<<"$out" || break
                last=$t
            done
            t="$t (last finished: $last)"
        fi
        log "$r: the run stopped short, in $t; guest said:"
        { tail -n 8 <<<"$out"; tail -n 5 "$tmp/qemu.log"; } | sed 's/^/    /' >&2
        if [ -n "$peer" ]; then
            log "$r: its server said:"
            tail -n 10 "$peer_log" | sed 's/^/    /' >&2
        fi
        short+=("$r: $t")
    fi
    [ -n "${queue:-}" ] || queue=$(sed -n 's/^BLK-BENCH-QUEUE //p' <<<"$out")
    for c in "${cols[@]}"; do
        [ "$c" != cpu ] || continue
        line=$(grep "^BLK-BENCH ${col_test[$c]} " <<<"$out" || true)
        v=$(sed -n "s/.* ${col_field[$c]} \([0-9.]*\).*/\1/p" <<<"$line")
        [ -z "$v" ] || runs[$r:$c]+="$v "
    done
    if [ -n "$c0" ] && [ -n "$c1" ]; then
        v=$({ grep -o ' BYTES [0-9]*' <<<"$out" || true; } |
            awk -v c=$((c1 - c0)) -v hz="$hz" '{ b += $2 }
                END { if (b > 0) printf "%.2f", c / hz / (b / 2^30) }')
        [ -z "$v" ] || runs[$r:cpu]+="$v "
    fi
    peer_stop
    v=$(awk '$1 == "BLK-BENCH" { printf " %s %s", $2, $4 }' <<<"$out" |
        sed 's/randread-4k-/rd /g; s/randwrite-4k-/wr /g; s/seqread-1m-qd1/seq rd/;
             s/seqwrite-1m-qd1/seq wr/')
    log "$r: $((SECONDS - t0)) s, IOPS:${v:- none}"
}

todo=()
for r in "${rows[@]}"; do [ -n "${why[$r]:-}" ] || todo+=("$r"); done
log "${#todo[@]} rows, $boots round(s), about $((6 * secs + 3 + 12)) s per boot..."
# The rows take turns, round after round, so that the machine's drift
# (other tenants of this shared VM) falls on all of them alike.
for ((round = 1; round <= boots; round++)); do
    for r in "${todo[@]}"; do
        [ -n "${why[$r]:-}" ] || { log "round $round/$boots: $r..."; boot "$r"; }
    done
done

# pick ROW COL median|best: over the row's boots; best is the highest,
# or the lowest for latency and CPU time.
pick() {
    local words=${runs[$1:$2]:-} order=-g
    [ -n "$words" ] || { echo -; return; }
    case $3:$2 in best:lat | best:p99 | best:cpu | best:irq) ;; best:*) order=-gr ;; esac
    # shellcheck disable=SC2086  # one word per boot
    if [ "$3" = best ]; then
        printf '%s\n' $words | sort $order | head -n1
    else
        printf '%s\n' $words | sort -g |
            awk '{ v[NR] = $1 }
                 END { if (NR % 2) print v[(NR + 1) / 2]
                       else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
    fi
}
fmt() { # COL VALUE
    case $1:$2 in
    *:-) echo - ;;
    rr* | rw*) printf '%.0f' "$2" ;;
    lat:* | p99:* | sr:* | sw:*) printf '%.1f' "$2" ;;
    cpu:* | irq:*) printf '%.2f' "$2" ;;
    esac
}
dashes() { printf -- '-%.0s' $(seq "$1"); }
table() { # median|best
    local r c
    printf '| %-42s |' configuration
    for c in "${cols[@]}"; do printf ' %11s |' "${col_head[$c]}"; done
    printf '\n|%s|' "$(dashes 44)"
    for c in "${cols[@]}"; do printf '%s|' "$(dashes 13)"; done
    printf '\n'
    for r in "${rows[@]}"; do
        printf '| %-42s |' "${row_name[$r]}"
        for c in "${cols[@]}"; do
            printf ' %11s |' "$(fmt "$c" "$(pick "$r" "$c" "$1")")"
        done
        printf '\n'
    done
    for r in "${rows[@]}"; do
        [ -z "${why[$r]:-}" ] || printf -- '- %s: %s\n' "${row_name[$r]}" "${why[$r]}"
    done
}
printf '\nDisk: blk-bench in the guest (O_DIRECT on /dev/vda, QD N = N threads),\n'
printf '%s s per test after 500 ms of warm-up, %s round(s) of one boot per row\n' \
    "$secs" "$boots"
printf '(rows taking turns).  One %s MiB raw image for every row (host: %s,\n' \
    "$mb" "$(uname -r)"
printf '%s cores, %s; guest queue: %s).\n' "$(nproc)" \
    "$([ ${#pin_client[@]} -gt 0 ] &&
        echo 'QEMU pinned to CPU 0, every server to CPU 1' || echo 'not pinned')" \
    "${queue:-?}"
printf 'rd, wr: IOPS of 4 KiB random reads, writes; rd lat: the median\n'
printf 'completion time of a 4 KiB random read at QD1 (us), rd p99 its 99th\n'
printf 'percentile (the tail); seq: 1 MiB\n'
printf 'sequential at QD1 (MB/s); CPU s/GiB:\n'
printf 'utime + stime of the process that serves the disk over all six tests,\n'
printf 'per GiB they moved (* local rows: all of QEMU, vCPU included);\n'
printf 'irq/rq rd32: the guest'"'"'s interrupts from virtio devices per request,\n'
printf '4 KiB random reads at QD32 (how many answers one interrupt brings).\n'
printf '\nMedian of %s boot(s):\n\n' "$boots"
table median
if [ "$boots" -gt 1 ]; then
    printf '\nBest of %s boots (the highest; the lowest latency, CPU and irq/rq):\n\n' "$boots"
    table best
fi

# The goals of issue 17, read from the medians: printed, never asserted.
# A row not in this run (BENCH_DISK_ROWS) reads as x, and its goals are
# left out; one that ran without the figure reads as -.
med() {
    [[ " ${rows[*]} " == *" $1 "* ]] || { echo x; return; }
    pick "$1" "$2" median
}
floor() { # COL: the better local row
    local a b
    a=$(med local "$1") b=$(med local2 "$1")
    case $a in x | -) echo "$b"; return ;; esac
    case $b in x | -) echo "$a"; return ;; esac
    awk -v a="$a" -v b="$b" 'BEGIN { print (a > b ? a : b) }'
}
# goal TEXT A B FACTOR: met if A >= FACTOR * B (A > B for FACTOR "above")
goal() {
    if [ "$2" = x ] || [ "$3" = x ]; then
        return
    fi
    if [ "$2" = - ] || [ "$3" = - ]; then
        printf '  %-48s no result\n' "$1"
        return
    fi
    awk -v t="$1" -v a="$2" -v b="$3" -v f="$4" 'BEGIN {
        ok = f == "above" ? a > b : a >= f * b
        printf "  %-48s %5.2fx  %s\n", t, a / b, (ok ? "met" : "NOT met") }'
}
printf '\nGoals of issue 17 (medians; printed, not asserted):\n'
# The UNIX goals for the default (irq_delay_us=auto: held under TCG),
# and for the rows of interrupts at once and held (BENCH_IRQ_DELAY_US).
for u in unix:UNIX unixnow:"UNIX irq at once" unixirq:"UNIX irq held"; do
    row=${u%%:*} label=${u#*:}
    for c in rr32 rw32; do
        goal "$label >= 0.9x local, ${col_head[$c]}" "$(med "$row" $c)" \
            "$(floor $c)" 0.9
    done
    for c in rr1 rw1; do
        goal "$label >= 0.8x local, ${col_head[$c]}" "$(med "$row" $c)" \
            "$(floor $c)" 0.8
    done
    for p in vhost:vhost-user-blk vfu:x-vfio-user-server; do
        for c in rr1 rr32 rw1 rw32; do
            goal "$label above ${p#*:}, ${col_head[$c]}" \
                "$(med "$row" $c)" "$(med "${p%%:*}" $c)" above
        done
    done
done
for c in rr1 rr32 rw1 rw32; do
    goal "TCP loopback >= NBD, ${col_head[$c]}" "$(med tcp $c)" "$(med nbd $c)" 1
done
for c in rr1 rr32 rw1 rw32; do
    goal "TCP netns >= NBD netns, ${col_head[$c]}" "$(med netns $c)" "$(med nbdns $c)" 1
done
if [ ${#short[@]} -gt 0 ]; then
    printf '\nRuns that stopped short (their missing figures are left out):\n'
    printf '  %s\n' "${short[@]}"
fi
