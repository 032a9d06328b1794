#!/usr/bin/python3
# dm-orchestrator's API against fake launchers: every endpoint with good
# and bad input, placement, composed QEMU arguments, save and restore, no
# half-writes, persistence across a restart and schema migration.  TAP
# output.
#   test-api.py BUILD
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from orchlib import (Env, Tap, set_vm, store_docs, store_put,  # noqa: E402
                    vm_names, wait_for)

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
    # libvup's rules, as dm-remote and the fork apply them.
    err_is(t, e.api("POST", "/v1/platforms", {"name": "y", "role": "client",
                                              "address": "tcp:::1:7000"}),
           400, "bad address: bad host or port in 'tcp:::1:7000'",
           "an IPv6 host without brackets is ambiguous: 400")
    err_is(t, e.api("POST", "/v1/platforms", {"name": "..", "role": "client",
                                              "address": c1}),
           400, "bad platform name '..' (1 to 64 of A-Z a-z 0-9 . _ -, not "
           ". or ..)", "a name that is a directory's is 400")
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
    # Not UTF-8 once decoded: the message still comes (fuzz-orch-api).
    err_is(t, e.api("GET", "/v1/x%F5%F5"), 404, "no such endpoint: /v1/x",
           "an endpoint that is not UTF-8 is 404 with its message")


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
            "id=console,bus=isa,server=%s,vm-id=%s,hypervisor-id=c2-qemu,"
            "client-platform-id=c2,device-model-id=%s,"
            "server-platform-id=s1,token-secret=tok0" % (addr[0], uuid,
                                                         inst[0]),
            "-object", "secret,id=tok1,file=@STATE@/vm1.tok1",
            "-remote-device",
            "id=edu0,bus=pci,server=%s,vm-id=%s,hypervisor-id=c2-qemu,"
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


def remote_devices(args):
    """-remote-device values of QEMU's @args, without the leading id=."""
    return [re.sub(r"^id=[^,]*,", "", b) for a, b in zip(args, args[1:])
            if a == "-remote-device"]


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
    st, body = e.api("POST", "/v1/vms/vm1/devices/edu0/link", {"up": False})
    t.ok(st == 200 and body["name"] == "vm1", "link down", body)
    last = e.requests("c2", "POST", "/v1/vms/")[-1]["body"]
    t.eq(last, {"execute": "set_link",
                "arguments": {"name": "edu0", "up": False}},
         "a device's link is QMP set_link on the proxy's id")
    err_is(t, e.api("POST", "/v1/vms/vm1/devices/nope/link", {"up": True}),
           404, "has no device 'nope'", "the link of an unknown device is 404")
    err_is(t, e.api("POST", "/v1/vms/vm1/devices/edu0/link", {"up": "yes"}),
           400, "'up', a boolean", "a link without a boolean 'up' is 400")
    e.fake_config("c2", qmp_error={"set_link": "has no such control"})
    err_is(t, e.api("POST", "/v1/vms/vm1/devices/edu0/link", {"up": True}),
           502, "QEMU refused set_link: has no such control",
           "a model without a link: QEMU's error, 502")
    e.fake_config("c2", qmp_error={})
    ev = [x["message"] for x in
          e.api("GET", "/v1/vms/vm1/events")[1]["events"]]
    t.ok("device edu0: link down" in ev, "the link change is an event", ev)
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


def events(e):
    """The log of what happened to the VMs, after lifecycle()."""
    st, body = e.api("GET", "/v1/events")
    ev = body.get("events", []) if st == 200 else []
    t.ok(len(ev) >= 4 and all(set(x) == {"id", "time", "vm", "message"}
                              for x in ev),
         "GET /v1/events: id, time, vm and message of each", body)
    ids = [x["id"] for x in ev]
    t.ok(ids == sorted(ids), "oldest first", ids)
    vm1 = [x["message"] for x in ev if x["vm"] == "vm1"]
    t.ok(len(vm1) >= 3 and vm1[0].startswith("started on ") and
         "migrated from c2 to c1" in vm1 and vm1[-1] == "stopped",
         "vm1's start, migration and stop are there", vm1)
    st, body = e.api("GET", "/v1/vms/vm1/events")
    t.ok(st == 200 and [x["message"] for x in body["events"]] == vm1,
         "GET /v1/vms/vm1/events: vm1's only", body)
    st, body = e.api("GET", "/v1/events?since=%d" % ids[-2])
    t.ok(st == 200 and [x["id"] for x in body["events"]] == ids[-1:],
         "since=ID: what came after it", body)
    st, body = e.api("GET", "/v1/events?limit=2")
    t.ok(st == 200 and [x["id"] for x in body["events"]] == ids[-2:],
         "limit=N: the last N", body)
    st, body = e.api("GET", "/v1/events?since=0&limit=1")
    t.ok(st == 200 and [x["id"] for x in body["events"]] == ids[:1],
         "since with limit: the first N after", body)
    err_is(t, e.api("GET", "/v1/events?limit=0"), 400, "bad 'limit': '0'",
           "limit 0 is 400")
    err_is(t, e.api("GET", "/v1/events?since=soon"), 400, "bad 'since'",
           "a since that is not a number is 400")
    err_is(t, e.api("GET", "/v1/events?until=3"), 400,
           "unknown parameter 'until'", "an unknown parameter is 400")
    err_is(t, e.api("GET", "/v1/vms/nope/events"), 404, "no VM 'nope'",
           "the events of an unknown VM are 404")
    rc, out, err = e.dmctl("events", "--vm", "vm1")
    lines = out.splitlines()
    t.ok(rc == 0 and lines[0].split() == ["ID", "TIME", "VM", "EVENT"] and
         len(lines) == 1 + len(vm1) and lines[-1].endswith(" stopped"),
         "dmctl events --vm vm1: a table, oldest first", out + err)
    rc, out, err = e.dmctl("events", "--limit", "x")
    t.ok(rc == 2 and "--limit needs a number, not 'x'" in err,
         "dmctl events --limit x is a usage error", (rc, err))


def qmp_cmds(e, fake, vm):
    return [r["body"]["execute"] for r in
            e.requests(fake, "POST", "/v1/vms/%s/qmp" % vm)]


def save_bad_input(e):
    e.api("POST", "/v1/vms", {"name": "sv", "devices": [
        {"name": "console", "model": "uart16550"},
        {"name": "e", "model": "edu"}]})
    st, body = e.api("POST", "/v1/vms/sv/start", {"client": "c1"})
    t.ok(st == 200 and body["state"] == "running", "a VM to save", body)
    for req, status, text, name in (
            ({"file": 5}, 400, "'file' must be a string, not a number",
             "a non-string file"),
            ({"file": "rel/x.state"}, 400, "must be a file name in the "
             "save directory", "a relative path"),
            ({"file": "a,b"}, 400, "must be a file name", "a comma"),
            ({"file": "a\nb"}, 400, "must be a file name", "a line break"),
            ({"file": e.tmp + "/saved/../../x"}, 400, "must be a file name",
             "an absolute path with '..'"),
            ({"file": e.tmp + "/saved/x"}, 400, "must be a file name",
             "an absolute path, even in the save directory"),
            ({"file": "../x"}, 400, "must be a file name", "'..'"),
            ({"file": ".."}, 400, "must be a file name", "'..' alone"),
            ({"file": ".hidden"}, 400, "must be a file name",
             "a name starting with '.'"),
            ({"file": ""}, 400, "must be a file name", "an empty name"),
            ({"file": "x" * 256}, 400, "must be a file name",
             "a name of 256 bytes"),
            ({"timeout": 0}, 400, "'timeout' must be 1 to 86400",
             "a zero timeout"),
            ({"timeout": "soon"}, 400, "'timeout' must be an integer",
             "a string timeout")):
        err_is(t, e.api("POST", "/v1/vms/sv/save", req), status, text,
               "save: %s is %d" % (name, status))
    err_is(t, e.api("POST", "/v1/vms/sv/save", raw=b"{nope"), 400,
           "bad JSON", "save: bad JSON is 400")
    err_is(t, e.api("POST", "/v1/vms/nope/save"), 404, "no VM 'nope'",
           "save: an unknown VM is 404")
    err_is(t, e.api("POST", "/v1/vms/vm1/save"), 409,
           "cannot save VM 'vm1': it is stopped", "save: a stopped VM is 409")
    err_is(t, e.api("POST", "/v1/vms/sv/restore"), 409,
           "cannot restore VM 'sv': it is running",
           "restore: a running VM is 409")
    err_is(t, e.api("POST", "/v1/vms/nope/restore"), 404, "no VM 'nope'",
           "restore: an unknown VM is 404")
    err_is(t, e.api("GET", "/v1/vms/sv/save"), 405, "not allowed",
           "GET on save is 405")
    t.eq(qmp_cmds(e, "c1", "sv"), [], "bad input reached no QEMU")


