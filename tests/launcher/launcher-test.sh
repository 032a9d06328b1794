#!/bin/bash
# dm-remote daemon, the launcher: its command line, the server role
# (device-model instances: launch, bind, token, errors, death, restart,
# stop; routes through the owner server's router) and the client role
# (QEMU under -accel qtest, the QMP relay), and a SIGTERM that leaves
# nothing behind.  TAP.
#
#   launcher-test.sh BUILD_ROOT DM_REMOTE
set -u
build_root=$1
bin=$2
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
dir=$(mktemp -d /tmp/dm-launcher-XXXXXX)
daemons=()
. "$here/../tap.sh"      # stop_pids; this file has its own pass/fail/check

cleanup() {
    stop_pids "${daemons[@]}"
    rm -rf "$dir"
}
trap cleanup EXIT

. "$here/lib.sh"

# stop_daemon PID: SIGTERM; true if it exits 0.
stop_daemon() {
    kill -TERM "$1"
    wait "$1"
}

tcp_accepts() {
    "$py" -c 'import socket, sys
socket.create_connection((sys.argv[1], int(sys.argv[2])), 2).close()' \
        "$1" "$2" 2>/dev/null
}
gone() { ! kill -0 "$1" 2>/dev/null; }
# The children of a process, from /proc.
children() { cat /proc/"$1"/task/*/children 2>/dev/null; }

echo "TAP version 13"

# --- the command line -------------------------------------------------

# usage NAME PATTERN ARGS...: exit status 2 and a one-line error.
usage() {
    local name=$1 pattern=$2 out rc
    shift 2
    out=$(timeout 20 "$bin" daemon "$@" 2>&1 </dev/null)
    rc=$?
    if [ "$rc" != 2 ]; then
        fail "$name" "exit $rc, wanted 2: $out"
    elif ! head -n1 <<<"$out" | grep -q -- "$pattern"; then
        fail "$name" "first line lacks '$pattern': $out"
    else
        pass "$name"
    fi
}
common=(--listen "unix:$dir/x.sock" --platform-id p1 --state-dir "$dir/x")

out=$("$bin" daemon --help 2>&1)
if [ $? = 0 ] && grep -q -- "--port-range=LO-HI" <<<"$out" &&
   grep -q -- "--role=ROLE" <<<"$out"; then
    pass help
else
    fail help "$out"
fi
usage unknown-option "unknown option '--frob'" --frob
usage missing-value "option '--role' needs a value" --role
usage missing-role "missing --role" "${common[@]}"
usage bad-role "invalid --role 'both'" --role both "${common[@]}"
usage missing-listen "missing --listen" --role server --platform-id p1 \
    --state-dir "$dir/x"
usage missing-platform "missing --platform-id" --role server \
    --listen "unix:$dir/x.sock" --state-dir "$dir/x"
usage bad-platform "invalid --platform-id 'a/b'" --role server \
    --listen "unix:$dir/x.sock" --platform-id a/b --state-dir "$dir/x"
usage missing-state-dir "missing --state-dir" --role server \
    --listen "unix:$dir/x.sock" --platform-id p1
usage bad-listen "bad --listen: unsupported address 'udp:1:2'" \
    --role server --listen udp:1:2 --platform-id p1 --state-dir "$dir/x"
# Plain HTTP on TCP runs QEMU for anyone: only when asked for by name.
usage plain-tcp-refused "a tcp: --listen needs --tls-creds" \
    --role server --listen tcp:127.0.0.1:0 --platform-id p1 \
    --state-dir "$dir/x"
usage bad-capacity "invalid --capacity '0'" --role server "${common[@]}" \
    --capacity 0
usage bad-port-range "invalid --port-range '5-2'" --role server \
    "${common[@]}" --port-range 5-2
usage bad-models "unknown model 'nope' in --models" --role server \
    "${common[@]}" --models edu,nope
usage qemu-on-server "--qemu and --save-dir are for --role client" --role server \
    "${common[@]}" --qemu /bin/true
usage models-on-client "are for --role server" --role client \
    "${common[@]}" --models edu
usage vnc-host-on-client "are for --role server" --role client \
    "${common[@]}" --vnc-host 127.0.0.1
usage bad-qemu "--qemu '$dir/none' is not an executable" --role client \
    "${common[@]}" --qemu "$dir/none"
usage unexpected-argument "unexpected argument 'extra'" --role server \
    "${common[@]}" extra

# --- server role ------------------------------------------------------

api=unix:$dir/server.sock
state=$dir/server-state
# Below the kernel's ephemeral ports (32768-60999), which any outgoing
# connection of a test running beside this one may take.
lo=$((10000 + ($$ % 400) * 20))
start_daemon server --role server --listen "$api" --platform-id srv-1 \
    --state-dir "$state" --port-range "$lo-$((lo + 19))"
server_pid=$pid

req "$api" GET /v1/health
check health 200 '"role":"server"'
if [ "$(jf platform)" = srv-1 ] && [ "$(jf capacity)" = 16 ] &&
   [ "$(jf running)" = 0 ] &&
   [ "$(jf models.0.name) $(jf models.0.bus) $(jf models.0.props.0.name)" \
     = "bochs-display pci vgamem" ] &&
   [ "$(jf models.1.name) $(jf models.1.bus) $(jf models.2.name)" \
     = "edu pci edu-msix" ] &&
   [ "$(jf models.3.name) $(jf models.3.bus) $(jf models.3.props.0.name)" \
     = "mc146818 isa base" ] &&
   [ "$(jf models.4.name) $(jf models.4.bus) $(jf models.4.props.0.name)" \
     = "membar pci size" ] &&
   [ "$(jf models.5.name) $(jf models.5.bus) $(jf models.5.props.0.name)" \
     = "uart16550 isa console" ] &&
   [ "$(jf models.6.name) $(jf models.6.bus)" = "virtio-blk pci" ] &&
   [ "$(jf models.7.name) $(jf models.7.bus)" = "virtio-keyboard pci" ] &&
   [ "$(jf models.8.name) $(jf models.8.bus)" = "virtio-net pci" ] &&
   [ "$(jf models.9.name) $(jf models.9.bus)" = "virtio-tablet pci" ] &&
   ! jf models.10 >/dev/null; then
    pass health-members
else
    fail health-members "$body"
fi

# edu on tcp, bound to identifiers and a token.
req "$api" POST /v1/instances '{"id": "dm-1", "model": "edu",
    "bind": {"vm": "vm-7", "hypervisor": "hv-1", "client_platform": "cl-1",
             "device_model": "dm-1", "server_platform": "srv-1"},
    "token": "s3cret-t0ken"}'
check launch-tcp 201 '"state":"running"'
pid1=$(jf pid)
addr1=$(jf address)
port1=${addr1##*:}

# /metrics: Prometheus text, the instance counted by model and state.
# The last reply ($status, $ctype, $body) is kept for the checks after.
metrics() {
    local s=$status c=$ctype b=$body
    req "$1" GET /metrics
    if [ "$status" = 200 ] &&
       [ "$ctype" = "text/plain; version=0.0.4; charset=utf-8" ] &&
       grep -qF -- "$2" <<<"$body" && grep -qF -- "$3" <<<"$body"; then
        pass "$4"
    else
        fail "$4" "$status $ctype: $body"
    fi
    status=$s ctype=$c body=$b
}
metrics "$api" 'dm_launcher_instances{model="edu",state="running"} 1 ' \
    'dm_launcher_instances{model="edu-msix",state="running"} 0 ' \
    server-metrics-instances
metrics "$api" 'dm_launcher_info{platform="srv-1",role="server"} 1 ' \
    'dm_launcher_instance_restarts{model="edu"} 0 ' \
    server-metrics-info-restarts
# Each family's TYPE before its first sample (whichever model sorts first).
metrics "$api" '# TYPE dm_launcher_instances gauge dm_launcher_instances{model=' \
    '# TYPE dm_launcher_instance_restarts gauge dm_launcher_instance_restarts{model=' \
    server-metrics-types
if [ "$addr1" = "tcp:127.0.0.1:$lo" ] && [ "$(jf bind.vm)" = vm-7 ] &&
   [ "$(jf bind.server_platform)" = srv-1 ] && [ "$(jf console)" = null ] &&
   [ "$(jf restarts)" = 0 ] && [ "$(jf exit)" = null ] &&
   ! grep -q s3cret <<<"$body"; then
    pass launch-tcp-members
else
    fail launch-tcp-members "$body"
fi
if tcp_accepts 127.0.0.1 "$port1"; then
    pass tcp-model-accepts
else
    fail tcp-model-accepts "nothing on port $port1"
fi
cmdline=$(tr '\0' ' ' <"/proc/$pid1/cmdline")
if grep -q -- "serve --model=edu --state-file=$state/instances/dm-1/state --listen=tcp:127.0.0.1:$port1" <<<"$cmdline" &&
   grep -q -- "--bind-vm=vm-7 --bind-hypervisor=hv-1" <<<"$cmdline" &&
   grep -q -- "--bind-client-platform=cl-1 --bind-device-model=dm-1" \
       <<<"$cmdline" &&
   grep -q -- "--bind-server-platform=srv-1" <<<"$cmdline" &&
   grep -q -- "--token-file=$state/instances/dm-1/token" <<<"$cmdline" &&
   ! grep -q s3cret <<<"$cmdline"; then
    pass model-argv
else
    fail model-argv "$cmdline"
fi
if [ "$(stat -c %a "$state/instances/dm-1/token")" = 600 ] &&
   [ "$(cat "$state/instances/dm-1/token")" = s3cret-t0ken ] &&
   ! grep -rq s3cret "$dir/server.err" "$state"/instances/*/log; then
    pass token-file
else
    fail token-file "$(ls -l "$state")"
fi
# Not on any command line of the machine: the launcher's children, theirs.
# (a class in the pattern: grep's own command line must not match it)
leaks=$(grep -la "s3cret-t0ke[n]" /proc/[0-9]*/cmdline 2>/dev/null)
if [ -z "$leaks" ]; then
    pass token-not-in-ps
else
    fail token-not-in-ps "$leaks"
fi

# edu on unix, with a restart policy.
# null members (as the orchestrator sends them) are absent ones.
req "$api" POST /v1/instances '{"id": "dm-2", "model": "edu",
    "transport": "unix", "restart": "on-failure", "console": false,
    "bind": {"hypervisor": null}, "token": null}'
