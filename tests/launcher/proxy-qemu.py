#!/usr/bin/python3
# A stand-in for QEMU whose proxies the test sets: it serves a minimal
# QMP on the -qmp unix:PATH,... socket it is given, answers
# query-remote-devices with the JSON of the VM's file "proxies" (given
# at POST /v1/vms, written as ID.proxies beside the socket) and every
# other command with {"return": {}}; it writes each command's name to
# ID.asked there.  With a file "mute" it never answers
# query-remote-devices (a QEMU stuck).  It exits on SIGTERM and gives up
# by itself after 120 s.
import json
import os
import socket
import sys

args = sys.argv[1:]
name = args[args.index('-name') + 1]
path = args[args.index('-qmp') + 1].split(',')[0][len('unix:'):]
vm_dir = os.path.dirname(path)


def vm_file(what):
    p = os.path.join(vm_dir, "%s.%s" % (name, what))
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return f.read()


srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(4)
srv.settimeout(120)
try:
    while True:
        conn, _ = srv.accept()
        conn.settimeout(120)
        conn.sendall(b'{"QMP": {"version": {}, "capabilities": []}}\r\n')
        buf = b''
        while True:
            data = conn.recv(4096)
            if not data:
                break
            buf += data
            while b'\n' in buf:
                line, buf = buf.split(b'\n', 1)
                cmd = json.loads(line)
                with open(os.path.join(vm_dir, name + ".asked"), "a") as f:
                    f.write("%s\n" % cmd.get('execute'))
                reply = {'return': {}}
                if cmd.get('execute') == 'query-remote-devices':
                    if vm_file('mute') is not None:
                        continue
                    reply = {'return': json.loads(vm_file('proxies') or
                                                  '[]')}
                if 'id' in cmd:
                    reply['id'] = cmd['id']
                conn.sendall(json.dumps(reply).encode() + b'\r\n')
        conn.close()
except OSError:
    pass
