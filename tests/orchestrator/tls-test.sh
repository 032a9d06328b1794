#!/bin/bash
# The orchestrator's API over TCP with TLS (dm-orchestrator --tls-creds,
# dmctl --tls-creds): both ends verified, and each refusal with its
# message.  Loopback only.  TAP.
#   tests/orchestrator/tls-test.sh BUILD
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: tls-test.sh BUILD}" && pwd)
orch=$build/meson/orchestrator/dm-orchestrator
dmctl=$build/meson/orchestrator/dmctl
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/dm-orch-tls-XXXXXX)
pids=()
. "$(dirname "$0")/../tap.sh"
trap tap_cleanup EXIT
# expect NAME STATUS TEXT CMD...: CMD exits STATUS and its stderr has TEXT.
expect() {
    local name=$1 want=$2 text=$3 rc
    shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$rc" = "$want" ] && grep -qF -- "$text" "$tmp/err"; then
        ok "$name"
    else
        not_ok "$name (exit $rc, want $want; stderr: $(head -c 300 "$tmp/err"))"
    fi
}
# A free port on HOST, below the kernel's ephemeral ports.
free_port() { "$py" "$here/../free-port.py" "$1"; }
# serve NAME HOST CREDS|--insecure-plain-tcp: an orchestrator with TLS
# (or plain HTTP); sets $port.
serve() {
    local how=(--tls-creds "$3")
    [ "$3" = --insecure-plain-tcp ] && how=("$3")
    port=$(free_port "$2")
    "$orch" --db "$tmp/$1.sqlite" --listen "tcp:$2:$port" "${how[@]}" \
        >"$tmp/$1.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 500); do
        grep -q "serving the API" "$tmp/$1.log" && return 0
        sleep 0.01
    done
    bail "orchestrator $1 did not start: $(cat "$tmp/$1.log")"
}

echo "1..17"
"$here/../net/make-certs.sh" "$tmp/certs" || bail "cannot make certificates"
c=$tmp/certs

expect "--tls-creds with a UNIX socket is a usage error" 2 \
    "--tls-creds needs a tcp: --listen" \
    "$orch" --db "$tmp/x.sqlite" --listen "unix:$tmp/x.sock" --tls-creds "$c/server"
expect "missing credentials: exit 1 naming the file" 1 \
    "$tmp/nope/ca-cert.pem" \
    "$orch" --db "$tmp/x.sqlite" --listen tcp:127.0.0.1:1 --tls-creds "$tmp/nope"
expect "dmctl --tls-creds with a UNIX address is a usage error" 2 \
    "--tls-creds needs a tcp: orchestrator" \
    "$dmctl" -o "unix:$tmp/x.sock" --tls-creds "$c/client" vm list
expect "dmctl with missing credentials names the file" 2 \
    "$tmp/nope/ca-cert.pem" \
    "$dmctl" -o tcp:127.0.0.1:1 --tls-creds "$tmp/nope" vm list

expect "plain TCP without --tls-creds needs --insecure-plain-tcp" 2 \
    "give --tls-creds, or --insecure-plain-tcp on a trusted network only" \
    timeout 10 "$orch" --db "$tmp/x.sqlite" --listen tcp:127.0.0.1:1
serve plain 127.0.0.1 --insecure-plain-tcp
check "with --insecure-plain-tcp it serves plain HTTP, and warns" \
    grep -q "plain HTTP without authentication" "$tmp/plain.log"
check "...which plain dmctl reads" \
    eval '"$dmctl" -o "tcp:127.0.0.1:$port" vm list >"$tmp/out"'

serve good 127.0.0.1 "$c/server"
api=tcp:127.0.0.1:$port
check "the orchestrator says it serves TLS" grep -q "tcp:127.0.0.1:$port (TLS)" "$tmp/good.log"
check "dmctl with a client certificate of the CA is served" \
    eval '"$dmctl" -o "$api" --tls-creds "$c/client" platform list >"$tmp/out" &&
          grep -q "^NAME" "$tmp/out"'
check "DMCTL_TLS_CREDS works as --tls-creds, and a write goes through" \
    eval 'DMCTL_TLS_CREDS=$c/client "$dmctl" -o "$api" vm create v1 \
              >/dev/null &&
          DMCTL_TLS_CREDS=$c/client "$dmctl" -o "$api" --json vm list |
              grep -q "\"v1\""'
expect "plain HTTP to the TLS API is refused" 1 \
    "cannot reach the orchestrator at $api" \
    "$dmctl" -o "$api" vm list
expect "a client certificate from another CA is refused" 1 \
    "cannot reach the orchestrator at $api" \
    "$dmctl" -o "$api" --tls-creds "$c/rogue-client" vm list
check "...and nothing was served to it" \
    eval '! grep -q "^v1" "$tmp/out"'

# An independent client (Python's ssl): a TLS client without a
# certificate gets nothing, one with the right certificate gets JSON.
https() {
    "$py" - "$port" "$c" "$1" <<'P'
import http.client, ssl, sys
port, certs, with_cert = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
ctx = ssl.create_default_context(cafile=certs + "/client/ca-cert.pem")
if with_cert:
    ctx.load_cert_chain(certs + "/client/client-cert.pem",
                        certs + "/client/client-key.pem")
try:
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx,
                                       timeout=10)
    conn.request("GET", "/v1/vms")
    r = conn.getresponse()
    print(r.status, r.read().decode().replace("\n", " "))
except (ssl.SSLError, ConnectionError, OSError) as e:
    print("refused", e)
P
}
check "a TLS client without a certificate is refused" \
    eval 'https 0 | grep -q "^refused"'
check "Python's TLS client with the certificate reads the VMs" \
    eval 'https 1 | grep -q "^200 .*\"v1\""'

serve rogue 127.0.0.1 "$c/rogue-server"
expect "a server certificate from another CA is refused by dmctl" 1 \
    "cannot reach the orchestrator at tcp:127.0.0.1:$port" \
    "$dmctl" -o "tcp:127.0.0.1:$port" --tls-creds "$c/client" vm list

# 127.0.0.2 is loopback too, but not a name in the server's certificate.
serve other 127.0.0.2 "$c/server"
expect "a server certificate for another name is refused by dmctl" 1 \
    "cannot reach the orchestrator at tcp:127.0.0.2:$port" \
    "$dmctl" -o "tcp:127.0.0.2:$port" --tls-creds "$c/client" vm list
exit $failed
