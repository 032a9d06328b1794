#!/usr/bin/python3
# A display's screen over the launcher's WebSocket (display-ws.c, issue 23
# point 4): GET /v1/ws/instances/ID/display is RFB with security "None"
# only, the launcher having authenticated to the display's VNC server
# with its password (rfb-auth.c), over the display's UNIX socket and its
# TCP port; the screen arrives and a key typed through it reaches the
# paired keyboard's link.  Refused: an unknown instance, one without a
# display, a viewer asking for VNC authentication.  A password file the
# launcher reads wrong makes the display refuse the launcher (so the
# launcher does authenticate); the password is in no log.  Real models,
# no guest.  TAP.
#
#   display-ws-test.py DM_REMOTE
import glob
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(here))
import rfb_client  # noqa: E402
import wslib  # noqa: E402
from taplib import finish, ok, read, show_tails, stop, wait_for  # noqa: E402

binary = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="dm-dws-")
api = os.path.join(tmp, "api.sock")
state = os.path.join(tmp, "state")
# Below the kernel's ephemeral ports, as launcher-test.sh does.
lo = 12500 + (os.getpid() % 400) * 20
log = open(os.path.join(tmp, "launcher.log"), "ab")
launcher = subprocess.Popen(
    [binary, "daemon", "--role", "server", "--listen", "unix:" + api,
     "--platform-id", "srv-w", "--state-dir", state,
     "--port-range", "%d-%d" % (lo, lo + 19)],
    stdout=log, stderr=subprocess.STDOUT)


def req(method, path, body=None):
    """(status, JSON or None) of one request to the launcher."""
    out = subprocess.run(
        [sys.executable, os.path.join(here, "api.py"), "unix:" + api,
         method, path] + ([json.dumps(body)] if body is not None else []),
        capture_output=True, text=True, timeout=90).stdout
    status, _, rest = out.partition("\t")
    _, _, text = rest.partition("\t")
    try:
        return int(status), json.loads(text)
    except ValueError:
        return int(status or 0), None


def create(iid, model, vm, **extra):
    body = {"id": iid, "model": model, "transport": "unix",
            "restart": "on-failure", "bind": {"vm": vm}}
    body.update(extra)
    return req("POST", "/v1/instances", body)


def counters(iid, pid):
    """The input link's counters of instance @iid, from a fresh dump."""
    path = os.path.join(state, "instances", iid, "log")
    before = read(path).count("batches, ")
    os.kill(pid, signal.SIGUSR1)
    wait_for(lambda: read(path).count("batches, ") > before, 20)
    last = re.findall(r"(\d+) records in (\d+) batches", read(path))
    return tuple(map(int, last[-1])) if last else (0, 0)


def ws_open(iid):
    """The display's WebSocket on the launcher's API socket."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(api)
    return wslib.connect(s, "/v1/ws/instances/%s/display" % iid)


def viewer(iid, password=None):
    return rfb_client.RfbClient(wslib.Stream(ws_open(iid)), password)


def refused(iid):
    try:
        ws_open(iid).close()
        return 101
    except wslib.HandshakeError as e:
        return e.status


def main():
    if not wait_for(lambda: os.path.exists(api), 20):
        ok(False, "launcher starts")
        return
    st, gfx = create("gfx-1", "bochs-display", "vm-a", vnc="unix")
    st2, kbd = create("kbd-1", "virtio-keyboard", "vm-a")
    st3, g2 = create("gfx-2", "bochs-display", "vm-b", vnc="tcp")
    st4, _ = create("edu-1", "edu", "vm-a")
    ok((st, st2, st3, st4) == (201, 201, 201, 201), "instances-created")

    # Over the display's UNIX socket: None offered, the screen served.
    v = viewer("gfx-1")
    ok(v.security == rfb_client.SEC_NONE and v.width > 0 and
       v.height > 0 and len(v.pixels) == v.width * v.height * 4,
       "screen-over-websocket %dx%d" % (v.width, v.height))
    # A key typed through it reaches the paired keyboard's link.
    k0 = counters("kbd-1", kbd["pid"])
    v.key(0x61, True)           # XK_a
    v.key(0x61, False)
    ok(wait_for(lambda: counters("kbd-1", kbd["pid"])[1] >= k0[1] + 2, 30),
       "key-reaches-keyboard")
    v.sock.close()

    # Over its TCP port the same.
    v = viewer("gfx-2")
    ok(v.width > 0 and v.refresh() is not None, "screen-over-tcp-vnc")
    v.sock.close()

    # Only None is offered: the password stays in the launcher.
    try:
        viewer("gfx-1", password=gfx["vnc_password"])
        ok(False, "vnc-auth-not-offered")
    except rfb_client.RfbError as e:
        ok("not offered" in str(e), "vnc-auth-not-offered %s" % e)

    ok(refused("nope") == 404, "unknown-instance-404")
    ok(refused("edu-1") == 404, "no-display-404")
    ok(refused("gfx-1/x") == 404, "bad-path-404")

    # The launcher authenticates: with another password in the file it
    # reads (the model keeps the one it started with), the display
    # refuses it and the viewer's WebSocket ends within the handshake.
    pw = os.path.join(state, "instances", "gfx-2", "vnc-password")
    with open(pw, "w") as f:
        f.write("Wrong123\n")
    try:
        viewer("gfx-2")
        ok(False, "launcher-authenticates")
    except (rfb_client.RfbError, OSError) as e:
        ok(wait_for(lambda: "refused the password" in
                    read(os.path.join(tmp, "launcher.log")), 20),
           "launcher-authenticates %s" % e)
    with open(pw, "w") as f:
        f.write(g2["vnc_password"] + "\n")
    v = viewer("gfx-2")
    ok(v.width > 0, "right-password-again")
    v.sock.close()

    logs = read(os.path.join(tmp, "launcher.log")) + "".join(
        read(p) for p in glob.glob(os.path.join(state, "*", "*", "log")))
    ok("a viewer attached" in logs and gfx["vnc_password"] not in logs and
       g2["vnc_password"] not in logs, "password-not-in-logs")
    # SIGTERM: every model stopped, exit 0 (under ASan: no leak).
    launcher.terminate()
    ok(launcher.wait(timeout=60) == 0, "launcher-exits-cleanly")


try:
    main()
except Exception as e:              # a crash is a failure, with its logs
    ok(False, "unexpected %r" % e)
stop([launcher], None)
code = finish()
if code:
    show_tails(tmp, ["launcher.log"], 30)
if not os.environ.get("KEEP"):
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(code)
