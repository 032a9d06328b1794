#!/usr/bin/python3
# dmctl against a fake orchestrator answering JSON nested a few MB deep
# (issue #22): json-glib recursed once per level and ran off dmctl's
# stack; the answer is refused before it is parsed, saying why, both as
# a command's answer and as a progress poll's.  An answer larger than
# dmctl's 64 MiB is refused too: by its Content-Length, or, without one,
# once that much has come (never held whole), and such a poll is
# skipped.  TAP output.
#   test-dmctl-answer.py BUILD
import http.server
import os
import shutil
import socketserver
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from orchlib import Tap  # noqa: E402

DEEP = b"[" * (4 * 1024 * 1024)
MAX = 64 * 1024 * 1024          # DMCTL_MAX_ANSWER


class Fake(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    status = 200
    body = DEEP
    huge = None                 # "length" or "endless": past MAX
    polled = threading.Event()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def answer_huge(self, how):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if how == "length":
            self.send_header("Content-Length", str(MAX + 1))
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        chunk = b"x" * 65536
        try:
            # Until dmctl gives up (past MAX: it must, it never ends).
            while True:
                self.wfile.write(chunk)
        except OSError:
            pass
        self.close_connection = True

    def do_GET(self):
        s = self.server
        if s.huge:
            self.answer_huge(s.huge)
        else:
            self.answer(s.status, s.body)
        if self.path.startswith("/v1/vms/"):
            s.polled.set()

    def do_POST(self):
        s = self.server
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.endswith("/migrate"):
            # Finished only once dmctl has polled (and read) a deep answer.
            s.polled.wait(60)
            self.answer(200, b'{"name": "v1", "state": "running"}')
            return
        if s.huge:
            self.answer_huge(s.huge)
            return
        self.answer(s.status, s.body)


def dmctl(build, sock, *argv):
    exe = os.path.join(build, "meson", "orchestrator", "dmctl")
    env = dict(os.environ)
    env.pop("DMCTL_ORCHESTRATOR", None)
    p = subprocess.run([exe, "--orchestrator", "unix:" + sock] + list(argv),
                       capture_output=True, timeout=120, env=env)
    return p.returncode, p.stdout.decode(errors="replace"), \
        p.stderr.decode(errors="replace")


def main():
    build = sys.argv[1]
    t = Tap()
    tmp = tempfile.mkdtemp(prefix="dm-dmctl-answer-")
    sock = os.path.join(tmp, "orch.sock")
    srv = Fake(sock, Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        got = dmctl(build, sock, "vm", "list")
        t.ok(got[0] == 1 and "nested deeper than 32 levels" in got[2],
             "a deep answer is refused, saying why",
             "got %r (a negative status is the signal)" % (got[0:3:2],))

        srv.status = 500
        got = dmctl(build, sock, "vm", "list")
        t.ok(got[0] == 1 and "Internal Server Error" in got[2],
             "a deep error answer: the status's phrase",
             "got %r" % (got[0:3:2],))

        srv.status = 200
        got = dmctl(build, sock, "vm", "migrate", "v1", "--to", "c2")
        t.ok(got[0] == 0 and srv.polled.is_set() and "v1" in got[1],
             "a deep progress poll is skipped, the migration's answer read",
             "got %r, polled %s" % (got, srv.polled.is_set()))

        srv.huge = "length"
        got = dmctl(build, sock, "vm", "list")
        t.ok(got[0] == 1 and got[2] == "dmctl: the orchestrator's answer "
             "is refused: answer of %d bytes, more than %d\n" % (MAX + 1, MAX),
             "a Content-Length past 64 MiB is refused, saying why",
             "got %r" % (got[0:3:2],))
        srv.huge = "endless"
        got = dmctl(build, sock, "vm", "list")
        t.ok(got[0] == 1 and got[2] == "dmctl: the orchestrator's answer "
             "is refused: answer larger than %d bytes\n" % MAX,
             "an answer without end is refused past 64 MiB, saying why",
             "got %r" % (got[0:3:2],))
        srv.polled.clear()
        got = dmctl(build, sock, "vm", "migrate", "v1", "--to", "c2")
        t.ok(got[0] == 0 and srv.polled.is_set() and "v1" in got[1],
             "a progress poll without end is skipped, the migration's "
             "answer read",
             "got %r, polled %s" % (got, srv.polled.is_set()))
    finally:
        srv.shutdown()
        srv.server_close()
        shutil.rmtree(tmp, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
