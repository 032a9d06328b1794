#!/bin/bash
# dm-remote daemon --model-tls-creds: a server launcher gives its TCP
# models --tls-creds (not its UNIX ones), a client launcher gives its
# QEMUs the tls-creds-x509 object dm-model-tls, both say "model_tls" in
# /v1/health; bad directories are errors at start.  Then a session: a
# QEMU of the client launcher reaches an edu of the server launcher over
# TLS, and a plain one is refused.  Loopback only.  TAP.
#
# Last, dm-orchestrator places a VM's edu through those launchers: its
# QEMU gets tls-creds=dm-model-tls and starts.
#
#   model-tls-test.sh BUILD_ROOT DM_REMOTE DM_ORCHESTRATOR
set -u
here=$(cd "$(dirname "$0")" && pwd)
build_root=$(cd "${1:?usage: model-tls-test.sh BUILD_ROOT DM_REMOTE}" &&
             pwd)
dm=${2:?}
orch=${3:?}
qemu=$build_root/qemu-system-x86_64
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/dm-model-tls-XXXXXX)
pids=()
. "$here/../tap.sh"
trap tap_cleanup EXIT

# req ADDRESS METHOD PATH [BODY]: sets $status and $body.
req() {
    local out
    out=$("$py" "$here/api.py" "$@" 2>&1)
    status=${out%%$'\t'*}
    body=${out##*$'\t'}
}
jf() { "$py" "$here/jget.py" "${2:-$body}" "$1"; }
wait_for() {
    for _ in $(seq 1000); do eval "$1" && return 0; sleep 0.02; done
    return 1
}
# expect NAME STATUS TEXT CMD...: CMD exits STATUS and prints TEXT.
expect() {
    local name=$1 want=$2 text=$3 rc
    shift 3
    timeout 60 "$@" >"$tmp/out" 2>&1 </dev/null
    rc=$?
    if [ "$rc" = "$want" ] && grep -qF -- "$text" "$tmp/out"; then
        ok "$name"
    else
        not_ok "$name (exit $rc, want $want: $(head -c 300 "$tmp/out"))"
    fi
}
# launcher NAME ROLE ARGS...: a daemon on unix:$tmp/NAME.sock.
launcher() {
    local name=$1 role=$2
    shift 2
    "$dm" daemon --role "$role" --listen "unix:$tmp/$name.sock" \
        --platform-id "$name" --state-dir "$tmp/$name" "$@" \
        >"$tmp/$name.log" 2>&1 &
    pids+=($!)
    wait_for 'grep -q "listening on" "$tmp/$name.log"' ||
        bail "launcher $name did not start: $(cat "$tmp/$name.log")"
}

echo "TAP version 13"
"$here/../net/make-certs.sh" "$tmp/certs" >/dev/null 2>&1 ||
    bail "cannot make certificates"
c=$tmp/certs
[ -x "$qemu" ] || bail "no QEMU at $qemu"

common=(--listen "unix:$tmp/x.sock" --platform-id x --state-dir "$tmp/x")
expect "a missing directory is an error naming the file" 1 \
    "--model-tls-creds:" "$dm" daemon --role server "${common[@]}" \
    --model-tls-creds "$tmp/nope"
grep -q "ca-cert.pem" "$tmp/out" ||
    not_ok "... and it names ca-cert.pem: $(cat "$tmp/out")"
expect "a client launcher needs client-cert.pem" 1 "client-cert.pem" \
    "$dm" daemon --role client "${common[@]}" --qemu "$qemu" \
    --model-tls-creds "$c/server"
expect "a server launcher needs server-cert.pem" 1 "server-cert.pem" \
    "$dm" daemon --role server "${common[@]}" --model-tls-creds "$c/client"
expect "an empty --model-tls-creds is a usage error" 2 \
    "--model-tls-creds needs a directory" \
    "$dm" daemon --role server "${common[@]}" --model-tls-creds ""
expect "--help documents it" 0 "--model-tls-creds=DIR" "$dm" daemon --help

# The server launcher.
ports=$("$py" "$here/../free-port.py" 127.0.0.1 4) || bail "no free ports"
launcher srv server --model-tls-creds "$c/server" --models edu \
    --port-range "$ports-$((ports + 3))"
sapi=unix:$tmp/srv.sock
req "$sapi" GET /v1/health
check "server health says model_tls" [ "$(jf model_tls)" = true ]
req "$sapi" POST /v1/instances '{"id": "e1", "model": "edu"}'
addr=$(jf address)
pid=$(jf pid)
check "a TCP instance is launched and says tls" \
    [ "$status" = 201 -a "$(jf tls)" = true ]
cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)
check "its command line has --tls-creds" \
    grep -qF -- "--listen=$addr -q --tls-creds=$c/server" <<<"$cmd"
