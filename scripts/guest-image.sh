#!/bin/bash
# Build the guest image used by guest-boot tests and benchmarks:
#   OUTDIR/vmlinuz            Debian's kernel, from the linux-image-amd64
#                             dependency's .deb (downloaded, never installed)
#   OUTDIR/append             the kernel command line test guests start from
#   OUTDIR/initramfs.cpio.gz  busybox-static, tests/guest/init as /init,
#                             every executable in $GUEST_EXTRA_DIR in /usr/bin,
#                             the kernel's virtio, evdev and ext4 modules, and
#                             e2fsprogs' mke2fs and e2fsck in /usr/sbin with
#                             their shared libraries (all from Debian .debs)
# Idempotent and quiet on success. The .debs are cached in $DM_CACHE/guest;
# the initramfs is rebuilt only when the hash of its inputs changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
die() { echo "guest-image: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: guest-image.sh OUTDIR"
out=$1
cache=${DM_CACHE:-/var/cache/dm-build}/guest
init=$top/tests/guest/init
busybox=/bin/busybox
extra=${GUEST_EXTRA_DIR:-}
[ -z "$extra" ] || [ -d "$extra" ] ||
    die "GUEST_EXTRA_DIR=$extra is not a directory"
mkdir -p "$out" "$cache"
# apt drops privileges to _apt for downloads: it must own the directory,
# or apt falls back to root with a warning.
chmod 0755 "$cache"
! getent passwd _apt >/dev/null || chown _apt "$cache"
# Tests may build images in parallel: one run at a time per cache.
exec 9>"$cache/lock"
flock 9
rm -rf "$cache"/unpack.*        # left by an interrupted run
tmp=
trap 'rm -rf "$tmp"' EXIT

# fetch PKG GLOB...: sets $dir to $cache/<deb name>/ holding the files of
# PKG's candidate .deb that match the GLOBs (downloaded and unpacked once).
fetch() {
    local pkg=$1 deb log f
    shift
    deb=${debs[$pkg]:-}
    [ -n "$deb" ] || die "apt knows no download for $pkg (apt-get update?)"
    # The files kept depend on the GLOBs (modules are added now and
    # then, in several branches at once): the directory is named after
    # them, so a cache never holds a set other than the one asked for.
    dir=$cache/${deb%.deb}.$(printf '%s\n' "$@" | sha256sum | cut -c1-12)
    keep+=(! -name "${deb%.deb}*")
    [ ! -d "$dir" ] || return 0
    if [ ! -s "$cache/$deb" ]; then
        log=$(cd "$cache" && apt-get -q download "$pkg" 2>&1) ||
            { echo "$log" >&2; die "apt-get download $pkg failed"; }
        [ -s "$cache/$deb" ] || die "download did not produce $cache/$deb"
    fi
    # dpkg -x unpacks everything (the kernel's modules are ~400 MB): keep
    # only what we need.
    tmp=$(mktemp -d "$cache/unpack.XXXXXX")
    dpkg -x "$cache/$deb" "$tmp"
    mkdir "$tmp/keep"
    for f in "$@"; do
        # shellcheck disable=SC2086   # $f is a glob
        cp "$tmp"/$f "$tmp/keep/" 2>/dev/null || die "$deb holds no $f"
    done
    mv "$tmp/keep" "$dir"
    rm -rf "$tmp"
}
# Copy SRC to DST only when different, atomically.
install_if_changed() {
    cmp -s "$1" "$2" || { cp "$1" "$2.part" && mv "$2.part" "$2"; }
}
keep=(! -name lock)     # find(1) tests: what the cache holds on to

# --- kernel ---------------------------------------------------------------
# The metapackage only depends on the versioned package holding the image.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n1)
[ -n "$kpkg" ] ||
    die "cannot resolve linux-image-amd64 (run apt-get update first)"
# e2fsprogs for the file-system tests (tests/guest/disk-fs.sh), with the
# libraries its programs need and the C library, which the initramfs has
# not otherwise (busybox is static).  The check after unpacking proves
# the list complete.
e2fs_pkgs='e2fsprogs libext2fs2 libcom-err2 libblkid1 libuuid1 libc6'
# The exact .deb file name tells whether the cache holds the candidate.
declare -A debs
# Word splitting is the point: one package per word.
# shellcheck disable=SC2086
while read -r _ file _; do
    debs[${file%%_*}]=$file
done < <(apt-get download --print-uris "$kpkg" $e2fs_pkgs 2>/dev/null)

# The virtio drivers are modules in Debian's kernel: the guest loads them
# (tests/guest/bin/virtio-blk-check, dm-virtio-net) from /lib/modules of
# the initramfs.  virtio_net needs net_failover, which needs failover.
# virtio_input (the keyboard and tablet models) hands its events to the
# input core, and evdev makes them /dev/input/event* (tests/guest/bin/
# dm-virtio-input).
virtio_modules='virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev
                virtio_pci virtio_blk net_failover virtio_net virtio_input
                evdev'
globs=('boot/vmlinuz-*' 'lib/modules/*/kernel/net/core/failover.ko')
for m in $virtio_modules; do
    globs+=("lib/modules/*/kernel/drivers/*/$m.ko")
done
# ext4 and what it needs (its metadata checksums are crc32c, which the
# kernel asks for by name: loaded first).  The guest loads them in the
# order of tests/guest/bin/dm-ext4.
for m in crypto/crc32c_generic lib/crc16 fs/mbcache fs/jbd2/jbd2 \
         fs/ext4/ext4; do
    globs+=("lib/modules/*/kernel/$m.ko")
done
# The bochs DRM driver (bochs-display) and what it needs, loaded in this
# order by tests/guest/bin/display-check.
for m in drm drm_kms_helper ttm/ttm drm_ttm_helper drm_vram_helper \
         tiny/bochs; do
    globs+=("lib/modules/*/kernel/drivers/gpu/drm/$m.ko")
done
fetch "$kpkg" "${globs[@]}"
kdir=$dir
install_if_changed "$dir"/vmlinuz-* "$out/vmlinuz"
# The kernel command line every test guest starts from (tests add their
# dm.* words): the console on the first UART, a panic powers off (QEMU
# runs with -no-reboot), and no_timer_check, which KVM guests get: under
# TCG on a loaded host Linux's IO-APIC timer check can miss its ticks and
# panic with "IO-APIC + timer doesn't work".
printf '%s\n' "console=ttyS0 quiet panic=-1 no_timer_check" > "$out/append.new"
install_if_changed "$out/append.new" "$out/append"
rm -f "$out/append.new"

# "PKG GLOB...": the files of each package land in a directory of their own.
lib=lib/x86_64-linux-gnu
e2fs_dirs=()
for spec in "e2fsprogs sbin/mke2fs sbin/e2fsck" \
            "libext2fs2 $lib/libext2fs.so.2 $lib/libe2p.so.2" \
            "libcom-err2 $lib/libcom_err.so.2" \
            "libblkid1 usr/$lib/libblkid.so.1" \
            "libuuid1 usr/$lib/libuuid.so.1" \
            "libc6 $lib/libc.so.6 $lib/ld-linux-x86-64.so.2"; do
    # shellcheck disable=SC2086   # one word per package and glob
    fetch $spec
    e2fs_dirs+=("$dir")
done

# Whatever the current image does not need is dead weight (old kernels).
find "$cache" -mindepth 1 -maxdepth 1 "${keep[@]}" -exec rm -rf {} +

# --- initramfs --------------------------------------------------------------
# Debian's busybox (dynamic) also ships /bin/busybox: insist on the static one.
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null |
        grep -q 'install ok installed'; then
    [ "$(id -u)" = 0 ] || die "busybox-static missing (run as root to install)"
    DEBIAN_FRONTEND=noninteractive apt-get -qq install -y \
        --no-install-recommends busybox-static >/dev/null 2>&1 ||
        die "apt-get install busybox-static failed"
fi

extras() {
    [ -n "$extra" ] || return 0
    find -L "$extra" -maxdepth 1 -type f -perm /111 -print0 | LC_ALL=C sort -z
}
# Guest-side test scripts (tests/guest/bin) go into /usr/bin too.
guest_bin=$top/tests/guest/bin
# This script is an input too: it decides the layout.
hash=$({
    sha256sum "$0" "$busybox" "$init" | awk '{print $1}'
    extras | xargs -0r sha256sum | sed 's|  .*/|  |'
    sha256sum "$guest_bin"/* "$kdir"/*.ko | sed 's|  .*/|  |'
    for d in "${e2fs_dirs[@]}"; do
        sha256sum "$d"/* | sed 's|  .*/|  |'
    done
} | sha256sum | awk '{print $1}')
img=$out/initramfs.cpio.gz
if [ -s "$img" ] && [ "$(cat "$img.hash" 2>/dev/null)" = "$hash" ]; then
    exit 0
fi

tmp=$(mktemp -d "$out/initramfs.XXXXXX")
mkdir -p "$tmp"/{bin,usr/bin,dev,proc,sys,tmp,root}
cp "$busybox" "$tmp/bin/busybox"
for applet in $("$busybox" --list); do
    case $applet in
        busybox|init|linuxrc) ;;   # /init is ours
        *) ln -s busybox "$tmp/bin/$applet" ;;
    esac
