#!/bin/bash
# A VM's network card on a bridge of the server, asked of the
# orchestrator (issue 18 point 5): `--device net0=virtio-net@srv1,
# tap=br0` (the issue's spelling; stored as bridge=br0) with the real
# launchers in network namespaces (tests/net/lan.sh) as in
# lifecycle-test.sh: the orchestrator on "ctl", a server platform "srv"
# whose launcher has --bridges br0 (br0, 10.0.5.1/24, made here as an
# operator would), a client "c1".  The server's launcher makes the tap
# and attaches it to br0; the guest (console on a remote UART) gets
# 10.0.5.2, fetches a file from an HTTP server on srv's br0 (sha256
# compared), and srv fetches one from the guest through the bridge.  A
# launcher refuses a bridge not in its --bridges (the orchestrator says
# so).  The card's model killed, the launcher restarts it (the VM's
# restart on-failure) on the same tap: the guest's driver sees a link
# flap, and fetches the file again through it.  Stop removes the tap.
# TAP.
#   tests/orchestrator/net-bridge-test.sh BUILD
# shellcheck disable=SC2154   # tap.sh's $n and $failed
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC2034   # net-bridge-lib.sh's
build=$(cd "${1:?usage: net-bridge-test.sh BUILD}" && pwd)
. "$here/../tap.sh"
. "$here/net-bridge-lib.sh"
netbr_start 10.0.5.1/24 c1=192.0.2.1
srv_ns=$(lan_ns srv)

# The file the guest fetches, served on srv's bridge.
mkdir "$tmp/www"
head -c 1048576 /dev/urandom >"$tmp/www/blob"
want=$(sha256sum <"$tmp/www/blob" | cut -d' ' -f1)
http_port=8000
in_srv "$py" -m http.server --bind 10.0.5.1 --directory "$tmp/www" \
    "$http_port" >"$tmp/http.log" 2>&1 &
pids+=($!)
wait_for 'in_srv bash -c "exec 3<>/dev/tcp/10.0.5.1/$http_port" 2>/dev/null' ||
    bail "no HTTP server on srv"

# A bridge the launcher does not offer: refused, nothing left behind.
dmctl vm create vm0 --memory 64M \
    --device net0=virtio-net@srv1,bridge=br9 >/dev/null
out=$(dmctl vm start vm0 --on c1 2>&1)
check "a bridge not in the launcher's --bridges is refused ($out)" \
    eval '[[ "$out" == *"bridge '"'"'br9'"'"' is not offered here"* ]] &&
          [ -z "$(taps)" ] &&
          [ "$(dmctl --json vm show vm0 | jget "d[\"state\"]")" = defined ]'
dmctl vm remove vm0 >/dev/null

# shellcheck disable=SC2034   # used in check's eval
append="console=ttyS0 quiet dm.ip=10.0.5.2/24 dm.gw=10.0.5.1 dm.srv=10.0.5.1 dm.http=$http_port dm.fwd=8080"
check "a VM whose card is on srv1's bridge (tap=br0) is defined" \
    eval 'dmctl vm create vm1 --memory 256M --kernel "$build/guest/vmlinuz" \
              --initrd "$build/guest/initramfs.cpio.gz" --append "$append" \
              --restart on-failure --device console=uart16550 \
              --device net0=virtio-net@srv1,tap=br0,mac=52:54:00:00:05:01 \
              >/dev/null'
check "it is kept as bridge=br0" \
    eval '[ "$(dmctl --json vm show vm1 |
               jget "[x[\"props\"] for x in d[\"devices\"] if x[\"name\"] == \"net0\"][0]")" = \
           "{'"'"'bridge'"'"': '"'"'br0'"'"', '"'"'mac'"'"': '"'"'52:54:00:00:05:01'"'"'}" ]'
out=$(dmctl vm start vm1 --on c1 2>&1)
check "vm start launches the card and QEMU ($out)" \
    grep -q "running on c1" <<<"$out"
tap=$(taps)
check "srv's launcher made a tap ($tap) on br0, up" \
    eval '[ "$(wc -w <<<"$tap")" = 1 ] &&
          in_srv ip -o link show "$tap" | grep -q "[<,]UP[,>].* master br0 " &&
          grep -q "tap $tap made on bridge br0" "$tmp/srv.log"'

console=$(dmctl --json vm show vm1 |
          jget '[x["console"] for x in d["devices"] if x["console"]][0]')