check launch-unix 201 "\"address\":\"unix:$state/instances/dm-2/sock\".*\"bind\":{}"
pid2=$(jf pid)
if [ -S "$state/instances/dm-2/sock" ] && [ "$(jf restart)" = on-failure ]; then
    pass unix-socket
else
    fail unix-socket "$(ls -l "$state")"
fi

# A UART with its console on a UNIX socket.
req "$api" POST /v1/instances '{"id": "uart-1", "model": "uart16550",
    "transport": "unix", "console": true}'
check launch-console 201 "\"console\":\"unix:$state/instances/uart-1/console\""
if [ -S "$state/instances/uart-1/console" ]; then
    pass console-socket
else
    fail console-socket "$(ls -l "$state")"
fi

req "$api" GET /v1/instances
check list 200 '"id":"dm-1"'
if [ "$(jf instances.2.id)" != "" ] && [ "$(jf instances.3 2>&1)" = "" ]; then
    pass list-three
else
    fail list-three "$body"
fi
req "$api" GET /v1/health
if [ "$(jf running)" = 3 ]; then pass health-running; else
    fail health-running "$body"; fi

# A tablet: its input link is the launcher's to place, in the instance's
# directory (docs/input-link.md), not a client's.
req "$api" POST /v1/instances '{"id": "tab-9", "model": "virtio-tablet",
    "props": {"input": "unix:/tmp/elsewhere"}}'
check input-prop 400 'the launcher gives it'
# Nor a display's VNC address or its input links: no path or port on
# this host is a client's to choose.
for prop in vnc keyboard tablet vnc-password vnc-password-file; do
    req "$api" POST /v1/instances "{\"id\": \"gfx-9\", \"model\": \"bochs-display\",
        \"props\": {\"$prop\": \"unix:/tmp/elsewhere\"}}"
    check "display-$prop-prop" 400 'not taken through the API'
