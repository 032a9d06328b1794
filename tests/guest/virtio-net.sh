#!/bin/bash
# A Linux guest on a remote network card: dm-remote serves virtio-net
# with user-mode networking (libslirp in the model), the guest's own
# virtio_net driver (Debian's module) gets 10.0.2.15 from slirp's DHCP
# (busybox udhcpc), fetches a file from an HTTP server on the server
# platform's loopback (10.0.2.2) and the host compares its sha256; then
# the host fetches a file the guest serves with busybox nc through a
# hostfwd of the model.  TAP output.
# tap: the card on a tap instead (tap=IFNAME), in a network namespace the
# test makes and removes: the tap (made as an operator would, with ip
# tuntap) has 10.0.3.1/24 there, the guest 10.0.3.2/24 (static: no DHCP
# on a bare tap), the HTTP server listens on 10.0.3.1 and the host side
# reaches the guest's nc at 10.0.3.2 directly; the model runs in the
# namespace, QEMU outside, over UNIX.
# crash: over UNIX with --state-file; once the guest has fetched the
# file, the model is killed (SIGKILL) while the guest fetches it again
# in a loop (paced by the server, tests/guest/paced-http.py: the kill
# comes in the middle of a fetch, which ends whole or fails and is
# fetched again whole), and started again; the guest, which waits for
# the host's word (a file the HTTP server gets once the model is back),
# stops its loop, finds its link up (after a flap its driver saw: the
# restarted model shows the link down until the driver has read it)
# and fetches the file again through the restarted model, whose hostfwd
# then serves the rest.
# mq: over UNIX, the card with queues=2 and the guest on two vCPUs: the
# driver takes MQ and enables both pairs (sysfs: rx-0, rx-1, tx-0,
# tx-1), the file is fetched once more from each vCPU (taskset) and the
# model's counts at exit show frames from both transmit queues.
# crash-mq: crash with queues=2 and two vCPUs: both pairs in use across
# the kill (the pairs and every queue's journal in the state), the fetch
# from each vCPU through the restarted model.
#   tests/guest/virtio-net.sh BUILD [unix|tcp|tap|crash|mq|crash-mq]
# DM_REMOTE=PATH runs another build of the model (dm-remote-asan: a
# memory error or a leak makes it exit non-zero, which fails the test).
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2154   # tap.sh's $n and $failed
set -uo pipefail
build=$(cd "${1:?usage: virtio-net.sh BUILD [unix|tcp|tap|crash|mq|crash-mq]}" && pwd)
transport=${2:-unix}
# mq=1: a card of two queue pairs (mq, crash-mq); crash-mq is crash then.
mq=
case $transport in
    mq) mq=1 ;;
    crash-mq) mq=1 transport=crash ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
tmp=$(mktemp -d /tmp/dm-vnet-XXXXXX)
# DM_REMOTE: another build of the program (dm-remote-asan).
dm=${DM_REMOTE:-$build/meson/dm-remote/dm-remote}
pids=()
trap tap_cleanup EXIT

# Three free ports: the model (tcp), the HTTP server, the hostfwd.
ports=$(/usr/bin/python3 "$here/../free-port.py" 127.0.0.1 3) ||
    bail "no free ports"