console=${console#unix:}
# The guest's check (tests/guest/bin/virtio-net-check): its last step
# serves a file once on port 8080, which srv fetches through br0.
# (CHECK-""RC: the typed line, echoed, must not match what is expected.)
(timeout 280 "$chat" "$console" 270 expect:DM-GUEST-READY \
     "send:virtio-net-check; echo CHECK-\"\"RC-\$?" expect:CHECK-RC- \
     >"$tmp/console.log" 2>&1; echo "$?" >"$tmp/chat.rc") &
pids+=($!)
got=''
for _ in $(seq 2700); do
    if grep -q '^DM-NET hostfwd-ready' "$tmp/console.log" 2>/dev/null; then
        for _ in $(seq 50); do
            got=$(in_srv "$py" - <<'PY'
import hashlib, socket
try:
    s = socket.create_connection(("10.0.5.2", 8080), timeout=60)
except OSError:
    raise SystemExit(0)
data = b""
while len(data) < 262144:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(hashlib.sha256(data).hexdigest() if data else "")
PY
            )
            [ -n "$got" ] && break
            sleep 0.2
        done
        break
    fi
    [ -e "$tmp/chat.rc" ] && break
    sleep 0.1
done
wait_for '[ -e "$tmp/chat.rc" ]'
field() { tr -d '\r' <"$tmp/console.log" | sed -n "s/^DM-NET $1 //p" |
          head -n1; }
check "the guest's driver has the card, its MAC and the link up" \
    eval '[ "$(field mac)" = 52:54:00:00:05:01 ] && [ "$(field carrier)" = 1 ]'
check "the guest has 10.0.5.2/24" [ "$(field addr)" = 10.0.5.2/24 ]
check "it fetched the file from srv's bridge whole" \
    [ "$(field fetched)" = "$want" ]
check "srv fetched the guest's file through the bridge whole" \
    [ "${got:-none}" = "$(field served)" ]
check "the guest's check ended well" grep -q "CHECK-RC-0" "$tmp/console.log"

# The card's model killed: srv's launcher restarts it (on-failure) on the
# same tap, from its state file; the guest's driver sees a link flap and
# fetches again through it.
downs=$(timeout 100 "$chat" "$console" 90 \
            "send:echo D\"\"OWNS-\$(cat /sys/class/net/eth0/carrier_down_count)" \
            expect:DOWNS- 2>&1 | tr -d '\r' | sed -n 's/^DOWNS-//p' | tail -n1)
net_pid=$(for p in $(ip netns pids "$srv_ns"); do
              grep -qa -- "--model=virtio-net" "/proc/$p/cmdline" 2>/dev/null &&
                  echo "$p"
          done | head -n1)
check "the card's model runs on srv (pid $net_pid), the driver counted $downs drops" \
    eval '[ -n "$net_pid" ] && [ -n "$downs" ]'
[ -n "$net_pid" ] && kill -9 "$net_pid"
# restarts: the card model's restarts, as dm list shows them.
restarts() { dmctl --json dm list |
             jget '[x.get("restarts", 0) for x in d["dms"] if x["model"] == "virtio-net"][0]'; }
check "srv's launcher restarts the killed model" \
    eval 'wait_for "grep -q \"died: killed by signal 9\" \"\$tmp/srv.log\"" &&
          wait_for "[ \"\$(restarts)\" = 1 ]"'
check "the tap stayed on br0 meanwhile" eval '[ "$(taps)" = "$tap" ]'
# (Typed lines echoed must not match: F""LAP, R""EFETCH.)
flap='n=0; for i in $(seq 600); do n=$(cat /sys/class/net/eth0/carrier_down_count); [ $n -gt '"${downs:-0}"' ] && [ $(cat /sys/class/net/eth0/carrier) = 1 ] && break; sleep 0.1; done; echo F""LAP-$n-$(cat /sys/class/net/eth0/carrier)'
refetch="rm -f /tmp/b2; wget -q -O /tmp/b2 http://10.0.5.1:$http_port/blob; echo R\"\"EFETCH-\$(sha256sum </tmp/b2 | cut -d' ' -f1)"
timeout 150 "$chat" "$console" 140 "send:$flap" expect:FLAP- \
    "send:$refetch" expect:REFETCH- >"$tmp/console2.log" 2>&1
flapped=$(tr -d '\r' <"$tmp/console2.log" | sed -n 's/^FLAP-//p' | tail -n1)
check "the guest's driver saw the link go down and come back (downs-carrier: $flapped, was ${downs:-?})" \
    eval '[ "${flapped#*-}" = 1 ] && [ "${flapped%-*}" -gt "${downs:-0}" ] 2>/dev/null'
check "and fetched the file whole through the restarted model" \
    eval 'tr -d "\r" <"$tmp/console2.log" | grep -qx "REFETCH-$want"'

out=$(dmctl vm stop vm1 --timeout 3 2>&1)
check "stop shuts the VM down ($out)" grep -q stopped <<<"$out"
check "and srv's launcher deleted the tap" \
    eval 'wait_for "[ -z \"\$(taps)\" ] && ! in_srv ip link show \"$tap\" 2>/dev/null" &&
          grep -q "tap $tap deleted" "$tmp/srv.log"'
check "no model is left" \
    eval '[ "$(dmctl --json dm list | jget "len(d[\"dms\"])")" = 0 ]'
if [ "$failed" != 0 ]; then
    for f in console.log console2.log srv.log c1.log orch.log; do
        echo "# $f:"; tail -n 15 "$tmp/$f" | sed 's/^/#   /'
    done
fi
echo "1..$n"
exit "$failed"
