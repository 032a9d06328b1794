#!/usr/bin/python3
# The control plane's security review (issue 22 point 5), the
# orchestrator's side, against fake launchers:
#  - names from the API (VMs, devices, platforms, and paths naming them)
#    that could leave a directory or add an option to a command line are
#    refused, and nothing reaches a launcher;
#  - the tokens it makes for each device travel to the launchers only:
#    not in its log (at -v), not on any process's command line, not in
#    the events (the table, the API), the VM's description, /metrics or
#    dmctl's output;
#  - over TLS with the web console's login token, every endpoint of
#    openapi.json refuses a caller with neither a client certificate nor
#    the token (401), and a wrong token; the certificate is served; the
#    token and the server's key are not in the log.
# TAP output.
#   test-security.py BUILD
import glob
import http.client
import json
import os
import sqlite3
import ssl
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from orchlib import Env, Tap, vm_names, wait_for  # noqa: E402

t = Tap()

# "a\x00b" travels as "a\u0000b": json-glib ended the string at the NUL
# and "a" was defined (common/json-limits.c: dm_json_check_nul).
BAD_NAMES = ["..", ".", "../x", "a/b", "a,b", "a b", "a\nb", "a=b", "",
             "x" * 65, "\u00e9t\u00e9", "a;b", "$(x)", "a\x00b"]


def names(e):
    c1 = e.start_fake("c1", "client")
    s1 = e.start_fake("s1", "server")
    e.api("POST", "/v1/platforms", {"name": "c1", "role": "client",
                                    "address": c1})
    e.api("POST", "/v1/platforms", {"name": "s1", "role": "server",
                                    "address": s1})
    for bad in BAD_NAMES:
        st, body = e.api("POST", "/v1/vms", {"name": bad, "devices": [
            {"name": "d", "model": "edu"}]})
        t.ok(st == 400, "VM name %r: 400" % bad, (st, body))
        st, body = e.api("POST", "/v1/vms", {"name": "v", "devices": [
            {"name": bad, "model": "edu"}]})
        t.ok(st == 400, "device name %r: 400" % bad, (st, body))
        st, body = e.api("POST", "/v1/platforms", {
            "name": bad, "role": "server", "address": s1})
        t.ok(st == 400, "platform name %r: 400" % bad, (st, body))
    # A model's name goes into dm-remote's --model=: only the catalogue's.
    st, body = e.api("POST", "/v1/vms", {"name": "vmodel", "devices": [
        {"name": "d", "model": "edu --listen=tcp:0.0.0.0:1"}]})
    t.ok(st == 400, "a model name with an option in it: 400", (st, body))
    for path in ["/v1/vms/..", "/v1/vms/%2e%2e", "/v1/vms/..%2f..%2fetc",
                 "/v1/vms/a%2cb/start", "/v1/platforms/..%2fc1"]:
        st, body = e.api("GET" if "start" not in path else "POST", path)
        t.ok(st in (400, 404), "a name in the path, %s: 400 or 404" % path,
             (st, body))
    st, body = e.api("GET", "/v1/vms")
    t.eq(body["vms"], [], "no VM was defined by any of them")
    t.eq(e.requests("s1", "POST") + e.requests("c1", "POST"), [],
         "no launcher was asked anything")


def tokens(e):
    st, body = e.api("POST", "/v1/vms", {"name": "vm1", "devices": [
        {"name": "console", "model": "uart16550"},
        {"name": "edu0", "model": "edu"}]})
    t.eq(st, 201, "a VM with two devices")
    st, body = e.api("POST", "/v1/vms/vm1/start", {"client": "c1"})
    t.ok(st == 200 and body["state"] == "running", "...started", body)
    toks = [r["body"]["token"] for r in e.requests("s1", "POST",
                                                   "/v1/instances")]
    t.ok(len(toks) == 2 and all(len(x) == 32 for x in toks),
         "each device got its token, sent to the server launcher", toks)
    files = e.requests("c1", "POST", "/v1/vms")[0]["body"]["files"]
    t.eq(sorted(files.values()), sorted(toks),
         "...and to the client launcher as files")
    # Something else of each kind happens: a stop, a refused call.
    e.api("POST", "/v1/vms/vm1/stop")
    e.api("POST", "/v1/vms/vm1/start", {"client": "c1"})

    def has_token(text):
        return [x for x in toks if x in text]

    st, ev = e.api("GET", "/v1/events")
    t.ok(st == 200 and len(json.dumps(ev)) > 100 and
         not has_token(json.dumps(ev)),
         "GET /v1/events holds none of the tokens", ev)
    st, ev = e.api("GET", "/v1/vms/vm1/events")
    t.ok(st == 200 and not has_token(json.dumps(ev)),
         "GET /v1/vms/vm1/events neither")
    st, vm = e.api("GET", "/v1/vms/vm1")
    t.ok(st == 200 and not has_token(json.dumps(vm)),
         "nor the VM's description", vm)
    st, dms = e.api("GET", "/v1/dms")
    t.ok(st == 200 and not has_token(json.dumps(dms)), "nor /v1/dms")
    rc, out, err = e.dmctl("vm", "show", "vm1")
    t.ok(rc == 0 and not has_token(out + err), "nor dmctl vm show",
         (rc, out, err))
    # The events themselves, read in the database file (the store's kv
    # table, orchestrator/store-events.c).
    db = sqlite3.connect(e.db)
    try:
        rows = db.execute("SELECT * FROM kv WHERE key >= '/dm/events/' "
                          "AND key < '/dm/events0'").fetchall()
    finally:
        db.close()
    t.ok(rows and not has_token(repr(rows)),
         "the stored events hold none of them (%d)" % len(rows))
    t.ok(not has_token(e.orch_log()) and "POST" in e.orch_log(),
         "the orchestrator's log (-v, requests logged) holds none")
    ps = []
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(path, "rb") as f:
                text = f.read().decode(errors="replace")
        except OSError:
            continue
        if has_token(text):
            ps.append(path)
    t.eq(ps, [], "no process's command line holds one (/proc/*/cmdline)")


