#!/bin/bash
# Build our own code (libvup, dm-remote, tests) with meson in BUILD/meson.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: build-ours.sh BUILD}
export CCACHE_DIR="${CCACHE_DIR:-${DM_CACHE:-/var/cache/dm-build}/ccache}"

if [ ! -f "$out/meson/build.ninja" ]; then
    meson setup "$out/meson" "$top" > "$out/meson-setup.log" 2>&1 ||
        { cat "$out/meson-setup.log" >&2; exit 1; }
fi
"$(dirname "$0")/ninja-progress.sh" build-ours "$out/meson-build.log" \
        -C "$out/meson" ||
    { grep -E -A8 'FAILED|error' "$out/meson-build.log" | head -n 60 >&2
      exit 1; }

# The web console: our pages and the npm packages' files (npm ci).
"$(dirname "$0")/build-web.sh" "$out"

# Programs that run inside the guest go into its initramfs.
mkdir -p "$out/guest-extra"
cp -u "$out/meson/bench/mmio-bench" "$out/meson/bench/pio-bench" \
    "$out/meson/bench/blk-bench" "$out/meson/bench/rtc-bench" \
    "$out/meson/bench/fb-bench" \
    "$out/meson/tests/blk-verify" "$out/meson/tests/membar-check" \
    "$out/meson/tests/net-flood" \
    "$out/guest-extra/"
GUEST_EXTRA_DIR="$out/guest-extra" "$(dirname "$0")/guest-image.sh" \
    "$out/guest"
# A disk that VMs boot from (tests/guest/virtio-blk-boot.sh).
"$(dirname "$0")/boot-disk-image.sh" "$out/guest"