done
req "$api" POST /v1/instances '{"id": "tab-1", "model": "virtio-tablet",
    "transport": "unix"}'
check launch-input 201 "\"input\":\"unix:$state/instances/tab-1/input\""
if [ -S "$state/instances/tab-1/input" ] &&
   [ "$(stat -c %a "$state/instances/tab-1/input")" = 600 ]; then
    pass input-socket
else
    fail input-socket "$(ls -l "$state/instances/tab-1")"
fi
# Gone with the instance, by the reply.
req "$api" DELETE /v1/instances/tab-1
check delete-tablet 200 '"state":"stopped"'
if [ ! -e "$state/instances/tab-1/input" ]; then pass input-removed; else
    fail input-removed "$(ls -l "$state/instances/tab-1")"; fi

# A model's own properties go through as given, checked against the
# model: a network card of two queue pairs (docs/dm-remote.md), and one
# of nine refused.
req "$api" POST /v1/instances '{"id": "net-9", "model": "virtio-net",
    "props": {"queues": 9}}'
check net-queues-range 400 "'queues' must be a number from 1 to 8"
req "$api" POST /v1/instances '{"id": "net-1", "model": "virtio-net",
    "transport": "unix", "props": {"net": "user", "queues": 2}}'
check launch-net-queues 201 '"queues":"2"'
net_pid=$(jf pid)
if tr '\0' ' ' <"/proc/$net_pid/cmdline" 2>/dev/null |
       grep -q 'virtio-net,.*queues=2'; then
    pass net-queues-model
else
    fail net-queues-model "$(tr '\0' ' ' <"/proc/$net_pid/cmdline" 2>&1)"
fi
req "$api" DELETE /v1/instances/net-1
check delete-net 200 '"state":"stopped"'

# Errors.
req "$api" POST /v1/instances '{"id": "dm-1", "model": "edu"}'
check duplicate-id 409 "instance 'dm-1' already exists"
req "$api" POST /v1/instances '{"id": "dm-9", "model": '
check bad-json 400 '"error":"bad JSON'
req "$api" POST /v1/instances '["edu"]'
check not-an-object 400 "must be a JSON object"
req "$api" POST /v1/instances '{"id": "dm-9"}'
check missing-model 400 "missing 'model'"
req "$api" POST /v1/instances '{"model": "edu"}'
check missing-id 400 "missing 'id'"
req "$api" POST /v1/instances '{"id": "dm-9", "model": "floppy"}'
check unknown-model 400 "unknown model 'floppy'"
req "$api" POST /v1/instances '{"id": "a b", "model": "edu"}'
check bad-id 400 "bad id 'a b'"
req "$api" POST /v1/instances "{\"id\": \"$(printf 'x%.0s' $(seq 65))\", \"model\": \"edu\"}"
check long-id 400 "bad id"
# "." and ".." are directories: such an instance could never be deleted.
req "$api" POST /v1/instances '{"id": "..", "model": "edu"}'
check dotdot-id 400 "bad id '..'"
req "$api" POST /v1/instances '{"id": "dm-9", "model": 5}'
check wrong-type 400 "'model' must be a string"
req "$api" POST /v1/instances '{"id": "dm-9", "model": "edu", "transport": "udp"}'
check bad-transport 400 "unknown transport 'udp'"
req "$api" POST /v1/instances '{"id": "dm-9", "model": "edu", "restart": "always"}'
check bad-restart 400 "unknown restart policy 'always'"
req "$api" POST /v1/instances '{"id": "dm-9", "model": "edu", "console": true}'
check no-console 400 "model 'edu' has no console"
req "$api" POST /v1/instances '{"id": "dm-9", "model": "edu", "bind": {"vm": 3}}'
check bad-bind 400 "'vm' must be a string"
req "$api" POST /v1/instances '{"id": "dm-9", "model": "edu", "bind": {"cpu": "x"}}'
check unknown-bind 400 "unknown 'bind' member 'cpu'"
req "$api" POST /v1/instances '{"id": "dm-9", "model": "edu", "token": "a\nb"}'
check bad-token 400 "'token' must be"
req "$api" GET /v1/instances/dm-9
check unknown-instance 404 "no instance 'dm-9'"
req "$api" GET /v1/instances/bad%20id
check bad-id-in-path 400 "bad id"
req "$api" GET /v1/nothing
check unknown-path 404 "no such path"
req "$api" GET /v1/vms
check client-path-on-server 404 "no such path on a server platform"
req "$api" PUT /v1/instances '{}'
check wrong-method 405 "method PUT not allowed"
req "$api" POST /v1/instances/dm-1 '{}'
check wrong-method-item 405 "allowed: GET, DELETE"
req "$api" GET /v1/instances/dm-1
check get-instance 200 '"id":"dm-1"'

# A model killed outright (restart "never"): exited, signal 9, reported.
kill -KILL "$pid1"
instance_state() {
    req "$api" GET "/v1/instances/$1"
    [ "$(jf state)" = "$2" ]
}
if wait_for instance_state dm-1 exited && [ "$(jf exit.signal)" = 9 ] &&
   [ "$(jf pid)" = null ]; then
    pass death-reported
else
    fail death-reported "$body"
fi
if grep -q "instance dm-1 (edu) died: killed by signal 9" "$dir/server.err"
then
    pass death-logged
else
    fail death-logged "$(cat "$dir/server.err")"
fi
sleep 0.5   # well past the restart delay: "never" must stay exited
req "$api" GET /v1/instances/dm-1
if [ "$(jf state)" = exited ] && [ "$(jf restarts)" = 0 ]; then
    pass never-restarted
else
    fail never-restarted "$body"
fi

# restart "on-failure": back on the same address with a new process.
kill -KILL "$pid2"
restarted() {
    instance_state dm-2 running && [ "$(jf pid)" != "$pid2" ]
}
if wait_for restarted && [ "$(jf restarts)" = 1 ] &&
   [ "$(jf address)" = "unix:$state/instances/dm-2/sock" ] &&
   [ "$(jf exit.signal)" = 9 ] && [ -S "$state/instances/dm-2/sock" ] &&
   kill -0 "$(jf pid)"; then
    pass restarted
else
    fail restarted "$body"
fi
pid2=$(jf pid)

