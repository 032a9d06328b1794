#!/usr/bin/python3
# dm-orchestrator's descriptions of itself: /v1/openapi.json against the
# routes server.c registers (every route documented, every documented
# route answers: not a 404 "no such endpoint", not a 405), and /metrics
# (Prometheus text format 0.0.4: VMs and device models by state, API
# calls by route and status) after calls against the fake launchers.
# TAP output.
#   test-openapi.py BUILD
import json
import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from orchlib import Env, Tap, http_call  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "..", "orchestrator")
t = Tap()


def registered():
    """(METHOD, PATH) of every route server.c answers, in OpenAPI form."""
    with open(os.path.join(SRC, "server.c")) as f:
        src = f.read()
    out = set()
    for m, pat in re.findall(r'\{ "(GET|POST|DELETE)", "([^"]+)", '
                             r'orch_\w+, (?:true|false) \}', src):
        # A wildcard after "devices" is a device, any other one a name.
        segs = pat.split("/")
        segs = [("{device}" if i and segs[i - 1] == "devices" else
                 "{name}") if x == "*" else x for i, x in enumerate(segs)]
        out.add((m, "/v1/" + "/".join(segs)))
    # The paths served before the table: the stream, the login, metrics.
    for path in re.findall(r'strcmp\(path, "(/[^"]*)"\) == 0', src):
        methods = {"/login": ("GET", "POST")}.get(path, ("GET",))
        for m in methods:
            out.add((m, path))
    # The console's and the screen's WebSockets, on their own paths
    # (console-ws.c, display-ws.c).
    for name, macro in (("console-ws.c", "CONSOLE_WS_PREFIX"),
                        ("display-ws.c", "DISPLAY_WS_PREFIX")):
        with open(os.path.join(SRC, name)) as f:
            prefix = re.search(r'#define %s "([^"]+)"' % macro,
                               f.read()).group(1)
        out.add(("GET", prefix + "{name}"))
    return out


