#!/usr/bin/python3
"""While a vCPU waits for a remote model, the rest of QEMU goes on.

A Linux guest under TCG reads edu's BAR in a loop (mmio-bench) through a
dm-proxy-pci served by dm-remote.  The model is then stopped (SIGSTOP),
so the vCPU sits inside an access waiting for its reply (timeout=60000).
The BARs are lockless: that vCPU holds no BQL, so the monitor must
still answer, and say the device is connected with no error and no new
request (the vCPU is stuck in the one it sent).  Once the model goes on,
the access completes and the loop resumes.  TAP output.

    vcpu-wait.py BUILD
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from qmplib import Qmp, connect  # noqa: E402

N = 0
FAILED = False


def ok(cond, what):
    global N, FAILED
    N += 1
    print(f"{'ok' if cond else 'not ok'} {N} - {what}", flush=True)
    FAILED |= not cond


def console_wait(sock, text, deadline):
    buf = b""
    while text.encode() not in buf:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        data = sock.recv(4096)
        if not data or time.monotonic() > deadline:
            raise TimeoutError(f"no {text!r} on the console")
        buf = buf[-4096:] + data


def main():
    build = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="dm-vcpu-wait-")
    edu, con, qmp_path = (os.path.join(tmp, n)
                          for n in ("edu.sock", "con.sock", "qmp.sock"))
    dm = subprocess.Popen([f"{build}/meson/dm-remote/dm-remote", "serve",
                           "--quiet", "--model", "edu",
                           "--listen", f"unix:{edu}"],
                          stdout=subprocess.DEVNULL,
                          stderr=open(os.path.join(tmp, "dm.log"), "w"))
    qemu = None
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(edu):
            if time.monotonic() > deadline or dm.poll() is not None:
                print("Bail out! dm-remote did not start")
                return 1
            time.sleep(0.01)
        qemu = subprocess.Popen([
            f"{build}/qemu-system-x86_64", "-accel", "tcg", "-M", "pc",
            "-m", "256M", "-display", "none", "-monitor", "none",
            "-no-reboot", "-kernel", f"{build}/guest/vmlinuz",
            "-initrd", f"{build}/guest/initramfs.cpio.gz",
            "-append", "console=ttyS0 panic=-1",
            "-chardev", f"socket,id=con,path={con},server=on,wait=off",
            "-serial", "chardev:con",
            "-qmp", f"unix:{qmp_path},server=on,wait=off",
            "-device", f"dm-proxy-pci,id=edu0,server=unix:{edu},"
                       "timeout=60000"],
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(tmp, "qemu.log"), "w"))
        console = connect(con, time.monotonic() + 30)
        console_wait(console, "DM-GUEST-READY", time.monotonic() + 150)
        console.sendall(b"while mmio-bench >/dev/null; do :; done &\n")
        # Replies wait 20 s at most: far less than the proxy's timeout, so
        # an answer after the call timed out cannot pass for one before.
        qmp = Qmp(qmp_path, 20)

        start = qmp.device("edu0")["requests"]
        deadline = time.monotonic() + 60
        while qmp.device("edu0")["requests"] < start + 1000:
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        ok(qmp.device("edu0")["requests"] >= start + 1000,
           "the guest's loop reaches the model")

        os.kill(dm.pid, signal.SIGSTOP)
        time.sleep(0.5)                 # the vCPU is now in an access
        try:
            first = qmp.device("edu0")
            time.sleep(0.3)
            second = qmp.device("edu0")
            status = qmp.cmd("query-status")["return"]["status"]
            answered = True
        except (socket.timeout, OSError, EOFError) as e:
            answered, first, second, status = False, {}, {}, str(e)
        ok(answered, "the monitor answers while the vCPU waits for a "
                     "stopped model")
        ok(first.get("state") == "connected" and first.get("errors") == 0
           and status == "running",
           f"device connected, no error, VM running: {first} {status}")
        ok(answered and first["requests"] == second["requests"],
           "no request completes meanwhile: the vCPU is in its access")

        os.kill(dm.pid, signal.SIGCONT)
        deadline = time.monotonic() + 30
        after = qmp.device("edu0") if answered else {}
        while answered and after["requests"] <= second["requests"] + 100:
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
            after = qmp.device("edu0")
        ok(answered and after["requests"] > second["requests"] + 100 and
           after["errors"] == 0,
           "the access completes once the model goes on, and the loop "
           "resumes")
        qmp.cmd("quit")
    except (OSError, TimeoutError, EOFError, KeyError) as e:
        ok(False, f"test stopped: {e}")
    finally:
        for p in (qemu, dm):
            if p and p.poll() is None:
                os.kill(p.pid, signal.SIGCONT)
                p.kill()
                p.wait()
        if FAILED:
            for f in ("qemu.log", "dm.log"):
                path = os.path.join(tmp, f)
                if os.path.exists(path):
                    for line in open(path).read().splitlines()[-15:]:
                        print(f"# {f}: {line}")
        subprocess.run(["rm", "-rf", tmp])
    print(f"1..{N}")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
