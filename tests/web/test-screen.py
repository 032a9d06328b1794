#!/usr/bin/python3
# A VM's screen in the web console (issue 23 point 4): a Linux guest under
# TCG with a remote display, keyboard and tablet placed by the
# orchestrator on a real server launcher (on TCP with TLS, as on another
# host) and run by a real client launcher's QEMU; headless Chromium logs in with the token over TLS,
# opens the VM's screen (noVNC over /v1/ws/display/VM, relayed by the
# orchestrator to the launcher, which authenticates to the display's VNC
# server) and sees the pattern the guest painted into /dev/fb0
# (tests/guest/bin/display-check); a click and a key typed in the page
# reach the guest's evdev as tablet and keyboard events
# (tests/guest/bin/virtio-input-check).  Refused: no credentials (401),
# another site's Origin (403), a VM without a display (409).  The VNC
# password is nowhere the orchestrator's side can show it: its log,
# events, the VM's JSON, dmctl, any command line, the page.
# Screenshots go to $WEB_TEST_ARTEFACTS (default: the temporary dir).
# TAP output.
#   test-screen.py BUILD
import glob
import json
import os
import socket
import ssl
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "orchestrator"))
import weblib  # noqa: E402
import wslib  # noqa: E402
from orchlib import Env, Tap, wait_for  # noqa: E402

t = Tap()
weblib.skip_without_browser()
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402,E501
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402,E501
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

TOKEN = "screen-token-0123456789"
VM = "scr"
# display-check's two halves, (R, G, B).
TOP, BOTTOM = (240, 128, 16), (8, 40, 200)


class Serial:
    """The guest's remote UART, read in the background."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.text = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                return
            if not data:
                return
            self.text += data.decode(errors="replace").replace("\r", "")

    def send(self, line):
        self.sock.sendall(line.encode() + b"\n")


def ws_status(port, path, headers):
    """The status of a WebSocket handshake to the orchestrator (TLS)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 30))
    try:
        ws = wslib.connect(s, path, host="127.0.0.1:%d" % port,
                           headers=headers)
    except wslib.HandshakeError as e:
        return e.status, None
    return 101, ws


def canvas_pixel(d, fx, fy):
    """(R, G, B) of noVNC's canvas at a fraction of its size, or None."""
    return d.execute_script("""
        const c = document.querySelector('#screen canvas');
        if (!c || !c.width) return null;
        const p = c.getContext('2d').getImageData(
            Math.floor(c.width * arguments[0]),
            Math.floor(c.height * arguments[1]), 1, 1).data;
        return [p[0], p[1], p[2]];""", fx, fy)


def near(got, want, slack=24):
    """Tight's JPEG may shift a colour a little; these two are far apart."""
    return got is not None and all(abs(a - b) <= slack
                                   for a, b in zip(got, want))