model_port=$ports http_port=$((ports + 1)) fwd_port=$((ports + 2))
ns=() netns='' state=() smp=1
http_host=127.0.0.1 fwd_host=127.0.0.1 guest_srv=10.0.2.2 guest_net=
model="virtio-net,net=user,hostfwd=tcp:127.0.0.1:$fwd_port-:8080"
case $transport in
    unix) addr=unix:$tmp/net.sock ;;
    crash)
        addr=unix:$tmp/net.sock state=(--state-file "$tmp/net.state")
        guest_net=dm.crash=1 ;;
    tcp) addr=tcp:127.0.0.1:$model_port ;;
    mq) addr=unix:$tmp/net.sock ;;
    tap)
        addr=unix:$tmp/net.sock
        if [ "$(id -u)" != 0 ] || [ ! -w /dev/net/tun ]; then
            echo "1..0 # SKIP a tap in a network namespace needs root"
            exit 0
        fi
        netns=dm-vnet-$$
        if ! err=$(ip netns add "$netns" 2>&1); then
            echo "1..0 # SKIP ip netns add is not permitted here: $err"
            exit 0
        fi
        trap 'tap_cleanup; ip netns del "$netns" 2>/dev/null' EXIT
        ns=(ip netns exec "$netns")
        "${ns[@]}" sh -e -c 'ip link set lo up
            ip tuntap add dev dmtap0 mode tap
            ip addr add 10.0.3.1/24 dev dmtap0
            ip link set dmtap0 up' || bail "no tap in $netns"
        http_host=10.0.3.1 fwd_host=10.0.3.2 fwd_port=8080
        guest_srv=10.0.3.1 guest_net="dm.ip=10.0.3.2/24 dm.gw=10.0.3.1"
        model="virtio-net,tap=dmtap0"
        DM_VERBOSE=${DM_VERBOSE:-}      # its counts at exit, in the log
        ;;
    *) bail "unknown transport $transport" ;;
esac
if [ -n "$mq" ]; then
    smp=2 model="$model,queues=2" guest_net="$guest_net dm.mq=1"
    DM_VERBOSE=${DM_VERBOSE:-}          # its counts at exit, in the log
fi

# The file the guest fetches: 1 MiB of random bytes.
mkdir "$tmp/www"
head -c 1048576 /dev/urandom >"$tmp/www/blob"
want=$(sha256sum <"$tmp/www/blob" | cut -d' ' -f1)
# (/paced/blob: the same, slowly, for the crash run's loop.)
"${ns[@]}" /usr/bin/python3 "$here/paced-http.py" "$http_host" \
    "$http_port" "$tmp/www" >"$tmp/http.log" 2>&1 &
pids+=($!)

# start_model: serve the card, return once it listens (bounded), 1 if it
# exited or never did.
start_model() {
    # shellcheck disable=SC2086  # DM_VERBOSE: empty, or an option
    "${ns[@]}" "$dm" serve ${DM_VERBOSE---quiet} --model "$model" \
        --listen "$addr" "${state[@]}" 2>>"$tmp/dm.log" &
    model_pid=$!
    pids+=("$model_pid")
    for _ in $(seq 500); do
        kill -0 "$model_pid" 2>/dev/null || return 1
        case $addr in
            unix:*) [ -S "${addr#unix:}" ] && return 0 ;;
            tcp:*) (exec 3<>"/dev/tcp/127.0.0.1/$model_port") 2>/dev/null &&
                       return 0 ;;
        esac
        sleep 0.02
    done
    return 1
}
start_model || bail "dm-remote serve did not start: $(tail -n 3 "$tmp/dm.log")"
for _ in $(seq 500); do
    "${ns[@]}" bash -c "exec 3<>/dev/tcp/$http_host/$http_port" 2>/dev/null &&
        break
    sleep 0.02
done

timeout 200 "$build/qemu-system-x86_64" -accel tcg -M pc -m 256M -smp "$smp" \
    -display none -monitor none -no-reboot \
    -kernel "$build/guest/vmlinuz" \
    -initrd "$build/guest/initramfs.cpio.gz" \
    -append "$(cat "$build/guest/append") dm.run=virtio-net-check dm.srv=$guest_srv dm.http=$http_port dm.fwd=8080 $guest_net" \
    -serial "file:$tmp/guest.console" \
    -device "dm-proxy-pci,id=net0,server=$addr,timeout=30000" \
    2>>"$tmp/qemu.log" &
qemu_pid=$!
pids+=("$qemu_pid")

console() { tr -d '\r' 2>/dev/null <"$tmp/guest.console"; }
field() { console | sed -n "s/^DM-NET $1 //p" | head -n1; }