done
install -m 0755 "$init" "$tmp/init"
extras | xargs -0r cp -L -t "$tmp/usr/bin/"
install -m 0755 "$guest_bin"/* "$tmp/usr/bin/"
mkdir -p "$tmp/lib/modules"
cp "$kdir"/*.ko "$tmp/lib/modules/"

# e2fsprogs in /usr/sbin, outside PATH: busybox has a mke2fs applet of its
# own, the tests name /usr/sbin/mke2fs.  Libraries where Debian's dynamic
# linker looks without a cache (its built-in multiarch directory).
mkdir -p "$tmp/usr/sbin" "$tmp/$lib" "$tmp/lib64"
for d in "${e2fs_dirs[@]}"; do
    for f in "$d"/*; do
        case ${f##*/} in
            *.so.*) cp "$f" "$tmp/$lib/" ;;
            *) cp "$f" "$tmp/usr/sbin/" ;;
        esac
    done
done
ln -s mke2fs "$tmp/usr/sbin/mkfs.ext4"
ln -s "../$lib/ld-linux-x86-64.so.2" "$tmp/lib64/ld-linux-x86-64.so.2"
# Every library an ELF file there asks for must be there too: a missing
# one would only show as a failing program inside the guest.
for f in "$tmp/usr/sbin"/* "$tmp/$lib"/*; do
    [ -L "$f" ] && continue
    interp=$(readelf -l "$f" | sed -n 's/.*interpreter: \(.*\)]$/\1/p')
    [ -z "$interp" ] || [ -e "$tmp$interp" ] ||
        die "${f##*/} needs $interp, not in the image"
    for need in $(readelf -d "$f" |
                  sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
        [ -e "$tmp/$lib/$need" ] ||
            die "${f##*/} needs $need, not in the image"
    done
done

# Sorted names, fixed times and owner, no inode numbers and gzip -n make
# the archive reproducible: same inputs, same bytes.
find "$tmp" -exec touch -h -d @0 {} +
(cd "$tmp" && find . -mindepth 1 | LC_ALL=C sort |
    cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -9n >"$img.part"
mv "$img.part" "$img"
echo "$hash" >"$img.hash"
