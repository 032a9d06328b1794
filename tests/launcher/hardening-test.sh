#!/bin/bash
# The launcher's files, logs and VM arguments: one VM's file names cannot
# be another's, a peer's text cannot forge a log line, sockets and
# directories are the launcher user's only whatever the umask, QEMU
# options outside an allow-list are refused, and file: migrations stay in
# --save-dir.  TAP.
#
#   hardening-test.sh BUILD_ROOT DM_REMOTE
set -u
build_root=$1
bin=$2
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
dir=$(mktemp -d /tmp/dm-harden-XXXXXX)
daemons=()
. "$here/../tap.sh"      # stop_pids; this file has its own pass/fail/check

cleanup() {
    stop_pids "${daemons[@]}"
    rm -rf "$dir"
}
trap cleanup EXIT

. "$here/lib.sh"
mode() { stat -c %a "$1" 2>/dev/null; }
# modes NAME WANT PATH...: every PATH has mode WANT.
modes() {
    local name=$1 want=$2 p bad=
    shift 2
    for p in "$@"; do
        [ "$(mode "$p")" = "$want" ] || bad+=" $p:$(mode "$p")"
    done
    if [ -z "$bad" ]; then pass "$name"; else fail "$name" "not $want:$bad"; fi
}

echo "TAP version 13"

qemu=$build_root/qemu-system-x86_64
vmargs='"-machine", "q35", "-accel", "qtest", "-qtest", "null"'

# --- a client launcher under umask 022, its state dir made 0755 -------

capi=unix:$dir/client.sock
cstate=$dir/client-state
mkdir -m 755 "$cstate"
umask 022
start_daemon client --role client --listen "$capi" --platform-id cl-1 \
    --state-dir "$cstate" --qemu "$qemu"
umask 077

# VM "a.b", then VM "a" with files "b.log" and "b.qmp": as STATE/ID.NAME
# they were a.b's log and QMP socket.
req "$capi" POST /v1/vms "{\"id\": \"a.b\", \"args\": [$vmargs]}"
check vm-a.b 201
abqmp=$(jf qmp)
req "$capi" POST /v1/vms "{\"id\": \"a\", \"args\": [$vmargs,
    \"-object\", \"secret,id=s0,file=@STATE@/a.b.qmp\"],
    \"files\": {\"b.log\": \"SECRET\", \"b.qmp\": \"x\"}}"