# Once the guest serves its file: fetch it through the hostfwd (retried:
# until nc listens, slirp's connection to the guest is refused and ours
# closes empty).
got='' restarted=''
for _ in $(seq 1800); do
    kill -0 "$qemu_pid" 2>/dev/null || break
    if [ "$transport" = crash ] && [ -z "$restarted" ] &&
       console | grep -q '^DM-NET crash-ready'; then
        kill -KILL "$model_pid"
        wait "$model_pid" 2>/dev/null
        restarted=no
        if start_model; then
            restarted=yes
            touch "$tmp/www/restarted"      # the guest's word to go on
        fi
    fi
    if console | grep -q '^DM-NET hostfwd-ready'; then
        for _ in $(seq 50); do
            got=$("${ns[@]}" /usr/bin/python3 - "$fwd_host" "$fwd_port" <<'PY'
import hashlib, socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60)
except OSError:
    sys.exit(0)
data = b""
while len(data) < 262144:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
s.close()
print(hashlib.sha256(data).hexdigest() if data else "")
PY
            )
            [ -n "$got" ] && break
            sleep 0.2
        done
        break
    fi
    sleep 0.1
done
wait "$qemu_pid"
guest_rc=$?

check "the guest ran and powered off (QEMU exit $guest_rc)" \
    [ "$guest_rc" = 0 ]
check "virtio_net found the card with the model's MAC" \
    [ "$(field mac)" = 52:54:00:12:34:56 ]
# CSUM 0, GUEST_CSUM 1, MRG_RXBUF 15, CTRL_VQ 17, VERSION_1 32.
features=$(field features)
check "the driver took CSUM, GUEST_CSUM, MRG_RXBUF, CTRL_VQ, VERSION_1" \
    [ "${features:0:1}${features:1:1}${features:15:1}${features:17:1}${features:32:1}" = 11111 ]
check "the link is up" [ "$(field carrier)" = 1 ]
if [ "$transport" = tap ]; then
    # GUEST_TSO4 7, HOST_TSO4 11: the kernel cuts and joins segments.
    check "on a tap the driver took GUEST_TSO4 and HOST_TSO4" \
        [ "${features:7:1}${features:11:1}" = 11 ]
fi
if [ -n "$mq" ]; then
    # MQ 22; the driver enables a pair per vCPU (VQ_PAIRS_SET 2).
    check "the driver took MQ" [ "${features:22:1}" = 1 ]
    check "it uses two queue pairs ($(field queues))" \
        [ "$(field queues)" = "rx-0 rx-1 tx-0 tx-1 " ]
    check "the file fetched from vCPU 0 is whole" \
        [ "$(field fetched-cpu0)" = "$want" ]
    check "the file fetched from vCPU 1 is whole" \
        [ "$(field fetched-cpu1)" = "$want" ]
else
    check "the card has one queue pair ($(field queues))" \
        [ "$(field queues)" = "rx-0 tx-0 " ]
fi
if [ "$transport" = tap ]; then
    check "the guest has 10.0.3.2/24" [ "$(field addr)" = 10.0.3.2/24 ]
    check "its default route is the tap's side" \
        [ "$(field route)" = 10.0.3.1 ]
else
    check "DHCP gave 10.0.2.15/24" [ "$(field addr)" = 10.0.2.15/24 ]
    check "the default route is slirp's gateway" \
        [ "$(field route)" = 10.0.2.2 ]
fi
check "the file fetched from the server's HTTP server is whole" \
    [ "$(field fetched)" = "$want" ]
check "the host fetched the guest's file (hostfwd, or the tap)" \
    [ "${got:-nothing}" = "$(field served)" ]
check "the guest's nc served it and exited" \
    [ "$(field hostfwd-done)" = 0 ]