def tls_every_endpoint(e):
    e.stop_orch()
    certs = os.path.join(e.tmp, "certs")
    subprocess.run([os.path.join(HERE, "..", "net", "make-certs.sh"), certs],
                   check=True, capture_output=True)
    tokfile = os.path.join(e.tmp, "token")
    token = "the-login-token-of-the-web-1234"
    with open(tokfile, "w") as f:
        f.write(token + "\n")
    web = os.path.join(e.tmp, "web")
    os.makedirs(web)
    with open(os.path.join(web, "index.html"), "w") as f:
        f.write("<!DOCTYPE html><title>x</title>\n")
    port = int(subprocess.check_output(
        [sys.executable, os.path.join(HERE, "..", "free-port.py")]))
    e.orch = e.spawn([e.orch_bin, "--db", e.db, "--listen",
                      "tcp:127.0.0.1:%d" % port, "--tls-creds",
                      certs + "/server", "--web", web, "--web-token-file",
                      tokfile, "-v"], "orch.log")
    wait_for(lambda: "serving the web console" in e.orch_log(),
             "the orchestrator over TLS")

    def call(method, path, cert=False, headers=None):
        ctx = ssl.create_default_context(cafile=certs + "/server/ca-cert.pem")
        if cert:
            ctx.load_cert_chain(certs + "/client/client-cert.pem",
                                certs + "/client/client-key.pem")
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=30,
                                           context=ctx)
        body = b"{}" if method in ("POST", "PUT") else None
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        r.read()
        conn.close()
        return r.status

    st = call("GET", "/v1/openapi.json", cert=True)
    t.eq(st, 200, "the certificate is served (the control)")
    with open(os.path.join(HERE, "..", "..", "orchestrator",
                           "openapi.json")) as f:
        spec = json.load(f)
    n = 0
    for path, methods in sorted(spec["paths"].items()):
        if path == "/login":
            continue            # the way to the token: open by design
        concrete = path.replace("{name}", "vm1")
        for method in sorted(methods):
            if method not in ("get", "post", "put", "delete", "patch"):
                continue
            m = method.upper()
            st = call(m, concrete)
            st_wrong = call(m, concrete, headers={
                "Authorization": "Bearer " + token[:-1] + "x",
                "Cookie": "dm-web-token=" + token[:-1] + "x"})
            t.ok(st == 401 and st_wrong == 401,
                 "%s %s: 401 without credentials, 401 with a wrong token"
                 % (m, concrete), (st, st_wrong))
            n += 1
    t.ok(n >= 20, "every endpoint of openapi.json was tried (%d)" % n)
    # The server's private key and the login token: read from files,
    # never logged (-v logs each refusal above).
    with open(certs + "/server/server-key.pem") as f:
        key_lines = [x for x in f.read().splitlines()
                     if x and not x.startswith("-----")]
    log = e.orch_log()
    t.ok("refused" in log and token not in log and
         not [x for x in key_lines if len(x) >= 16 and x in log],
         "neither the login token nor a line of the server's key is in "
         "the log", ("refused" in log, token in log,
                     [x for x in key_lines if x in log], log[-2000:]))
    t.eq(vm_names(e.db), ["vm1"],
         "none of those calls changed the database")


def main():
    e = Env(sys.argv[1])

    def body():
        e.start_orch()
        names(e)
        tokens(e)
        tls_every_endpoint(e)
    return e.run(t, body)


sys.exit(main())