def save_failures(e):
    """Each failing step leaves the VM as it was, running again."""
    cases = (({"qmp_error": {"migrate": "no room"}}, {}, 502,
              "QEMU refused migrate: no room", ["stop", "migrate", "cont"]),
             ({"migrate_fail": True}, {}, 502, "migration failed: injected",
              ["stop", "migrate", "query-migrate", "cont"]),
             ({"migrate_hold": True}, {"timeout": 1}, 504,
              "did not complete in 1 s",
              ["stop", "migrate", "query-migrate", "migrate_cancel",
               "cont"]),
             ({"qmp_error": {"stop": "busy"}}, {}, 502,
              "QEMU refused stop: busy", ["stop"]),
             ({"fail_delete": True}, {}, 502,
              "injected failure of the VM DELETE",
              ["stop", "migrate", "query-migrate", "cont"]))
    for conf, req, status, text, want in cases:
        before = len(qmp_cmds(e, "c1", "sv"))
        e.fake_config("c1", **conf)
        err_is(t, e.api("POST", "/v1/vms/sv/save", req), status, text,
               "save fails (%s): %d" % (list(conf)[0], status))
        e.fake_config("c1", qmp_error={}, migrate_fail=False,
                      migrate_hold=False, fail_delete=False)
        got = qmp_cmds(e, "c1", "sv")[before:]
        dedup = [c for i, c in enumerate(got) if i == 0 or got[i - 1] != c]
        t.eq(dedup, want, "  QMP steps, the VM continued")
        st, body = e.api("GET", "/v1/vms/sv")
        st2, qemu = e.fake_get("c1", "/v1/vms/sv")
        t.ok(body["state"] == "running" and body["client"] == "c1" and
             body["saved_file"] is None and "migration" not in body and
             qemu["status"] == "running",
             "  and it is running on c1 as before", (body, qemu))
    e.api("POST", "/v1/vms/sv/suspend")
    before = len(qmp_cmds(e, "c1", "sv"))
    e.fake_config("c1", migrate_fail=True)
    err_is(t, e.api("POST", "/v1/vms/sv/save"), 502, "migration failed",
           "a failing save of a suspended VM")
    e.fake_config("c1", migrate_fail=False)
    t.eq(qmp_cmds(e, "c1", "sv")[before:], ["migrate", "query-migrate"],
         "  neither stops nor continues it")
    t.eq(e.api("GET", "/v1/vms/sv")[1]["state"], "suspended",
         "  and it stays suspended")
    e.api("POST", "/v1/vms/sv/resume")


def save(e):
    save_bad_input(e)
    save_failures(e)
    inst = [d["instance"] for d in e.api("GET", "/v1/vms/sv")[1]["devices"]]
    before = len(qmp_cmds(e, "c1", "sv"))
    st, body = e.api("POST", "/v1/vms/sv/save")
    want = os.path.join(e.tmp, "saved", "sv.vmstate")
    t.ok(st == 200 and body["state"] == "saved" and
         body["saved_file"] == want and body["client"] is None,
         "save: the VM is saved to SAVE_DIR/NAME.vmstate", body)
    t.ok(os.path.isdir(os.path.join(e.tmp, "saved")),
         "the default save directory is 'saved' beside the database")
    qmp = [r["body"] for r in
           e.requests("c1", "POST", "/v1/vms/sv/qmp")][before:]
    t.ok([q["execute"] for q in qmp[:2]] == ["stop", "migrate"] and
         qmp[1]["arguments"] == {"uri": "file:" + want} and
         qmp[-1]["execute"] == "query-migrate",
         "QMP stop, migrate to file:PATH, query-migrate", qmp)
    t.eq(e.requests("c1", "DELETE")[-1]["path"], "/v1/vms/sv",
         "the client's QEMU is deleted")
    t.eq(e.fake_get("c1", "/v1/vms/sv")[0], 404, "no QEMU is left for it")
    dms = [d for d in e.api("GET", "/v1/dms")[1]["dms"] if d["vm"] == "sv"]
    t.ok(sorted(d["instance"] for d in dms) == sorted(inst) and
         all(d["state"] == "running" for d in dms) and
         not any(r["path"].endswith(tuple(inst)) for r in
                 e.requests("s1", "DELETE") + e.requests("s2", "DELETE")),
         "the device models keep running with their placements", dms)
    for action, text in (("start", "it is saved (restore it"),
                         ("suspend", "cannot suspend VM 'sv': it is saved"),
                         ("resume", "cannot resume VM 'sv': it is saved"),
                         ("save", "cannot save VM 'sv': it is saved")):
        err_is(t, e.api("POST", "/v1/vms/sv/" + action), 409, text,
               "%s of a saved VM is 409" % action)
    err_is(t, e.api("POST", "/v1/vms/sv/migrate", {"to": "c2"}), 409,
           "cannot migrate VM 'sv': it is saved",
           "migrate of a saved VM is 409")
    err_is(t, e.api("DELETE", "/v1/vms/sv"), 409, "stop it first",
           "DELETE of a saved VM is 409")
    return inst, want


def restore_failures(e, want):
    err_is(t, e.api("POST", "/v1/vms/sv/restore", {"client": "s1"}), 400,
           "is a server platform", "restore on a server is 400")
    err_is(t, e.api("POST", "/v1/vms/sv/restore", {"client": "zz"}), 404,
           "no platform 'zz'", "restore on an unknown client is 404")
    err_is(t, e.api("POST", "/v1/vms/sv/restore", {"client": 5}), 400,
           "'client' must be a string", "a non-string client is 400")
    err_is(t, e.api("POST", "/v1/vms/sv/restore", {"timeout": -1}), 400,
           "'timeout' must be 1 to 86400", "a negative timeout is 400")
    for conf, text in (({"fail_vm": True}, "injected failure of the VM"),
                       ({"qmp_error": {"migrate-incoming": "no file"}},
                        "QEMU refused migrate-incoming: no file"),
                       ({"migrate_fail": True}, "migration failed"),
                       ({"qmp_error": {"cont": "cannot"}},
                        "QEMU refused cont: cannot")):
        e.fake_config("c2", **conf)
        err_is(t, e.api("POST", "/v1/vms/sv/restore", {"client": "c2"}),
               502, text, "restore fails (%s): 502" % list(conf)[0])
        e.fake_config("c2", fail_vm=False, qmp_error={}, migrate_fail=False)
        st, body = e.api("GET", "/v1/vms/sv")
        t.ok(body["state"] == "saved" and body["saved_file"] == want and
             e.fake_get("c2", "/v1/vms/sv")[0] == 404,
             "  the VM stays saved and no QEMU is left", body)


def restore_outside(e, mine):
    """A saved file recorded outside the save directory (a database
    from before the check) is not read."""
    set_vm(e, "sv", saved_file=e.tmp + "/saved/../x.state")
    n = len(e.requests("c2", "POST", "/v1/vms"))
    err_is(t, e.api("POST", "/v1/vms/sv/restore", {"client": "c2"}), 409,
           "outside the save directory", "restore of a file outside the "
           "save directory is 409")
    t.eq(len(e.requests("c2", "POST", "/v1/vms")), n, "  and starts no QEMU")
    set_vm(e, "sv", saved_file=mine)


def restore(e):
    inst, want = save(e)
    restore_failures(e, want)
    n_posts = len(e.requests("c2", "POST", "/v1/vms"))
    st, body = e.api("POST", "/v1/vms/sv/restore", {"client": "c2"})
    t.ok(st == 200 and body["state"] == "running" and
         body["client"] == "c2" and body["hypervisor"] == "c2-qemu" and
         body["saved_file"] is None, "restore on c2", body)
    t.eq([d["instance"] for d in body["devices"]], inst,
         "the restored VM uses the same device models")
    posts = e.requests("c2", "POST", "/v1/vms")[n_posts:]
    launch = [r["body"] for r in posts if r["path"] == "/v1/vms"][-1]
    qmp = [r["body"] for r in posts if r["path"] == "/v1/vms/sv/qmp"]
    t.ok(launch["args"][-2:] == ["-incoming", "defer"] and
         "client-platform-id=c2" in " ".join(launch["args"]),
         "QEMU is launched with -incoming defer", launch["args"])
    cmds = [q["execute"] for q in qmp]
    t.ok(qmp[0] == {"execute": "migrate-incoming",
                    "arguments": {"uri": "file:" + want}} and
         cmds[-2:] == ["query-status", "cont"] and "query-migrate" in cmds,
         "migrate-incoming from the file, wait, then cont", cmds)
    t.eq(e.fake_get("c2", "/v1/vms/sv")[1]["status"], "running",
         "the restored guest runs")
    # A suspended VM saved to a named file, then stopped while saved.
    e.api("POST", "/v1/vms/sv/suspend")
    before = len(qmp_cmds(e, "c2", "sv"))
    mine = os.path.join(e.tmp, "saved", "mine.state")
    st, body = e.api("POST", "/v1/vms/sv/save", {"file": "mine.state"})
    t.ok(st == 200 and body["saved_file"] == mine and
         qmp_cmds(e, "c2", "sv")[before] == "migrate",
         "a suspended VM is saved to a named file without a second stop",
         body)
    restore_outside(e, mine)
    st, body = e.api("POST", "/v1/vms/sv/stop")
    dels = [r["path"] for r in e.requests("s1", "DELETE") +
            e.requests("s2", "DELETE")]
    t.ok(st == 200 and body["state"] == "stopped" and
         body["saved_file"] is None and
         all(d["instance"] is None for d in body["devices"]) and
         all("/v1/instances/" + i in dels for i in inst),
         "stop of a saved VM deletes its models and frees the placements",
         body)
    t.eq(e.api("DELETE", "/v1/vms/sv"), (200, {}), "and it can be deleted")


def routes_bad_input(e):
    for via, status, text in (("nope", 404, "no platform 'nope'"),
                              ("c1", 400, "is a client platform, not a "
                               "server ('via' must name a server)"),
                              (5, 400, "'via' must be a string, not a "
                               "number"),
                              (["own1"], 400, "'via' must be a string, "
                               "not an array"),
                              ("", 400, "bad platform name ''"),
                              ("a,b", 400, "bad platform name 'a,b'")):
        err_is(t, e.api("POST", "/v1/vms", {"name": "rbad", "devices": [
            {"name": "d", "model": "edu", "via": via}]}), status, text,
            "via %r is %d" % (via, status))
    t.eq(e.api("GET", "/v1/vms/rbad")[0], 404,
         "  and no VM is left behind")


