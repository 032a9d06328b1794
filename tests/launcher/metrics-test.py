#!/usr/bin/python3
"""A client launcher's /metrics with its VMs' proxies (issue 23 point 5):
each running VM's QEMU (here proxy-qemu.py, whose proxies the test sets)
is asked query-remote-devices, and the whole text must parse strictly as
Prometheus' format (tests/promtext.py): the dm_proxy_* families, labelled
vm, device and server, the histogram from QEMU's log2 buckets, a QEMU
that never answers skipped and counted while the scrape still answers,
and not asked again while it owes its answer.  TAP.

    metrics-test.py DM_REMOTE
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(here))
from promtext import ParseError, parse, value  # noqa: E402
import httpunix  # noqa: E402
import taplib  # noqa: E402

CTYPE = "text/plain; version=0.0.4; charset=utf-8"
# QEMU's 22 log2 buckets: <= 1 us .. <= 2^20 us, then the rest.
BUCKETS = [0] * 22
BUCKETS[3] = 5                  # <= 8 us
BUCKETS[4] = 2                  # <= 16 us
BUCKETS[21] = 1                 # > 2^20 us
PROXIES = [
    {"id": "e0", "type": "vfio-user-pci", "server": "tcp:10.0.0.2:5000",
     "state": "connected", "requests": 40, "errors": 1, "reconnects": 2,
     "doorbells": 0, "ioeventfds": 0, "kicks": 0, "mapped": 0,
     "latency": {"buckets": BUCKETS, "count": 8, "sum-ns": 2000123456}},
    # An address that wants escaping, no histogram (an older QEMU).
    {"id": "n1", "type": "vfio-user-pci", "server": 'unix:/run/a"b\\c',
     "state": "disconnected", "requests": 3, "errors": 7, "reconnects": 0,
     "doorbells": 0, "ioeventfds": 0, "kicks": 0, "mapped": 0},
]


def ok(cond, name, detail=""):
    taplib.ok(cond, name)
    if not cond:
        print("#   %r" % (detail,), flush=True)


def call(sock, method, path, body=None):
    return httpunix.call(sock, method, path, body)


def scrape(sock):
    """(status, content type, families or the ParseError, text)"""
    st, ctype, text = call(sock, "GET", "/metrics")
    try:
        return st, ctype, parse(text), text
    except ParseError as e:
        return st, ctype, e, text


def start(bin_, tmp, sock):
    log = os.path.join(tmp, "launcher.err")
    err = open(log, "ab")
    p = subprocess.Popen([bin_, "daemon", "--role", "client", "--listen",
                          "unix:" + sock, "--platform-id", "cl-m",
                          "--state-dir", os.path.join(tmp, "state"),
                          "--qemu", os.path.join(here, "proxy-qemu.py")],
                         stdout=err, stderr=err)
    for _ in range(300):
        with open(log, errors="replace") as f:
            if "listening on" in f.read():
                return p
        if p.poll() is not None:
            break
        time.sleep(0.1)
    print("Bail out! the launcher did not start")
    sys.exit(1)


def labels(vm, device, server):
    return {"vm": vm, "device": device, "server": server}


def check_proxies(fams):
    e0 = labels("vm-a", "e0", "tcp:10.0.0.2:5000")
    n1 = labels("vm-a", "n1", 'unix:/run/a\\"b\\\\c')   # as written
    got = [(value(fams, "dm_proxy_connected", **e0),
            value(fams, "dm_proxy_connected", **n1)),
           (value(fams, "dm_proxy_requests_total", **e0),
            value(fams, "dm_proxy_errors_total", **e0),
            value(fams, "dm_proxy_reconnects_total", **e0)),
           (value(fams, "dm_proxy_requests_total", **n1),
            value(fams, "dm_proxy_errors_total", **n1),
            value(fams, "dm_proxy_reconnects_total", **n1))]
    ok(got == [(1.0, 0.0), (40.0, 1.0, 2.0), (3.0, 7.0, 0.0)],
       "vm-a's proxies: connected, requests, errors, reconnects", got)
    h = "dm_proxy_round_trip_seconds"
    bk = [(lab["le"], v) for n, lab, v in fams[h]["samples"]
          if n == h + "_bucket" and lab["device"] == "e0"]
    ok(len(bk) == 22 and bk[0] == ("0.000001", 0.0) and
       bk[3] == ("0.000008", 5.0) and bk[4] == ("0.000016", 7.0) and
       bk[20] == ("1.048576", 7.0) and bk[21] == ("+Inf", 8.0),
       "e0's round trips: cumulative buckets in seconds up to +Inf", bk)
    ok(value(fams, h, h + "_count", **e0) == 8.0 and
       value(fams, h, h + "_sum", **e0) == 2.000123456,
       "e0's _count and _sum (seconds)", fams[h]["samples"][-2:])
    ok(not [s for s in fams[h]["samples"] if s[1]["device"] == "n1"],
       "n1 without latency: no histogram series")


def main():
    bin_ = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="dm-lmetrics-")
    sock = os.path.join(tmp, "api.sock")
    p = start(bin_, tmp, sock)
    try:
        st, ctype, fams, text = scrape(sock)
        ok(st == 200 and ctype == CTYPE and isinstance(fams, dict),
           "no VM: the text parses", (st, ctype, fams, text))
        ok(isinstance(fams, dict) and
           all(fams.get(f, {}).get("samples") == [] for f in
               ("dm_proxy_connected", "dm_proxy_requests_total",
                "dm_proxy_errors_total", "dm_proxy_reconnects_total",
                "dm_proxy_round_trip_seconds", "dm_launcher_proxy_vm_up"))
           and value(fams, "dm_launcher_proxy_vms_skipped") == 0.0,
           "no VM: every proxy family typed, no sample, 0 skipped")

        st, _, text = call(sock, "POST", "/v1/vms", {
            "id": "vm-a", "files": {"proxies": json.dumps(PROXIES)}})
        ok(st == 201, "vm-a started", text)
        st, ctype, fams, text = scrape(sock)
        ok(st == 200 and ctype == CTYPE and isinstance(fams, dict),
           "vm-a: the whole text parses strictly", (st, fams, text))
        if not isinstance(fams, dict):
            return
        check_proxies(fams)
        ok(value(fams, "dm_launcher_proxy_vm_up", vm="vm-a") == 1.0 and
           value(fams, "dm_launcher_proxy_vms_skipped") == 0.0 and
           value(fams, "dm_launcher_vms", state="running") == 1.0,
           "vm-a up, none skipped, the launcher's own series still there")
        ok("# HELP dm_proxy_requests_total Messages a proxy sent to its "
           "model, by VM, device and server.\n" in text,
           "the orchestrator's HELP text")

        st, _, text = call(sock, "POST", "/v1/vms", {
            "id": "vm-b", "files": {"mute": "1"}})
        ok(st == 201, "vm-b (a QEMU that never answers) started", text)
        for round_ in (1, 2):
            st, ctype, fams, text = scrape(sock)
            ok(st == 200 and isinstance(fams, dict) and
               value(fams, "dm_launcher_proxy_vm_up", vm="vm-b") == 0.0 and
               value(fams, "dm_launcher_proxy_vm_up", vm="vm-a") == 1.0 and
               value(fams, "dm_launcher_proxy_vms_skipped") == 1.0 and
               value(fams, "dm_proxy_requests_total",
                     **labels("vm-a", "e0", "tcp:10.0.0.2:5000")) == 40.0,
               "scrape %d with vm-b mute: answers, vm-b skipped and "
               "counted, vm-a's proxies there" % round_, (st, fams, text))
        asked = os.path.join(tmp, "state", "vms", "vm-b", "vm-b.asked")
        with open(asked) as f:
            qrd = f.read().split().count("query-remote-devices")
        ok(qrd == 1, "vm-b asked once: not again while it owes its answer",
           qrd)
        p.send_signal(signal.SIGTERM)
        ok(p.wait(timeout=60) == 0, "SIGTERM with a call still out: exit 0")
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
