#!/bin/bash
# The launcher's API over TLS (dm-remote daemon --tls-creds) and the
# orchestrator calling launchers over it (dm-orchestrator
# --launcher-tls-creds): both ends verified, each refusal with its
# message, a VM started and stopped through two TLS launchers.  Loopback
# only.  TAP.
#
#   tls-test.sh BUILD_ROOT DM_REMOTE DM_ORCHESTRATOR DMCTL
set -u
here=$(cd "$(dirname "$0")" && pwd)
build_root=$(cd "${1:?usage: tls-test.sh BUILD_ROOT DM_REMOTE ORCH DMCTL}" &&
             pwd)
dm=${2:?}
orch=${3:?}
dmctl=${4:?}
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/dm-launcher-tls-XXXXXX)
pids=()
. "$(dirname "$0")/../tap.sh"
trap tap_cleanup EXIT
# expect NAME STATUS TEXT CMD...: CMD exits STATUS and prints TEXT.
expect() {
    local name=$1 want=$2 text=$3 rc
    shift 3
    timeout 120 "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    rc=$?
    if [ "$rc" = "$want" ] && cat "$tmp/out" "$tmp/err" | grep -qF -- "$text"
    then
        ok "$name"
    else
        not_ok "$name (exit $rc, want $want; stderr: $(head -c 300 "$tmp/err"))"
    fi
}
wait_for() {
    for _ in $(seq 1000); do eval "$1" && return 0; sleep 0.02; done
    return 1
}
free_port() { "$py" "$here/../free-port.py" "$@"; }

# launcher NAME ROLE HOST CREDS ARGS...: a daemon on tcp:HOST:<free port>
# with --tls-creds CREDS ("" for none); sets $port.
launcher() {
    local name=$1 role=$2 host=$3 creds=$4 models
    shift 4
    port=$(free_port "$host")
    local tls=()
    if [ -n "$creds" ]; then tls=(--tls-creds "$creds")
    else tls=(--insecure-plain-tcp); fi
    if [ "$role" = server ]; then
        models=$(free_port 127.0.0.1 4)
        set -- --port-range "$models-$((models + 3))" "$@"
    fi
    "$dm" daemon --role "$role" --listen "tcp:$host:$port" \
        --platform-id "$name" --state-dir "$tmp/$name" "${tls[@]}" "$@" \
        >"$tmp/$name.log" 2>&1 &
    pids+=($!)
    wait_for 'grep -q "listening on" "$tmp/$name.log"' ||
        bail "launcher $name did not start: $(cat "$tmp/$name.log")"
}
# orchestrator NAME ARGS...: on unix:$tmp/NAME.sock.
orchestrator() {
    local name=$1
    shift
    "$orch" --db "$tmp/$name.sqlite" --listen "unix:$tmp/$name.sock" "$@" \
        >"$tmp/$name.log" 2>&1 &
    pids+=($!)
    wait_for 'grep -q "serving the API" "$tmp/$name.log"' ||
        bail "orchestrator $name did not start: $(cat "$tmp/$name.log")"
}
# get PORT WHO [PATH]: what https.py gets from the launcher on 127.0.0.1.
get() { "$py" "$here/https.py" 127.0.0.1 "$1" "$c" "$2" "${3:-/v1/health}"; }

echo "TAP version 13"
"$here/../net/make-certs.sh" "$tmp/certs" || bail "cannot make certificates"
c=$tmp/certs
x=(--role server --platform-id x --state-dir "$tmp/x")

# --- the launcher's command line ---------------------------------------
expect "daemon: --tls-creds with a UNIX socket is a usage error" 2 \
    "--tls-creds needs a tcp: --listen address" \
    "$dm" daemon "${x[@]}" --listen "unix:$tmp/x.sock" --tls-creds "$c/server"
expect "daemon: missing credentials: exit 1 naming the file" 1 \
    "$tmp/nope/ca-cert.pem" \
    "$dm" daemon "${x[@]}" --listen tcp:127.0.0.1:0 --tls-creds "$tmp/nope"
