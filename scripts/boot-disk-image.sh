#!/bin/bash
# Build a disk a VM boots from with no -kernel: the firmware reads the boot
# loader from it and Linux mounts its root from it (issue 16, point 7).
#   OUTDIR/boot-disk.img   raw, MBR partition table (syslinux's mbr.bin):
#     1  FAT16, active: SYSLINUX (ldlinux.sys, ldlinux.c32), syslinux.cfg,
#        Debian's kernel (vmlinuz) and a small initramfs (initrd.gz:
#        busybox-static and the kernel's modules for a virtio ext4 root)
#     2  ext4 root: busybox-static (its init), /etc/inittab, /etc/init.d/rcS
# The guest-side files are in tests/guest/boot-disk/.  Everything comes
# from Debian packages: the kernel's .deb is unpacked, never installed;
# syslinux, mtools, dosfstools, fdisk and e2fsprogs run here (make deps).
#
# Nothing is mounted: the FAT partition gets its boot loader from
# syslinux's mtools installer and the root is populated by mkfs.ext4 -d,
# both on plain files, so the build needs no loop device, no root
# privileges for mounting and leaves nothing behind if interrupted
# (extlinux --install would need the file system mounted).
#
# Idempotent and quiet on success. The image is cached in
# $DM_CACHE/boot-disk under the hash of everything that went into it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
die() { echo "boot-disk-image: $*" >&2; exit 1; }
say() { echo "boot-disk-image: $*"; }

