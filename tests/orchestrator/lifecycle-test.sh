#!/bin/bash
# The whole life of a VM through the orchestrator, with the real
# launchers, across hosts simulated by network namespaces (tests/net/
# lan.sh): the orchestrator on "ctl", a server platform on "srv", an
# owner server "own" (patent Fig. 6: it hosts no model, its router
# forwards sessions), two client platforms "c1" and "c2".  Device models
# listen on TCP on srv; the QEMUs on c1/c2 reach them over the bridge, the
# edu through own's router.  A Linux guest boots with a remote UART
# console and a remote edu; then: console, suspend/resume, a
# killed model reported and restarted, migration c1 -> c2 (console still
# answering, edu state intact), save to a file (no QEMU left, the models
# kept) and restore on c1 (console and edu state intact), an orchestrator
# restart (reconciled with the launchers: nothing lost, a second VM whose
# QEMU was killed meanwhile stopped), shutdown (models stopped, placements
# freed).  TAP.
#   tests/orchestrator/lifecycle-test.sh BUILD
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: lifecycle-test.sh BUILD}" && pwd)
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
    echo "1..0 # SKIP network namespaces need root and iproute2"
    exit 0
fi
meson_build=${ORCH_MESON_BUILD:-$build/meson}
dm=$meson_build/dm-remote/dm-remote
orch=$meson_build/orchestrator/dm-orchestrator
dmctl_bin=$meson_build/orchestrator/dmctl
chat=$here/../guest/console-chat.py
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/dm-life-XXXXXX)
. "$here/../net/lan.sh"
pids=()
cleanup() {
    kill "${pids[@]}" 2>/dev/null
    wait 2>/dev/null
    lan_down
    rm -rf "$tmp"
}
trap cleanup EXIT
. "$(dirname "$0")/../tap.sh"
wait_for() { for _ in $(seq 1000); do eval "$1" && return 0; sleep 0.01; done
             return 1; }