expect "daemon: a key that does not load is named" 1 \
    "$c/client/server-cert.pem" \
    "$dm" daemon "${x[@]}" --listen tcp:127.0.0.1:0 --tls-creds "$c/client"
check "daemon --help documents --tls-creds" \
    eval '"$dm" daemon --help | grep -q -- "--tls-creds=DIR"'

# --- a TLS launcher and independent clients ----------------------------
launcher s1 server 127.0.0.1 "$c/server"
s1=$port
check "its ready line says TLS" \
    grep -q "listening on tcp:127.0.0.1:$s1 (TLS)" "$tmp/s1.log"
check "a client with a certificate of the CA gets /v1/health" \
    eval 'get $s1 client | grep -q "^200 .*\"platform\":\"s1\""'
check "a TLS client without a certificate is refused" \
    eval 'get $s1 none | grep -q "^refused"'
check "a client certificate from another CA is refused" \
    eval 'get $s1 rogue-client | grep -q "^refused"'
check "...and the launcher logs the refusal with the client's address" \
    grep -q "refused 127.0.0.1:[0-9]*: its TLS certificate is not signed" \
    "$tmp/s1.log"
check "plain HTTP to the TLS launcher is refused" \
    eval 'get $s1 plain | grep -q "^refused"'
# A client stuck in its handshake must not hold up the one-thread daemon.
"$py" -c 'import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.send(b"\x16\x03\x01")
print("held", flush=True)
time.sleep(120)' "$s1" >"$tmp/stuck.out" &
pids+=($!)
wait_for 'grep -q held "$tmp/stuck.out"' || bail "cannot open a stuck connection"
check "a connection stuck in its handshake stalls no other client" \
    eval 'get $s1 client | grep -q "^200 .*\"platform\":\"s1\""'
launcher p1 server 127.0.0.1 ""
p1=$port
check "a plain TCP launcher warns that its API is unauthenticated" \
    grep -q "tcp:127.0.0.1:$p1 is plain HTTP without authentication" \
    "$tmp/p1.log"

# --- the orchestrator's command line -----------------------------------
expect "orchestrator: missing launcher credentials name the file" 1 \
    "--launcher-tls-creds: $tmp/nope/ca-cert.pem" \
    "$orch" --db "$tmp/x.sqlite" --listen "unix:$tmp/x.sock" \
    --launcher-tls-creds "$tmp/nope"
expect "orchestrator: an empty --launcher-tls-creds is a usage error" 2 \
    "need a directory" \
    "$orch" --db "$tmp/x.sqlite" --listen "unix:$tmp/x.sock" \
    --launcher-tls-creds ""
expect "orchestrator: a bad --launcher-timeout is a usage error" 2 \
    "invalid --launcher-timeout '0' (1..3600)" \
    "$orch" --db "$tmp/x.sqlite" --listen "unix:$tmp/x.sock" \
    --launcher-timeout 0

# --- the orchestrator drives TLS launchers ------------------------------
orchestrator o1 --launcher-tls-creds "$c/client"
o1=(-o "unix:$tmp/o1.sock")
expect "the orchestrator reaches a TLS launcher (platform add)" 0 \
    "platform s1: server at tcp:127.0.0.1:$s1" \
    "$dmctl" "${o1[@]}" platform add s1 --role server \
    --address "tcp:127.0.0.1:$s1"
check "...and has its models from its health" \
    eval '"$dmctl" "${o1[@]}" platform list | grep -q "^s1 .*edu"'
launcher c1 client 127.0.0.1 "$c/server" --qemu "$build_root/qemu-system-x86_64"
c1=$port
expect "a TLS client launcher is added" 0 \
    "platform c1: client at tcp:127.0.0.1:$c1" \
    "$dmctl" "${o1[@]}" platform add c1 --role client \
    --address "tcp:127.0.0.1:$c1"
# Not an edu: lifecycle-test.sh, maybe running meanwhile, kills an "edu".
expect "a VM with an edu-msix is defined" 0 "v1: defined" \
    "$dmctl" "${o1[@]}" vm create v1 --memory 64M --device e=edu-msix
expect "a VM starts through both TLS launchers" 0 "v1: running on c1" \
    "$dmctl" "${o1[@]}" vm start v1 --on c1
