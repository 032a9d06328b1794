#!/usr/bin/python3
# dm-orchestrator's reconciliation at start-up: a database whose VMs and
# placements disagree with what the fake launchers report (a QEMU gone,
# one paused, interrupted migrations either side of the hand-over, launches
# never committed, a route no placement knows on an owner server, a
# launcher that does not answer, a saved VM), first
# with --no-reconcile, then repaired; then a start cut short by a kill
# after its placement's claim.  TAP output.
#   test-reconcile.py BUILD
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from orchlib import (Env, Tap, http_call, set_vm, store_events,  # noqa: E402
                    wait_for)

t = Tap()


def qmp_cmds(e, fake, vm):
    return [r["body"]["execute"] for r in
            e.requests(fake, "POST", "/v1/vms/%s/qmp" % vm)]


def reconcile_setup(e):
    """VMs in every situation the orchestrator can wake up to."""
    addr = {n: e.start_fake(n, r) for n, r in (
        ("c1", "client"), ("c2", "client"), ("c3", "client"),
        ("s1", "server"), ("own", "server"))}
    e.start_orch()
    for n, a in addr.items():
        # The owner offers no model, so that it only routes.
        e.api("POST", "/v1/platforms", {"name": n, "address": a,
                                        "role": "client" if n[0] == "c" else
                                        "server", "capacity": 16,
                                        "models": [] if n == "own" else None})
    inst = {}
    for vm, client in (("gone", "c1"), ("paused", "c1"), ("done", "c1"),
                       ("active", "c1"), ("both", "c1"), ("far", "c3"),
                       ("keep", "c2"), ("sv", "c2")):
        dev = {"name": "e", "model": "edu"}
        if vm in ("gone", "keep"):
            dev["via"] = "own"
        e.api("POST", "/v1/vms", {"name": vm, "devices": [dev]})
        st, body = e.api("POST", "/v1/vms/%s/start" % vm, {"client": client})
        inst[vm] = body["devices"][0]["instance"]
    st, body = e.api("POST", "/v1/vms/sv/save")
    t.ok(st == 200 and len(inst) == 8 and all(inst.values()),
         "reconcile: eight VMs set up", body)
    e.stop_orch()
    # What happened while the orchestrator was away.
    e.fake_config("c1", vm_state={"gone": "exited", "both": "exited"},
                  vm_status={"paused": "paused", "done": "postmigrate"})
    for vm, status in (("done", "running"), ("active", "running"),
                       ("stray", "running")):
        http_call(e.fakes["c2"]["sock"], "POST", "/v1/vms", {
            "id": vm, "args": [] if vm == "stray" else ["-incoming",
                                                        "defer"]})
        e.fake_config("c2", vm_status={vm: status})
    http_call(e.fakes["s1"]["sock"], "POST", "/v1/instances", {
        "id": "ghost", "model": "edu", "transport": "unix",
        "restart": "never", "bind": {"vm": "no-such-uuid"}})
    http_call(e.fakes["own"]["sock"], "POST", "/v1/routes", {
        "id": "r-ghost", "device_model": "ghost", "vm": "no-such-uuid",
        "target": "unix:/nonexistent.sock"})
    set_vm(e, "both", state="migrating")
    e.fakes["c3"]["proc"].kill()
    e.fakes["c3"]["proc"].wait()
    return inst


def deletes(e, name, skip):
    return sorted(r["path"] for r in e.requests(name, "DELETE")[skip:])


def cut_start(e):
    """The orchestrator killed while a start waits for its model's launch:
    the placement it claimed first is freed at the next start, and the
    model launched meanwhile is deleted as unknown."""
    st, body = e.api("POST", "/v1/vms", {"name": "cut", "devices": [
        {"name": "e", "model": "edu", "server": "s1"}]})
    uuid = body["id"]
    posts = len(e.requests("s1", "POST", "/v1/instances"))
    e.fake_config("s1", mute=True)

    def start():
        try:
            e.api("POST", "/v1/vms/cut/start", {"client": "c2"})
        except OSError:
            pass                # the orchestrator is killed meanwhile
    th = threading.Thread(target=start)
    th.start()
    wait_for(lambda: len(e.requests("s1", "POST", "/v1/instances")) > posts,
             "the launch at the server")
    st, body = e.api("GET", "/v1/vms/cut")
    t.ok(body["devices"][0]["instance"] is not None,
         "cut start: the placement is claimed before the launch", body)
    e.orch.kill()
    e.orch.wait()
    e.procs.remove(e.orch)
    th.join(60)
    e.fake_config("s1", mute=False)
    wait_for(lambda: any(i["bind"]["vm"] == uuid for i in e.fake_get(
        "s1", "/v1/instances")[1]["instances"]), "the model launched")
    inst = [i["id"] for i in e.fake_get("s1", "/v1/instances")[1][
        "instances"] if i["bind"]["vm"] == uuid]
    e.start_orch()
    st, body = e.api("GET", "/v1/vms/cut")
    t.ok(body["state"] == "defined" and
         body["devices"][0]["instance"] is None,
         "cut start: the VM is defined with no placement", body)
    t.ok(e.requests("s1", "DELETE")[-1]["path"] == "/v1/instances/" +
         inst[0] and "reconcile: VM cut: a start cut short left "
         "placements: freed" in e.orch_log(),
         "cut start: the model launched meanwhile is deleted", inst)
    st, body = e.api("POST", "/v1/vms/cut/start", {"client": "c2"})
    t.ok(st == 200 and body["state"] == "running",
         "cut start: the VM starts again", body)


