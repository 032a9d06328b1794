#!/usr/bin/python3
"""dm-remote serve with --tls-creds: a connection that has not finished
its TLS handshake and VERSION never holds up the served client.  TAP.

 - A plain client that sends its message a byte every 200 ms (20 s in
   all): the verified TLS client is served meanwhile, and the trickler is
   closed at --hello-timeout counted from its accept.
 - A plain client that sends a whole message gets EPROTONOSUPPORT.
 - Without TLS: a client that connected first keeps its pending slot
   while another address floods the server with idle connections.

    tests/net/hello-test.py DM_REMOTE
"""
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, ".."))
import vup_client  # noqa: E402
from taplib import finish, free_port, ok, stop  # noqa: E402

EDU_ID = 0x010000ED
EPROTONOSUPPORT = 93
class Trickler(threading.Thread):
    """Sends @msg a byte every 200 ms until done, stopped or refused."""

    def __init__(self, sock, msg):
        super().__init__(daemon=True)
        self.sock, self.msg = sock, msg
        self.sent = 0
        self.stop = False
        self.refused = False

    def run(self):
        while not self.stop and self.sent < len(self.msg):
            try:
                self.sock.send(self.msg[self.sent:self.sent + 1])
            except OSError:
                self.refused = True
                return
            self.sent += 1
            time.sleep(0.2)


def closed_by_peer(s, timeout):
    s.settimeout(timeout)
    try:
        while True:
            if s.recv(4096) == b"":
                return True
    except ConnectionResetError:
        return True
    except OSError:
        return False


def main():
    dm = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="dm-hello-")
    certs = os.path.join(tmp, "certs")
    server = None
    try:
        subprocess.run([os.path.join(here, "make-certs.sh"), certs],
                       check=True)
        port = free_port()
        log = os.path.join(tmp, "serve.log")
        server = subprocess.Popen(
            [dm, "serve", "--model", "edu", "--listen",
             "tcp:127.0.0.1:%d" % port, "--tls-creds",
             os.path.join(certs, "server"), "--hello-timeout", "2"],
            stdout=open(log, "w"), stderr=subprocess.STDOUT)
        for _ in range(500):
            with open(log) as f:
                if "serving" in f.read():
                    break
            time.sleep(0.01)

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(os.path.join(certs, "client",
                                               "ca-cert.pem"))
        ctx.load_cert_chain(os.path.join(certs, "client", "client-cert.pem"),
                            os.path.join(certs, "client", "client-key.pem"))
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        tls = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        served = vup_client.Client(tls)
        served.version()
        ok(served.read32(0, 0) == EDU_ID, "the verified TLS client is "
           "served")

        # A plain vfio-user VERSION, 100 bytes, a byte every 200 ms.
        msg = bytes([1, 0, 1, 0, 100, 0, 0, 0]) + bytes(92)
        t = Trickler(socket.create_connection(("127.0.0.1", port)), msg)
        t.start()
        while t.sent < 3 and t.is_alive():
            time.sleep(0.01)
        answered = 0
        try:
            for _ in range(3):
                answered += served.read32(0, 0) == EDU_ID
        except OSError as e:
            print("# the served client's read failed: %s" % e)
        ok(answered == 3 and t.sent < len(msg) and not t.refused,
           "the served client is answered while a plain client trickles "
           "its first message (%d of %d bytes sent)" % (t.sent, len(msg)))
        ok(closed_by_peer(t.sock, 15) and t.sent < len(msg),
           "the trickler is closed at the hello deadline from its accept "
           "(after %d of %d bytes)" % (t.sent, len(msg)))
        t.stop = True
        t.join()
        t.sock.close()

        # A whole plain message: refused in its own protocol.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            try:
                vup_client.Client(s).version()
                err = 0
            except vup_client.VupError as e:
                err = e.errno
            except OSError:
                err = -1
        ok(err == EPROTONOSUPPORT, "a plain client gets EPROTONOSUPPORT "
           "(got %d)" % err)

        try:
            ok(served.read32(0, 0) == EDU_ID, "the served client is "
               "unaffected")
        except OSError as e:
            ok(False, "the served client is unaffected: %s" % e)
        tls.close()
        ok(server.poll() is None, "the server is alive")
        server.terminate()
        server.wait(10)

        # Pending slots over plain TCP: a flood from one address evicts
        # its own connections, never a client connecting from another.
        port = free_port()
        log = os.path.join(tmp, "plain.log")
        server = subprocess.Popen(
            [dm, "serve", "--model", "edu", "--listen",
             "tcp:127.0.0.1:%d" % port, "--hello-timeout", "60"],
            stdout=open(log, "w"), stderr=subprocess.STDOUT)
        for _ in range(500):
            with open(log) as f:
                if "serving" in f.read():
                    break
            time.sleep(0.01)
        real = socket.create_connection(("127.0.0.1", port), timeout=5,
                                        source_address=("127.0.0.1", 0))
        flood = []
        for _ in range(3 * 8):      # three times the 8 pending slots
            flood.append(socket.create_connection(
                ("127.0.0.1", port), timeout=5,
                source_address=("127.0.0.2", 0)))
        for _ in range(500):        # the server has seen them all
            with open(log) as f:
                if f.read().count("closing the oldest") >= 2 * 8 + 1:
                    break
            time.sleep(0.01)
        try:
            c = vup_client.Client(real)
            c.version()
            got = c.read32(0, 0)
        except (OSError, vup_client.VupError) as e:
            got = "%s" % e
        ok(got == EDU_ID, "a client is served after a flood of idle "
           "connections from another address (%s)" % got)
        for f in flood:
            f.close()
        real.close()
    finally:
        stop([server], tmp)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
