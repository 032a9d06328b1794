#!/usr/bin/python3
# A stand-in for QEMU whose QMP misbehaves when asked: it serves QMP on
# the -qmp unix:PATH,... socket it is given, accepting again when a
# connection ends, and answers
#   query-endless  with no reply but 16 MiB without a newline: the first
#                  512 KiB, then (ID.half written beside the socket) it
#                  waits for a file ID.go there before the rest;
#   query-deep     with a reply nested 10,000 deep, its "id" after it;
#   query-big      with a reply of exactly 1 MiB before its "\r\n" (the
#                  length of its string written to ID.big);
#   query-status   with "running", anything else with {"return": {}}.
# It writes each command's name to ID.asked.  It exits on SIGTERM and
# gives up by itself after 120 s without a connection.
import json
import os
import socket
import sys
import time

args = sys.argv[1:]
name = args[args.index('-name') + 1]
path = args[args.index('-qmp') + 1].split(',')[0][len('unix:'):]
vm_dir = os.path.dirname(path)
MiB = 1024 * 1024


def vm_file(what):
    return os.path.join(vm_dir, "%s.%s" % (name, what))


def endless(conn):
    chunk = b'x' * 65536
    for _ in range(8):                  # 512 KiB
        conn.sendall(chunk)
    open(vm_file('half'), 'w').close()
    deadline = time.monotonic() + 120
    while not os.path.exists(vm_file('go')) and time.monotonic() < deadline:
        time.sleep(0.05)
    for _ in range(16 * 16 - 8):        # the rest of 16 MiB
        conn.sendall(chunk)
    # No newline, ever: wait for the launcher to give up on us.
    while conn.recv(4096):
        pass


def answer(conn, cmd):
    what = cmd.get('execute')
    tail = (', "id": %s' % json.dumps(cmd['id'])) if 'id' in cmd else ''
    if what == 'query-endless':
        endless(conn)
        return False
    if what == 'query-deep':
        line = '{"return": ' + '[' * 10000 + ']' * 10000 + tail + '}'
    elif what == 'query-big':
        head = '{"return": {"pad": "'
        end = '"}' + tail + '}'
        pad = MiB - len(head) - len(end)
        line = head + 'p' * pad + end
        with open(vm_file('big'), 'w') as f:
            f.write("%d\n" % pad)
    elif what == 'query-status':
        line = '{"return": {"status": "running", "running": true}' + tail + '}'
    else:
        line = '{"return": {}' + tail + '}'
    conn.sendall(line.encode() + b'\r\n')
    return True


def serve(conn):
    conn.sendall(b'{"QMP": {"version": {}, "capabilities": []}}\r\n')
    buf = b''
    while True:
        data = conn.recv(65536)
        if not data:
            return
        buf += data
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            cmd = json.loads(line)
            with open(vm_file('asked'), 'a') as f:
                f.write("%s\n" % cmd.get('execute'))
            if not answer(conn, cmd):
                return


srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(4)
srv.settimeout(120)
try:
    while True:
        conn, _ = srv.accept()
        conn.settimeout(120)
        try:
            serve(conn)
        except OSError:
            pass
        conn.close()
except OSError:
    pass
