# Helpers of the orchestrator's tests: TAP output, processes that die with
# the test, HTTP over UNIX sockets, a dm-orchestrator and fake launchers
# in a temporary directory.
import ctypes
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"
PR_SET_PDEATHSIG = 1


def _die_with_parent():
    libc = ctypes.CDLL(None)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, detail=""):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, name))
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, name))
            for line in str(detail).splitlines()[:20]:
                print("#   " + line)
        sys.stdout.flush()
        return cond

    def eq(self, got, want, name):
        return self.ok(got == want, name, "got %r, wanted %r" % (got, want))

    def done(self):
        print("1..%d" % self.n)
        return 1 if self.failed else 0


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=60)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(self.unix_path)


def http_call(sock, method, path, body=None, raw=None):
    """(status, parsed JSON or None) of METHOD PATH on a UNIX socket."""
    conn = UnixHTTPConnection(sock)
    data = raw if raw is not None else (
        json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": "application/json"} if data else {}
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    text = resp.read()
    conn.close()
    try:
        return resp.status, json.loads(text) if text else None
    except ValueError:
        return resp.status, {"_raw": text.decode(errors="replace")}


def unix_accepts(path):
    """Whether something accepts connections on the UNIX socket PATH."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_for(cond, what, timeout=20):
    """Poll @cond (bounded); raise if it never holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise RuntimeError("timed out waiting for " + what)


def post_events(db_path, events):
    """EVENTS, (vm, message) pairs, put in the orchestrator's store (the kv
    table of its database file) as another writer's, in one transaction:
    keys and revisions as orchestrator/store-events.c and store-sqlite.c
    write them.  The orchestrator's next event takes the next free id."""
    import sqlite3
    db = sqlite3.connect(db_path, timeout=30)
    with db:
        rev = db.execute("SELECT revision FROM kv_revision").fetchone()[0] + 1
        last = db.execute("SELECT key FROM kv WHERE key >= '/dm/events/' "
                          "AND key < '/dm/events0' ORDER BY key DESC "
                          "LIMIT 1").fetchone()
        first = int(last[0].rsplit("/", 1)[1]) + 1 if last else 1
        db.executemany("INSERT INTO kv VALUES (?, ?, ?, ?)", [
            ("/dm/events/%020d" % (first + i),
             json.dumps({"id": first + i, "time": time.strftime(
                 "%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "vm": vm,
                 "message": message}), rev, rev)
            for i, (vm, message) in enumerate(events)])
        db.execute("UPDATE kv_revision SET revision = ?", (rev,))
    db.close()


def set_vm(db_path, vm, **members):
    """MEMBERS of VM's document set by hand, as another writer: in the
    orchestrator's store (the kv table of its database file, with a new
    revision), which holds the VMs (docs/scale-out.md)."""
    import sqlite3
    db = sqlite3.connect(db_path, timeout=30)
    key = "/dm/vms/" + vm
    with db:
        rev = db.execute("SELECT revision FROM kv_revision").fetchone()[0] + 1
        doc = json.loads(db.execute("SELECT value FROM kv WHERE key = ?",
                                    (key,)).fetchone()[0])
        doc.update(members)
        db.execute("UPDATE kv SET value = ?, mod_rev = ? WHERE key = ?",
                   (json.dumps(doc), rev, key))
        db.execute("UPDATE kv_revision SET revision = ?", (rev,))
    db.close()


def vm_names(db_path):
    """The names of the VMs in the orchestrator's store (its kv table)."""
    import sqlite3
    db = sqlite3.connect(db_path, timeout=30)
    with db:
        rows = db.execute("SELECT key FROM kv WHERE key >= '/dm/vms/' AND "
                          "key < '/dm/vms0' ORDER BY key").fetchall()
    db.close()
    return [r[0][len("/dm/vms/"):] for r in rows]


class Env:
    """A temporary directory with an orchestrator and fake launchers."""

    def __init__(self, build):
        self.build = os.path.abspath(build)
        self.meson = os.environ.get("ORCH_MESON_BUILD") or os.path.join(
            self.build, "meson")
        self.orch_bin = os.path.join(self.meson, "orchestrator",
                                     "dm-orchestrator")
        self.dmctl_bin = os.path.join(self.meson, "orchestrator", "dmctl")
        self.tmp = tempfile.mkdtemp(prefix="dm-orch-")
        self.procs = []
        self.orch = None
        self.sock = os.path.join(self.tmp, "orch.sock")
        self.db = os.path.join(self.tmp, "db.sqlite")
        self.fakes = {}

    def spawn(self, argv, log):
        f = open(os.path.join(self.tmp, log), "ab")
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT,
                             preexec_fn=_die_with_parent)
        self.procs.append(p)
        return p

    def start_orch(self, extra=()):
        self.orch = self.spawn([self.orch_bin, "--db", self.db, "--listen",
                                "unix:" + self.sock, "-v"] + list(extra),
                               "orch.log")
        # Until it accepts: its socket file appears at bind(), a moment
        # before listen().
        wait_for(lambda: unix_accepts(self.sock) or
                 self.orch.poll() is not None, "the orchestrator")
        if self.orch.poll() is not None:
            raise RuntimeError("orchestrator died: " + self.orch_log())

    def stop_orch(self):
        self.orch.send_signal(signal.SIGTERM)
        rc = self.orch.wait(timeout=20)
        self.procs.remove(self.orch)
        return rc

    def orch_log(self):
        with open(os.path.join(self.tmp, "orch.log"), errors="replace") as f:
            return f.read()

    def start_fake(self, name, role, *extra):
        sock = os.path.join(self.tmp, name + ".sock")
        state = os.path.join(self.tmp, name + ".state")
        log = os.path.join(self.tmp, name + ".requests")
        p = self.spawn([PY, os.path.join(HERE, "fake-launcher.py"),
                        "--socket", sock, "--role", role, "--platform", name,
                        "--state", state, "--log", log] + list(extra),
                       name + ".log")
        wait_for(lambda: os.path.exists(sock) or p.poll() is not None,
                 "fake launcher " + name)
        self.fakes[name] = {"sock": sock, "state": state, "log": log,
                            "proc": p}
        return "unix:" + sock

    def requests(self, name, method=None, prefix=""):
        """What fake launcher NAME was asked, oldest first."""
        out = []
        try:
            with open(self.fakes[name]["log"]) as f:
                for line in f:
                    r = json.loads(line)
                    if ((method is None or r["method"] == method) and
                            r["path"].startswith(prefix)):
                        out.append(r)
        except FileNotFoundError:
            pass
        return out

    def fake_config(self, name, **kw):
        return http_call(self.fakes[name]["sock"], "POST", "/_fake", kw)

    def fake_get(self, name, path):
        return http_call(self.fakes[name]["sock"], "GET", path)

    def api(self, method, path, body=None, raw=None):
        return http_call(self.sock, method, path, body, raw)

    def dmctl(self, *argv, stdin=None, env_sock=False):
        env = dict(os.environ)
        if env_sock:
            env["DMCTL_ORCHESTRATOR"] = "unix:" + self.sock
            args = [self.dmctl_bin] + list(argv)
        else:
            env.pop("DMCTL_ORCHESTRATOR", None)
            args = [self.dmctl_bin, "--orchestrator",
                    "unix:" + self.sock] + list(argv)
        p = subprocess.run(args, input=stdin, capture_output=True,
                           timeout=60, env=env, preexec_fn=_die_with_parent)
        return p.returncode, p.stdout.decode(errors="replace"), \
            p.stderr.decode(errors="replace")

    def run(self, t, body):
        """Run body(), report an exception as a failed check, clean up;
        the TAP exit status."""
        try:
            body()
        except Exception:
            import traceback
            t.ok(False, "the test ran to its end", traceback.format_exc() +
                 "\n" + self.orch_log()[-3000:])
        finally:
            self.cleanup()
        return t.done()

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        if os.environ.get("ORCH_KEEP_TMP"):
            print("# kept " + self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
