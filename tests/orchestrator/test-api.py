#!/usr/bin/python3
# dm-orchestrator's API against fake launchers: every endpoint with good
# and bad input, placement, composed QEMU arguments, no half-writes,
# persistence across a restart and schema migration.  TAP output.
#   test-api.py BUILD
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from orchlib import Env, Tap  # noqa: E402

t = Tap()


def err_is(t, resp, status, text, name):
    st, body = resp
    msg = body.get("error", "") if isinstance(body, dict) else ""
    t.ok(st == status and text in msg, name,
         "got %r, wanted %d with '%s'" % (resp, status, text))


def platforms(e):
    c1 = e.start_fake("c1", "client")
    c2 = e.start_fake("c2", "client")
    s1 = e.start_fake("s1", "server", "--capacity", "2")
    s2 = e.start_fake("s2", "server", "--capacity", "4")
    s3 = e.start_fake("s3", "server", "--models", "edu")
    st, body = e.api("POST", "/v1/platforms",
                     {"name": "c1", "role": "client", "address": c1})
    t.ok(st == 201 and body["role"] == "client" and
         body["hypervisor"] == "c1-qemu", "POST /v1/platforms: a client",
         body)
    st, body = e.api("POST", "/v1/platforms",
                     {"name": "s1", "role": "server", "address": s1})
    t.ok(st == 201 and body["capacity"] == 2 and
         body["models"] == ["edu", "edu-msix", "uart16550"],
         "a server's capacity and models come from its launcher", body)
    for name, addr in (("c2", c2), ("s2", s2)):
        e.api("POST", "/v1/platforms", {
            "name": name, "role": name[0] == "c" and "client" or "server",
            "address": addr})
    st, body = e.api("POST", "/v1/platforms", {
        "name": "s3", "role": "server", "address": s3, "capacity": 8,
        "models": ["edu"]})
    t.ok(st == 201 and body["capacity"] == 8, "explicit capacity", body)
    err_is(t, e.api("POST", "/v1/platforms", {
        "name": "s4", "role": "server", "address": s3, "models": ["uart16550"]}),
        409, "does not offer model 'uart16550'",
        "models the launcher lacks are refused")
    err_is(t, e.api("POST", "/v1/platforms", {
        "name": "x", "role": "server", "address": c1}), 409,
        "is a client platform, not a server",
        "a launcher of the wrong role is refused")
    err_is(t, e.api("POST", "/v1/platforms", {
        "name": "x", "role": "client",
        "address": "unix:" + e.tmp + "/nobody.sock"}), 502,
        "launcher", "an unreachable launcher is 502")
    err_is(t, e.api("POST", "/v1/platforms",
                    {"name": "c1", "role": "client", "address": c1}),
           409, "platform 'c1' exists", "a duplicate name is 409")
    err_is(t, e.api("POST", "/v1/platforms", {"role": "client",
                                              "address": c1}),
           400, "'name' is missing", "a missing name is 400")
    err_is(t, e.api("POST", "/v1/platforms", {"name": "y", "role": "gpu",
                                              "address": c1}),
           400, "'role' must be client or server", "a bad role is 400")
    err_is(t, e.api("POST", "/v1/platforms", {"name": "y", "role": "client",
                                              "address": "http://x"}),
           400, "bad address", "a bad address is 400")
    err_is(t, e.api("POST", "/v1/platforms", {"name": 5, "role": "client",
                                              "address": c1}),
           400, "'name' must be a string, not a number",
           "a wrongly typed field is 400")
    err_is(t, e.api("POST", "/v1/platforms", {"name": "a,b", "role": "client",
                                              "address": c1}),
           400, "bad platform name", "a name with a comma is 400")
    err_is(t, e.api("POST", "/v1/platforms", {"name": "y", "role": "server",
                                              "address": s1,
                                              "capacity": "many"}),
           400, "'capacity' must be an integer", "a bad capacity is 400")
    err_is(t, e.api("POST", "/v1/platforms", raw=b"{not json"), 400,
           "bad JSON", "bad JSON is 400")
    err_is(t, e.api("POST", "/v1/platforms", raw=b"[1, 2]"), 400,
           "must be a JSON object", "a non-object body is 400")
    err_is(t, e.api("POST", "/v1/platforms"), 400, "JSON object is required",
           "a missing body is 400")
    st, body = e.api("GET", "/v1/platforms")
    t.eq([p["name"] for p in body["platforms"]],
         ["c1", "c2", "s1", "s2", "s3"], "GET /v1/platforms lists them")
    st, body = e.api("GET", "/v1/platforms/s2")
    t.ok(st == 200 and body["capacity"] == 4, "GET /v1/platforms/NAME", body)
    err_is(t, e.api("GET", "/v1/platforms/nope"), 404, "no platform 'nope'",
           "an unknown platform is 404")
    err_is(t, e.api("PUT", "/v1/platforms/s1"), 405, "not allowed",
           "PUT is 405")
    err_is(t, e.api("GET", "/v2/x"), 404, "no such endpoint",
           "an unknown endpoint is 404")