def raw(sock, method, path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sock)
    s.sendall(("%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               "Content-Length: 0\r\n\r\n" % (method, path)).encode())
    data = b""
    while b"\r\n\r\n" not in data:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    return int(data.split()[1]), data


def refs(node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                out.append(v)
            else:
                refs(v, out)
    elif isinstance(node, list):
        for v in node:
            refs(v, out)
    return out


def openapi(e):
    with open(os.path.join(SRC, "openapi.json")) as f:
        doc = json.load(f)
    st, served = e.api("GET", "/v1/openapi.json")
    t.ok(st == 200 and served == doc,
         "/v1/openapi.json is orchestrator/openapi.json", st)
    t.ok(doc["openapi"].startswith("3.0.") and doc["info"]["title"],
         "an OpenAPI 3.0 document", doc.get("openapi"))
    bad = [r for r in refs(doc, []) if not r.startswith(
        "#/components/schemas/") or r.split("/")[-1] not in
        doc["components"]["schemas"]]
    t.ok(not bad, "every $ref resolves", bad)
    documented = {(m.upper(), p) for p, ops in doc["paths"].items()
                  for m in ops if m in ("get", "post", "delete", "put")}
    routes = registered()
    t.ok(len(routes) >= 20, "server.c's routes read (%d)" % len(routes))
    t.eq(sorted(routes - documented), [], "every route is documented")
    t.eq(sorted(documented - routes), [],
         "every documented route is one server.c registers")
    for m, p in sorted(documented):
        if p == "/v1/events/stream":
            continue            # a stream: answered below
        st, data = raw(e.sock, m, p.replace("{name}", "x")
                       .replace("{device}", "y"))
        t.ok(st not in (404, 405) or (st == 404 and
                                      b"no such endpoint" not in data),
             "%s %s answers (%d)" % (m, p, st), data[:300])
    st, _ = raw(e.sock, "GET", "/v1/events/stream")
    t.eq(st, 200, "GET /v1/events/stream answers")


LINE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*='
                  r'"([^"\\\n]|\\.)*",?)*\})? -?[0-9.e+]+$')


def metric(text, name, **labels):
    want = ",".join('%s="%s"' % kv for kv in labels.items())
    m = re.search(r"^%s\{%s\} (\S+)$" % (re.escape(name), re.escape(want)),
                  text, re.M)
    return float(m.group(1)) if m else None


def metrics(e):
    c1 = e.start_fake("c1", "client")
    s1 = e.start_fake("s1", "server")
    e.stop_orch()
    e.start_orch()
    e.api("POST", "/v1/platforms", {"name": "c1", "role": "client",
                                    "address": c1})
    e.api("POST", "/v1/platforms", {"name": "s1", "role": "server",
                                    "address": s1})
    for vm in ("m1", "m2"):
        e.api("POST", "/v1/vms", {"name": vm, "devices": [
            {"name": "e0", "model": "edu"}]})
    st, _ = e.api("POST", "/v1/vms/m1/start")
    t.eq(st, 200, "m1 started (fake launchers)")
    e.api("POST", "/v1/vms/m1/start")
    e.api("GET", "/v1/nope")
    e.api("GET", "/v1/vms/nope")
    # Methods a client makes up: one series for all, not one each.
    for m in ("FUZZA", "FUZZB", "FUZZC"):
        raw(e.sock, m, "/v1/vms")
    st, data = raw(e.sock, "GET", "/metrics")
    head, _, _ = data.partition(b"\r\n\r\n")
    t.ok(st == 200 and b"text/plain; version=0.0.4" in head,
         "/metrics: 200 text/plain; version=0.0.4", head)
    from orchlib import UnixHTTPConnection
    conn = UnixHTTPConnection(e.sock)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    bad = [ln for ln in text.splitlines() if ln and not ln.startswith("#")
           and not LINE.match(ln)]
    t.ok(text.endswith("\n") and not bad, "every sample line parses", bad)
    types = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)
    t.ok(("dm_orchestrator_vms", "gauge") in types and
         ("dm_orchestrator_api_requests_total", "counter") in types,
         "HELP and TYPE lines", types)
    t.eq(metric(text, "dm_orchestrator_vms", state="running"), 1.0,
         "one VM running")
    t.eq(metric(text, "dm_orchestrator_vms", state="defined"), 1.0,
         "one VM defined")
    t.eq(metric(text, "dm_orchestrator_vms", state="saved"), 0.0,
         "states without a VM are 0")
    t.eq(metric(text, "dm_orchestrator_device_models", server="s1",
                state="running"), 1.0, "one model on s1")
    t.eq(metric(text, "dm_orchestrator_platforms", role="client"), 1.0,
         "one client platform")
    t.eq(metric(text, "dm_orchestrator_api_requests_total", method="POST",
                route="vms/{name}/start", status="200"), 1.0,
         "the start counted by route and status")
    t.eq(metric(text, "dm_orchestrator_api_requests_total", method="POST",
                route="vms/{name}/start", status="409"), 1.0,
         "...and the second start's 409")
    t.eq(metric(text, "dm_orchestrator_api_requests_total", method="POST",
                route="vms", status="201"), 2.0, "two VMs created")
    t.eq(metric(text, "dm_orchestrator_api_requests_total", method="GET",
                route="none", status="404"), 1.0,
         "an unknown path: route none")
    t.eq(metric(text, "dm_orchestrator_api_requests_total", method="GET",
                route="vms/{name}", status="404"), 1.0,
         "an unknown VM: its route's 404")
    t.eq(metric(text, "dm_orchestrator_api_requests_total", method="other",
                route="none", status="405"), 3.0,
         "made-up methods counted as 'other'")
    t.ok("FUZZA" not in text, "no series per made-up method (memory a "
         "client could grow without end)")


def main():
    e = Env(sys.argv[1])
    return e.run(t, lambda: (e.start_orch(), openapi(e), metrics(e)))


sys.exit(main())
