#!/usr/bin/python3
"""A VM whose disk is a remote model migrates while its guest writes and
verifies: the model stays where it is, the migration target's proxy
stands by and takes the model over at the switch-over (requests in
flight are drained first), and the guest carries on on the target to
the end of its load without an I/O error; the image holds every block's
last write.  Over UNIX (guest memory by messages), UNIX with the guest's
RAM shared (the model writes it in place, which dirty logging does not
see: the proxy marks it dirty at the stop) and TCP; and "save": the VM
saved to a file while its guest writes, its QEMU gone, a new one
restored from the file (the model, idle meanwhile, keeps its device).
TAP.

    virtio-blk-migrate.py BUILD [unix|unix-shm|tcp|save]
"""
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from qmplib import Qmp  # noqa: E402
from taplib import (failed, finish, free_port, ok, read, show_tails, stop,
                     wait_for)  # noqa: E402

# Writes per thread: the load outlasts the migration (3x faster when the
# model reaches guest memory in place).
WRITES = {"unix-shm": 3600}


def progress(path):
    found = re.findall(r"DM-VERIFY progress (\d+)", read(path))
    return int(found[-1]) if found else 0


def main():
    build = sys.argv[1]
    with open(os.path.join(build, "guest", "append")) as f:
        guest_append = f.read().strip()     # the shared command line
    transport = sys.argv[2] if len(sys.argv) > 2 else "unix"
    writes = WRITES.get(transport, 1200)
    here = os.path.dirname(os.path.abspath(__file__))
    tmp = tempfile.mkdtemp(prefix="dm-vblk-mig-")
    img = os.path.join(tmp, "disk.img")
    with open(img, "wb") as f:
        f.truncate(8 << 20)
    addr = (f"tcp:127.0.0.1:{free_port()}" if transport == "tcp"
            else f"unix:{tmp}/blk.sock")
    procs = []
    try:
        log = open(os.path.join(tmp, "dm.log"), "w")
        model = subprocess.Popen(
            [os.path.join(build, "meson/dm-remote/dm-remote"), "serve",
             # DM_BLK_EXTRA (",prop=value..."): again with iothread=on.
             "--model", f"virtio-blk,file={img}"
             f"{os.environ.get('DM_BLK_EXTRA', '')}", "--listen", addr],
            stderr=log)
        procs.append(model)

        memory = (["-object", "memory-backend-memfd,id=ram,size=256M,"
                   "share=on", "-machine", "memory-backend=ram"]
                  if transport == "unix-shm" else [])

        def qemu(name, *extra):
            return subprocess.Popen(
                [os.path.join(build, "qemu-system-x86_64"), "-accel", "tcg",
                 "-M", "pc", "-m", "256M", "-display", "none",
                 "-monitor", "none", "-no-reboot",
                 "-kernel", os.path.join(build, "guest/vmlinuz"),
                 "-initrd", os.path.join(build, "guest/initramfs.cpio.gz"),
                 "-append", guest_append + " "
                 f"dm.run=virtio-blk-verify dm.writes={writes}",
                 "-serial", f"file:{tmp}/console-{name}",
                 "-qmp", f"unix:{tmp}/qmp-{name},server=on,wait=off",
                 "-device", f"dm-proxy-pci,id=disk0,server={addr},"
                 "timeout=30000", *memory, *extra],
                stderr=open(os.path.join(tmp, f"qemu-{name}.log"), "w"))

        time.sleep(0.5)             # the model listens
        src = qemu("src")
        procs.append(src)
        src_console = os.path.join(tmp, "console-src")
        dst_console = os.path.join(tmp, "console-dst")
        ok(wait_for(lambda: progress(src_console) >= 64, 240),
           "the guest's write-and-verify load runs on the source")
        save = transport == "save"
        uri = f"file:{tmp}/vm.state" if save else f"unix:{tmp}/mig.sock"
        if not save:
            # The target after the source has the model: it stands by.
            dst = qemu("dst", "-incoming", uri)
            procs.append(dst)
            ok(wait_for(lambda: "standing by" in read(
                os.path.join(tmp, "qemu-dst.log")), 60),
               "the target's proxy stands by while the source has the "
               "model")
            # Its incoming socket comes after its devices.
            wait_for(lambda: os.path.exists(f"{tmp}/mig.sock"), 60)
        qmp = Qmp(f"{tmp}/qmp-src", 30)
        qmp.cmd("migrate", uri=uri)
        status = {}

        def migrated():
            status.update(qmp.cmd("query-migrate")["return"])
            return status.get("status") in ("completed", "failed")
        wait_for(migrated, 240)
        at = progress(src_console)
        ok(status.get("status") == "completed",
           f"migrated while the guest wrote ({at} writes done on the "
           f"source): {status.get('status')} {status.get('error-desc', '')}")
        qmp.cmd("quit")
        if status.get("status") != "completed" and not save:
            dst.kill()          # nothing will come: do not wait for it
        if save:
            src.wait(30)
            dst = qemu("dst", "-incoming", uri)
            procs.append(dst)
        try:
            rc = dst.wait(300)
        except subprocess.TimeoutExpired:
            rc = None
        ok(rc == 0, f"the guest ran to the end on the target and powered "
           f"off (QEMU exit {rc})")
        done = re.search(r"DM-VERIFY done writes=(\d+) ioerr=(\d+) bad=(\d+)",
                         read(dst_console))
        ok(done is not None and done.groups() == (str(4 * writes), "0", "0"),
           "every write completed without an I/O error, every block "
           f"verified: {done.group(0) if done else 'no verdict'}")
        ok(progress(dst_console) > 0,
           "the target's console shows the load going on")
        check = subprocess.run([os.path.join(here, "blk-verify-image.py"),
                                img, "4", "16", str(writes)],
                               capture_output=True, text=True)
        ok(check.returncode == 0, "the image holds every block's last write"
           + (": " + check.stderr.strip() if check.returncode else ""))
        mlog = read(os.path.join(tmp, "dm.log"))
        if save:
            ok(mlog.count("client connected") == 2,
               "the restored QEMU is the model's next client")
        else:
            ok("standby client is now active" in mlog,
               "the model handed its device to the target's proxy")
        if failed():
            show_tails(tmp, ("dm.log", "qemu-src.log", "qemu-dst.log",
                        "console-dst"))
    finally:
        stop(procs, tmp)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
