#!/bin/bash
# Fetch the pinned QEMU source package, verify it, unpack it under
# build/qemu-src, copy our new files in and apply qemu/patches/*.patch.
#
# Usage: fetch-qemu.sh SRCDIR
# The tarball is cached in $DM_CACHE/dist so that repeat runs need no network.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
. "$here/apt-private.sh"
. "$top/qemu/QEMU_VERSION"

src=${1:?usage: fetch-qemu.sh SRCDIR}
dist="$DM_CACHE/dist"
tarball="$dist/$ORIG_TARBALL"
mkdir -p "$dist"

check_sum() {
    echo "$ORIG_SHA256  $1" | sha256sum --quiet -c - 2>/dev/null
}

if [ ! -f "$tarball" ] || ! check_sum "$tarball"; then
    uri=$(dm_debian_uri)
    echo "fetch-qemu: downloading qemu=$DEB_VERSION source package"
    tmp=$(mktemp -d "$dist/dl.XXXXXX")
    chmod 0755 "$tmp"   # apt's _apt user writes the download here
    ! getent passwd _apt >/dev/null || chown _apt "$tmp"
    (cd "$tmp" && dm_apt sid-src "deb-src $uri sid main" -qq source \
        --download-only "qemu=$DEB_VERSION" >/dev/null)
    if [ ! -f "$tmp/$ORIG_TARBALL" ]; then
        echo "fetch-qemu: $ORIG_TARBALL not in the downloaded package" >&2
        exit 1
    fi
    if ! check_sum "$tmp/$ORIG_TARBALL"; then
        echo "fetch-qemu: SHA-256 mismatch for $ORIG_TARBALL" \
             "(expected $ORIG_SHA256)" >&2
        rm -rf "$tmp"
        exit 1
    fi
    mv "$tmp/$ORIG_TARBALL" "$tarball"
    rm -rf "$tmp"
fi

# A fresh pristine tree each time: patches always apply to upstream.
rm -rf "$src" "$src.tmp"
mkdir -p "$src.tmp"
tar -xJf "$tarball" -C "$src.tmp" --strip-components=1

# Our new files, then our patches in order.
(cd "$top/qemu" && find . -path ./patches -prune -o -type f \
     ! -name QEMU_VERSION ! -name '*.md' -print) |
while read -r f; do
    install -D -m 0644 "$top/qemu/$f" "$src.tmp/$f"
done
# Our protocol library, shared with dm-remote, as a meson subproject.
mkdir -p "$src.tmp/subprojects/libvup"
cp -r "$top"/subprojects/libvup/. "$src.tmp/subprojects/libvup/"
# Our qtests build inside QEMU's tree, against its libqtest and libqos.
mkdir -p "$src.tmp/tests/qtest/dm"
cp "$top"/tests/qtest/* "$src.tmp/tests/qtest/dm/"
for p in "$top"/qemu/patches/*.patch; do
    [ -e "$p" ] || continue
    if ! patch -d "$src.tmp" -p1 --forward --quiet --batch < "$p" \
            > "$src.tmp/.patch.log" 2>&1; then
        echo "fetch-qemu: patch $(basename "$p") does not apply:" >&2
        cat "$src.tmp/.patch.log" >&2
        exit 1
    fi
done
rm -f "$src.tmp/.patch.log"
mv "$src.tmp" "$src"
