"""A WebSocket client for the tests (RFC 6455, what our servers speak):
the handshake, binary and text messages, ping, close.  Python's standard
library has none, and Debian's python3-websockets is asyncio-only.

    ws = wslib.connect(sock, "/v1/ws/console/vm1", host="x")
    ws.sendall(b"...")      # one binary message
    data = ws.recv(4096)    # the next message's bytes, b"" at close
    st = wslib.Stream(ws)   # a byte stream over the messages (RFB)
"""
import base64
import hashlib
import os
import socket
import struct

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HandshakeError(Exception):
    def __init__(self, status, head):
        super().__init__("WebSocket refused: %d %r" % (status, head[:200]))
        self.status = status


class WebSocket:
    """A connected socket after the handshake: socket-like recv/sendall."""

    def __init__(self, sock, rest=b""):
        self.sock = sock
        self.buf = rest
        self.closed = False

    def settimeout(self, t):
        self.sock.settimeout(t)

    def _read(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send_frame(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + body)

    def sendall(self, data, text=False):
        self._send_frame(0x1 if text else 0x2, data)

    def recv(self, _bufsize=None):
        """The next data message (fragments joined); b"" once closed."""
        if self.closed:
            return b""
        data = b""
        try:
            while True:
                b0, b1 = self._read(2)
                n = b1 & 0x7f
                if n == 126:
                    n = struct.unpack("!H", self._read(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", self._read(8))[0]
                mask = self._read(4) if b1 & 0x80 else None
                payload = self._read(n)
                if mask:
                    payload = bytes(b ^ mask[i % 4]
                                    for i, b in enumerate(payload))
                opcode = b0 & 0x0f
                if opcode == 0x8:
                    self.closed = True
                    return data
                if opcode == 0x9:
                    self._send_frame(0xa, payload)
                    continue
                if opcode == 0xa:
                    continue
                data += payload
                if b0 & 0x80:
                    return data
        except EOFError:
            self.closed = True
            return data

    def close(self):
        try:
            self._send_frame(0x8, struct.pack("!H", 1000))
        except OSError:
            pass
        self.sock.close()


class Stream:
    """Socket-like byte stream over a WebSocket's binary messages, for
    protocols that ignore message boundaries (RFB through noVNC's relay):
    recv(n) gives at most n bytes, MSG_PEEK too."""

    def __init__(self, ws):
        self.ws = ws
        self.pending = b""

    def settimeout(self, t):
        self.ws.sock.settimeout(t)

    def gettimeout(self):
        return self.ws.sock.gettimeout()

    def recv(self, n, flags=0):
        if not self.pending:
            # A timeout is harmless only before a frame begins (the
            # RFB client's peek for the next update).
            self.pending = self.ws.recv()
        out = self.pending[:n]
        if not flags & socket.MSG_PEEK:
            self.pending = self.pending[n:]
        return out

    def sendall(self, data):
        self.ws.sendall(data)

    def close(self):
        self.ws.close()


def connect(sock, path, host="localhost", headers=None):
    """The handshake on the connected @sock; HandshakeError if refused."""
    key = base64.b64encode(os.urandom(16)).decode()
    req = ["GET %s HTTP/1.1" % path, "Host: %s" % host,
           "Upgrade: websocket", "Connection: Upgrade",
           "Sec-WebSocket-Key: %s" % key, "Sec-WebSocket-Version: 13"]
    for k, v in (headers or {}).items():
        req.append("%s: %s" % (k, v))
    sock.sendall(("\r\n".join(req) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(4096)
        if not data:
            raise HandshakeError(0, head)
        head += data
    head, rest = head.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ", 2)[1])
    if status != 101:
        raise HandshakeError(status, head + b"\r\n\r\n" + rest)
    want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest())
    if b"sec-websocket-accept: " + want.lower() not in head.lower():
        raise HandshakeError(status, head)
    return WebSocket(sock, rest)


def open_address(address):
    """A connected socket to unix:PATH or tcp:HOST:PORT."""
    if address.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(address[5:])
        return s
    host, _, port = address[4:].rpartition(":")
    return socket.create_connection((host.strip("[]"), int(port)))
