#!/usr/bin/python3
# The input limits of an HTTP API server (common/json-limits.c and
# common/soup-limits.c): a deeply nested JSON body is a 400, not a stack
# overflow; a body over 1 MiB is a 413 when its headers arrive (or as a
# chunked one grows), never buffered whole (the server's peak RSS stays
# small); headers that never end (one endless line, or header after
# header) are cut off, never buffered whole; connections beyond 64 get a
# 503; connections a client left do not stay.  After each, the server
# still answers.  TAP.
#
#   input-limits.py launcher DM_REMOTE
#   input-limits.py orchestrator DM_ORCHESTRATOR
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

MAX_BODY = 1024 * 1024
MAX_CONNS = 64
BIG = 300 * 1024 * 1024         # what a flood sends
RSS_BOUND_KB = 150 * 1024       # generous: ASan builds included

kind, binary = sys.argv[1], sys.argv[2]
tmp = tempfile.mkdtemp(prefix="dm-limits-")
sock_path = os.path.join(tmp, "api.sock")
n = 0
failed = False


def ok(cond, name, detail=""):
    global n, failed
    n += 1
    if cond:
        print("ok %d %s" % (n, name))
    else:
        failed = True
        print("not ok %d %s: %s" % (n, name, detail))
    sys.stdout.flush()


if kind == "launcher":
    argv = [binary, "daemon", "--role", "server", "--listen",
            "unix:" + sock_path, "--platform-id", "limits",
            "--state-dir", os.path.join(tmp, "state")]
    post_path = "/v1/instances"
    get_path = "/v1/health"
else:
    argv = [binary, "--db", os.path.join(tmp, "db.sqlite"), "--listen",
            "unix:" + sock_path]
    post_path = "/v1/platforms"
    get_path = "/v1/platforms"
log = open(os.path.join(tmp, "server.log"), "wb")
server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)


def cleanup():
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    shutil.rmtree(tmp, ignore_errors=True)


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    # A full backlog (connections made faster than the server accepts
    # them) is EAGAIN on a UNIX socket: bounded retries.
    for _ in range(200):
        try:
            s.connect(sock_path)
            return s
        except BlockingIOError:
            time.sleep(0.05)
    s.connect(sock_path)
    return s