check "...its model runs on the server launcher, QEMU on the client's" \
    eval 'grep -q "(edu-msix) running at tcp:127.0.0.1:" "$tmp/s1.log" &&
          grep -q "vm v1 running" "$tmp/c1.log"'
# /metrics asks the VM's QEMU through the client launcher, over TLS too
# (retried: a QEMU slow under load is skipped from one scrape).
v1_metrics() {
    curl -sf --max-time 30 --unix-socket "$tmp/o1.sock" http://o1/metrics \
        >"$tmp/metrics" &&
        grep -qx 'dm_orchestrator_proxy_vm_up{vm="v1"} 1' "$tmp/metrics" &&
        grep -q '^dm_proxy_round_trip_seconds_count{vm="v1",device="e",server="s1"} [1-9]' \
            "$tmp/metrics"
}
check "/metrics has v1's proxy, asked of its QEMU through the TLS launcher" \
    eval 'v1_metrics || v1_metrics || v1_metrics ||
          { grep "v1\|skipped" "$tmp/metrics" | sed "s/^/#   /"; false; }'
expect "...and stops through them" 0 "v1: stopped" \
    "$dmctl" "${o1[@]}" vm stop v1 --timeout 2
"$dm" daemon --role server --listen "unix:$tmp/u1.sock" --platform-id u1 \
    --state-dir "$tmp/u1" >"$tmp/u1.log" 2>&1 &
pids+=($!)
wait_for 'grep -q "listening on" "$tmp/u1.log"' || bail "u1 did not start"
expect "a launcher on a UNIX socket is still called over plain HTTP" 0 \
    "platform u1: server at unix:" \
    "$dmctl" "${o1[@]}" platform add u1 --role server \
    --address "unix:$tmp/u1.sock"

launcher r1 server 127.0.0.1 "$c/rogue-server"
expect "a launcher certificate from another CA is a clear error" 1 \
    "launcher tcp:127.0.0.1:$port: its TLS certificate is refused: not signed by our CA" \
    "$dmctl" "${o1[@]}" platform add r1 --role server \
    --address "tcp:127.0.0.1:$port"
# 127.0.0.2 is loopback too, but not a name in the server's certificate.
launcher n1 server 127.0.0.2 "$c/server"
expect "a launcher certificate for another address is a clear error" 1 \
    "launcher tcp:127.0.0.2:$port: its TLS certificate is refused: not issued for this address" \
    "$dmctl" "${o1[@]}" platform add n1 --role server \
    --address "tcp:127.0.0.2:$port"

orchestrator o2
expect "without --launcher-tls-creds the TLS launcher is not reached" 1 \
    "launcher tcp:127.0.0.1:$s1:" \
    "$dmctl" -o "unix:$tmp/o2.sock" platform add s1 --role server \
    --address "tcp:127.0.0.1:$s1"
orchestrator o3 --launcher-tls-creds "$c/rogue-client"
expect "an orchestrator certificate from another CA is refused by the launcher" 1 \
    "launcher tcp:127.0.0.1:$s1: TLS connection dropped without an answer" \
    "$dmctl" -o "unix:$tmp/o3.sock" platform add s1 --role server \
    --address "tcp:127.0.0.1:$s1"
# A TLS client's hello is no HTTP request: the plain launcher waits for
# one, and the orchestrator gives up after its call timeout (here 3 s).
orchestrator o4 --launcher-tls-creds "$c/client" --launcher-timeout 3
expect "a plain launcher on TCP is a clear error, not a hang" 1 \
    "launcher tcp:127.0.0.1:$p1: no TLS handshake" \
    "$dmctl" -o "unix:$tmp/o4.sock" platform add p1 --role server \
    --address "tcp:127.0.0.1:$p1"
check "the orchestrators are still up after those errors" \
    eval '"$dmctl" "${o1[@]}" platform list | grep -q "^u1 " &&
          "$dmctl" -o "unix:$tmp/o2.sock" platform list >/dev/null &&
          "$dmctl" -o "unix:$tmp/o3.sock" platform list >/dev/null'
echo "1..$n"
exit $failed
