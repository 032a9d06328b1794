#!/usr/bin/python3
# The leader follows the launchers' registrations in etcd (with-etcd.sh):
# keys /dm/launchers/PLATFORM under leases, written here as
# `dm-remote daemon --register` writes them (launcher-register tests
# that side).  A platform whose key goes is "lost": an event names it
# and the VMs it held, a start pinned there is 409, the least-loaded
# choice passes it by; its key back, it is "present" again.  TAP output.
#   with-etcd.sh test-registrations.py BUILD
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from orchlib import (Tap, main_on_etcd, _b64, _etcd, etcd_call,  # noqa: E402
                     store_events, wait_for)

t = Tap()


def register(e, platform, role, address):
    """PLATFORM's key under a lease of its own, as register.c puts it;
    the lease's id."""
    url = _etcd(e)
    lease = etcd_call(url, "/v3/lease/grant", {"TTL": 60})["ID"]
    etcd_call(url, "/v3/kv/put", {
        "key": _b64("/dm/launchers/" + platform),
        "value": _b64(json.dumps({"platform": platform, "role": role,
                                  "address": address, "capacity": 4})),
        "lease": lease})
    return lease


def vanish(e, lease):
    """The launcher gone: its lease, and its key with it."""
    etcd_call(_etcd(e), "/v3/lease/revoke", {"ID": lease})


def settled(cond):
    """Whether COND comes true within wait_for's time."""
    try:
        wait_for(cond, "a registration's pass")
        return True
    except RuntimeError:
        return False


def registration(e, name):
    return e.api("GET", "/v1/platforms/" + name)[1].get("registration")


def checks(e):
    e.start_orch(["--leader-ttl", "3"])
    addr = {}
    for name, role in (("c1", "client"), ("c2", "client"),
                       ("s1", "server"), ("s2", "server")):
        addr[name] = e.start_fake(name, role)
        e.api("POST", "/v1/platforms", {"name": name, "role": role,
                                        "address": addr[name]})
    t.ok(all(registration(e, n) is None for n in addr),
         "a platform whose launcher never registered has no registration")
    leases = {n: register(e, n, "client" if n[0] == "c" else "server",
                          addr[n]) for n in addr}
    t.ok(settled(lambda: all(registration(e, n) == "present"
                             for n in addr)),
         "each registration seen: present")

    e.api("POST", "/v1/vms", {"name": "v1", "devices": [
        {"name": "e0", "model": "edu", "server": "s1"}]})
    st, body = e.api("POST", "/v1/vms/v1/start", {"client": "c1"})
    t.ok(st == 200, "v1 runs on c1 with its model on s1", body)

    vanish(e, leases.pop("s1"))
    t.ok(settled(lambda: registration(e, "s1") == "lost"),
         "a launcher's key gone: its platform is lost")
    # The platform's state and the events are separate writes: wait for both.
    want = [("-", "platform s1 lost its launcher (the registration expired): "
                  "nothing new is placed there"),
            ("v1", "device e0: its model's server platform s1 lost its "
                   "launcher (the registration expired)")]
    t.ok(settled(lambda: all(w in [(x["vm"], x["message"])
                                   for x in store_events(e)] for w in want)),
         "events name the platform and the VM whose model it held",
         [(x["vm"], x["message"]) for x in store_events(e)])
    e.api("POST", "/v1/vms", {"name": "v2", "devices": [
        {"name": "e0", "model": "edu", "server": "s1"}]})
    st, body = e.api("POST", "/v1/vms/v2/start", {"client": "c1"})
    t.ok(st == 409 and "platform 's1' lost its launcher" in body["error"],
         "a start pinned to a lost server is 409", (st, body))
    e.api("POST", "/v1/vms", {"name": "v3", "devices": [
        {"name": "e0", "model": "edu"}]})
    vanish(e, leases.pop("c2"))
    t.ok(settled(lambda: registration(e, "c2") == "lost"),
         "a client's key gone: lost")
    st, body = e.api("POST", "/v1/vms/v3/start")
    # c2 (nothing running) and s1 (one model of four) would be chosen.
    t.ok(st == 200 and body["client"] == "c1" and
         body["devices"][0]["placed_on"] == "s2",
         "the least-loaded choice passes the lost platforms by", body)
    st, body = e.api("POST", "/v1/vms/v2/start", {"client": "c2"})
    t.ok(st == 409 and "platform 'c2' lost its launcher" in body["error"],
         "a start on a lost client is 409", (st, body))

    leases["s1"] = register(e, "s1", "server", addr["s1"])
    t.ok(settled(lambda: registration(e, "s1") == "present"),
         "its key back: present")
    st, body = e.api("POST", "/v1/vms/v2/start", {"client": "c1"})
    t.ok(st == 200 and any(
        x["message"] == "platform s1: its launcher registered again"
        for x in store_events(e)),
        "its key back, the platform is present again and takes a model",
        body)


if __name__ == "__main__":
    sys.exit(main_on_etcd(t, checks))
