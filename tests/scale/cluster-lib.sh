# Sourced after tests/net/lan.sh, with $tmp set: processes that a test
# restarts, and a 3-member etcd on hosts e1, e2, e3 of the LAN
# (192.0.2.21-23; the fleet's servers are
# 192.0.2.1-20), for tests/scale/cluster-test.sh and fleet-test.sh.
#
#   starter NAME COMMAND...  run/NAME.sh (re)starts COMMAND in NAME's
#                            namespace in the background, its pid in
#                            run/NAME.pid, its output appended to NAME.log
#   starter_kill_all         SIGCONT then SIGKILL every started pid
#   etcd3_hosts              the e1..e3 NAME=ADDR specs for lan_up
#   etcd3_up                 start the 3 members, wait for their health;
#                            $etcd3_endpoints the client URLs (or return 1)

etcd3_endpoints=http://192.0.2.21:2379,http://192.0.2.22:2379,http://192.0.2.23:2379

starter() {
    local name=$1
    shift
    mkdir -p "$tmp/run"
    {
        echo '#!/bin/bash'
        printf 'ip netns exec %q ' "$(lan_ns "$name")"
        printf '%q ' "$@"
        printf '</dev/null >>%q 2>&1 &\n' "$tmp/$name.log"
        printf 'echo $! >%q\n' "$tmp/run/$name.pid"
    } >"$tmp/run/$name.sh"
    chmod +x "$tmp/run/$name.sh"
    "$tmp/run/$name.sh"
}

starter_kill_all() {
    local f
    for f in "$tmp"/run/*.pid; do
        [ -e "$f" ] || continue
        kill -CONT "$(cat "$f")" 2>/dev/null
        kill -9 "$(cat "$f")" 2>/dev/null
    done
}

etcd3_hosts() {
    echo e1=192.0.2.21 e2=192.0.2.22 e3=192.0.2.23
}

# Whether every member answers healthy (asked from host $1's namespace).
etcd3_healthy() {
    ip netns exec "$(lan_ns "$1")" /usr/bin/python3 - "$etcd3_endpoints" <<'PY'
import json, sys, urllib.request
for url in sys.argv[1].split(","):
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as f:
            if json.loads(f.read()).get("health") != "true":
                sys.exit(1)
    except OSError:
        sys.exit(1)
PY
}

# etcd3_up FROM: the members started; healthy as FROM's namespace sees it.
etcd3_up() {
    local i ip cluster
    cluster=e1=http://192.0.2.21:2380,e2=http://192.0.2.22:2380
    cluster=$cluster,e3=http://192.0.2.23:2380
    for i in 1 2 3; do
        ip=192.0.2.2$i
        starter "e$i" etcd --name "e$i" --data-dir "$tmp/e$i.data" \
            --listen-client-urls "http://$ip:2379" \
            --advertise-client-urls "http://$ip:2379" \
            --listen-peer-urls "http://$ip:2380" \
            --initial-advertise-peer-urls "http://$ip:2380" \
            --initial-cluster "$cluster" --initial-cluster-state new \
            --logger zap --log-outputs stderr
    done
    for _ in $(seq 150); do
        etcd3_healthy "$1" && return 0
        sleep 0.2
    done
    etcd3_healthy "$1"
}
