#!/bin/bash
# Boot the guest image under TCG, type a command into its serial console
# once /init says DM-GUEST-READY, and check that the answer comes back and
# that QEMU exits on poweroff. TAP output.
#   tests/guest/boot-smoke.sh BUILD
# The image must exist: scripts/guest-image.sh BUILD/guest.
set -uo pipefail
build=${1:?usage: boot-smoke.sh BUILD}
guest=$build/guest
limit=120                       # seconds for the whole boot-to-exit
n=0
failed=0
tmp=

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; failed=1; }
now_ms() { date +%s%3N; }
finish() {
    if [ "$failed" != 0 ] && [ -s "$tmp/console" ]; then
        echo "# console (last 20 lines):"
        tail -n 20 "$tmp/console" | sed 's/^/#   /'
    fi
    echo "1..$n"
    exit "$failed"
}

for f in vmlinuz initramfs.cpio.gz append; do
    if [ ! -s "$guest/$f" ]; then
        not_ok "guest image present: no $guest/$f (scripts/guest-image.sh)"
        finish
    fi
done
ok "guest image present"

tmp=$(mktemp -d)
qemu_pid=
trap '[ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
mkfifo "$tmp/in" "$tmp/out"

# FIFOs rather than a coproc: bash unsets a coproc's fds when it exits,
# which races with reading its last output.
start=$(now_ms)
timeout "$limit" "$build/qemu-system-x86_64" -accel tcg -M pc -m 256M \
    -nographic -no-reboot \
    -kernel "$guest/vmlinuz" -initrd "$guest/initramfs.cpio.gz" \
    -append "$(cat "$guest/append")" \
    <"$tmp/in" >"$tmp/out" 2>&1 &
qemu_pid=$!
exec {to}>"$tmp/in" {from}<"$tmp/out"

# expect GLOB: read console lines (also logged) until one matches GLOB;
# fails on EOF or when the overall deadline passes.
deadline=$((SECONDS + limit + 5))
expect() {
    local line left
    while left=$((deadline - SECONDS)); [ "$left" -gt 0 ]; do
        IFS= read -r -t "$left" line <&"$from" || [ -n "$line" ] || return 1
        line=${line//$'\r'/}
        printf '%s\n' "$line" >>"$tmp/console"
        # shellcheck disable=SC2053   # $1 is a glob on purpose
        [[ $line == $1 ]] && return 0
    done
    return 1
}

# The kernel's terminal reset can precede the marker on the same line.
if ! expect '*DM-GUEST-READY*'; then
    not_ok "guest printed DM-GUEST-READY within ${limit}s"
    finish
fi
ms=$(($(now_ms) - start))
ok "guest printed DM-GUEST-READY after $((ms / 1000)).$((ms % 1000 / 100))s"

# The console's line discipline buffers this until the shell reads it.
printf 'echo hello-%s\npoweroff -f\n' $$ >&"$to"
# Exact line: the echo of the typed command also contains hello-$$.
if expect "hello-$$"; then
    ok "shell command output came back over the console"
else
    not_ok "shell command output came back over the console"
fi

# QEMU closes its output when it exits: drain to EOF, then its status.
while expect '*'; do :; done
wait "$qemu_pid"
status=$?
qemu_pid=
if [ "$status" = 0 ]; then
    ok "QEMU exited after poweroff -f"
else
    not_ok "QEMU exited after poweroff -f (status $status, 124 = timeout)"
fi
finish