def vms(e):
    st, body = e.api("POST", "/v1/vms", {
        "name": "vm1", "memory": "512M", "kernel": "/boot/k",
        "initrd": "/boot/i", "append": "console=ttyS0 quiet",
        "devices": [{"name": "console", "model": "uart16550",
                     "restart": "on-failure"},
                    {"name": "edu0", "model": "edu"}]})
    t.ok(st == 201 and body["state"] == "defined" and
         len(body["devices"]) == 2 and body["devices"][0]["bus"] == "isa",
         "POST /v1/vms defines a VM", body)
    e.api("POST", "/v1/vms", {"name": "vm2", "devices": [
        {"name": "e", "model": "edu"}]})
    e.api("POST", "/v1/vms", {"name": "pinned", "devices": [
        {"name": "e", "model": "edu", "server": "s3"}]})
    err_is(t, e.api("POST", "/v1/vms", {"name": "vm1"}), 409,
           "VM 'vm1' exists", "a duplicate VM is 409")
    err_is(t, e.api("POST", "/v1/vms", {"name": "v", "devices": [
        {"name": "d", "model": "gpu"}]}), 400, "unknown model 'gpu'",
        "an unknown model is 400")
    err_is(t, e.api("POST", "/v1/vms", {"name": "v", "devices": [
        {"name": "d", "model": "edu"}, {"name": "d", "model": "edu"}]}),
        400, "appears twice", "a duplicate device is 400")
    err_is(t, e.api("POST", "/v1/vms", {"name": "v", "devices": [
        {"name": "d", "model": "edu", "server": "nope"}]}), 404,
        "no platform 'nope'", "an unknown pinned server is 404")
    err_is(t, e.api("POST", "/v1/vms", {"name": "v", "devices": [
        {"name": "d", "model": "edu", "server": "c1"}]}), 400,
        "is a client platform", "a client as pinned server is 400")
    err_is(t, e.api("POST", "/v1/vms", {"name": "v", "memory": "lots"}),
           400, "bad 'memory'", "bad memory is 400")
    err_is(t, e.api("POST", "/v1/vms", {"name": "v", "devices": {}}),
           400, "'devices' must be an array", "devices not an array is 400")
    err_is(t, e.api("POST", "/v1/vms", {"name": "v", "devices": [
        {"name": "d", "model": "edu", "restart": "always"}]}), 400,
        "'restart' must be", "a bad restart policy is 400")
    st, _ = e.api("GET", "/v1/vms/v")
    t.eq(st, 404, "a refused VM left nothing behind")
    st, body = e.api("GET", "/v1/vms")
    t.eq([v["name"] for v in body["vms"]], ["pinned", "vm1", "vm2"],
         "GET /v1/vms lists them")
    err_is(t, e.api("GET", "/v1/vms/nope"), 404, "no VM 'nope'",
           "an unknown VM is 404")