if [ "$transport" = crash ]; then
    check "the model was killed and started again" [ "$restarted" = yes ]
    check "the guest fetched the file again through the restarted model" \
        [ "$(field refetched)" = "$want" ]
    check "the guest's driver has the link up after the restart" \
        [ "$(field carrier-after)" = 1 ]
    check "and saw it go down and come back ($(field carrier-downs) times)" \
        eval '[ "$(field carrier-downs)" -ge 1 ] 2>/dev/null'
    # The loop's fetch under way when the guest said crash-ready, with
    # part of the file (the kill followed within 0.1 s), ends whole, or
    # fails and a later one of the loop is whole; no fetch the guest took
    # for complete is cut.
    loop=$(console | sed -n 's/^DM-NET loop //p')
    ready=$(field crash-ready)
    verdict=$(awk -v k="${ready%% *}" -v want="$want" '
        $1 >= k && $2 == 0 && !whole { whole = $1 }
        $1 >= k && $2 != 0 && !whole { failed++ }
        $2 == 0 && $3 != want { cut++ }
        END { if (k !~ /^[0-9]+$/ || !whole || cut) print "bad"
              else print "fetch " whole " whole, " failed + 0 " failed before" }' \
        <<<"$loop")
    check "the loop's fetch under way at the kill (${ready:-none}: number, bytes) ended whole or was retried whole ($verdict)" \
        eval '[ -n "$verdict" ] && [ "$verdict" != bad ]'
    check "and the loop's last fetch, through the restarted model, is whole" \
        eval '[ "$(tail -n 1 <<<"$loop" | cut -d" " -f2,3)" = "0 $want" ]'
fi
# SIGUSR1: the card's state in the log (even under --quiet), serving on.
kill -USR1 "$model_pid" 2>/dev/null
for _ in $(seq 100); do
    grep -q 'virtio-net: .* frames waiting for the guest' "$tmp/dm.log" &&
        break
    sleep 0.05
done
check "SIGUSR1 logs the card's counts and queue" \
    grep -q 'virtio-net: [1-9][0-9]* frames to the guest' "$tmp/dm.log"
kill -TERM "$model_pid" 2>/dev/null
wait "$model_pid"
model_rc=$?
check "the model exited cleanly at SIGTERM (status $model_rc)" \
    [ "$model_rc" = 0 ]
if [ -n "$mq" ]; then
    # "per queue pair: 0: R0/T0, 1: R1/T1; 2 pairs of 2 in use"
    pairs=$(sed -n 's/.*per queue pair: 0: \([0-9]*\)\/\([0-9]*\), 1: \([0-9]*\)\/\([0-9]*\);.*/\1 \2 \3 \4/p' \
            "$tmp/dm.log" | tail -n 1)
    read -r rx0 tx0 rx1 tx1 <<<"${pairs:-x x x x}"
    both_tx=no any_rx=no
    [ "$tx0" -gt 0 ] 2>/dev/null && [ "$tx1" -gt 0 ] && both_tx=yes
    [ "$rx0" -gt 0 ] 2>/dev/null || [ "$rx1" -gt 0 ] 2>/dev/null &&
        any_rx=yes
    check "frames left on both transmit queues (to/from per pair: $pairs)" \
        [ "$both_tx" = yes ]
    check "frames reached the guest ($rx0 + $rx1)" [ "$any_rx" = yes ]
    check "the driver asked for both pairs (VQ_PAIRS_SET)" \
        grep -q 'virtio-net: 2 queue pairs of 2 in use$' "$tmp/dm.log"
    if [ "$transport" = crash ]; then
        check "the restarted model took both pairs from its state file" \
            grep -q '2 queue pairs of 2 in use (from the state file)' \
            "$tmp/dm.log"
    fi
fi
if [ "$transport" = tap ]; then
    # "N frames to the guest (J joined by the kernel), M from it (C to cut)"
    counts=$(sed -n 's/.*frames to the guest (\([0-9]*\) joined.* (\([0-9]*\) to cut).*/\1 \2/p' \
             "$tmp/dm.log" | tail -n 1)
    check "TCP went as segments the kernel joined and cut ($counts)" \
        eval '[ -n "$counts" ] && [ "${counts% *}" -gt 0 ] &&
              [ "${counts#* }" -gt 0 ]'
fi

if [ "$failed" != 0 ]; then
    echo "# console:"; console | tail -n 30 | sed 's/^/#   /'
    echo "# dm-remote:"; tail -n 10 "$tmp/dm.log" | sed 's/^/#   /'
    echo "# qemu:"; tail -n 10 "$tmp/qemu.log" | sed 's/^/#   /'
fi
echo "1..$n"
exit "$failed"
