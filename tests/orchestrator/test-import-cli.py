#!/usr/bin/python3
"""dm-orchestrator --import-into: the database the orchestrator made
through its API (platforms, a started VM with placed devices, events)
copied into the store named by ORCH_TEST_STORE (an etcd from
with-etcd.sh), read back through etcd's gateway by this test's own
client; a second import is refused.  TAP.

    with-etcd.sh test-import-cli.py BUILD
"""
import base64
import json
import os
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from orchlib import Env, Tap  # noqa: E402

t = Tap()


def etcd_get(url, key):
    """The JSON document at KEY, or None."""
    body = json.dumps({"key": base64.b64encode(key.encode()).decode()})
    with urllib.request.urlopen(url + "/v3/kv/range", body.encode(),
                                timeout=10) as r:
        kvs = json.load(r).get("kvs", [])
    if not kvs:
        return None
    return json.loads(base64.b64decode(kvs[0].get("value", "")))


def checks(e, spec):
    url = spec[len("etcd:"):].split(",")[0]
    e.start_orch()
    s1 = e.start_fake("s1", "server", "--capacity", "4")
    c1 = e.start_fake("c1", "client")
    for name, role, addr in (("s1", "server", s1), ("c1", "client", c1)):
        st, body = e.api("POST", "/v1/platforms",
                         {"name": name, "role": role, "address": addr})
        t.ok(st == 201, "platform %s added" % name, body)
    st, body = e.api("POST", "/v1/vms", {
        "name": "vm1", "memory": "256M",
        "devices": [{"name": "edu0", "model": "edu"}]})
    t.ok(st == 201, "vm1 created", body)
    uuid = body.get("id")
    st, body = e.api("POST", "/v1/vms/vm1/start")
    t.ok(st == 200, "vm1 started", body)
    e.stop_orch()

    def run():
        return subprocess.run([e.orch_bin, "--db", e.db, "--import-into",
                               spec], capture_output=True, text=True,
                              timeout=60)
    p = run()
    t.ok(p.returncode == 0 and "imported into" in p.stdout,
         "--import-into: exit 0", (p.returncode, p.stdout, p.stderr))
    schema = etcd_get(url, "/dm/schema")
    t.eq(schema, {"version": 8, "imported_from": 7}, "/dm/schema")
    s = etcd_get(url, "/dm/platforms/s1") or {}
    t.ok(s.get("role") == "server" and s.get("capacity") == 4 and
         "edu" in [m["model"] for m in s.get("models", [])],
         "/dm/platforms/s1: role, capacity, models", s)
    vm = etcd_get(url, "/dm/vms/vm1") or {}
    devs = vm.get("devices", [])
    t.ok(vm.get("state") == "running" and vm.get("client") == "c1" and
         vm.get("uuid") == uuid and len(devs) == 1 and
         devs[0].get("model") == "edu" and devs[0].get("server") is None,
         "/dm/vms/vm1: running on c1, its device not pinned", vm)
    pl = etcd_get(url, "/dm/placements/vm1/edu0") or {}
    t.ok(pl.get("server") == "s1" and pl.get("instance") and
         pl.get("token"), "/dm/placements/vm1/edu0", pl)
    claim = etcd_get(url, "/dm/instances/%s" % pl.get("instance"))
    t.eq(claim, {"vm": "vm1", "device": "edu0"}, "the instance's claim")
    t.eq(etcd_get(url, "/dm/uuids/%s" % uuid), {"vm": "vm1"},
         "the UUID's claim")
    t.eq(etcd_get(url, "/dm/load/s1"), {"used": 1}, "s1's load")
    p = run()
    t.ok(p.returncode == 1 and "holds an import already" in p.stderr,
         "a second import: exit 1", (p.returncode, p.stderr))


def main():
    spec = os.environ.get("ORCH_TEST_STORE", "")
    if not spec.startswith("etcd:"):
        print("1..0 # SKIP needs ORCH_TEST_STORE=etcd:URL (with-etcd.sh)")
        return 0
    e = Env(sys.argv[1])
    # The database made through the API is SQLite's; etcd is the target.
    e.etcd = None
    return e.run(t, lambda: checks(e, spec))


if __name__ == "__main__":
    sys.exit(main())
