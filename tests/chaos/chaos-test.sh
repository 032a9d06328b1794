#!/bin/bash
# Chaos: faults injected while a Linux guest works on remote devices
# (issue 22 point 4).  Network namespaces as hosts (tests/net/lan.sh): the
# orchestrator on "ctl", a server launcher on "srv" (its --images-dir a
# 32 MiB tmpfs), a client launcher on "c1".  The VM has a remote console
# (uart16550) and a remote disk (virtio-blk on a sparse image), both
# restart=on-failure; in the guest, blk-verify (tests/guest/blk-verify.c)
# runs again and again on the disk, each run's last line appended to
# /tmp/bv ("done writes=N ioerr=E bad=B").
#
# Each round injects one fault of each kind, in turn:
#   model-kill      SIGKILL of a model (the disk or the console)
#   model-stop      SIGSTOP of the disk's model for longer than the
#                   proxy's timeout (5 s), then SIGCONT
#   launcher-kill   SIGKILL of the server launcher, started again on its
#                   state directory (it adopts its models)
#   orch-kill       SIGKILL of the orchestrator, started again (it
#                   reconciles with the launchers)
#   link-drop       the server's link down for 8 s, then up
#   disk-full       the images file system filled while the guest writes
#                   new blocks; then emptied
# and after each checks:
#   - the guest is alive: its console answers a computation;
#   - the disk is back: a blk-verify run that started after the fault
#     ends with ioerr=0 bad=0, and no run ever read back bad data;
#   - the orchestrator's database agrees with what runs: every device of
#     the running VM is an instance the server launcher lists as running,
#     its pid alive and a dm-remote serve of that model; the launcher
#     lists no other; the client launcher's QEMU is the VM's.
#
#   chaos-test.sh BUILD [ROUNDS]      (1 by default: 6 faults)
#   CHAOS_FAULTS="link-drop" chaos-test.sh BUILD 4    (some kinds only)
# At the end a table: faults per kind, and how many passed.  TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: chaos-test.sh BUILD [ROUNDS]}" && pwd)
rounds=${2:-1}
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
    echo "1..0 # SKIP network namespaces and tmpfs need root and iproute2"
    exit 0
