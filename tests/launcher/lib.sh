# What the launcher's shell tests share: source it after setting $py,
# $here, $bin, $dir, n=0, failed=0 and daemons=().
#   pass NAME / fail NAME WHY        TAP lines
#   req ADDRESS METHOD PATH [BODY]   sets $status, $ctype and $body
#   jf PATH [JSON]                   a member of $body (or of JSON)
#   check NAME STATUS [PATTERN]      the last reply: status, JSON, body
#   wait_for CMD...                  bounded polling (20 s)
#   start_daemon NAME ARGS...        dm-remote daemon, up once it says
#                                    "listening on"; sets $pid

pass() { echo "ok $((++n)) $1"; }
fail() { echo "not ok $((++n)) $1: $(tr "\n" " " <<<"$2")"; failed=1; }

req() {
    local out
    out=$("$py" "$here/api.py" "$@" 2>&1)
    status=${out%%$'\t'*}
    out=${out#*$'\t'}
    ctype=${out%%$'\t'*}
    body=${out#*$'\t'}
}

jf() { "$py" "$here/jget.py" "${2:-$body}" "$1"; }

check() {
    if [ "$status" != "$2" ]; then
        fail "$1" "status $status, wanted $2: $body"
    elif [ "$ctype" != application/json ]; then
        fail "$1" "Content-Type '$ctype'"
    elif [ -n "${3:-}" ] && ! grep -q -- "$3" <<<"$body"; then
        fail "$1" "body lacks '$3': $body"
    else
        pass "$1"
    fi
}

wait_for() {
    local i
    for i in $(seq 200); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

# The log is appended to: a daemon restarted under the same name keeps
# its history (give restarts their own name to wait for a new line).
start_daemon() {
    local name=$1
    shift
    "$bin" daemon "$@" 2>>"$dir/$name.err" &
    pid=$!
    daemons+=("$pid")
    wait_for grep -q "listening on" "$dir/$name.err" ||
        { echo "Bail out! daemon $name did not start: $(cat "$dir/$name.err")"
          exit 1; }
}