export DMCTL_ORCHESTRATOR=unix:$tmp/orch.sock
dmctl() { timeout 120 "$dmctl_bin" "$@"; }
# jq-like: jget EXPR reads JSON on stdin, prints EXPR of it (python).
jget() { "$py" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

lan_up $$ ctl=192.0.2.10 srv=192.0.2.2 c1=192.0.2.1 c2=192.0.2.3 \
    own=192.0.2.4 ||
    bail "cannot set up the namespaces"

# launcher NAME ROLE ADDR ARGS...: a dm-remote daemon in NAME's namespace.
launcher() {
    local name=$1 role=$2 addr=$3
    shift 3
    mkdir -p "$tmp/$name"
    ip netns exec "$(lan_ns "$name")" "$dm" daemon --role "$role" \
        --listen "tcp:$addr:7000" --insecure-plain-tcp --platform-id "$name" \
        --state-dir "$tmp/$name" "$@" >"$tmp/$name.log" 2>&1 &
    pids+=($!)
}
launcher srv server 192.0.2.2 --model-host 192.0.2.2
launcher own server 192.0.2.4 --model-host 192.0.2.4
launcher c1 client 192.0.2.1 --qemu "$build/qemu-system-x86_64" \
    --save-dir "$tmp/saved"
launcher c2 client 192.0.2.3 --qemu "$build/qemu-system-x86_64" \
    --save-dir "$tmp/saved"
start_orch() {
    ip netns exec "$(lan_ns ctl)" "$orch" --db "$tmp/db.sqlite" \
        --listen "unix:$tmp/orch.sock" >>"$tmp/orch.log" 2>&1 &
    orch_pid=$!
    pids+=($orch_pid)
}
start_orch
wait_for 'grep -q listening "$tmp/srv.log" && grep -q listening "$tmp/c1.log" &&
          grep -q listening "$tmp/c2.log" && grep -q listening "$tmp/own.log" &&
          [ -S "$tmp/orch.sock" ]' ||
    bail "launchers or orchestrator did not start"

check "platforms registered (the orchestrator reaches each launcher)" \
    eval 'dmctl platform add srv1 --role server --address tcp:192.0.2.2:7000 >/dev/null &&
          dmctl platform add c1 --role client --address tcp:192.0.2.1:7000 >/dev/null &&
          dmctl platform add c2 --role client --address tcp:192.0.2.3:7000 >/dev/null &&
          dmctl platform add own1 --role server --address tcp:192.0.2.4:7000 \
                --models "" >/dev/null'
check "a VM with a remote console UART and a remote edu (via own1) is defined" \
    eval 'dmctl vm create vm1 --memory 256M --kernel "$build/guest/vmlinuz" \
          --initrd "$build/guest/initramfs.cpio.gz" --append "$(cat "$build/guest/append")" \
          --restart on-failure --device console=uart16550 \
          --device edu0=edu@srv1,via=own1 >/dev/null'
out=$(dmctl vm start vm1 --on c1)
check "vm start places the models and launches QEMU on c1" \
    grep -q "running on c1" <<<"$out"
addr=$(dmctl --json dm list | jget 'd["dms"][1]["address"] if "dms" in d else d')
check "the models listen on TCP on the server platform ($addr)" \
    grep -q "^tcp:192.0.2.2:" <<<"$addr"
edu_inst=$(dmctl --json vm show vm1 | jget 'd["devices"][1]["instance"]')
route=$(dmctl --json vm show vm1 | jget 'd["devices"][1]["route"]')
check "the edu is routed by the owner's router ($route)" \
    grep -q "^tcp:192.0.2.4:" <<<"$route"
check "QEMU's command line points the edu at the router" \
    eval 'pgrep -af "qemu-system.*-name vm1 .*$tmp/" |
          grep -q "bus=pci,server=$route,.*device-model-id=$edu_inst,server-platform-id=srv1"'
check "the owner's launcher logged the route to the model" \
    grep -q "route $edu_inst: device model $edu_inst of vm .* -> $addr" "$tmp/own.log"
# sessions_via_own: the router's connections to the model's port on srv.
sessions_via_own() {
    ip netns exec "$(lan_ns own)" ss -Htn state established \
        dst "${addr#tcp:}" | wc -l
}
console=$(dmctl --json vm show vm1 | jget '[x["console"] for x in d["devices"] if x["console"]][0]')
console=${console#unix:}

# say STEP...: talk to the guest's console on the server (console-chat.py)
say() { timeout 100 "$chat" "$console" 90 "$@" >>"$tmp/console.log" 2>&1; }
# say_again STEP...: the same, retried (a device that is coming back).
say_again() {
    for _ in $(seq 30); do
        timeout 10 "$chat" "$console" 3 "$@" >>"$tmp/console.log" 2>&1 &&
            return 0
    done
    return 1
}
edu_find='for d in /sys/bus/pci/devices/*; do [ $(cat $d/device) = 0x11e8 ] && e=$d; done; b=$(head -1 $e/resource | cut -d" " -f1); echo 1 > $e/enable'
check "Linux boots with its console on the remote UART" \
    say expect:DM-GUEST-READY "send:$edu_find; echo BAR-\$b" expect:BAR-0x
check "the guest writes edu's liveness register" \
    say "send:devmem \$((b+4)) 32 0x12345678; echo L1-\$(devmem \$((b+4)) 32)" \
        line:L1-0xEDCBA987
check "the session runs through the owner: own holds a connection to the model" \
    eval '[ "$(sessions_via_own)" -ge 1 ]'

out=$(dmctl vm suspend vm1)
check "suspend stops the VM" eval '[[ "$out" == *suspended* ]] &&
    dmctl --json vm show vm1 | jget "d[\"state\"]" | grep -qx suspended'
check "suspending a suspended VM is refused" \
    eval '! dmctl vm suspend vm1 2>/dev/null'
check "resume runs it again, console answering" \
    eval 'dmctl vm resume vm1 >/dev/null &&
          say "send:echo R-\$((40+2))" line:R-42'
check "the console through the orchestrator's WebSocket, relayed by the server's launcher" \
    eval 'timeout 100 "$chat" "ws:unix:$tmp/orch.sock:/v1/ws/console/vm1" 90 \
              "send:echo W-\$((40+3))" line:W-43 >>"$tmp/console.log" 2>&1 &&
          grep -q "console of instance .*: a client attached" "$tmp/srv.log" ||
          { { tail -n 5 "$tmp/console.log"
              grep -i console "$tmp/orch.log" "$tmp/srv.log" | tail -n 5
            } | sed "s/^/#   /"; false; }'
check "the launcher's console WebSocket of an unknown instance is 404" \
    eval '[ "$(ip netns exec "$(lan_ns ctl)" python3 - <<PY
import sys
sys.path.insert(0, "$here/..")
import wslib
try:
    wslib.connect(wslib.open_address("tcp:192.0.2.2:7000"),
                  "/v1/ws/instances/nope/console")
    print(101)
except wslib.HandshakeError as e:
    print(e.status)
PY
)" = 404 ]'

# A model dies: its launcher reports it and restarts it (on-failure), the
# proxy reconnects, the guest's device works again.
# (The edu of srv's namespace: other tests may run edus of their own.)
edu_pid=$(for p in $(ip netns pids "$(lan_ns srv)"); do
              grep -qa -- "--model=edu" "/proc/$p/cmdline" 2>/dev/null &&
                  echo "$p"
          done | head -n1)
kill -9 "$edu_pid"
check "the launcher reports the killed model" \
    wait_for 'grep -q "died: killed by signal 9" "$tmp/srv.log"'
check "and restarts it: dm list shows a restart" \
    wait_for '[ "$(dmctl --json dm list | jget "[x.get(\"restarts\",0) for x in d[\"dms\"] if x[\"model\"]==\"edu\"][0]")" = 1 ]'
check "the guest's edu answers again (state lost with the process)" \
    say_again "send:echo I-\$(devmem \$b 32)" line:I-0x010000ED
say "send:devmem \$((b+4)) 32 0x0badf00d" >/dev/null

# The proxies' counters in the orchestrator's /metrics, asked of vm1's
# QEMU through c1's QMP relay: edu0 found its model again, its round
# trips counted (+Inf == _count), within its requests.  Retried: a QEMU
# slow under load is skipped from one scrape.
vm1_edu() {
    sed -n "s/^$1{vm=\"vm1\",device=\"edu0\",server=\"srv1\"${2:-}} //p" \
        "$tmp/metrics"
}
proxy_metrics_ok() {
    local n
    curl -sf --max-time 30 --unix-socket "$tmp/orch.sock" \
        http://orch/metrics >"$tmp/metrics" || return 1
    n=$(vm1_edu dm_proxy_round_trip_seconds_count)
    [ "${n:-0}" -gt 0 ] &&
        [ "$(vm1_edu dm_proxy_reconnects_total)" -ge 1 ] &&
        [ "$(vm1_edu dm_proxy_round_trip_seconds_bucket ',le="+Inf"')" = "$n" ] &&
        [ "$(vm1_edu dm_proxy_requests_total)" -ge "$n" ] &&
        grep -qx 'dm_proxy_connected{vm="vm1",device="edu0",server="srv1"} 1' \
            "$tmp/metrics"
}
check "/metrics: vm1's edu0 reconnected, its round trips in the histogram" \
    eval 'proxy_metrics_ok || proxy_metrics_ok || proxy_metrics_ok ||
          { grep "vm1\|skipped" "$tmp/metrics" | head -n 20 |
            sed "s/^/#   /"; false; }'

out=$(dmctl vm migrate vm1 --to c2 2>&1)
check "migrate moves the VM to c2" \
    eval 'dmctl --json vm show vm1 | jget "d[\"client\"]" | grep -qx c2'
check "migration printed progress" grep -q "migrating" <<<"$out$(cat "$tmp/orch.log")"
check "after migration the console still answers" \
    say "send:echo M-\$((6*7))" line:M-42
check "after migration edu's state is intact" \
    say "send:echo L2-\$(devmem \$((b+4)) 32)" line:L2-0xF4520FF2
check "the migrated QEMU reaches the edu through the router too" \
    eval 'pgrep -af "qemu-system.*-name vm1 .*$tmp/" | grep -q "bus=pci,server=$route," &&
          [ "$(sessions_via_own)" -ge 1 ]'
check "the old QEMU on c1 is gone" \
    eval '! for p in $(pgrep -f "qemu-system-x86_64 -name vm1 .*$tmp/"); do
              ip netns identify "$p"; done | grep -q c1'

# Save: the QEMU goes, the models (holding the device state) stay; the
# file is in the test's /tmp, which both client namespaces share.
out=$(dmctl vm save vm1 2>&1)
check "save writes the VM to a file" \
    eval '[[ "$out" == *"vm1: saved to $tmp/saved/vm1.vmstate"* ]] &&
          [ -s "$tmp/saved/vm1.vmstate" ]'
check "no QEMU runs for the saved VM" \
    eval '! pgrep -f "qemu-system.*-name vm1 .*$tmp/" >/dev/null'
check "its device models still run on the server" \
    eval '[ "$(dmctl --json dm list |
               jget "sum(x[\"state\"] == \"running\" for x in d[\"dms\"])")" = 2 ]'