fi
meson_build=${ORCH_MESON_BUILD:-$build/meson}
dm=$meson_build/dm-remote/dm-remote
orch=$meson_build/orchestrator/dm-orchestrator
dmctl_bin=$meson_build/orchestrator/dmctl
chat=$here/../guest/console-chat.py
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/dm-chaos-XXXXXX)
images=$tmp/images
. "$here/../net/lan.sh"
pids=()
cleanup() {
    # The processes we started, and what they started in the namespaces
    # (lan_down); SIGCONT first: a stopped model would not die of TERM.
    kill -CONT "${pids[@]}" 2>/dev/null
    kill "${pids[@]}" 2>/dev/null
    wait 2>/dev/null
    lan_down
    umount "$images" 2>/dev/null
    if [ -z "${KEEP:-}" ]; then rm -rf "$tmp"; else echo "# kept $tmp"; fi
}
trap cleanup EXIT
. "$here/../tap.sh"
wait_for() {    # wait_for EXPR [TENTHS]: EXPR true within TENTHS / 10 s
    local i
    for i in $(seq "${2:-300}"); do eval "$1" && return 0; sleep 0.1; done
    return 1
}
export DMCTL_ORCHESTRATOR=unix:$tmp/orch.sock
dmctl() { timeout 120 "$dmctl_bin" "$@"; }
jget() { "$py" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

lan_up $$ ctl=192.0.2.10 srv=192.0.2.2 c1=192.0.2.1 ||
    bail "cannot set up the namespaces"
mkdir -p "$images" "$tmp/srv" "$tmp/c1"
mount -t tmpfs -o size=32m,mode=0700 dm-chaos "$images" ||
    bail "cannot mount a tmpfs for the images"
truncate -s 24M "$images/disk.img"

# launcher NAME ROLE ADDR ARGS...: a dm-remote daemon in NAME's namespace
# (its log appended: a restarted launcher keeps one file).
launcher() {
    local name=$1 role=$2 addr=$3
    shift 3
    ip netns exec "$(lan_ns "$name")" "$dm" daemon --role "$role" \
        --listen "tcp:$addr:7000" --insecure-plain-tcp --platform-id "$name" \
        --state-dir "$tmp/$name" "$@" >>"$tmp/$name.log" 2>&1 &
    eval "${name}_pid=$!"       # srv_pid: for fault_launcher_kill
    pids+=($!)
}
start_srv() {
    launcher srv server 192.0.2.2 --model-host 192.0.2.2 \
        --images-dir "$images"
}
start_orch() {
    ip netns exec "$(lan_ns ctl)" "$orch" --db "$tmp/db.sqlite" \
        --listen "unix:$tmp/orch.sock" >>"$tmp/orch.log" 2>&1 &
    orch_pid=$!
    pids+=("$orch_pid")
}
# launcher_get NAME PATH: the launcher's answer (JSON), from ctl's side.
launcher_get() {
    local addr
    case $1 in srv) addr=192.0.2.2 ;; c1) addr=192.0.2.1 ;; esac
    ip netns exec "$(lan_ns ctl)" "$py" -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=20).read().decode())' \
        "http://$addr:7000$2"
}
start_srv
launcher c1 client 192.0.2.1 --qemu "$build/qemu-system-x86_64"
start_orch
wait_for 'grep -q listening "$tmp/srv.log" && grep -q listening "$tmp/c1.log" &&
          [ -S "$tmp/orch.sock" ]' ||
    bail "launchers or orchestrator did not start"
dmctl platform add srv --role server --address tcp:192.0.2.2:7000 >/dev/null &&
    dmctl platform add c1 --role client --address tcp:192.0.2.1:7000 \
        >/dev/null || bail "cannot register the platforms"
dmctl vm create vm1 --memory 256M --kernel "$build/guest/vmlinuz" \
    --initrd "$build/guest/initramfs.cpio.gz" --append "$(cat "$build/guest/append")" \
    --restart on-failure --device console=uart16550 \
    --device disk0=virtio-blk@srv,file=disk.img >/dev/null ||
    bail "cannot define the VM"
dmctl vm start vm1 --on c1 >/dev/null || bail "cannot start the VM"
console=$(dmctl --json vm show vm1 |
          jget '[x["console"] for x in d["devices"] if x["console"]][0]')
