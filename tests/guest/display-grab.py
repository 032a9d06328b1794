#!/usr/bin/python3
"""The host's half of tests/guest/display.sh: take the guest's screen
through the display model's VNC server and check the pattern that
tests/guest/bin/display-check painted (top half one colour, bottom half
another).  Prints TAP lines from N+1 on; saves the screen as PPM.

    display-grab.py VNC_ADDRESS W H SCREENSHOT.ppm FIRST_N
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import rfb_client  # noqa: E402

TOP = (240, 128, 16)
BOTTOM = (8, 40, 200)


def main():
    addr, w, h, shot, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
        sys.argv[4], int(sys.argv[5])
    # Away from the top left corner, where fbcon's cursor may blink.
    points = [(x, y) for x in (w // 3, w // 2, w - 1)
              for y in (0, h // 4, h // 2 - 1, h // 2, 3 * h // 4, h - 1)]

    def painted(v):
        return (v.width, v.height) == (w, h) and all(
            v.pixel(x, y) == (TOP if y < h // 2 else BOTTOM)
            for x, y in points)

    v = rfb_client.RfbClient(rfb_client.connect(addr))
    got, _ = v.wait_for(painted, timeout=120)
    v.save_ppm(shot)
    failed = False
    for i, (name, cond) in enumerate((
            ("the VNC screen is the guest's mode %dx%d (got %dx%d)" %
             (w, h, v.width, v.height), (v.width, v.height) == (w, h)),
            ("the VNC screen shows the pattern the guest wrote to /dev/fb0",
             got))):
        print("%s %d - %s" % ("ok" if cond else "not ok", n + 1 + i, name))
        failed |= not cond
    if not got and (v.width, v.height) == (w, h):
        for x, y in points:
            print("#   (%d,%d): %s" % (x, y, v.pixel(x, y)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
