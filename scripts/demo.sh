#!/bin/bash
# make demo: the project's main job on one machine, with embedded
# defaults.  The orchestrator, one server platform and two client
# platforms run as separate "hosts" (network namespaces on a private
# bridge when we are root, else all on loopback).  A VM with a remote UART
# console, a remote disk (virtio-blk on an image of the server), a remote
# network card (virtio-net with libslirp in the model), a remote edu and
# a remote display with its keyboard and tablet (no VGA in QEMU) boots
# Linux; its console is shown from the server; it makes a file
# system on its disk and writes a file, gets an address from the card
# and fetches a page from a web server on the server platform, shows its
# boot log on its framebuffer console, whose screenshot is taken through
# the server's VNC (saved in BUILD/demo, or $DEMO_OUT), migrates
# to the other client platform while its device models stay put, reads
# the file back and fetches the page again there; then it shuts down.
# Each step says what it does.  The orchestrator serves the web console
# too (--web, HTTPS with a login token): the demo prints its URL and the
# token's file, for a browser on this machine while the demo runs
# (DEMO_PAUSE=1: wait for Enter before the shutdown, to look at the VM's
# screen and console in the page).
#   scripts/demo.sh BUILD
set -euo pipefail
build=$(cd "${1:?usage: demo.sh BUILD}" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
dm=$build/meson/dm-remote/dm-remote
chat=$here/tests/guest/console-chat.py
tmp=$(mktemp -d /tmp/dm-demo-XXXXXX)
pids=()
. "$here/tests/net/lan.sh"
cleanup() {
    [ ${#pids[@]} = 0 ] || kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    lan_down
    [ -n "${KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" | sed "s|$build/||g; s|$tmp/||g"; "$@"; }
dmctl() { "$build/meson/orchestrator/dmctl" "$@"; }
out=${DEMO_OUT:-$build/demo}
mkdir -p "$out"

if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
    lan_up $$ ctl=192.0.2.10 srv=192.0.2.2 c1=192.0.2.1 c2=192.0.2.3
    # Used with &: exec, so that $! is the program itself.
    on() { exec ip netns exec "$(lan_ns "$1")" "${@:2}"; }
    addr() { case $1 in ctl) echo 192.0.2.10 ;; srv) echo 192.0.2.2 ;;
                        c1) echo 192.0.2.1 ;; c2) echo 192.0.2.3 ;; esac; }
    where="four network namespaces on a private bridge (192.0.2.0/24)"
else
    on() { exec "${@:2}"; }
    addr() { echo 127.0.0.1; }
    where="loopback (not root: no network namespaces)"
fi
port() { case $1 in srv) echo 7101 ;; c1) echo 7102 ;; c2) echo 7103 ;;
                   ctl) echo 7100 ;; esac; }

step "1. Hosts: orchestrator, server platform srv1, client platforms c1 and c2, on $where"
# TLS everywhere, both ends verified: the launchers' API (HTTPS) and the
# device-model sessions (vfio-user over TLS).  A throw-away CA signs the
# servers' certificates and the clients' (orchestrator, QEMUs).
"$here/tests/net/make-certs.sh" "$tmp/certs"
# A client platform is also a migration target: its QEMUs take the
# migration stream over TLS with a server certificate (dm-migrate-tls).
mkdir -p "$tmp/certs/client-host"
cp "$tmp/certs/client/"* "$tmp/certs/server/server-cert.pem" \
    "$tmp/certs/server/server-key.pem" "$tmp/certs/client-host/"
# The server's disk images: the VM's data disk, 16 MiB of zeros.
mkdir -p "$tmp/images"
truncate -s 16M "$tmp/images/demo-data.img"
# A web server on the server platform's loopback: the guest's network
# card lives there, and libslirp's 10.0.2.2 is that loopback.
mkdir -p "$tmp/www"
echo "hello from the server platform" >"$tmp/www/index.html"
web_port=$(/usr/bin/python3 "$here/tests/free-port.py" 127.0.0.1)
on srv /usr/bin/python3 -m http.server "$web_port" --bind 127.0.0.1 \
    --directory "$tmp/www" >"$tmp/www.log" 2>&1 & pids+=($!)
