#!/bin/bash
# Two VMs on two client platforms whose network cards live on one
# server and reach each other through a bridge there (issue 18 points 3
# and 5), all asked of the orchestrator with dmctl: `--device
# net0=virtio-net@srv1,bridge=br0`, the real launchers in network
# namespaces (net-bridge-lib.sh): srv's launcher (--bridges br0) makes a
# tap per card on br0 (and refuses a card while br0 is down), QEMU runs
# on c1 for one VM and on c2 for the other.  Through the bridge, guest
# b (tests/guest/bin/virtio-net-peer) pings guest a and fetches the
# file a's busybox httpd serves (sha256 compared with a's), then tells
# a over TCP.  Stopping a VM removes its tap and leaves the other's;
# removing both leaves no tap and no model.
# TAP.
#   tests/orchestrator/net-bridge-pair-test.sh BUILD
# shellcheck disable=SC2154   # tap.sh's $n and $failed
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: net-bridge-pair-test.sh BUILD}" && pwd)
. "$here/../tap.sh"
. "$here/net-bridge-lib.sh"
netbr_start '' c1=192.0.2.1 c2=192.0.2.3

# vm_create NAME ROLE MAC APPEND...: a VM whose card is on srv1's br0.
vm_create() {
    dmctl vm create "$1" --memory 256M --kernel "$build/guest/vmlinuz" \
        --initrd "$build/guest/initramfs.cpio.gz" \
        --append "console=ttyS0 quiet dm.role=$2 $4" \
        --device console=uart16550 \
        --device "net0=virtio-net@srv1,bridge=br0,mac=$3" >/dev/null
}
check "two VMs whose cards are on srv1's bridge (bridge=br0) are defined" \
    eval 'vm_create pa a 52:54:00:00:06:01 "dm.ip=10.0.6.1/24 dm.gw=10.0.6.254" &&
          vm_create pb b 52:54:00:00:06:02 "dm.ip=10.0.6.2/24 dm.gw=10.0.6.254 dm.peer=10.0.6.1"'
props() { dmctl --json vm show "$1" |
          jget '[x["props"] for x in d["devices"] if x["name"] == "net0"][0]["bridge"]'; }
