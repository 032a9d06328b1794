#!/usr/bin/python3
# dmctl against dm-orchestrator and fake launchers: every command with
# good and bad input, exit statuses, tables, --json, the migration and
# save progress lines, save/restore and the console.  TAP output.
#   test-dmctl.py BUILD
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from orchlib import Env, Tap, http_call, unix_accepts, wait_for  # noqa: E402,E501

t = Tap()


def run(t, e, argv, rc, out="", err="", name=None, **kw):
    got = e.dmctl(*argv, **kw)
    name = name or "dmctl " + " ".join(argv)
    t.ok(got[0] == rc and out in got[1] and err in got[2], name,
         "got %r, wanted status %d, '%s' / '%s'" % (got, rc, out, err))
    return got


def usage(e):
    run(t, e, ["--help"], 0, "Usage: dmctl")
    for cmd in (["platform", "add"], ["platform", "list"],
                ["platform", "remove"], ["vm", "create"], ["vm", "start"],
                ["vm", "stop"], ["vm", "suspend"], ["vm", "resume"],
                ["vm", "migrate"], ["vm", "save"], ["vm", "restore"],
                ["vm", "list"], ["vm", "show"],
                ["dm", "list"], ["console"]):
        run(t, e, cmd + ["--help"], 0, "Usage: dmctl " + " ".join(cmd))
    run(t, e, [], 2, err="a command is required")
    run(t, e, ["frob"], 2, err="unknown command 'frob'")
    run(t, e, ["--bogus", "vm", "list"], 2, err="unknown option '--bogus'")
    run(t, e, ["vm", "list", "--bogus"], 2, err="unknown option '--bogus'")
    run(t, e, ["vm", "show"], 2, err="a name is required")
    run(t, e, ["vm", "show", "a", "b"], 2, err="unexpected argument 'b'")
    run(t, e, ["platform", "add", "x", "--role", "gpu", "--address",
               "unix:/x"], 2, err="--role must be client or server")
    run(t, e, ["platform", "add", "x", "--role", "client"], 2,
        err="--role and --address are required")
    run(t, e, ["platform", "add", "x", "--role", "server", "--address",
               "unix:/x", "--capacity", "lots"], 2,
        err="--capacity must be a number")
    run(t, e, ["vm", "create", "v", "--device", "edu"], 2,
        err="bad --device 'edu'")
    for spec in ("x=edu,via=", "x=edu,", "x=edu@,via=o", "x=edu,via=a,via=b",
                 "x=,via=o", "x=@s1,via=o", "x=edu,a=1,a=2", "x=edu,=1",
                 "x=edu,a="):
        run(t, e, ["vm", "create", "v", "--device", spec], 2,
            err="bad --device '%s' (expected NAME=MODEL[@SERVER][,via=OWNER]"
            "[,PROP=VALUE]...)" % spec)
    run(t, e, ["vm", "create", "--help"], 0, "[,via=OWNER]",
        name="vm create --help documents via=")
    run(t, e, ["vm", "migrate", "v"], 2, err="--to is required")
    run(t, e, ["vm", "stop", "v", "--timeout", "-1"], 2,
        err="--timeout must be a number")
    run(t, e, ["vm", "start", "v", "--on"], 2, err="needs a value")
    run(t, e, ["vm", "save"], 2, err="a name is required")
    run(t, e, ["vm", "save", "v", "--file"], 2, err="needs a value")
    run(t, e, ["vm", "save", "v", "--to", "x"], 2,
        err="unknown option '--to'")
    run(t, e, ["vm", "restore", "v", "w"], 2, err="unexpected argument 'w'")
    run(t, e, ["vm", "restore", "v", "--file", "/x"], 2,
        err="unknown option '--file'")
    rc, out, err = e.dmctl_raw(["--orchestrator", "ftp:x", "vm", "list"])
    t.ok(rc == 2 and "bad address" in err, "a bad --orchestrator is usage",
         (rc, err))
    rc, out, err = e.dmctl_raw(["--orchestrator",
                                "unix:" + e.tmp + "/none.sock", "vm",
                                "list"])
    t.ok(rc == 1 and "cannot reach the orchestrator" in err,
         "an unreachable orchestrator is status 1", (rc, err))


