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
echo "ok"
