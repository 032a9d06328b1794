#!/bin/bash
# dm-remote daemon --bridges: a virtio-net instance given "bridge" gets a
# tap the launcher makes (named after the instance, persistent, ours,
# up, a port of that bridge), passed to the model as tap=; the tap goes
# with the instance (DELETE, also after the model was killed), survives
# the model's restart, and a launcher restarted after a crash deletes
# the taps of instances whose model died meanwhile.  Refused: a raw
# tap=, a bridge not in --bridges, a missing bridge, one down, a bad
# name.  Runs in a network namespace of its own (unshare -n -m, sysfs
# remounted).  TAP.
#
#   tap-test.sh BUILD_ROOT DM_REMOTE
set -u
if [ -z "${DM_TAP_TEST_NS:-}" ]; then
    if [ "$(id -u)" != 0 ] || [ ! -w /dev/net/tun ]; then
        echo "1..0 # SKIP taps in a network namespace need root"
        exit 0
    fi
    if ! unshare -n true 2>/dev/null; then
        echo "1..0 # SKIP unshare -n is not permitted here"
        exit 0
    fi
    # sysfs shows the namespace of whoever mounted it: mount our own.
    # shellcheck disable=SC2016   # the inner shell's $0 and $@
    exec unshare -n -m --propagation private env DM_TAP_TEST_NS=1 \
        sh -c 'mount -t sysfs sysfs /sys && exec "$0" "$@"' "$0" "$@"
fi
build_root=$1
bin=$2
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
dir=$(mktemp -d /tmp/dm-tap-XXXXXX)
daemons=()
. "$here/../tap.sh"
trap 'stop_pids "${daemons[@]}"; rm -rf "$dir"' EXIT
. "$here/lib.sh"
n=0 failed=0

cmdline() { tr '\0' ' ' </proc/"$1"/cmdline; }
# tap_on TAP BRIDGE: it exists, is up and is a port of BRIDGE.
tap_on() {
    [ -e "/sys/class/net/$1/tun_flags" ] &&
        [ "$(basename "$(readlink "/sys/class/net/$1/master")")" = "$2" ] &&
        ip -o link show "$1" | grep -q "[<,]UP[,>]"
}
gone() { [ ! -e "/sys/class/net/$1" ]; }
state_is() {
    req "$api" GET "/v1/instances/$1"
    [ "$(jf state)" = "$2" ]
}

echo "TAP version 13"
ip link set lo up
ip link add br0 type bridge && ip link set br0 up ||
    { echo "Bail out! no bridge in the namespace"; exit 1; }
ip link add br1 type bridge
ip link add br3 type bridge        # allowed, never up
ip link add dummy0 type dummy

out=$("$bin" daemon --role server --listen "unix:$dir/x.sock" \
      --platform-id p1 --state-dir "$dir/x" --bridges 'br0,a/b' 2>&1)
if [ $? = 2 ] && grep -q "bad bridge name 'a/b'" <<<"$out"; then
    pass bad-bridges-option
else
    fail bad-bridges-option "$out"
fi
out=$("$bin" daemon --role client --listen "unix:$dir/x.sock" \
      --platform-id p1 --state-dir "$dir/x" --bridges br0 2>&1)
if [ $? = 2 ] && grep -q "are for --role server" <<<"$out"; then
    pass bridges-server-only
else
    fail bridges-server-only "$out"
fi

api=unix:$dir/server.sock
# br2 is allowed but does not exist; dummy0 exists but is no bridge;
# br3 is allowed but down.
start_daemon server --role server --listen "$api" --platform-id srv-1 \
    --state-dir "$dir/state" --bridges br0,br2,dummy0,br3
pid_server=$pid

# The orchestrator learns "bridge" from the health's catalogue.
req "$api" GET /v1/health
if "$py" -c 'import json, sys
m = [m for m in json.loads(sys.argv[1])["models"] if m["name"] == sys.argv[2]]
sys.exit(not any(p["name"] == "bridge" for p in m[0]["props"]))' \
        "$body" virtio-net &&
   ! "$py" -c 'import json, sys
m = [m for m in json.loads(sys.argv[1])["models"] if m["name"] == "edu"]
sys.exit(not any(p["name"] == "bridge" for p in m[0]["props"]))' "$body"; then
    pass health-lists-bridge
else
    fail health-lists-bridge "$body"
fi
req "$api" POST /v1/instances \
    '{"id": "n1", "model": "virtio-net", "props": {"tap": "br0"}}'
check raw-tap-refused 400 "property 'tap' of model 'virtio-net' is not taken"
req "$api" POST /v1/instances \
    '{"id": "n1", "model": "virtio-net", "props": {"bridge": "br1"}}'
check bridge-not-allowed 403 "bridge 'br1' is not offered here"
req "$api" POST /v1/instances \
    '{"id": "n1", "model": "virtio-net", "props": {"bridge": "br2"}}'
check bridge-missing 409 "bridge 'br2' does not exist"
req "$api" POST /v1/instances \
    '{"id": "n1", "model": "virtio-net", "props": {"bridge": "dummy0"}}'
check not-a-bridge 409 "bridge 'dummy0' does not exist"
req "$api" POST /v1/instances \
    '{"id": "n1", "model": "virtio-net", "props": {"bridge": "br3"}}'
check bridge-down 409 "bridge 'br3' is down on this platform"
for bad in 'a/b' '../x' 'averyveryverylongname' ''; do
    req "$api" POST /v1/instances "{\"id\": \"n1\", \"model\": \"virtio-net\",
        \"props\": {\"bridge\": \"$bad\"}}"
    check "bad-bridge-name '$bad'" 400 "bad bridge name"
