#!/bin/bash
# make deps: install what the build and the tests need from Debian.
# Idempotent and quiet when nothing is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/apt-private.sh"

# Debian 12 packages (bookworm main).  libnbd-dev: virtio-blk's NBD back
# end; qemu-utils (qemu-img, qemu-nbd): only its tests; liburing-dev: the
# raw back end's io_uring; qemu-system-common: qemu-storage-daemon, the
# peers of the disk benchmark (vhost-user-blk and NBD exports);
# libslirp-dev: QEMU's user networking and virtio-net's net=user; clang,
# libclang-rt-14-dev (libFuzzer, only recommended by clang) and llvm
# (llvm-symbolizer): the fuzz targets (scripts/build-fuzz.sh); etcd-server,
# etcd-client (etcdctl): the orchestrator's store on etcd and its tests
# (tests/orchestrator/with-etcd.sh).  npm: the web console's front-end
# packages (web/package.json); chromium, chromium-driver and
# python3-selenium: its browser tests (tests/web/).  libvncserver-dev:
# bochs-display's VNC server (optional to the build: without it vnc= is
# refused), python3-cryptography: the test's RFB client (DES of VNC
# authentication); nettle-dev: the launcher's own (its display WebSocket
# authenticates to the display's VNC server).
PKGS=(
    build-essential pkg-config ninja-build ccache rsync xz-utils dpkg-dev
    python3 python3-venv flex bison cpio git device-tree-compiler
    libglib2.0-dev libpixman-1-dev libslirp-dev zlib1g-dev
    libjson-c-dev libcmocka-dev lib32gcc-12-dev libgnutls28-dev gnutls-bin
    libsoup-3.0-dev glib-networking libjson-glib-dev libsqlite3-dev sqlite3
    socat e2fsprogs
    libnbd-dev qemu-utils liburing-dev qemu-system-common
    clang libclang-rt-14-dev llvm
    etcd-server etcd-client
    libvncserver-dev python3-cryptography nettle-dev
    seabios ipxe-qemu busybox-static
    fdisk mtools dosfstools syslinux syslinux-common
    npm chromium chromium-driver python3-selenium
)

export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" != 0 ]; then
    echo "deps: must run as root to install packages" >&2
    exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
    # An npm already there (Node.js from elsewhere, whose nodejs package
    # conflicts with Debian's npm) does the job: only its command is used.
    [ "$p" = npm ] && command -v npm >/dev/null && continue
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    apt-get -qq update >/dev/null
    apt-get -qq install -y --no-install-recommends "${missing[@]}" \
        >/dev/null 2>&1 ||
        { echo "deps: apt-get install failed" >&2; exit 1; }
fi

# QEMU 10.2's configure needs meson >= 1.5 and pycotap; bookworm has meson
# 1.0.1 and no pycotap, bookworm-backports has both.
backports_ok() {
    /usr/bin/python3 - <<'PY' 2>/dev/null
import mesonbuild.coredata as c, sys
import pycotap
v = tuple(int(x) for x in c.version.split('.')[:2])
sys.exit(0 if v >= (1, 5) else 1)
PY
}
if ! backports_ok; then
    uri=$(dm_debian_uri)
    echo "deps: installing meson and pycotap from bookworm-backports"
    dm_apt backports "deb $uri bookworm main
deb $uri bookworm-backports main" \
        -qq install -y --no-install-recommends \
        meson/bookworm-backports python3-pycotap/bookworm-backports \
        >/dev/null 2>&1
    backports_ok || { echo "deps: meson >= 1.5 or pycotap missing" >&2; exit 1; }
fi