def read_reply(s):
    """The status of one reply on @s, None if the connection closed first."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        while len(rest) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
    except (socket.timeout, ConnectionError):
        return None, b""
    if not data.startswith(b"HTTP/1.1 "):
        return None, b""
    return int(data.split()[1]), rest


def request(method, path, body=None, s=None):
    own = s is None
    s = s or connect()
    head = "%s %s HTTP/1.1\r\nHost: localhost\r\n" % (method, path)
    if body is not None:
        head += "Content-Type: application/json\r\n"
        head += "Content-Length: %d\r\n" % len(body)
    s.sendall(head.encode() + b"\r\n" + (body or b""))
    reply = read_reply(s)
    if own:
        s.close()
    return reply


def alive(name):
    status, body = request("GET", get_path)
    ok(server.poll() is None and status == 200, name + "-alive",
       "exit %s, status %s" % (server.poll(), status))


def peak_rss_kb():
    with open("/proc/%d/status" % server.pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def flood(head):
    """Send @head and then BIG bytes of body, however the server cuts us."""
    s = connect()
    block = b"[" * 65536
    sent = 0
    try:
        s.sendall(head)
        while sent < BIG:
            if head.find(b"chunked") >= 0:
                s.sendall(b"%x\r\n" % len(block) + block + b"\r\n")
            else:
                s.sendall(block)
            sent += len(block)
        if head.find(b"chunked") >= 0:
            s.sendall(b"0\r\n\r\n")
    except (ConnectionError, socket.timeout):
        pass
    status, _ = read_reply(s)
    s.close()
    return status, sent


def header_flood(line):
    """A request whose headers are @line (a header's start, then bytes of
    its value) followed by BIG bytes more of the same, unless the server
    cuts us off: its status (None if it just closed) and what was sent."""
    s = connect()
    sent = 0
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n" %
                   get_path).encode())
        block = line * (65536 // len(line))
        while sent < BIG:
            s.sendall(block)
            sent += len(block)
    except (ConnectionError, socket.timeout):
        pass
    status, _ = read_reply(s)
    s.close()
    return status, sent


def main():
    for _ in range(200):
        if os.path.exists(sock_path) or server.poll() is not None:
            break
        time.sleep(0.1)
    print("1..32")
    alive("start")

    # Content-Length over the limit: 413 without sending the body.
    s = connect()
    s.sendall(("POST %s HTTP/1.1\r\nHost: localhost\r\n"
               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
               % (post_path, BIG)).encode())
    status, body = read_reply(s)
    s.close()
    ok(status == 413, "big-body-413-at-headers", "status %s" % status)

    head = ("POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n"
            "\r\n" % (post_path, BIG)).encode()
    status, sent = flood(head)
    ok(status in (413, None) and sent < BIG, "big-body-not-read",
       "status %s after %d bytes sent" % (status, sent))
    alive("big-body")
    head = ("POST %s HTTP/1.1\r\nHost: localhost\r\n"
            "Transfer-Encoding: chunked\r\n\r\n" % post_path).encode()
    status, sent = flood(head)
    ok(status in (413, None) and sent < BIG, "chunked-body-not-read",
       "status %s after %d bytes sent" % (status, sent))
    alive("chunked-body")
    rss = peak_rss_kb()
    ok(rss < RSS_BOUND_KB, "big-body-rss",
       "peak RSS %d KiB, bound %d KiB" % (rss, RSS_BOUND_KB))

    # Headers: libsoup stops reading them at 64 KiB (a 400 or a close).
    status, sent = header_flood(b"X-Long: " + b"a" * 4088)
    ok(status in (400, 413, 431, None) and sent < BIG, "endless-header-cut",
       "status %s after %d bytes sent" % (status, sent))
    status, sent = header_flood(b"X-Many: 1\r\n")
    ok(status in (400, 413, 431, None) and sent < BIG, "many-headers-cut",
       "status %s after %d bytes sent" % (status, sent))
    alive("headers")
    rss = peak_rss_kb()
    ok(rss < RSS_BOUND_KB, "headers-rss",
       "peak RSS %d KiB, bound %d KiB" % (rss, RSS_BOUND_KB))

    # MAX_CONNS connections mid-request are served, one more is not.
    # (Answers close their connection: libsoup 3.2 kept those a client
    # left between two requests, see below.)
    conns = []
    for i in range(MAX_CONNS):
        s = connect()
        s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n" %
                   get_path).encode())
        conns.append(s)
    status, _ = request("GET", get_path)
    ok(status == 503, "conns-over-503", "status %s" % status)
    conns[0].sendall(b"\r\n")
    status, _ = read_reply(conns[0])
    ok(status == 200, "conns-served", "status %s" % status)
    for s in conns:
        s.close()
    # The server notices the closes in its own time: bounded polling.
    for _ in range(100):
        status, _ = request("GET", get_path)
        if status == 200:
            break
        time.sleep(0.1)
    ok(status == 200, "conns-freed", "status %s" % status)

    # Connections a client left (kept alive, closed once answered, as a
    # SoupSession drops its idle ones, or sending nothing): the server's
    # descriptors do not grow with them.  libsoup 3.2 kept each (and
    # every accepted socket's object): a client exhausted the server.
    fds = len(os.listdir("/proc/%d/fd" % server.pid))
    for i in range(300):
        s = connect()
        if i % 2:
            s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" %
                       get_path).encode())
            read_reply(s)
        s.close()
    for _ in range(100):
        request("GET", get_path)
        now = len(os.listdir("/proc/%d/fd" % server.pid))
        if now <= fds + 2:
            break
        time.sleep(0.1)
    ok(now <= fds + 2, "left-connections-freed",
       "%d descriptors, %d before 300 connections" % (now, fds))

    # 80,000 '[' (80 KB) overflowed json-glib's stack.
    status, body = request("POST", post_path, b"[" * 80000)
    ok(status == 400 and b"nested deeper" in body, "deep-json-400",
       "status %s %r" % (status, body[:200]))
    alive("deep-json")
    deep = b"{\"a\": " + b"[" * 31 + b"]" * 31 + b"}"
    status, body = request("POST", post_path, deep)
    ok(status is not None and b"nested deeper" not in body,
       "deep-json-32-not-refused", "status %s %r" % (status, body[:200]))
    # Brackets in strings, behind escaped quotes, are not nesting.
    text = b"{\"a\": \"\\\"" + b"[" * 100 + b"\\\\\", \"b\": 1}"
    status, body = request("POST", post_path, text)
    ok(status is not None and b"nested deeper" not in body,
       "deep-json-strings", "status %s %r" % (status, body[:200]))
    # json-glib also skips /* comments */ and reads 'single-quoted'
    # strings (without escapes): a quote inside either once hid the
    # nesting after it from the limit, and the stack overflowed (found
    # by tests/fuzz/fuzz-instance-body.c).
    for name, hide in [("comment", b"/* \" */"),
                       ("single-quoted", b"\"s\": '\"', "),
                       ("single-quoted-backslash", b"\"s\": '\\', ")]:
        text = b"{" + hide + b" \"a\": " + b"[" * 80000 + b"}"
        status, body = request("POST", post_path, text)
        ok(status == 400 and b"nested deeper" in body,
           "deep-json-behind-" + name, "status %s %r" % (status, body[:200]))
        alive("deep-json-behind-" + name)
    # json-glib ends its strings at a NUL: "vm1\u0000x" was taken as
    # "vm1", a name other than the one sent (test-security.py).
    for name, text in [("escaped", b'{"id": "a\\u0000b", "model": "edu"}'),
                       ("raw", b'{"id": "a\x00b", "model": "edu"}')]:
        status, body = request("POST", post_path, text)
        ok(status == 400 and b"U+0000" in body, "nul-" + name + "-400",
           "status %s %r" % (status, body[:200]))
    # An escaped backslash before u0000 is no NUL.
    status, body = request("POST", post_path,
                           b'{"id": "a\\\\u0000", "model": "edu"}')
    ok(status is not None and b"U+0000" not in body, "nul-not-escaped",
       "status %s %r" % (status, body[:200]))
    alive("nul")

    # Brackets in a comment or a single-quoted string are not nesting.
    for text in [b"{\"a\": /* " + b"[" * 100 + b" */ 1}",
                 b"{\"a\": '" + b"[" * 100 + b"'}"]:
        status, body = request("POST", post_path, text)
        ok(status is not None and b"nested deeper" not in body,
           "deep-json-hidden-brackets", "status %s %r" % (status, body[:200]))

    # A path that is not UTF-8 once percent-decoded: its error is still
    # JSON with the message (both servers answered invalid JSON; found by
    # tests/fuzz/fuzz-orch-api.c and fuzz-launcher-api.c).
    status, body = request("GET", "/v1/x%FF%FE")
    try:
        msg = json.loads(body.decode()).get("error", "")
    except ValueError:
        msg = None
    ok(status == 404 and msg and "/v1/x" in msg, "path-not-utf8-message",
       "status %s %r" % (status, body[:200]))


try:
    main()
finally:
    cleanup()
sys.exit(1 if failed else 0)
