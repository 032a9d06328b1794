#!/usr/bin/python3
"""Drive a dm-remote console socket like a person at a terminal.

    console-chat.py SOCKET TIMEOUT STEP...

SOCKET is a console's UNIX socket, or ws:ADDRESS:PATH, a WebSocket at
PATH of the server at ADDRESS (unix:SOCK or tcp:HOST:PORT, without a
':' in SOCK), such as the orchestrator's /v1/ws/console/VM.

Steps run in order: "expect:TEXT" waits (at most TIMEOUT seconds in all)
for a console line containing TEXT, "line:TEXT" for a line equal to TEXT,
"send:TEXT" sends TEXT and a newline at once, "type:TEXT" a key at a
time (20 ms apart).  Everything received is copied to
stdout.  Exit status 0 when every step passed, 1 otherwise (saying which).
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import wslib  # noqa: E402


def connect(path):
    if not path.startswith("ws:"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        return sock
    kind, _, rest = path[3:].partition(":")
    if kind == "unix":
        where, _, wpath = rest.partition(":")
    else:
        host, port, wpath = rest.rsplit(":", 2)
        where = host + ":" + port
    return wslib.connect(wslib.open_address(kind + ":" + where), wpath)


def main():
    path, timeout, steps = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock = connect(path)
            break
        except (OSError, wslib.HandshakeError):
            if time.monotonic() > deadline:
                print(f"console-chat: cannot connect to {path}")
                return 1
            time.sleep(0.05)
    buf = b""
    lines = []

    def next_line():
        nonlocal buf
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            sock.settimeout(left)
            try:
                data = sock.recv(4096)
            except socket.timeout:
                return None
            if not data:
                return None
            sys.stdout.write(data.decode(errors="replace"))
            buf += data
        line, buf = buf.split(b"\n", 1)
        return line.decode(errors="replace").replace("\r", "")

    for step in steps:
        kind, _, text = step.partition(":")
        if kind == "send":
            sock.sendall(text.encode() + b"\n")
            continue
        if kind == "type":
            # A key at a time, as a person (or a browser's terminal) types.
            for c in text.encode() + b"\n":
                sock.sendall(bytes([c]))
                time.sleep(0.02)
            continue
        while True:
            line = next_line()
            if line is None:
                print(f"\nconsole-chat: timed out waiting for {step!r}")
                return 1
            lines.append(line)
            if (kind == "expect" and text in line) or \
               (kind == "line" and line.strip() == text):
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