req "$sapi" POST /v1/instances '{"id": "u1", "model": "edu",
    "transport": "unix"}'
upid=$(jf pid)
ucmd=$(tr '\0' ' ' <"/proc/$upid/cmdline" 2>/dev/null)
check "a UNIX instance is plain" [ "$status" = 201 -a "$(jf tls)" = false \
    -a -n "$ucmd" ]
check "... without --tls-creds" eval '! grep -q -- --tls-creds <<<"$ucmd"'

# The client launcher, and a session from its QEMU to that edu.
launcher cli client --model-tls-creds "$c/client" --qemu "$qemu"
capi=unix:$tmp/cli.sock
req "$capi" GET /v1/health
check "client health says model_tls" [ "$(jf model_tls)" = true ]
req "$capi" POST /v1/vms '{"id": "vm1", "args": ["-machine", "q35",
    "-accel", "qtest", "-qtest", "null", "-remote-device",
    "bus=pci,server='"$addr"',tls-creds=dm-model-tls"]}'
vpid=$(jf pid)
check "its QEMU reaches the edu over TLS" [ "$status" = 201 ]
vcmd=$(tr '\0' ' ' <"/proc/$vpid/cmdline" 2>/dev/null)
check "its QEMU gets the tls-creds-x509 object" grep -qF -- \
    "-object tls-creds-x509,id=dm-model-tls,endpoint=client,dir=$c/client" \
    <<<"$vcmd"
check "... but no migration server object without a server certificate" \
    eval '! grep -q dm-migrate-tls <<<"$vcmd"'
req "$capi" POST /v1/vms/vm1/qmp '{"execute": "query-pci"}'
check "the guest sees the remote edu (1234:11e8)" \
    grep -q '"device":4584,[^}]*"vendor":4660' <<<"${body// /}"
req "$capi" DELETE /v1/vms/vm1
# With a server certificate for this host too, QEMU can be a TLS
# migration's target (the orchestrator names dm-migrate-tls).
cp "$c/server/server-cert.pem" "$c/server/server-key.pem" "$c/client/"
req "$capi" POST /v1/vms '{"id": "vm2", "args": ["-machine", "q35",
    "-accel", "qtest", "-qtest", "null"]}'
vcmd=$(tr '\0' ' ' <"/proc/$(jf pid)/cmdline" 2>/dev/null)
check "with a server certificate QEMU gets the migration server object" \
    grep -qF -- "-object tls-creds-x509,id=dm-migrate-tls,endpoint=server,verify-peer=on,dir=$c/client" \
    <<<"$vcmd"
req "$capi" DELETE /v1/vms/vm2
rm -f "$c/client/server-cert.pem" "$c/client/server-key.pem"
expect "a plain session to that model is refused" 1 "" \
    "$qemu" -M q35 -accel qtest -qtest null -display none -nodefaults \
    -monitor none -remote-device "bus=pci,server=$addr"

# The orchestrator, with the client launcher and a server launcher on
# TCP (it asks those for models on TCP; on a UNIX socket, for UNIX ones).
aport=$("$py" "$here/../free-port.py" 127.0.0.1) || bail "no free port"
mports=$("$py" "$here/../free-port.py" 127.0.0.1 4) || bail "no free ports"
"$dm" daemon --role server --listen "tcp:127.0.0.1:$aport" --insecure-plain-tcp \
    --platform-id srv2 --state-dir "$tmp/srv2" --models edu \
    --model-tls-creds "$c/server" --port-range "$mports-$((mports + 3))" \
    >"$tmp/srv2.log" 2>&1 &
pids+=($!)
wait_for 'grep -q "listening on" "$tmp/srv2.log"' ||
    bail "launcher srv2 did not start: $(cat "$tmp/srv2.log")"
