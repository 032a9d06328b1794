#!/bin/bash
# dm-remote daemon with --images-dir: a model's properties in POST
# /v1/instances ("props"), a file property naming an image there (never a
# path), each refusal's message; the instance's --state-file, so that a
# model killed and restarted by its policy comes back as it was.  TAP.
#
#   images-test.sh BUILD_ROOT DM_REMOTE
set -u
build_root=$1
bin=$2
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
dir=$(mktemp -d /tmp/dm-images-XXXXXX)
daemons=()
. "$here/../tap.sh"
trap 'stop_pids "${daemons[@]}"; rm -rf "$dir"' EXIT
. "$here/lib.sh"
n=0 failed=0

# The command line of process $1, spaces between arguments.
cmdline() { tr '\0' ' ' </proc/"$1"/cmdline; }

echo "TAP version 13"
mkdir -p "$dir/images"
truncate -s 1M "$dir/images/disk0.img"
truncate -s 1M "$dir/outside.img"

out=$("$bin" daemon --role server --listen "unix:$dir/x.sock" \
      --platform-id p1 --state-dir "$dir/x" --images-dir "$dir/none" 2>&1)
if [ $? = 2 ] && grep -q "is not a directory" <<<"$out"; then
    pass images-dir-missing
else
    fail images-dir-missing "$out"
fi

# A launcher without --images-dir refuses file properties.
start_daemon bare --role server --listen "unix:$dir/bare.sock" \
    --platform-id bare --state-dir "$dir/bare-state"
req "unix:$dir/bare.sock" POST /v1/instances \
    '{"id": "d1", "model": "virtio-blk", "props": {"file": "disk0.img"}}'
check no-images-dir 400 "this launcher has no --images-dir"

api=unix:$dir/server.sock
start_daemon server --role server --listen "$api" --platform-id srv-1 \
    --state-dir "$dir/state" --images-dir "$dir/images"
pid_server=$pid

for bad in '../outside.img' '.hidden' 'a/b' '..' ''; do
    req "$api" POST /v1/instances "{\"id\": \"d1\", \"model\": \"virtio-blk\",
        \"props\": {\"file\": \"$bad\"}}"
    check "bad-image-name '$bad'" 400 "bad image name"
done
req "$api" POST /v1/instances \
    '{"id": "d1", "model": "virtio-blk", "props": {"file": "nope.img"}}'
check missing-image 404 "no image 'nope.img' in $dir/images"
req "$api" POST /v1/instances \
    '{"id": "d1", "model": "virtio-blk", "props": {"size": "1"}}'
check unknown-prop 400 "model 'virtio-blk' has no property 'size'"
req "$api" POST /v1/instances \
    '{"id": "d1", "model": "uart16550", "props": {"console": "unix:/x"}}'
check console-prop 400 'use \\"console\\": true'
req "$api" POST /v1/instances '{"id": "d1", "model": "virtio-blk",
    "props": {"file": "disk0.img", "readonly": "maybe"}}'
check bad-value 400 "'readonly' must be on or off, not 'maybe'"
req "$api" POST /v1/instances '{"id": "d1", "model": "virtio-blk",
    "props": {"file": "disk0.img", "queues": 99}}'
check out-of-range 400 "'queues' must be a number from 0 to 16"
req "$api" POST /v1/instances \
    '{"id": "d1", "model": "virtio-blk", "props": {"file": ["x"]}}'
check not-a-value 400 "property 'file' must be a string, a boolean"
req "$api" POST /v1/instances \
    '{"id": "d1", "model": "virtio-blk", "props": "file=x"}'
check props-not-object 400 "'props' must be an object"
req "$api" POST /v1/instances '{"id": "d1", "model": "virtio-blk"}'
check file-required 400 "model 'virtio-blk': 'file' is required"

# A disk on an image, read-only, restarted by its policy when killed.
req "$api" POST /v1/instances '{"id": "d1", "model": "virtio-blk",
    "restart": "on-failure", "props": {"file": "disk0.img",
    "readonly": true, "serial": "a,b"}}'
check launch 201 '"state":"running"'
pid=$(jf pid)
if [ "$(jf props.file)" = disk0.img ] && [ "$(jf props.readonly)" = on ] &&
   [ "$(jf props.serial)" = a,b ]; then
    pass launch-props-shown
else
    fail launch-props-shown "$body"
fi
line=$(cmdline "$pid")
if grep -q -- "--model=virtio-blk,file=$dir/images/disk0.img,readonly=on,serial=a,,b " <<<"$line" &&
   grep -q -- "--state-file=$dir/state/instances/d1/state" <<<"$line"; then
    pass model-command-line
else
    fail model-command-line "$line"
fi
req "$api" GET /v1/instances/d1
[ "$(jf props.file)" = disk0.img ] && pass get-props ||
    fail get-props "$body"

kill -KILL "$pid"
restarted() {
    req "$api" GET /v1/instances/d1
    [ "$(jf state)" = running ] && [ "$(jf restarts)" = 1 ]
}
if wait_for restarted &&
   grep -q -- "--state-file=" <<<"$(cmdline "$(jf pid)")"; then
    pass restarted-with-state
else
    fail restarted-with-state "$body"
fi

# A crashed launcher's successor adopts the instance with its props.
kill -KILL "$pid_server" 2>/dev/null
wait "$pid_server" 2>/dev/null
start_daemon server2 --role server --listen "$api" --platform-id srv-1 \
    --state-dir "$dir/state" --images-dir "$dir/images"
req "$api" GET /v1/instances/d1
if [ "$status" = 200 ] && [ "$(jf props.readonly)" = on ]; then
    pass adopted-with-props
else
    fail adopted-with-props "$status $body"
fi
req "$api" DELETE /v1/instances/d1
check delete 200

echo "1..$n"
exit "$failed"
