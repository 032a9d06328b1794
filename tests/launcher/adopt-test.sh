#!/bin/bash
# A launcher killed outright (SIGKILL: a crash) leaves its children
# running; the next one on the same state directory adopts them: models,
# the router and its table, QEMUs.  Their exits are seen (and restart
# policies applied) though they are not its children, DELETE stops them,
# a stale record is dropped, and SIGTERM still stops everything.  TAP.
#
#   adopt-test.sh BUILD_ROOT DM_REMOTE
set -u
build_root=$1
bin=$2
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
dir=$(mktemp -d /tmp/dm-adopt-XXXXXX)
daemons=()
kids=()
. "$here/../tap.sh"      # stop_pids; this file has its own pass/fail/check

cleanup() {
    stop_pids "${daemons[@]}"
    stop_pids "${kids[@]}"
    [ -n "${KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT

. "$here/lib.sh"
# crash PID: SIGKILL, reaped.
crash() { kill -KILL "$1"; wait "$1" 2>/dev/null; }
# A process that exited: an orphan may stay a zombie until its new
# parent (init, or a subreaper) gets to reap it.
alive() {
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "${st%% *}" != Z ]
}
gone() { ! alive "$1"; }
tcp_accepts() {
    "$py" -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2).close()' \
        "$1" 2>/dev/null
}
# state API KIND ID WANT: GET it, true if its state is WANT.
state_is() {
    req "$1" GET "/v1/$2/$3"
    [ "$(jf state)" = "$4" ]
}

echo "TAP version 13"

# --- server role: models and the router -------------------------------

api=unix:$dir/server.sock
state=$dir/server-state
lo=$((12000 + ($$ % 400) * 20))
srv=(--role server --listen "$api" --platform-id srv-1 --state-dir "$state"
     --port-range "$lo-$((lo + 19))")
start_daemon server "${srv[@]}"
s1=$pid

req "$api" POST /v1/instances '{"id": "t1", "model": "edu",
    "restart": "on-failure", "bind": {"vm": "vm-7"}, "token": "tok-1"}'
check launch-t1 201
t1=$(jf pid); t1addr=$(jf address)
req "$api" POST /v1/instances '{"id": "u1", "model": "uart16550",
    "transport": "unix", "console": true}'
check launch-u1 201
u1=$(jf pid); u1addr=$(jf address)
req "$api" POST /v1/routes "{\"id\": \"r1\", \"device_model\": \"t1\",
    \"target\": \"$t1addr\"}"
check route-r1 201
raddr=$(jf address)
req "$api" GET /v1/routes
router=$(jf router.pid)
kids+=("$t1" "$u1" "$router")

crash "$s1"
sleep 0.5   # a PDEATHSIG would have struck by now
if alive "$t1" && alive "$u1" && alive "$router" &&
   tcp_accepts "${t1addr##*:}" && tcp_accepts "${raddr##*:}" &&
   [ -S "${u1addr#unix:}" ]; then
    pass children-survive-crash
else
    fail children-survive-crash "t1 $t1 u1 $u1 router $router: $(ps -o pid,args -p "$t1,$u1,$router")"
fi

start_daemon server2 "${srv[@]}"
s2=$pid
req "$api" GET /v1/instances/t1
if wait_for state_is "$api" instances t1 running && [ "$(jf pid)" = "$t1" ] &&
   [ "$(jf address)" = "$t1addr" ] && [ "$(jf bind.vm)" = vm-7 ] &&
   [ "$(jf restart)" = on-failure ]; then
    pass t1-adopted
else
    fail t1-adopted "$body"
fi
if wait_for state_is "$api" instances u1 running && [ "$(jf pid)" = "$u1" ] &&
   [ "$(jf address)" = "$u1addr" ] && [ "$(jf console)" != null ]; then
    pass u1-adopted
else
    fail u1-adopted "$body"
fi
req "$api" GET /v1/routes
if [ "$(jf routes.0.id)" = r1 ] && [ "$(jf address)" = "$raddr" ] &&
   [ "$(jf router.pid)" = "$router" ]; then
    pass router-adopted
else
    fail router-adopted "$body"
fi
req "$api" GET /v1/health
if [ "$(jf running)" = 2 ]; then pass health-counts-adopted; else
    fail health-counts-adopted "$body"; fi

# An adopted model that dies: seen through its pidfd, restarted by its
# policy ("on-failure": an unknown status counts as a failure).
kill -KILL "$t1"
t1_back() { state_is "$api" instances t1 running && [ "$(jf pid)" != "$t1" ]; }
if wait_for t1_back && [ "$(jf restarts)" = 1 ] &&
   [ "$(jf exit.unknown)" = true ] && [ "$(jf address)" = "$t1addr" ]; then
    pass adopted-death-restarted
