#!/usr/bin/python3
# A stand-in for QEMU that ignores SIGTERM: it serves a minimal QMP on the
# -qmp unix:PATH,... socket it is given and answers every command with
# {"return": {}}.  The launcher's test uses it to see SIGKILL follow an
# ignored SIGTERM.  It gives up by itself after 60 s.  With
# FAKE_QEMU_STRAY_ID set, it also sends a reply with that "id" (nobody's)
# after the greeting: the launcher logs it, escaped.  With FAKE_QEMU_DEEP
# set, it then sends a line of 4 MB of '[': the launcher refuses it and
# goes on reading (json-glib recursed once per level, off the stack).
import json
import os
import signal
import socket
import sys

signal.signal(signal.SIGTERM, signal.SIG_IGN)
args = sys.argv[1:]
path = args[args.index('-qmp') + 1].split(',')[0][len('unix:'):]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
srv.settimeout(60)
try:
    conn, _ = srv.accept()
    conn.settimeout(60)
    conn.sendall(b'{"QMP": {"version": {}, "capabilities": []}}\r\n')
    if os.environ.get('FAKE_QEMU_STRAY_ID'):
        stray = {'return': {}, 'id': os.environ['FAKE_QEMU_STRAY_ID']}
        conn.sendall(json.dumps(stray).encode() + b'\r\n')
    if os.environ.get('FAKE_QEMU_DEEP'):
        conn.sendall(b'[' * (4 * 1024 * 1024) + b'\r\n')
    buf = b''
    while True:
        data = conn.recv(4096)
        if not data:
            break
        buf += data
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            reply = {'return': {}}
            if 'id' in json.loads(line):
                reply['id'] = json.loads(line)['id']
            conn.sendall(json.dumps(reply).encode() + b'\r\n')
except OSError:
    pass