def test(e):
    # The client's launcher on a UNIX socket; the server's on TCP with TLS,
    # as on another host (the orchestrator reaches its WebSocket of the
    # display with its launcher certificate; the models are on TCP, the
    # fork sends the framebuffer's dirty pages).
    c = weblib.Cluster(e, TOKEN, {"c1": "unix"})
    clusters.append(c)          # stopped at the end, whatever happens
    port, dmctl = c.port, c.dmctl
    rc1, rc2 = c.add_platforms()
    rc3, out = dmctl(
        "vm", "create", VM, "--memory", "256M",
        # The shared command line, and virtio-input-check's counts: "a"
        # pressed and released (with its two SYN_REPORTs), the first
        # pointer event; no autorepeat.
        *weblib.linux_args(e.build, "dm.kbd=4 dm.tablet=1 dm.norepeat=1"),
        "--device", "console=uart16550", "--device", "gfx0=bochs-display",
        "--device", "kbd0=virtio-keyboard",
        "--device", "tablet0=virtio-tablet")
    rc4, out = dmctl("vm", "create", "plain", "--device", "e0=edu")
    t.ok((rc1, rc2, rc3, rc4) == (0, 0, 0, 0), "platforms and VMs defined",
         out)
    rc, out = dmctl("vm", "start", VM, "--on", "c1")
    t.ok(rc == 0, "the VM starts", out + e.orch_log()[-2000:])
    if rc != 0:
        return
    rc, shown = dmctl("vm", "show", VM)
    srv_state = os.path.join(e.tmp, "srv")
    pw_files = glob.glob(os.path.join(srv_state, "instances", "*",
                                      "vnc-password"))
    password = open(pw_files[0]).read().strip() if pw_files else None
    t.ok(password, "the display's launcher made its VNC password")

    # Refusals before any upgrade.
    path = "/v1/ws/display/" + VM
    st, _ = ws_status(port, path, {})
    t.eq(st, 401, "the screen without credentials: 401")
    bearer = {"Authorization": "Bearer " + TOKEN}
    st, _ = ws_status(port, path, dict(bearer, Origin="https://evil.test"))
    t.eq(st, 403, "the screen from another site's page: 403")
    st, _ = ws_status(port, "/v1/ws/display/plain", bearer)
    t.eq(st, 409, "a VM without a placed display: 409")
    # With the token: RFB, security None only (the launcher did VNC's).
    st, ws = ws_status(port, path, bearer)
    hello = types = b""
    if ws:
        ws.settimeout(120)
        stream = wslib.Stream(ws)
        while len(hello) < 12:
            got = stream.recv(12 - len(hello))
            if not got:
                break
            hello += got
        stream.sendall(b"RFB 003.008\n")
        types = stream.recv(2)
        ws.close()
    t.ok(st == 101 and hello == b"RFB 003.008\n" and types == b"\x01\x01",
         "with the token: RFB 3.8 offering None only", (st, hello))

    # The guest: the pattern (its readers of the keyboard and tablet
    # come later, just before the page types: they wait 90 s at most).
    rc, cons = dmctl("--json", "vm", "show", VM)
    cpath = [x["console"] for x in json.loads(cons)["devices"]
             if x["name"] == "console"][0][5:]
    serial = Serial(cpath)
    consoles.append(serial)
    deadline = time.monotonic() + 600
    # Typed until the shell is there to answer (the guest boots
    # meanwhile; what it gets before is only echoed).
    while time.monotonic() < deadline and "up: 42" not in serial.text:
        serial.send("echo up: $((40+2))")
        for _ in range(100):
            if "up: 42" in serial.text:
                break
            time.sleep(0.1)
    t.ok("up: 42" in serial.text, "the guest's shell answers on its UART",
         serial.text[-2000:])
    serial.send("display-check >/dev/ttyS0 2>&1 &")
    # Drawn, or display-check's own failure (an insmod, no /dev/fb0).
    wait_for(lambda: "DM-DISPLAY drawn" in serial.text or
             "DM-DISPLAY insmod" in serial.text or
             "DM-DISPLAY no" in serial.text,
             "the guest's pattern", 300)
    t.ok("DM-DISPLAY drawn" in serial.text, "the guest painted /dev/fb0",
         "\n".join(ln for ln in serial.text.splitlines()
                   if ln.startswith("DM-"))[-1500:])

    shots = os.environ.get("WEB_TEST_ARTEFACTS") or e.tmp
    os.makedirs(shots, exist_ok=True)
    d = weblib.browser(e.tmp)
    try:
        page(e, d, port, shots, serial)
        # Nothing the browser got holds the password: the page, its
        # storage, its URL.
        t.ok(password not in d.page_source and
             password not in d.current_url and
             password not in str(d.execute_script(
                 "return JSON.stringify(localStorage) + document.cookie")),
             "the password is not in the page")
    finally:
        d.save_screenshot(os.path.join(shots, "screen-last.png"))
        d.quit()

    # The password stays with the server's launcher.
    rc, events = dmctl("--json", "events")
    rc2, vmjson = dmctl("--json", "vm", "show", VM)
    cmdlines = b"".join(open(p, "rb").read()
                        for p in glob.glob("/proc/[0-9]*/cmdline")
                        if os.path.exists(p))
    t.ok(password not in e.orch_log() and password not in events and
         password not in vmjson and password not in shown and
         password.encode() not in cmdlines and
         password not in open(os.path.join(e.tmp, "srv.log")).read() and
         password not in open(os.path.join(e.tmp, "c1.log")).read(),
         "the VNC password is in no log, event, dmctl output or command "
         "line")
    dmctl("vm", "stop", VM, "--timeout", "5")


