#!/usr/bin/python3
"""The dual write (docs/scale-out.md, "The next step", step 1): every
write of the tables also writes the store's twin document, so after any
sequence of API calls `dm-orchestrator --check-store` finds the store's
platforms, VMs, placements, routes and claims equal to what records.c
reads from the tables.  It finds a difference made by hand in either,
and a restart puts the store right from the tables.  TAP.

    test-twins.py BUILD
"""
import os
import sqlite3
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from orchlib import Env, Tap, wait_for  # noqa: E402

t = Tap()


def check_store(e):
    """(exit status, output) of --check-store on E's database."""
    p = subprocess.run([e.orch_bin, "--db", e.db, "--check-store"],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def same(e, after):
    rc, out = check_store(e)
    t.ok(rc == 0 and "0 difference(s)" in out,
         "the store equals the tables after " + after, out)


def sequence(e):
    for name, role, extra in (("s1", "server", ["--capacity", "3"]),
                              ("s2", "server", ["--capacity", "2"]),
                              ("c1", "client", []), ("c2", "client", [])):
        addr = e.start_fake(name, role, *extra)
        st, body = e.api("POST", "/v1/platforms",
                         {"name": name, "role": role, "address": addr})
        t.ok(st == 201, "platform %s added" % name, body)
    same(e, "platforms added")
    for vm, devs in (("vm1", [{"name": "e0", "model": "edu"}]),
                     ("vm2", [{"name": "e0", "model": "edu",
                               "server": "s2"},
                              {"name": "e1", "model": "edu"}]),
                     ("vm3", [{"name": "e0", "model": "edu"}])):
        st, body = e.api("POST", "/v1/vms", {"name": vm, "memory": "64M",
                                            "devices": devs})
        t.ok(st == 201, vm + " created", body)
    same(e, "VMs created")
    for vm, client in (("vm1", "c1"), ("vm2", "c1")):
        st, body = e.api("POST", "/v1/vms/%s/start" % vm,
                         {"client": client})
        t.ok(st == 200 and body["state"] == "running", vm + " started",
             body)
    same(e, "starts (claims committed early, then launched)")
    # A start failing after its claims: the client's QEMU refused.
    e.fake_config("c2", fail_vm=True)
    st, body = e.api("POST", "/v1/vms/vm3/start", {"client": "c2"})
    t.ok(st >= 400, "vm3's start fails on c2", (st, body))
    e.fake_config("c2", fail_vm=False)
    same(e, "a failed start (its claims released)")
    st, body = e.api("POST", "/v1/vms/vm2/migrate", {"to": "c2"})
    t.ok(st == 200 and body["client"] == "c2", "vm2 migrated to c2", body)
    same(e, "a migration")
    for vm in ("vm1", "vm2"):
        st, body = e.api("POST", "/v1/vms/%s/stop" % vm, {"timeout": 0})
        t.ok(st == 200 and body["state"] == "stopped", vm + " stopped",
             body)
    same(e, "stops")
    st, body = e.api("DELETE", "/v1/vms/vm1")
    t.eq(st, 200, "vm1 removed")
    st, body = e.api("DELETE", "/v1/platforms/c1")
    t.eq(st, 200, "platform c1 removed (its stopped VMs forget it)")
    st, body = e.api("DELETE", "/v1/platforms/s2")
    t.eq(st, 409, "platform s2, pinned by vm2, is not removed")
    same(e, "removals")


def judged(e):
    """The check can fail: a difference made by hand on either side."""
    db = sqlite3.connect(e.db)
    with db:
        db.execute("UPDATE vms SET memory = '1G' WHERE name = 'vm2'")
    rc, out = check_store(e)
    t.ok(rc == 1 and "VM vm2" in out, "a table changed by hand: found",
         out)
    with db:
        db.execute("UPDATE vms SET memory = '64M' WHERE name = 'vm2'")
        db.execute("DELETE FROM kv WHERE key = '/dm/uuids/' || "
                   "(SELECT uuid FROM vms WHERE name = 'vm3')")
    rc, out = check_store(e)
    t.ok(rc == 1 and "VM vm3" in out and "/dm/uuids/" in out,
         "a claim deleted from the store by hand: found", out)
    with db:
        db.execute("UPDATE vms SET memory = '2G' WHERE name = 'vm3'")
    db.close()
    e.stop_orch()
    e.start_orch()
    same(e, "a restart (the store copied again from the tables)")
    st, body = e.api("GET", "/v1/vms/vm3")
    t.ok(st == 200 and body["memory"] == "2G", "the tables' value kept",
         body)
    st, body = e.api("POST", "/v1/vms/vm3/start", {"client": "c2"})
    t.ok(st == 200, "vm3 starts after the restart", body)
    same(e, "a start after the restart")
    before = twin_revisions(e)
    e.stop_orch()
    e.start_orch()
    t.eq(twin_revisions(e), before, "a restart with the store equal to the "
         "tables writes none of their twins again")
    same(e, "that restart")


def refused_after_commit(e):
    """Another writer changes a key a start's view read while its
    launcher call waits: the view is refused (409) after the tables'
    COMMIT, and the store is copied again from the tables at once
    (request.c), so the two stay equal."""
    st, body = e.api("POST", "/v1/vms", {"name": "vm4", "memory": "64M",
                                        "devices": [{"name": "e0",
                                                     "model": "edu"}]})
    t.ok(st == 201, "vm4 created", body)
    e.fake_config("c2", mute=True)
    done = {}

    def start():
        done["r"] = e.api("POST", "/v1/vms/vm4/start", {"client": "c2"})
    th = threading.Thread(target=start)
    th.start()
    wait_for(lambda: [r for r in e.requests("c2", "POST", "/v1/vms")
                      if r["path"] == "/v1/vms" and
                      r["body"].get("id") == "vm4"],
             "vm4's QEMU asked of c2", timeout=60)
    db = sqlite3.connect(e.db)
    with db:
        rev = db.execute("SELECT revision FROM kv_revision").fetchone()[0]
        # Its device's placement, read by the twin of the launcher's answer.
        db.execute("UPDATE kv SET mod_rev = ? WHERE key = "
                   "'/dm/placements/vm4/e0'", (rev + 1,))
        db.execute("UPDATE kv_revision SET revision = ?", (rev + 1,))
    db.close()
    e.fake_config("c2", mute=False)
    th.join(60)
    st, body = done.get("r", (None, None))
    t.ok(st == 409 and "store" in (body or {}).get("error", ""),
         "the start's view is refused after its COMMIT", (st, body))
    same(e, "a view refused after the tables' COMMIT")


def twin_revisions(e):
    """Each key of the store but the events, with its mod_rev."""
    db = sqlite3.connect(e.db)
    rows = db.execute("SELECT key, mod_rev FROM kv WHERE key NOT LIKE "
                      "'/dm/events/%' ORDER BY key").fetchall()
    db.close()
    return rows


def main():
    e = Env(sys.argv[1])

    def checks():
        e.start_orch()
        sequence(e)
        judged(e)
        refused_after_commit(e)
    return e.run(t, checks)


if __name__ == "__main__":
    sys.exit(main())