def routes_start(e):
    """rv: a local console and an edu on s2 reached through own1."""
    st, body = e.api("POST", "/v1/vms", {"name": "rv", "devices": [
        {"name": "console", "model": "uart16550", "server": "s1"},
        {"name": "edu0", "model": "edu", "server": "s2", "via": "own1"}]})
    t.ok(st == 201 and [(d["via"], d["route"]) for d in body["devices"]] ==
         [(None, None), ("own1", None)], "a device names its owner", body)
    st, body = e.api("POST", "/v1/vms/rv/start", {"client": "c1"})
    router = "unix:%s/router.sock" % e.fakes["own1"]["state"]
    con, edu = body["devices"]
    t.ok(st == 200 and edu["placed_on"] == "s2" and edu["via"] == "own1"
         and edu["route"] == router and con["route"] is None,
         "start: the edu is placed on s2 and routed by own1", body)
    posts = e.requests("own1", "POST", "/v1/routes")
    t.eq([p["body"] for p in posts],
         [{"id": edu["instance"], "device_model": edu["instance"],
           "vm": body["id"], "target": edu["address"]}],
         "the route POST carries the device-model id, the VM id and the "
         "instance's address")
    t.eq(e.requests("own1", "POST", "/v1/instances"), [],
         "the owner launches nothing itself")
    args = [r for r in e.requests("c1", "POST", "/v1/vms")
            if r["path"] == "/v1/vms"][-1]["body"]["args"]
    devs = remote_devices(args)
    t.ok(len(devs) == 2 and
         devs[1] == "bus=pci,server=%s,vm-id=%s,hypervisor-id=c1-qemu,"
         "client-platform-id=c1,device-model-id=%s,server-platform-id=s2,"
         "token-secret=tok1" % (router, body["id"], edu["instance"]) and
         "server=%s," % con["address"] in devs[0],
         "QEMU connects to the router, with the model's identifiers", devs)
    dms = {d["device"]: d for d in e.api("GET", "/v1/dms")[1]["dms"]
           if d["vm"] == "rv"}
    t.ok(dms["edu0"]["via"] == "own1" and dms["edu0"]["route"] == router
         and dms["console"]["via"] is None, "GET /v1/dms shows via", dms)
    err_is(t, e.api("DELETE", "/v1/platforms/own1"), 409,
           "platform 'own1' routes 1 device model(s) in use",
           "removing an owner whose route is in use is 409")
    return edu["instance"], router


def routes_keep(e, inst, router):
    n = len(e.requests("own1"))
    st, body = e.api("POST", "/v1/vms/rv/migrate", {"to": "c2"})
    args = [r for r in e.requests("c2", "POST", "/v1/vms")
            if r["path"] == "/v1/vms"][-1]["body"]["args"]
    t.ok(st == 200 and body["client"] == "c2" and
         any(a.startswith("bus=pci,server=%s," % router)
             for a in remote_devices(args)),
         "migration: the target connects to the same router", args)
    st, body = e.api("POST", "/v1/vms/rv/save")
    t.ok(st == 200 and body["devices"][1]["route"] == router,
         "save keeps the route", body)
    st, body = e.api("POST", "/v1/vms/rv/restore", {"client": "c1"})
    args = [r for r in e.requests("c1", "POST", "/v1/vms")
            if r["path"] == "/v1/vms"][-1]["body"]["args"]
    t.ok(st == 200 and
         any(a.startswith("bus=pci,server=%s," % router)
             for a in remote_devices(args)),
         "restore: QEMU connects to the same router", args)
    t.eq(e.requests("own1")[n:], [],
         "  the owner was not asked to change anything")


def routes_stop(e, inst):
    st, body = e.api("POST", "/v1/vms/rv/stop")
    t.ok(st == 200 and body["devices"][1]["route"] is None and
         body["devices"][1]["via"] == "own1",
         "stop forgets the route, the device keeps its owner", body)
    t.ok([r["path"] for r in e.requests("own1", "DELETE")] ==
         ["/v1/routes/" + inst] and
         "/v1/instances/" + inst in [r["path"] for r in
                                     e.requests("s2", "DELETE")],
         "stop deletes the route on the owner and the instance")
    err_is(t, e.api("DELETE", "/v1/platforms/own1"), 409,
           "platform 'own1' is the owner server ('via') of 1 device(s)",
           "removing an owner a device names is 409")
    # A server a stopped VM's device is pinned to: refused too.
    addr = e.start_fake("pin9", "server", "--models", "edu:pci")
    e.api("POST", "/v1/platforms", {"name": "pin9", "role": "server",
                                    "address": addr})
    e.api("POST", "/v1/vms", {"name": "pinv", "devices": [
        {"name": "e", "model": "edu", "server": "pin9"}]})
    err_is(t, e.api("DELETE", "/v1/platforms/pin9"), 409,
           "platform 'pin9' is the pinned server of 1 device(s)",
           "removing a server a device is pinned to is 409")
    e.api("DELETE", "/v1/vms/pinv")
    t.eq(e.api("DELETE", "/v1/platforms/pin9"), (200, {}),
         "  and allowed once no device names it")


def routes_failing(e):
    """A route POST that fails undoes both launches; rv stays stopped."""
    e.fake_config("own1", fail_route=True)
    n1, n2 = (len(e.requests(s, "POST", "/v1/instances"))
              for s in ("s1", "s2"))
    nc = len(e.requests("c1", "POST"))
    err_is(t, e.api("POST", "/v1/vms/rv/start", {"client": "c1"}), 502,
           "POST /v1/routes: 500 injected failure of the route",
           "a failing route POST is 502 with the launcher's message")
    e.fake_config("own1", fail_route=False)
    launched = [r["body"]["id"] for s, n in (("s1", n1), ("s2", n2))
                for r in e.requests(s, "POST", "/v1/instances")[n:]]
    deleted = [r["path"] for s in ("s1", "s2")
               for r in e.requests(s, "DELETE")]
    st, body = e.api("GET", "/v1/vms/rv")
    t.ok(len(launched) == 2 and
         all("/v1/instances/" + i in deleted for i in launched) and
         body["state"] == "stopped" and
         all(d["instance"] is None and d["route"] is None
             for d in body["devices"]) and
         len(e.requests("c1", "POST")) == nc and
         e.fake_get("own1", "/v1/routes")[1]["routes"] == [],
         "  both instances are deleted again, no QEMU, no route, the VM "
         "stays stopped", (launched, deleted, body))
    for bad in ("http://x", 5):
        e.fake_config("own1", route_address=bad)
        err_is(t, e.api("POST", "/v1/vms/rv/start", {"client": "c1"}), 502,
               "the route has no usable address",
               "a route reply with address %r is 502" % bad)
        e.fake_config("own1", route_address=None)
        st, body = e.api("GET", "/v1/vms/rv")
        t.ok(body["state"] == "stopped" and
             e.fake_get("own1", "/v1/routes")[1]["routes"] == [] and
             e.fake_get("s2", "/v1/instances")[1]["instances"] == [],
             "  the route and the instances are deleted again", body)


def instance_bad_reply(e):
    """An instance reply without a usable address, or with a console or
    state that is not a string, is 502; what the start launched goes."""
    before = {s: e.fake_get(s, "/v1/instances")[1]["instances"]
              for s in ("s1", "s2")}
    for key, bad in (("address", "http://x"), ("address", 5),
                     ("address", None), ("console", 5),
                     ("state", ["running"])):
        e.fake_config("s2", instance_reply={key: bad})
        err_is(t, e.api("POST", "/v1/vms/rv/start", {"client": "c1"}), 502,
               "launcher %s: the instance has no usable address"
               % ("unix:" + e.fakes["s2"]["sock"]),
               "an instance reply with %s %r is 502" % (key, bad))
        e.fake_config("s2", instance_reply={})
        st, body = e.api("GET", "/v1/vms/rv")
        t.ok(body["state"] == "stopped" and
             all(d["instance"] is None for d in body["devices"]) and
             all(e.fake_get(s, "/v1/instances")[1]["instances"] ==
                 before[s] for s in ("s1", "s2")),
             "  the instances on s1 and s2 are deleted again", body)


def routes(e):
    own = e.start_fake("own1", "server")
    e.api("POST", "/v1/platforms", {"name": "own1", "role": "server",
                                    "address": own})
    routes_bad_input(e)
    inst, router = routes_start(e)
    routes_keep(e, inst, router)
    routes_stop(e, inst)
    routes_failing(e)
    instance_bad_reply(e)
    e.api("DELETE", "/v1/vms/rv")
    t.eq(e.api("DELETE", "/v1/platforms/own1"), (200, {}),
         "an owner no device names can be removed")


def tls_args(e, client, vm):
    """The -remote-device values of VM's latest POST to CLIENT."""
    posts = [r for r in e.requests(client, "POST", "/v1/vms")
             if r["path"] == "/v1/vms" and r["body"]["id"] == vm]
    return remote_devices(posts[-1]["body"]["args"])


