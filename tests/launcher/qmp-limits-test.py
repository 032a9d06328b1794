#!/usr/bin/python3
"""A QMP peer's lines are bounded in length before they are parsed, and
in depth when they are (issue 22): a client launcher whose QEMU is a
stand-in (hostile-qmp.py) that, asked, sends 16 MiB without a newline,
or a reply nested 10,000 deep.  The launcher answers other requests
meanwhile, holds no more than the 1 MiB a line (its peak RSS checked),
fails the relayed call with a clear error, drops that QMP connection
and makes a new one at the next command; a reply of exactly 1 MiB is
relayed whole.  TAP.

    qmp-limits-test.py DM_REMOTE
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(here))
import httpunix  # noqa: E402
import taplib  # noqa: E402

MiB = 1024 * 1024
# The launcher's peak may grow by its 1 MiB line buffer (2 MiB as it
# doubles), the reads, allocator slack and ASan's quarantine; holding
# the 16 MiB line would take at least 16.
MAX_GROWTH = 12 * MiB


def ok(cond, name, detail=""):
    taplib.ok(cond, name)
    if not cond:
        print("#   %r" % (detail,), flush=True)


def call(sock, method, path, body=None):
    """(status, the answer's JSON or its text)"""
    st, _, text = httpunix.call(sock, method, path, body, timeout=90)
    try:
        return st, json.loads(text)
    except ValueError:
        return st, text


def qmp(sock, vm, cmd):
    return call(sock, "POST", "/v1/vms/%s/qmp" % vm, {"execute": cmd})


def error_of(answer):
    return answer.get("error", "") if isinstance(answer, dict) else ""


def status_kib(pid, field):
    for line in taplib.read("/proc/%d/status" % pid).splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return None


def start(bin_, tmp, sock):
    log = os.path.join(tmp, "launcher.err")
    err = open(log, "ab")
    p = subprocess.Popen([bin_, "daemon", "-v", "--role", "client",
                          "--listen", "unix:" + sock, "--platform-id", "cl-q",
                          "--state-dir", os.path.join(tmp, "state"),
                          "--qemu", os.path.join(here, "hostile-qmp.py")],
                         stdout=err, stderr=err)
    if not taplib.wait_for(lambda: "listening on" in taplib.read(log) or
                           p.poll() is not None, 60) or p.poll() is not None:
        print("Bail out! the launcher did not start")
        sys.exit(1)
    return p, log


def endless(tmp, sock, pid, log):
    vm_dir = os.path.join(tmp, "state", "vms", "vm-a")
    got = {}

    def relay():
        got["answer"] = qmp(sock, "vm-a", "query-endless")

    # The peak from here: clear_refs' 5 resets VmHWM to VmRSS.
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")
    before = status_kib(pid, "VmRSS")
    t = threading.Thread(target=relay)
    t.start()
    half = taplib.wait_for(
        lambda: os.path.exists(os.path.join(vm_dir, "vm-a.half")), 60)
    ok(half, "the stand-in sent 512 KiB of a line and holds the rest")
    st, vms = call(sock, "GET", "/v1/vms")
    st_b, ans_b = qmp(sock, "vm-b", "query-status")
    ok(st == 200 and len(vms.get("vms", [])) == 2 and st_b == 200 and
       ans_b.get("return", {}).get("status") == "running",
       "meanwhile the launcher answers: its VMs, vm-b's QMP",
       (st, vms, st_b, ans_b))
    open(os.path.join(vm_dir, "vm-a.go"), "w").close()
    t.join(90)
    st, ans = got.get("answer", (None, None))
    ok(st == 502 and error_of(ans) ==
       "QMP connection lost: a line longer than 1048576 bytes",
       "16 MiB without a newline: the relayed call fails, saying why",
       (st, ans))
    peak = status_kib(pid, "VmHWM")
    ok(before is not None and peak is not None and
       peak - before < MAX_GROWTH,
       "the launcher's peak RSS grew by less than %d MiB" %
       (MAX_GROWTH // MiB), (before, peak))
    if before is not None and peak is not None:
        print("# peak RSS growth: %d KiB" % ((peak - before) // 1024))
    ok("QMP %s: a line longer than 1048576 bytes, disconnecting" %
       os.path.join(vm_dir, "qmp") in taplib.read(log),
       "the launcher logs it", taplib.read(log)[-600:])


def main():
    bin_ = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="dm-lqmp-")
    sock = os.path.join(tmp, "api.sock")
    p, log = start(bin_, tmp, sock)
    try:
        for vm in ("vm-a", "vm-b"):
            st, ans = call(sock, "POST", "/v1/vms", {"id": vm})
            ok(st == 201, "%s (a stand-in QEMU) started" % vm, (st, ans))

        endless(tmp, sock, p.pid, log)
        st, ans = qmp(sock, "vm-a", "query-status")
        ok(st == 200 and ans.get("return", {}).get("status") == "running",
           "vm-a's QMP answers again (a new connection)", (st, ans))

        st, ans = qmp(sock, "vm-a", "query-big")
        pad = ans.get("return", {}).get("pad", "") \
            if isinstance(ans, dict) else ""
        big = taplib.read(os.path.join(tmp, "state", "vms", "vm-a",
                                       "vm-a.big"))
        want = int(big) if big.strip().isdigit() else -1
        ok(st == 200 and len(pad) == want and pad == "p" * want,
           "a reply of exactly 1 MiB is relayed whole",
           (st, len(pad), want))

        st, ans = qmp(sock, "vm-a", "query-deep")
        ok(st == 502 and error_of(ans) ==
           "QMP connection lost: a line refused "
           "(JSON nested deeper than 1024 levels)",
           "a reply nested 10,000 deep: refused at once, saying why",
           (st, ans))
        ok(p.poll() is None and
           "a line refused (JSON nested deeper than 1024 levels), "
           "disconnecting" in taplib.read(log),
           "the launcher runs on and logs it", taplib.read(log)[-600:])
        st, ans = qmp(sock, "vm-a", "query-status")
        ok(st == 200 and ans.get("return", {}).get("status") == "running",
           "vm-a's QMP answers again after it", (st, ans))

        p.send_signal(signal.SIGTERM)
        ok(p.wait(timeout=60) == 0, "SIGTERM: exit 0",
           taplib.read(log)[-2000:])
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    finally:
        sys.exit(taplib.finish())
