#!/usr/bin/python3
# The serial console and a migration in the web console, with a real
# guest (issue 23: "the serial console shows the guest's prompt and a
# typed command's output; a migration started from the page moves the VM
# and its progress reaches 100 %").  A Linux guest under TCG with its
# console on a remote UART (uart16550) placed on a real server launcher,
# run by the QEMU of one of two real client launchers on TCP with TLS,
# the migration stream between them TLS too (tests/web/weblib.py).  The
# server's launcher and its models are on UNIX sockets, the UART's
# interrupt by eventfd; WEB_GUEST_MODELS=tcp puts them on TCP with TLS
# (interrupts by message; the test web-guest-tcp).  Headless Chromium logs in with the token over
# TLS, opens the VM's serial console (xterm.js over the orchestrator's
# WebSocket, relayed by the server's launcher to the UART's console),
# sees the shell's prompt, types a command and sees its output; then
# migrates the VM from the page to the other client (the migrate button,
# its prompt accepted), sees the progress reach 100 % and the VM on the
# other client, as dmctl says too; then the console, still open and
# asked for again from the VM's row (the same session: the UART's
# console takes one client), answers a new command; dmctl's migration
# back ends with QMP's last figures.  Screenshots and the terminal's
# text go to $WEB_TEST_ARTEFACTS (default: the temporary dir).  TAP.
#   test-guest.py BUILD
import os
import random
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "orchestrator"))
import weblib  # noqa: E402
from orchlib import Env, Tap  # noqa: E402

t = Tap()
weblib.skip_without_browser()
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402,E501
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402,E501
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

TOKEN = "guest-token-0123456789"
VM = "web"
# The shell's prompt: busybox sh's, as root (the line trimmed).
PROMPT = re.compile(r"[#$]$")


def term_text(d):
    """xterm.js's buffer, line by line (the page keeps it in dmTerm)."""
    return d.execute_script("""
        const b = window.dmTerm && window.dmTerm.buffer.active;
        if (!b) return '';
        let s = '';
        for (let i = 0; i < b.length; i++)
            s += b.getLine(i).translateToString(true) + '\\n';
        return s;""") or ""


def lines(d):
    """The terminal's lines that hold something, right-trimmed."""
    return [ln.rstrip() for ln in term_text(d).splitlines() if ln.strip()]


def has_line(d, want):
    return want in lines(d)


def type_line(d, text):
    d.find_element(By.CSS_SELECTOR, "#serial textarea").send_keys(text +
                                                                  "\n")


def answer(d, wait_s, what):
    """Types `echo WHAT-$((N*2))` and waits (bounded) for its output, a
    line of its own that only the shell's arithmetic can make (the
    echoed command holds "$((").  True once seen."""
    n = random.randint(1000, 99999)
    type_line(d, "echo %s-$((%d*2))" % (what, n))
    try:
        WebDriverWait(d, wait_s).until(
            lambda d: has_line(d, "%s-%d" % (what, 2 * n)))
        return True
    except TimeoutException:
        return False


def console_errors(d):
    return [m for m in d.get_log("browser") if m["level"] == "SEVERE"]