def tls_start(e):
    """tv: an edu on ts (model TLS) and one on s2 (plain)."""
    e.api("POST", "/v1/vms", {"name": "tv", "devices": [
        {"name": "sec", "model": "edu", "server": "ts"},
        {"name": "plain", "model": "edu", "server": "s2"}]})
    posts = len(e.requests("c1", "POST", "/v1/vms"))
    err_is(t, e.api("POST", "/v1/vms/tv/start", {"client": "c1"}), 409,
           "VM 'tv' cannot run on client platform 'c1': device 'sec' is "
           "served over TLS by server platform 'ts'",
           "a TLS model and a client launcher without model TLS: 409")
    st, body = e.api("GET", "/v1/vms/tv")
    t.ok(body["state"] == "defined" and
         len(e.requests("c1", "POST", "/v1/vms")) == posts and
         e.fake_get("ts", "/v1/instances")[1]["instances"] == [] and
         len(e.requests("ts", "DELETE", "/v1/instances")) == 1,
         "refused before QEMU, its instances deleted again", body)
    st, body = e.api("POST", "/v1/vms/tv/start", {"client": "tc"})
    t.ok(st == 200 and body["state"] == "running", "it starts on tc", body)
    dms = {d["device"]: d["tls"] for d in e.api("GET", "/v1/dms")[1]["dms"]
           if d["vm"] == "tv"}
    t.eq(dms, {"sec": True, "plain": False},
         "GET /v1/dms says which sessions are TLS")
    rc, out, err = e.dmctl("dm", "list")
    head = out.splitlines()[0].split() if out else []
    rows = {ln.split()[1]: ln.split()[head.index("TLS")]
            for ln in out.splitlines()[1:] if ln.startswith("tv ")} \
        if "TLS" in head else {}
    t.eq(rows, {"sec": "yes", "plain": "no"}, "and dmctl dm list too")
    sec, plain = tls_args(e, "tc", "tv")
    t.ok(sec.endswith(",token-secret=tok0,tls-creds=dm-model-tls") and
         "server-platform-id=ts," in sec and
         "tls-creds" not in plain and "server-platform-id=s2," in plain,
         "tls-creds=dm-model-tls on the TLS model's device only",
         (sec, plain))
    err_is(t, e.api("POST", "/v1/vms/tv/migrate", {"to": "c1"}), 409,
           "cannot run on client platform 'c1'",
           "migrating to a client without model TLS is 409")
    st, body = e.api("GET", "/v1/vms/tv")
    t.ok(body["state"] == "running" and body["client"] == "tc" and
         "tv" not in [v["id"] for v in
                      e.fake_get("c1", "/v1/vms")[1]["vms"]],
         "and it stays on tc", body)
    st, body = e.api("POST", "/v1/vms/tv/migrate", {"to": "tc2"})
    sec2, _ = tls_args(e, "tc2", "tv")
    t.ok(st == 200 and body["client"] == "tc2" and
         "tls-creds=dm-model-tls" in sec2,
         "migrating to another client with model TLS keeps tls-creds", body)
    e.api("POST", "/v1/vms/tv/stop", {"timeout": 0})
    e.api("DELETE", "/v1/vms/tv")


def tls_routed(e):
    """A TLS model behind an owner's router is refused."""
    e.api("POST", "/v1/vms", {"name": "tr", "devices": [
        {"name": "e", "model": "edu", "server": "ts", "via": "town"}]})
    err_is(t, e.api("POST", "/v1/vms/tr/start", {"client": "tc"}), 409,
           "VM 'tr': device 'e' is served over TLS by server 'ts' "
           "(model_tls), which the router of its owner 'town' cannot route",
           "a TLS model reached through an owner's router is 409")
    st, body = e.api("GET", "/v1/vms/tr")
    t.ok(body["state"] == "defined" and
         e.fake_get("ts", "/v1/instances")[1]["instances"] == [] and
         e.fake_get("town", "/v1/routes")[1]["routes"] == [] and
         "tr" not in [v["id"] for v in
                      e.fake_get("tc", "/v1/vms")[1]["vms"]],
         "its instance and route are undone, no QEMU started", body)
    e.api("DELETE", "/v1/vms/tr")


def tls_auto_client(e):
    """Without a named client, a VM whose model speaks TLS goes to a
    client with the credentials, even when a plain one is less loaded."""
    a0 = e.start_fake("a0", "client")
    e.api("POST", "/v1/platforms", {"name": "a0", "role": "client",
                                    "address": a0})
    e.api("POST", "/v1/vms", {"name": "ta", "devices": [
        {"name": "sec", "model": "edu", "server": "ts"}]})
    e.api("POST", "/v1/vms", {"name": "pa", "devices": [
        {"name": "p", "model": "edu", "server": "s2"}]})
    st, body = e.api("POST", "/v1/vms/ta/start")
    t.ok(st == 200 and body["client"] in ("tc", "tc2"),
         "a TLS VM goes to a client with model TLS, not the idle plain a0",
         body)
    st, body = e.api("POST", "/v1/vms/pa/start")
    t.ok(st == 200 and body["client"] == "a0",
         "a plain VM still goes to the least loaded client", body)
    for vm in ("ta", "pa"):
        e.api("POST", "/v1/vms/%s/stop" % vm, {"timeout": 0})
        e.api("DELETE", "/v1/vms/" + vm)
    e.api("DELETE", "/v1/platforms/a0")


def model_tls(e):
    for name, role, extra in (("tc", "client", ["--model-tls"]),
                              ("tc2", "client", ["--model-tls"]),
                              ("ts", "server", ["--model-tls",
                                                "--tcp-models"]),
                              ("town", "server", [])):
        models = ["--models", "edu"] if role == "server" else []
        addr = e.start_fake(name, role, *(extra + models))
        st, body = e.api("POST", "/v1/platforms", {
            "name": name, "role": role, "address": addr})
        t.ok(st == 201 and body["model_tls"] == bool(extra),
             "platform %s: model_tls %s from its launcher" %
             (name, bool(extra)), body)
    st, body = e.api("GET", "/v1/platforms/c1")
    t.ok(body["model_tls"] is False, "a launcher without model TLS: false",
         body)
    tls_start(e)
    tls_routed(e)
    tls_auto_client(e)


def migrate_tls(e):
    """A live migration over TCP between two clients with model TLS
    credentials is TLS: the target serves it, the source verifies it."""
    ports = {}
    for name in ("mt1", "mt2"):
        ports[name] = int(subprocess.check_output(
            [sys.executable, os.path.join(os.path.dirname(
                os.path.abspath(__file__)), "..", "free-port.py")]))
        e.start_fake(name, "client", "--model-tls", "--tcp-port",
                     str(ports[name]))
        st, body = e.api("POST", "/v1/platforms", {
            "name": name, "role": "client",
            "address": "tcp:127.0.0.1:%d" % ports[name]})
        t.ok(st == 201 and body["model_tls"], "platform %s on TCP with "
             "model TLS" % name, body)
    e.api("POST", "/v1/vms", {"name": "mtv", "devices": [
        {"name": "e", "model": "edu", "server": "s2"}]})
    st, body = e.api("POST", "/v1/vms/mtv/start", {"client": "mt1"})
    t.ok(st == 200, "a VM on mt1", body)
    st, body = e.api("POST", "/v1/vms/mtv/migrate", {"to": "mt2"})
    t.ok(st == 200 and body["client"] == "mt2", "migrated to mt2", body)
    tgt = [r["body"] for r in e.requests("mt2", "POST", "/v1/vms/mtv/qmp")]
    src = [r["body"] for r in e.requests("mt1", "POST", "/v1/vms/mtv/qmp")]
    uri = tgt[-1].get("arguments", {}).get("uri", "") if tgt else ""
    t.ok([q["execute"] for q in tgt] == ["migrate-set-parameters",
                                        "migrate-incoming"] and
         tgt[0]["arguments"]["tls-creds"] == "dm-migrate-tls" and
         uri.startswith("tcp:127.0.0.1:"),
         "the target serves the stream with tls-creds dm-migrate-tls",
         tgt)
    setp = [q for q in src if q["execute"] == "migrate-set-parameters"]
    t.ok([q["execute"] for q in src][:2] == ["migrate-set-parameters",
                                            "migrate"] and
         setp[0]["arguments"] == {"tls-creds": "dm-model-tls",
                                  "tls-hostname": "127.0.0.1"},
         "the source sends it with tls-creds dm-model-tls, checking the "
         "target's name", src)
    st, body = e.api("POST", "/v1/vms/mtv/migrate", {"to": "c1"})
    src = [r["body"] for r in e.requests("mt2", "POST", "/v1/vms/mtv/qmp")]
    tgt = [r["body"]["execute"] for r in
           e.requests("c1", "POST", "/v1/vms/mtv/qmp")]
    mig = [i for i, q in enumerate(src) if q["execute"] == "migrate"]
    t.ok(st == 200 and mig and src[mig[0] - 1] == {
        "execute": "migrate-set-parameters",
        "arguments": {"tls-creds": "", "tls-hostname": ""}} and
         "migrate-set-parameters" not in tgt,
         "to a client without credentials: plain, the source's TLS "
         "parameters cleared", (st, body, src, tgt))
    e.api("POST", "/v1/vms/mtv/stop", {"timeout": 0})
    e.api("DELETE", "/v1/vms/mtv")
    for name in ("mt1", "mt2"):
        e.api("DELETE", "/v1/platforms/" + name)


