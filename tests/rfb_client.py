"""A small RFB (VNC) client for the tests and the demo: protocol 3.8,
security None or VNC authentication, Raw encoding and the DesktopSize
pseudo-encoding, key and pointer events, a screenshot as PPM.

    c = RfbClient(sock, password=None)
    c.refresh()                      # the whole screen, into c.pixels
    c.pixel(x, y) -> (r, g, b)
    c.key(keysym, down); c.pointer(x, y, buttons)
    c.save_ppm(path)

    python3 tests/rfb_client.py unix:PATH|tcp:HOST:PORT OUT.ppm [PASSWORD]
"""
import socket
import struct
import sys
import time

ENC_RAW = 0
ENC_DESKTOP_SIZE = -223

SEC_NONE = 1
SEC_VNC = 2


class RfbError(Exception):
    pass


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise RfbError("closed by the server")
        buf += chunk
    return buf


def vnc_auth_response(password, challenge):
    """DES-ECB of the 16-byte challenge, keyed by the password's first 8
    bytes with each byte's bits reversed (RFB 6.2.2's quirk)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, modes
    try:
        from cryptography.hazmat.decrepit.ciphers import algorithms
    except ImportError:             # before cryptography 43 (Debian 12: 38)
        from cryptography.hazmat.primitives.ciphers import algorithms
    key = password.encode()[:8].ljust(8, b"\0")
    key = bytes(int("{:08b}".format(b)[::-1], 2) for b in key)
    # A TripleDES key of one 8-byte key three times over is single DES.
    enc = Cipher(algorithms.TripleDES(key * 3), modes.ECB()).encryptor()
    return enc.update(challenge) + enc.finalize()


def connect(address, timeout=30):
    """A socket to unix:PATH or tcp:HOST:PORT."""
    if address.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(address[5:])
    elif address.startswith("tcp:"):
        host, port = address[4:].rsplit(":", 1)
        s = socket.create_connection((host.strip("[]"), int(port)), timeout)
    else:
        raise ValueError("not unix:PATH or tcp:HOST:PORT: " + address)
    return s


class RfbClient:
    def __init__(self, sock, password=None, shared=True):
        self.sock = sock
        version = recv_exact(sock, 12)
        if not version.startswith(b"RFB 003."):
            raise RfbError("not RFB: %r" % version)
        sock.sendall(b"RFB 003.008\n")
        n = recv_exact(sock, 1)[0]
        if n == 0:
            raise RfbError("refused: " + self._reason())
        types = recv_exact(sock, n)
        self.security = SEC_VNC if password is not None else SEC_NONE
        if self.security not in types:
            raise RfbError("security %d not offered (%s)" %
                           (self.security, list(types)))
        sock.sendall(bytes([self.security]))
        if self.security == SEC_VNC:
            challenge = recv_exact(sock, 16)
            sock.sendall(vnc_auth_response(password, challenge))
        result = struct.unpack(">I", recv_exact(sock, 4))[0]
        if result != 0:
            raise RfbError("security failed: " + self._reason())
        sock.sendall(bytes([1 if shared else 0]))
        self.width, self.height = struct.unpack(">HH", recv_exact(sock, 4))
        recv_exact(sock, 16)                    # the server's pixel format
        self.name = recv_exact(
            sock, struct.unpack(">I", recv_exact(sock, 4))[0]).decode()
        # 32 bits, little endian, 0x00RRGGBB: B, G, R, X in memory.
        sock.sendall(struct.pack(">BxxxBBBBHHHBBBxxx", 0, 32, 24, 0, 1,
                                 255, 255, 255, 16, 8, 0))
        sock.sendall(struct.pack(">BxHii", 2, 2, ENC_RAW, ENC_DESKTOP_SIZE))
        self.pixels = bytearray(self.width * self.height * 4)
        self.resized = 0
        # A first whole update: the server has taken our encodings (and
        # will announce a resize) once it answers.
        self.refresh()

    def _reason(self):
        n = struct.unpack(">I", recv_exact(self.sock, 4))[0]
        return recv_exact(self.sock, n).decode(errors="replace")

    def request(self, incremental, x=0, y=0, w=None, h=None):
        self.sock.sendall(struct.pack(
            ">BBHHHH", 3, 1 if incremental else 0, x, y,
            self.width if w is None else w, self.height if h is None else h))

    def read_update(self):
        """Read server messages up to a FramebufferUpdate and apply it:
        its rectangles as (x, y, w, h, encoding)."""
        while True:
            t = recv_exact(self.sock, 1)[0]
            if t == 0:
                break
            if t == 2:                          # Bell
                continue
            if t == 3:                          # ServerCutText
                recv_exact(self.sock, 3)
                n = struct.unpack(">I", recv_exact(self.sock, 4))[0]
                recv_exact(self.sock, n)
                continue
            raise RfbError("unexpected message %d" % t)
        recv_exact(self.sock, 1)
        n = struct.unpack(">H", recv_exact(self.sock, 2))[0]
        rects = []
        for _ in range(n):
            x, y, w, h, enc = struct.unpack(">HHHHi", recv_exact(self.sock, 12))
            rects.append((x, y, w, h, enc))
            if enc == ENC_DESKTOP_SIZE:
                self.width, self.height = w, h
                self.pixels = bytearray(w * h * 4)
                self.resized += 1
            elif enc == ENC_RAW:
                data = recv_exact(self.sock, w * h * 4)
                for row in range(h):
                    at = ((y + row) * self.width + x) * 4
                    self.pixels[at:at + w * 4] = \
                        data[row * w * 4:(row + 1) * w * 4]
            else:
                raise RfbError("encoding %d not asked for" % enc)
        return rects

    def refresh(self):
        """The whole screen (a non-incremental update)."""
        self.request(False)
        return self.read_update()

    def wait_for(self, cond, timeout=20):
        """Incremental updates until cond(self) holds or @timeout seconds
        pass (a bound, not a measurement): whether it held, and every
        rectangle received meanwhile."""
        deadline = time.monotonic() + timeout
        rects = []
        asked = False
        saved = self.sock.gettimeout()
        try:
            while not cond(self):
                if time.monotonic() > deadline:
                    return False, rects
                # An incremental request is answered only once something
                # changed: one at a time, polled with a short timeout.
                if not asked:
                    self.request(True)
                    asked = True
                self.sock.settimeout(1)
                try:
                    t = self.sock.recv(1, socket.MSG_PEEK)
                except socket.timeout:
                    continue
                if not t:
                    raise RfbError("closed by the server")
                self.sock.settimeout(saved)
                rects += self.read_update()
                asked = False
        finally:
            self.sock.settimeout(saved)
        return True, rects

    def pixel(self, x, y):
        at = (y * self.width + x) * 4
        b, g, r = self.pixels[at], self.pixels[at + 1], self.pixels[at + 2]
        return (r, g, b)

    def key(self, keysym, down):
        self.sock.sendall(struct.pack(">BBxxI", 4, 1 if down else 0, keysym))

    def pointer(self, x, y, buttons=0):
        self.sock.sendall(struct.pack(">BBHH", 5, buttons, x, y))

    def save_ppm(self, path):
        with open(path, "wb") as f:
            f.write(b"P6\n%d %d\n255\n" % (self.width, self.height))
            out = bytearray(self.width * self.height * 3)
            out[0::3] = self.pixels[2::4]
            out[1::3] = self.pixels[1::4]
            out[2::3] = self.pixels[0::4]
            f.write(out)


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    c = RfbClient(connect(sys.argv[1]),
                  sys.argv[3] if len(sys.argv) == 4 else None)
    c.refresh()
    c.save_ppm(sys.argv[2])
    print("%dx%d -> %s" % (c.width, c.height, sys.argv[2]))
