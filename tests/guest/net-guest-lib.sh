# Sourced by the virtio-net guest tests that run one guest on one remote
# card (virtio-net-link.sh, virtio-net-flood.sh), after tap.sh, with
# $build, $here and $tmp set.
#   net_guest_start RUN: a 1 MiB file served on the host's loopback ($want
#   its sha256), "dm-remote serve --model virtio-net,net=user" on UNIX
#   ($model_pid), and QEMU booting the guest with dm.run=RUN, its card's
#   proxy id net0 and a QMP socket ($qemu_pid); every pid in $pids.
#   console / field KEY: the guest's console, its "DM-NET KEY value".
# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154   # $want, $model_pid for the caller; $build, $here, $tmp from it
dm=${DM_REMOTE:-$build/meson/dm-remote/dm-remote}
pids=()
trap tap_cleanup EXIT

net_guest_start() {
    local run=$1
    http_port=$(/usr/bin/python3 "$here/../free-port.py" 127.0.0.1 1) ||
        bail "no free port"
    mkdir "$tmp/www"
    head -c 1048576 /dev/urandom >"$tmp/www/blob"
    want=$(sha256sum <"$tmp/www/blob" | cut -d' ' -f1)
    /usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$tmp/www" \
        "$http_port" >"$tmp/http.log" 2>&1 &
    pids+=($!)
    "$dm" serve --quiet --model virtio-net,net=user \
        --listen "unix:$tmp/net.sock" 2>>"$tmp/dm.log" &
    model_pid=$!
    pids+=("$model_pid")
    for _ in $(seq 500); do
        [ -S "$tmp/net.sock" ] &&
            bash -c "exec 3<>/dev/tcp/127.0.0.1/$http_port" 2>/dev/null &&
            break
        sleep 0.02
    done
    [ -S "$tmp/net.sock" ] || bail "dm-remote serve did not start"

    timeout 300 "$build/qemu-system-x86_64" -accel tcg -M pc -m 256M \
        -display none -monitor none -no-reboot \
        -qmp "unix:$tmp/qmp.sock,server=on,wait=off" \
        -kernel "$build/guest/vmlinuz" \
        -initrd "$build/guest/initramfs.cpio.gz" \
        -append "$(cat "$build/guest/append") dm.run=$run dm.srv=10.0.2.2 dm.http=$http_port" \
        -serial "file:$tmp/guest.console" \
        -device "dm-proxy-pci,id=net0,server=unix:$tmp/net.sock,timeout=30000" \
        2>>"$tmp/qemu.log" &
    qemu_pid=$!
    pids+=("$qemu_pid")
}

console() { tr -d '\r' 2>/dev/null <"$tmp/guest.console"; }
field() { console | sed -n "s/^DM-NET $1 //p" | head -n1; }