def mute_launcher(e):
    """A launcher that accepts and never answers delays only the calls
    that need it: calls on other VMs and platforms complete meanwhile."""
    for name, role in (("mute", "client"), ("ms", "server")):
        addr = e.start_fake(name, role, *(["--capacity", "8"]
                                          if role == "server" else []))
        e.api("POST", "/v1/platforms", {"name": name, "role": role,
                                        "address": addr})
    for vm, client in (("mv", "mute"), ("ov", "c1"), ("ov2", "c2")):
        e.api("POST", "/v1/vms", {"name": vm, "devices": [
            {"name": "e", "model": "edu", "server": "ms"}]})
        st, body = e.api("POST", "/v1/vms/%s/start" % vm, {"client": client})
        t.ok(st == 200, "mute: %s runs on %s" % (vm, client), body)
    e.api("POST", "/v1/vms", {"name": "nv", "devices": [
        {"name": "e", "model": "edu", "server": "ms"}]})
    e.fake_config("mute", mute=True)
    done = []
    waiting = threading.Thread(target=lambda: done.append(
        ("mv", e.api("POST", "/v1/vms/mv/suspend"))))
    waiting.start()
    wait_for(lambda: any(r["path"] == "/v1/vms/mv/qmp" for r in
                         e.requests("mute", "POST")),
             "the suspend reaching the mute launcher")
    for name, call in (
            ("a suspend on another client", ("POST", "/v1/vms/ov/suspend")),
            ("a stop on another client", ("POST", "/v1/vms/ov2/stop",
                                          {"timeout": 0})),
            ("a start on another client", ("POST", "/v1/vms/nv/start",
                                           {"client": "c2"})),
            ("a VM defined", ("POST", "/v1/vms", {"name": "dv"}))):
        st, body = e.api(*call)
        t.ok(st in (200, 201) and waiting.is_alive() and not done,
             "mute: %s completes while the mute one waits" % name,
             (st, body, done))
    e.fake_config("mute", mute=False)
    waiting.join(60)
    t.ok(done and done[0][1][0] == 200 and
         done[0][1][1]["state"] == "suspended",
         "mute: the waiting call completes once the launcher answers", done)
    for vm in ("mv", "ov", "nv"):
        e.api("POST", "/v1/vms/%s/stop" % vm, {"timeout": 0})
    for vm in ("mv", "ov", "ov2", "nv", "dv"):
        e.api("DELETE", "/v1/vms/" + vm)
    for name in ("mute", "ms"):
        e.api("DELETE", "/v1/platforms/" + name)


def redo_after_conflict(e):
    """A stop or a suspend whose launcher obeyed, then whose commit meets
    another writer's change of what it read (the client platform's
    document, changed while the launcher held its answer): its writes
    are made again on fresh reads, not answered 409 with the QEMU
    stopped and the VM still "running" in the store."""
    for name, role in (("rc", "client"), ("rs", "server")):
        addr = e.start_fake(name, role)
        e.api("POST", "/v1/platforms", {"name": name, "role": role,
                                        "address": addr})
    for vm, call, want in (("rv", "stop", "stopped"),
                           ("rp", "suspend", "suspended")):
        e.api("POST", "/v1/vms", {"name": vm, "devices": [
            {"name": "e", "model": "edu", "server": "rs"}]})
        st, body = e.api("POST", "/v1/vms/%s/start" % vm, {"client": "rc"})
        t.ok(st == 200, "redo: %s runs" % vm, body)
        before = len(e.requests("rc"))
        e.fake_config("rc", mute=True)
        done = []
        th = threading.Thread(target=lambda: done.append(e.api(
            "POST", "/v1/vms/%s/%s" % (vm, call), {"timeout": 0}
            if call == "stop" else None)))
        th.start()
        wait_for(lambda: len(e.requests("rc")) > before,
                 "the %s reaching the launcher" % call)
        key = "/dm/platforms/rc"
        doc = dict(store_docs(e, key))[key]
        doc["note"] = "changed by another writer"
        store_put(e, [(key, doc)])
        e.fake_config("rc", mute=False)
        th.join(60)
        st, body = done[0] if done else (None, None)
        t.ok(st == 200 and body["state"] == want and
             e.api("GET", "/v1/vms/" + vm)[1]["state"] == want and
             "written again after a conflict" in e.orch_log(),
             "redo: a %s that met a conflict after its launcher obeyed is "
             "written again: %s" % (call, want), (st, body))
    for vm in ("rv", "rp"):
        e.api("POST", "/v1/vms/%s/stop" % vm, {"timeout": 0})
        e.api("DELETE", "/v1/vms/" + vm)
    for name in ("rc", "rs"):
        e.api("DELETE", "/v1/platforms/" + name)


def huge_answers(e):
    """A launcher answering more than 4 MiB fails that call, with or
    without a Content-Length; one just under is still read."""
    addr = e.start_fake("big", "client")
    e.fake_config("big", huge_reply=4 * 1024 * 1024 - 64)
    st, body = e.api("POST", "/v1/platforms", {
        "name": "big", "role": "client", "address": addr})
    t.ok(st != 502, "an answer just under 4 MiB is read", body)
    e.api("DELETE", "/v1/platforms/big")
    for no_length in (False, True):
        e.fake_config("big", huge_reply=64 * 1024 * 1024,
                      huge_no_length=no_length)
        err_is(t, e.api("POST", "/v1/platforms", {
            "name": "big", "role": "client", "address": addr}), 502,
            "larger than" if no_length else "more than 4194304",
            "a 64 MiB answer (%s a Content-Length) fails the call with 502"
            % ("without" if no_length else "with"))
    t.eq(e.api("GET", "/v1/platforms/big")[0], 404, "  and adds nothing")


def launcher_models(e):
    """The models, their bus and their console property come from the
    launchers' health, not from a list of the orchestrator's."""
    err_is(t, e.api("POST", "/v1/vms", {"name": "w", "devices": [
        {"name": "d", "model": "wdt"}]}), 400,
        "unknown model 'wdt' (the server platforms offer: edu, edu-msix, "
        "uart16550)", "an unknown model is refused with the launchers' list")
    s7 = e.start_fake("s7", "server", "--models", "edu,wdt:isa:console")
    st, body = e.api("POST", "/v1/platforms", {
        "name": "s7", "role": "server", "address": s7})
    t.eq((st, body.get("models")), (201, ["edu", "wdt"]),
         "a server offering a model nobody else does is added")
    st, body = e.api("POST", "/v1/vms", {"name": "w", "devices": [
        {"name": "d", "model": "wdt"}, {"name": "e", "model": "edu",
                                        "server": "s7"}]})
    t.ok(st == 201 and [d["bus"] for d in body["devices"]] == ["isa", "pci"],
         "a device's bus is the one its launcher declares", body)
    err_is(t, e.api("POST", "/v1/vms", {"name": "w2", "devices": [
        {"name": "d", "model": "wdt"}, {"name": "u", "model": "uart16550"}]}),
        400, "device 'u': only one console device per VM",
        "a model with a console property is the VM's console: one per VM")
    st, body = e.api("POST", "/v1/vms/w/start")
    t.ok(st == 200 and body["devices"][0]["placed_on"] == "s7",
         "a model offered by one server only is placed there", body)
    post = e.requests("s7", "POST", "/v1/instances")[0]["body"]
    launch = e.requests(body.get("client", "c1"), "POST", "/v1/vms")[-1]
    args = " ".join(launch["body"]["args"])
    t.ok(post["model"] == "wdt" and post["console"] is True and
         "-serial none" in args and
         "bus=isa,server=" + body["devices"][0]["address"] in args,
         "its console property gives it a console, its bus the proxy's",
         (post, args))
    e.api("POST", "/v1/vms/w/stop", {"force": True})
    e.api("DELETE", "/v1/vms/w")
    t.eq(e.api("DELETE", "/v1/platforms/s7"), (200, {}),
         "DELETE /v1/platforms/s7")


