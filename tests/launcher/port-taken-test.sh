#!/bin/bash
# A model's port taken between the launcher's check and the model's bind
# (an outgoing connection given it from the ephemeral range, as in
# docs/scale-out.md): dm-remote serve exits with status 3 (a port taken
# for real, held by this test), and the launcher starts the model again
# on another port of its range: the POST answers 201 with that address.
# With no other port in the range the POST answers 500 with the model's
# log.  The bind is made to fail by an LD_PRELOAD (listen-taken.c): the
# race itself cannot be timed.  TAP.
#   tests/launcher/port-taken-test.sh DM_REMOTE SHIM
set -u
dm=${1:?usage: port-taken-test.sh DM_REMOTE SHIM}
shim=${2:?usage: port-taken-test.sh DM_REMOTE SHIM}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/dm-port-taken-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n $1: $2"; }
api() { /usr/bin/python3 "$here/api.py" "unix:$1" "${@:2}"; }
echo "1..6"

# 1: serve's exit status for a TCP port another socket listens on.
port=$(/usr/bin/python3 "$here/../free-port.py" 127.0.0.1 3) ||
    { echo "Bail out! no free ports"; exit 1; }
/usr/bin/python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
time.sleep(60)' "$port" &
holder=$!
pids+=("$holder")
for _ in $(seq 200); do
    /usr/bin/python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])))' \
        "$port" 2>/dev/null && break
    sleep 0.02
done
timeout 10 "$dm" serve --model edu --listen "tcp:127.0.0.1:$port" \
    >"$tmp/serve.log" 2>&1
status=$?
if [ "$status" = 3 ] && grep -q "Address already in use" "$tmp/serve.log"; then
    ok "serve exits with status 3 when its TCP port is taken"
else
    not_ok "serve exits with status 3 when its TCP port is taken" \
        "status $status: $(tail -2 "$tmp/serve.log")"
fi
kill "$holder"; wait "$holder" 2>/dev/null

# A launcher whose first port is taken at the model's first listen().
start_launcher() {   # NAME LO HI
    DM_TEST_TAKEN_PORT=$2 DM_TEST_TAKEN_ONCE=$tmp/$1.taken \
        LD_PRELOAD=$shim "$dm" daemon --role server \
        --listen "unix:$tmp/$1.api" --platform-id "$1" \
        --state-dir "$tmp/$1.state" --port-range "$2-$3" \
        >"$tmp/$1.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 500); do [ -S "$tmp/$1.api" ] && break; sleep 0.01; done
}

# 2-4: the start goes on on the next port of the range.
start_launcher two "$port" "$((port + 1))"
out=$(api "$tmp/two.api" POST /v1/instances '{"id": "e1", "model": "edu"}')
body=${out##*$'\t'}
addr=$(/usr/bin/python3 "$here/jget.py" "$body" address)
if [ "${out%%$'\t'*}" = 201 ] && [ "$addr" = "tcp:127.0.0.1:$((port + 1))" ]; then
    ok "the launch answers 201 at the range's other port"
else
    not_ok "the launch answers 201 at the range's other port" "$out"
fi
if [ -e "$tmp/two.taken" ] &&
   grep -q "port $port was taken before the model could listen on it; starting it on $((port + 1))" \
       "$tmp/two.log"; then
    ok "the launcher says which port was taken and where the model starts"
else
    not_ok "the launcher says which port was taken and where the model starts" \
        "$(tail -3 "$tmp/two.log")"
fi
if /usr/bin/python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)' \
       "$((port + 1))" 2>/dev/null &&
   [ "$(/usr/bin/python3 "$here/jget.py" "$(api "$tmp/two.api" GET /v1/instances/e1 | cut -f3)" state)" = running ]; then
    ok "the model serves on that port and the instance is running"
else
    not_ok "the model serves on that port and the instance is running" \
        "$(api "$tmp/two.api" GET /v1/instances/e1)"
fi

# 5-6: no other port: the start fails, with the model's word for it.
start_launcher one "$((port + 2))" "$((port + 2))"
out=$(api "$tmp/one.api" POST /v1/instances '{"id": "e2", "model": "edu"}')
if [ "${out%%$'\t'*}" = 500 ] && grep -q "Address already in use" <<<"$out"; then
    ok "with no other port the launch answers 500 with the model's log"
else
    not_ok "with no other port the launch answers 500 with the model's log" "$out"
fi
if grep -q "e2 (edu) failed to start: exited with status 3" "$tmp/one.log" &&
   ! grep -q "e2 (edu) running" "$tmp/one.log"; then
    ok "the launcher logs the failed start, never the model running"
else
    not_ok "the launcher logs the failed start, never the model running" \
        "$(tail -3 "$tmp/one.log")"
fi
