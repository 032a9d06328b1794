#!/usr/bin/python3
"""dm-remote route under pressure, without QEMU.  TAP.

 - Out of descriptors (a low RLIMIT_NOFILE and idle connections until
   accept fails with EMFILE), the router must not spin: its CPU time over
   a second stays low.  Once the connections close it serves again.
 - --max-sessions: past the cap a connection is closed at once.
 - The whole VERSION has one deadline from the accept: a client that
   trickles a byte every 200 ms is closed at --hello-timeout.

    tests/net/route-limits-test.py DM_REMOTE
"""
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import vup_client  # noqa: E402
from taplib import finish, free_port, ok, stop  # noqa: E402

EDU_ID = 0x010000ED
NOFILE = 32             # the router's RLIMIT_NOFILE in the EMFILE test
def wait_for(pred, seconds=10.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])     # utime + stime


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def session(port, timeout=5.0):
    """A routed session: VERSION, then edu's identification register."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        c = vup_client.Client(s)
        c.version(device_model="dm-edu")
        return c.read32(0, 0)


def try_session(port):
    try:
        return session(port) == EDU_ID
    except (OSError, vup_client.VupError):
        return False


def closed_by_peer(s, timeout):
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except OSError:
        return False


def main():
    dm = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="dm-route-limits-")
    procs = []

    def start(args, log, nofile=None):
        def limit():
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        p = subprocess.Popen([dm] + args, stdout=open(log, "w"),
                             stderr=subprocess.STDOUT, preexec_fn=limit)
        procs.append(p)
        return p

    def log_has(log, text):
        with open(log) as f:
            return text in f.read()

    try:
        io = os.path.join(tmp, "io.sock")
        start(["serve", "--model", "edu", "--listen", "unix:" + io],
              os.path.join(tmp, "io.log"))
        wait_for(lambda: os.path.exists(io))

        # 1. At the descriptor limit.
        port = free_port()
        log = os.path.join(tmp, "route.log")
        router = start(["route", "--listen", "tcp:127.0.0.1:%d" % port,
                        "--route", "dm-edu=unix:" + io,
                        "--hello-timeout", "60"], log, nofile=NOFILE)
        wait_for(lambda: log_has(log, "routing"))
        ok(try_session(port), "the router serves a session")
        # Idle connections until the router holds all its descriptors,
        # then a few more waiting in its backlog, for accept to fail on.
        idle, beyond = [], 0
        for _ in range(64):
            if fd_count(router.pid) >= NOFILE:
                beyond += 1
                if beyond > 4:
                    break
            try:    # a full backlog leaves a connect hanging
                idle.append(socket.create_connection(("127.0.0.1", port),
                                                     timeout=3))
            except OSError:
                break
        t0 = cpu_ticks(router.pid)
        time.sleep(1.0)
        used = cpu_ticks(router.pid) - t0
        hz = os.sysconf("SC_CLK_TCK")
        ok(fd_count(router.pid) >= NOFILE, "idle connections take all the "
           "router's descriptors")
        # A spinning accept loop burns a whole CPU (hz ticks a second).
        ok(used < hz // 5, "at EMFILE the router does not spin (%d of %d "
           "ticks in a second)" % (used, hz))
        ok(log_has(log, "Too many open files"), "its accept's EMFILE is "
           "logged")
        ok(router.poll() is None, "the router is alive at EMFILE")
        for s in idle:
            s.close()
        ok(wait_for(lambda: try_session(port), 20),
           "the router serves again once the connections close")

        # 2. The session cap.
        port = free_port()
        log = os.path.join(tmp, "route-cap.log")
        start(["route", "--listen", "tcp:127.0.0.1:%d" % port,
               "--route", "dm-edu=unix:" + io, "--max-sessions", "2",
               "--hello-timeout", "60"], log)
        wait_for(lambda: log_has(log, "routing"))
        held = [socket.create_connection(("127.0.0.1", port))
                for _ in range(2)]
        extra = socket.create_connection(("127.0.0.1", port))
        ok(closed_by_peer(extra, 10), "a session past --max-sessions is "
           "closed at once")
        ok(log_has(log, "--max-sessions"), "and the refusal is logged")
        extra.close()
        for s in held:
            s.close()
        ok(wait_for(lambda: try_session(port), 20),
           "below the cap again, sessions are served")

        # 3. One deadline for the whole VERSION.
        port = free_port()
        log = os.path.join(tmp, "route-hello.log")
        start(["route", "--listen", "tcp:127.0.0.1:%d" % port,
               "--route", "dm-edu=unix:" + io, "--hello-timeout", "1"], log)
        wait_for(lambda: log_has(log, "routing"))
        s = socket.create_connection(("127.0.0.1", port))
        # A VERSION header saying 100 bytes, sent a byte every 200 ms:
        # 20 s in all, each byte well inside any per-read timeout.
        msg = bytes([1, 0, 1, 0, 100, 0, 0, 0]) + bytes(92)
        s.setblocking(False)
        sent, closed = 0, False
        while sent < len(msg) and not closed:
            try:
                s.send(msg[sent:sent + 1])
                sent += 1
                if s.recv(1) == b"":
                    closed = True
            except BlockingIOError:
                pass
            except OSError:
                closed = True
            time.sleep(0.2)
        ok(closed and sent < len(msg), "a client trickling its VERSION is "
           "closed at the deadline (after %d of %d bytes)" % (sent, len(msg)))
        s.close()
        ok(try_session(port), "and the router serves the next one")
    finally:
        stop(procs, tmp)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