def start(e):
    err_is(t, e.api("POST", "/v1/vms/vm1/start", {"client": "s1"}), 400,
           "is a server platform", "starting on a server is 400")
    err_is(t, e.api("POST", "/v1/vms/vm1/start", {"client": "zz"}), 404,
           "no platform 'zz'", "starting on an unknown client is 404")
    err_is(t, e.api("POST", "/v1/vms/nope/start"), 404, "no VM",
           "starting an unknown VM is 404")
    st, body = e.api("POST", "/v1/vms/vm1/start", {"client": "c2"})
    t.ok(st == 200 and body["state"] == "running" and body["client"] == "c2",
         "POST start on a chosen client", body)
    placed = {d["name"]: d["placed_on"] for d in body["devices"]}
    t.eq(placed, {"console": "s1", "edu0": "s2"},
         "devices go to the least-loaded servers (s2 at 0/4 beats s1 at "
         "1/2)")
    posts = e.requests("c2", "POST", "/v1/vms")
    t.eq(len(posts), 1, "one VM launch on the client")
    args = posts[0]["body"]["args"]
    uuid = body["id"]
    inst = [d["instance"] for d in body["devices"]]
    addr = [d["address"] for d in body["devices"]]
    want = ["-m", "512M", "-kernel", "/boot/k", "-initrd", "/boot/i",
            "-append", "console=ttyS0 quiet", "-serial", "none",
            "-object", "secret,id=tok0,file=@STATE@/vm1.tok0",
            "-remote-device",
            "bus=isa,server=%s,vm-id=%s,hypervisor-id=c2-qemu,"
            "client-platform-id=c2,device-model-id=%s,"
            "server-platform-id=s1,token-secret=tok0" % (addr[0], uuid,
                                                         inst[0]),
            "-object", "secret,id=tok1,file=@STATE@/vm1.tok1",
            "-remote-device",
            "bus=pci,server=%s,vm-id=%s,hypervisor-id=c2-qemu,"
            "client-platform-id=c2,device-model-id=%s,"
            "server-platform-id=s2,token-secret=tok1" % (addr[1], uuid,
                                                         inst[1])]
    t.eq(args, want, "the composed QEMU arguments")
    launches = (e.requests("s1", "POST", "/v1/instances") +
                e.requests("s2", "POST", "/v1/instances"))
    toks = [p["body"]["token"] for p in launches]
    files = posts[0]["body"]["files"]
    t.ok(len(toks) == 2 and all(len(x) == 32 and
                                 all(c in "0123456789abcdef" for c in x)
                                 for x in toks) and toks[0] != toks[1],
         "a random 32-hex-digit token per device", toks)
    t.eq(files, {"tok0": toks[0], "tok1": toks[1]},
         "tokens travel as files, never in the arguments")
    t.ok(not any(x in " ".join(args) for x in toks),
         "no token on the command line")
    with open(os.path.join(e.fakes["c2"]["state"], "vm1.tok0")) as f:
        t.eq(f.read(), toks[0], "the launcher wrote the token file")
    b = launches[0]["body"]
    t.eq((b["model"], b["transport"], b["restart"], b["console"], b["bind"]),
         ("uart16550", "unix", "on-failure", True,
          {"vm": uuid, "hypervisor": None, "client_platform": None,
           "device_model": inst[0], "server_platform": "s1"}),
         "the instance request: model, binding, restart, console")
    err_is(t, e.api("POST", "/v1/vms/vm1/start"), 409,
           "cannot start VM 'vm1': it is running", "starting twice is 409")
    err_is(t, e.api("DELETE", "/v1/vms/vm1"), 409, "stop it first",
           "deleting a running VM is 409")
    err_is(t, e.api("DELETE", "/v1/platforms/s2"), 409, "in use",
           "deleting a server in use is 409")
    err_is(t, e.api("DELETE", "/v1/platforms/c2"), 409, "in use",
           "deleting a client in use is 409")
    err_is(t, e.api("DELETE", "/v1/platforms/s3"), 409, "pinned server",
           "deleting a pinned server is 409")
    st, body = e.api("POST", "/v1/vms/vm2/start")
    t.ok(st == 200 and body["client"] == "c1" and
         body["devices"][0]["placed_on"] == "s3",
         "least-loaded client and server (s3 at 0/8)", body)
    st, body = e.api("POST", "/v1/vms/pinned/start", {"client": None})
    t.ok(st == 200 and body["devices"][0]["placed_on"] == "s3",
         "a pinned server is honoured", body)


