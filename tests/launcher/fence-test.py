#!/usr/bin/python3
"""The launcher's fencing (dm-remote/launcher/fence.h): a request whose
X-DM-Fence token is older than the highest seen is refused with 409
before anything is done (a DELETE of a missing instance is 409, not
404; a POST with no body is 409, not 400); a newer token becomes the
highest; a malformed one is 400; no header is not fenced; a restarted
launcher remembers the highest.  TAP.

    fence-test.py DM_REMOTE
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
import httpunix  # noqa: E402

n = 0
failed = 0


def ok(cond, name, detail=""):
    global n, failed
    n += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n, name))
    if not cond:
        failed += 1
        print("#   %s" % detail)
    sys.stdout.flush()


def call(sock, method, path, token=None, body=None):
    headers = {} if token is None else {"X-DM-Fence": token}
    st, _, text = httpunix.call(sock, method, path, body, headers,
                                timeout=30)
    return st, text


def start(bin_, tmp, sock, log):
    err = open(os.path.join(tmp, log), "ab")
    p = subprocess.Popen([bin_, "daemon", "--role", "server", "--listen",
                          "unix:" + sock, "--platform-id", "srv-f",
                          "--state-dir", os.path.join(tmp, "state")],
                         stdout=err, stderr=err)
    for _ in range(200):
        with open(os.path.join(tmp, log), errors="replace") as f:
            if "listening on" in f.read():
                return p
        if p.poll() is not None:
            break
        time.sleep(0.1)
    print("Bail out! the launcher did not start")
    sys.exit(1)


def stop(p):
    p.send_signal(signal.SIGTERM)
    return p.wait(timeout=30)


def main():
    bin_ = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="dm-fence-")
    sock = os.path.join(tmp, "api.sock")
    fence = os.path.join(tmp, "state", "fence")
    p = start(bin_, tmp, sock, "launcher.err")
    try:
        st, _ = call(sock, "GET", "/v1/health")
        ok(st == 200, "no token: not fenced", st)
        st, _ = call(sock, "GET", "/v1/health", "5")
        ok(st == 200, "token 5 (the first) accepted", st)
        with open(fence) as f:
            ok(f.read().strip() == "5", "token 5 saved in the state dir")
        st, text = call(sock, "GET", "/v1/health", "3")
        ok(st == 409 and "fenced: token 3 is older than 5" in text,
           "token 3 after 5: 409", (st, text))
        st, text = call(sock, "DELETE", "/v1/instances/nope", "3")
        ok(st == 409, "an older token's DELETE refused before the lookup",
           (st, text))
        st, text = call(sock, "POST", "/v1/instances", "4", "")
        ok(st == 409, "an older token's POST refused before its body",
           (st, text))
        st, text = call(sock, "DELETE", "/v1/instances/nope", "5")
        ok(st == 404, "the same DELETE with token 5 reaches the lookup",
           (st, text))
        st, _ = call(sock, "GET", "/v1/health", "7")
        ok(st == 200, "token 7 accepted", st)
        st, text = call(sock, "GET", "/v1/health", "5")
        ok(st == 409 and "older than 7" in text, "token 5 after 7: 409",
           (st, text))
        for bad in ("abc", "0", "-1", "5x", "+9", "99999999999999999999"):
            st, text = call(sock, "GET", "/v1/health", bad)
            ok(st == 400 and "bad X-DM-Fence" in text,
               "malformed token %r: 400" % bad, (st, text))
        st, _ = call(sock, "GET", "/v1/health")
        ok(st == 200, "no token after fencing: still not fenced", st)
        ok(stop(p) == 0, "SIGTERM: exit 0")

        # A restarted launcher remembers the highest token.
        p = start(bin_, tmp, sock, "launcher2.err")
        st, text = call(sock, "GET", "/v1/health", "6")
        ok(st == 409 and "older than 7" in text,
           "restarted: token 6 still refused", (st, text))
        st, _ = call(sock, "GET", "/v1/health", "8")
        ok(st == 200, "restarted: token 8 accepted", st)
        with open(fence) as f:
            ok(f.read().strip() == "8", "token 8 saved")
        ok(stop(p) == 0, "SIGTERM: exit 0")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