else
    fail adopted-death-restarted "$body"
fi
t1=$(jf pid); kids+=("$t1")
# "never": reported exited, left so.
kill -KILL "$u1"
if wait_for state_is "$api" instances u1 exited && [ "$(jf pid)" = null ]; then
    pass adopted-death-reported
else
    fail adopted-death-reported "$body"
fi
# The adopted router is relaunched on its address ("always").
kill -KILL "$router"
router_back() {
    req "$api" GET /v1/routes
    [ "$(jf router.state)" = running ] && [ "$(jf router.pid)" != "$router" ]
}
if wait_for router_back && [ "$(jf address)" = "$raddr" ]; then
    pass adopted-router-restarted
else
    fail adopted-router-restarted "$body"
fi
router=$(jf router.pid); kids+=("$router")

# Crash again, with a model now our own child: adopted again.  DELETE of
# an adopted model stops it.
crash "$s2"
start_daemon server3 "${srv[@]}"
s3=$pid
if wait_for state_is "$api" instances t1 running && [ "$(jf pid)" = "$t1" ]
then
    pass readopted
else
    fail readopted "$body"
fi
req "$api" DELETE /v1/instances/t1
check delete-adopted 200 '"state":"stopped"'
if gone "$t1" && [ ! -e "$state/instances/t1/token" ]; then
    pass delete-adopted-stops
else
    fail delete-adopted-stops "pid $t1; $(ls -R "$state")"
fi
# u1 had exited: nothing to adopt, its record is gone.
req "$api" GET /v1/instances/u1
check stale-record-dropped 404

# A SIGTERM still stops every child, adopted ones (the router) included.
kill -TERM "$s3"
if wait "$s3" && gone "$router" && ! ls "$state"/*/*/record \
        "$state"/router/record 2>/dev/null; then
    pass sigterm-stops-adopted
else
    fail sigterm-stops-adopted "router $router; $(ls -R "$state")"
fi

# A record whose pid is another process now (pid reuse): not adopted.
mkdir -p "$state/instances/x1"
sleep 60 &
other=$!
kids+=("$other")
echo "{\"kind\": \"instance\", \"id\": \"x1\", \"pid\": $other,
      \"start\": 1, \"model\": \"edu\", \"tcp\": false}" \
    >"$state/instances/x1/record"
start_daemon server4 "${srv[@]}"
s4=$pid
req "$api" GET /v1/instances/x1
if [ "$status" = 404 ] && alive "$other" &&
   [ ! -e "$state/instances/x1/record" ]; then
    pass reused-pid-not-adopted
else
    fail reused-pid-not-adopted "$status $body"
fi
kill -TERM "$s4"; wait "$s4"

# --- client role: QEMU ------------------------------------------------

qemu=$build_root/qemu-system-x86_64
capi=unix:$dir/client.sock
cstate=$dir/client-state
cli=(--role client --listen "$capi" --platform-id cl-1 --state-dir "$cstate"
     --qemu "$qemu")
vmargs='["-machine", "q35", "-accel", "qtest", "-qtest", "null"]'
start_daemon client "${cli[@]}"
c1=$pid
req "$capi" POST /v1/vms "{\"id\": \"vm1\", \"args\": $vmargs}"
check vm1-launch 201 '"state":"running"'
v1=$(jf pid)
req "$capi" POST /v1/vms "{\"id\": \"vm2\", \"args\": $vmargs}"
check vm2-launch 201 '"state":"running"'
v2=$(jf pid)
kids+=("$v1" "$v2")
crash "$c1"
sleep 0.5
if alive "$v1" && alive "$v2"; then pass qemu-survives-crash; else
    fail qemu-survives-crash "vm1 $v1 vm2 $v2"; fi

start_daemon client2 "${cli[@]}"
c2=$pid
req "$capi" GET /v1/vms/vm1
if [ "$(jf state)" = running ] && [ "$(jf pid)" = "$v1" ]; then
    pass vm-adopted
else
    fail vm-adopted "$body"
fi
req "$capi" POST /v1/vms/vm1/qmp '{"execute": "query-status"}'
check adopted-qmp 200 '"status":"running"'
kill -KILL "$v2"
if wait_for state_is "$capi" vms vm2 exited &&
   [ "$(jf exit.unknown)" = true ]; then
    pass adopted-vm-exit
else
    fail adopted-vm-exit "$body"
fi
req "$capi" DELETE /v1/vms/vm1
check delete-adopted-vm 200 '"state":"stopped"'
if gone "$v1"; then pass delete-adopted-vm-stops; else
    fail delete-adopted-vm-stops "pid $v1"; fi
kill -TERM "$c2"
if wait "$c2"; then pass client-sigterm; else
    fail client-sigterm "exit $?"; fi

echo "1..$n"
exit $failed