def main():
    e = Env(sys.argv[1])

    def checks():
        inst = reconcile_setup(e)
        skip = {n: len(e.requests(n, "DELETE")) for n in ("c1", "c2", "s1",
                                                           "own")}
        e.start_orch(["--no-reconcile"])
        st, body = e.api("GET", "/v1/vms/gone")
        t.ok(body["state"] == "running" and
             all(deletes(e, n, skip[n]) == [] for n in skip),
             "--no-reconcile trusts the database", body)
        e.stop_orch()
        e.start_orch()
        state = {v["name"]: (v["state"], v["client"]) for v in
                 e.api("GET", "/v1/vms")[1]["vms"]}
        t.eq(state, {"gone": ("stopped", "c1"),
                     "paused": ("suspended", "c1"),
                     "done": ("running", "c2"),
                     "active": ("running", "c1"),
                     "both": ("stopped", "c1"),
                     "far": ("running", "c3"),
                     "keep": ("running", "c2"),
                     "sv": ("saved", None)},
             "reconcile: the states and clients are repaired")
        t.eq(e.api("GET", "/v1/vms/done")[1]["hypervisor"], "c2-qemu",
             "an adopted migration target brings its hypervisor")
        t.eq(deletes(e, "s1", skip["s1"]),
             sorted("/v1/instances/" + i for i in
                    (inst["gone"], inst["both"], "ghost")),
             "the instances of VMs whose QEMU is gone, and an unknown one, "
             "are deleted; the others are kept")
        t.eq(deletes(e, "c1", skip["c1"]),
             ["/v1/vms/both", "/v1/vms/done", "/v1/vms/gone"],
             "c1: exited QEMUs and the handed-over source are deleted")
        t.eq(deletes(e, "c2", skip["c2"]), ["/v1/vms/active",
                                            "/v1/vms/stray"],
             "c2: the unfinished target and an unknown QEMU are deleted")
        t.eq(deletes(e, "own", skip["own"]),
             ["/v1/routes/" + inst["gone"], "/v1/routes/r-ghost"],
             "own: the route of the stopped VM and an unknown one are "
             "deleted")
        t.eq([r["id"] for r in e.fake_get("own", "/v1/routes")[1]["routes"]],
             [inst["keep"]], "the route of the running VM is kept")
        t.ok("cont" in qmp_cmds(e, "c1", "active"),
             "the source of the undone migration continues")
        placed = {v["name"]: v["devices"][0]["instance"] for v in
                  e.api("GET", "/v1/vms")[1]["vms"]}
        t.ok(placed["gone"] is None and placed["both"] is None and
             placed["sv"] == inst["sv"] and placed["far"] == inst["far"],
             "placements are freed for stopped VMs only", placed)
        log = e.orch_log()
        t.ok("platform c3:" in log and "VM far: its client c3 did not "
             "answer" in log, "an unreachable launcher is a warning", log)
        rows = store_events(e)
        saved = max(i for i, r in enumerate(rows)
                    if r["message"].startswith("saved to"))
        ev = [r["vm"] for r in rows[saved + 1:]]
        t.eq(sorted(ev), sorted(["active", "both", "done", "gone",
                                 "paused", "-", "stray", "-"]),
             "one events row per change")
        t.eq(log.count("reconcile: VM ") - log.count("did not answer") +
             log.count("reconcile: instance ") +
             log.count("reconcile: route "), 8,
             "and one log line per change")
        t.ok("reconcile: route r-ghost on own is unknown to the database: "
             "deleted" in log, "the unknown route is named", log)
        st, body = e.api("GET", "/v1/events?limit=8")
        t.ok(st == 200 and sorted(x["vm"] for x in body["events"]) ==
             sorted(ev) and any("route r-ghost on own is unknown" in
                                x["message"] for x in body["events"]),
             "GET /v1/events shows the repairs", body)
        e.stop_orch()
        e.start_orch()
        t.ok("reconcile: 4 launcher(s) answered, 0 change(s)" in
             e.orch_log(), "a second start finds nothing to repair")
        # A launcher restarted with model TLS credentials meanwhile.
        e.stop_orch()
        e.fake_config("c2", model_tls=True)
        e.start_orch()
        st, body = e.api("GET", "/v1/platforms/c2")
        t.ok(body.get("model_tls") is True and
             "reconcile: platform c2: model_tls is now true (its launcher "
             "says so)" in e.orch_log(),
             "a platform's model_tls follows its launcher's health", body)
        # A server launcher now declaring edu otherwise (say, a newer
        # dm-remote): the orchestrator takes its declaration.
        e.stop_orch()
        e.fake_config("s1", models=[{"name": "edu", "bus": "isa",
                                     "props": []}])
        e.start_orch()
        e.api("POST", "/v1/vms", {"name": "decl", "devices": [
            {"name": "e", "model": "edu", "server": "s1"}]})
        st, body = e.api("GET", "/v1/vms/decl")
        t.ok("reconcile: platform s1: 1 model declaration(s) changed" in
             e.orch_log() and body["devices"][0]["bus"] == "isa",
             "a server's model declarations follow its launcher's health",
             body)
        cut_start(e)
    return e.run(t, checks)


if __name__ == "__main__":
    sys.exit(main())