[ $# -eq 1 ] || die "usage: boot-disk-image.sh OUTDIR"
out=$1
dmcache=${DM_CACHE:-/var/cache/dm-build}
cache=$dmcache/boot-disk
src=$top/tests/guest/boot-disk
busybox=/bin/busybox
syslinux_dir=/usr/lib/syslinux
export MTOOLS_SKIP_CHECK=1      # mtools on an image file without geometry
export PATH=$PATH:/usr/sbin:/sbin

for tool in sfdisk mkfs.fat mcopy syslinux mkfs.ext4 dpkg-deb objcopy; do
    command -v "$tool" >/dev/null || die "$tool missing (run make deps)"
done
[ -f "$syslinux_dir/mbr/mbr.bin" ] ||
    die "syslinux-common missing (run make deps)"
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null |
    grep -q 'install ok installed' || die "busybox-static missing (run make deps)"

mkdir -p "$out" "$cache"
# Tests may build images in parallel: one run at a time per cache.
exec 9>"$cache/lock"
flock 9
rm -rf "$cache"/build.*        # left by an interrupted run
tmp=
trap 'rm -rf "$tmp"' EXIT

# --- the cache key ---------------------------------------------------------
# The kernel: the same package as scripts/guest-image.sh's, the
# metapackage's dependency; its exact .deb name tells its version.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n1)
[ -n "$kpkg" ] ||
    die "cannot resolve linux-image-amd64 (run apt-get update first)"
kdeb=$(apt-get download --print-uris "$kpkg" 2>/dev/null |
    awk 'NR == 1 {print $2}')
[ -n "$kdeb" ] || die "apt knows no download for $kpkg (apt-get update?)"
# The tools' versions count too: they decide the bytes of the image.
versions=$(dpkg-query -W -f='${Package} ${Version}\n' \
    syslinux syslinux-common mtools dosfstools fdisk e2fsprogs busybox-static)
hash=$({
    echo "$kdeb"
    echo "$versions"
    sha256sum "$0" "$busybox" "$src"/* | sed 's|  .*/|  |'
} | sha256sum | awk '{print $1}')
img=$cache/disk-$hash.img

if [ ! -s "$img" ]; then
    tmp=$(mktemp -d "$cache/build.XXXXXX")
    # --- the kernel's .deb: guest-image.sh has usually downloaded it ------
    if [ -s "$dmcache/guest/$kdeb" ]; then
        ln "$dmcache/guest/$kdeb" "$tmp/$kdeb" 2>/dev/null ||
            cp "$dmcache/guest/$kdeb" "$tmp/$kdeb"
    else
        say "downloading $kpkg"
        chown _apt "$tmp" 2>/dev/null || true
        log=$(cd "$tmp" && apt-get -q download "$kpkg" 2>&1) ||
            { echo "$log" >&2; die "apt-get download $kpkg failed"; }
        [ -s "$tmp/$kdeb" ] || die "download did not produce $kdeb"
    fi

    # The virtio root's modules, each after what it needs: ext4 asks the
    # crypto layer for crc32c by name, which no modules.dep line says.
    modules='virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev
             virtio_pci virtio_blk crc32c_generic crc16 mbcache jbd2 ext4'
    say "unpacking $kdeb"
    pats=('./boot/vmlinuz-*')
    for m in $modules; do
        pats+=("./lib/modules/*/$m.ko")
    done
    mkdir "$tmp/deb"
    dpkg-deb --fsys-tarfile "$tmp/$kdeb" |
        tar -x -C "$tmp/deb" --wildcards "${pats[@]}" ||
        die "$kdeb lacks a kernel or one of: $modules"
    # Each module's dependencies (its .modinfo section's depends=; the
    # .deb has no modules.dep, depmod makes it on installation) must come
    # before it.
    loaded=' '
    for m in $modules; do
        ko=$(find "$tmp/deb/lib/modules" -name "$m.ko")
        deps=$(objcopy -O binary --only-section=.modinfo "$ko" /dev/stdout |
            tr '\0' '\n' | sed -n 's/^depends=//p')
        for dep in ${deps//,/ }; do
            [[ $loaded == *" $dep "* ]] ||
                die "$m needs $dep, not loaded before it"
        done
        loaded+="$m "
    done

    # Initramfs: busybox, our /init, the modules and their order.
    ird=$tmp/initrd
    mkdir -p "$ird"/{bin,sbin,dev,proc,sys,newroot,lib/modules}
    cp "$busybox" "$ird/bin/busybox"
    for applet in $("$busybox" --list); do
        case $applet in
            busybox|init|linuxrc) ;;    # /init is ours
            *) ln -s busybox "$ird/bin/$applet" ;;
        esac
    done
    install -m 0755 "$src/init" "$ird/init"
    for m in $modules; do
        cp "$(find "$tmp/deb/lib/modules" -name "$m.ko")" "$ird/lib/modules/"
        echo "$m"
    done >"$ird/modules.list"
    find "$ird" -exec touch -h -d @0 {} +
    (cd "$ird" && find . -mindepth 1 | LC_ALL=C sort |
        cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -9n \
        >"$tmp/initrd.gz"

    # Partition 1: FAT16 with SYSLINUX.  Hidden sectors = its start, where
    # the boot sector finds itself on the disk.
    boot_start=2048 boot_size=65536 root_size=131072       # 512-byte sectors
    root_start=$((boot_start + boot_size))
    truncate -s $((boot_size * 512)) "$tmp/boot.part"
    mkfs.fat -F 16 -n DMBOOT -i 646d6274 -h "$boot_start" "$tmp/boot.part" \
        >/dev/null || die "mkfs.fat failed"
    syslinux --install "$tmp/boot.part" || die "syslinux --install failed"
    mcopy -i "$tmp/boot.part" "$src/syslinux.cfg" ::/syslinux.cfg
    mcopy -i "$tmp/boot.part" "$tmp"/deb/boot/vmlinuz-* ::/vmlinuz
    mcopy -i "$tmp/boot.part" "$tmp/initrd.gz" ::/initrd.gz

    # Partition 2: ext4 root, populated from a directory without mounting.
    rootd=$tmp/root
    mkdir -p "$rootd"/{dev,proc,sys,tmp,root,etc/init.d,var/log}
    mkdir -p "$rootd"/{bin,sbin,usr/bin,usr/sbin}
    cp "$busybox" "$rootd/bin/busybox"
    for applet in $("$busybox" --list-full); do
        [ "$applet" = bin/busybox ] || [ -e "$rootd/$applet" ] ||
            ln -s /bin/busybox "$rootd/$applet"
    done
    install -m 0644 "$src/inittab" "$rootd/etc/inittab"
    install -m 0755 "$src/rcS" "$rootd/etc/init.d/rcS"
    chmod 1777 "$rootd/tmp"
    truncate -s $((root_size * 512)) "$tmp/root.part"
    mkfs.ext4 -q -F -L dm-root -U 646d6274-726f-6f74-0000-000000000002 \
        -E root_owner=0:0 -d "$rootd" "$tmp/root.part" ||
        die "mkfs.ext4 failed"

    # The disk: syslinux's MBR code, the table, the two partitions.
    disk=$tmp/disk.img
    truncate -s $(((root_start + root_size) * 512)) "$disk"
    sfdisk -q "$disk" >/dev/null <<EOF || die "sfdisk failed"
label: dos
label-id: 0x646d6274
start=$boot_start, size=$boot_size, type=e, bootable
start=$root_start, size=$root_size, type=83
EOF
    dd if="$syslinux_dir/mbr/mbr.bin" of="$disk" bs=440 count=1 \
        conv=notrunc status=none
    dd if="$tmp/boot.part" of="$disk" bs=512 seek="$boot_start" \
        conv=notrunc,sparse status=none
    dd if="$tmp/root.part" of="$disk" bs=512 seek="$root_start" \
        conv=notrunc,sparse status=none
    mv "$disk" "$img"
    rm -rf "$tmp"
    tmp=
    # Older images and kernels are dead weight.
    find "$cache" -mindepth 1 -maxdepth 1 ! -name lock \
        ! -name "${img##*/}" -exec rm -rf {} +
fi

# The tests copy the image before they boot it: the cache stays pristine.
if [ "$(cat "$out/boot-disk.img.hash" 2>/dev/null)" != "$hash" ] ||
        [ ! -s "$out/boot-disk.img" ]; then
    cp --sparse=always "$img" "$out/boot-disk.img.part"
    mv "$out/boot-disk.img.part" "$out/boot-disk.img"
    echo "$hash" >"$out/boot-disk.img.hash"
fi
