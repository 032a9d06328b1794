#!/bin/bash
# Build the QEMU fork: pinned upstream + our files + our patches.
#
# The source tree and the build directory live outside the clone, in
# $DM_CACHE/qemu, so that a clean clone reuses an earlier build: when the
# pinned version, our patches and our QEMU-side files are unchanged, nothing
# is unpacked and ninja finds nothing to do.  When they change, the fresh
# tree (unpacked under build/qemu-src) is synced in by content, so only
# what really changed is rebuilt.  ccache covers the rest.
#
# Usage: build-qemu.sh OUTDIR   (OUTDIR gets qemu-system-x86_64 and friends)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
. "$here/apt-private.sh"
. "$top/qemu/QEMU_VERSION"

out=${1:?usage: build-qemu.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
# DM_QEMU_CACHE: a second source/build pair, for a worktree whose QEMU-side
# files differ from another one building at the same time.
cache="${DM_QEMU_CACHE:-$DM_CACHE/qemu}"
src="$cache/src"
bld="$cache/build"
export CCACHE_DIR="${CCACHE_DIR:-$DM_CACHE/ccache}"
# QEMU's configure names the compiler explicitly, which turns off meson's
# own ccache detection: put ccache's masquerade directory first instead.
export PATH="/usr/lib/ccache:$PATH"
mkdir -p "$cache" "$CCACHE_DIR"

# Everything that goes into the source tree, hashed.
inputs=$(cd "$top" && for d in qemu subprojects/libvup tests/qtest; do
             if [ -d "$d" ]; then find "$d" -type f; fi; done | LC_ALL=C sort)
stamp=$( (cd "$top" && sha256sum $inputs) | sha256sum | cut -d' ' -f1)
if [ "$(cat "$src/.dm-stamp" 2>/dev/null)" != "$stamp" ]; then
    "$here/fetch-qemu.sh" "$out/qemu-src"
    mkdir -p "$src"
    # -c: compare by content, so unchanged files keep their mtimes.
    rsync -rlc --delete --exclude=/.dm-stamp "$out/qemu-src/" "$src/"
    echo "$stamp" > "$src/.dm-stamp"
fi

CONFIGURE_ARGS=(
    --target-list=x86_64-softmmu
    --python=/usr/bin/python3
    --with-pkgversion="${DM_SUFFIX#-}"
    --disable-install-blobs
    --firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu
    --without-default-features
    --enable-tcg --enable-kvm --enable-slirp --enable-pixman --enable-gnutls
    --enable-multiprocess --enable-vfio-user-server
    --enable-vhost-user --enable-vnc
    --disable-docs --disable-tools --disable-werror
    --disable-download
)
argstamp=$(printf '%s\n' "${CONFIGURE_ARGS[@]}" ccache | sha256sum | cut -d' ' -f1)
if [ ! -f "$bld/build.ninja" ] ||
        [ "$(cat "$bld/.dm-configure" 2>/dev/null)" != "$argstamp" ]; then
    rm -rf "$bld"
    mkdir -p "$bld"
    echo "build-qemu: configuring"
    (cd "$bld" && "$src/configure" "${CONFIGURE_ARGS[@]}" > configure.log 2>&1) ||
        { tail -n 30 "$bld/configure.log" >&2; exit 1; }
    echo "$argstamp" > "$bld/.dm-configure"
fi

jobs=${DM_JOBS:-$(nproc)}
if ! "$here/ninja-progress.sh" build-qemu "$bld/ninja.log" -C "$bld" -j "$jobs"; then
    grep -E -B2 -A12 'FAILED|error:' "$bld/ninja.log" | head -n 80 >&2
    exit 1
fi

# The x86 option ROMs (linuxboot_dma.bin for -kernel, kvmvapic.bin...) are
# built from source by their own Makefile; make them findable as data.
make -s -C "$bld/pc-bios/optionrom" PYTHON=/usr/bin/python3 \
    > "$bld/optionrom.log" 2>&1 ||
    { cat "$bld/optionrom.log" >&2; exit 1; }
mkdir -p "$bld/qemu-bundle/usr/local/share/qemu"
for rom in "$bld"/pc-bios/optionrom/*.bin; do
    ln -sfn "$rom" "$bld/qemu-bundle/usr/local/share/qemu/$(basename "$rom")"
done

# Run from the build tree, QEMU looks for firmware under qemu-bundle/ at
# the --firmwarepath locations: point those at Debian's packages.
for d in /usr/share/seabios /usr/lib/ipxe/qemu; do
    mkdir -p "$bld/qemu-bundle$(dirname "$d")"
    ln -sfn "$d" "$bld/qemu-bundle$d"
done

ln -sfn "$bld/qemu-system-x86_64" "$out/qemu-system-x86_64"
ln -sfn "$bld" "$out/qemu-build"
