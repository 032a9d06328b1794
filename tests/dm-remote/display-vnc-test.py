#!/usr/bin/python3
"""bochs-display's VNC server, without QEMU: a vfio-user client (the test)
sets modes and draws by region writes, an RFB client (tests/rfb_client.py)
reads the screen, and the test listens on the input links.  TAP.

 - The screen a viewer gets is the pixels written into BAR0, in the mode
   the dispi registers set; a change of a few pixels comes back as the
   tiles that hold them, not the whole screen; a mode change resizes the
   RFB framebuffer (DesktopSize).
 - Keys arrive on the keyboard link as EV_KEY records with their
   KEY_* code and a SYN; pointer moves on the tablet link as ABS_X/ABS_Y
   scaled to 0..32767 with BTN_* changes.  With the link down events are
   dropped, and they flow again once an input model listens anew.
 - A viewer that never reads stalls neither the model (its registers
   answer) nor another viewer.
 - vnc-password=: VNC authentication; a wrong password is refused.
 - vnc-password-file=: the same from a file's first line.

    tests/dm-remote/display-vnc-test.py DM_REMOTE
"""
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, ".."))
import rfb_client  # noqa: E402
import vup_client  # noqa: E402
from taplib import finish, free_port, ok, stop  # noqa: E402

BAR0, BAR2 = 0, 2
XRES, YRES, BPP, ENABLE, BANK = 1, 2, 3, 4, 5
VIRT_WIDTH, VIRT_HEIGHT, X_OFFSET, Y_OFFSET = 6, 7, 8, 9
EV_SYN, EV_KEY, EV_REL, EV_ABS = 0, 1, 2, 3
KEY_ENTER, KEY_A, KEY_F1, KEY_LEFTSHIFT, KEY_1 = 28, 30, 59, 42, 2
BTN_LEFT, BTN_RIGHT = 0x110, 0x111
XK_Return, XK_F1, XK_Shift_L = 0xff0d, 0xffbe, 0xffe1
VGAMEM = 4 << 20


def wait_path(path, proc, timeout=20):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def serve(dm, tmp, name, props):
    sock = os.path.join(tmp, name + ".sock")
    p = subprocess.Popen([dm, "serve", "--model", "bochs-display," + props,
                          "--listen", "unix:" + sock])
    if not wait_path(sock, p):
        raise RuntimeError("dm-remote serve did not start")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sock)
    c = vup_client.Client(s)
    c.version()
    return p, c


def dispi(c, index, value):
    c.write(BAR2, 0x500 + 2 * index, struct.pack("<H", value))


def setmode(c, w, h):
    """As Linux's bochs_hw_setmode."""
    for index, value in ((ENABLE, 0), (BPP, 32), (XRES, w), (YRES, h),
                         (BANK, 0), (VIRT_WIDTH, w),
                         (VIRT_HEIGHT, VGAMEM // (w * 4)), (X_OFFSET, 0),
                         (Y_OFFSET, 0), (ENABLE, 0x41)):
        dispi(c, index, value)


def colour(x, y, salt=0):
    return ((x * 3 + salt) & 0xff, (y * 5) & 0xff, (x ^ y ^ salt) & 0xff)


def draw(c, w, h, salt=0, y0=0, y1=None):
    """Rows y0..y1 of the pattern, one region write per row."""
    for y in range(y0, h if y1 is None else y1):
        row = bytearray()
        for x in range(w):
            r, g, b = colour(x, y, salt)
            row += bytes((b, g, r, 0))
        c.write(BAR0, y * w * 4, bytes(row))


def screen_is(v, w, h, salt=0):
    if (v.width, v.height) != (w, h):
        return False
    return all(v.pixel(x, y) == colour(x, y, salt)
               for y in range(0, h, 7) for x in range(0, w, 5))


class LinkListener:
    """A fake input model: listens on the input link's socket."""

    def __init__(self, path):
        self.path = path
        self.listen()

    def listen(self):
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(self.path)
        self.srv.listen(4)
        self.conn = None

    def close(self):
        if self.conn:
            self.conn.close()
        self.srv.close()
        os.unlink(self.path)

    def events(self, count, timeout=20):
        """The next @count records as (type, code, value)."""
        if not self.conn:
            self.srv.settimeout(timeout)
            self.conn, _ = self.srv.accept()
            self.conn.settimeout(timeout)
        data = rfb_client.recv_exact(self.conn, 8 * count)
        return [struct.unpack("<HHi", data[i:i + 8])
                for i in range(0, len(data), 8)]


def main():
    dm = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="display-vnc-")
    procs = []
    try:
        run(dm, tmp, procs)
    finally:
        stop(procs, tmp)
    return finish()


