#!/bin/bash
# dm-remote's command line: help, clear errors for bad input, a path in
# use, a stale socket file, and a clean stop on SIGTERM.
set -u
bin=$1
dir=$(mktemp -d /tmp/dm-cli-XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT
n=0
fail() { echo "not ok $((++n)) $1: $2"; failed=1; }
pass() { echo "ok $((++n)) $1"; }
failed=0

# expect NAME STATUS PATTERN -- ARGS...: exit status and a stderr/stdout line
expect() {
    local name=$1 status=$2 pattern=$3
    shift 4
    local out rc
    out=$("$bin" "$@" 2>&1 </dev/null)
    rc=$?
    if [ "$rc" != "$status" ]; then
        fail "$name" "exit $rc, wanted $status: $out"
    elif ! grep -q -- "$pattern" <<<"$out"; then
        fail "$name" "output lacks '$pattern': $out"
    else
        pass "$name"
    fi
}

expect help 0 "Usage: dm-remote COMMAND" -- --help
expect serve-help 0 "--listen=ADDRESS" -- serve --help
expect help-lists-models 0 "edu " -- serve --help
expect model-help 0 "^  edu " -- serve --model help
expect model-props 0 "dma_mask=<number>" -- serve --model edu,help
expect model-props-uart 0 "console=<string> (default stdio)" -- serve --model uart16550,help
expect bad-prop 2 "no property 'nope'" -- serve --model edu,nope=1 --listen unix:$dir/s
expect bad-prop-value 2 "'irq' must be a number from 0 to 15, not '16'" -- serve --model uart16550,irq=16 --listen unix:$dir/s
expect bad-prop-console 2 "bad console 'tty:1'" -- serve --model uart16550,console=tty:1 --listen unix:$dir/s
expect console-twice 2 "'console' given twice" -- serve --model uart16550,console=stdio --console stdio --listen unix:$dir/s
expect no-console 2 "model 'edu' has no console" -- serve --model edu --console stdio --listen unix:$dir/s
expect no-command 2 "missing command" --
expect bad-command 2 "unknown command 'frobnicate'" -- frobnicate
expect bad-option 2 "unknown option '--frob'" -- serve --frob
expect missing-value 2 "needs a value" -- serve --model
expect no-model 2 "serve needs --model" -- serve --listen unix:$dir/s
expect bad-model 2 "unknown model 'nope'" -- serve --model nope --listen unix:$dir/s
expect no-listen 2 "serve needs --listen" -- serve --model edu
expect bad-address 2 "unsupported address 'udp:1.2.3.4'" -- serve --model edu --listen udp:1.2.3.4
expect tcp-no-port 2 "missing port" -- serve --model edu --listen tcp:localhost
expect tcp-bad-port 2 "bad host or port" -- serve --model edu --listen tcp:127.0.0.1:99999
expect tcp-bad-ipv6 2 "bad IPv6 address" -- serve --model edu --listen "tcp:[::1:5000"
expect tcp-unresolvable 1 "cannot resolve" -- serve --model edu --listen tcp:no-such-host.invalid:5000
expect empty-path 2 "empty path" -- serve --model edu --listen unix:
expect long-path 2 "socket path too long" -- serve --model edu --listen "unix:$dir/$(printf 'x%.0s' $(seq 200))"
expect bad-layout 2 "invalid --dma-layout 'odd'" -- serve --model edu --listen unix:$dir/s --dma-layout=odd
expect bad-poll-us 2 "invalid --poll-us 'x' (0..1000000)" -- serve --model edu --listen unix:$dir/s --poll-us x
expect bad-hello-timeout 2 "invalid --hello-timeout '0' (1..3600)" -- serve --model edu --listen unix:$dir/s --hello-timeout 0
expect help-hello-timeout 0 "--hello-timeout=SEC" -- serve --help
expect route-bad-max-sessions 2 "invalid --max-sessions '0' (1..65536)" -- route --listen unix:$dir/r --route a=unix:$dir/b --max-sessions 0
expect route-bad-hello-timeout 2 "invalid --hello-timeout '9999' (1..3600)" -- route --listen unix:$dir/r --route a=unix:$dir/b --hello-timeout 9999
expect route-help-limits 0 "--max-sessions=N" -- route --help
expect no-token-file 2 "cannot read a token" -- serve --model edu --listen unix:$dir/s --token-file "$dir/none"
expect long-identifier 2 "at most 128 bytes" -- serve --model edu --listen unix:$dir/s --bind-vm "$(printf 'v%.0s' $(seq 130))"
touch "$dir/file"
expect not-a-socket 1 "exists and is not a socket" -- serve --model edu --listen unix:$dir/file

# A live server: a second one on the same path is refused.
"$bin" serve --quiet --model edu --listen "unix:$dir/live" & pids+=($!)
for _ in $(seq 500); do [ -S "$dir/live" ] && break; sleep 0.01; done
expect path-in-use 1 "address in use" -- serve --model edu --listen unix:$dir/live

# SIGTERM: exit 0 and the socket file is gone.
kill -TERM "${pids[0]}"
wait "${pids[0]}"
rc=$?
if [ "$rc" = 0 ] && [ ! -e "$dir/live" ]; then
    pass sigterm-cleans-up
else
    fail sigterm-cleans-up "exit $rc, socket left: $(ls "$dir")"
fi

# A stale socket file (its server died) is replaced.
"$bin" serve --quiet --model edu --listen "unix:$dir/stale" & pid=$!
for _ in $(seq 500); do [ -S "$dir/stale" ] && break; sleep 0.01; done
kill -KILL $pid; wait $pid 2>/dev/null
"$bin" serve --quiet --model edu --listen "unix:$dir/stale" & pids+=($!)
sleep 0.3
if kill -0 "${pids[1]}" 2>/dev/null && [ -S "$dir/stale" ]; then
    pass stale-socket-replaced
else
    fail stale-socket-replaced "server did not start over a stale socket"
fi
kill -TERM "${pids[1]}"; wait "${pids[1]}"

# --state-file: saved at SIGTERM (0600), loaded at the next start; the
# state of another model is refused.
start_and_stop() {     # LOG ARGS...: serve until its socket is up, then TERM
    local log=$1; shift
    "$bin" serve "$@" 2>"$log" & local p=$!
    for _ in $(seq 500); do [ -S "$dir/st" ] && break; sleep 0.01; done
    kill -TERM $p; wait $p
}
start_and_stop "$dir/st1.log" --model edu --listen "unix:$dir/st" \
    --state-file "$dir/edu.state"
if [ "$(stat -c %a "$dir/edu.state" 2>/dev/null)" = 600 ] &&
        grep -q "state of edu saved" "$dir/st1.log"; then
    pass state-file-saved
else
    fail state-file-saved "$(ls -l "$dir"; cat "$dir/st1.log")"
fi
start_and_stop "$dir/st2.log" --model edu --listen "unix:$dir/st" \
    --state-file "$dir/edu.state"
if grep -q "state of edu loaded from" "$dir/st2.log"; then
    pass state-file-loaded
else
    fail state-file-loaded "$(cat "$dir/st2.log")"
fi
start_and_stop "$dir/st3.log" --model uart16550,console=file:/dev/null \
    --listen "unix:$dir/st" --state-file "$dir/uart.state"
expect state-file-other-model 1 "the state of model 'uart16550', not of 'edu'" -- \
    serve --model edu --listen "unix:$dir/st" --state-file "$dir/uart.state"
# SIGUSR1: the device's state in the log, even with --quiet, and the
# server goes on (a second signal still finds it; TERM stops it cleanly).
truncate -s 1M "$dir/usr1.img"
"$bin" serve --quiet --model "virtio-blk,file=$dir/usr1.img" \
    --listen "unix:$dir/u1" 2>"$dir/usr1.log" & p=$!
pids+=("$p")
for _ in $(seq 500); do [ -S "$dir/u1" ] && break; sleep 0.01; done
kill -USR1 "$p"
for _ in $(seq 500); do
    grep -q "queue 0:" "$dir/usr1.log" && break; sleep 0.01
done
kill -USR1 "$p"      # pending together: the lower number, USR1, comes first
kill -TERM "$p"; wait "$p"; rc=$?
if [ "$rc" = 0 ] &&
        [ "$(grep -c "state of virtio-blk: no client" "$dir/usr1.log")" = 2 ] &&
        grep -q "virtio: status 0x0" "$dir/usr1.log" &&
        grep -q "irq index 2: 5 vectors" "$dir/usr1.log"; then
    pass sigusr1-dumps-state
else
    fail sigusr1-dumps-state "exit $rc: $(cat "$dir/usr1.log")"
fi
echo "1..$n"
exit $failed
