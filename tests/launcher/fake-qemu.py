#!/usr/bin/python3
# A stand-in for QEMU that ignores SIGTERM: it serves a minimal QMP on the
# -qmp unix:PATH,... socket it is given and answers every command with
# {"return": {}}, accepting again when a connection ends.  The launcher's
# test uses it to see SIGKILL follow an ignored SIGTERM.  It gives up by
# itself after 60 s without a connection.  With FAKE_QEMU_STRAY_ID set,
# it also sends a reply with that "id" (nobody's) after the greeting: the
# launcher logs it, escaped.  With FAKE_QEMU_DEEP set, on the first
# connection, after its first answer (the launcher's query-status that
# says the VM runs), it sends a line of 1 MiB of '[' (within the
# launcher's 1 MiB a line): the launcher refuses it for its depth (json-
# glib recursed once per level, off the stack), drops that connection
# and connects again at the next command.
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
deep = bool(os.environ.get('FAKE_QEMU_DEEP'))


def serve(conn, first):
    global deep
    conn.sendall(b'{"QMP": {"version": {}, "capabilities": []}}\r\n')
    if first and os.environ.get('FAKE_QEMU_STRAY_ID'):
        stray = {'return': {}, 'id': os.environ['FAKE_QEMU_STRAY_ID']}
        conn.sendall(json.dumps(stray).encode() + b'\r\n')
    buf = b''
    while True:
        data = conn.recv(4096)
        if not data:
            break
        buf += data
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            cmd = json.loads(line)
            reply = {'return': {}}
            if 'id' in cmd:
                reply['id'] = cmd['id']
            conn.sendall(json.dumps(reply).encode() + b'\r\n')
            if deep and cmd.get('execute') == 'query-status':
                deep = False
                conn.sendall(b'[' * (1024 * 1024 - 2) + b'\r\n')


try:
    first = True
    while True:
        conn, _ = srv.accept()
        conn.settimeout(60)
        try:
            serve(conn, first)
        except OSError:
            pass
        conn.close()
        first = False
except OSError:
    pass