def console_and_dms(e):
    st, body = e.api("GET", "/v1/vms/vm1/console")
    t.ok(st == 200 and body["console"].startswith("unix:") and
         body["device"] == "console" and body["server"] == "s1",
         "GET console gives the UART's console", body)
    err_is(t, e.api("GET", "/v1/vms/vm2/console"), 409, "no running remote "
           "UART", "a VM without UART has no console (409)")
    err_is(t, e.api("GET", "/v1/vms/zz/console"), 404, "no VM",
           "console of an unknown VM is 404")
    st, body = e.api("GET", "/v1/dms")
    t.ok(st == 200 and len(body["dms"]) == 4 and
         all(d["state"] == "running" for d in body["dms"]),
         "GET /v1/dms lists the placements with the launchers' states", body)
    e.fakes["s3"]["proc"].kill()
    e.fakes["s3"]["proc"].wait()
    st, body = e.api("GET", "/v1/dms")
    t.eq([d["state"] for d in body["dms"] if d["server"] == "s3"],
         ["unreachable"] * 2, "a dead launcher's models are 'unreachable'")


def lifecycle(e):
    st, body = e.api("POST", "/v1/vms/vm1/suspend")
    t.ok(st == 200 and body["state"] == "suspended", "suspend", body)
    err_is(t, e.api("POST", "/v1/vms/vm1/suspend"), 409,
           "cannot suspend VM 'vm1': it is suspended",
           "suspending twice is 409")
    st, body = e.api("POST", "/v1/vms/vm1/resume")
    t.ok(st == 200 and body["state"] == "running", "resume", body)
    err_is(t, e.api("POST", "/v1/vms/vm1/resume"), 409, "it is running",
           "resuming a running VM is 409")
    qmp = [r["body"]["execute"] for r in e.requests("c2", "POST", "/v1/vms/")]
    t.eq(qmp, ["stop", "cont"], "suspend/resume are QMP stop/cont")
    e.fake_config("c2", qmp_error={"stop": "not now"})
    err_is(t, e.api("POST", "/v1/vms/vm1/suspend"), 502,
           "QEMU refused stop: not now", "a QMP error is 502")
    st, body = e.api("GET", "/v1/vms/vm1")
    t.eq(body["state"], "running", "and the state is unchanged")
    e.fake_config("c2", qmp_error={})
    err_is(t, e.api("POST", "/v1/vms/vm1/migrate", {"to": "c2"}), 409,
           "already runs on 'c2'", "migrating to the same client is 409")
    err_is(t, e.api("POST", "/v1/vms/vm1/migrate", {}), 400,
           "'to' is missing", "migrating without 'to' is 400")
    err_is(t, e.api("POST", "/v1/vms/vm1/migrate", {"to": "s1"}), 400,
           "is a server platform", "migrating to a server is 400")
    e.fake_config("c2", migrate_fail=True)
    err_is(t, e.api("POST", "/v1/vms/vm1/migrate", {"to": "c1"}), 502,
           "migration failed: injected", "a failed migration is 502")
    st, body = e.api("GET", "/v1/vms/vm1")
    st1, c1vms = e.fake_get("c1", "/v1/vms")
    t.ok(body["client"] == "c2" and body["state"] == "running" and
         "migration" not in body and
         all(v["id"] != "vm1" for v in c1vms["vms"]),
         "after a failed migration the VM stays and the target is gone",
         (body, c1vms))
    e.fake_config("c2", migrate_fail=False)
    st, body = e.api("POST", "/v1/vms/vm1/migrate", {"to": "c1"})
    t.ok(st == 200 and body["client"] == "c1" and body["state"] == "running"
         and body["hypervisor"] == "c1-qemu", "migrate to c1", body)
    post = e.requests("c1", "POST", "/v1/vms")
    tgt = [r for r in post if r["path"] == "/v1/vms"][-1]["body"]
    t.eq(tgt["args"][-2:], ["-incoming", "defer"],
         "the target QEMU waits for the stream")
    t.ok("device-model-id=" in " ".join(tgt["args"]) and
         "client-platform-id=c1" in " ".join(tgt["args"]),
         "the target connects to the same models", tgt["args"])
    inc = [r["body"] for r in post if r["path"] == "/v1/vms/vm1/qmp"]
    src = [r["body"] for r in e.requests("c2", "POST", "/v1/vms/vm1/qmp")]
    mig = [b for b in src if b["execute"] == "migrate"][-1]
    t.ok(inc[-1]["execute"] == "migrate-incoming" and
         mig["arguments"]["uri"] == inc[-1]["arguments"]["uri"] and
         src[-1]["execute"] == "quit",
         "migrate-incoming on the target, migrate then quit on the source",
         (inc, src))
    st, c2vms = e.fake_get("c2", "/v1/vms")
    t.eq(c2vms["vms"], [], "the source QEMU is gone")
    t.eq(len(e.requests("s1", "DELETE") + e.requests("s2", "DELETE")), 0,
         "the device models stayed where they were")
    err_is(t, e.api("POST", "/v1/vms/vm1/stop", {"timeout": "soon"}), 400,
           "'timeout' must be an integer", "a bad stop timeout is 400")
    vm1_instances = [d["instance"] for d in body["devices"]]
    e.fake_config("c1", powerdown_works=False)
    st, body = e.api("POST", "/v1/vms/vm1/stop", {"timeout": 0})
    t.ok(st == 200 and body["state"] == "stopped" and
         all(d["instance"] is None for d in body["devices"]),
         "stop frees the placements", body)
    cmds = [r["body"]["execute"] for r in
            e.requests("c1", "POST", "/v1/vms/vm1/qmp")][-2:]
    t.eq(cmds, ["system_powerdown", "quit"],
         "a guest that ignores the power button is quit")
    t.eq(sorted(r["path"] for r in e.requests("s1", "DELETE") +
                e.requests("s2", "DELETE")),
         sorted("/v1/instances/" + i for i in vm1_instances),
         "stop deletes the instances")
    err_is(t, e.api("POST", "/v1/vms/vm1/stop"), 409, "it is stopped",
           "stopping a stopped VM is 409")
    e.fake_config("c1", powerdown_works=True)
    st, body = e.api("POST", "/v1/vms/vm2/stop")
    t.ok(st == 200 and body["state"] == "stopped",
         "stop with a guest that powers off", body)
    st, _ = e.api("DELETE", "/v1/vms/vm2")
    st2, _ = e.api("GET", "/v1/vms/vm2")
    t.ok(st == 200 and st2 == 404, "DELETE a stopped VM")


