#!/bin/bash
# The fork is ours: --version carries our suffix, our device type is
# registered next to the upstream devices we depend on.
set -eu
qemu=$1
fail() { echo "FAIL: $*" >&2; exit 1; }

[ -x "$qemu" ] || fail "$qemu is missing (run make)"
version=$("$qemu" --version | head -n1)
echo "$version"
case "$version" in
    *"10.2.2 (dm)"*) ;;
    *) fail "version line lacks our suffix: $version" ;;
esac
devices=$("$qemu" -device help)
for dev in dm-proxy-pci edu isa-serial vfio-user-pci; do
    grep -q "name \"$dev\"" <<<"$devices" || fail "device $dev missing"
done
"$qemu" -object help | grep -qx '  x-vfio-user-server' ||
    fail "x-vfio-user-server missing"
# Our device exists but has no back end yet: realize must fail cleanly.
out=$("$qemu" -M pc -accel qtest -display none -monitor none \
        -serial none -device dm-proxy-pci </dev/null 2>&1) &&
    fail "dm-proxy-pci realized without a server"
grep -q "dm-proxy-pci" <<<"$out" || fail "unclear error: $out"
# -remote-device: one clear line and exit status 1 for bad input.
remote_err() {
    local pattern=$1 out rc
    shift
    out=$("$qemu" -M pc -accel qtest -display none -monitor none \
          -serial none "$@" </dev/null 2>&1) && rc=0 || rc=$?
    [ "$rc" = 1 ] || fail "-remote-device $*: exit $rc, wanted 1"
    # One error line (plain TCP adds a warning line before it).
    [ "$(grep -vc ': warning: ' <<<"$out")" = 1 ] ||
        fail "-remote-device $*: not one error line: $out"
    grep -q -- "$pattern" <<<"$out" || fail "-remote-device $*: '$out' lacks '$pattern'"
}
remote_err "unknown bus 'usb' (isa or pci)" -remote-device bus=usb,server=unix:/x
remote_err "'bus' is required" -remote-device server=unix:/x
remote_err "'server' is required" -remote-device bus=isa
remote_err "bad server: unsupported address 'ftp:x' (expected unix:PATH or tcp:HOST:PORT)" \
    -remote-device bus=pci,server=ftp:x
remote_err "bad server: empty path in 'unix:'" -remote-device bus=isa,server=unix:
remote_err "bad server: missing port in 'tcp:host'" -remote-device bus=pci,server=tcp:host
remote_err "bad server: bad host or port in 'tcp:host:99999'" \
    -remote-device bus=pci,server=tcp:host:99999
remote_err "bad server: socket path too long" \
    -remote-device bus=pci,server=unix:/$(printf 'd%.0s' {1..120})
# rtc=on: for bus=isa.
remote_err "'rtc' is for bus=isa" -remote-device bus=pci,server=unix:/x,rtc=on
# -device takes the same parser.
remote_err "bad server: missing port in 'tcp:host'" -device dm-proxy-pci,server=tcp:host
# Identifiers: libvup's rule, the same for -remote-device and -device.
remote_err "bad vm-id 'vm 7' (1 to 128 of A-Z a-z 0-9 . _ -)" \
    -remote-device "bus=pci,server=unix:/x,vm-id=vm 7"
remote_err "bad hypervisor-id 'a/b'" -device dm-proxy-pci,server=unix:/x,hypervisor-id=a/b
remote_err "bad device-model-id ''" -remote-device bus=isa,server=unix:/x,device-model-id=
remote_err "bad server-platform-id" \
    -remote-device bus=isa,server=unix:/x,server-platform-id=$(printf 's%.0s' {1..129})
# What the orchestrator sends passes: a UUID, a 64-byte name + "-qemu".
remote_err "cannot connect to unix:/nonexistent/dm.sock" \
    -remote-device bus=isa,server=unix:/nonexistent/dm.sock,vm-id=3f2504e0-4f89-11d3-9a0c-0305e82c3301,hypervisor-id=$(printf 'h%.0s' {1..64})-qemu
remote_err "Invalid parameter 'frob'" -remote-device bus=isa,server=unix:/x,frob=1
remote_err "'addr' is for bus=pci" -remote-device bus=isa,server=unix:/x,addr=04.0
remote_err "'bootindex' is for bus=pci" -remote-device bus=isa,server=unix:/x,bootindex=1
remote_err "'ioeventfd' is for bus=pci" -remote-device bus=isa,server=unix:/x,ioeventfd=off
remote_err "'irqfd' is for bus=pci" -remote-device bus=isa,server=unix:/x,irqfd=off
remote_err "'vq-fetch' is for bus=pci" -remote-device bus=isa,server=unix:/x,vq-fetch=off
remote_err "'mmap' is for bus=pci" -remote-device bus=isa,server=unix:/x,mmap=off
remote_err "'irq-hold-us' is for bus=pci" -remote-device bus=isa,server=unix:/x,irq-hold-us=200
# Passed on to the proxy: the connection, not the option, fails.
remote_err "cannot connect to unix:/nonexistent/dm.sock" \
    -remote-device bus=pci,server=unix:/nonexistent/dm.sock,irq-hold-us=200
remote_err "cannot connect to unix:/nonexistent/dm.sock" \
    -remote-device bus=pci,server=unix:/nonexistent/dm.sock,irq-hold-us=auto
# A bad value is refused before any connection is tried.
remote_err "irq-hold-us must be auto or 0..1000000 (microseconds), not 'soon'" \
    -remote-device bus=pci,server=unix:/nonexistent/dm.sock,irq-hold-us=soon
remote_err "irq-hold-us must be auto or 0..1000000 (microseconds), not '1000001'" \
    -remote-device bus=pci,server=unix:/nonexistent/dm.sock,irq-hold-us=1000001
remote_err "'iobase' and 'irq' are for bus=isa" -remote-device bus=pci,server=unix:/x,irq=4
remote_err "cannot connect to unix:/nonexistent/dm.sock" \
    -remote-device bus=isa,server=unix:/nonexistent/dm.sock
remote_err "cannot connect to tcp:127.0.0.1:1" \
    -remote-device bus=pci,server=tcp:127.0.0.1:1
"$qemu" -help | grep -q -- "-remote-device \[id=ID,\]bus=isa|pci" ||
    fail "-remote-device missing from -help"
"$qemu" -help | grep -q -- "\[,irq-hold-us=auto|N\]" ||
    fail "-remote-device's irq-hold-us missing from -help"
for dev in dm-proxy-isa; do
    grep -q "name \"$dev\"" <<<"$devices" || fail "device $dev missing"
done
echo "ok"