def page(e, d, port, shots, serial):
    url = "https://127.0.0.1:%d/" % port
    wait = WebDriverWait(d, 120, ignored_exceptions=(
        StaleElementReferenceException,))
    weblib.login(d, url, TOKEN)
    sel = 'button[data-action="screen"][data-vm="%s"]' % VM
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, sel))
    t.ok(not d.find_elements(By.CSS_SELECTOR, 'button[data-action="screen"]'
                             '[data-vm="plain"]'),
         "no screen button for a VM without a display")
    d.find_element(By.CSS_SELECTOR, sel).click()
    wait.until(lambda d: "connected" in
               d.find_element(By.ID, "screen-status").text)
    t.ok(True, "noVNC connects through the orchestrator")
    # noVNC asks for updates as it draws: the guest's pattern comes.
    try:
        wait.until(lambda d: near(canvas_pixel(d, 0.5, 0.25), TOP) and
                   near(canvas_pixel(d, 0.5, 0.75), BOTTOM))
    except Exception:
        pass
    top, bottom = canvas_pixel(d, 0.5, 0.25), canvas_pixel(d, 0.5, 0.75)
    d.save_screenshot(os.path.join(shots, "screen.png"))
    t.ok(near(top, TOP) and near(bottom, BOTTOM),
         "the page's screen shows the guest's pattern", (top, bottom))
    size = d.execute_script("""const c = document.querySelector(
        '#screen canvas'); return c ? [c.width, c.height] : null;""")
    t.ok(size and size[0] >= 640 and size[1] >= 480,
         "the screen is the guest's mode", size)

    # A click (the pointer) and a key typed in the page reach the guest.
    serial.send("virtio-input-check >/dev/ttyS0 2>&1 &")
    wait_for(lambda: "DM-INPUT ready" in serial.text or
             "DM-INPUT devices missing" in serial.text or
             "DM-INPUT insmod" in serial.text, "the guest's readers", 300)
    t.ok("DM-INPUT ready" in serial.text and
         "DM-INPUT norepeat" in serial.text,
         "the guest reads its keyboard and tablet (autorepeat off)",
         "\n".join(ln for ln in serial.text.splitlines()
                   if ln.startswith("DM-INPUT"))[-1500:])
    canvas = d.find_element(By.CSS_SELECTOR, "#screen canvas")
    ActionChains(d).move_to_element(canvas).click().perform()
    ActionChains(d).send_keys("a").perform()
    state = d.execute_script("""return [
        document.getElementById('screen-status').textContent,
        document.activeElement && document.activeElement.tagName];""")
    wait_for(lambda: "DM-INPUT done" in serial.text, "the guest's events",
             120)
    got = "\n".join(ln for ln in serial.text.splitlines()
                    if ln.startswith(("DM-INPUT kbd ", "DM-INPUT tablet ")))
    t.ok("DM-INPUT kbd 1 30 1" in got and "DM-INPUT kbd 1 30 0" in got,
         "the key typed in the page reaches the guest (KEY_A down, up)",
         "%s\npage: %s" % (got, state))
    t.ok("DM-INPUT tablet 3 " in got,
         "the click's pointer reaches the guest as an absolute event",
         "%s\npage: %s" % (got, state))
    d.save_screenshot(os.path.join(shots, "screen-typed.png"))
    errs = [m for m in d.get_log("browser") if m["level"] == "SEVERE"]
    t.ok(not errs, "no console error with the screen open", errs)


# The cluster, stopped at the end; the guest's console, saved as an
# artefact whatever happens.
clusters = []
consoles = []


def main():
    build = os.path.abspath(sys.argv[1])
    if not os.path.exists(os.path.join(build, "qemu-system-x86_64")):
        print("1..0 # SKIP no QEMU in %s" % build)
        return 0
    e = Env(build)

    def body():
        try:
            test(e)
        finally:
            for c in clusters:
                c.stop()
            if consoles:
                shots = os.environ.get("WEB_TEST_ARTEFACTS") or e.tmp
                with open(os.path.join(shots, "screen-guest-console.txt"),
                          "w") as f:
                    f.write(consoles[0].text)
    return e.run(t, body)


sys.exit(main())
