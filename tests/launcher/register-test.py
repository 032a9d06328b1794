#!/usr/bin/python3
"""dm-remote daemon --register (dm-remote/launcher/register.h) against a
real etcd (ORCH_TEST_STORE from tests/orchestrator/with-etcd.sh), read
with this test's own client of etcd's gateway: the key is there with
what the launcher is, under a lease; a SIGTERM removes it at once; a
lease etcd drops (revoked here, as an expiry would) is replaced; a
launcher killed outright leaves it until its lease expires.  TAP.

    with-etcd.sh register-test.py DM_REMOTE
"""
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

n = 0
failed = 0
KEY = "/dm/launchers/srv-r"


def ok(cond, name, detail=""):
    global n, failed
    n += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n, name))
    if not cond:
        failed += 1
        print("#   %s" % detail)
    sys.stdout.flush()


def post(url, path, body):
    with urllib.request.urlopen(url + path, json.dumps(body).encode(),
                                timeout=10) as r:
        return json.load(r)


def get(url):
    """(document, lease) at KEY, or (None, None)."""
    ans = post(url, "/v3/kv/range",
               {"key": base64.b64encode(KEY.encode()).decode()})
    kvs = ans.get("kvs", [])
    if not kvs:
        return None, None
    return (json.loads(base64.b64decode(kvs[0].get("value", ""))),
            kvs[0].get("lease"))


def poll(cond, seconds=30):
    """Whether cond() held within SECONDS (bounded waiting)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.2)
    return cond()


def start(bin_, tmp, url, log):
    err = open(os.path.join(tmp, log), "ab")
    return subprocess.Popen(
        [bin_, "daemon", "--role", "server", "--listen",
         "unix:" + os.path.join(tmp, "api.sock"), "--platform-id", "srv-r",
         "--state-dir", os.path.join(tmp, "state"), "--capacity", "7",
         "--register", "etcd:" + url, "--register-ttl", "2",
         "--register-address", "tcp:192.0.2.2:7000"],
        stdout=err, stderr=err)


def main():
    spec = os.environ.get("ORCH_TEST_STORE", "")
    if not spec.startswith("etcd:http://"):
        print("1..0 # SKIP needs ORCH_TEST_STORE=etcd:http://... "
              "(with-etcd.sh)")
        return 0
    url = spec[len("etcd:"):]
    bin_ = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="dm-register-")
    p = None
    try:
        bad = subprocess.run([bin_, "daemon", "--register", "http://x"],
                             capture_output=True, text=True, timeout=30)
        ok(bad.returncode == 2 and "invalid --register" in bad.stderr,
           "--register without etcd: is a usage error", bad.stderr)

        p = start(bin_, tmp, url, "one.err")
        ok(poll(lambda: get(url)[0] is not None), "registered", KEY)
        doc, lease = get(url)
        health = doc.pop("health", None) if isinstance(doc, dict) else None
        ok(doc == {"platform": "srv-r", "role": "server",
                   "address": "tcp:192.0.2.2:7000", "capacity": 7},
           "what the launcher is", doc)
        ok(isinstance(health, dict) and health.get("role") == "server" and
           health.get("platform") == "srv-r" and
           "edu" in [m.get("name") for m in health.get("models", [])],
           "with its health, as GET /v1/health answers", health)
        ok(lease not in (None, "0"), "under a lease", lease)

        # A lease etcd drops is replaced, the key put again.
        post(url, "/v3/lease/revoke", {"ID": lease})
        ok(poll(lambda: get(url)[1] not in (None, lease)),
           "a dropped lease replaced", get(url))

        p.send_signal(signal.SIGTERM)
        ok(p.wait(timeout=30) == 0, "SIGTERM: exit 0")
        ok(get(url)[0] is None, "SIGTERM: the key gone at exit")

        p = start(bin_, tmp, url, "two.err")
        ok(poll(lambda: get(url)[0] is not None), "registered again")
        p.kill()
        p.wait()
        ok(poll(lambda: get(url)[0] is None),
           "killed outright: the key gone with its lease")
    finally:
        if p and p.poll() is None:
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
