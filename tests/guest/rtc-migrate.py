#!/usr/bin/python3
"""The guest's real-time clock on the server across a pause and a
migration: the VM (remote mc146818, dm-proxy-isa,rtc=on) is stopped for
a few seconds, migrated to a second QEMU whose proxy stands by for the
same model, and continued there.  The guest reads its RTC once a second
of its own time (tests/guest/bin/rtc-tick): the readings never go back
and never jump (the model's clock is the VM's, which stood still while
the VM was stopped and goes on where the source left it), and they go
on on the target.  TAP.

    rtc-migrate.py BUILD
"""
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from qmplib import Qmp  # noqa: E402
from taplib import (failed, finish, ok, read, show_tails, stop,
                     wait_for)  # noqa: E402

PAUSE = 6           # seconds the VM stands stopped before it migrates


def ticks(path):
    return [(int(i), int(t)) for i, t in
            re.findall(r"DM-RTC-TICK (\d+) (\d+)", read(path))]


def main():
    build = os.path.abspath(sys.argv[1])
    with open(os.path.join(build, "guest", "append")) as f:
        guest_append = f.read().strip()     # the shared command line
    tmp = tempfile.mkdtemp(prefix="dm-rtc-mig-")
    addr = f"unix:{tmp}/rtc.sock"
    procs = []
    try:
        log = open(os.path.join(tmp, "dm.log"), "w")
        procs.append(subprocess.Popen(
            [os.path.join(build, "meson/dm-remote/dm-remote"), "serve",
             "--model", "mc146818", "--listen", addr], stderr=log))
        wait_for(lambda: os.path.exists(f"{tmp}/rtc.sock"), 10)

        def qemu(name, *extra):
            # hpet=off: IRQ 8 is the RTC's (tests/guest/rtc.sh says why).
            return subprocess.Popen(
                [os.path.join(build, "qemu-system-x86_64"), "-accel", "tcg",
                 "-M", "pc,hpet=off", "-m", "256M", "-display", "none",
                 "-monitor", "none", "-no-reboot",
                 "-kernel", os.path.join(build, "guest/vmlinuz"),
                 "-initrd", os.path.join(build, "guest/initramfs.cpio.gz"),
                 "-append", guest_append + " dm.run=rtc-tick "
                 "dm.ticks=30",
                 "-serial", f"file:{tmp}/console-{name}",
                 "-qmp", f"unix:{tmp}/qmp-{name},server=on,wait=off",
                 "-device", f"dm-proxy-isa,id=rtc0,server={addr},rtc=on,"
                 "timeout=30000", *extra],
                stderr=open(os.path.join(tmp, f"qemu-{name}.log"), "w"))

        src = qemu("src")
        procs.append(src)
        src_console = os.path.join(tmp, "console-src")
        dst_console = os.path.join(tmp, "console-dst")
        ok(wait_for(lambda: len(ticks(src_console)) >= 5, 240),
           "the guest reads its remote RTC on the source")
        dst = qemu("dst", "-incoming", f"unix:{tmp}/mig.sock")
        procs.append(dst)
        ok(wait_for(lambda: "standing by" in read(
            os.path.join(tmp, "qemu-dst.log")), 60),
           "the target's proxy stands by while the source has the model")
        wait_for(lambda: os.path.exists(f"{tmp}/mig.sock"), 60)

        qmp = Qmp(f"{tmp}/qmp-src", 30)
        qmp.cmd("stop")
        time.sleep(PAUSE)
        qmp.cmd("migrate", uri=f"unix:{tmp}/mig.sock")
        status = {}

        def migrated():
            status.update(qmp.cmd("query-migrate")["return"])
            return status.get("status") in ("completed", "failed")
        wait_for(migrated, 120)
        ok(status.get("status") == "completed",
           f"stopped {PAUSE} s, then migrated: {status.get('status')} "
           f"{status.get('error-desc', '')}")
        qmp.cmd("quit")
        qmp_dst = Qmp(f"{tmp}/qmp-dst", 30)
        wait_for(lambda: qmp_dst.cmd("query-status")["return"]["status"]
                 == "paused", 30)
        qmp_dst.cmd("cont")
        try:
            rc = dst.wait(240)
        except subprocess.TimeoutExpired:
            rc = None
        ok(rc == 0, f"the guest ran to its end on the target (QEMU exit {rc})")

        before = ticks(src_console)
        after = [t for t in ticks(dst_console) if t[0] > before[-1][0]] \
            if before else []
        seen = before + after
        ok(len(after) >= 5, f"the guest read its RTC {len(after)} times on "
           "the target")
        steps = [b[1] - a[1] for a, b in zip(seen, seen[1:])]
        ok(steps and min(steps) >= 0,
           f"its time never went back (steps {sorted(set(steps))})")
        # One reading a second of guest time: a clock that ran while the
        # VM stood still would jump by the pause.
        ok(steps and max(steps) <= 3,
           f"no jump across the {PAUSE} s stop and the migration "
           f"(largest step {max(steps) if steps else None} s)")
        mlog = read(os.path.join(tmp, "dm.log"))
        ok("standby client is now active" in mlog,
           "the model handed its device to the target's proxy")
        if failed():
            show_tails(tmp, ("dm.log", "qemu-src.log", "qemu-dst.log",
                        "console-src", "console-dst"))
    finally:
        stop(procs, tmp)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
