#!/usr/bin/python3
# dm-orchestrator's web side, without a browser: the static files of
# --web (content types, no listings, every way out of the directory
# refused), the live events stream (an event committed by any writer
# reaches an open stream; a client that stops reading is dropped while
# the API goes on answering), and over TLS the login token for clients
# without a certificate.  TAP output.
#   test-web.py BUILD
import http.client
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from orchlib import (Env, Tap, http_call, wait_for,  # noqa: E402
                     post_events as post_rows)

HERE = os.path.dirname(os.path.abspath(__file__))
t = Tap()


def get(sock, path, method="GET", headers=None):
    """(status, headers dict, body bytes) of a raw request on SOCK."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sock)
    s.sendall(("%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n" %
               (method, path, "".join("%s: %s\r\n" % kv for kv in
                                      (headers or {}).items()))).encode())
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), hdrs, body


def make_tree(e):
    """A web directory, with ways out of it next to it."""
    web = os.path.join(e.tmp, "web")
    os.makedirs(os.path.join(web, "js"))
    os.makedirs(os.path.join(e.tmp, "outside"))
    files = {"index.html": "<!DOCTYPE html><title>t</title>",
             "js/app.js": "export const x = 1;\n",
             "style.css": "body {}\n", "data.json": "{}",
             "logo.svg": "<svg/>", "blob.bin": "\x01",
             ".hidden": "secret-hidden"}
    for name, text in files.items():
        with open(os.path.join(web, name), "w") as f:
            f.write(text)
    with open(os.path.join(e.tmp, "outside", "secret.txt"), "w") as f:
        f.write("secret-outside")
    os.symlink(os.path.join(e.tmp, "outside", "secret.txt"),
               os.path.join(web, "abs-link.txt"))
    os.symlink("../outside/secret.txt", os.path.join(web, "rel-link.txt"))
    os.symlink("../outside", os.path.join(web, "out-dir"))
    os.symlink("js/app.js", os.path.join(web, "inner-link.js"))
    os.mkfifo(os.path.join(web, "fifo.js"))
    return web


def static_files(e):
    e.start_orch(["--web", make_tree(e)])
    sock = e.sock
    for path, ctype in (("/", "text/html"), ("/index.html", "text/html"),
                        ("/js/app.js", "text/javascript"),
                        ("/style.css", "text/css"),
                        ("/data.json", "application/json"),
                        ("/logo.svg", "image/svg+xml"),
                        ("/blob.bin", "application/octet-stream"),
                        ("/inner-link.js", "text/javascript")):
        st, h, _ = get(sock, path)
        t.ok(st == 200 and h.get("content-type", "").startswith(ctype),
             "GET %s: 200 %s" % (path, ctype), (st, h))
    st, h, body = get(sock, "/js/app.js")
    t.ok(body == b"export const x = 1;\n" and
         h.get("x-content-type-options") == "nosniff",
         "a file is served whole, with nosniff", (h, body))
    st, h, body = get(sock, "/", "HEAD")
    t.ok(st == 200 and body == b"", "HEAD: headers only", (st, body))
    st, h, _ = get(sock, "/index.html", "POST")
    t.ok(st == 405 and h.get("allow") == "GET, HEAD", "POST a page: 405",
         (st, h))
    for path, why in (("/js", "a directory"), ("/js/", "a directory /"),
                      ("/.hidden", "a hidden file"),
                      ("/abs-link.txt", "an absolute symlink out"),
                      ("/rel-link.txt", "a relative symlink out"),
                      ("/out-dir/secret.txt", "a directory symlink out"),
                      ("/../outside/secret.txt", "../"),
                      ("/%2e%2e/outside/secret.txt", "encoded ../"),
                      ("/js/%2E%2E/%2e%2e/outside/secret.txt",
                       "encoded ../ below a directory"),
                      ("/..%2foutside%2fsecret.txt", "encoded slashes"),
                      ("/js//app.js", "an empty segment"),
                      ("/fifo.js", "a FIFO"), ("/nope.html", "absent"),
                      ("/js\\..\\..\\outside\\secret.txt", "backslashes")):
        st, h, body = get(sock, path)
        t.ok(st in (400, 404) and b"secret" not in body,
             "%s refused (%s)" % (why, path), (st, body[:200]))
    st, h, body = get(sock, "/a%00b")
    t.ok(st in (400, 404), "an encoded NUL refused", st)
    st, _, _ = get(sock, "/" + "a" * 5000)
    t.eq(st, 414, "a path of 5000 bytes: 414")
    st, _, _ = get(sock, "/" + "a/" * 600 + "x")
    t.eq(st, 414, "a path of 1200 bytes: 414")
    st, body = http_call(sock, "GET", "/v1/vms")
    t.ok(st == 200 and body == {"vms": []}, "the API is still at /v1", body)
    st, body = http_call(sock, "GET", "/v1/nope")
    t.eq(st, 404, "an unknown API path is still a JSON 404")
    e.stop_orch()


def console_ws(e):
    e.start_orch()
    ws = {"Upgrade": "websocket", "Connection": "Upgrade",
          "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
          "Sec-WebSocket-Version": "13"}
    st, h, body = get(e.sock, "/v1/ws/console/nope", headers=ws)
    t.ok(st == 404 and b"no VM 'nope'" in body,
         "a console WebSocket of no VM: 404", (st, body))
    st, h, body = get(e.sock, "/v1/ws/console/nope",
                      headers=dict(ws, Origin="https://evil.example"))
    t.ok(st == 403 and b"this server's pages only" in body,
         "...from another site's page: 403", (st, body))
    e.api("POST", "/v1/vms", {"name": "quiet"})
    st, h, body = get(e.sock, "/v1/ws/console/quiet",
                      headers=dict(ws, Origin="http://x"))
    t.ok(st == 409 and b"no running remote UART" in body,
         "...of a VM without a running UART: 409", (st, body))
    st, h, body = get(e.sock, "/v1/ws/console/a/b", headers=ws)
    t.eq(st, 404, "...a path below a name: 404")
    e.stop_orch()


def no_web(e):
    e.start_orch()
    st, h, body = get(e.sock, "/index.html")
    t.ok(st == 404 and b"no such endpoint" in body,
         "without --web, a page is the API's 404", (st, body))
    e.stop_orch()
    rc = subprocess.run([e.orch_bin, "--db", e.db, "--listen",
                         "unix:" + e.sock, "--web", e.tmp + "/none"],
                        capture_output=True, timeout=30)
    t.ok(rc.returncode == 1 and b"--web" in rc.stderr,
         "--web naming no directory: exit 1", rc)
    rc = subprocess.run([e.orch_bin, "--db", e.db, "--listen",
                         "unix:" + e.sock, "--watch-models", "0"],
                        capture_output=True, timeout=30)
    t.ok(rc.returncode == 2 and b"invalid --watch-models '0'" in rc.stderr,
         "--watch-models 0: usage error", rc)


class Stream:
    """A raw client of /v1/events/stream."""

    def __init__(self, sock, query="", rcvbuf=None):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(30)
        self.s.connect(sock)
        self.s.sendall(("GET /v1/events/stream%s HTTP/1.1\r\nHost: x\r\n\r\n"
                        % query).encode())
        self.data = b""

    def read_until(self, cond, timeout=20):
        deadline = time.monotonic() + timeout
        while not cond(self.data) and time.monotonic() < deadline:
            self.s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                d = self.s.recv(1 << 20)
            except socket.timeout:
                break
            if not d:
                return False
            self.data += d
        return cond(self.data)

    def ids(self):
        return [int(x) for x in re.findall(rb"^id: (\d+)\r?$", self.data,
                                           re.M)]

    def events(self):
        import json
        return [json.loads(x) for x in
                re.findall(rb"^data: (.*?)\r?$", self.data, re.M)]


def post_events(e, n, size):
    post_rows(e.db, [("flood", "%d:" % i + "x" * size) for i in range(n)])


def stream(e):
    c1 = e.start_fake("c1", "client")
    s1 = e.start_fake("s1", "server")
    e.start_orch()
    e.api("POST", "/v1/platforms", {"name": "c1", "role": "client",
                                    "address": c1})
    e.api("POST", "/v1/platforms", {"name": "s1", "role": "server",
                                    "address": s1})
    e.api("POST", "/v1/vms", {"name": "vm1", "devices": [
        {"name": "e0", "model": "edu"}]})
    st, h, body = get(e.sock, "/v1/events/stream?since=x")
    t.ok(st == 400 and b"bad 'since'" in body, "since=x: 400", body)
    st, h, body = get(e.sock, "/v1/events/stream?until=1")
    t.ok(st == 400 and b"unknown parameter" in body, "until=: 400", body)
    live = Stream(e.sock)
    t.ok(live.read_until(lambda d: b"retry:" in d) and
         b"text/event-stream" in live.data and
         b"chunked" in live.data.lower(),
         "the stream opens at once: text/event-stream, chunked", live.data)
    st, vm = e.api("POST", "/v1/vms/vm1/start")
    t.eq(st, 200, "vm1 started (fake launchers)")
    t.ok(live.read_until(lambda d: b"started on c1" in d),
         "the start's event reaches the open stream", live.data[-500:])
    ev = live.events()
    t.ok(ev and ev[-1]["vm"] == "vm1" and "id" in ev[-1] and
         "time" in ev[-1], "as /v1/events has it", ev)
    first = ev[-1]["id"]
    e.api("POST", "/v1/vms/vm1/stop")
    again = Stream(e.sock, "?since=0")
    t.ok(again.read_until(lambda d: b"stopped" in d) and
         again.ids() == [first, first + 1],
         "since=0: every event, in order, then the new ones", again.ids())
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(e.sock)
    s.sendall(("GET /v1/events/stream HTTP/1.1\r\nHost: x\r\n"
               "Last-Event-ID: %d\r\n\r\n" % first).encode())
    le = Stream.__new__(Stream)
    le.s, le.data = s, b""
    t.ok(le.read_until(lambda d: b"stopped" in d) and le.ids() == [first + 1],
         "Last-Event-ID: the events after it", le.ids())

    # A client that stops reading, and one that reads: 400 events of 8 KiB
    # (3 MiB) are far more than a socket and the bound hold.
    slow = Stream(e.sock, rcvbuf=4096)
    t.ok(slow.read_until(lambda d: b"retry:" in d), "a slow client opens")
    base = first + 1
    reader = threading.Thread(target=live.read_until, args=(
        lambda d: ("id: %d" % (base + 400)).encode() in d, 120))
    reader.start()
    post_events(e, 400, 8192)
    n = 0
    while n < 20:
        st, body = e.api("GET", "/v1/vms/vm1")
        if st != 200:
            break
        n += 1
    t.eq(n, 20, "the API answers while the slow client reads nothing")
    reader.join()
    t.ok(live.read_until(lambda d: ("id: %d" % (base + 400)).encode() in d,
                         timeout=1) and
         live.ids()[-400:] == list(range(base + 1, base + 401)),
         "a client that reads gets all 400, in order", live.ids()[-3:])
    wait_for(lambda: "events stream: dropped" in e.orch_log(),
             "the slow client dropped", timeout=30)
    t.ok(True, "the slow client is dropped (logged)")
    closed = slow.read_until(lambda d: False, timeout=30) is False
    t.ok(closed and len(slow.ids()) < 400,
         "...its connection closed before all of it (%d events)" %
         len(slow.ids()))
    post_events(e, 1, 10)
    t.ok(live.read_until(lambda d: ("id: %d" % (base + 401)).encode() in d),
         "the other client goes on")
    # again and le stopped reading too: they are dropped as well (3 in
    # all), and live, which reads, is not.
    wait_for(lambda: e.orch_log().count("events stream: dropped") >= 3,
             "three slow clients dropped", timeout=60)
    t.eq(e.orch_log().count("events stream: dropped"), 3,
         "the three that stopped reading are dropped, not the reader")
    threading.Thread(target=live.read_until, args=(lambda d: False, 600),
                     daemon=True).start()
    held = []                   # a closed stream would leave room
    for opened in range(17):
        m = Stream(e.sock)
        held.append(m)
        m.read_until(lambda d: b"retry:" in d or b"streams are open" in d,
                     timeout=10)
        if not m.data.startswith(b"HTTP/1.1 200"):
            break
    t.ok(opened == 15 and m.data.startswith(b"HTTP/1.1 503") and
         b"16 event streams are open" in m.data,
         "at most 16 streams: 503 beyond", (opened, m.data[:300]))
    e.stop_orch()


def tls_token(e):
    certs = os.path.join(e.tmp, "certs")
    subprocess.run([os.path.join(HERE, "..", "net", "make-certs.sh"), certs],
                   check=True)
    tokfile = os.path.join(e.tmp, "token")
    token = "t0ken-for-the-browser-123"
    with open(tokfile, "w") as f:
        f.write(token + "\n")
    port = int(subprocess.check_output(
        [sys.executable, os.path.join(HERE, "..", "free-port.py")]))
    web = make_tree(e)
    rc = subprocess.run([e.orch_bin, "--db", e.db, "--listen",
                         "unix:" + e.sock, "--web-token-file", tokfile],
                        capture_output=True, timeout=30)
    t.ok(rc.returncode == 2 and b"needs --tls-creds" in rc.stderr,
         "--web-token-file without TLS: usage error", rc)
    with open(os.path.join(e.tmp, "short"), "w") as f:
        f.write("short\n")
    rc = subprocess.run([e.orch_bin, "--db", e.db, "--listen",
                         "tcp:127.0.0.1:%d" % port, "--tls-creds",
                         certs + "/server", "--web-token-file",
                         e.tmp + "/short"], capture_output=True, timeout=30)
    t.ok(rc.returncode == 1 and b"16 to" in rc.stderr,
         "a token under 16 characters: refused", rc)
    e.orch = e.spawn([e.orch_bin, "--db", e.db, "--listen",
                      "tcp:127.0.0.1:%d" % port, "--tls-creds",
                      certs + "/server", "--web", web, "--web-token-file",
                      tokfile, "-v"], "orch.log")
    wait_for(lambda: "serving the web console" in e.orch_log(),
             "the orchestrator")

    def ctx(cert):
        c = ssl.create_default_context(cafile=certs + "/server/ca-cert.pem")
        if cert:
            c.load_cert_chain(certs + "/%s/client-cert.pem" % cert,
                              certs + "/%s/client-key.pem" % cert)
        return c

    def call(path, method="GET", cert=None, headers=None, body=None):
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=30,
                                           context=ctx(cert))
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, r, data

    st, r, body = call("/v1/vms")
    t.ok(st == 401 and b"client certificate or the login token" in body,
         "no certificate, no token: the API is 401", (st, body))
    st, r, body = call("/index.html")
    t.ok(st == 401 and b'action="/login"' in body and
         b'<label for="token">' in body,
         "...and a page is 401 with the login form", (st, body[:300]))
    st, r, body = call("/v1/events/stream")
    t.eq(st, 401, "...and the events stream is 401")
    st, r, body = call("/v1/ws/console/vm1")
    t.eq(st, 401, "...and the console's WebSocket is 401")
    st, r, body = call("/v1/vms", cert="client")
    t.eq(st, 200, "a client certificate of the CA is enough, as before")
    try:
        call("/v1/vms", cert="rogue-client")
        t.ok(False, "a certificate of another CA is still refused")
    except (ssl.SSLError, ConnectionError, OSError):
        t.ok(True, "a certificate of another CA is still refused")
    st, r, body = call("/v1/vms", headers={"Authorization": "Bearer " +
                                           token})
    t.eq(st, 200, "Authorization: Bearer TOKEN is served")
    st, r, body = call("/v1/vms", headers={"Authorization": "Bearer " +
                                           token[:-1] + "x"})
    t.eq(st, 401, "a wrong bearer token: 401")
    st, r, body = call("/login", "POST", body="token=wrong-wrong-wrong-wrong",
                       headers={"Content-Type":
                                "application/x-www-form-urlencoded"})
    t.ok(st == 401 and r.getheader("Set-Cookie") is None,
         "a login with a wrong token: 401, no cookie", st)
    st, r, body = call("/login", "POST", body="token=" + token,
                       headers={"Content-Type":
                                "application/x-www-form-urlencoded"})
    cookie = r.getheader("Set-Cookie") or ""
    t.ok(st == 303 and r.getheader("Location").endswith(":%d/" % port) and
         cookie.startswith("dm-web-token=" + token + ";") and
         all(a in cookie for a in ("Secure", "HttpOnly", "SameSite=Strict")),
         "a login with the token: 303 to /, a secure HttpOnly cookie",
         (st, cookie))
    st, r, body = call("/js/app.js", headers={
        "Cookie": "other=1; " + cookie.split(";")[0]})
    t.ok(st == 200 and body == b"export const x = 1;\n",
         "the cookie opens the pages", (st, body))
    st, r, body = call("/v1/vms", headers={"Cookie": cookie.split(";")[0]})
    t.eq(st, 200, "...and the API")
    st, r, body = call("/v1/vms", headers={"Cookie": "dm-web-token=nope"})
    t.eq(st, 401, "a wrong cookie: 401")
    e.stop_orch()


def main():
    build = sys.argv[1]
    rc = 0
    for part in (static_files, no_web, console_ws, stream, tls_token):
        e = Env(build)
        try:
            part(e)
        except Exception:
            import traceback
            t.ok(False, part.__name__ + " ran to its end",
                 traceback.format_exc() + "\n" + e.orch_log()[-3000:])
        finally:
            e.cleanup()
    return t.done() or rc


sys.exit(main())
