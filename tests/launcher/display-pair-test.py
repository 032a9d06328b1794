#!/usr/bin/python3
# A VM's display paired with its keyboard and tablet by a server
# launcher (dm-remote/launcher/pairing.c, issue 19): created in either
# order, the display's VNC server is the launcher's to place (a socket
# in its directory, or a port of the range), its password made by the
# launcher (a 0600 file, never on a command line or in a log), keys and
# pointer moves typed through VNC reach the input models' links, one
# display per VM, GET /v1/displays; the display killed and restarted
# keeps its address, password and pairing.  Real models, no guest: what
# reaches a link is read from the model's own counters (kill -USR1).
# TAP.
#
#   display-pair-test.py DM_REMOTE
import glob
import json
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(here))
import rfb_client  # noqa: E402
from taplib import finish, ok, read, show_tails, stop, wait_for  # noqa: E402

sys.path.insert(0, here)

binary = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="dm-pair-")
api = os.path.join(tmp, "api.sock")
state = os.path.join(tmp, "state")
# Below the kernel's ephemeral ports, as launcher-test.sh does.
lo = 12000 + (os.getpid() % 400) * 20
log = open(os.path.join(tmp, "launcher.log"), "ab")


def start_launcher():
    return subprocess.Popen(
        [binary, "daemon", "--role", "server", "--listen", "unix:" + api,
         "--platform-id", "srv-p", "--state-dir", state,
         "--port-range", "%d-%d" % (lo, lo + 19),
         # Another loopback address than the models': --vnc-host is used.
         "--vnc-host", "127.0.0.2"],
        stdout=log, stderr=subprocess.STDOUT)


launchers = [start_launcher()]


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


def viewer(address, password):
    return rfb_client.RfbClient(rfb_client.connect(address, 20),
                                password=password)


