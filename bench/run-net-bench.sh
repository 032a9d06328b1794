#!/bin/bash
# The network table of make bench: a Linux guest under TCG moves data
# with busybox wget to and from an HTTP server on the host's loopback
# (tests/guest/bin/net-bench), through user-mode networking (libslirp)
# on every row: QEMU's own virtio-net-pci on -netdev user (the floor),
# and dm-proxy-pci -> dm-remote's virtio-net model (net=user: slirp in
# the model's process) over UNIX (guest RAM shared) and TCP loopback.
# Same guest, same server, same run; each row beside the floor's figure
# (x local: the goal over UNIX is >= 0.8).
#   bench/run-net-bench.sh BUILD
# BENCH_NET_MB (32) MiB each way; BENCH_NET_GETS (50) small GETs;
# BENCH_NET_BOOTS (2) rounds of one boot per row (the best of them);
# BENCH_PIN=0 as in run-bench.sh.
set -euo pipefail
build=$(cd "${1:?usage: run-net-bench.sh BUILD}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
mb=${BENCH_NET_MB:-32}
gets=${BENCH_NET_GETS:-50}
boots=${BENCH_NET_BOOTS:-2}
# shellcheck source=bench-lib.sh
. "$here/bench-lib.sh"
bench_init net

# Same pinning as run-bench.sh: QEMU on CPU 0, the model on CPU 1.
pin_client=() pin_server=()
if [ "${BENCH_PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ]; then
    pin_client=(taskset -c 0) pin_server=(taskset -c 1)
fi
mem="-m 256M -object memory-backend-memfd,id=ram,size=256M,share=on"
mem="$mem -machine memory-backend=ram"

ports=$(/usr/bin/python3 "$here/../tests/free-port.py" 127.0.0.1 2)
http_port=$ports model_port=$((ports + 1))
# The server: /big (BENCH_NET_MB MiB), /small (one byte), POST /sink.
/usr/bin/python3 - "$http_port" "$mb" >"$tmp/http.log" 2>&1 <<'PY' &
import http.server, sys
big = b"\xa5" * (int(sys.argv[2]) << 20)
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_GET(self):
        body = big if self.path == "/big" else b"x"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        left = int(self.headers.get("Content-Length", 0))
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 16))
            if not chunk:
                break
            left -= len(chunk)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
pids+=($!)
bench_wait "tcp:127.0.0.1:$http_port" || true

# boot NAME DEVICE-ARGS...: one guest run; its console in $tmp/NAME.
boot() {
    local name=$1
    shift
    timeout 600 "${pin_client[@]}" "$qemu" -accel tcg -M pc $mem \
        -display none -monitor none -no-reboot \
        -kernel "$build/guest/vmlinuz" \
        -initrd "$build/guest/initramfs.cpio.gz" \
        -append "$(cat "$build/guest/append") dm.run=net-bench dm.http=$http_port dm.mb=$mb dm.gets=$gets" \
        -serial "file:$tmp/$name.console" "$@" 2>>"$tmp/qemu.log" ||
        echo "# $name: QEMU exited $?" >&2
}

model() {
    "${pin_server[@]}" "$dm" serve --quiet --model virtio-net,net=user \
        --listen "$1" 2>>"$tmp/dm.log" &
    model_pid=$!
    pids+=("$model_pid")
    bench_wait "$1"
}

run_row() {
    local row=$1 round=$2
    case $row in
        local)
            boot "$row-$round" -netdev user,id=n0 \
                -device virtio-net-pci,netdev=n0,disable-legacy=on ;;
        unix)
            model "unix:$tmp/net-$round.sock"
            boot "$row-$round" -device \
                "dm-proxy-pci,id=net0,server=unix:$tmp/net-$round.sock,timeout=30000"
            kill "$model_pid"; wait "$model_pid" 2>/dev/null || true ;;
        tcp)
            model "tcp:127.0.0.1:$model_port"
            boot "$row-$round" -device \
                "dm-proxy-pci,id=net0,server=tcp:127.0.0.1:$model_port,timeout=30000"
            kill "$model_pid"; wait "$model_pid" 2>/dev/null || true ;;
    esac
}

rows=(local unix tcp)
declare -A name=([local]="local virtio-net-pci, -netdev user"
                 [unix]="dm-proxy-pci -> dm-remote virtio-net, UNIX"
                 [tcp]="dm-proxy-pci -> dm-remote virtio-net, TCP")
for round in $(seq "$boots"); do
    for row in "${rows[@]}"; do
        run_row "$row" "$round"
    done
done

# field FILE KEY: the value of "DM-NET bench KEY V" in a console.
field() { tr -d '\r' <"$1" | sed -n "s/^DM-NET bench $2 //p" | head -n1; }
# best ROW KEY: the smallest time (cs) of the row's rounds, or "-".
best() {
    local r v b=
    for r in $(seq "$boots"); do
        v=$(field "$tmp/$1-$r.console" "$2")
        [[ "$v" =~ ^[0-9]+$ ]] && [ "$v" -gt 0 ] || continue
        if [ -z "$b" ] || [ "$v" -lt "$b" ]; then b=$v; fi
    done
    echo "${b:--}"
}
mbps() { [ "$1" = - ] && echo - || awk -v m="$mb" -v c="$1" 'BEGIN { printf "%.1f", m * 100 / c }'; }
rate() { [ "$1" = - ] && echo - || awk -v n="$gets" -v c="$1" 'BEGIN { printf "%.1f", n * 100 / c }'; }
ratio() { [ "$1" = - ] || [ "$2" = - ] && echo - || awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo
echo "Network: busybox wget in the guest (TCG, 1 vCPU) to and from an HTTP"
echo "server on the host's loopback, user networking (libslirp) on every row;"
echo "$mb MiB each way, $gets small GETs; best of $boots boots; x local: the"
echo "row's figure over the local row's (the floor)."
echo
printf '| %-44s | %9s | %7s | %9s | %7s | %8s | %7s |\n' row "down MB/s" \
    "x local" "up MB/s" "x local" "GETs/s" "x local"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" \
    "$(printf -- '-%.0s' {1..11})" "$(printf -- '-%.0s' {1..9})" \
    "$(printf -- '-%.0s' {1..11})" "$(printf -- '-%.0s' {1..9})" \
    "$(printf -- '-%.0s' {1..10})" "$(printf -- '-%.0s' {1..9})"
l_down=$(mbps "$(best local down-cs)") l_up=$(mbps "$(best local up-cs)")
l_gets=$(rate "$(best local gets-cs)")
for row in "${rows[@]}"; do
    down=$(mbps "$(best "$row" down-cs)") up=$(mbps "$(best "$row" up-cs)")
    g=$(rate "$(best "$row" gets-cs)")
    printf '| %-44s | %9s | %7s | %9s | %7s | %8s | %7s |\n' "${name[$row]}" \
        "$down" "$(ratio "$down" "$l_down")" "$up" "$(ratio "$up" "$l_up")" \
        "$g" "$(ratio "$g" "$l_gets")"
done