# At most 5 restarts in 60 s: the sixth death is final.
req "$api" POST /v1/instances '{"id": "flaky", "model": "edu",
    "transport": "unix", "restart": "on-failure"}'
check launch-flaky 201
fpid=$(jf pid)
for i in 1 2 3 4 5; do
    kill -KILL "$fpid"
    flaky_back() {
        instance_state flaky running && [ "$(jf pid)" != "$fpid" ]
    }
    wait_for flaky_back || break
    fpid=$(jf pid)
done
kill -KILL "$fpid"
wait_for instance_state flaky exited
sleep 0.5   # past the restart delay: it must stay exited
req "$api" GET /v1/instances/flaky
if [ "$(jf state)" = exited ] && [ "$(jf restarts)" = 5 ] &&
   grep -q "instance flaky (edu): 5 restarts within 60 s, giving up" \
       "$dir/server.err"; then
    pass restart-budget
else
    fail restart-budget "$body"
fi
req "$api" DELETE /v1/instances/flaky
check delete-flaky 200

# DELETE: the process is gone, its socket and token too, by the reply.
req "$api" DELETE /v1/instances/dm-2
check delete 200 '"state":"stopped"'
if gone "$pid2" && [ ! -e "$state/instances/dm-2/sock" ]; then
    pass delete-cleans-up
else
    fail delete-cleans-up "pid $pid2 or $(ls "$state")"
fi
req "$api" GET /v1/instances/dm-2
check deleted-is-unknown 404
req "$api" DELETE /v1/instances/dm-1
check delete-exited 200 '"state":"stopped"'
if [ ! -e "$state/instances/dm-1/token" ]; then pass token-removed; else
    fail token-removed "$(ls "$state")"; fi

# The freed port is handed out again.
req "$api" POST /v1/instances '{"id": "dm-3", "model": "edu-msix"}'
check relaunch-tcp 201 "\"address\":\"tcp:127.0.0.1:$lo\""

# SIGTERM: every model stopped, the API socket removed, exit 0.
kids=$(children "$server_pid")
if [ "$(wc -w <<<"$kids")" = 2 ]; then pass children-counted; else
    fail children-counted "children: $kids"; fi
if stop_daemon "$server_pid"; then pass server-sigterm; else
    fail server-sigterm "exit status $?"; fi
left=
for k in $kids; do kill -0 "$k" 2>/dev/null && left+=" $k"; done
if [ -z "$left" ] && [ ! -e "$dir/server.sock" ] &&
   [ ! -e "$state/instances/uart-1/console" ] && [ ! -e "$state/instances/uart-1/sock" ]; then
    pass server-no-leftovers
else
    fail server-no-leftovers "left:$left; $(ls "$dir" "$state")"
fi

# A TCP API on port 0, a capacity of 1, a model list.
start_daemon small --role server --listen tcp:127.0.0.1:0 --insecure-plain-tcp \
    --platform-id srv-2 --state-dir "$dir/small" --capacity 1 \
    --models uart16550 --port-range "$((lo + 10))-$((lo + 10))"
small_pid=$pid
tapi=$(sed -n 's/.*listening on \(tcp:127\.0\.0\.1:[0-9]*\)$/\1/p' \
       "$dir/small.err")
if [ -n "$tapi" ] && [ "${tapi##*:}" != 0 ]; then pass tcp-api-port; else
    fail tcp-api-port "$(cat "$dir/small.err")"; fi
req "$tapi" GET /v1/health
# Each model with its bus and properties, from its declaration.
check tcp-api-health 200 '"models":\[{"name":"uart16550","bus":"isa","props":\[{"name":"console","type":"string","default":"stdio","help":"[^"]*","required":false},.*\],"capacity":1'
req "$tapi" POST /v1/instances '{"id": "e", "model": "edu"}'
check model-not-offered 400 "this platform offers uart16550"
req "$tapi" POST /v1/instances '{"id": "u1", "model": "uart16550"}'
check one-port 201 "tcp:127.0.0.1:$((lo + 10))"
req "$tapi" POST /v1/instances '{"id": "u2", "model": "uart16550"}'
check capacity-full 409 "capacity full"
if stop_daemon "$small_pid"; then pass small-sigterm; else
    fail small-sigterm "exit status $?"; fi

# No free port: the range's only port is held by someone else.
"$py" -c 'import socket,sys,time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
time.sleep(60)' "$((lo + 11))" &
holder=$!
daemons+=("$holder")
wait_for tcp_accepts 127.0.0.1 "$((lo + 11))"
start_daemon busy --role server --listen "unix:$dir/busy.sock" \
    --platform-id srv-3 --state-dir "$dir/busy" \
    --port-range "$((lo + 11))-$((lo + 11))"
busy_pid=$pid
req "unix:$dir/busy.sock" POST /v1/instances '{"id": "e", "model": "edu"}'
check no-free-port 409 "no free port in $((lo + 11))-$((lo + 11))"
req "unix:$dir/busy.sock" POST /v1/routes '{"id": "r", "device_model": "d",
    "target": "unix:/nowhere"}'
check route-no-free-port 409 "no free port in $((lo + 11))-$((lo + 11))"
req "unix:$dir/busy.sock" GET /v1/routes
check route-no-free-port-no-route 200 '"routes":\[\],"address":null'
stop_daemon "$busy_pid"
kill "$holder" 2>/dev/null

# --- server role: routes through the owner server's router --------------

qemu=$build_root/qemu-system-x86_64
oapi=unix:$dir/owner.sock
ostate=$dir/owner-state
olo=$((lo + 12))
start_daemon owner --role server --listen "$oapi" --platform-id srv-4 \
    --state-dir "$ostate" --port-range "$olo-$((olo + 3))"
owner_pid=$pid

req "$oapi" GET /v1/routes
check routes-empty 200 '{"routes":\[\],"address":null,"router":null}'
req "$oapi" GET /v1/health
check health-no-router 200 '"router":null'

