#!/usr/bin/python3
# dm-orchestrator's /metrics with the proxies' counters (issue 23 point
# 5): each running VM's QEMU is asked query-remote-devices through its
# client launcher (here the fake launcher's stand-in QEMU, whose answer
# the test sets), and the whole text must parse as Prometheus' format
# 0.0.4: HELP and TYPE lines, every sample NAME{LABELS} VALUE of a family
# typed before it and kept together, each histogram's buckets cumulative
# and ending in +Inf equal to its _count.  A VM whose QEMU does not
# answer is skipped and counted, and the others are still there; more
# mute QEMUs than the scrape's deadline allows are not all waited for.
# TAP output.
#   test-metrics.py BUILD
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.dirname(here))
from orchlib import Env, Tap, UnixHTTPConnection  # noqa: E402
from promtext import ParseError, parse, value  # noqa: E402

t = Tap()


def scrape(e):
    conn = UnixHTTPConnection(e.sock)
    conn.request("GET", "/metrics")
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    return resp.status, text


def parser_self_test():
    """The parser refuses what breaks the format (it can fail)."""
    good = ("# HELP h x\n# TYPE h histogram\n"
            'h_bucket{a="1",le="0.5"} 1\nh_bucket{a="1",le="+Inf"} 2\n'
            'h_sum{a="1"} 0.7\nh_count{a="1"} 2\n')
    bad = {
        "no TYPE": "x 1\n",
        "two families mixed": "# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\n"
                              "a 2\n",
        "not cumulative": good.replace("} 2\nh_sum", "} 0\nh_sum"),
        "+Inf not _count": good.replace('h_count{a="1"} 2',
                                        'h_count{a="1"} 3'),
        "no +Inf": good.replace('h_bucket{a="1",le="+Inf"} 2\n', ""),
        "a bad label": '# TYPE g gauge\ng{a=b} 1\n',
        "no newline": "# TYPE g gauge\ng 1",
    }
    t.ok(parse(good)["h"]["type"] == "histogram", "the parser reads a "
         "histogram")
    for what, text in sorted(bad.items()):
        try:
            parse(text)
            t.ok(False, "the parser refuses " + what)
        except ParseError:
            t.ok(True, "the parser refuses " + what)