out=$(dmctl vm restore vm1 --on c1 2>&1)
check "restore runs it again, on the other client" \
    grep -q "vm1: running on c1" <<<"$out"
check "after restore the console still answers" \
    say "send:echo S-\$((6*7))" line:S-42
check "after restore edu's state is intact" \
    say "send:echo L3-\$(devmem \$((b+4)) 32)" line:L3-0xF4520FF2
check "the restored QEMU reaches the edu through the same route" \
    eval '[ "$(dmctl --json vm show vm1 | jget "d[\"devices\"][1][\"route\"]")" = "$route" ] &&
          pgrep -af "qemu-system.*-name vm1 .*$tmp/" | grep -q "bus=pci,server=$route," &&
          [ "$(sessions_via_own)" -ge 1 ]'

# A second VM (firmware only) whose QEMU dies while the orchestrator is
# down: the restart finds it gone and stops it; vm1 is left as it is.
dmctl vm create vm2 --memory 64M --device e=edu >/dev/null &&
    dmctl vm start vm2 --on c2 >/dev/null
kill "$orch_pid"
wait "$orch_pid" 2>/dev/null
vm2_qemu=$(pgrep -f "qemu-system.*-name vm2 .*$tmp/")
check "a second VM ran, its QEMU is killed while the orchestrator is down" \
    eval '[ -n "$vm2_qemu" ] && kill -9 $vm2_qemu'