def main():
    if not wait_for(lambda: os.path.exists(api), 20):
        ok(False, "launcher starts")
        return
    # Refused: a VNC choice on a model without one, an unknown kind,
    # the password from a client.
    st, r = create("edu-x", "edu", "vm-a", vnc="unix")
    ok(st == 400 and "no VNC server" in r["error"], "vnc-on-edu-refused")
    st, r = create("gfx-x", "bochs-display", "vm-a", vnc="udp")
    ok(st == 400 and "unknown vnc" in r["error"], "vnc-kind-refused")
    for prop in ("vnc-password", "vnc-password-file"):
        st, r = create("gfx-x", "bochs-display", "vm-a",
                       props={prop: "secret"})
        ok(st == 400 and "not taken through the API" in r["error"],
           prop + "-refused")

    # The tablet first, then the display, then the keyboard.
    st, tab = create("tab-1", "virtio-tablet", "vm-a")
    ok(st == 201, "tablet-created")
    st, gfx = create("gfx-1", "bochs-display", "vm-a", vnc="unix")
    gdir = os.path.join(state, "instances", "gfx-1")
    ok(st == 201 and gfx["vnc"] == "unix:" + os.path.join(gdir, "vnc"),
       "display-vnc-unix %s" % gfx)
    password = gfx.get("vnc_password") or ""
    ok(re.fullmatch(r"[A-Za-z0-9]{8}", password) is not None,
       "display-password-made")
    st, kbd = create("kbd-1", "virtio-keyboard", "vm-a")
    ok(st == 201, "keyboard-created")

    # The password: a 0600 file, not on a command line, not in a log.
    pw = os.path.join(gdir, "vnc-password")
    ok(stat.S_IMODE(os.stat(pw).st_mode) == 0o600 and
       read(pw).strip() == password, "password-file-0600")
    ok(stat.S_IMODE(os.stat(os.path.join(gdir, "vnc")).st_mode) == 0o600,
       "vnc-socket-0600")
    cmdlines = b"".join(open(p, "rb").read() for p in
                        glob.glob("/proc/[0-9]*/cmdline")
                        if os.path.exists(p))
    ok(password.encode() not in cmdlines and
       b"vnc-password-file=" in cmdlines, "password-not-in-ps")
    st, again = req("GET", "/v1/instances/gfx-1")
    ok(st == 200 and again["vnc"] == gfx["vnc"] and
       again["vnc_password"] == password, "record-has-vnc")

    st, r = req("GET", "/v1/displays")
    ok(st == 200 and r["displays"] == [
        {"vm": "vm-a", "instance": "gfx-1", "vnc": gfx["vnc"],
         "keyboard": "kbd-1", "tablet": "tab-1"}], "displays-listed %s" % r)
    # One VNC display per VM.
    st, r = create("gfx-2", "bochs-display", "vm-a", vnc="unix")
    ok(st == 409 and "has a display here already" in r["error"],
       "second-display-refused")

    # A wrong password is refused; the right one gets the screen.
    try:
        viewer(gfx["vnc"], "wrong123")
        ok(False, "wrong-password-refused")
    except rfb_client.RfbError:
        ok(True, "wrong-password-refused")
    v = viewer(gfx["vnc"], password)
    ok(v.width > 0 and v.height > 0, "viewer-connects")

    # A key and a pointer move through VNC reach the paired links.
    k0 = counters("kbd-1", kbd["pid"])
    t0 = counters("tab-1", tab["pid"])
    v.key(0x61, True)           # XK_a
    v.key(0x61, False)
    v.pointer(10, 20)
    ok(wait_for(lambda: counters("kbd-1", kbd["pid"])[1] >= k0[1] + 2, 30),
       "key-reaches-keyboard")
    ok(wait_for(lambda: counters("tab-1", tab["pid"])[1] >= t0[1] + 1, 30),
       "pointer-reaches-tablet")
    v.sock.close()

    # The display killed: restarted with the same address, password and
    # pairing (its links are in its directory, not in the process).
    os.kill(gfx["pid"], signal.SIGKILL)

    def restarted():
        s, r = req("GET", "/v1/instances/gfx-1")
        return s == 200 and r["state"] == "running" and r["restarts"] >= 1
    ok(wait_for(restarted, 30), "display-restarted")
    st, r = req("GET", "/v1/instances/gfx-1")
    ok(r["vnc"] == gfx["vnc"] and r["vnc_password"] == password,
       "same-vnc-after-restart")
    v = viewer(gfx["vnc"], password)
    k0 = counters("kbd-1", kbd["pid"])
    v.key(0x62, True)
    v.key(0x62, False)
    ok(wait_for(lambda: counters("kbd-1", kbd["pid"])[1] >= k0[1] + 2, 30),
       "key-after-restart")
    v.sock.close()

    # The keyboard deleted: unpaired; a new one for the VM is paired.
    st, _ = req("DELETE", "/v1/instances/kbd-1")
    link = os.path.join(gdir, "keyboard")
    ok(st == 200 and not os.path.lexists(link), "keyboard-unpaired")
    st, r = req("GET", "/v1/displays")
    ok(r["displays"][0]["keyboard"] is None, "displays-without-keyboard")
    st, kbd2 = create("kbd-2", "virtio-keyboard", "vm-a")
    ok(st == 201 and os.readlink(link) ==
       os.path.join(state, "instances", "kbd-2", "input"),
       "new-keyboard-paired")

    # By default a port of the range on the VNC host, not the model's.
    st, g3 = create("gfx-3", "bochs-display", "vm-b", transport="tcp")
    port = int(g3["vnc"].rsplit(":", 1)[1]) if st == 201 else 0
    ok(st == 201 and g3["vnc"].startswith("tcp:127.0.0.2:") and
       g3["address"].startswith("tcp:127.0.0.1:") and
       lo <= port <= lo + 19 and g3["vnc"] != g3["address"],
       "display-vnc-tcp %s" % g3)
    try:
        v = viewer(g3["vnc"], g3["vnc_password"])
        ok(v.width > 0, "tcp-viewer-connects")
        v.sock.close()
    except (OSError, rfb_client.RfbError) as e:
        ok(False, "tcp-viewer-connects: %s" % e)

    # The launcher killed outright: the next one adopts the display with
    # its VNC address and password, and pairs it again.
    launchers[0].kill()
    launchers[0].wait()
    os.unlink(api)
    launchers.append(start_launcher())
    wait_for(lambda: os.path.exists(api), 20)
    st, r = req("GET", "/v1/instances/gfx-1")
    ok(st == 200 and r["vnc"] == gfx["vnc"] and
       r["vnc_password"] == password, "adopted-display-same-vnc %s" % r)
    st, r = req("GET", "/v1/displays")
    ok(st == 200 and {"vm": "vm-a", "instance": "gfx-1", "vnc": gfx["vnc"],
                      "keyboard": "kbd-2", "tablet": "tab-1"}
       in r["displays"], "adopted-display-paired %s" % r)
    st, r = req("GET", "/v1/instances/kbd-2")
    v = viewer(gfx["vnc"], password)
    k0 = counters("kbd-2", r["pid"])
    v.key(0x63, True)
    v.key(0x63, False)
    ok(wait_for(lambda: counters("kbd-2", r["pid"])[1] >= k0[1] + 2, 30),
       "key-after-adoption")
    v.sock.close()

    # Gone with the instance: its password file and links.
    st, _ = req("DELETE", "/v1/instances/gfx-1")
    ok(st == 200 and not os.path.exists(pw) and
       not os.path.lexists(os.path.join(gdir, "tablet")), "files-removed")
    logs = read(os.path.join(tmp, "launcher.log")) + "".join(
        read(p) for p in glob.glob(os.path.join(state, "*", "*", "log")))
    ok(password not in logs and g3["vnc_password"] not in logs,
       "password-not-in-logs")
    # SIGTERM: every model stopped, exit 0 (under ASan: no leak).
    launchers[-1].terminate()
    ok(launchers[-1].wait(timeout=60) == 0, "launcher-exits-cleanly")


try:
    main()
except Exception as e:              # a crash is a failure, with its logs
    ok(False, "unexpected %r" % e)
stop(launchers, None)
code = finish()
if code:
    show_tails(tmp, ["launcher.log"], 30)
    for p in glob.glob(os.path.join(state, "instances", "*", "log")):
        show_tails(os.path.dirname(p), ["log"], 10)
if not os.environ.get("KEEP"):
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(code)