for h in srv c1 c2; do
    mkdir -p "$tmp/$h"
    role=client extra=(--qemu "$build/qemu-system-x86_64"
                       --model-tls-creds "$tmp/certs/client-host")
    [ $h = srv ] && role=server extra=(--model-host "$(addr srv)"
                                       --model-tls-creds "$tmp/certs/server"
                                       --images-dir "$tmp/images")
    on $h "$dm" daemon --role $role --listen "tcp:$(addr $h):$(port $h)" \
        --tls-creds "$tmp/certs/server" \
        --platform-id $h --state-dir "$tmp/$h" "${extra[@]}" \
        >"$tmp/$h.log" 2>&1 & pids+=($!)
    echo "   launcher of $h: dm-remote daemon --role $role on tcp:$(addr $h):$(port $h), HTTPS, models over TLS"
done
# The orchestrator's API and web console: HTTPS on the ctl host, client
# certificates (dmctl) or the login token (a browser without one).
( umask 077; head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$out/web-token" )
on ctl "$build/meson/orchestrator/dm-orchestrator" --db "$tmp/db.sqlite" \
    --listen "tcp:$(addr ctl):$(port ctl)" --tls-creds "$tmp/certs/server" \
    --web "$build/web" --web-token-file "$out/web-token" \
    --launcher-tls-creds "$tmp/certs/client" >"$tmp/orch.log" 2>&1 & pids+=($!)
# A browser on this machine is outside the namespaces: a forwarder on
# its loopback reaches the orchestrator's listener (dmctl goes through it
# too).  On loopback already, the listener itself.
web=$(addr ctl):$(port ctl)
if [ "$(addr ctl)" != 127.0.0.1 ]; then
    web=127.0.0.1:$(/usr/bin/python3 "$here/tests/free-port.py" 127.0.0.1)
    socat "TCP-LISTEN:${web#*:},bind=127.0.0.1,reuseaddr,fork" \
        "EXEC:ip netns exec $(lan_ns ctl) socat STDIO TCP\:$(addr ctl)\:$(port ctl)" \
        >"$tmp/forward.log" 2>&1 & pids+=($!)
fi
export DMCTL_ORCHESTRATOR=tcp:$web DMCTL_TLS_CREDS=$tmp/certs/client
for _ in $(seq 500); do
    grep -q "serving the API" "$tmp/orch.log" && grep -q listening "$tmp/srv.log" &&
        grep -q listening "$tmp/c1.log" && grep -q listening "$tmp/c2.log" &&
        (exec 3<>"/dev/tcp/${web%:*}/${web#*:}") 2>/dev/null && break
    sleep 0.01
done
echo "   orchestrator: dm-orchestrator, API and web console on tcp:$(addr ctl):$(port ctl) (HTTPS), launchers called over HTTPS with its client certificate"
echo "   web console: https://$web/ (the demo's own CA: accept its certificate), login token in $out/web-token"

step "2. Register the platforms in the identifier database"
run dmctl platform add srv1 --role server --address "tcp:$(addr srv):$(port srv)"
run dmctl platform add c1 --role client --address "tcp:$(addr c1):$(port c1)"
run dmctl platform add c2 --role client --address "tcp:$(addr c2):$(port c2)"
run dmctl platform list

step "3. Define a VM: Linux, a remote UART as its console, a remote disk on srv1's image demo-data.img, a remote network card, a remote edu, a remote display with its keyboard and tablet"
run dmctl vm create demo --memory 256M --kernel "$build/guest/vmlinuz" \
    --initrd "$build/guest/initramfs.cpio.gz" --append "$(cat "$build/guest/append")" \
    --device console=uart16550 \
    --device disk0=virtio-blk,file=demo-data.img,serial=demo-disk \
    --device net0=virtio-net,net=user \
    --device edu0=edu \
    --device gfx0=bochs-display --device kbd0=virtio-keyboard \
    --device tablet0=virtio-tablet

step "4. Start it on c1: models placed on srv1 and launched, QEMU started with -remote-device"
run dmctl vm start demo --on c1
run dmctl dm list
console=$(dmctl --json vm show demo | /usr/bin/python3 -c \
    'import json,sys; print([d["console"] for d in json.load(sys.stdin)["devices"] if d["name"] == "console"][0][5:])')
# The display's VNC server on srv1 (its launcher paired it with the
# keyboard and tablet), and its instance there.
read -r vnc gfx < <(dmctl --json vm show demo | /usr/bin/python3 -c \
    'import json,sys; v = json.load(sys.stdin); print(v["vnc"], [d["instance"] for d in v["devices"] if d["name"] == "gfx0"][0])')
echo "   the VM's display: VNC at $vnc (dmctl vm show demo: vnc)"

step "5. The guest's console, seen from the server platform (where the UART is emulated); its disk, then its network card: DHCP and a page from srv1's web server"
edu='for d in /sys/bus/pci/devices/*; do [ $(cat $d/device) = 0x11e8 ] && e=$d; done; b=$(head -1 $e/resource | cut -d" " -f1); echo 1 > $e/enable'
timeout 270 "$chat" "$console" 240 expect:DM-GUEST-READY "send:uname -sr" \
    "send:$edu; devmem \$((b+4)) 32 0x12345678; echo edu liveness: \$(devmem \$((b+4)) 32)" \
    "expect:edu liveness: 0x" \
    "send:. /usr/bin/dm-virtio-disk; echo disk: \$(cat /sys/block/vda/serial), \$((\$(cat /sys/block/vda/size) / 2048)) MiB" \
    "expect:disk: demo-disk, 16 MiB" \
    "send:. /usr/bin/dm-ext4; /usr/sbin/mkfs.ext4 -q /dev/vda && mkdir -p /mnt && mount /dev/vda /mnt && echo written on c1, before the migration > /mnt/hello.txt && sync && echo synced: \$((40+2))" \
    "expect:synced: 42" \
    "send:. /usr/bin/dm-virtio-net >/dev/null && echo address: \$(ip -4 -o addr show dev eth0 | awk '{print \$4}')" \
    "expect:address: 10.0.2." \
    "send:echo page: \$(wget -q -O - http://10.0.2.2:$web_port/)" \
    "expect:page: hello from the server platform" \
    "send:. /usr/bin/dm-display && echo 0 > /sys/class/graphics/fbcon/cursor_blink && dmesg | tail -n 48 > /dev/tty1 && echo boot log shown: \$((40+2))" \
    "expect:boot log shown: 42"

step "5b. The guest's screen (its boot log on the framebuffer console), taken through srv1's VNC"
# The password: made by srv1's launcher, 0600 in its state directory (its
# API gives it too, to its authenticated callers).
shot=$out/demo-screen.ppm
( on srv /usr/bin/python3 "$here/tests/rfb_client.py" "$vnc" "$shot" \
    "$(cat "$tmp/srv/instances/$gfx/vnc-password")" )
/usr/bin/python3 - "$shot" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
w, h = map(int, data.split(b"\n")[1].split())
lit = sum(1 for i in range(len(data) - w * h * 3, len(data), 3)
          if data[i] | data[i + 1] | data[i + 2])
print("   screenshot: %s (%dx%d, %d pixels lit)" % (sys.argv[1], w, h, lit))
sys.exit(0 if w >= 640 and lit > 1000 else "the screen is blank")
PY

step "6. Migrate the VM to c2; its device models stay on srv1"
run dmctl vm migrate demo --to c2
run dmctl vm list

step "7. The same console, after the migration: the guest goes on, edu's state is intact, the disk reads back, the network card still fetches"
timeout 100 "$chat" "$console" 90 \
    "send:echo still here: \$((6*7)), edu liveness: \$(devmem \$((b+4)) 32)" \
    "expect:still here: 42, edu liveness: 0xEDCBA987" \
    "send:echo 3 > /proc/sys/vm/drop_caches; echo read back on c2: \$(cat /mnt/hello.txt)" \
    "expect:read back on c2: written on c1, before the migration" \
    "send:echo page again: \$(wget -q -O - http://10.0.2.2:$web_port/)" \
    "expect:page again: hello from the server platform" \
    "send:umount /mnt && echo unmounted: \$((6*7))" "expect:unmounted: 42"

if [ -n "${DEMO_PAUSE:-}" ] && [ -t 0 ]; then
    echo "   web console: https://$web/ (token in $out/web-token): the VM's screen and console are there"
    read -r -p "   press Enter to shut the VM down " _
fi

step "8. Shut it down: ACPI power-down, then quit; models stopped, placements freed"
run dmctl vm stop demo --timeout 5
run dmctl dm list

step "9. The disk's image on srv1: an ext4 file system, clean, with the guest's file"
run /usr/sbin/e2fsck -f -n "$tmp/images/demo-data.img"
run /usr/sbin/debugfs -R "cat /hello.txt" "$tmp/images/demo-data.img"

step "10. What happened to it, from the orchestrator's log"
run dmctl events --vm demo
step "Done."