def model_props(e):
    """A device's model properties: checked against the launchers'
    declaration, stored, shown, and handed to the launcher."""
    s8 = e.start_fake("s8", "server", "--models", "virtio-blk")
    st, body = e.api("POST", "/v1/platforms", {
        "name": "s8", "role": "server", "address": s8})
    t.eq(st, 201, "a server offering virtio-blk is added")
    for props, text in (
            (None, "device 'd': model 'virtio-blk' needs property 'file'"),
            ({"size": "1"}, "device 'd': model 'virtio-blk' has no property "
             "'size'"),
            ({"file": "a", "console": "x"}, "has no property 'console'"),
            ("file=a", "device 'd': 'props' must be an object"),
            ({"file": ["a"]}, "device 'd': property 'file' must be a string, "
             "a boolean or a number")):
        dev = {"name": "d", "model": "virtio-blk"}
        if props is not None:
            dev["props"] = props
        err_is(t, e.api("POST", "/v1/vms", {"name": "p", "devices": [dev]}),
               400, text, "props %r refused" % (props,))
    st, body = e.api("POST", "/v1/vms", {"name": "p", "devices": [
        {"name": "d", "model": "virtio-blk",
         "props": {"file": "p-data.img", "readonly": True}}]})
    t.ok(st == 201 and body["devices"][0]["props"] == {
        "file": "p-data.img", "readonly": "on"},
        "a device's props are stored as strings and shown", body)
    st, body = e.api("POST", "/v1/vms/p/start")
    post = e.requests("s8", "POST", "/v1/instances")[-1]["body"]
    t.ok(st == 200 and post["props"] == {"file": "p-data.img",
                                         "readonly": "on"},
         "the launcher gets the device's props", (st, post))
    st, body = e.api("GET", "/v1/dms")
    t.ok(st == 200 and [d["props"] for d in body["dms"]
                        if d["vm"] == "p"] == [{"file": "p-data.img",
                                                "readonly": "on"}],
         "GET /v1/dms shows them", body)
    e.api("POST", "/v1/vms/p/stop", {"force": True})
    e.api("DELETE", "/v1/vms/p")
    # A card on a server bridge: "bridge", or the tap=BRIDGE.
    s9 = e.start_fake("s9", "server", "--models", "virtio-net")
    t.eq(e.api("POST", "/v1/platforms", {
        "name": "s9", "role": "server", "address": s9})[0], 201,
        "a server offering virtio-net (with its launcher's bridge) is added")
    err_is(t, e.api("POST", "/v1/vms", {"name": "n", "devices": [
        {"name": "net0", "model": "virtio-net",
         "props": {"tap": "br0", "bridge": "br1"}}]}), 400,
        "device 'net0': 'tap' and 'bridge' both name the bridge: give one",
        "tap= and bridge= together refused")
    st, body = e.api("POST", "/v1/vms", {"name": "n", "devices": [
        {"name": "net0", "model": "virtio-net",
         "props": {"tap": "br0", "mac": "52:54:00:00:05:01"}}]})
    t.ok(st == 201 and body["devices"][0]["props"] == {
        "bridge": "br0", "mac": "52:54:00:00:05:01"},
        "tap=br0 is kept as bridge=br0 (the launcher makes the tap)", body)
    st, body = e.api("POST", "/v1/vms/n/start")
    post = e.requests("s9", "POST", "/v1/instances")[-1]["body"]
    t.ok(st == 200 and post["model"] == "virtio-net" and
         post["props"] == {"bridge": "br0", "mac": "52:54:00:00:05:01"},
         "the launcher is asked for a card on bridge br0", (st, post))
    e.api("POST", "/v1/vms/n/stop", {"force": True})
    e.api("DELETE", "/v1/vms/n")
    # queues=2 (dmctl's net0=virtio-net@s9,net=user,queues=2) passed on.
    st, body = e.api("POST", "/v1/vms", {"name": "q", "devices": [
        {"name": "net0", "model": "virtio-net", "server": "s9",
         "props": {"net": "user", "queues": 2}}]})
    t.ok(st == 201 and body["devices"][0]["props"] == {
        "net": "user", "queues": "2"}, "a card with queues=2 is defined",
        body)
    st, body = e.api("POST", "/v1/vms/q/start")
    post = e.requests("s9", "POST", "/v1/instances")[-1]["body"]
    t.ok(st == 200 and post["props"] == {"net": "user", "queues": "2"},
         "the launcher is asked for a card of two queue pairs", (st, post))
    e.api("POST", "/v1/vms/q/stop", {"force": True})
    e.api("DELETE", "/v1/vms/q")
    # A VM that boots from its disk: no kernel, bootindex on the disk.
    for boot in ("nope", "u"):
        err_is(t, e.api("POST", "/v1/vms", {"name": "b", "boot": boot,
                                            "devices": [
            {"name": "d", "model": "virtio-blk", "props": {"file": "b.img"}},
            {"name": "u", "model": "uart16550"}]}), 400,
            "'boot' must name one of the VM's PCI devices (a disk), not "
            "'%s'" % boot, "boot %r refused" % boot)
    t.eq(e.api("GET", "/v1/vms/b")[0], 404,
         "a refused VM leaves nothing behind")
    st, body = e.api("POST", "/v1/vms", {"name": "b", "boot": "d",
                                         "devices": [
        {"name": "d", "model": "virtio-blk", "props": {"file": "b.img"}}]})
    t.ok(st == 201 and body["boot"] == "d" and body["kernel"] is None,
         "a VM with a boot device and no kernel", body)
    st, body = e.api("POST", "/v1/vms/b/start")
    launch = e.requests(body.get("client", "c1"), "POST", "/v1/vms")[-1]
    args = launch["body"]["args"]
    t.ok(st == 200 and "-kernel" not in args and
         any(a.startswith("bus=pci,") and a.endswith(",bootindex=1")
             for a in remote_devices(args)),
         "its QEMU boots the firmware from the disk (bootindex=1)", args)
    e.api("POST", "/v1/vms/b/stop", {"force": True})
    e.api("DELETE", "/v1/vms/b")
    t.eq(e.api("DELETE", "/v1/platforms/s8"), (200, {}),
         "DELETE /v1/platforms/s8")


def paired_display(e):
    """A VM's display, keyboard and tablet: on one server (the launcher
    pairs them), the display's VNC address kept and shown."""
    models = "bochs-display,virtio-keyboard,virtio-tablet"
    for name in ("g1", "g2"):
        addr = e.start_fake(name, "server", "--models", models)
        t.eq(e.api("POST", "/v1/platforms", {
            "name": name, "role": "server", "address": addr})[0], 201,
            "server %s offering the display and inputs" % name)
    err_is(t, e.api("POST", "/v1/vms", {"name": "gv", "devices": [
        {"name": "gfx0", "model": "bochs-display", "server": "g1"},
        {"name": "kbd0", "model": "virtio-keyboard", "server": "g2"}]}),
        400, "a VM's display, keyboard and tablet go to one server",
        "display and keyboard pinned apart: refused")
    # The inputs unpinned and first: they follow the display's pin to
    # g2 (least loaded alone would take g1, first by name).
    st, body = e.api("POST", "/v1/vms", {"name": "gv", "devices": [
        {"name": "kbd0", "model": "virtio-keyboard"},
        {"name": "gfx0", "model": "bochs-display", "server": "g2"},
        {"name": "tablet0", "model": "virtio-tablet"}]})
    t.ok(st == 201 and body["vnc"] is None, "a VM with a display", body)
    st, body = e.api("POST", "/v1/vms/gv/start")
    on_g2 = [r["body"]["model"] for r in
             e.requests("g2", "POST", "/v1/instances")]
    t.ok(st == 200 and sorted(on_g2) == sorted(models.split(",")) and
         not e.requests("g1", "POST", "/v1/instances"),
         "display, keyboard and tablet placed together on g2", (st, on_g2))
    _, listed = e.fake_get("g2", "/v1/instances")
    vnc = [i["vnc"] for i in listed["instances"] if "vnc" in i]
    st, body = e.api("GET", "/v1/vms/gv")
    t.ok(st == 200 and len(vnc) == 1 and body["vnc"] == vnc[0] and
         [d["console"] for d in body["devices"]
          if d["name"] == "gfx0"] == vnc,
         "the VM shows its display's VNC address", (body, vnc))
    rc, out, err = e.dmctl("vm", "show", "gv")
    t.ok(rc == 0 and any(line.split() == ["vnc", vnc[0]]
                         for line in out.splitlines()),
         "dmctl vm show prints it", (rc, out, err))
    e.api("POST", "/v1/vms/gv/stop", {"force": True})
    st, body = e.api("GET", "/v1/vms/gv")
    t.ok(st == 200 and body["vnc"] is None, "stopped: no VNC display", body)
    e.api("DELETE", "/v1/vms/gv")
    for name in ("g1", "g2"):
        e.api("DELETE", "/v1/platforms/" + name)


def parallel_starts(e):
    """Starts sent at once to a server with room for fewer: exactly its
    capacity run, the others are refused with a message and leave
    nothing (a placement claims its slot before the model is launched;
    it was written after, and two starts took the same last slot)."""
    cap, n = 2, 5
    addr = e.start_fake("ps", "server", "--capacity", str(cap),
                        "--models", "race:pci")
    e.api("POST", "/v1/platforms", {"name": "ps", "role": "server",
                                    "address": addr})
    vms = ["par%d" % i for i in range(n)]
    for vm in vms:
        e.api("POST", "/v1/vms", {"name": vm, "devices": [
            {"name": "r", "model": "race"}]})
    # The launcher holds its answers: every start has chosen its server
    # (or been refused) before any launch completes.
    e.fake_config("ps", mute=True)
    done = {}

    def start(vm):
        done[vm] = e.api("POST", "/v1/vms/%s/start" % vm, {"client": "c1"})
    threads = [threading.Thread(target=start, args=(vm,)) for vm in vms]
    for th in threads:
        th.start()
    wait_for(lambda: len(done) + len(e.requests(
        "ps", "POST", "/v1/instances")) >= n,
        "every start refused or at the launcher", timeout=120)
    st, dms = e.api("GET", "/v1/dms")
    claimed = [d for d in dms["dms"] if d["server"] == "ps"]
    t.ok(len(claimed) == cap and all(
        d["state"] == "launching" and d["address"] is None
        for d in claimed),
        "parallel starts: while the launches wait, the claims show as "
        "launching, with no address yet", dms)
    e.fake_config("ps", mute=False)
    for th in threads:
        th.join(120)
    ran = sorted(vm for vm, (st, _) in done.items() if st == 200)
    refused = sorted(set(vms) - set(ran))
    t.eq(len(ran), cap, "parallel starts: as many run as the server has "
         "room for")
    t.ok(len(done) == n and all(
        done[vm][0] == 409 and "every server offering model 'race' is "
        "full" in done[vm][1].get("error", "") for vm in refused),
        "parallel starts: the others are 409, the server full", done)
    st, listed = e.fake_get("ps", "/v1/instances")
    t.eq(len(listed["instances"]), cap,
         "parallel starts: the launcher runs only the placed models")
    t.eq(len(e.requests("ps", "POST", "/v1/instances")), cap,
         "parallel starts: no launch was tried for a refused start")
    st, body = e.api("GET", "/v1/platforms/ps")
    t.eq(body["running"], cap, "parallel starts: the server's placements")
    shown = {vm: e.api("GET", "/v1/vms/" + vm)[1] for vm in vms}
    t.ok(all(shown[vm]["state"] == "defined" and
             shown[vm]["devices"][0]["instance"] is None for vm in refused)
         and all(shown[vm]["state"] == "running" for vm in ran),
         "parallel starts: a refused VM is defined, with no placement",
         shown)
    # A launch that fails after its claim gives the slot back.
    e.api("POST", "/v1/vms/%s/stop" % ran[0], {"timeout": 0})
    e.fake_config("ps", instance_reply={"address": "nonsense"})
    err_is(t, e.api("POST", "/v1/vms/%s/start" % refused[0],
                    {"client": "c1"}), 502, "no usable address",
           "parallel starts: a launch that fails is 502")
    st, body = e.api("GET", "/v1/platforms/ps")
    t.eq(body["running"], cap - 1, "parallel starts: its claim is released")
    e.fake_config("ps", instance_reply={})
    st, body = e.api("POST", "/v1/vms/%s/start" % refused[0],
                     {"client": "c1"})
    t.eq(st, 200, "parallel starts: the slot freed is taken by the next")
    err_is(t, e.api("POST", "/v1/vms/%s/start" % refused[1],
                    {"client": "c1"}), 409, "is full",
           "parallel starts: and the server is full again")
    for vm in vms:
        e.api("POST", "/v1/vms/%s/stop" % vm, {"timeout": 0})
        e.api("DELETE", "/v1/vms/" + vm)
    t.eq(e.api("DELETE", "/v1/platforms/ps"), (200, {}),
         "parallel starts: the server is left unused")


