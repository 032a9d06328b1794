#!/bin/bash
# make demo: a Linux guest whose serial console and an edu device are
# emulated by dm-remote processes, not by QEMU.  Until the orchestrator
# lands (issue 7) the steps are driven from here, saying what each does.
#   scripts/demo.sh BUILD
set -euo pipefail
build=$(cd "${1:?usage: demo.sh BUILD}" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
dm=$build/meson/dm-remote/dm-remote
tmp=$(mktemp -d /tmp/dm-demo-XXXXXX)
pids=()
cleanup() {
    [ ${#pids[@]} = 0 ] || kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. Server platform: start two device models (dm-remote), each its own process"
"$dm" serve --quiet --model uart16550 --console "unix:$tmp/console.sock" \
    --listen "unix:$tmp/ser0.sock" --bind-vm demo-vm & pids+=($!)
"$dm" serve --quiet --model edu --listen "unix:$tmp/edu0.sock" \
    --bind-vm demo-vm & pids+=($!)
for s in ser0 edu0; do
    for _ in $(seq 500); do [ -S "$tmp/$s.sock" ] && break; sleep 0.01; done
done
echo "   uart16550 on $tmp/ser0.sock, console on $tmp/console.sock"
echo "   edu       on $tmp/edu0.sock (both bound to vm-id demo-vm)"

say "2. Client platform: boot Linux under QEMU with the remote devices"
cmd=("$build/qemu-system-x86_64" -accel tcg -M pc -m 256M -display none
     -monitor none -serial none -no-reboot
     -object memory-backend-memfd,id=ram,size=256M,share=on
     -machine memory-backend=ram
     -kernel "$build/guest/vmlinuz" -initrd "$build/guest/initramfs.cpio.gz"
     -append "console=ttyS0 panic=-1"
     -remote-device "id=ser0,bus=isa,server=unix:$tmp/ser0.sock,iobase=0x3f8,irq=4,vm-id=demo-vm"
     -remote-device "id=edu0,bus=pci,server=unix:$tmp/edu0.sock,vm-id=demo-vm")
printf '%s ' "${cmd[@]}" | sed "s|$tmp/||g; s|$build/||g" | fold -s -w 96 |
    sed 's/^/   /'
"${cmd[@]}" >"$tmp/qemu.log" 2>&1 & qemu=$!
pids+=($qemu)

say "3. The guest's console, seen from the server platform's console socket"
"$here/tests/guest/console-chat.py" "$tmp/console.sock" 150 \
    "expect:DM-GUEST-READY" \
    "send:echo the guest sees: \$(cat /sys/bus/pci/devices/*/vendor | tr '\\n' ' ')" \
    "expect:the guest sees:" \
    "send:uname -sr" "expect:Linux" \
    "send:poweroff -f" | grep -a -E "Linux version|DM-GUEST|the guest sees|^Linux|^[0-9]" | head -n 20 || true

say "4. Power off ends QEMU; then the device models are stopped"
wait $qemu && echo "   QEMU exited cleanly"
pids=("${pids[@]:0:2}")
kill -TERM "${pids[@]}"
wait "${pids[@]}" && echo "   device models stopped (SIGTERM), sockets removed"
pids=()
say "Done. The orchestrator (issue 7) will place, launch and migrate these."