check vm-a-files-apart 201
apid=$(jf pid)
if [ -S "${abqmp#unix:}" ] && [ "$(jf qmp)" != "$abqmp" ] &&
   ! grep -rqs SECRET "$(dirname "${abqmp#unix:}")"; then
    pass names-do-not-collide
else
    fail names-do-not-collide "$abqmp; $(ls -lR "$cstate")"
fi
req "$capi" POST /v1/vms/a.b/qmp '{"execute": "query-status"}'
check other-vm-qmp-intact 200 '"status":"running"'
# QMP's largest reply (230 KiB), well inside the 1 MiB a line.
req "$capi" POST /v1/vms/a.b/qmp '{"execute": "query-qmp-schema"}'
check qmp-schema-relayed 200 '"name":"query-qmp-schema"'
secret=$(tr '\0' '\n' <"/proc/$apid/cmdline" | sed -n 's/^secret,id=s0,file=//p')
if [ -f "$secret" ] && [ "$(cat "$secret")" = x ]; then
    pass state-placeholder-finds-file
else
    fail state-placeholder-finds-file "'$secret'"
fi

# Modes, whatever the umask: 0700 directories, 0600 sockets and files.
modes dirs-0700 700 "$cstate" "$(dirname "${abqmp#unix:}")"
modes sockets-0600 600 "$dir/client.sock" "${abqmp#unix:}" "$secret"

# Control characters in a name: refused, and no forged log line.
req "$capi" POST /v1/vms '{"id": "x\nerror: forged"}'
check newline-id-refused 400

# QEMU options outside the allow-list.
for bad in '"-monitor", "stdio"' '"-qmp", "tcp:0:4444"' '"-add-fd", "fd=3,set=1"' \
           '"-plugin", "/tmp/p.so"' '"-run-with", "chroot=/"' '"--monitor", "stdio"' \
           '"-daemonize"' \
           '"-chardev", "file,id=c,path=/tmp/x"' '"-display", "vnc=0.0.0.0:0"'; do
    opt=$(cut -d'"' -f2 <<<"$bad")
    req "$capi" POST /v1/vms "{\"id\": \"bad\", \"args\": [\"-m\", \"64\", $bad]}"
    check "option-refused$opt" 400 "QEMU option '$opt' is not allowed"
done
req "$capi" POST /v1/vms '{"id": "bad", "args": ["/etc/passwd"]}'
check disk-image-refused 400 "is not an option"
req "$capi" POST /v1/vms '{"id": "bad", "args": ["-incoming", "exec:touch /tmp/x"]}'
check incoming-exec-refused 400 "'-incoming exec:"
# Allowed options whose value could reach the host: checked.
for bad in '"-serial", "file:/tmp/x"' '"-qtest", "unix:/tmp/q"' \
           '"-device", "loader,file=/etc/passwd"' \
           '"-object", "memory-backend-file,id=m,mem-path=/tmp/x,size=1M"' \
           '"-object", "secret,id=s,file=/etc/shadow"' \
           '"-object", "secret,id=s,file=@STATE@/../x"' \
           '"-incoming", "file:/tmp/x"'; do
    opt=$(cut -d'"' -f2 <<<"$bad")
    req "$capi" POST /v1/vms "{\"id\": \"bad\", \"args\": [$bad]}"
    check "value-refused$opt-$((n + 1))" 400 "'$opt .*' is not allowed"
done
req "$capi" POST /v1/vms '{"id": "bad", "args": ["-m"]}'
check option-needs-value 400 "needs a value"
req "$capi" GET /v1/vms/bad
check refused-not-launched 404

# --- a server launcher: models' sockets and directories ---------------

api=unix:$dir/server.sock
state=$dir/server-state
umask 022
start_daemon server --role server --listen "$api" --platform-id srv-1 \
    --state-dir "$state"
umask 077
req "$api" POST /v1/instances '{"id": "u1", "model": "uart16550",
    "transport": "unix", "console": true, "token": "t"}'
check launch-u1 201
sock=$(jf address); sock=${sock#unix:}
cons=$(jf console); cons=${cons#unix:}
modes model-dirs-0700 700 "$state" "$(dirname "$sock")"
modes model-sockets-0600 600 "$dir/server.sock" "$sock" "$cons"

# --- a fake QEMU: a stray QMP id in the log, file: in the save dir -----
# (--save-dir's default, STATE/saves)

fapi=unix:$dir/fake.sock
saves=$dir/fake/saves
FAKE_QEMU_STRAY_ID=$'x\nerror: forged' FAKE_QEMU_DEEP=1 \
    start_daemon fake -v --role client \
    --listen "$fapi" --platform-id cl-2 --state-dir "$dir/fake" \
    --qemu "$here/fake-qemu.py"
req "$fapi" POST /v1/vms '{"id": "f1"}'
check fake-launch 201
wait_for grep -q "unknown id" "$dir/fake.err"
if grep -q 'unknown id .x\\x0aerror: forged' "$dir/fake.err" &&
   ! grep -q "^error: forged" "$dir/fake.err"; then
    pass log-escapes-control-chars
else
    fail log-escapes-control-chars "$(cat "$dir/fake.err")"
fi
# A QMP line nested 1 MiB deep (inside the 1 MiB a line): refused, that
# connection dropped, and QMP answers below on a new one.
wait_for grep -q "nested deeper than 1024 levels" "$dir/fake.err"
if grep -q "QMP .*: a line refused (JSON nested deeper than 1024 levels), disconnecting" \
       "$dir/fake.err"; then
    pass qmp-deep-line-refused
else
    fail qmp-deep-line-refused "$(tail -5 "$dir/fake.err")"
fi
req "$fapi" POST /v1/vms/f1/qmp \
    "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"file:$dir/elsewhere\"}}"
check file-outside-save-dir 403 "save-dir"
req "$fapi" POST /v1/vms/f1/qmp \
    "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"file:$saves-x/f1\"}}"
check file-beside-save-dir 403 "save-dir"
req "$fapi" POST /v1/vms/f1/qmp \
    "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"file:$saves/f1.vmstate\"}}"
check file-in-save-dir 200 '"return"'
if [ "$(mode "$saves")" = 700 ]; then pass save-dir-made; else
    fail save-dir-made "$(ls -ld "$saves")"; fi
# An explicit --save-dir replaces it.
start_daemon fake2 --role client --listen "unix:$dir/fake2.sock" \
    --platform-id cl-3 --state-dir "$dir/fake2" \
    --qemu "$here/fake-qemu.py" --save-dir "$dir/elsewhere"
req "unix:$dir/fake2.sock" POST /v1/vms '{"id": "f2"}'
check fake2-launch 201
req "unix:$dir/fake2.sock" POST /v1/vms/f2/qmp \
    "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"file:$dir/elsewhere/f2\"}}"
check file-in-given-save-dir 200 '"return"'
req "unix:$dir/fake2.sock" POST /v1/vms/f2/qmp \
    "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"file:$dir/fake2/saves/f2\"}}"
check default-save-dir-replaced 403 "save-dir"
out=$(timeout 20 "$bin" daemon --role server --listen "unix:$dir/y.sock" \
      --platform-id p --state-dir "$dir/y" --save-dir "$dir/s" 2>&1)
if [ $? = 2 ] && grep -q "are for --role client" <<<"$out"; then
    pass save-dir-client-only
else
    fail save-dir-client-only "$out"
fi

echo "1..$n"
exit $failed