def orchestrator_cli(e):
    for argv, rc, text in ((["--help"], 0, "Usage: dm-orchestrator"),
                           (["--bogus"], 2, "unknown option '--bogus'"),
                           (["--listen", "ftp:x"], 2, "--listen: bad address"),
                           (["--listen"], 2, "needs a value"),
                           (["extra"], 2, "unexpected argument 'extra'"),
                           (["--save-dir"], 2, "needs a value"),
                           (["--save-dir", "/a,b"], 2,
                            "--save-dir needs a path without a comma"),
                           (["--help"], 0, "--no-reconcile"),
                           (["--store", "sqlite:"], 2,
                            "--store sqlite: need a path"),
                           (["--store", "mysql:x"], 2,
                            "wanted sqlite:PATH or etcd:URL"),
                           (["--store", "etcd:ftp://h:1"], 2,
                            "wanted http(s)://HOST:PORT"),
                           (["--store", "etcd:http://127.0.0.1:1"], 2,
                            "needs --save-dir (a directory the client "
                            "platforms share)"),
                           (["--db", e.tmp + "/x.sqlite", "--store",
                             "etcd:http://127.0.0.1:1", "--save-dir",
                             e.tmp], 2, "keeps no SQLite file: not with "
                            "--db or --import-into"),
                           (["--store", "etcd:http://127.0.0.1:1",
                             "--import-into", "sqlite:" + e.tmp + "/y",
                             "--save-dir", e.tmp], 2,
                            "keeps no SQLite file"),
                           (["--leader-ttl", "1"], 2,
                            "invalid --leader-ttl '1' (2..60)"),
                           (["--advertise", "unix:/x"], 2,
                            "--advertise needs --store etcd:"),
                           (["--store", "etcd:http://127.0.0.1:1",
                             "--save-dir", e.tmp, "--advertise", "ftp:x"],
                            2, "--advertise: bad address"),
                           # Nothing answers on port 1: said, exit 1.
                           (["--store", "etcd:http://127.0.0.1:1",
                             "--save-dir", e.tmp, "--listen",
                             "unix:" + e.tmp + "/none.sock"], 1,
                            "the store etcd:http://127.0.0.1:1: "),
                           (["--help"], 0, "--import-into=SPEC"),
                           (["--db", e.tmp + "/imp.sqlite",
                             "--import-into", "nosuch:x"], 1,
                            "wanted sqlite:PATH or etcd:URL")):
        p = subprocess.run([e.orch_bin] + argv, capture_output=True,
                           timeout=30)
        out = (p.stdout + p.stderr).decode()
        t.ok(p.returncode == rc and text in out,
             "dm-orchestrator " + " ".join(argv), (p.returncode, out))

    # --store sqlite:PATH is --db PATH: the file is made and answers.
    db = os.path.join(e.tmp, "store.sqlite")
    sock = os.path.join(e.tmp, "store.sock")
    p = e.spawn([e.orch_bin, "--store", "sqlite:" + db, "--listen",
                 "unix:" + sock], "store.log")
    wait_for(lambda: unix_accepts(sock) or p.poll() is not None,
             "the orchestrator on --store sqlite:")
    status, body = http_call(sock, "GET", "/v1/platforms")
    t.ok(status == 200 and body == {"platforms": []} and
         os.path.exists(db),
         "dm-orchestrator --store sqlite:PATH", (status, body))
    p.terminate()
    p.wait(timeout=20)
    e.procs.remove(p)


