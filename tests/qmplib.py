"""A QMP client for the Python tests."""
import json
import socket
import time


def connect(path, deadline):
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Qmp:
    """A QMP client; every answer is awaited at most @wait seconds."""

    def __init__(self, path, wait):
        self.sock = connect(path, time.monotonic() + 30)
        self.sock.settimeout(wait)
        self.file = self.sock.makefile("rb")
        self.file.readline()                     # the greeting
        self.cmd("qmp_capabilities")

    def cmd(self, _execute, **args):
        # Not "name": set_link and others take an argument of that name.
        msg = {"execute": _execute}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            line = self.file.readline()
            if not line:
                raise EOFError("QMP closed")
            reply = json.loads(line)
            if "event" not in reply:
                return reply

    def device(self, dev_id):
        for d in self.cmd("query-remote-devices")["return"]:
            if d["id"] == dev_id:
                return d
        raise KeyError(dev_id)