def run(dm, tmp, procs):
    kbd = LinkListener(os.path.join(tmp, "kbd"))
    tab = LinkListener(os.path.join(tmp, "tab"))
    vnc = "unix:" + os.path.join(tmp, "vnc")
    p, c = serve(dm, tmp, "plain",
                 "vgamem=%d,vnc=%s,keyboard=unix:%s,tablet=unix:%s" %
                 (VGAMEM, vnc, kbd.path, tab.path))
    procs.append(p)
    ok(oct(os.stat(vnc[5:]).st_mode & 0o777) == "0o600",
       "the VNC socket is its owner's alone")

    # Disabled: a blank 640x480.
    v = rfb_client.RfbClient(rfb_client.connect(vnc))
    ok((v.width, v.height) == (640, 480) and
       v.pixel(10, 10) == (0, 0, 0), "disabled: a blank 640x480 screen")

    # A mode and a pattern: the viewer is resized and sees the pixels.
    w, h = 256, 96
    draw(c, w, h)
    setmode(c, w, h)
    got, rects = v.wait_for(lambda v: screen_is(v, w, h))
    ok(got and v.resized >= 1,
       "mode 256x96: DesktopSize, then the pixels written into BAR0")

    # A few pixels change: only the tiles holding them are sent again.
    row = bytearray(b"\x00\x00\xff\x00" * 8)        # 8 red pixels
    c.write(BAR0, (80 * w + 200) * 4, bytes(row))
    got, rects = v.wait_for(lambda v: v.pixel(203, 80) == (255, 0, 0))
    area = sum(r[2] * r[3] for r in rects)
    ok(got and 0 < area < w * h // 4 and
       all(r[0] <= 200 and r[0] + r[2] >= 208 and r[1] <= 80 and
           r[1] + r[3] > 80 for r in rects),
       "a change of 8 pixels comes back as its tile, not the screen "
       "(%d pixels in %d rectangles)" % (area, len(rects)))

    # A new viewer gets the current screen at once.
    v2 = rfb_client.RfbClient(rfb_client.connect(vnc))
    ok((v2.width, v2.height) == (w, h) and v2.pixel(203, 80) == (255, 0, 0)
       and v2.pixel(5, 5) == colour(5, 5), "a new viewer sees the screen")
    v2.sock.close()

    # Keys: KEY_* codes and a SYN after each.
    syn = (EV_SYN, 0, 0)
    v.key(ord("a"), True)
    v.key(ord("a"), False)
    ok(kbd.events(4) == [(EV_KEY, KEY_A, 1), syn, (EV_KEY, KEY_A, 0), syn],
       "'a' down and up: KEY_A 1, SYN, KEY_A 0, SYN")
    for keysym, code in ((XK_Return, KEY_ENTER), (XK_F1, KEY_F1),
                         (XK_Shift_L, KEY_LEFTSHIFT), (ord("!"), KEY_1),
                         (ord("Q"), 16)):
        v.key(keysym, True)
        ok(kbd.events(2) == [(EV_KEY, code, 1), syn],
           "keysym 0x%x: KEY %d" % (keysym, code))
        v.key(keysym, False)
        kbd.events(2)
    v.key(0x20ac, True)                 # the euro sign: no key for it
    v.key(ord("b"), True)
    ok(kbd.events(2) == [(EV_KEY, 48, 1), syn],
       "an unknown keysym sends nothing")

    # Pointer: absolute, scaled to the tablet's 0..32767, buttons.
    v.pointer(w - 1, 0, 1)
    ok(tab.events(4) == [(EV_ABS, 0, 32767), (EV_ABS, 1, 0),
                         (EV_KEY, BTN_LEFT, 1), syn],
       "pointer at the right edge, left button: ABS_X 32767, BTN_LEFT")
    v.pointer(w // 2, h - 1, 4)
    ok(tab.events(5) == [(EV_ABS, 0, (w // 2) * 32767 // (w - 1)),
                         (EV_ABS, 1, 32767), (EV_KEY, BTN_LEFT, 0),
                         (EV_KEY, BTN_RIGHT, 1), syn],
       "pointer at the middle bottom, right button instead of left")
    v.pointer(0, 0, 4 | 8)
    ok(tab.events(4) == [(EV_ABS, 0, 0), (EV_ABS, 1, 0), (EV_REL, 8, 1),
                         syn], "wheel up: REL_WHEEL 1")

    # The keyboard model goes away and comes back.
    kbd.close()
    v.key(ord("c"), True)               # dropped: nobody listens
    v.key(ord("c"), False)
    # The viewer's messages are handled in order: once a whole update
    # came back, the server has handled (dropped) those keys.
    v.refresh()
    kbd.listen()
    v.key(ord("d"), True)
    ok(kbd.events(2) == [(EV_KEY, 32, 1), syn],
       "keyboard link down: dropped; a new listener gets the next key")

    # A viewer that never reads, on a big screen: the model answers and
    # another viewer is served.
    w, h = 1024, 768
    setmode(c, w, h)
    stuck = rfb_client.RfbClient(rfb_client.connect(vnc))
    stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    for salt in range(3):
        stuck.request(False)
        draw(c, w, h, salt=salt, y0=0, y1=h)
    ok(c.read(BAR2, 0x500, 2) == b"\xc5\xb0",
       "a viewer that never reads: the model's registers answer")
    ok(v.wait_for(lambda v: screen_is(v, w, h, salt=2), timeout=60)[0],
       "... and another viewer gets 1024x768 and the last pattern")
    stuck.sock.close()
    v.sock.close()

    # Hostile register values: refused, the screen's size is a mode that
    # fits, or the blank screen when the guest's ENABLE is refused.
    dispi(c, ENABLE, 0)
    dispi(c, XRES, 60000)
    dispi(c, ENABLE, 0x41)
    v = rfb_client.RfbClient(rfb_client.connect(vnc))
    ok((v.width, v.height) == (1024, 768),
       "XRES=60000 refused: the mode stays 1024x768")
    dispi(c, ENABLE, 0)
    dispi(c, XRES, 4000)
    dispi(c, ENABLE, 0x41)
    ok(v.wait_for(lambda v: (v.width, v.height) == (640, 480))[0],
       "XRES=4000 does not fit 4 MiB: ENABLE refused, the blank screen")
    v.sock.close()
    c.sock.close()

    # VNC authentication on TCP.
    port = free_port()
    vnc = "tcp:127.0.0.1:%d" % port
    p, c = serve(dm, tmp, "auth", "vnc=%s,vnc-password=s3cret" % vnc)
    procs.append(p)
    try:
        rfb_client.RfbClient(rfb_client.connect(vnc), password="wrong")
        refused = False
    except rfb_client.RfbError:
        refused = True
    ok(refused, "vnc-password=: a wrong password is refused")
    try:
        rfb_client.RfbClient(rfb_client.connect(vnc))
        refused = False
    except rfb_client.RfbError:
        refused = True
    ok(refused, "vnc-password=: security None is not offered")
    v = rfb_client.RfbClient(rfb_client.connect(vnc), password="s3cret")
    setmode(c, 64, 48)
    draw(c, 64, 48, salt=9)
    ok(v.wait_for(lambda v: screen_is(v, 64, 48, salt=9))[0],
       "vnc-password=: the right one gets the screen")
    png = os.path.join(tmp, "shot.ppm")
    v.save_ppm(png)
    with open(png, "rb") as f:
        ok(f.read(15) == b"P6\n64 48\n255\n" + bytes(colour(0, 0, 9)[:2]),
           "a screenshot as PPM")

    # vnc-password-file=: the file's first line (a launcher's way: not
    # on the command line); with vnc-password= too, the start fails.
    pwfile = os.path.join(tmp, "vnc-password")
    with open(pwfile, "w") as f:
        f.write("fr0mfile\nignored\n")
    vnc = "unix:" + os.path.join(tmp, "authf.vnc")
    p, c = serve(dm, tmp, "authf", "vnc=%s,vnc-password-file=%s" %
                 (vnc, pwfile))
    procs.append(p)
    try:
        rfb_client.RfbClient(rfb_client.connect(vnc), password="ignored")
        refused = False
    except rfb_client.RfbError:
        refused = True
    ok(refused, "vnc-password-file=: another password is refused")
    v = rfb_client.RfbClient(rfb_client.connect(vnc), password="fr0mfile")
    ok(v.width > 0, "vnc-password-file=: its first line is the password")
    v.sock.close()
    both = subprocess.run([dm, "serve", "--model",
                           "bochs-display,vnc=%s.2,vnc-password=x,"
                           "vnc-password-file=%s" % (vnc, pwfile),
                           "--listen", "unix:" + os.path.join(tmp, "b.sock")],
                          capture_output=True, text=True, timeout=30)
    ok(both.returncode != 0 and "not both" in both.stderr,
       "vnc-password= and vnc-password-file= together: refused")


if __name__ == "__main__":
    sys.exit(main())
