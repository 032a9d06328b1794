#!/bin/bash
# dm-proxy-pci under -accel kvm: SeaBIOS, running on a KVM vCPU, finds the
# remote edu through the proxied config space and assigns its BAR (every
# config access is a vCPU port I/O exit served by the model); the BAR then
# answers with edu's identification.  A full guest kernel cannot run on
# this nested KVM (see ARCHITECTURE.md), so the firmware is the guest.
# Skipped where /dev/kvm is missing or unusable.  TAP output.
#   tests/guest/kvm-smoke.sh BUILD
set -u
build=$(cd "${1:?usage: kvm-smoke.sh BUILD}" && pwd)
tmp=$(mktemp -d /tmp/dm-kvm-XXXXXX)
dm_pid=
trap 'kill $dm_pid 2>/dev/null; rm -rf "$tmp"' EXIT

if [ ! -w /dev/kvm ] ||
   ! timeout 20 "$build/qemu-system-x86_64" -accel kvm -M pc -nodefaults \
        -display none -monitor none -S -device help >/dev/null 2>&1; then
    echo "1..0 # SKIP no usable /dev/kvm"
    exit 0
fi

"$build/meson/dm-remote/dm-remote" serve --quiet --model edu \
    --listen "unix:$tmp/edu.sock" & dm_pid=$!
for _ in $(seq 500); do [ -S "$tmp/edu.sock" ] && break; sleep 0.01; done

# Let the firmware enumerate PCI, then look through the monitor.
out=$( (sleep 5; echo "info pci"; sleep 1; echo quit) |
       timeout 60 "$build/qemu-system-x86_64" -accel kvm -M pc -m 128M \
           -display none -monitor stdio -serial none -nodefaults \
           -device "dm-proxy-pci,server=unix:$tmp/edu.sock,addr=04.0" 2>&1)
bar=$(grep -A4 "1234:11e8" <<<"$out" |
      sed -n 's/.*BAR0: 32 bit memory at \(0x[0-9a-f]*\).*/\1/p')
n=0 failed=0
if [ -n "$bar" ] && [ "$bar" != "0xffffffffffffffff" ]; then
    echo "ok $((n += 1)) - SeaBIOS on KVM assigned the remote BAR0 at $bar"
else
    echo "not ok $((n += 1)) - no BAR0 assigned: $(grep -A4 11e8 <<<"$out")"
    failed=1
fi

if [ -n "$bar" ]; then
    out=$( (sleep 5; echo "xp /1wx $bar"; sleep 1; echo quit) |
           timeout 60 "$build/qemu-system-x86_64" -accel kvm -M pc -m 128M \
               -display none -monitor stdio -serial none -nodefaults \
               -device "dm-proxy-pci,server=unix:$tmp/edu.sock,addr=04.0" 2>&1)
    if grep -q "0x010000ed" <<<"$out"; then
        echo "ok $((n += 1)) - the BAR answers with edu's identification"
    else
        echo "not ok $((n += 1)) - BAR read: $(grep -i "$bar" <<<"$out")"
        failed=1
    fi
fi
echo "1..$n"
exit $failed
