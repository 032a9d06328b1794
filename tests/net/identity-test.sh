#!/bin/bash
# Identifiers and access tokens: a dm-remote bound to a VM, a client
# platform and a token serves the client that presents them and refuses
# the others, each with its clear error; the token is never logged; plain
# TCP is accepted with a warning.  TAP output.
#   tests/net/identity-test.sh BUILD
set -u
build=$(cd "${1:?usage: identity-test.sh BUILD}" && pwd)
dm=$build/meson/dm-remote/dm-remote
qemu=$build/qemu-system-x86_64
tmp=$(mktemp -d /tmp/dm-ident-XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
. "$(dirname "$0")/../tap.sh"

token=tok-$RANDOM-s3cret
printf '%s\n' "$token" >"$tmp/token"
"$dm" serve --model edu --listen "unix:$tmp/edu.sock" --bind-vm vm-7 \
    --bind-client-platform host-a --token-file "$tmp/token" \
    >"$tmp/dm.log" 2>&1 &
pids+=($!)
for _ in $(seq 500); do [ -S "$tmp/edu.sock" ] && break; sleep 0.01; done

# qemu_try NAME STATUS PATTERN DEVICE-PROPS: start QEMU with the proxy,
# quit at once through the monitor; check exit status and output.
qemu_try() {
    local name=$1 status=$2 pattern=$3 props=$4 out rc
    out=$(echo quit | timeout 60 "$qemu" -M pc -accel qtest -qtest null \
          -display none -monitor stdio -nodefaults \
          -object secret,id=good,data="$token" \
          -object secret,id=bad,data=wrong-token \
          -device "dm-proxy-pci,server=unix:$tmp/edu.sock,$props" 2>&1)
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

qemu_try "matching identifiers and token are served" 0 "" \
    "vm-id=vm-7,client-platform-id=host-a,token-secret=good"
qemu_try "a wrong vm-id is refused" 1 "refused our identifiers" \
    "vm-id=vm-8,client-platform-id=host-a,token-secret=good"
qemu_try "a missing client-platform-id is refused" 1 "refused our identifiers" \
    "vm-id=vm-7,token-secret=good"
qemu_try "a wrong token is refused" 1 "refused our access token" \
    "vm-id=vm-7,client-platform-id=host-a,token-secret=bad"
qemu_try "no token is refused" 1 "refused our access token" \
    "vm-id=vm-7,client-platform-id=host-a"
qemu_try "an unknown secret is a clear error" 1 "No secret with id 'nope'" \
    "vm-id=vm-7,client-platform-id=host-a,token-secret=nope"

if grep -q "refused a client: vm 'vm-8' is not 'vm-7'" "$tmp/dm.log" &&
        grep -q "refused a client: wrong access token" "$tmp/dm.log"; then
    ok "the server logs each refusal"
else
    not_ok "the server's log lacks the refusals: $(cat "$tmp/dm.log")"
fi
if grep -q -- "$token" "$tmp/dm.log" "$tmp/qemu.log"; then
    not_ok "the token appears in a log"
else
    ok "the token is never logged"
fi

# Plain TCP works, with a warning on both ends.
port=$("$(dirname "$0")/../free-port.py")
"$dm" serve --model edu --listen "tcp:127.0.0.1:$port" >"$tmp/tcp.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do
    grep -q "serving" "$tmp/tcp.log" && break; sleep 0.01
done
out=$(echo quit | timeout 60 "$qemu" -M pc -accel qtest -qtest null \
      -display none -monitor stdio -nodefaults \
      -remote-device "bus=pci,server=tcp:127.0.0.1:$port" 2>&1)
if [ $? = 0 ] && grep -q "plain TCP" <<<"$out" &&
        grep -q "in the clear" "$tmp/tcp.log"; then
    ok "plain TCP is served, with a warning on both ends"
else
    not_ok "plain TCP: $out / $(cat "$tmp/tcp.log")"
fi
echo "1..$n"
exit $failed
