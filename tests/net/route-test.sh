#!/bin/bash
# Routing through an owner server (patent Fig. 6): the fork connects to
# `dm-remote route` on the owner, which checks the identifiers in VERSION
# and forwards the session to the I/O server hosting the model; the
# device then works end to end (a qtest session programs the BAR and
# reads edu's identification register).  Unknown device models and other
# VMs are refused with clear errors.  TAP.
#   tests/net/route-test.sh BUILD
set -u
build=$(cd "${1:?usage: route-test.sh BUILD}" && pwd)
dm=$build/meson/dm-remote/dm-remote
qemu=$build/qemu-system-x86_64
tmp=$(mktemp -d /tmp/dm-route-XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
n=0 failed=0
ok() { echo "ok $((n += 1)) - $1"; }
not_ok() { echo "not ok $((n += 1)) - $1"; failed=1; }
wait_for() { for _ in $(seq 500); do eval "$1" && return 0; sleep 0.01; done
             return 1; }

# The I/O servers: an edu on a UNIX socket, another on TCP.
"$dm" serve --model edu --listen "unix:$tmp/io1.sock" --bind-vm vm-7 \
    --bind-device-model dm-edu >"$tmp/io1.log" 2>&1 &
pids+=($!)
io2=$((20000 + RANDOM % 20000))
"$dm" serve --model edu --listen "tcp:127.0.0.1:$io2" \
    >"$tmp/io2.log" 2>&1 &
pids+=($!)
port=$((io2 + 1))
"$dm" route --listen "tcp:127.0.0.1:$port" \
    --route "dm-edu=unix:$tmp/io1.sock,vm=vm-7" \
    --route "dm-other=tcp:127.0.0.1:$io2" >"$tmp/route.log" 2>&1 &
pids+=($!)
wait_for '[ -S "$tmp/io1.sock" ] && grep -q serving "$tmp/io2.log" &&
          grep -q routing "$tmp/route.log"' ||
    { echo "Bail out! servers did not start"; exit 1; }

# qtest_edu PROPS: QEMU under qtest; program BAR0, read edu's register 0,
# print what QEMU said.  QEMU stays up after qtest's input ends: it is
# stopped once the read is answered (bounded wait).
qtest_edu() {
    local q log=$tmp/qtest.log
    : >"$log"
    {
        echo "outl 0xcf8 0x80002010"; echo "outl 0xcfc 0xfe000000"
        echo "outl 0xcf8 0x80002004"; echo "outw 0xcfc 0x0002"
        echo "readl 0xfe000000"
        wait_for 'grep -q "^OK 0x" "$log"' || true
    } | "$qemu" -M pc -accel qtest -qtest stdio -display none \
        -nodefaults -monitor none \
        -remote-device "bus=pci,addr=04.0,server=tcp:127.0.0.1:$port,$1" \
        >"$log" 2>&1 &
    q=$!
    for _ in $(seq 3000); do
        grep -q "^OK 0x" "$log" && break
        kill -0 "$q" 2>/dev/null || break
        sleep 0.01
    done
    kill "$q" 2>/dev/null
    wait "$q" 2>/dev/null
    cat "$log"
}

out=$(qtest_edu "vm-id=vm-7,device-model-id=dm-edu")
if grep -q "OK 0x00000000010000ed" <<<"$out"; then
    ok "a session routed through the owner reaches the model"
else
    not_ok "routed session: $out"
fi
if grep -q "route: device model 'dm-edu' of vm 'vm-7' -> unix:$tmp/io1.sock" \
        "$tmp/route.log"; then
    ok "the owner logs where it routed the session"
else
    not_ok "route log: $(cat "$tmp/route.log")"
fi
out=$(qtest_edu "vm-id=vm-9,device-model-id=dm-other")
if grep -q "OK 0x00000000010000ed" <<<"$out"; then
    ok "a second route, to a TCP I/O server"
else
    not_ok "second route: $out"
fi

# try NAME PATTERN PROPS: QEMU must refuse to start, saying PATTERN.
try() {
    local out
    out=$(echo quit | timeout 60 "$qemu" -M pc -accel qtest -qtest null \
          -display none -monitor stdio -nodefaults \
          -remote-device "bus=pci,server=tcp:127.0.0.1:$port,$3" 2>&1)
    if [ $? = 1 ] && grep -q -- "$2" <<<"$out"; then
        ok "$1"
    else
        not_ok "$1: $out"
    fi
}
try "an unknown device model is refused" "No route to host" \
    "vm-id=vm-7,device-model-id=dm-nope"
try "another VM's model is refused by the owner" "refused our identifiers" \
    "vm-id=vm-8,device-model-id=dm-edu"
if grep -q "refused device model 'dm-edu' for vm 'vm-8'" "$tmp/route.log"
then
    ok "the owner logs the refusal"
else
    not_ok "route log: $(cat "$tmp/route.log")"
fi

out=$("$dm" route --listen "tcp:127.0.0.1:1" 2>&1)
[ $? = 2 ] && grep -q "needs at least one --route" <<<"$out" &&
    ok "route without routes is a usage error" ||
    not_ok "route without routes: $out"
out=$("$dm" route --listen "tcp:127.0.0.1:1" --route nonsense 2>&1)
[ $? = 2 ] && grep -q "is not DEVICE_MODEL=ADDRESS" <<<"$out" &&
    ok "a malformed route is a usage error" ||
    not_ok "malformed route: $out"
echo "1..$n"
exit $failed