console=${console#unix:}

# say STEP...: talk to the guest's console (console-chat.py), its output
# kept in $said; say_again: the same, retried for a device coming back.
said=
say() { said=$(timeout 100 "$chat" "$console" "${CHAT_WAIT:-60}" "$@" 2>&1)
        local rc=$?; echo "$said" >>"$tmp/console.log"; return $rc; }
say_again() {
    for _ in $(seq 40); do CHAT_WAIT=5 say "$@" && return 0; done
    return 1
}
CHAT_WAIT=240 say expect:DM-GUEST-READY "send:echo B-\$((6*7))" line:B-42 ||
    bail "the guest did not boot: $(tail -n 5 "$tmp/console.log")"
# The workload, and a probe of it: BV-TAG-<runs>-<runs with bad data>-
# <last run clean>.  A console keeps what it said before for a new
# client: every probe's answer carries a fresh TAG (not in the typed line).
say "send:. /usr/bin/dm-virtio-disk; : >/tmp/bv; (while :; do blk-verify /dev/vda 2 16 64 2>&1 | tail -n1 >>/tmp/bv; done) & bvc() { echo BV-\$1-\$(wc -l </tmp/bv)-\$(grep -c 'bad=[1-9]' /tmp/bv)-\$(tail -n1 /tmp/bv | grep -c 'ioerr=0 bad=0'); }; echo W-\$((6*7))" \
    line:W-42 ||
    bail "cannot start the workload: $(tail -n 5 "$tmp/console.log")"

# bv: the guest's probe, as three words: runs, bad runs, last clean.
bv() {
    local tag=$RANDOM$RANDOM
    say_again "send:bvc $tag" "expect:BV-$tag-" || return 1
    grep -o "BV-$tag-[0-9]*-[0-9]*-[0-9]*" <<<"$said" | tail -n1 |
        tr -- '-' ' ' | cut -d' ' -f3-
}
# disk_back: a run started after now ends clean, and none was ever bad.
disk_back() {
    local runs _
    read -r runs _ < <(bv) || return 1
    # The run in progress may have started before the fault: two more.
    for _ in $(seq 60); do
        local r b c
        read -r r b c < <(bv) || return 1
        [ "$b" = 0 ] || { echo "# bad data read back: $r runs, $b bad"
                          return 1; }
        if [ "$r" -ge $((runs + 2)) ] && [ "$c" = 1 ]; then return 0; fi
        sleep 2
    done
    echo "# the disk did not come back: $r runs (from $runs), last clean $c"
    return 1
}
alive() { local x=$RANDOM; say_again "send:echo A-\$(($x*6))" "line:A-$((x*6))"; }

# model_pid MODEL: the pid the server launcher gives the VM's MODEL.
instance_of() {     # instance_of DEVICE: the orchestrator's instance id
    dmctl --json vm show vm1 |
        jget "[x['instance'] for x in d['devices'] if x['name'] == '$1'][0]"
}
model_pid() {
    launcher_get srv "/v1/instances/$(instance_of "$1")" | jget 'd["pid"]'
}

# agree: the database, the launchers and the processes say the same.
agree() {
    local vm dms running want got pid qemu
    vm=$(dmctl --json vm show vm1) || { echo "# vm show failed"; return 1; }
    [ "$(jget 'd["state"] + " " + d["client"]' <<<"$vm")" = "running c1" ] ||
        { echo "# vm1 is not running on c1: $vm"; return 1; }
    want=$(jget '" ".join(sorted(x["instance"] for x in d["devices"]))' \
           <<<"$vm")
    running=$(launcher_get srv /v1/instances) ||
        { echo "# srv does not answer"; return 1; }
    got=$(jget '" ".join(sorted(x["id"] for x in d["instances"]
                                if x["state"] == "running"))' <<<"$running")
    [ "$want" = "$got" ] ||
        { echo "# the database says '$want', srv runs '$got'"; return 1; }
    for pid in $(jget '" ".join(str(x["pid"]) for x in d["instances"])' \
                 <<<"$running"); do
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null |
            grep -q "dm-remote serve --model=" ||
            { echo "# srv's pid $pid is no model"; return 1; }
    done
    dms=$(dmctl --json dm list) || return 1
    [ "$(jget '" ".join(sorted(x["instance"] for x in d["dms"]
                               if x["state"] == "running"))' <<<"$dms")" = \
      "$want" ] || { echo "# dm list disagrees: $dms"; return 1; }
    qemu=$(launcher_get c1 /v1/vms | jget '" ".join(str(x["pid"])
                                                   for x in d["vms"])')
    tr '\0' ' ' <"/proc/$qemu/cmdline" 2>/dev/null |
        grep -q "qemu-system-x86_64 -name vm1 " ||
        { echo "# c1's VM pid '$qemu' is not vm1's QEMU"; return 1; }
}

