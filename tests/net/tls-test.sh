#!/bin/bash
# TLS between the fork and dm-remote: both ends verified.  A good pair is
# served; a client certificate from another CA, a server certificate from
# another CA or for another name, a plain client on a TLS server and a TLS
# client on a plain server are each refused with a clear error.  TAP.
#   tests/net/tls-test.sh BUILD
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: tls-test.sh BUILD}" && pwd)
dm=$build/meson/dm-remote/dm-remote
qemu=$build/qemu-system-x86_64
tmp=$(mktemp -d /tmp/dm-tls-test-XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
. "$(dirname "$0")/../tap.sh"

"$here/make-certs.sh" "$tmp/certs"

# serve NAME ARGS...: a dm-remote edu on a free port; sets $port.
serve() {
    local log=$tmp/$1.log
    shift
    port=$("$here/../free-port.py")
    "$dm" serve --model edu --listen "tcp:127.0.0.1:$port" "$@" \
        >"$log" 2>&1 &
    pids+=($!)
    for _ in $(seq 500); do
        grep -q "serving" "$log" && return; sleep 0.01
    done
}

# qemu_try NAME STATUS PATTERN CREDS-DIR|- PROPS: QEMU with the proxy,
# quit at once; check the exit status and that the output has PATTERN.
qemu_try() {
    local name=$1 status=$2 pattern=$3 creds=$4 props=$5 out rc obj=()
    if [ "$creds" != - ]; then
        obj=(-object "tls-creds-x509,id=tls0,endpoint=client,dir=$creds")
    fi
    out=$(echo quit | timeout 60 "$qemu" -M pc -accel qtest -qtest null \
          -display none -monitor stdio -nodefaults "${obj[@]}" \
          -remote-device "bus=pci,$props" 2>&1)
    rc=$?
    if [ "$rc" != "$status" ]; then
        not_ok "$name: exit $rc, wanted $status: $(tail -n 2 <<<"$out")"
    elif [ -n "$pattern" ] && ! grep -q -- "$pattern" <<<"$out"; then
        not_ok "$name: output lacks '$pattern': $out"
    else
        ok "$name"
    fi
    printf '%s\n' "$out" >>"$tmp/qemu.log"
}

# A generous hello timeout: the silent connection below must still be
# pending when the checks that follow it run.
serve tls --tls-creds "$tmp/certs/server" --hello-timeout 120
tls_port=$port
if grep -q "with TLS (client certificates verified)" "$tmp/tls.log"; then
    ok "dm-remote says it requires TLS"
else
    not_ok "dm-remote's banner: $(cat "$tmp/tls.log")"
fi
qemu_try "a verified pair is served" 0 "" "$tmp/certs/client" \
    "server=tcp:127.0.0.1:$tls_port,tls-creds=tls0"
# A connection that never speaks holds nothing up: its handshake waits
# in the event loop while the next client is served.
exec 3<>"/dev/tcp/127.0.0.1/$tls_port"
qemu_try "a verified pair is served while another connection stays silent" \
    0 "" "$tmp/certs/client" "server=tcp:127.0.0.1:$tls_port,tls-creds=tls0"
if grep -q "no TLS handshake\|stalled\|sent no VERSION" "$tmp/tls.log"; then
    not_ok "the silent connection held the server up: $(tail -n 3 "$tmp/tls.log")"
else
    ok "the silent connection was still pending, and held no one up"
fi
exec 3>&-
for _ in $(seq 500); do
    grep -q "no TLS handshake: the client closed" "$tmp/tls.log" && break
    sleep 0.01
done
if grep -q "no TLS handshake: the client closed" "$tmp/tls.log"; then
    ok "the silent connection's close is logged"
else
    not_ok "no line for the silent connection: $(tail -n 3 "$tmp/tls.log")"
fi

# With the device and the standby slot taken (a QEMU, and a migration
# target), a third TLS client is told, over TLS, that the model is busy.
holders=()
hold() {
    "$qemu" -M pc -accel qtest -qtest null -display none -monitor none \
        -nodefaults -object "tls-creds-x509,id=tls0,endpoint=client,dir=$tmp/certs/client" \
        -remote-device "bus=pci,server=tcp:127.0.0.1:$tls_port,tls-creds=tls0" \
        "$@" >>"$tmp/holders.log" 2>&1 &
    holders+=($!) pids+=($!)
}
connected() { grep -c "client connected" "$tmp/tls.log"; }
before=$(connected)
hold
for _ in $(seq 1000); do [ "$(connected)" -gt "$before" ] && break; sleep 0.01; done
hold -incoming defer
for _ in $(seq 1000); do [ "$(connected)" -gt $((before + 1)) ] && break; sleep 0.01; done
if [ "$(connected)" -eq $((before + 2)) ]; then
    ok "a QEMU holds the device and a migration target waits as standby"
else
    not_ok "holders not both connected: $(tail -n 5 "$tmp/tls.log") $(cat "$tmp/holders.log")"
fi
qemu_try "a third TLS client is told the model is busy" 1 \
    "is busy serving another client" "$tmp/certs/client" \
    "server=tcp:127.0.0.1:$tls_port,tls-creds=tls0"
kill "${holders[@]}" 2>/dev/null
wait "${holders[@]}" 2>/dev/null

if grep -q "plain TCP" "$tmp/qemu.log"; then
    not_ok "QEMU warned about plain TCP on a TLS session"
else
    ok "no plain-TCP warning with TLS"
fi
if grep -q "TLS session with O=dm test,CN=qemu test client" "$tmp/tls.log"
then
    ok "dm-remote names the verified client"
else
    not_ok "dm-remote's log lacks the client: $(cat "$tmp/tls.log")"
fi
qemu_try "a client certificate from another CA is refused" 1 \
    "ended the TLS session" "$tmp/certs/rogue-client" \
    "server=tcp:127.0.0.1:$tls_port,tls-creds=tls0"
if grep -q "TLS: the client presented no certificate signed by our CA" \
        "$tmp/tls.log"; then
    ok "dm-remote logs the refused certificate"
else
    not_ok "dm-remote's log: $(cat "$tmp/tls.log")"
fi
qemu_try "a server name other than the certificate's is refused" 1 \
    "server certificate rejected" "$tmp/certs/client" \
    "server=tcp:127.0.0.1:$tls_port,tls-creds=tls0,tls-hostname=other.example"
qemu_try "a plain client on a TLS server is told TLS is required" 1 \
    "requires TLS: give the proxy tls-creds" - \
    "server=tcp:127.0.0.1:$tls_port"

serve rogue --tls-creds "$tmp/certs/rogue-server"
qemu_try "a server certificate from another CA is refused" 1 \
    "server certificate rejected" "$tmp/certs/client" \
    "server=tcp:127.0.0.1:$port,tls-creds=tls0"

serve plain
qemu_try "a TLS client on a plain server fails the handshake" 1 \
    "TLS handshake with tcp:127.0.0.1:$port failed" "$tmp/certs/client" \
    "server=tcp:127.0.0.1:$port,tls-creds=tls0"

qemu_try "tls-creds on a UNIX socket is a clear error" 1 \
    "'tls-creds' needs server=tcp:HOST:PORT" "$tmp/certs/client" \
    "server=unix:$tmp/none.sock,tls-creds=tls0"
qemu_try "unknown credentials are a clear error" 1 \
    "no TLS credentials object 'nope'" - \
    "server=tcp:127.0.0.1:$tls_port,tls-creds=nope"

out=$("$dm" serve --model edu --listen "unix:$tmp/x.sock" \
      --tls-creds "$tmp/certs/server" 2>&1)
if [ $? = 2 ] && grep -q "tls-creds needs a tcp:" <<<"$out"; then
    ok "dm-remote: --tls-creds on a UNIX socket is a usage error"
else
    not_ok "dm-remote --tls-creds with unix: $out"
fi
out=$("$dm" serve --model edu --listen tcp:127.0.0.1:1 \
      --tls-creds "$tmp/none" 2>&1)
if [ $? = 1 ] && grep -q "TLS credentials: .*needs ca-cert.pem" <<<"$out"
then
    ok "dm-remote: missing credentials are a clear error"
else
    not_ok "dm-remote with missing credentials: $out"
fi
echo "1..$n"
exit $failed
