#!/usr/bin/python3
"""A stand-in for QEMU that reaches its device models as QEMU would.

The density test (issue 21 point 4) runs a thousand VMs: a thousand QEMUs
do not fit in this machine's memory, this does (one small process).  For
each `-remote-device bus=...,server=tcp:HOST:PORT,vm-id=...,
device-model-id=...,token-secret=ID` it reads the token from the
`-object secret,id=ID,file=PATH` the orchestrator gave, opens the
vfio-user session with VERSION and the identifiers and token
(docs/protocol.md, dm_ids), reads the model's first register and keeps
the session open; only then, as QEMU answers QMP once its devices are
realized, it serves QMP on the `-qmp unix:PATH,...` socket: every command
answers {"return": {}}, query-status "running".  A model that refuses or
does not answer makes it exit 1 (QEMU failing to realize the device).
A migration target (`-incoming`) opens no session (QEMU's waits in
standby for the source to let go), and `query-migrate` answers
"completed" at once: the orchestrator's migration runs to its end.
`system_powerdown` and `quit` end it, as a guest that powers off.
SIGTERM ends it.  The client launcher runs it as `--qemu`.
"""
import json
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..'))
import vup_client  # noqa: E402


def qemu_opts(text):
    """key=value,... as QEMU splits it (a doubled comma is a comma)."""
    out = {}
    for part in text.replace(',,', '\0').split(','):
        key, _, value = part.partition('=')
        out[key] = value.replace('\0', ',')
    return out


def main():
    args = sys.argv[1:]
    qmp_path = None
    secrets = {}
    devices = []
    for opt, val in zip(args, args[1:]):
        if opt == '-qmp':
            qmp_path = val.split(',')[0][len('unix:'):]
        elif opt == '-object' and val.startswith('secret,'):
            o = qemu_opts(val)
            secrets[o['id']] = o['file']
        elif opt == '-remote-device':
            devices.append(qemu_opts(val))
    sessions = []
    # A migration's target (-incoming): QEMU's proxies wait in standby
    # while the source holds the models' sessions (a model serves one
    # client); this stand-in does not take them over: QMP only.
    if '-incoming' in args:
        devices = []
    for d in devices:
        with open(secrets[d['token-secret']]) as f:
            token = f.read()
        host, port = d['server'][len('tcp:'):].rsplit(':', 1)
        s = socket.create_connection((host, int(port)), timeout=30)
        c = vup_client.Client(s)
        try:
            c.version(vm=d['vm-id'], hypervisor=d['hypervisor-id'],
                      client_platform=d['client-platform-id'],
                      device_model=d['device-model-id'],
                      server_platform=d['server-platform-id'], token=token)
            c.read(0, 0, 1)
        except (OSError, vup_client.VupError) as e:
            print('fake-qemu: %s refused us: %s' % (d['server'], e),
                  file=sys.stderr)
            return 1
        sessions.append(s)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(qmp_path)
    srv.listen(4)
    while True:
        conn, _ = srv.accept()
        serve_qmp(conn)


def serve_qmp(conn):
    conn.sendall(b'{"QMP": {"version": {}, "capabilities": []}}\r\n')
    buf = b''
    while True:
        try:
            data = conn.recv(4096)
        except OSError:
            data = b''
        if not data:
            conn.close()
            return
        buf += data
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            cmd = json.loads(line)
            reply = {'return': {}}
            if cmd.get('execute') == 'query-status':
                reply['return'] = {'status': 'running', 'running': True}
            # A migration is over as soon as asked (nothing to send).
            if cmd.get('execute') == 'query-migrate':
                reply['return'] = {'status': 'completed'}
            if 'id' in cmd:
                reply['id'] = cmd['id']
            conn.sendall(json.dumps(reply).encode() + b'\r\n')
            # A guest that powers off at once, as QEMU then quits.
            if cmd.get('execute') in ('system_powerdown', 'quit'):
                os._exit(0)


if __name__ == '__main__':
    sys.exit(main())
