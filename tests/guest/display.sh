#!/bin/bash
# A Linux guest under TCG on dm-remote's bochs-display: Debian's bochs DRM
# driver binds it, the guest paints a pattern into /dev/fb0
# (tests/guest/bin/display-check), and the host takes the screen through
# the model's VNC server (tests/guest/display-grab.py, our RFB client) and
# checks the pixels.  Over UNIX the fork maps the framebuffer (trace
# dm_proxy_mmap: mapped); over TCP it keeps it in its own RAM and sends
# the dirty pages (dm_dirty_pages, trace dm_proxy_dirty_area), at
# 1024x768 both (tcp-slow: through a relay that delays each way by 20
# ms, a round trip longer than a tick); tcp-trapped turns that off
# (dirty-fps=0): every guest
# store is a message, as for a client without the extension, so the
# EDID's preferred mode is a small 640x480 there.  upstream: QEMU's own
# vfio-user-pci on the UNIX socket, which knows none of our extensions
# and maps the framebuffer the spec's way (sparse mmap).  TAP output;
# the screenshot stays in $tmp with KEEP=1.
#   tests/guest/display.sh BUILD [unix|tcp|tcp-slow|tcp-trapped|upstream]
# shellcheck source-path=SCRIPTDIR
set -uo pipefail
build=$(cd "${1:?usage: display.sh BUILD [unix|tcp|tcp-slow|tcp-trapped|upstream]}" && pwd)
transport=${2:-unix}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
tmp=$(mktemp -d /tmp/dm-display-XXXXXX)
pids=()
trap tap_cleanup EXIT
dm=$build/meson/dm-remote/dm-remote

fps=30
case $transport in
    unix|upstream) addr=unix:$tmp/display.sock; w=1024; h=768 ;;
    tcp|tcp-slow|tcp-trapped)
         port=$(/usr/bin/python3 "$here/../free-port.py" 127.0.0.1) ||
             bail "no free port"
         addr=tcp:127.0.0.1:$port; w=1024; h=768
         if [ "$transport" = tcp-trapped ]; then
             w=640; h=480; fps=0
         fi ;;
    *) bail "unknown transport $transport" ;;
esac
vnc=unix:$tmp/vnc.sock
"$dm" serve --quiet --listen "$addr" \
    --model "bochs-display,xres=$w,yres=$h,vnc=$vnc" 2>>"$tmp/dm.log" &
pids+=("$!")
for _ in $(seq 500); do
    case $transport in
        unix|upstream) [ -S "$tmp/display.sock" ] && break ;;
        tcp*) (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break ;;
    esac
    sleep 0.02
done
if [ "$transport" = tcp-slow ]; then
    rport=$(/usr/bin/python3 "$here/../free-port.py" 127.0.0.1) ||
        bail "no free port"
    /usr/bin/python3 "$here/../net/delay-relay.py" 127.0.0.1 "$rport" \
        127.0.0.1 "$port" 20 >"$tmp/relay.out" 2>&1 &
    pids+=("$!")
    for _ in $(seq 250); do
        grep -q listening "$tmp/relay.out" 2>/dev/null && break
        sleep 0.02
    done
    addr=tcp:127.0.0.1:$rport
fi
device=(-device "dm-proxy-pci,server=$addr,dirty-fps=$fps")
if [ "$transport" = upstream ]; then
    device=(-device "{\"driver\":\"vfio-user-pci\",\"socket\":
              {\"type\":\"unix\",\"path\":\"$tmp/display.sock\"}}")
fi

"$build/qemu-system-x86_64" -accel tcg -M pc -m 256M \
    -display none -vga none -monitor none -no-reboot -trace dm_proxy_mmap \
    -trace dm_proxy_dirty_area \
    -kernel "$build/guest/vmlinuz" \
    -initrd "$build/guest/initramfs.cpio.gz" \
    -append "$(cat "$build/guest/append") dm.run=display-check" \
    -serial "file:$tmp/console" \
    "${device[@]}" 2>>"$tmp/qemu.log" &
qemu=$!
pids+=("$qemu")
# Until the guest painted, gave up, or a bound passed (TCG is slow).
for _ in $(seq 1500); do
    grep -qE '^DM-DISPLAY drawn|^DM-GUEST-EXIT' "$tmp/console" 2>/dev/null &&
        break
    kill -0 "$qemu" 2>/dev/null || break
    sleep 0.2
done
console=$(tr -d '\r' <"$tmp/console" 2>/dev/null)
field() { sed -n "s/^DM-DISPLAY $1 //p" <<<"$console" | head -n1; }

check "the guest's bochs driver bound the device" \
    [ "$(field driver)" = bochs-drm ]
check "the guest set the EDID's preferred mode ${w}x${h}" \
    [ "$(field mode | cut -d' ' -f1)" = "${w}x${h}" ]
check "the guest painted /dev/fb0" grep -q '^DM-DISPLAY drawn' <<<"$console"
/usr/bin/python3 "$here/display-grab.py" "$vnc" "$w" "$h" \
    "$tmp/screen.ppm" "$n"
rc=$?
n=$((n + 2))
[ "$rc" = 0 ] || failed=1
if [ "$transport" = unix ]; then
    check "the fork mapped the framebuffer (BAR0, 16 MiB)" \
        grep -q "region 0 area 0x0 size 0x1000000: 1 " "$tmp/qemu.log"
elif [ "$transport" = upstream ]; then
    :   # upstream's client traces nothing of ours: the pixels say it
else
    check "over TCP nothing is mapped" \
        bash -c "! grep -q ': 1 (1 mapped' '$tmp/qemu.log'"
fi
if [ "$transport" = tcp ] || [ "$transport" = tcp-slow ]; then
    check "the fork keeps the framebuffer and sends its dirty pages" \
        grep -q "region 0 area 0x0 size 0x1000000 kept here" "$tmp/qemu.log"
elif [ "$transport" = tcp-trapped ]; then
    check "dirty-fps=0: the framebuffer stays trapped" \
        bash -c "! grep -q 'kept here' '$tmp/qemu.log'"
fi
if [ "$failed" != 0 ]; then
    echo "# console:"; tail -n 20 <<<"$console" | sed 's/^/#   /'
    echo "# qemu:"; tail -n 10 "$tmp/qemu.log" | sed 's/^/#   /'
    echo "# model:"; tail -n 10 "$tmp/dm.log" | sed 's/^/#   /'
fi
echo "1..$n"
exit "$failed"