def proxies(e):
    c1 = e.start_fake("c1", "client")
    s1 = e.start_fake("s1", "server")
    e.api("POST", "/v1/platforms", {"name": "c1", "role": "client",
                                    "address": c1})
    e.api("POST", "/v1/platforms", {"name": "s1", "role": "server",
                                    "address": s1})
    # e0 has an id in QEMU (its name); 9e has none (QEMU's ids start
    # with a letter): it is found by its model's address.
    e.api("POST", "/v1/vms", {"name": "m1", "devices": [
        {"name": "e0", "model": "edu"}, {"name": "9e", "model": "edu"}]})
    e.api("POST", "/v1/vms", {"name": "m2", "devices": [
        {"name": "e0", "model": "edu"}]})
    e.api("POST", "/v1/vms", {"name": "m3", "devices": [
        {"name": "e0", "model": "edu"}]})
    for vm in ("m1", "m2"):
        st, body = e.api("POST", "/v1/vms/%s/start" % vm)
        t.eq(st, 200, "%s started (fake launchers)" % vm)
    buckets = [0] * 22
    buckets[3], buckets[4], buckets[21] = 5, 3, 1     # 8 us, 16 us, > 1 s
    e.fake_config("c1", remote_devices={"m1": {"e0": {
        "requests": 10, "errors": 1, "reconnects": 2,
        "latency": {"buckets": buckets, "count": 9,
                    "sum-ns": 1500000123}}, "dm-proxy-pci": {
        "state": "disconnected", "requests": 4}}},
        qmp_hold=["m2"])

    st, text = scrape(e)
    t.eq(st, 200, "/metrics answers while m2's QEMU does not")
    try:
        fams = parse(text)
        t.ok(True, "the text parses as Prometheus' format (HELP, TYPE, "
             "samples, histograms)")
    except ParseError as err:
        t.ok(False, "the text parses as Prometheus' format", "%s\n%s" %
             (err, text))
        return
    asked = [r["body"]["execute"] for r in e.requests("c1", "POST",
                                                       "/v1/vms/")
             if r["path"].endswith("/qmp")]
    t.ok(asked.count("query-remote-devices") == 2,
         "m1's and m2's QEMUs asked, not m3's (defined)", asked)
    e0 = {"vm": "m1", "device": "e0", "server": "s1"}
    t.eq(fams["dm_proxy_requests_total"]["type"], "counter",
         "dm_proxy_requests_total is a counter")
    t.eq(value(fams, "dm_proxy_requests_total", **e0), 10.0,
         "m1's e0: its requests")
    t.eq(value(fams, "dm_proxy_errors_total", **e0), 1.0, "...errors")
    t.eq(value(fams, "dm_proxy_reconnects_total", **e0), 2.0,
         "...reconnects")
    t.eq(value(fams, "dm_proxy_connected", **e0), 1.0, "...connected")
    h = "dm_proxy_round_trip_seconds"
    t.eq(fams[h]["type"], "histogram", h + " is a histogram")
    t.eq([value(fams, h, h + "_bucket", le=le, **e0) for le in
          ("0.000004", "0.000008", "0.000016", "1.048576", "+Inf")],
         [0.0, 5.0, 8.0, 8.0, 9.0],
         "its buckets: cumulative, le in seconds, the one beyond 1 s in "
         "+Inf only")
    t.eq(value(fams, h, h + "_count", **e0), 9.0, "its _count")
    t.eq(value(fams, h, h + "_sum", **e0), 1.500000123,
         "its _sum in seconds")
    les = [lab["le"] for name, lab, _ in fams[h]["samples"]
           if name == h + "_bucket" and lab["device"] == "e0"]
    t.eq(len(les), 22, "22 buckets: 1 us .. 2^20 us and +Inf")
    nine = {"vm": "m1", "device": "9e", "server": "s1"}
    t.eq((value(fams, "dm_proxy_requests_total", **nine),
          value(fams, "dm_proxy_connected", **nine)), (4.0, 0.0),
         "9e (no id in QEMU) named by its address: 4 requests, "
         "disconnected")
    t.eq(value(fams, h, h + "_count", **nine), 0.0,
         "its empty histogram is there, +Inf 0")
    t.ok(not [lab for fam in fams.values() for _, lab, _ in fam["samples"]
              if lab.get("vm") in ("m2", "m3") and "device" in lab],
         "no proxy of m2 (skipped) or m3 (not running)")
    t.eq((value(fams, "dm_orchestrator_proxy_vm_up", vm="m1"),
          value(fams, "dm_orchestrator_proxy_vm_up", vm="m2"),
          value(fams, "dm_orchestrator_proxy_vm_up", vm="m3")),
         (1.0, 0.0, None), "up: m1 answered, m2 did not, m3 not asked")
    t.eq(value(fams, "dm_orchestrator_proxy_vms_skipped"), 1.0,
         "one VM skipped")
    t.eq(value(fams, "dm_orchestrator_vms", state="running"), 2.0,
         "the orchestrator's own metrics are still there")

    # m2's QEMU answers again: in the next scrape, nothing skipped.
    e.fake_config("c1", qmp_hold=[])
    st, text = scrape(e)
    fams = parse(text)
    t.eq((value(fams, "dm_orchestrator_proxy_vm_up", vm="m2"),
          value(fams, "dm_orchestrator_proxy_vms_skipped"),
          value(fams, "dm_proxy_requests_total", vm="m2", device="e0",
                server="s1")), (1.0, 0.0, 0.0),
         "m2 answers: up, none skipped, its proxy listed")
    # A launcher that refuses QMP: skipped too, the scrape answered.
    e.fake_config("c1", qmp_error={"query-remote-devices": "no"})
    st, text = scrape(e)
    fams = parse(text)
    t.eq((st, value(fams, "dm_orchestrator_proxy_vms_skipped")), (200, 2.0),
         "QEMU refusing the query: both VMs skipped")


def deadline(e):
    """More mute QEMUs than a scrape can wait for: 16 asked at a time,
    each held until its 2 s, so by the 5 s deadline at most 48 were
    asked; the scrape answers then, every VM skipped, the rest never
    asked."""
    s2 = e.start_fake("s2", "server", "--capacity", "64")
    e.api("POST", "/v1/platforms", {"name": "s2", "role": "server",
                                    "address": s2})
    names = ["h%02d" % i for i in range(49)]
    for vm in names:
        e.api("POST", "/v1/vms", {"name": vm, "devices": [
            {"name": "e0", "model": "edu", "server": "s2"}]})
        st, _ = e.api("POST", "/v1/vms/%s/start" % vm)
        if st != 200:
            t.ok(False, "%s started" % vm, st)
            return
    e.fake_config("c1", qmp_hold=names + ["m1", "m2"], qmp_error={})
    before = len(e.requests("c1", "POST", "/v1/vms/"))
    st, text = scrape(e)
    fams = parse(text)
    t.eq((st, value(fams, "dm_orchestrator_proxy_vms_skipped")),
         (200, 51.0), "51 mute QEMUs: the scrape answers, all skipped")
    asked = [r for r in e.requests("c1", "POST", "/v1/vms/")[before:]
             if r["body"].get("execute") == "query-remote-devices"]
    t.ok(16 <= len(asked) <= 48, "at most 48 asked (16 at a time, 2 s "
         "each, 5 s in all): %d" % len(asked))
    t.ok(all(value(fams, "dm_orchestrator_proxy_vm_up", vm=vm) == 0.0
             for vm in names), "each of them up 0")
    e.fake_config("c1", qmp_hold=[])


def main():
    parser_self_test()
    e = Env(sys.argv[1])
    return e.run(t, lambda: (e.start_orch(), proxies(e), deadline(e)))


sys.exit(main())
