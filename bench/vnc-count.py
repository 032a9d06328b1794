#!/usr/bin/python3
"""A VNC viewer for make bench's display table: counts the screen
updates a viewer receives.

    vnc-count.py VNC_ADDRESS OUT_FILE

Connects (retrying while the address does not answer), then asks for
incremental updates one at a time, as a viewer does, and notes when
each update with pixels arrives.  Once the server closes, or on
SIGTERM, writes "UPDATES PEAK" to OUT_FILE: how many updates in all,
and the most in any one second (the rate while the guest drew).
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests"))
import rfb_client  # noqa: E402

stamps = []


def report(out):
    peak, j = 0, 0
    for i, t in enumerate(stamps):
        while stamps[j] < t - 1.0:
            j += 1
        peak = max(peak, i - j + 1)
    with open(out, "w") as f:
        f.write("%d %d\n" % (len(stamps), peak))


def main():
    addr, out = sys.argv[1], sys.argv[2]

    def stop(*_):
        report(out)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    for _ in range(6000):
        try:
            v = rfb_client.RfbClient(rfb_client.connect(addr, timeout=5))
            v.sock.settimeout(None)     # a quiet screen sends nothing
            break
        except (OSError, rfb_client.RfbError):
            time.sleep(0.05)
    else:
        stop()
    try:
        while True:
            v.request(True)
            rects = v.read_update()
            if any(enc == rfb_client.ENC_RAW for *_, enc in rects):
                stamps.append(time.monotonic())
    except (OSError, rfb_client.RfbError):
        pass
    stop()


if __name__ == "__main__":
    main()