def last_slot_starts(e):
    """Two starts at once where one server has one free slot and is the
    first choice of both: one takes it, the other is placed elsewhere
    (another server with room) or, with no room anywhere, 409; never
    two on the last slot, never a 502 from a full launcher."""
    a1 = e.start_fake("ls1", "server", "--capacity", "2",
                      "--models", "last:pci")
    a2 = e.start_fake("ls2", "server", "--capacity", "4",
                      "--models", "last:pci")
    for name, addr in (("ls1", a1), ("ls2", a2)):
        e.api("POST", "/v1/platforms", {"name": name, "role": "server",
                                        "address": addr})
    # ls1 at 1 of 2 and ls2 at 2 of 4: the same share, ls1 has fewer
    # used, so an unpinned start chooses ls1 first.
    pre = {"lpre1": "ls1", "lpre2": "ls2", "lpre3": "ls2"}
    for vm, server in pre.items():
        e.api("POST", "/v1/vms", {"name": vm, "devices": [
            {"name": "r", "model": "last", "server": server}]})
        e.api("POST", "/v1/vms/%s/start" % vm, {"client": "c1"})
    vms = ["lw1", "lw2", "lw3", "lw4"]
    for vm in vms:
        e.api("POST", "/v1/vms", {"name": vm, "devices": [
            {"name": "r", "model": "last"}]})

    def race(pair):
        """Start @pair at once, the launchers holding their answers
        until both have chosen (or been refused)."""
        done = {}
        before = sum(len(e.requests(s, "POST", "/v1/instances"))
                     for s in ("ls1", "ls2"))
        for s in ("ls1", "ls2"):
            e.fake_config(s, mute=True)

        def start(vm):
            done[vm] = e.api("POST", "/v1/vms/%s/start" % vm,
                             {"client": "c1"})
        threads = [threading.Thread(target=start, args=(vm,))
                   for vm in pair]
        for th in threads:
            th.start()
        wait_for(lambda: len(done) + sum(
            len(e.requests(s, "POST", "/v1/instances"))
            for s in ("ls1", "ls2")) - before >= len(pair),
            "both starts refused or at a launcher", timeout=120)
        for s in ("ls1", "ls2"):
            e.fake_config(s, mute=False)
        for th in threads:
            th.join(120)
        return done

    def placed_on(vm):
        return e.api("GET", "/v1/vms/" + vm)[1]["devices"][0]["placed_on"]

    done = race(vms[:2])
    t.ok(all(st == 200 for st, _ in done.values()) and
         sorted(placed_on(vm) for vm in vms[:2]) == ["ls1", "ls2"],
         "last slot: of two starts choosing one free slot, one takes it "
         "and the other is placed on the next server", done)
    t.eq([e.api("GET", "/v1/platforms/" + s)[1]["running"]
          for s in ("ls1", "ls2")], [2, 3],
         "last slot: the first server full, not over")
    e.api("POST", "/v1/vms", {"name": "lpin", "devices": [
        {"name": "r", "model": "last", "server": "ls1"}]})
    err_is(t, e.api("POST", "/v1/vms/lpin/start", {"client": "c1"}), 409,
           "device 'r': server 'ls1' is full",
           "last slot: a start pinned to the full server is 409")
    e.api("DELETE", "/v1/vms/lpin")
    # One slot left in the fleet (on ls2): one start runs, one is 409.
    done = race(vms[2:])
    codes = sorted(st for st, _ in done.values())
    refused = [body for st, body in done.values() if st != 200]
    t.ok(codes == [200, 409] and "is full" in refused[0].get("error", ""),
         "last slot: with one slot left, one start runs and the other is "
         "409, every server full", done)
    t.eq(len(e.fake_get("ls2", "/v1/instances")[1]["instances"]), 4,
         "last slot: the launcher runs its capacity, no launch refused")
    for vm in list(pre) + vms:
        e.api("POST", "/v1/vms/%s/stop" % vm, {"timeout": 0})
        e.api("DELETE", "/v1/vms/" + vm)
    for s in ("ls1", "ls2"):
        t.eq(e.api("DELETE", "/v1/platforms/" + s), (200, {}),
             "last slot: %s left unused" % s)


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
    e.api("POST", "/v1/vms", {"name": "orphan", "devices": [
        {"name": "a", "model": "uart16550"}]})
    for p in ("s1", "s2", "s5"):
        t.eq(e.api("DELETE", "/v1/platforms/" + p), (200, {}),
             "DELETE /v1/platforms/" + p)
    err_is(t, e.api("POST", "/v1/vms/orphan/start"), 409,
           "no server platform offers model 'uart16550'",
           "a model offered nowhere is 409")


def file_modes(path):
    """The permission bits of PATH and its SQLite side files."""
    return {suffix: os.stat(path + suffix).st_mode & 0o777
            for suffix in ("", "-wal", "-shm")
            if os.path.exists(path + suffix)}


def persistence(e):
    if not e.etcd:
        modes = file_modes(e.db)
        t.ok(set(modes) == {"", "-wal", "-shm"} and
             set(modes.values()) == {0o600},
             "the database and its -wal and -shm files are 0600", modes)
    else:
        t.ok(not os.path.exists(e.db), "on etcd, no database file is made")
        t.eq(vm_names(e), sorted(v["name"] for v in
                                 e.api("GET", "/v1/vms")[1]["vms"]),
             "on etcd, the VMs are its keys /dm/vms/NAME")
    before = e.api("GET", "/v1/vms")[1], e.api("GET", "/v1/platforms")[1]
    rc = e.stop_orch()
    t.ok(rc == 0 and not os.path.exists(e.sock),
         "SIGTERM stops it and removes its socket", rc)
    e.start_orch()
    after = e.api("GET", "/v1/vms")[1], e.api("GET", "/v1/platforms")[1]
    t.eq(after, before, "platforms and VMs survive a restart")


def store_down(e):
    """etcd gone: what cannot be read is 503 with the store's words, not
    404 as if absent; back, the same answers as before."""
    d = os.environ["ORCH_TEST_ETCD_DIR"]
    names = sorted(v["name"] for v in e.api("GET", "/v1/vms")[1]["vms"])
    vm = names[0]
    with open(os.path.join(d, "etcd.pid")) as f:
        pid = int(f.read())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not os.path.exists("/proc/%d" % pid) or
             open("/proc/%d/stat" % pid).read().split()[2] == "Z",
             "etcd gone")
    for call in (("GET", "/v1/vms/" + vm), ("GET", "/v1/vms"),
                 ("POST", "/v1/vms/%s/start" % vm, {})):
        st, body = e.api(*call)
        t.ok(st == 503 and ("the store could not be read" in body["error"]
                            or "leads" in body["error"]),
             "etcd down: %s %s is 503, not absent" % call[:2], (st, body))
    subprocess.run([os.path.join(d, "start-etcd.sh")], check=True,
                   timeout=60)
    wait_for(lambda: e.api("GET", "/v1/vms")[0] == 200, "etcd back")
    t.eq(sorted(v["name"] for v in e.api("GET", "/v1/vms")[1]["vms"]),
         names, "etcd back: the same VMs")


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
        os.chmod(path, 0o644)
        e2 = Env(e.build)
        e2.db = path
        try:
            e2.start_orch()
            st, body = e2.api("GET", "/v1/vms")
            names = [v["name"] for v in body["vms"]]
            t.eq(names, ["old"] if version else [],
                 "a version %d database is served" % version)
            t.eq(set(file_modes(path).values()), {0o600},
                 "  and made 0600 (with its side files)")
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
        t.ok(uv == 7 and "events" in tables,
             "version %d is migrated to 7" % version, (uv, tables))
    migration_from_2(e)
    migration_from_3(e)
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


# Version 2 exactly as db.c's first two steps made it.
SCHEMA_2 = """
CREATE TABLE platforms (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL CHECK (role IN ('client', 'server')),
  address TEXT NOT NULL,
  capacity INTEGER NOT NULL DEFAULT 0 CHECK (capacity >= 0), hypervisor TEXT);
CREATE TABLE platform_models (platform_id INTEGER NOT NULL
  REFERENCES platforms(id) ON DELETE CASCADE, model TEXT NOT NULL,
  PRIMARY KEY (platform_id, model));
CREATE TABLE vms (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
  uuid TEXT NOT NULL UNIQUE, memory TEXT NOT NULL,
  kernel TEXT, initrd TEXT, append TEXT,
  state TEXT NOT NULL DEFAULT 'defined' CHECK (state IN
    ('defined', 'running', 'suspended', 'stopped', 'migrating')),
  client_id INTEGER REFERENCES platforms(id), hypervisor TEXT);
CREATE TABLE devices (id INTEGER PRIMARY KEY,
  vm_id INTEGER NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
  name TEXT NOT NULL, model TEXT NOT NULL,
  bus TEXT NOT NULL CHECK (bus IN ('pci', 'isa')),
  server_id INTEGER REFERENCES platforms(id),
  restart TEXT NOT NULL CHECK (restart IN ('never', 'on-failure')),
  UNIQUE (vm_id, name));
CREATE TABLE placements (id INTEGER PRIMARY KEY,
  device_id INTEGER NOT NULL UNIQUE REFERENCES devices(id) ON DELETE CASCADE,
  server_id INTEGER NOT NULL REFERENCES platforms(id),
  instance TEXT NOT NULL UNIQUE, address TEXT NOT NULL, token TEXT NOT NULL,
  console TEXT, state TEXT NOT NULL);
ALTER TABLE vms ADD COLUMN extra_args TEXT NOT NULL DEFAULT '[]';
CREATE TABLE events (id INTEGER PRIMARY KEY,
  time TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
  vm TEXT NOT NULL, message TEXT NOT NULL);
PRAGMA user_version = 2;
"""