def test(e, shots):
    models = os.environ.get("WEB_GUEST_MODELS", "unix")
    print("# the server's launcher and its models on %s" % models)
    c = weblib.Cluster(e, TOKEN, {"c1": "tcp", "c2": "tcp"},
                       model_tls=True, server=models)
    clusters.append(c)
    rcs = c.add_platforms()
    rc, out = c.dmctl("vm", "create", VM, "--memory", "256M",
                      *weblib.linux_args(e.build),
                      "--device", "console=uart16550")
    t.ok(rcs == [0, 0, 0] and rc == 0,
         "three platforms and a VM with a remote UART defined", out)
    rc, out = c.dmctl("vm", "start", VM, "--on", "c1")
    t.ok(rc == 0 and "running on c1" in out, "the VM starts on c1",
         out + e.orch_log()[-2000:])
    if rc != 0:
        return
    d = weblib.browser(e.tmp)
    browsers.append(d)
    wait = WebDriverWait(d, 120, ignored_exceptions=(
        StaleElementReferenceException,))
    weblib.login(d, c.url, TOKEN)
    console_button = 'button[data-action="console"][data-vm="%s"]' % VM
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, console_button))
    d.find_element(By.CSS_SELECTOR, console_button).click()

    # The UART's console replays what the guest wrote before we came.
    try:
        WebDriverWait(d, 600).until(
            lambda d: "DM-GUEST-READY" in term_text(d))
    except TimeoutException:
        pass
    t.ok("DM-GUEST-READY" in term_text(d),
         "the page's serial console shows the guest's boot",
         term_text(d)[-1500:])
    # Typed until the shell is there to answer (what comes before is
    # only echoed, or waits in the tty).
    deadline = time.monotonic() + 300
    up = False
    while not up and time.monotonic() < deadline:
        up = answer(d, 10, "up")
    t.ok(up, "a command typed in the page is answered by the guest's "
         "shell", term_text(d)[-1500:])
    # A line of its own: the prompt the shell prints when Enter is hit.
    before = len(lines(d))
    type_line(d, "")
    try:
        wait.until(lambda d: len(lines(d)) > before)
    except TimeoutException:
        pass
    now = lines(d)
    t.ok(len(now) > before and PROMPT.search(now[-1]),
         "Enter in the page: a new line with the shell's prompt (%r)" %
         now[-1], term_text(d)[-800:])
    t.ok(answer(d, 120, "web"), "a typed command's output shows in the "
         "page", term_text(d)[-800:])
    d.save_screenshot(os.path.join(shots, "guest-console.png"))

    # The migration, from the page: its prompt names the other client.
    d.execute_script("""window.dmSeen = [];
        new MutationObserver(() => {
          const p = document.querySelector('#action-status progress');
          if (p) window.dmSeen.push(Number(p.value));
        }).observe(document.getElementById('action-status'),
                   { childList: true, subtree: true });""")
    d.find_element(By.CSS_SELECTOR, 'button[data-action="migrate"]'
                   '[data-vm="%s"]' % VM).click()
    wait.until(EC.alert_is_present())
    asked = d.switch_to.alert.text
    t.ok("c2" in asked, "the migration asks where to, c2 offered", asked)
    d.switch_to.alert.accept()          # its default: the other client
    # Read in one go: the line is redrawn at each poll.  A poll can show
    # 100 % before the end (nothing left to send, the device state still
    # to go): the wait is for the answer's "completed".
    status = """const s = document.getElementById('action-status');
        const p = s.querySelector('progress');
        return [p ? p.value : null, s.textContent];"""
    try:
        WebDriverWait(d, 600).until(
            lambda d: (lambda v: v[0] == 100 and ": completed" in v[1])(
                d.execute_script(status)))
    except TimeoutException:
        pass
    text = d.find_element(By.ID, "action-status").text
    seen = d.execute_script("return window.dmSeen")
    print("# progress values the page showed: %s" % seen)
    t.ok("migrate %s to c2: completed" % VM in text and "100 %" in text,
         "the page's migration progress reaches 100 %", (text, seen,
                                                           e.orch_log()[-1500:]))
    t.ok(seen and all(0 <= v <= 100 for v in seen),
         "each value it showed is a percentage", seen)
    d.save_screenshot(os.path.join(shots, "guest-migrated.png"))
    # The row is redrawn at each event: read it in one go.
    row = """const r = document.querySelector('tr[data-vm="%s"]');
        return r ? r.textContent : '';""" % VM
    try:
        wait.until(lambda d: "c2" in d.execute_script(row))
    except TimeoutException:
        pass
    text = d.execute_script(row)
    t.ok("running" in text and "c2" in text,
         "the page shows the VM running on c2", text)
    rc, out = c.dmctl("vm", "list")
    line = [ln for ln in out.splitlines() if ln.startswith(VM + " ")]
    rc2, shown, _ = c.dmctl_json("vm", "show", VM)
    client = shown.get("client") if shown else None
    t.ok(line and "running" in line[0] and "c2" in line[0] and
         client == "c2", "dmctl vm list and the API: running on c2", out)
    rc, events = c.dmctl("events")
    t.ok("migrated from c1 to c2" in events, "the migration's event",
         events[-800:])

    # The console, as it stays open: the UART and its console did not
    # move, the guest now runs in c2's QEMU.
    t.ok(answer(d, 120, "still"), "after the migration the open console "
         "answers a new command", term_text(d)[-800:])
    # And asked for again from the VM's row, now on c2: the same session
    # (the UART's console takes one client at a time).
    d.find_element(By.CSS_SELECTOR, console_button).click()
    t.ok(answer(d, 120, "again"), "the console asked for again from the "
         "row on c2 answers a new command", term_text(d)[-800:])
    d.save_screenshot(os.path.join(shots, "guest-console-c2.png"))
    errs = console_errors(d)
    t.ok(not errs, "no console error in the page", errs)

    # The API's answer to a migration holds QMP's last figures: all the
    # RAM gone through (back to c1, by dmctl).
    rc, done, out = c.dmctl_json("vm", "migrate", VM, "--to", "c1")
    m = (done or {}).get("migration") or {}
    t.ok(rc == 0 and m.get("status") == "completed" and
         m.get("remaining") == 0 and m.get("total", 0) >= 256 << 20,
         "the migrate call's answer ends at completed, nothing remaining "
         "of the guest's RAM", out[-800:])
    print("# RAM: %s bytes transferred of %s" % (m.get("transferred"),
                                                  m.get("total")))
    rc, out = c.dmctl("vm", "stop", VM, "--timeout", "5")
    t.ok(rc == 0, "the VM stops", out)


# The cluster and the browser, stopped at the end whatever happens.
clusters = []
browsers = []


def main():
    build = os.path.abspath(sys.argv[1])
    if not os.path.exists(os.path.join(build, "qemu-system-x86_64")):
        print("1..0 # SKIP no QEMU in %s" % build)
        return 0
    e = Env(build)
    shots = os.environ.get("WEB_TEST_ARTEFACTS") or e.tmp
    os.makedirs(shots, exist_ok=True)

    def body():
        try:
            test(e, shots)
        finally:
            for d in browsers:
                try:
                    with open(os.path.join(shots, "guest-console.txt"),
                              "w") as f:
                        f.write(term_text(d))
                    d.save_screenshot(os.path.join(shots, "guest-last.png"))
                finally:
                    d.quit()
            for c in clusters:
                c.stop()
    return e.run(t, body)


sys.exit(main())