done
req "$api" POST /v1/instances \
    '{"id": "n1", "model": "edu", "props": {"bridge": "br0"}}'
check bridge-needs-tap-model 400 "model 'edu' has no property 'bridge'"
if ls /sys/class/net | grep -q '^dmt'; then
    fail no-tap-after-refusals "$(ls /sys/class/net)"
else
    pass no-tap-after-refusals
fi

# Made, attached, given to the model.
req "$api" POST /v1/instances '{"id": "n1", "model": "virtio-net",
    "transport": "unix", "props": {"bridge": "br0",
    "mac": "52:54:00:00:05:01"}}'
check create 201 '"tap":"dmt'
tap1=$(jf tap)
pid1=$(jf pid)
if [ ${#tap1} -le 15 ] && tap_on "$tap1" br0 &&
   [ "$(cat "/sys/class/net/$tap1/owner")" = "$(id -u)" ] &&
   grep -q -- "--model=virtio-net,mac=52:54:00:00:05:01,tap=$tap1 " \
       <<<"$(cmdline "$pid1") " &&
   [ "$(jf props.bridge)" = br0 ]; then
    pass tap-made-and-attached
else
    fail tap-made-and-attached "$tap1 on $(readlink \
        "/sys/class/net/$tap1/master"): $(cmdline "$pid1")"
fi
# Bridged frames through iptables (this namespace's bridge netfilter):
# said once in the log when it is on, not at all when it is off.
nf=$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null)
said=$(grep -c "bridged frames go through iptables" "$dir/server.err")
if [ "$said" = "$([ "$nf" = 1 ] && echo 1 || echo 0)" ]; then
    pass "bridge-netfilter-said-if-on ($nf: $said)"
else
    fail bridge-netfilter-said-if-on "${nf:-none}: said $said times"
fi
# The model holds it: carrier up once a file is attached.
if wait_for grep -qx 1 "/sys/class/net/$tap1/carrier"; then
    pass model-holds-tap
else
    fail model-holds-tap "carrier $(cat "/sys/class/net/$tap1/carrier")"
fi

# Killed outright, no restart: the tap stays until the DELETE.
kill -KILL "$pid1"
if wait_for state_is n1 exited && tap_on "$tap1" br0; then
    pass tap-outlives-model
else
    fail tap-outlives-model "$body"
fi
req "$api" DELETE /v1/instances/n1
check delete-after-kill 200
if wait_for gone "$tap1"; then
    pass tap-gone-at-delete
else
    fail tap-gone-at-delete "$(ip -o link show "$tap1")"
fi

# Restarted by its policy: the same tap, still on the bridge.
req "$api" POST /v1/instances '{"id": "n2", "model": "virtio-net",
    "transport": "unix", "restart": "on-failure",
    "props": {"bridge": "br0"}}'
check create-restarting 201
tap2=$(jf tap)
pid2=$(jf pid)
kill -KILL "$pid2"
restarted() {
    req "$api" GET /v1/instances/n2
    [ "$(jf state)" = running ] && [ "$(jf restarts)" = 1 ]
}
if wait_for restarted && tap_on "$tap2" br0 &&
   grep -q "tap=$tap2" <<<"$(cmdline "$(jf pid)")" &&
   wait_for grep -qx 1 "/sys/class/net/$tap2/carrier"; then
    pass restart-same-tap
else
    fail restart-same-tap "$body"
fi
pid2=$(jf pid)

# A plain DELETE of a running model.
req "$api" POST /v1/instances '{"id": "n3", "model": "virtio-net",
    "transport": "unix", "props": {"bridge": "br0"}}'
check create-third 201
tap3=$(jf tap)
req "$api" DELETE /v1/instances/n3
check delete-running 200
wait_for gone "$tap3" && pass tap-gone-at-delete-running ||
    fail tap-gone-at-delete-running "$(ip -o link show "$tap3")"

# The launcher crashes; n2's model dies while it is away; the next
# launcher finds the record without its process and deletes the tap.
req "$api" POST /v1/instances '{"id": "n4", "model": "virtio-net",
    "transport": "unix", "props": {"bridge": "br0"}}'
check create-fourth 201
tap4=$(jf tap)
pid4=$(jf pid)
kill -KILL "$pid_server"
wait "$pid_server" 2>/dev/null
kill -KILL "$pid2"
start_daemon server2 --role server --listen "$api" --platform-id srv-1 \
    --state-dir "$dir/state" --bridges br0
pid_server=$pid
if gone "$tap2"; then
    pass leftover-tap-deleted
else
    fail leftover-tap-deleted "$(ip -o link show "$tap2")"
fi
req "$api" GET /v1/instances/n4
if [ "$status" = 200 ] && [ "$(jf pid)" = "$pid4" ] && [ "$(jf tap)" = "$tap4" ] &&
   tap_on "$tap4" br0; then
    pass adopted-keeps-tap
else
    fail adopted-keeps-tap "$status $body"
fi

# A launcher that stops takes its instances' taps with it.
kill -TERM "$pid_server"
wait "$pid_server"
rc=$?
if [ "$rc" = 0 ] && gone "$tap4"; then
    pass taps-gone-at-shutdown
else
    fail taps-gone-at-shutdown "exit $rc: $(ls /sys/class/net)"
fi
if ls /sys/class/net | grep -q '^dmt'; then
    fail no-tap-left "$(ls /sys/class/net)"
else
    pass no-tap-left
fi
echo "1..$n"
exit "$failed"