def migration_from_2(e):
    path = os.path.join(e.tmp, "old2.sqlite")
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_2)
    db.executescript(
        "PRAGMA foreign_keys = ON;"
        "INSERT INTO platforms VALUES (1, 'c1', 'client', 'unix:/nonexistent"
        "/c1.sock', 4, 'c1-qemu'), (2, 's1', 'server', 'unix:/nonexistent/"
        "s1.sock', 4, NULL);"
        "INSERT INTO platform_models VALUES (2, 'edu');"
        "INSERT INTO vms (id, name, uuid, memory, state, client_id, "
        "hypervisor, extra_args) VALUES (7, 'old', 'u-7', '64M', 'running', "
        "1, 'c1-qemu', '[\"-smp\", \"2\"]'), (8, 'idle', 'u-8', '32M', "
        "'defined', NULL, NULL, '[]');"
        "INSERT INTO devices VALUES (3, 7, 'e', 'edu', 'pci', NULL, 'never');"
        "INSERT INTO placements VALUES (1, 3, 2, 'inst-1', 'unix:/x.sock', "
        "'tok', NULL, 'running');"
        "INSERT INTO events (vm, message) VALUES ('old', 'started on c1');")
    db.commit()
    db.close()
    e2 = Env(e.build)
    e2.db = path
    try:
        e2.start_orch()
        st, body = e2.api("GET", "/v1/vms/old")
        t.ok(st == 200 and body["state"] == "running" and
             body["client"] == "c1" and body["args"] == ["-smp", "2"] and
             body["saved_file"] is None and
             body["devices"][0]["instance"] == "inst-1" and
             body["devices"][0]["placed_on"] == "s1",
             "a version 2 database is served with its rows intact (its "
             "unreachable launchers leave them as they are)", body)
        log = e2.orch_log()
        t.ok("platform c1:" in log and "left as they are" in log and
             "left running" in log,
             "reconcile warns about the launchers that do not answer", log)

        def old_events():
            st, body = e2.api("GET", "/v1/events")
            return [x["id"] for x in body.get("events", [])
                    if (x["vm"], x["message"]) == ("old", "started on c1")]
        first = old_events()
        t.eq(len(first), 1, "its event is served from the store, where the "
             "first start copied the tables")
        e2.stop_orch()
        e2.start_orch()
        t.eq(old_events(), first, "a second start copies nothing again")
    finally:
        e2.cleanup()
    db = sqlite3.connect(path)
    uv = db.execute("PRAGMA user_version").fetchone()[0]
    rows = [db.execute("SELECT count(*) FROM " + x).fetchone()[0] for x in
            ("platforms", "platform_models", "vms", "devices", "placements",
             "events")]
    fk = db.execute("PRAGMA foreign_key_check").fetchall()
    db.execute("UPDATE vms SET state = 'saved', saved_file = '/x' "
               "WHERE name = 'idle'")
    try:
        db.execute("UPDATE vms SET state = 'bogus' WHERE name = 'idle'")
        check = "accepted"
    except sqlite3.IntegrityError as ex:
        check = str(ex)
    db.close()
    t.eq((uv, rows, fk), (7, [2, 1, 2, 1, 1, 1], []),
         "version 2 is migrated to 7: every row kept, foreign keys intact")
    t.ok("CHECK" in check, "the state CHECK allows 'saved', not 'bogus'",
         check)


# Version 3 exactly as db.c's first three steps made it.
SCHEMA_3 = SCHEMA_2.replace("PRAGMA user_version = 2;", """
CREATE TABLE vms_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
  uuid TEXT NOT NULL UNIQUE, memory TEXT NOT NULL,
  kernel TEXT, initrd TEXT, append TEXT,
  state TEXT NOT NULL DEFAULT 'defined' CHECK (state IN
    ('defined', 'running', 'suspended', 'stopped', 'migrating', 'saved')),
  client_id INTEGER REFERENCES platforms(id), hypervisor TEXT,
  extra_args TEXT NOT NULL DEFAULT '[]', saved_file TEXT);
INSERT INTO vms_new (id, name, uuid, memory, kernel, initrd, append, state,
  client_id, hypervisor, extra_args) SELECT id, name, uuid, memory, kernel,
  initrd, append, state, client_id, hypervisor, extra_args FROM vms;
DROP TABLE vms;
ALTER TABLE vms_new RENAME TO vms;
PRAGMA user_version = 3;
""")


def migration_from_3(e):
    path = os.path.join(e.tmp, "old3.sqlite")
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_3)
    db.executescript(
        "PRAGMA foreign_keys = ON;"
        "INSERT INTO platforms VALUES (1, 'c1', 'client', 'unix:/nonexistent"
        "/c1.sock', 4, 'c1-qemu'), (2, 's1', 'server', 'unix:/nonexistent/"
        "s1.sock', 4, NULL);"
        "INSERT INTO platform_models VALUES (2, 'edu'), (2, 'uart16550');"
        "INSERT INTO vms (id, name, uuid, memory, state, saved_file) VALUES "
        "(7, 'kept', 'u-7', '64M', 'saved', '/x/kept.vmstate');"
        "INSERT INTO devices VALUES (3, 7, 'e', 'edu', 'pci', 2, 'never'),"
        " (5, 7, 'con', 'uart16550', 'isa', 2, 'never');"
        "INSERT INTO placements VALUES (1, 3, 2, 'inst-1', 'tcp:h:1', "
        "'tok', NULL, 'running');")
    db.commit()
    db.close()
    e2 = Env(e.build)
    e2.db = path
    try:
        e2.start_orch(["--no-reconcile"])
        st, body = e2.api("GET", "/v1/vms/kept")
        d = body["devices"][0] if st == 200 else {}
        t.ok(body["state"] == "saved" and
             body["saved_file"] == "/x/kept.vmstate" and
             (d["server"], d["via"], d["placed_on"], d["instance"],
              d["address"], d["route"]) ==
             ("s1", None, "s1", "inst-1", "tcp:h:1", None),
             "a version 3 database is served with its rows intact, no "
             "device routed", body)
    finally:
        e2.cleanup()
    db = sqlite3.connect(path)
    uv = db.execute("PRAGMA user_version").fetchone()[0]
    rows = [db.execute("SELECT count(*) FROM " + x).fetchone()[0] for x in
            ("platforms", "platform_models", "vms", "devices", "placements")]
    fk = db.execute("PRAGMA foreign_key_check").fetchall()
    cols = db.execute("SELECT d.via_id, p.route_id, p.route_address FROM "
                      "devices d JOIN placements p ON p.device_id = d.id"
                      ).fetchall()
    tls = db.execute("SELECT name, model_tls FROM platforms ORDER BY name"
                     ).fetchall()
    decls = db.execute("SELECT model, bus, json_extract(props, '$[0].name')"
                       " FROM platform_models ORDER BY model").fetchall()
    consoles = db.execute("SELECT name, console FROM devices ORDER BY name"
                          ).fetchall()
    props = db.execute("SELECT DISTINCT props FROM devices").fetchall()
    db.execute("UPDATE placements SET route_id = 'r' WHERE id = 1")
    db.execute("INSERT INTO vms (id, name, uuid, memory) VALUES "
               "(8, 'v8', 'u-8', '1M')")
    db.execute("INSERT INTO devices VALUES (4, 8, 'e', 'edu', 'pci', NULL, "
               "'never', NULL, 0, '{}')")
    try:
        db.execute("INSERT INTO placements VALUES (2, 4, 2, 'inst-2', "
                   "'tcp:h:2', 'tok', NULL, 'running', 'r', 'x')")
        unique = "accepted"
    except sqlite3.IntegrityError as ex:
        unique = str(ex)
    db.close()
    t.eq((uv, rows, fk, cols),
         (7, [2, 2, 1, 2, 1], [], [(None, None, None)]),
         "version 3 is migrated to 7: every row kept, the new columns empty")
    t.eq(props, [("{}",)], "devices from before have no props")
    t.eq(tls, [("c1", 0), ("s1", 0)],
         "version 4 to 5: platforms without model TLS")
    t.eq((decls, consoles),
         ([("edu", "pci", None), ("uart16550", "isa", "console")],
          [("con", 1), ("e", 0)]),
         "version 5 to 6: the models' declarations and the console device "
         "as the orchestrator's own list had them")
    t.ok("UNIQUE" in unique, "a route id belongs to one placement", unique)


def main():
    e = Env(sys.argv[1])

    def checks():
        e.start_orch()
        for part in (platforms, vms, start, console_and_dms, lifecycle,
                     events, restore, routes, model_tls, migrate_tls,
                     mute_launcher,
                     redo_after_conflict,
                     huge_answers,
                     launcher_models,
                     model_props,
                     paired_display,
                     parallel_starts,
                     last_slot_starts,
                     half_writes,
                     persistence):
            part(e)
        # SQLite's schema migrations: its files alone.
        if not e.etcd:
            migration(e)
        else:
            store_down(e)
    return e.run(t, checks)


if __name__ == "__main__":
    sys.exit(main())