def platforms(e):
    c1 = e.start_fake("c1", "client")
    c2 = e.start_fake("c2", "client")
    s1 = e.start_fake("s1", "server")
    run(t, e, ["platform", "add", "c1", "--role", "client", "--address", c1],
        0, "platform c1: client at " + c1)
    run(t, e, ["platform", "add", "c2", "--role", "client", "--address", c2],
        0)
    run(t, e, ["platform", "add", "s1", "--role", "server", "--address", s1,
               "--capacity", "3", "--models", "edu,uart16550"], 0,
        env_sock=True, name="platform add with DMCTL_ORCHESTRATOR")
    run(t, e, ["platform", "add", "s1", "--role", "server", "--address", s1],
        1, err="dmctl: platform 's1' exists")
    rc, out, err = run(t, e, ["platform", "list"], 0)
    lines = out.splitlines()
    t.ok(lines[0].split() == ["NAME", "ROLE", "ADDRESS", "CAPACITY",
                              "RUNNING", "MODEL-TLS", "MODELS"] and
         lines[3].split() == ["s1", "server", s1, "3", "0", "no",
                              "edu,uart16550"]
         and lines[0].index("ROLE") == lines[3].index("server"),
         "platform list is an aligned table", out)
    rc, out, err = run(t, e, ["--json", "platform", "list"], 0)
    t.eq([p["name"] for p in json.loads(out)["platforms"]],
         ["c1", "c2", "s1"], "--json prints the API's JSON")
    run(t, e, ["platform", "remove", "nope"], 1,
        err="dmctl: no platform 'nope'")


def vms(e):
    run(t, e, ["vm", "create", "vm1", "--memory", "128M", "--kernel", "/k",
               "--append", "console=ttyS0", "--device",
               "console=uart16550@s1", "--device", "edu0=edu,dma_mask=0xff",
               "--restart", "on-failure"], 0, "vm1: defined")
    run(t, e, ["vm", "create", "bad", "--device", "x=edu,flag"], 1,
        err="device 'x': model 'edu' has no property 'flag'")
    run(t, e, ["vm", "create", "vm1"], 1, err="dmctl: VM 'vm1' exists")
    run(t, e, ["vm", "create", "bad", "--device", "x=gpu"], 1,
        err="unknown model 'gpu'")
    rc, out, err = run(t, e, ["vm", "list"], 0)
    t.ok(out.splitlines()[1].split() == [
        "vm1", "defined", "-", "128M", "console=uart16550,edu0=edu"],
        "vm list", out)
    rc, out, err = run(t, e, ["vm", "show", "vm1"], 0, "memory      128M")
    rows = [ln.split()[:5] for ln in out.splitlines()]
    t.ok(["console", "uart16550", "-", "isa", "s1"] in rows and
         ["edu0", "edu", "dma_mask=0xff", "pci", "-"] in rows,
         "vm show lists devices with their properties", out)
    run(t, e, ["vm", "show", "nope"], 1, err="dmctl: no VM 'nope'")
    run(t, e, ["vm", "suspend", "vm1"], 1,
        err="dmctl: cannot suspend VM 'vm1': it is defined")
    run(t, e, ["vm", "start", "vm1", "--on", "c2"], 0, "vm1: running on c2")
    req = e.requests("s1", "POST", "/v1/instances")
    t.eq([r["body"]["restart"] for r in req], ["on-failure"] * 2,
         "--restart reaches the launcher")
    rc, out, err = run(t, e, ["dm", "list"], 0)
    rows = [ln.split() for ln in out.splitlines()]
    t.ok(rows[0][:6] == ["VM", "DEVICE", "MODEL", "PROPS", "SERVER",
                         "STATE"] and
         rows[1][:6] == ["vm1", "console", "uart16550", "-", "s1",
                         "running"] and
         rows[2][:4] == ["vm1", "edu0", "edu", "dma_mask=0xff"],
         "dm list", out)
    run(t, e, ["vm", "suspend", "vm1"], 0, "vm1: suspended on c2")
    run(t, e, ["vm", "resume", "vm1"], 0, "vm1: running on c2")
    # The source holds the migration "active" until dmctl has shown it.
    e.fake_config("c2", migrate_hold=True)
    errf = os.path.join(e.tmp, "migrate.err")
    with open(errf, "wb") as f:
        p = subprocess.Popen([e.dmctl_bin, "--orchestrator", "unix:" + e.sock,
                              "vm", "migrate", "vm1", "--to", "c1"],
                             stdout=subprocess.PIPE, stderr=f)
        try:
            wait_for(lambda: b"migrating to c1: active, 75% (0 of 0 MiB)"
                     in open(errf, "rb").read(), "a progress line")
            t.ok(True, "vm migrate shows progress lines")
        except RuntimeError:
            t.ok(False, "vm migrate shows progress lines",
                 open(errf, "rb").read())
        e.fake_config("c2", migrate_hold=False)
        out = p.communicate(timeout=60)[0].decode()
    t.ok(p.returncode == 0 and "vm1: running on c1" in out,
         "vm migrate --to", (p.returncode, out))
    run(t, e, ["vm", "migrate", "vm1", "--to", "c1"], 1,
        err="already runs on 'c1'")


