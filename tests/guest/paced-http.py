#!/usr/bin/python3
"""A static HTTP server whose /paced/NAME sends file NAME slowly.

    paced-http.py ADDRESS PORT DIRECTORY

Like `python3 -m http.server --bind ADDRESS --directory DIRECTORY PORT`
(threads, a log line per request on stderr), and GET /paced/NAME sends
DIRECTORY/NAME 32 KiB at a time, 50 ms apart (1 MiB in about 1.6 s):
a guest's download of it is under way long enough for a test to kill
the model in the middle of it (tests/guest/virtio-net.sh crash).
"""
import functools
import http.server
import os
import sys
import time

CHUNK = 32 << 10
PAUSE = 0.05


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if not self.path.startswith("/paced/"):
            return super().do_GET()
        name = os.path.basename(self.path[len("/paced/"):])
        try:
            with open(os.path.join(self.directory, name), "rb") as f:
                data = f.read()
        except OSError:
            return self.send_error(404)
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            for off in range(0, len(data), CHUNK):
                self.wfile.write(data[off:off + CHUNK])
                self.wfile.flush()
                time.sleep(PAUSE)
        except OSError:
            pass                # the peer went (a killed model's slirp)


def main():
    addr, port, directory = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    handler = functools.partial(Handler, directory=directory)
    http.server.ThreadingHTTPServer((addr, port), handler).serve_forever()


if __name__ == "__main__":
    main()