# Every 400, 404 and 405 before any router exists.
req "$oapi" POST /v1/routes '{"id": "r1", "device_model": '
check route-bad-json 400 '"error":"bad JSON'
req "$oapi" POST /v1/routes '["r1"]'
check route-not-an-object 400 "must be a JSON object"
req "$oapi" POST /v1/routes '{"device_model": "dm-e", "target": "unix:/x"}'
check route-missing-id 400 "missing 'id'"
req "$oapi" POST /v1/routes '{"id": "r1", "target": "unix:/x"}'
check route-missing-device-model 400 "missing 'device_model'"
req "$oapi" POST /v1/routes '{"id": "r1", "device_model": "dm-e"}'
check route-missing-target 400 "missing 'target'"
req "$oapi" POST /v1/routes '{"id": "r 1", "device_model": "dm-e", "target": "unix:/x"}'
check route-bad-id 400 "bad id 'r 1'"
req "$oapi" POST /v1/routes '{"id": "r1", "device_model": "dm=e", "target": "unix:/x"}'
check route-bad-device-model 400 "bad device_model 'dm=e'"
req "$oapi" POST /v1/routes '{"id": "r1", "device_model": "dm-e", "vm": "", "target": "unix:/x"}'
check route-bad-vm 400 "bad vm ''"
req "$oapi" POST /v1/routes '{"id": "r1", "device_model": "dm-e", "vm": 7, "target": "unix:/x"}'
check route-vm-wrong-type 400 "'vm' must be a string"
req "$oapi" POST /v1/routes '{"id": 1, "device_model": "dm-e", "target": "unix:/x"}'
check route-id-wrong-type 400 "'id' must be a string"
req "$oapi" POST /v1/routes '{"id": "r1", "device_model": "dm-e", "target": "udp:1:2"}'
check route-bad-target 400 "bad target 'udp:1:2': unsupported address"
req "$oapi" POST /v1/routes '{"id": "r1", "device_model": "dm-e", "target": "tcp:127.0.0.1"}'
check route-target-no-port 400 "bad target 'tcp:127.0.0.1': missing port"
req "$oapi" POST /v1/routes '{"id": "r1", "device_model": "dm-e", "target": "unix:/a b"}'
check route-target-space 400 "bad target: no spaces"
req "$oapi" POST /v1/routes '{"id": "r1", "device_model": "dm-e", "target": "unix:/a,vm=x"}'
check route-target-vm-syntax 400 "',vm=' in it"
req "$oapi" POST /v1/routes '{"id": "r1", "device_model": "dm-e", "target": ["unix:/x"]}'
check route-target-wrong-type 400 "'target' must be a string"
req "$oapi" GET /v1/routes/r1
check route-unknown 404 "no route 'r1'"
req "$oapi" DELETE /v1/routes/r1
check route-delete-unknown 404 "no route 'r1'"
req "$oapi" GET /v1/routes/a%20b
check route-bad-id-in-path 400 "bad id 'a b'"
req "$oapi" PUT /v1/routes '{}'
check routes-wrong-method 405 "allowed: GET, POST"
req "$oapi" POST /v1/routes/r1 '{}'
check route-wrong-method 405 "allowed: GET, DELETE"
req "$oapi" GET /v1/
check empty-path 404 "no such path"
req "$oapi" GET /v1/routes/r1/x
check route-subpath 404 "no such path on a server platform"
if [ ! -e "$ostate/routes" ] && [ -z "$(children "$owner_pid")" ]; then
    pass route-errors-start-nothing
else
    fail route-errors-start-nothing "$(ls "$ostate"); $(children "$owner_pid")"
fi

# The I/O server: an edu instance of the same launcher, bound to vm-7.
req "$oapi" POST /v1/instances '{"id": "dm-e", "model": "edu",
    "bind": {"vm": "vm-7", "device_model": "dm-e"}}'
check route-io-instance 201
edu_addr=$(jf address)

req "$oapi" POST /v1/routes "{\"id\": \"r1\", \"device_model\": \"dm-e\",
    \"vm\": \"vm-7\", \"target\": \"$edu_addr\"}"
