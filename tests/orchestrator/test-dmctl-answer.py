#!/usr/bin/python3
# dmctl against a fake orchestrator answering JSON nested a few MB deep
# (issue #22): json-glib recursed once per level and ran off dmctl's
# stack; the answer is refused before it is parsed, saying why, both as
# a command's answer and as a progress poll's.  TAP output.
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


class Fake(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    status = 200
    body = DEEP
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

    def do_GET(self):
        s = self.server
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
    finally:
        srv.shutdown()
        srv.server_close()
        shutil.rmtree(tmp, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