# ---- the faults ----
fault_model_kill() {
    local dev=$1 pid
    pid=$(model_pid "$dev") && kill -9 "$pid" || return 1
    # Its launcher restarts it (on-failure): a new pid.
    wait_for '[ "$(model_pid "$dev")" != "$pid" ] 2>/dev/null' 300
}
fault_model_stop() {
    local pid
    pid=$(model_pid disk0) && kill -STOP "$pid" || return 1
    sleep 8
    kill -CONT "$pid"
}
fault_launcher_kill() {
    # shellcheck disable=SC2154   # set by launcher's eval
    kill -9 "$srv_pid"
    wait "$srv_pid" 2>/dev/null
    start_srv
    wait_for 'launcher_get srv /v1/health >/dev/null 2>&1' 300
}
fault_orch_kill() {
    kill -9 "$orch_pid"
    wait "$orch_pid" 2>/dev/null
    rm -f "$tmp/orch.sock"
    start_orch
    wait_for '[ -S "$tmp/orch.sock" ] && dmctl vm list >/dev/null 2>&1' 300
}
fault_link_drop() {
    ip -n "$(lan_ns srv)" link set eth0 down || return 1
    sleep 8
    ip -n "$(lan_ns srv)" link set eth0 up
}
# ddw BLK: in the guest, 64 new blocks from BLK written and flushed; the
# answer DD-BLK-<dd's status + 100> (the typed line holds no "DD-BLK-1").
ddw() {
    CHAT_WAIT=120 say "send:dd if=/dev/zero of=/dev/vda bs=4096 seek=$1 count=64 conv=fsync 2>/dev/null; echo DD-$1-\$((\$?+100))" \
        "expect:DD-$1-1" || return 1
    grep -o "DD-$1-1[0-9]*" <<<"$said" | tail -n1
}
fault_disk_full() {
    local blk=$((3000 + RANDOM % 2000)) got
    dd if=/dev/zero of="$images/filler" bs=1M 2>/dev/null
    # New blocks of the sparse image: the model's writes get ENOSPC.
    got=$(ddw $blk) || return 1
    echo "# while full: $got (100: written, 101: an I/O error)"
    rm -f "$images/filler"
    # Space again: new writes go through.
    got=$(ddw $((blk + 64))) || return 1
    [ "$got" = "DD-$((blk + 64))-100" ] ||
        { echo "# with space again: $got"; return 1; }
}

# link-drop: the session between QEMU and the disk's model drops while
# the link is down (the model's 5 s socket timeouts) and QEMU reconnects
# once it is up; the requests in flight then are completed once each
# through the new session (found by this suite: they once waited for
# ever, issue 17; docs/protocol.md, "A lost link").
read -r -a kinds <<<"${CHAOS_FAULTS:-model-kill model-stop launcher-kill orch-kill link-drop disk-full}"
declare -A done_n ok_n
for k in "${kinds[@]}"; do done_n[$k]=0 ok_n[$k]=0; done
check "before any fault: the disk works and all agree" \
    eval 'disk_back && agree'
for r in $(seq "$rounds"); do
    for k in "${kinds[@]}"; do
        case $k in
            model-kill) if [ $((r % 2)) = 1 ]; then arg=disk0
                        else arg=console; fi ;;
            *) arg= ;;
        esac
        done_n[$k]=$((done_n[$k] + 1))
        if "fault_${k//-/_}" $arg && alive && disk_back && agree; then
            ok_n[$k]=$((ok_n[$k] + 1))
            ok "round $r: $k $arg: the guest answers, the disk is back, all agree"
        else
            not_ok "round $r: $k $arg"
            tail -n 3 "$tmp/console.log" | sed 's/^/#   /'
        fi
    done
done
echo "# faults injected, per kind (passed/injected):"
total=0
for k in "${kinds[@]}"; do
    printf '#   %-14s %d/%d\n' "$k" "${ok_n[$k]}" "${done_n[$k]}"
    total=$((total + done_n[$k]))
done
echo "#   total          $total"
if [ "$failed" != 0 ]; then
    for f in orch.log srv.log c1.log; do
        echo "# $f:"; tail -n 15 "$tmp/$f" | sed 's/^/#   /'
    done
fi
echo "1..$n"
exit $failed