check route-create 201 '"id":"r1"'
raddr=$(jf address)
rport=${raddr##*:}
if [ "$(jf device_model)" = dm-e ] && [ "$(jf vm)" = vm-7 ] &&
   [ "$(jf target)" = "$edu_addr" ] && [ "$raddr" != "$edu_addr" ] &&
   [ "${raddr%:*}" = tcp:127.0.0.1 ] &&
   [ "$rport" -ge "$olo" ] && [ "$rport" -le "$((olo + 3))" ]; then
    pass route-members
else
    fail route-members "$body"
fi
# By the reply, the router accepts connections and the file has the route.
if tcp_accepts 127.0.0.1 "$rport"; then pass router-accepts; else
    fail router-accepts "nothing on $raddr"; fi
if grep -qx "dm-e=$edu_addr,vm=vm-7" "$ostate/routes" &&
   [ "$(stat -c %a "$ostate/routes")" = 600 ]; then
    pass routes-file
else
    fail routes-file "$(cat "$ostate/routes")"
fi
# The child whose second argument is "route" (not the API's word for it).
router_pid() {
    local k
    for k in $(children "$owner_pid"); do
        [ "$(tr '\0' '\n' <"/proc/$k/cmdline" 2>/dev/null | sed -n 2p)" = \
          route ] && echo "$k"
    done
}
rpid=$(router_pid)
cmdline=$(tr '\0' ' ' <"/proc/$rpid/cmdline" 2>/dev/null)
if grep -q -- " route --listen=$raddr --routes-file=$ostate/routes -q" \
       <<<"$cmdline" && [ -f "$ostate/router/log" ]; then
    pass router-argv
else
    fail router-argv "pid '$rpid': $cmdline"
fi

req "$oapi" POST /v1/routes "{\"id\": \"r1\", \"device_model\": \"dm-x\",
    \"target\": \"$edu_addr\"}"
check route-duplicate-id 409 "route 'r1' already exists"
req "$oapi" POST /v1/routes "{\"id\": \"r2\", \"device_model\": \"dm-e\",
    \"vm\": \"vm-7\", \"target\": \"unix:$dir/elsewhere.sock\"}"
check route-duplicate-pair 409 "device model 'dm-e' of vm 'vm-7' is already routed by 'r1'"
req "$oapi" POST /v1/routes "{\"id\": \"r2\", \"device_model\": \"dm-e\",
    \"target\": \"$raddr\"}"
check route-to-itself 400 "the router itself"
# vm null is "any VM", a pair of its own.
req "$oapi" POST /v1/routes "{\"id\": \"r2\", \"device_model\": \"dm-e\",
    \"vm\": null, \"target\": \"unix:$dir/elsewhere.sock\"}"
check route-any-vm 201 '"vm":null'
if [ "$(jf address)" = "$raddr" ]; then pass one-router; else
    fail one-router "$body"; fi
req "$oapi" POST /v1/routes "{\"id\": \"r3\", \"device_model\": \"dm-e\",
    \"target\": \"unix:$dir/elsewhere.sock\"}"
check route-duplicate-any 409 "device model 'dm-e' of any vm is already routed by 'r2'"

req "$oapi" GET /v1/routes/r1
check route-get 200 "\"target\":\"$edu_addr\""
req "$oapi" GET /v1/routes
if [ "$status" = 200 ] && [ "$(jf routes.0.id)" = r1 ] &&
   [ "$(jf routes.1.id)" = r2 ] && [ "$(jf address)" = "$raddr" ] &&
   [ "$(jf router.state)" = running ] && [ "$(jf router.pid)" = "$rpid" ]
then
    pass routes-list
else
    fail routes-list "$body"
fi
req "$oapi" GET /v1/health
if [ "$(jf router)" = "$raddr" ] && [ "$(jf running)" = 1 ]; then
    pass health-router
else
    fail health-router "$body"
fi

# A real session through the router: QEMU under qtest reads edu's id.
# qtest_edu PROPS: program BAR0, read register 0; prints QEMU's output.
qtest_edu() {
    local q log=$dir/qtest.log i
    : >"$log"
    {
        echo "outl 0xcf8 0x80002010"; echo "outl 0xcfc 0xfe000000"
        echo "outl 0xcf8 0x80002004"; echo "outw 0xcfc 0x0002"
        echo "readl 0xfe000000"
        for i in $(seq 3000); do
            grep -q "^OK 0x" "$log" && break
            sleep 0.01
        done
    } | "$qemu" -M pc -accel qtest -qtest stdio -display none \
        -nodefaults -monitor none \
        -remote-device "bus=pci,addr=04.0,server=$raddr,$1" >"$log" 2>&1 &
    q=$!
    for i in $(seq 3000); do
        grep -q "^OK 0x" "$log" && break
        kill -0 "$q" 2>/dev/null || break
        sleep 0.01
    done
    kill "$q" 2>/dev/null
    wait "$q" 2>/dev/null
    cat "$log"
}
# routed NAME PROPS / refused NAME PATTERN PROPS
routed() {
    local out
    out=$(qtest_edu "$2")
    if grep -q "OK 0x00000000010000ed" <<<"$out"; then pass "$1"; else
        fail "$1" "$out"; fi
}
refused() {
    local out
    out=$(echo quit | timeout 60 "$qemu" -M pc -accel qtest -qtest null \
          -display none -monitor stdio -nodefaults \
          -remote-device "bus=pci,server=$raddr,$3" 2>&1)
    if [ $? = 1 ] && grep -q -- "$2" <<<"$out"; then pass "$1"; else
        fail "$1" "$out"; fi
}
routed route-session "vm-id=vm-7,device-model-id=dm-e"
refused route-wrong-device-model "No route to host" \
    "vm-id=vm-7,device-model-id=dm-nope"

req "$oapi" DELETE /v1/routes/r1
check route-delete 200 "\"id\":\"r1\",\"device_model\":\"dm-e\""
if ! grep -q "vm=vm-7" "$ostate/routes"; then pass route-deleted-from-file
else fail route-deleted-from-file "$(cat "$ostate/routes")"; fi
req "$oapi" GET /v1/routes/r1
check route-deleted-unknown 404
# r2 (any VM) now takes dm-e's sessions to a socket nobody serves.
req "$oapi" DELETE /v1/routes/r2
check route-delete-any 200
refused route-deleted-refused "No route to host" \
    "vm-id=vm-7,device-model-id=dm-e"

# Killed outright, the router comes back on the same address.
req "$oapi" POST /v1/routes "{\"id\": \"r1\", \"device_model\": \"dm-e\",
    \"vm\": \"vm-7\", \"target\": \"$edu_addr\"}"
check route-again 201 "\"address\":\"$raddr\""
rpid=$(router_pid)
kill -KILL "$rpid"
router_back() {
    req "$oapi" GET /v1/routes
    [ "$(jf router.state)" = running ] && [ "$(jf router.pid)" != "$rpid" ]
}
if wait_for router_back && [ "$(jf address)" = "$raddr" ] &&
   [ "$(jf router.restarts)" = 1 ] && [ "$(jf router.exit.signal)" = 9 ]
then
    pass router-restarted
else
    fail router-restarted "$body"
fi
if grep -q "instance router (router) died: killed by signal 9" \
       "$dir/owner.err"; then
    pass router-death-logged
else
    fail router-death-logged "$(cat "$dir/owner.err")"
fi
routed route-after-restart "vm-id=vm-7,device-model-id=dm-e"

# SIGTERM: the router goes with the models; nothing left behind.
kids=$(children "$owner_pid")
if [ "$(wc -w <<<"$kids")" = 2 ]; then pass owner-children; else
    fail owner-children "children: $kids"; fi
if stop_daemon "$owner_pid"; then pass owner-sigterm; else
    fail owner-sigterm "exit status $?"; fi
left=
for k in $kids; do kill -0 "$k" 2>/dev/null && left+=" $k"; done
if [ -z "$left" ] && [ ! -e "$ostate/routes" ] &&
   ! tcp_accepts 127.0.0.1 "$rport"; then
    pass owner-no-leftovers
else
    fail owner-no-leftovers "left:$left; $(ls "$ostate")"
fi
if ! grep -q Sanitizer "$ostate/router/log"; then pass router-log-clean
else fail router-log-clean "$(cat "$ostate/router/log")"; fi

# --- client role ------------------------------------------------------

qemu=$build_root/qemu-system-x86_64
capi=unix:$dir/client.sock
cstate=$dir/client-state
start_daemon client --role client --listen "$capi" --platform-id cl-1 \
    --state-dir "$cstate" --qemu "$qemu"
client_pid=$pid

req "$capi" GET /v1/health
check client-health 200 '"platform":"cl-1","role":"client"'
if [ "$(jf running)" = 0 ]; then pass client-health-running; else
    fail client-health-running "$body"; fi
req "$capi" GET /v1/instances
check server-path-on-client 404 "no such path on a client platform"
req "$capi" GET /v1/routes
check routes-on-client 404 "no such path on a client platform"

req "$capi" POST /v1/vms '{"id": "vm1",
    "args": ["-machine", "q35", "-accel", "qtest", "-qtest", "null",
             "-object", "secret,id=s0,file=@STATE@/vm1.s0"],
    "files": {"s0": "t0ken-for-vm1"}}'
