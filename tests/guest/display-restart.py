#!/usr/bin/python3
# A display model killed (SIGKILL) under a running Linux guest and
# restarted by its launcher: the guest runs on (its ticks go on on the
# serial console), QEMU's proxy reconnects, a VNC viewer of the new
# process gets the guest's mode back at once (the dispi registers are in
# the model's state file) and its picture once the guest draws again:
# the framebuffer is the model's memory, a new process starts from a
# black one (tests/guest/bin/display-ticker keeps drawing).  TAP.
#
#   display-restart.py BUILD
import json
import os
import re
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
api_py = os.path.join(os.path.dirname(here), "launcher", "api.py")
tmp = tempfile.mkdtemp(prefix="dm-drestart-")
api = os.path.join(tmp, "api.sock")
state = os.path.join(tmp, "state")
VM = "vm-drestart"
W, H = 1024, 768
procs = []


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


def console():
    return read(os.path.join(tmp, "guest.console")).replace("\r", "")


def ticks():
    got = re.findall(r"^DM-TICK (\d+)$", console(), re.M)
    return int(got[-1]) if got else 0


def lit(v):
    """Pixels of the viewer's copy that are not black."""
    px = v.pixels
    return sum(1 for i in range(0, len(px), 4)
               if px[i] | px[i + 1] | px[i + 2])


def main():
    log = open(os.path.join(tmp, "launcher.log"), "wb")
    procs.append(subprocess.Popen(
        [dm, "daemon", "--role", "server", "--listen", "unix:" + api,
         "--platform-id", "srv-r", "--state-dir", state],
        stdout=log, stderr=subprocess.STDOUT))
    if not wait_for(lambda: os.path.exists(api), 30):
        ok(False, "the launcher listens")
        return
    st, gfx = req("POST", "/v1/instances", {
        "id": "gfx", "model": "bochs-display", "transport": "unix",
        "restart": "on-failure", "vnc": "unix", "bind": {"vm": VM}})
    ok(st == 201, "the launcher started the display")
    if st != 201:
        return
    password = gfx["vnc_password"]
    qlog = open(os.path.join(tmp, "qemu.log"), "wb")
    qemu = subprocess.Popen(
        [os.path.join(build, "qemu-system-x86_64"), "-accel", "tcg",
         "-M", "pc", "-m", "256M", "-display", "none", "-vga", "none",
         "-monitor", "none", "-no-reboot",
         "-kernel", os.path.join(build, "guest", "vmlinuz"),
         "-initrd", os.path.join(build, "guest", "initramfs.cpio.gz"),
         "-append", guest_append + " dm.run=display-ticker",
         "-serial", "file:" + os.path.join(tmp, "guest.console"),
         "-remote-device", "bus=pci,server=%s,vm-id=%s,timeout=30000"
         % (gfx["address"], VM)],
        stdout=qlog, stderr=subprocess.STDOUT)
    procs.append(qemu)
    ok(wait_for(lambda: ticks() >= 10 or qemu.poll() is not None, 600) and
       ticks() >= 10, "the guest draws on its display (%s)" %
       " ".join(re.findall(r"^DM-FB .*", console(), re.M)))
    v = rfb_client.RfbClient(rfb_client.connect(gfx["vnc"], 30),
                             password=password)
    drawn, _ = v.wait_for(lambda v: (v.width, v.height) == (W, H) and
                          lit(v) > 1000, 60)
    ok(drawn, "a viewer sees the guest's text at %dx%d" % (v.width,
                                                           v.height))
    v.sock.close()

    os.kill(gfx["pid"], signal.SIGKILL)
    before = ticks()

    def restarted():
        st, r = req("GET", "/v1/instances/gfx")
        return st == 200 and r["state"] == "running" and r["restarts"] >= 1
    ok(wait_for(restarted, 60), "the launcher restarted the display")
    ok(wait_for(lambda: "reconnected to" in read(
        os.path.join(tmp, "qemu.log")), 60), "QEMU's proxy reconnected")
    v = rfb_client.RfbClient(rfb_client.connect(gfx["vnc"], 30),
                             password=password)
    ok(v.wait_for(lambda v: (v.width, v.height) == (W, H), 30)[0],
       "the new process shows the guest's mode at once (%dx%d)"
       % (v.width, v.height))
    back, _ = v.wait_for(lambda v: lit(v) > 1000, 90)
    ok(back, "the picture comes back as the guest draws again")
    v.sock.close()
    ok(wait_for(lambda: ticks() >= before + 20, 120),
       "the guest ran on (ticks %d -> %d)" % (before, ticks()))
    ok(qemu.poll() is None, "QEMU is still running")


try:
    main()
except Exception as e:                  # a crash is a failure, with logs
    ok(False, "unexpected %r" % e)
stop(procs)
code = finish()
if code:
    show_tails(tmp, ["guest.console", "qemu.log", "launcher.log"], 25)
    show_tails(os.path.join(state, "instances", "gfx"), ["log"], 15)
if not os.environ.get("KEEP"):
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(code)