"$orch" --db "$tmp/orch.sqlite" --listen "unix:$tmp/orch.sock" \
    --save-dir "$tmp/saved" >"$tmp/orch.log" 2>&1 &
pids+=($!)
wait_for 'grep -q "serving the API" "$tmp/orch.log"' ||
    bail "orchestrator did not start: $(cat "$tmp/orch.log")"
oapi=unix:$tmp/orch.sock
req "$oapi" POST /v1/platforms '{"name": "srv2", "role": "server",
    "address": "tcp:127.0.0.1:'"$aport"'"}'
req "$oapi" POST /v1/platforms '{"name": "cli", "role": "client",
    "address": "'"$capi"'"}'
check "the orchestrator learns model_tls" [ "$(jf model_tls)" = true ]
req "$oapi" POST /v1/vms '{"name": "ov", "memory": "128M",
    "args": ["-machine", "q35", "-accel", "qtest", "-qtest", "null"],
    "devices": [{"name": "e", "model": "edu"}]}'
req "$oapi" POST /v1/vms/ov/start '{}'
check "a VM with its edu over TLS starts" [ "$(jf state)" = running ]
req "$capi" GET /v1/vms/ov
ocmd=$(tr '\0' ' ' <"/proc/$(jf pid)/cmdline" 2>/dev/null)
check "its -remote-device has tls-creds=dm-model-tls" \
    grep -q -- "-remote-device id=e,bus=pci,server=tcp:.*,tls-creds=dm-model-tls" \
    <<<"$ocmd"
req "$capi" POST /v1/vms/ov/qmp '{"execute": "query-pci"}'
check "and its edu answers" \
    grep -q '"device":4584,[^}]*"vendor":4660' <<<"${body// /}"
req "$oapi" POST /v1/vms/ov/stop '{"timeout": 0}'
check "it stops" [ "$(jf state)" = stopped ]

# A migration between two TCP clients with model TLS credentials (and a
# server certificate naming their host) is a TLS stream, both QEMUs
# verified: the target listens with dm-migrate-tls, so a plain source
# could not get through.
mig=$tmp/mig-creds
mkdir -p "$mig"
cp "$c/client/"* "$c/server/server-cert.pem" "$c/server/server-key.pem" "$mig/"
for cl in cm1 cm2; do
    port=$("$py" "$here/../free-port.py" 127.0.0.1) || bail "no free port"
    "$dm" daemon --role client --listen "tcp:127.0.0.1:$port" \
        --insecure-plain-tcp --platform-id "$cl" --state-dir "$tmp/$cl" \
        --model-tls-creds "$mig" --qemu "$qemu" >"$tmp/$cl.log" 2>&1 &
    pids+=($!)
    wait_for 'grep -q "listening on" "$tmp/'"$cl"'.log"' ||
        bail "launcher $cl did not start: $(cat "$tmp/$cl.log")"
    req "$oapi" POST /v1/platforms '{"name": "'"$cl"'", "role": "client",
        "address": "tcp:127.0.0.1:'"$port"'"}'
    eval "${cl}_api=tcp:127.0.0.1:$port"
done
req "$oapi" POST /v1/vms/ov/start '{"client": "cm1"}'
check "the VM starts on a TCP client" [ "$(jf state)" = running ]
req "$oapi" POST /v1/vms/ov/migrate '{"to": "cm2", "timeout": 60}'
check "it migrates to the other TCP client" \
    [ "$status" = 200 -a "$(jf client)" = cm2 ]
req "$cm2_api" POST /v1/vms/ov/qmp '{"execute": "query-migrate-parameters"}'
check "the target took the stream over TLS (dm-migrate-tls)" \
    grep -q '"tls-creds":"dm-migrate-tls"' <<<"${body// /}"
req "$cm2_api" POST /v1/vms/ov/qmp '{"execute": "query-pci"}'
check "and the edu answers the migrated VM" \
    grep -q '"device":4584,[^}]*"vendor":4660' <<<"${body// /}"
req "$oapi" POST /v1/vms/ov/stop '{"timeout": 0}'
check "the migrated VM stops" [ "$(jf state)" = stopped ]

stop_pids "${pids[@]}"
pids=()
echo "1..$n"
exit $failed
