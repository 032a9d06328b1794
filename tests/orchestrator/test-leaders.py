#!/usr/bin/python3
# Two dm-orchestrators on one etcd (with-etcd.sh), against the same fake
# launchers: one leads, the other serves reads and sends writes to it
# (307 and X-DM-Leader; dmctl follows); the leader's launcher commands
# carry its fencing token.  Then kill -9 of the leader: the other takes
# over within the lease, reconciles and fences with a larger token; then
# SIGSTOP of the new leader past its lease: the first, restarted, takes
# over, and the stopped one, woken, sends no command and names the new
# leader.  Checkers at the end: tokens only grow at every launcher, no
# VM ran on two clients.  TAP output.
#   with-etcd.sh test-leaders.py BUILD
import os
import signal
import sys
import time
import http.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from orchlib import (Tap, UnixHTTPConnection, main_on_etcd,  # noqa: E402
                     unix_accepts, wait_for)

t = Tap()
TTL = "2"


def call(sock, method, path, body=None):
    """(status, JSON answer, X-DM-Leader) of METHOD PATH at SOCK."""
    import json
    conn = UnixHTTPConnection(sock)
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data,
                 headers={"Content-Type": "application/json"} if data else {})
    resp = conn.getresponse()
    text = resp.read()
    conn.close()
    return (resp.status, json.loads(text) if text else None,
            resp.getheader("X-DM-Leader"))


class Orch:
    """One orchestrator of the pair: its own socket and log."""

    def __init__(self, e, name):
        self.e, self.name = e, name
        self.sock = os.path.join(e.tmp, name + ".sock")
        self.addr = "unix:" + self.sock
        self.proc = None

    def start(self):
        self.proc = self.e.spawn(
            [self.e.orch_bin] + self.e.store_args() +
            ["--listen", self.addr, "--leader-ttl", TTL, "-v"],
            self.name + ".log")
        wait_for(lambda: unix_accepts(self.sock) or
                 self.proc.poll() is not None, "orchestrator " + self.name)
        if self.proc.poll() is not None:
            raise RuntimeError(self.name + " died: " + self.log())

    def log(self):
        with open(os.path.join(self.e.tmp, self.name + ".log"),
                  errors="replace") as f:
            return f.read()

    def api(self, method, path, body=None):
        return call(self.sock, method, path, body)

    def leads(self):
        """Whether a write reaches its handler here (a 404 of no VM)."""
        try:
            return self.api("POST", "/v1/vms/none-such/stop")[0] == 404
        except (OSError, http.client.HTTPException):
            return False


def fenced(e, names):
    """Every fenced launcher command, in each launcher's order."""
    return {n: [int(r["fence"]) for r in e.requests(n)
                if r.get("fence") is not None] for n in names}


def checks(e):
    a, b = Orch(e, "a"), Orch(e, "b")
    c1 = e.start_fake("c1", "client")
    c2 = e.start_fake("c2", "client")
    s1 = e.start_fake("s1", "server")
    a.start()
    b.start()
    t.ok(a.leads() and "leader: " + a.addr + " leads" in a.log(),
         "the first orchestrator leads")
    st, body, leader = b.api("POST", "/v1/platforms", {
        "name": "c1", "role": "client", "address": c1})
    t.ok(st == 307 and leader == a.addr and "does not lead" in
         body["error"], "a write on the follower is 307 to the leader",
         (st, body, leader))
    for name, role, addr in (("c1", "client", c1), ("c2", "client", c2),
                             ("s1", "server", s1)):
        a.api("POST", "/v1/platforms", {"name": name, "role": role,
                                        "address": addr})
    st, body, _ = b.api("GET", "/v1/platforms")
    t.eq(sorted(p["name"] for p in body["platforms"]), ["c1", "c2", "s1"],
         "the follower reads what the leader wrote")
    e.sock = a.sock
    rc, _, err = e.dmctl("vm", "create", "v1", "--device", "e0=edu")
    # dmctl at the follower: sent on to the leader.
    e.sock = b.sock
    rc2, _, err2 = e.dmctl("vm", "create", "v2", "--device", "e0=edu")
    st, body, _ = a.api("GET", "/v1/vms")
    t.ok(rc == 0 and rc2 == 0 and sorted(v["name"] for v in body["vms"]) ==
         ["v1", "v2"], "dmctl at the follower follows the leader",
         (err, err2, body))
    st, body, _ = a.api("POST", "/v1/vms/v1/start", {"client": "c1"})
    t.ok(st == 200 and body["state"] == "running", "v1 starts", body)
    first = fenced(e, ["c1", "s1"])
    t.ok(first["c1"] and first["s1"] and
         len(set(first["c1"] + first["s1"])) == 1,
         "the leader's commands carry its token", first)
    token_a = first["c1"][0]

    # kill -9 of the leader: the follower takes over within the lease.
    a.proc.kill()
    a.proc.wait()
    e.procs.remove(a.proc)
    t0 = time.monotonic()
    wait_for(b.leads, "the follower to take over", timeout=30)
    took = time.monotonic() - t0
    t.ok("leader: " + b.addr + " leads" in b.log() and
         "reconcile:" in b.log(), "after a kill -9 of the leader the "
         "follower leads and reconciles (%.1f s, lease %s s)" % (took, TTL),
         b.log()[-2000:])
    st, body, _ = b.api("POST", "/v1/vms/v2/start", {"client": "c2"})
    t.ok(st == 200 and body["state"] == "running",
         "the new leader starts v2", body)
    token_b = fenced(e, ["c2"])["c2"][-1]
    t.ok(token_b > token_a, "its token is larger (%d > %d)" % (token_b,
                                                               token_a))

    # SIGSTOP of the new leader past its lease: the first, restarted,
    # takes over.
    a.start()
    b.proc.send_signal(signal.SIGSTOP)
    wait_for(a.leads, "the restarted one to take over", timeout=30)
    st, body, _ = a.api("POST", "/v1/vms/v1/stop")
    t.ok(st == 200 and body["state"] == "stopped",
         "the restarted orchestrator leads and stops v1", body)
    b.proc.send_signal(signal.SIGCONT)
    before = sum(len(v) for v in fenced(e, ["c1", "c2", "s1"]).values())
    st, body, leader = b.api("POST", "/v1/vms/v2/stop")
    t.ok(st in (307, 503) and (st == 503 or leader == a.addr),
         "the woken old leader takes no write: %d %s" % (st, leader), body)
    after = fenced(e, ["c1", "c2", "s1"])
    t.eq(sum(len(v) for v in after.values()), before,
         "and sends no launcher command")

    # The checkers.
    t.ok(all(v == sorted(v) for v in after.values()),
         "fencing tokens only grow at every launcher", after)
    running = {}
    for n in ("c1", "c2"):
        for vm in e.fake_get(n, "/v1/vms")[1].get("vms", []):
            if vm["state"] == "running":
                running.setdefault(vm["id"], []).append(n)
    t.ok(all(len(v) == 1 for v in running.values()),
         "no VM runs on two clients", running)


if __name__ == "__main__":
    sys.exit(main_on_etcd(t, checks))