def routes(e):
    own = e.start_fake("own", "server")
    run(t, e, ["platform", "add", "own", "--role", "server", "--address",
               own, "--models", "edu"], 0)
    run(t, e, ["vm", "create", "rv", "--device", "e=edu,via=c1"], 1,
        err="dmctl: device 'e': 'c1' is a client platform, not a server")
    run(t, e, ["vm", "create", "rv", "--device", "e=edu,via=nope"], 1,
        err="dmctl: device 'e': no platform 'nope'")
    run(t, e, ["vm", "create", "rv", "--device", "e=edu@s1,via=own",
               "--device", "f=edu,via=own"], 0, "rv: defined")
    rc, out, err = run(t, e, ["--json", "vm", "show", "rv"], 0)
    t.eq([(d["name"], d["server"], d["via"]) for d in
          json.loads(out)["devices"]], [("e", "s1", "own"),
                                        ("f", None, "own")],
         "--device NAME=MODEL[@SERVER],via=OWNER reaches the API")
    run(t, e, ["vm", "start", "rv", "--on", "c2"], 0, "rv: running on c2")
    router = "unix:%s/router.sock" % e.fakes["own"]["state"]
    rc, out, err = run(t, e, ["vm", "show", "rv"], 0)
    rows = [ln.split() for ln in out.splitlines() if ln.startswith("e ")]
    head = [ln.split() for ln in out.splitlines()
            if ln.startswith("DEVICE")]
    t.ok(head and head[0][:9] == ["DEVICE", "MODEL", "PROPS", "BUS",
                                  "PINNED", "VIA", "SERVER", "ADDRESS",
                                  "ROUTE"] and
         rows and rows[0][:6] == ["e", "edu", "-", "pci", "s1", "own"] and
         rows[0][8] == router, "vm show has VIA and ROUTE columns", out)
    rc, out, err = run(t, e, ["dm", "list"], 0)
    t.ok(any(ln.split()[:2] == ["rv", "e"] and "own" in ln.split() and
             router in ln.split() for ln in out.splitlines()),
         "dm list shows the owner and the route", out)
    t.eq([(d["name"], d["placed_on"], d["via"]) for d in
          json.loads(e.dmctl("--json", "vm", "show", "rv")[1])["devices"]],
         [("e", "s1", "own"), ("f", "own", "own")],
         "an owner may host a model it routes to as well")
    run(t, e, ["platform", "remove", "own"], 1,
        err="dmctl: platform 'own' is in use by 1 running VM(s) or device")
    run(t, e, ["vm", "stop", "rv"], 0, "rv: stopped")
    run(t, e, ["platform", "remove", "own"], 1,
        err="is the owner server ('via') of 2 device(s)")
    run(t, e, ["vm", "remove", "rv"], 0)
    run(t, e, ["platform", "remove", "own"], 0)