start_orch
wait_for '[ -S "$tmp/orch.sock" ]'
check "after an orchestrator restart nothing is lost" \
    eval 'dmctl --json vm show vm1 | jget "d[\"state\"] + \" \" + d[\"client\"]" |
          grep -qx "running c1" &&
          [ "$(dmctl platform list | grep -c client)" = 2 ]'
check "the restart asked every launcher and repaired one VM" \
    grep -q "reconcile: 4 launcher(s) answered, 1 change(s)" "$tmp/orch.log"
check "the VM whose QEMU died is stopped, its model deleted" \
    eval 'dmctl --json vm show vm2 | jget "d[\"state\"]" | grep -qx stopped &&
          [ "$(dmctl --json dm list | jget "len(d[\"dms\"])")" = 2 ] &&
          grep -q "reconcile: VM vm2: its QEMU is gone" "$tmp/orch.log"'

out=$(dmctl vm stop vm1 --timeout 3)
check "stop shuts the VM down" grep -q stopped <<<"$out"
check "its models are stopped and placements freed" \
    eval '[ "$(dmctl --json dm list | jget "len(d[\"dms\"])")" = 0 ] &&
          ! pgrep -f "dm-remote serve --model=.*$tmp" >/dev/null'
check "no QEMU is left" eval '! pgrep -f "qemu-system.*-name vm1 .*$tmp/" >/dev/null'
check "the route is deleted on the owner" \
    grep -q "route $edu_inst: deleted" "$tmp/own.log"
check "the owner can be removed once no device names it" \
    eval '! dmctl platform remove own1 2>/dev/null &&
          dmctl vm remove vm1 >/dev/null && dmctl vm remove vm2 >/dev/null &&
          dmctl platform remove own1 >/dev/null'
if [ "$failed" != 0 ]; then
    # What the guest's console said, for a step that did not see its line.
    echo "# the console's last lines:"
    tail -n 30 "$tmp/console.log" 2>/dev/null | sed 's/^/#   /'
fi
echo "1..$n"
exit $failed