check vm-launch 201 '"state":"running"'
vpid=$(jf pid)
metrics "$capi" 'dm_launcher_vms{state="running"} 1 ' \
    'dm_launcher_info{platform="cl-1",role="client"} 1 ' client-metrics
if [ "$(jf qmp)" = "unix:$cstate/vms/vm1/qmp" ] && [ "$(jf exit)" = null ] &&
   [ "$(stat -c %a "$cstate/vms/vm1/vm1.s0")" = 600 ] &&
   [ "$(cat "$cstate/vms/vm1/vm1.s0")" = t0ken-for-vm1 ]; then
    pass vm-members
else
    fail vm-members "$body; $(ls -l "$cstate")"
fi
cmdline=$(tr '\0' ' ' <"/proc/$vpid/cmdline")
if grep -q -- "-name vm1 -nodefaults -display none -qmp unix:$cstate/vms/vm1/qmp,server=on,wait=off -machine q35" <<<"$cmdline" &&
   grep -q -- "secret,id=s0,file=$cstate/vms/vm1/vm1.s0" <<<"$cmdline" &&
   ! grep -q t0ken <<<"$cmdline"; then
    pass vm-argv
else
    fail vm-argv "$cmdline"
fi

req "$capi" POST /v1/vms/vm1/qmp '{"execute": "query-status"}'
check qmp-query-status 200 '"return":{"status":"running","running":true}'
req "$capi" POST /v1/vms/vm1/qmp '{"execute": "stop", "id": "mine"}'
check qmp-stop 200 '"id":"mine"'
req "$capi" POST /v1/vms/vm1/qmp '{"execute": "query-status"}'
check qmp-paused 200 '"status":"paused","running":false'
req "$capi" POST /v1/vms/vm1/qmp '{"execute": "cont"}'
check qmp-cont 200 '{"return":{}}'
req "$capi" POST /v1/vms/vm1/qmp '{"execute": "query-status"}'
check qmp-running-again 200 '"status":"running"'
req "$capi" POST /v1/vms/vm1/qmp '{"execute": "query-no-such-command"}'
check qmp-error-relayed 200 '"class":"CommandNotFound"'
# The relay passes what the orchestrator sends, nothing that runs things.
req "$capi" POST /v1/vms/vm1/qmp '{"execute": "human-monitor-command",
    "arguments": {"command-line": "info status"}}'
check qmp-not-relayed 403 "QMP command 'human-monitor-command' is not relayed"
req "$capi" POST /v1/vms/vm1/qmp '{"execute": "migrate",
    "arguments": {"uri": "exec:touch /tmp/owned"}}'
check qmp-migrate-exec 403 "takes only a tcp:"
req "$capi" POST /v1/vms/vm1/qmp '{"execute": "migrate",
    "arguments": {"uri": "file:/tmp/../etc/x"}}'
check qmp-migrate-dotdot 403 "takes only a tcp:"
req "$capi" POST /v1/vms/vm1/qmp '{"execute": "migrate", "arguments":
    {"channels": [{"channel-type": "main", "addr": {"transport": "exec",
     "args": ["sh"]}}]}}'
check qmp-migrate-channels 403 "exactly one argument here, 'uri'"
req "$capi" POST /v1/vms/vm1/qmp '{"execute": "stop", "arguments": {"x": 1}}'
check qmp-stop-args 403 "takes no 'arguments' here"
# set_link: a device name and a boolean, nothing else.
req "$capi" POST /v1/vms/vm1/qmp '{"execute": "set_link",
    "arguments": {"name": "nosuch", "up": false}}'
check qmp-set-link-relayed 200 '"class":"DeviceNotFound"'
req "$capi" POST /v1/vms/vm1/qmp '{"execute": "set_link",
    "arguments": {"name": "../x", "up": false}}'
check qmp-set-link-bad-name 403 "takes exactly 'name' (a device name)"
req "$capi" POST /v1/vms/vm1/qmp '{"execute": "set_link",
    "arguments": {"name": "net0", "up": "no"}}'
check qmp-set-link-bad-up 403 "and 'up' (a boolean)"
req "$capi" POST /v1/vms/vm1/qmp '{"execute": "set_link",
    "arguments": {"name": "net0", "up": true, "x": 1}}'
check qmp-set-link-extra 403 "takes exactly 'name'"
# The migration's TLS, and nothing else of migrate-set-parameters.
req "$capi" POST /v1/vms/vm1/qmp '{"execute": "migrate-set-parameters",
    "arguments": {"tls-creds": "", "tls-hostname": ""}}'
check qmp-migrate-tls-off 200 '{"return":{}}'
req "$capi" POST /v1/vms/vm1/qmp '{"execute": "migrate-set-parameters",
    "arguments": {"tls-creds": "secret0"}}'
check qmp-migrate-tls-other-object 403 "takes only tls-creds dm-model-tls"
req "$capi" POST /v1/vms/vm1/qmp '{"execute": "migrate-set-parameters",
    "arguments": {"max-bandwidth": 1}}'
check qmp-migrate-params-other 403 "takes only 'tls-creds' and 'tls-hostname'"
req "$capi" POST /v1/vms/vm1/qmp '{"execute": "migrate-set-parameters",
    "arguments": {"tls-hostname": "a,b"}}'
