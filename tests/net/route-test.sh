#!/bin/bash
# Routing through an owner server (patent Fig. 6): the fork connects to
# `dm-remote route` on the owner, which checks the identifiers in VERSION
# and forwards the session to the I/O server hosting the model; the
# device then works end to end (a qtest session programs the BAR and
# reads edu's identification register).  Unknown device models and other
# VMs are refused with clear errors.  Then a router whose routes come
# from a file changed while it runs.  TAP.
#   tests/net/route-test.sh BUILD [DM_REMOTE]
set -u
build=$(cd "${1:?usage: route-test.sh BUILD [DM_REMOTE]}" && pwd)
# meson passes BUILD as MESON_BUILD_DIR/..: test that build's dm-remote.
dm=${2:-}
if [ -z "$dm" ] && [ "${1%/..}" != "$1" ] &&
   [ -x "${1%/..}/dm-remote/dm-remote" ]; then
    dm=${1%/..}/dm-remote/dm-remote
fi
dm=${dm:-$build/meson/dm-remote/dm-remote}
qemu=$build/qemu-system-x86_64
tmp=$(mktemp -d /tmp/dm-route-XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
. "$(dirname "$0")/../tap.sh"
wait_for() { for _ in $(seq 500); do eval "$1" && return 0; sleep 0.01; done
             return 1; }

# The I/O servers: an edu on a UNIX socket, another on TCP.
"$dm" serve --model edu --listen "unix:$tmp/io1.sock" --bind-vm vm-7 \
    --bind-device-model dm-edu >"$tmp/io1.log" 2>&1 &
pids+=($!)
io2=$("$(dirname "$0")/../free-port.py" 127.0.0.1 2)
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
        -remote-device "bus=pci,addr=04.0,server=tcp:127.0.0.1:${2:-$port},$1" \
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

# try NAME PATTERN PROPS [PORT]: QEMU must refuse to start, saying PATTERN.
try() {
    local out
    out=$(echo quit | timeout 60 "$qemu" -M pc -accel qtest -qtest null \
          -display none -monitor stdio -nodefaults \
          -remote-device "bus=pci,server=tcp:127.0.0.1:${4:-$port},$3" 2>&1)
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
[ $? = 2 ] && grep -q "needs at least one --route or a --routes-file" \
    <<<"$out" &&
    ok "route without routes is a usage error" ||
    not_ok "route without routes: $out"
out=$("$dm" route --listen "tcp:127.0.0.1:1" --route nonsense 2>&1)
[ $? = 2 ] && grep -q "is not DEVICE_MODEL=ADDRESS" <<<"$out" &&
    ok "a malformed route is a usage error" ||
    not_ok "malformed route: $out"
out=$("$dm" route --help)
grep -q -- "--routes-file=PATH" <<<"$out" && ok "--help has --routes-file" ||
    not_ok "help: $out"

# --- routes from a file, read again for each session ---------------------
# The router starts with one route in the file (to the TCP I/O server)
# and one on its command line; routes are then added, broken, removed.
rfile=$tmp/routes
printf '# routes\n\n  dm-a=tcp:127.0.0.1:%s  \n' "$io2" >"$rfile"
fport=$((port + 1))
"$dm" route --listen "tcp:127.0.0.1:$fport" --routes-file "$rfile" \
    --route "dm-edu=unix:$tmp/io1.sock,vm=vm-7" >"$tmp/froute.log" 2>&1 &
pids+=($!)
wait_for 'grep -q routing "$tmp/froute.log"' ||
    { echo "Bail out! the file router did not start"; exit 1; }
# ident PROPS: does a session with PROPS reach edu through the file router?
ident() { grep -q "OK 0x00000000010000ed" <<<"$(qtest_edu "$1" "$fport")"; }

ident "vm-id=vm-1,device-model-id=dm-a" &&
    ok "a route from the file at start-up" ||
    not_ok "file route: $(cat "$tmp/froute.log")"
ident "vm-id=vm-7,device-model-id=dm-edu" &&
    ok "--route applies beside --routes-file" ||
    not_ok "--route beside the file: $(cat "$tmp/froute.log")"
try "a model not in the file yet is refused" "No route to host" \
    "vm-id=vm-1,device-model-id=dm-b" "$fport"
# A new version of the file, as the launcher writes it: temp + rename.
printf 'dm-a=tcp:127.0.0.1:%s\n# added:\ndm-b=tcp:127.0.0.1:%s,vm=vm-2\n' \
    "$io2" "$io2" >"$rfile.tmp"
mv "$rfile.tmp" "$rfile"
ident "vm-id=vm-2,device-model-id=dm-b" &&
    ok "a route added to the file serves the next session" ||
    not_ok "added route: $(cat "$tmp/froute.log")"
try "a file route bound to a VM refuses another VM" \
    "refused our identifiers" "vm-id=vm-3,device-model-id=dm-b" "$fport"

# A bad line: one error naming the file and the line, the last good
# routes stay (dm-b still works), and no second error for the same file.
printf 'dm-a=tcp:127.0.0.1:%s\nnonsense\n' "$io2" >"$rfile.tmp"
mv "$rfile.tmp" "$rfile"
ident "vm-id=vm-2,device-model-id=dm-b" &&
    ident "vm-id=vm-1,device-model-id=dm-a" &&
    ok "a bad line keeps the last good routes" ||
    not_ok "bad line: $(cat "$tmp/froute.log")"
c=$(grep -c "routes file $rfile line 2: 'nonsense' is not DEVICE_MODEL" \
    "$tmp/froute.log")
[ "$c" = 1 ] && ok "the bad line is logged once, with file and line" ||
    not_ok "bad line logged $c times: $(cat "$tmp/froute.log")"

# Removed from the file: refused again.
printf 'dm-a=tcp:127.0.0.1:%s\n' "$io2" >"$rfile.tmp"
mv "$rfile.tmp" "$rfile"
try "a route removed from the file is refused" "No route to host" \
    "vm-id=vm-2,device-model-id=dm-b" "$fport"

# The file gone: logged once, the last routes kept.
rm "$rfile"
ident "vm-id=vm-1,device-model-id=dm-a" &&
    ident "vm-id=vm-1,device-model-id=dm-a" &&
    ok "a missing file keeps the last good routes" ||
    not_ok "missing file: $(cat "$tmp/froute.log")"
c=$(grep -c "routes file $rfile: No such file or directory" \
    "$tmp/froute.log")
[ "$c" = 1 ] && ok "the missing file is logged once" ||
    not_ok "missing file logged $c times: $(cat "$tmp/froute.log")"

# A route for the session's VM wins over one for any VM.
printf 'dm-c=unix:%s/none.sock\ndm-c=tcp:127.0.0.1:%s,vm=vm-4\n' \
    "$tmp" "$io2" >"$rfile"
ident "vm-id=vm-4,device-model-id=dm-c" &&
    ok "a route for the VM wins over one for any VM" ||
    not_ok "vm route first: $(cat "$tmp/froute.log")"
echo "1..$n"
exit $failed
