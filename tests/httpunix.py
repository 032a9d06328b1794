"""HTTP over a UNIX socket, as the launcher's tests ask its API.

    status, content_type, text = call(SOCK, METHOD, PATH, body, headers)

A body that is a str or bytes is sent as it is, anything else as JSON;
either way with Content-Type: application/json unless @headers say
otherwise.  One connection per call, closed after the answer.
"""
import http.client
import json
import socket


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def call(sock, method, path, body=None, headers=None, timeout=60):
    conn = UnixConnection(sock, timeout)
    h = dict(headers or {})
    if body is not None and not isinstance(body, (str, bytes)):
        body = json.dumps(body)
    if body is not None:
        h.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        text = r.read().decode(errors="replace")
        return r.status, r.getheader("Content-Type"), text
    finally:
        conn.close()