check "both keep bridge=br0" eval '[ "$(props pa) $(props pb)" = "br0 br0" ]'
# br0 down: the launcher refuses the card (its guest would hear nothing
# and wait), the VM stays defined, nothing is left on srv.
in_srv ip link set br0 down
out=$(dmctl vm start pa --on c1 2>&1)
check "a bridge that is down is refused ($out)" \
    eval '[[ "$out" == *"bridge '"'"'br0'"'"' is down on this platform"* ]] &&
          [ -z "$(taps)" ] &&
          [ "$(dmctl --json vm show pa | jget "d[\"state\"]")" = defined ] &&
          [ "$(dmctl --json dm list | jget "len(d[\"dms\"])")" = 0 ]'
in_srv ip link set br0 up
out_a=$(dmctl vm start pa --on c1 2>&1)
out_b=$(dmctl vm start pb --on c2 2>&1)
check "vm start runs pa on c1 and pb on c2 ($out_a; $out_b)" \
    eval 'grep -q "running on c1" <<<"$out_a" &&
          grep -q "running on c2" <<<"$out_b"'
# tap_of VM: the tap srv's launcher made for VM's card: "dmt" and the
# first 12 hex digits of its instance id's SHA-256 (launcher/tap.c).
tap_of() {
    local id
    id=$(dmctl --json dm list |
         jget "[x['instance'] for x in d['dms'] if x['vm'] == '$1' and x['model'] == 'virtio-net'][0]") &&
        printf 'dmt%.12s\n' "$(printf %s "$id" | sha256sum)"
}
tap_a=$(tap_of pa) tap_b=$(tap_of pb)
all=$(taps | sort | tr '\n' ' ')
check "srv's launcher made one tap per card on br0, up ($all)" \
    eval '[ "$all" = "$(printf "%s\n" "$tap_a" "$tap_b" | sort | tr "\n" " ")" ] &&
          [ "$(wc -w <<<"$all")" = 2 ] &&
          for t in $all; do
              in_srv ip -o link show "$t" | grep -q "[<,]UP[,>].* master br0 " &&
                  grep -q "tap $t made on bridge br0" "$tmp/srv.log" || exit 1
          done'

# consoles: each VM's remote UART.
console_of() { dmctl --json vm show "$1" |
               jget '[x["console"] for x in d["devices"] if x["console"]][0]' |
               sed 's/^unix://'; }
# The peer check on each console at once: a serves and waits for b's
# word, b pings a and fetches from it.  (PEER-""RC: the typed line,
# echoed, must not match what is expected.)
for vm in pa pb; do
    (timeout 330 "$chat" "$(console_of $vm)" 320 expect:DM-GUEST-READY \
         "send:virtio-net-peer; echo PEER-\"\"RC-\$?" expect:PEER-RC- \
         >"$tmp/$vm.console" 2>&1; echo "$?" >"$tmp/$vm.rc") &
    pids+=($!)
done
for _ in $(seq 3400); do
    [ -e "$tmp/pa.rc" ] && [ -e "$tmp/pb.rc" ] && break
    sleep 0.1
done
field() { tr -d '\r' <"$tmp/$1.console" 2>/dev/null |
          sed -n "s/^DM-NET $2 //p" | head -n1; }
check "each guest's driver has its card's MAC and the link up" \
    eval '[ "$(field pa mac) $(field pb mac)" = "52:54:00:00:06:01 52:54:00:00:06:02" ] &&
          [ "$(field pa carrier)$(field pb carrier)" = 11 ]'
check "b (on c2) pings a (on c1) through srv's bridge" \
    [ "$(field pb ping)" = ok ]
# shellcheck disable=SC2034   # used in check's eval
served=$(field pa served)
check "b fetched a's file over TCP through the bridge whole" \
    eval '[ -n "$served" ] && [ "$(field pb fetched)" = "$served" ]'
check "a got b's word" [ "$(field pa word)" = fetched ]
check "both checks ended well" \
    eval 'grep -q "PEER-RC-0" "$tmp/pa.console" &&
          grep -q "PEER-RC-0" "$tmp/pb.console"'

# Stop one: its tap goes, the other's stays on the bridge.
out=$(dmctl vm stop pa --timeout 3 2>&1)
check "stop pa ($out) deletes its tap ($tap_a), pb's ($tap_b) stays" \
    eval '[ -n "$tap_a" ] && [ -n "$tap_b" ] && [ "$tap_a" != "$tap_b" ] &&
          wait_for "! in_srv ip link show \"$tap_a\" >/dev/null 2>&1" &&
          grep -q "tap $tap_a deleted" "$tmp/srv.log" &&
          [ "$(taps)" = "$tap_b" ]'
out=$(dmctl vm stop pb --timeout 3 2>&1)
check "stop pb ($out) deletes the last tap" \
    eval 'wait_for "[ -z \"\$(taps)\" ]" &&
          grep -q "tap $tap_b deleted" "$tmp/srv.log"'
check "both VMs removed, no model left, no dmt link on srv" \
    eval 'dmctl vm remove pa >/dev/null && dmctl vm remove pb >/dev/null &&
          [ "$(dmctl --json dm list | jget "len(d[\"dms\"])")" = 0 ] &&
          ! in_srv ip -o link show | grep -q " dmt"'
if [ "$failed" != 0 ]; then
    for f in pa.console pb.console srv.log c1.log c2.log orch.log; do
        echo "# $f:"; tail -n 15 "$tmp/$f" | sed 's/^/#   /'
    done
fi
echo "1..$n"
exit "$failed"