def save_restore(e):
    want = os.path.join(e.tmp, "saved", "vm1.vmstate")
    run(t, e, ["vm", "save", "vm1", "--file", "/srv/x"], 1,
        err="dmctl: 'file' must be a file name in the save directory")
    run(t, e, ["vm", "restore", "vm1"], 1,
        err="dmctl: cannot restore VM 'vm1': it is running")
    e.fake_config("c1", migrate_hold=True)
    errf = os.path.join(e.tmp, "save.err")
    with open(errf, "wb") as f:
        p = subprocess.Popen([e.dmctl_bin, "--orchestrator", "unix:" + e.sock,
                              "vm", "save", "vm1"],
                             stdout=subprocess.PIPE, stderr=f)
        line = ("saving to %s: active" % want).encode()
        try:
            wait_for(lambda: line in open(errf, "rb").read(),
                     "a save progress line")
            t.ok(True, "vm save shows progress lines")
        except RuntimeError:
            t.ok(False, "vm save shows progress lines",
                 open(errf, "rb").read())
        e.fake_config("c1", migrate_hold=False)
        out = p.communicate(timeout=60)[0].decode()
    t.ok(p.returncode == 0 and "vm1: saved to " + want in out,
         "vm save", (p.returncode, out))
    rc, out, err = run(t, e, ["vm", "show", "vm1"], 0, "state       saved")
    t.ok("saved_file  " + want in out, "vm show gives the saved file", out)
    run(t, e, ["vm", "start", "vm1"], 1, err="(restore it")
    run(t, e, ["vm", "restore", "vm1", "--on", "c2"], 0,
        "vm1: running on c2")
    rc, out, err = run(t, e, ["--json", "vm", "save", "vm1", "--file",
                              "x.state"], 0)
    t.eq(json.loads(out)["saved_file"],
         os.path.join(e.tmp, "saved", "x.state"),
         "vm save --file, --json")
    e.fake_config("c1", migrate_hold=True)
    errf = os.path.join(e.tmp, "restore.err")
    with open(errf, "wb") as f:
        p = subprocess.Popen([e.dmctl_bin, "--orchestrator", "unix:" + e.sock,
                              "vm", "restore", "vm1", "--on", "c1"],
                             stdout=subprocess.PIPE, stderr=f)
        try:
            wait_for(lambda: b"restoring on c1: active" in
                     open(errf, "rb").read(), "a restore progress line")
            t.ok(True, "vm restore shows progress lines")
        except RuntimeError:
            t.ok(False, "vm restore shows progress lines",
                 open(errf, "rb").read())
        e.fake_config("c1", migrate_hold=False)
        out = p.communicate(timeout=60)[0].decode()
    t.ok(p.returncode == 0 and "vm1: running on c1" in out,
         "vm restore --on", (p.returncode, out))


def console(e):
    rc, out, err = e.dmctl("console", "vm1", stdin=b"hello\n")
    t.ok(rc == 0 and "console of " in out and "echo:hello" in out,
         "console relays both ways (stdin EOF ends it)", (rc, out, err))
    rc, out, err = e.dmctl("console", "vm1", stdin=b"typed\x1dlost\n")
    t.ok(rc == 0 and "echo:lost" not in out,
         "Ctrl-] detaches", (rc, out, err))
    run(t, e, ["console", "nope"], 1, err="dmctl: no VM 'nope'")


def stop(e):
    run(t, e, ["vm", "stop", "vm1", "--timeout", "5"], 0, "vm1: stopped")
    run(t, e, ["vm", "stop", "vm1"], 1, err="it is stopped")
    run(t, e, ["console", "vm1"], 1, err="has no running remote UART")
    run(t, e, ["vm", "remove", "vm1"], 0)
    run(t, e, ["vm", "list"], 0, "NAME")
    run(t, e, ["platform", "remove", "s1"], 0)
    rc, out, err = run(t, e, ["--json", "platform", "list"], 0)
    t.eq([p["name"] for p in json.loads(out)["platforms"]], ["c1", "c2"],
         "platform remove")


def main():
    e = Env(sys.argv[1])

    def dmctl_raw(argv):
        p = subprocess.run([e.dmctl_bin] + argv, capture_output=True,
                           timeout=60)
        return p.returncode, p.stdout.decode(), p.stderr.decode()
    e.dmctl_raw = dmctl_raw

    def checks():
        e.start_orch()
        for part in (orchestrator_cli, usage, platforms, vms, routes,
                     save_restore, console, stop):
            part(e)
    return e.run(t, checks)


if __name__ == "__main__":
    sys.exit(main())
