#!/usr/bin/python3
# A Linux guest with a remote display, keyboard and tablet started by a
# server launcher, which pairs them (dm-remote/launcher/pairing.c): keys
# and a pointer move typed through the display's VNC server reach the
# guest as evdev events of the virtio keyboard and tablet (the guest's
# reader: tests/guest/bin/virtio-input-check), the pointer scaled to the
# tablet's 0..32767.  The keyboard is created before the display and the
# tablet after it.  Before anything is typed the display model is killed
# (SIGKILL): the launcher restarts it at the same VNC address with the
# same password, QEMU's proxy reconnects, the guest keeps running and the
# keys typed through the new process still reach it.  What the guest
# does not draw is not checked here (it never binds the display: the
# picture after a restart is the guest's to redraw, the framebuffer being
# the new process's memory; docs/dm-remote.md).  TAP.
#
#   display-input.py BUILD
import json
import os
import signal
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(here))
import rfb_client  # noqa: E402
from taplib import finish, ok, read, show_tails, stop, wait_for  # noqa: E402

build = os.path.abspath(sys.argv[1])
with open(os.path.join(build, "guest", "append")) as f:
    guest_append = f.read().strip()     # the shared command line
dm = os.path.join(build, "meson", "dm-remote", "dm-remote")
qemu_bin = os.path.join(build, "qemu-system-x86_64")
api_py = os.path.join(os.path.dirname(here), "launcher", "api.py")
tmp = tempfile.mkdtemp(prefix="dm-dinput-")
api = os.path.join(tmp, "api.sock")
state = os.path.join(tmp, "state")
VM = "vm-dinput"
procs = []

# What the viewer sends and what the guest must read: "a" pressed and
# released (two batches), the pointer at the middle of the blank 640x480
# screen a display shows before the guest enables it.
KBD_WANT = ["1 30 1", "0 0 0", "1 30 0", "0 0 0"]
X, Y, W, H = 320, 240, 640, 480
TAB_WANT = ["3 0 %d" % (X * 32767 // (W - 1)),
            "3 1 %d" % (Y * 32767 // (H - 1)), "0 0 0"]


def req(method, path, body=None):
    out = subprocess.run(
        [sys.executable, api_py, "unix:" + api, method, path] +
        ([json.dumps(body)] if body is not None else []),
        capture_output=True, text=True, timeout=90).stdout
    status, _, rest = out.partition("\t")
    _, _, text = rest.partition("\t")
    try:
        return int(status), json.loads(text)
    except ValueError:
        return int(status or 0), {"raw": out}


def create(iid, model, **extra):
    body = {"id": iid, "model": model, "transport": "unix",
            "restart": "on-failure", "bind": {"vm": VM}}
    body.update(extra)
    st, inst = req("POST", "/v1/instances", body)
    ok(st == 201, "the launcher started %s (%s)" % (iid, model))
    return inst


def console():
    return read(os.path.join(tmp, "guest.console")).replace("\r", "")


def main():
    log = open(os.path.join(tmp, "launcher.log"), "wb")
    procs.append(subprocess.Popen(
        [dm, "daemon", "--role", "server", "--listen", "unix:" + api,
         "--platform-id", "srv-g", "--state-dir", state],
        stdout=log, stderr=subprocess.STDOUT))
    if not wait_for(lambda: os.path.exists(api), 30):
        ok(False, "the launcher listens")
        return
    kbd = create("kbd", "virtio-keyboard")
    gfx = create("gfx", "bochs-display", vnc="unix")
    tab = create("tab", "virtio-tablet")
    if not (kbd.get("address") and gfx.get("vnc") and tab.get("address")):
        return
    password = gfx["vnc_password"]

    argv = [qemu_bin, "-accel", "tcg", "-M", "pc", "-m", "256M",
            "-display", "none", "-vga", "none", "-monitor", "none",
            "-no-reboot", "-kernel", os.path.join(build, "guest", "vmlinuz"),
            "-initrd", os.path.join(build, "guest", "initramfs.cpio.gz"),
            "-append", guest_append + " "
            "dm.run=virtio-input-check dm.norepeat=1 dm.kbd=%d dm.tablet=%d"
            % (len(KBD_WANT), len(TAB_WANT)),
            "-serial", "file:" + os.path.join(tmp, "guest.console")]
    for inst in (gfx, kbd, tab):
        argv += ["-remote-device", "bus=pci,server=%s,vm-id=%s,timeout=30000"
                 % (inst["address"], VM)]
    qlog = open(os.path.join(tmp, "qemu.log"), "wb")
    qemu = subprocess.Popen(argv, stdout=qlog, stderr=subprocess.STDOUT)
    procs.append(qemu)

    ready = wait_for(lambda: "DM-INPUT ready" in console() or
                     qemu.poll() is not None, 600)
    ok(ready and qemu.poll() is None and "DM-INPUT norepeat" in console(),
       "the guest's readers are open (autorepeat off)")
    if qemu.poll() is not None:
        return

    # The display killed: restarted by the launcher, same VNC, same
    # password; the guest goes on.
    os.kill(gfx["pid"], signal.SIGKILL)

    def restarted():
        st, r = req("GET", "/v1/instances/gfx")
        return (st == 200 and r["state"] == "running" and
                r["restarts"] >= 1 and r["pid"] != gfx["pid"])
    ok(wait_for(restarted, 60), "the display model is restarted")
    st, again = req("GET", "/v1/instances/gfx")
    ok(again.get("vnc") == gfx["vnc"] and
       again.get("vnc_password") == password,
       "same VNC address and password after the restart")
    ok(wait_for(lambda: "reconnected to" in read(
        os.path.join(tmp, "qemu.log")), 60),
        "QEMU's proxy reconnected to the new display process")

    try:
        v = rfb_client.RfbClient(rfb_client.connect(gfx["vnc"], 30),
                                 password=password)
        ok((v.width, v.height) == (W, H),
           "a viewer gets the restarted display (%dx%d)" % (v.width,
                                                            v.height))
        v.key(0x61, True)                   # XK_a
        v.key(0x61, False)
        v.pointer(X, Y)
    except (OSError, rfb_client.RfbError) as e:
        ok(False, "a viewer gets the restarted display: %s" % e)

    done = wait_for(lambda: "DM-INPUT done" in console() or
                    qemu.poll() is not None, 300)
    ok(done and "DM-INPUT done" in console(), "the guest's reader finished")
    lines = console().splitlines()
    got = {who: [ln.split(" ", 2)[2] for ln in lines
                 if ln.startswith("DM-INPUT %s " % who) and
                 ln.split(" ")[2][0].isdigit()]
           for who in ("kbd", "tablet")}
    ok(got["kbd"] == KBD_WANT,
       "the key typed through VNC reached the guest's keyboard: %s"
       % got["kbd"])
    ok(got["tablet"] == TAB_WANT,
       "the pointer move reached the guest's tablet, scaled: %s"
       % got["tablet"])
    try:
        qemu.wait(timeout=120)
    except subprocess.TimeoutExpired:
        pass
    ok(qemu.returncode == 0, "the guest ran on and powered off (QEMU exit "
       "%s)" % qemu.returncode)


try:
    main()
except Exception as e:                  # a crash is a failure, with logs
    ok(False, "unexpected %r" % e)
stop(procs)
code = finish()
if code:
    show_tails(tmp, ["guest.console", "qemu.log", "launcher.log"], 25)
    for iid in ("gfx", "kbd", "tab"):
        show_tails(os.path.join(state, "instances", iid), ["log"], 10)
if not os.environ.get("KEEP"):
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(code)