check qmp-migrate-tls-bad-host 403 "takes a host name or address"
req "$capi" POST /v1/vms '{"id": ".."}'
check id-dotdot 400 "bad id '..'"
req "$capi" GET /v1/vms/vm1/events
check qmp-events 200 '"event":"STOP"'
if [ "$(jf events.1.event)" = RESUME ]; then pass qmp-events-order; else
    fail qmp-events-order "$body"; fi
req "$capi" POST /v1/vms/vm1/qmp '{"arguments": {}}'
check qmp-missing-execute 400 "missing 'execute'"
req "$capi" POST /v1/vms/vm1/qmp '{"execute": "stop", "arguments": 1}'
check qmp-bad-arguments 400 "'arguments' must be an object"
req "$capi" POST /v1/vms/vm1/qmp 'nope'
check qmp-bad-json 400 "bad JSON"
req "$capi" GET /v1/vms/vm1/qmp
check qmp-wrong-method 405 "method GET not allowed"
req "$capi" POST /v1/vms/vm9/qmp '{"execute": "stop"}'
check qmp-unknown-vm 404 "no vm 'vm9'"

req "$capi" POST /v1/vms '{"id": "vm1"}'
check vm-duplicate 409 "vm 'vm1' already exists"
req "$capi" POST /v1/vms '{"id": "vm2", "args": ["-m", 256]}'
check vm-bad-args 400 "'args\[1\]' must be a string"
req "$capi" POST /v1/vms '{"id": "vm2", "files": {"../x": "y"}}'
check vm-bad-file-name 400 "bad file name '../x'"
req "$capi" POST /v1/vms '{"id": "vm2", "args": ["-machine", "no-such-machine"]}'
check vm-launch-fails 500 "QEMU exited with status 1 during start-up; the log ends: .*no-such-machine"
req "$capi" GET /v1/vms/vm2
check vm-failed-forgotten 404
# QMP accepts before QEMU builds the machine: a device that fails late
# (its model never answers VERSION) must still fail the start.
"$py" -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(1); c, _ = s.accept(); time.sleep(60)' \
    "$dir/mute.sock" & mute=$!
for _ in $(seq 500); do [ -S "$dir/mute.sock" ] && break; sleep 0.01; done
req "$capi" POST /v1/vms '{"id": "vm4", "args": ["-accel", "qtest",
    "-qtest", "null", "-device",
    "dm-proxy-pci,server=unix:'"$dir"'/mute.sock,timeout=1000"]}'
check vm-device-fails-late 500 "QEMU exited with status 1 during start-up; the log ends: .*VERSION failed: no reply"
kill "$mute" 2>/dev/null
req "$capi" GET /v1/vms/vm4
check vm-late-failure-forgotten 404

# QEMU quits on its own: the VM is "exited" with its status.
req "$capi" POST /v1/vms '{"id": "vm3", "args": ["-machine", "q35",
    "-accel", "qtest", "-qtest", "null"]}'
check vm3-launch 201
req "$capi" POST /v1/vms/vm3/qmp '{"execute": "quit"}'
vm_state() {
    req "$capi" GET "/v1/vms/$1"
    [ "$(jf state)" = "$2" ]
}
if wait_for vm_state vm3 exited && [ "$(jf exit.code)" = 0 ]; then
    pass vm-exit-reported
else
    fail vm-exit-reported "$body"
fi
req "$capi" POST /v1/vms/vm3/qmp '{"execute": "query-status"}'
check qmp-dead-vm 502 "vm 'vm3' is not running"

req "$capi" GET /v1/vms
check vm-list 200 '"id":"vm1"'

req "$capi" DELETE /v1/vms/vm1
check vm-delete 200 '"state":"stopped"'
if gone "$vpid" && [ ! -e "$cstate/vms/vm1/qmp" ] && [ ! -e "$cstate/vms/vm1/vm1.s0" ]
then
    pass vm-delete-cleans-up
else
    fail vm-delete-cleans-up "pid $vpid or $(ls "$cstate")"
fi

# A QEMU deaf to SIGTERM (a stand-in): SIGKILL follows, and its id is
# not reused before it is reaped.
start_daemon fake --role client --listen "unix:$dir/fake.sock" \
    --platform-id cl-2 --state-dir "$dir/fake" --qemu "$here/fake-qemu.py"
fake_pid=$pid
req "unix:$dir/fake.sock" POST /v1/vms '{"id": "deaf"}'
check fake-launch 201
fpid=$(jf pid)
req "unix:$dir/fake.sock" POST /v1/vms/deaf/qmp '{"execute": "query-x", "id": 7}'
check fake-qmp 200 '{"return":{},"id":7}'
"$py" "$here/api.py" "unix:$dir/fake.sock" DELETE /v1/vms/deaf \
    >"$dir/delete.out" &
deleter=$!
forgotten() {
    req "unix:$dir/fake.sock" GET /v1/vms/deaf
    [ "$status" = 404 ]
}
wait_for forgotten
req "unix:$dir/fake.sock" POST /v1/vms '{"id": "deaf"}'
if [ "$status" = 409 ] && grep -q "vm 'deaf' is still stopping" <<<"$body" &&
   [ ! -s "$dir/delete.out" ]; then
    pass id-held-while-stopping
else
    fail id-held-while-stopping "$status $body"
fi
wait "$deleter"
if grep -q '^200.*"state":"stopped".*"exit":{"signal":9}' "$dir/delete.out" &&
   gone "$fpid"; then
    pass sigkill-after-sigterm
else
    fail sigkill-after-sigterm "$(cat "$dir/delete.out")"
fi
stop_daemon "$fake_pid"

# SIGTERM with a VM running: QEMU stopped, socket gone, exit 0.
req "$capi" POST /v1/vms '{"id": "vm4", "args": ["-machine", "q35",
    "-accel", "qtest", "-qtest", "null"]}'
check vm4-launch 201
vpid=$(jf pid)
if stop_daemon "$client_pid"; then pass client-sigterm; else
    fail client-sigterm "exit status $?"; fi
if gone "$vpid" && [ ! -e "$dir/client.sock" ] &&
   [ ! -e "$cstate/vms/vm4/qmp" ]; then
    pass client-no-leftovers
else
    fail client-no-leftovers "pid $vpid or $(ls "$dir" "$cstate")"
fi

echo "1..$n"
exit $failed
