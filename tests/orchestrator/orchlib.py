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


# The store a test's orchestrator runs on: ORCH_TEST_STORE=etcd:URL (set
# by with-etcd.sh) puts it on that etcd, else on SQLite in its own file.
# The helpers below take the Env (or a database's path: SQLite) and read
# or write its store's keys as another writer would.

def _etcd(where):
    """The etcd gateway's URL of WHERE (an Env), or None for SQLite."""
    url = getattr(where, "etcd", None)
    return url.split(",")[0] if url else None


def _db(where):
    return where if isinstance(where, str) else where.db


def _b64(text):
    import base64
    return base64.b64encode(text.encode()).decode()


def _unb64(text):
    import base64
    return base64.b64decode(text).decode()


def etcd_tls_files():
    """(CA, certificate, key) of with-etcd.sh --tls's client, or None."""
    certs = os.environ.get("ORCH_TEST_CERTS")
    if not certs:
        return None
    d = os.path.join(certs, "client")
    return (os.path.join(d, "ca-cert.pem"), os.path.join(d, "client-cert.pem"),
            os.path.join(d, "client-key.pem"))


def etcd_call(url, path, body):
    """One call of etcd's v3 JSON gateway; its answer."""
    import urllib.request
    ctx = None
    files = etcd_tls_files()
    if url.startswith("https:") and files:
        import ssl
        ctx = ssl.create_default_context(cafile=files[0])
        ctx.load_cert_chain(files[1], files[2])
    with urllib.request.urlopen(url + path, json.dumps(body).encode(),
                                timeout=30, context=ctx) as f:
        return json.loads(f.read())


def _prefix_end(prefix):
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def store_docs(where, prefix):
    """(key, document) of every key under PREFIX, in key order."""
    url = _etcd(where)
    if url:
        kvs = etcd_call(url, "/v3/kv/range", {
            "key": _b64(prefix), "range_end": _b64(_prefix_end(prefix))
        }).get("kvs", [])
        return [(_unb64(kv["key"]), json.loads(_unb64(kv.get("value", ""))))
                for kv in kvs]
    import sqlite3
    db = sqlite3.connect(_db(where), timeout=30)
    with db:
        rows = db.execute("SELECT key, value FROM kv WHERE key >= ? AND "
                          "key < ? ORDER BY key",
                          (prefix, _prefix_end(prefix))).fetchall()
    db.close()
    return [(k, json.loads(v)) for k, v in rows]


def _sqlite_put(where, docs):
    """DOCS, (key, document) pairs, written in one transaction with a new
    revision, as orchestrator/store-sqlite.c writes them."""
    import sqlite3
    db = sqlite3.connect(_db(where), timeout=30)
    with db:
        rev = db.execute("SELECT revision FROM kv_revision").fetchone()[0] + 1
        for key, doc in docs:
            old = db.execute("SELECT create_rev FROM kv WHERE key = ?",
                             (key,)).fetchone()
            db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?, ?, ?)",
                       (key, json.dumps(doc), old[0] if old else rev, rev))
        db.execute("UPDATE kv_revision SET revision = ?", (rev,))
    db.close()


def store_put(where, docs):
    """DOCS, (key, document) pairs, written in one transaction."""
    url = _etcd(where)
    if not url:
        return _sqlite_put(where, docs)
    etcd_call(url, "/v3/kv/txn", {"success": [
        {"request_put": {"key": _b64(k), "value": _b64(json.dumps(d))}}
        for k, d in docs]})


def post_events(where, events):
    """EVENTS, (vm, message) pairs, put in the orchestrator's store as
    another writer's, in one transaction: keys as orchestrator/
    store-events.c writes them.  The orchestrator's next event takes the
    next free id."""
    have = store_docs(where, "/dm/events/")
    first = int(have[-1][0].rsplit("/", 1)[1]) + 1 if have else 1
    store_put(where, [
        ("/dm/events/%020d" % (first + i),
         {"id": first + i, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                 time.gmtime()),
          "vm": vm, "message": message})
        for i, (vm, message) in enumerate(events)])


def set_vm(where, vm, **members):
    """MEMBERS of VM's document set by hand, as another writer, in the
    orchestrator's store, which holds the VMs (docs/scale-out.md)."""
    key = "/dm/vms/" + vm
    doc = dict(store_docs(where, key))[key]
    doc.update(members)
    store_put(where, [(key, doc)])


def vm_names(where):
    """The names of the VMs in the orchestrator's store."""
    return [k[len("/dm/vms/"):] for k, _ in store_docs(where, "/dm/vms/")]


def store_events(where):
    """The events' documents in the orchestrator's store, oldest first."""
    return [d for _, d in store_docs(where, "/dm/events/")]


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
        store = os.environ.get("ORCH_TEST_STORE", "")
        self.etcd = store[5:] if store.startswith("etcd:") else None
        self.fakes = {}

    def spawn(self, argv, log):
        f = open(os.path.join(self.tmp, log), "ab")
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT,
                             preexec_fn=_die_with_parent)
        self.procs.append(p)
        return p

    def store_args(self):
        """Where the orchestrator keeps its store: the test's etcd (with a
        save directory, which there is no database's to default to) or
        its own database file."""
        if self.etcd:
            tls = []
            files = etcd_tls_files()
            if self.etcd.startswith("https:") and files:
                tls = ["--store-ca", files[0], "--store-cert", files[1],
                       "--store-key", files[2]]
            return ["--store", "etcd:" + self.etcd, "--save-dir",
                    os.path.join(self.tmp, "saved")] + tls
        return ["--db", self.db]

    def start_orch(self, extra=()):
        self.orch = self.spawn([self.orch_bin] + self.store_args() +
                               ["--listen", "unix:" + self.sock, "-v"] +
                               list(extra), "orch.log")
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
        try:
            with open(os.path.join(self.tmp, "orch.log"),
                      errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

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


def main_on_etcd(t, checks):
    """The exit status of CHECKS(Env) run on the test's etcd
    (with-etcd.sh's ORCH_TEST_STORE), or a TAP skip without one."""
    if not os.environ.get("ORCH_TEST_STORE", "").startswith("etcd:"):
        print("1..0 # SKIP needs ORCH_TEST_STORE=etcd:URL (with-etcd.sh)")
        return 0
    e = Env(sys.argv[1])
    return e.run(t, lambda: checks(e))
