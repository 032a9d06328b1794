#!/bin/bash
# A Linux guest under TCG on dm-remote's membar (sparse=on): its vCPU's
# own loads and stores to BAR2 (tests/guest/membar-check.c) reach the
# model's memory, and the model's stores reach the guest.  Over UNIX the
# fork maps BAR2's memory (trace dm_proxy_mmap: mapped), over TCP it
# traps it; the guest sees the same either way.  TAP output.
#   tests/guest/membar.sh BUILD [unix|tcp]
# shellcheck source-path=SCRIPTDIR
set -uo pipefail
build=$(cd "${1:?usage: membar.sh BUILD [unix|tcp]}" && pwd)
transport=${2:-unix}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
tmp=$(mktemp -d /tmp/dm-membar-XXXXXX)
pids=()
trap tap_cleanup EXIT
dm=$build/meson/dm-remote/dm-remote

case $transport in
    unix) addr=unix:$tmp/membar.sock ;;
    tcp) port=$(/usr/bin/python3 "$here/../free-port.py" 127.0.0.1) ||
             bail "no free port"
         addr=tcp:127.0.0.1:$port ;;
    *) bail "unknown transport $transport" ;;
esac
"$dm" serve --quiet --model membar,sparse=on --listen "$addr" \
    2>>"$tmp/dm.log" &
pids+=("$!")
for _ in $(seq 500); do
    case $transport in
        unix) [ -S "$tmp/membar.sock" ] && break ;;
        tcp) (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break ;;
    esac
    sleep 0.02
done

timeout 150 "$build/qemu-system-x86_64" -accel tcg -M pc -m 256M \
    -display none -monitor none -no-reboot -trace dm_proxy_mmap \
    -kernel "$build/guest/vmlinuz" \
    -initrd "$build/guest/initramfs.cpio.gz" \
    -append "$(cat "$build/guest/append") dm.run=membar-check" \
    -serial "file:$tmp/console" \
    -device "dm-proxy-pci,server=$addr" 2>>"$tmp/qemu.log"
rc=$?
console=$(tr -d '\r' <"$tmp/console")
field() { sed -n "s/^DM-MEMBAR $1 //p" <<<"$console" | head -n1; }

check "the guest ran and powered off (QEMU exit $rc)" [ "$rc" = 0 ]
check "the check ended well" \
    [ "$(sed -n 's/^DM-GUEST-EXIT //p' <<<"$console")" = 0 ]
check "the guest sees BAR2's first page as registers" [ "$(field sparse)" = 1 ]
check "the model reads the guest's stores" \
    [ "$(field guest-to-model)" = ok ]
check "the model's sum of its memory counts them" [ "$(field sum)" = ok ]
check "the guest reads the model's stores right after its own writes" \
    [ "$(field model-to-guest)" = ok ]
if [ "$transport" = unix ]; then
    check "the fork mapped BAR2's memory (0xf000 bytes)" \
        grep -q "region 2 area 0x1000 size 0xf000: 1 " "$tmp/qemu.log"
else
    check "over TCP nothing is mapped" \
        bash -c "! grep -q ': 1 (1 mapped' '$tmp/qemu.log'"
fi
echo "# $(field ns-per-access) ns per BAR2 store ($transport)"
if [ "$failed" != 0 ]; then
    echo "# console:"; tail -n 20 <<<"$console" | sed 's/^/#   /'
    echo "# qemu:"; tail -n 10 "$tmp/qemu.log" | sed 's/^/#   /'
fi
echo "1..$n"
exit "$failed"
