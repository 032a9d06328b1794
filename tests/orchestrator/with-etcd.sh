#!/bin/bash
# Run COMMAND with a single-member etcd of its own on 127.0.0.1 (free
# ports, a temporary data directory, gone afterwards), named to it as
# ORCH_TEST_STORE=etcd:http://127.0.0.1:PORT.  Without etcd (Debian's
# etcd-server, scripts/deps.sh) the test is skipped, as TAP says.
#
# With --tls, etcd serves https and requires a client certificate
# (tests/net/make-certs.sh's): ORCH_TEST_STORE=etcd:https://..., and
# ORCH_TEST_CERTS the certificates' directory (client/ is ours,
# rogue-client/ one signed by another CA).
#
# ORCH_TEST_ETCD_DIR is the run's directory: a test may kill etcd (its
# pid in etcd.pid) and start it again on the same data directory and
# ports with start-etcd.sh there, which returns once it answers.
#
#   with-etcd.sh [--tls] COMMAND [ARG...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v etcd >/dev/null; then
    echo "1..0 # SKIP etcd not installed (etcd-server: scripts/deps.sh)"
    exit 0
fi
tls=
if [ "${1:-}" = --tls ]; then
    tls=1
    shift
fi
dir=$(mktemp -d /tmp/with-etcd.XXXXXX)
cleanup() {
    local pid
    # The etcd of the last start (a test may have restarted it).
    pid=$(cat "$dir/etcd.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        # Still there after 10 s (it is not our child after a restart,
        # so no wait): for good.
        if kill -0 "$pid" 2>/dev/null; then
            kill -9 "$pid" 2>/dev/null || true
        fi
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

port=$("$here/../free-port.py" 127.0.0.1 2)
client="http://127.0.0.1:$port"
peer="http://127.0.0.1:$((port + 1))"
how=()
if [ -n "$tls" ]; then
    "$here/../net/make-certs.sh" "$dir/certs"
    # etcd's gateway dials etcd's own gRPC with the server's certificate,
    # refused under --client-cert-auth unless it is a client's too.
    c=$dir/certs/ca
    printf '%s\n' 'cn = "etcd test server"' 'ip_address = "127.0.0.1"' \
        tls_www_server tls_www_client encryption_key signing_key \
        'expiration_days = 2' >"$c/etcd.info"
    certtool --generate-privkey --key-type=ecdsa --outfile "$c/etcd-key.pem" \
        >/dev/null 2>&1
    certtool --generate-certificate --load-privkey "$c/etcd-key.pem" \
        --load-ca-certificate "$c/ca-a.pem" --load-ca-privkey "$c/ca-a-key.pem" \
        --template "$c/etcd.info" --outfile "$c/etcd-cert.pem" >/dev/null 2>&1
    client="https://127.0.0.1:$port"
    how=(--cert-file "$c/etcd-cert.pem" --key-file "$c/etcd-key.pem"
         --trusted-ca-file "$c/ca-a.pem" --client-cert-auth)
    export ORCH_TEST_CERTS=$dir/certs
fi
# Started by a script of its own, so that a test can start it again.
{
    echo '#!/bin/bash'
    echo 'set -u'
    printf '%q ' etcd --name test --data-dir "$dir/data" "${how[@]}" \
        --listen-client-urls "$client" --advertise-client-urls "$client" \
        --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
        --initial-cluster "test=$peer" --initial-cluster-state new \
        --logger zap --log-outputs "$dir/etcd.log"
    printf '</dev/null >/dev/null 2>>%q &\n' "$dir/etcd.log"
    echo 'pid=$!'
    printf 'echo "$pid" >%q\n' "$dir/etcd.pid"
    printf 'client=%q certs=%q log=%q\n' "$client" \
        "${tls:+$dir/certs/client}" "$dir/etcd.log"
    cat <<'EOF'
# Ready once it answers a read through the gateway (it has a leader);
# python, not curl, which the machines may lack.
for _ in $(seq 200); do
    if /usr/bin/python3 -c 'import ssl, sys, urllib.request
ctx = None
if sys.argv[2]:
    ctx = ssl.create_default_context(cafile=sys.argv[2] + "/ca-cert.pem")
    ctx.load_cert_chain(sys.argv[2] + "/client-cert.pem",
                        sys.argv[2] + "/client-key.pem")
urllib.request.urlopen(sys.argv[1] + "/v3/kv/range", b"{\"key\":\"AA==\"}",
                       timeout=2, context=ctx).read()' \
            "$client" "$certs" 2>/dev/null; then
        exit 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "with-etcd: etcd exited; its log:" >&2
        tail -20 "$log" >&2
        exit 1
    fi
    sleep 0.1
done
echo "with-etcd: etcd did not answer; its log:" >&2
tail -20 "$log" >&2
exit 1
EOF
} >"$dir/start-etcd.sh"
chmod +x "$dir/start-etcd.sh"
"$dir/start-etcd.sh"
export ORCH_TEST_ETCD_DIR=$dir
export ORCH_TEST_STORE="etcd:$client"
status=0
"$@" || status=$?
exit $status