def half_writes(e):
    s5 = e.start_fake("s5", "server", "--fail-instance", "2")
    e.api("POST", "/v1/platforms", {"name": "s5", "role": "server",
                                    "address": s5})
    e.api("POST", "/v1/vms", {"name": "half", "devices": [
        {"name": "a", "model": "edu", "server": "s5"},
        {"name": "b", "model": "edu", "server": "s5"}]})
    err_is(t, e.api("POST", "/v1/vms/half/start"), 502,
           "injected failure of launch 2",
           "a failing second launch is 502 with the launcher's message")
    posts = e.requests("s5", "POST", "/v1/instances")
    dels = e.requests("s5", "DELETE", "/v1/instances")
    t.ok(len(posts) == 2 and len(dels) == 1 and
         dels[0]["path"] == "/v1/instances/" + posts[0]["body"]["id"],
         "the first instance is deleted again", (posts, dels))
    st, body = e.api("GET", "/v1/vms/half")
    t.ok(body["state"] == "defined" and
         all(d["instance"] is None for d in body["devices"]),
         "the VM is not running and has no placements", body)
    e.api("POST", "/v1/vms", {"name": "half2", "devices": [
        {"name": "a", "model": "edu", "server": "s1"}]})
    e.fake_config("c1", fail_vm=True)
    err_is(t, e.api("POST", "/v1/vms/half2/start", {"client": "c1"}), 502,
           "injected failure of the VM launch", "a failing QEMU launch is 502")
    st, body = e.api("GET", "/v1/vms/half2")
    inst = e.requests("s1", "POST", "/v1/instances")[-1]["body"]["id"]
    t.ok(body["state"] == "defined" and
         e.requests("s1", "DELETE")[-1]["path"] == "/v1/instances/" + inst,
         "its device models are deleted again", body)
    e.fake_config("c1", fail_vm=False)
    e.api("POST", "/v1/vms", {"name": "nomodel", "devices": [
        {"name": "a", "model": "edu-msix", "server": "s3"}]})
    err_is(t, e.api("POST", "/v1/vms/nomodel/start"), 409,
           "server 's3' does not offer model 'edu-msix'",
           "a pinned server without the model is 409")
    for v in ("half", "half2"):
        e.api("DELETE", "/v1/vms/" + v)
    for p in ("s1", "s2", "s5"):
        t.eq(e.api("DELETE", "/v1/platforms/" + p), (200, {}),
             "DELETE /v1/platforms/" + p)
    e.api("POST", "/v1/vms", {"name": "orphan", "devices": [
        {"name": "a", "model": "uart16550"}]})
    err_is(t, e.api("POST", "/v1/vms/orphan/start"), 409,
           "no server platform offers model 'uart16550'",
           "a model offered nowhere is 409")


