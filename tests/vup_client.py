"""A minimal vfio-user client for the test scripts (no QEMU needed).

Speaks the little-endian framing of docs/protocol.md over any socket
object (plain or ssl): VERSION with identifiers, REGION_READ and
REGION_WRITE.
"""
import json
import struct

CMD_VERSION = 1
CMD_REGION_READ = 9
CMD_REGION_WRITE = 10
FLAG_REPLY = 0x1
FLAG_ERROR = 0x20


class VupError(Exception):
    def __init__(self, errno_):
        super().__init__("error reply %d" % errno_)
        self.errno = errno_


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed by the server")
        buf += chunk
    return buf


class Client:
    def __init__(self, sock):
        self.sock = sock
        self.next_id = 1

    def transact(self, cmd, payload=b""):
        msg_id = self.next_id
        self.next_id += 1
        self.sock.sendall(struct.pack("<HHIII", msg_id, cmd,
                                      16 + len(payload), 0, 0) + payload)
        rid, rcmd, size, flags, err = struct.unpack(
            "<HHIII", recv_exact(self.sock, 16))
        body = recv_exact(self.sock, size - 16)
        if rid != msg_id or rcmd != cmd or not flags & FLAG_REPLY:
            raise ConnectionError("unexpected reply %d/%d" % (rid, rcmd))
        if flags & FLAG_ERROR:
            raise VupError(err)
        return body

    def version(self, **ids):
        caps = {"capabilities": {"max_msg_fds": 0}}
        if ids:
            caps["capabilities"]["dm_ids"] = ids
        self.transact(CMD_VERSION,
                      struct.pack("<HH", 0, 0) + json.dumps(caps).encode())

    def read32(self, region, offset):
        body = self.transact(CMD_REGION_READ,
                             struct.pack("<QII", offset, region, 4))
        return struct.unpack("<I", body[16:20])[0]

    def read(self, region, offset, size):
        body = self.transact(CMD_REGION_READ,
                             struct.pack("<QII", offset, region, size))
        return body[16:16 + size]

    def write(self, region, offset, data):
        self.transact(CMD_REGION_WRITE,
                      struct.pack("<QII", offset, region, len(data)) + data)