def persistence(e):
    before = e.api("GET", "/v1/vms")[1], e.api("GET", "/v1/platforms")[1]
    rc = e.stop_orch()
    t.ok(rc == 0 and not os.path.exists(e.sock),
         "SIGTERM stops it and removes its socket", rc)
    e.start_orch()
    after = e.api("GET", "/v1/vms")[1], e.api("GET", "/v1/platforms")[1]
    t.eq(after, before, "platforms and VMs survive a restart")


def migration(e):
    for version in (0, 1):
        path = os.path.join(e.tmp, "old%d.sqlite" % version)
        db = sqlite3.connect(path)
        if version == 1:
            db.executescript(
                "CREATE TABLE platforms (id INTEGER PRIMARY KEY, name TEXT "
                "NOT NULL UNIQUE, role TEXT NOT NULL, address TEXT NOT NULL,"
                " capacity INTEGER NOT NULL DEFAULT 0, hypervisor TEXT);"
                "CREATE TABLE platform_models (platform_id INTEGER, model "
                "TEXT, PRIMARY KEY (platform_id, model));"
                "CREATE TABLE vms (id INTEGER PRIMARY KEY, name TEXT NOT "
                "NULL UNIQUE, uuid TEXT NOT NULL UNIQUE, memory TEXT NOT "
                "NULL, kernel TEXT, initrd TEXT, append TEXT, state TEXT NOT"
                " NULL DEFAULT 'defined', client_id INTEGER, hypervisor "
                "TEXT);"
                "CREATE TABLE devices (id INTEGER PRIMARY KEY, vm_id INTEGER"
                " NOT NULL, name TEXT NOT NULL, model TEXT NOT NULL, bus "
                "TEXT NOT NULL, server_id INTEGER, restart TEXT NOT NULL);"
                "CREATE TABLE placements (id INTEGER PRIMARY KEY, device_id "
                "INTEGER NOT NULL UNIQUE, server_id INTEGER NOT NULL, "
                "instance TEXT NOT NULL UNIQUE, address TEXT NOT NULL, token"
                " TEXT NOT NULL, console TEXT, state TEXT NOT NULL);"
                "INSERT INTO vms (name, uuid, memory) VALUES "
                "('old', 'u-1', '64M');"
                "PRAGMA user_version = 1;")
        db.commit()
        db.close()
        e2 = Env(e.build)
        e2.db = path
        try:
            e2.start_orch()
            st, body = e2.api("GET", "/v1/vms")
            names = [v["name"] for v in body["vms"]]
            t.eq(names, ["old"] if version else [],
                 "a version %d database is served" % version)
            if version:
                t.eq(body["vms"][0]["args"], [],
                     "the new column has its default")
        finally:
            e2.cleanup()
        db = sqlite3.connect(path)
        uv = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        db.close()
        t.ok(uv == 2 and "events" in tables,
             "version %d is migrated to 2" % version, (uv, tables))
    path = os.path.join(e.tmp, "future.sqlite")
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    e3 = Env(e.build)
    e3.db = path
    try:
        e3.start_orch()
        t.ok(False, "a newer schema is refused")
    except RuntimeError as ex:
        t.ok("newer than ours" in str(ex), "a newer schema is refused", ex)
    finally:
        e3.cleanup()


def main():
    e = Env(sys.argv[1])
    try:
        e.start_orch()
        for part in (platforms, vms, start, console_and_dms, lifecycle,
                     half_writes, persistence, migration):
            part(e)
    except Exception as ex:  # report, then let TAP show the failure
        import traceback
        t.ok(False, "the test ran to its end", traceback.format_exc() +
             "\n" + e.orch_log()[-3000:])
    finally:
        e.cleanup()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
