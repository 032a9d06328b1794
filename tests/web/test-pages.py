#!/usr/bin/python3
# The web console in headless Chromium (python3-selenium, Debian's
# chromium and chromium-driver), against a dm-orchestrator on loopback
# TCP with the fake launchers of the API tests (no QEMU, no model): every
# page loads with no console error, a VM created and started from the
# page is what dmctl vm list shows, an event committed meanwhile appears
# in the open page without a reload, and over TLS a browser without a
# certificate gets the login form, then the console with the token.
# The serial console: xterm.js over the orchestrator's WebSocket relay to
# the fake server's console socket.  Screenshots go to
# $WEB_TEST_ARTEFACTS (default: the temporary dir).  The pages are
# BUILD/web (scripts/build-web.sh).  TAP output.
#   test-pages.py BUILD
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "orchestrator"))
import weblib  # noqa: E402
from orchlib import Env, Tap, post_events, wait_for  # noqa: E402

t = Tap()
weblib.skip_without_browser()
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402,E501
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402,E501
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def browser(tmp):
    return weblib.browser(tmp, "1280,900")


def console_errors(d):
    return [m for m in d.get_log("browser") if m["level"] == "SEVERE"]


def start_orch(e, port, *extra):
    e.orch = e.spawn([e.orch_bin, "--db", e.db, "--listen",
                      "tcp:127.0.0.1:%d" % port, "-v"] + list(extra),
                     "orch.log")
    wait_for(lambda: "serving the web console" in e.orch_log() or
             e.orch.poll() is not None, "the orchestrator")
    if e.orch.poll() is not None:
        raise RuntimeError("orchestrator died: " + e.orch_log())


def dmctl(e, port, *argv):
    p = subprocess.run([e.dmctl_bin, "-o", "tcp:127.0.0.1:%d" % port] +
                       list(argv), capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode()


def accept_dialog(d, wait):
    wait.until(EC.alert_is_present())
    d.switch_to.alert.accept()


def pages(e, d, web, shots):
    port = weblib.free_port()
    c1 = e.start_fake("c1", "client")
    s1 = e.start_fake("s1", "server")
    start_orch(e, port, "--insecure-plain-tcp", "--web", web,
               "--watch-models", "1")
    url = "http://127.0.0.1:%d/" % port
    for n, a, r in (("c1", c1, "client"), ("s1", s1, "server")):
        rc, out = dmctl(e, port, "platform", "add", n, "--role", r,
                        "--address", a)
        t.eq(rc, 0, "platform %s added with dmctl" % n)
    wait = WebDriverWait(d, 30, ignored_exceptions=(
        StaleElementReferenceException,))
    for page in ("vms", "platforms", "dms", "events"):
        d.get(url + "#" + page)
        wait.until(lambda d: d.find_element(By.ID, "live").text == "live")
        shown = d.find_element(By.ID, "page-" + page).is_displayed()
        d.save_screenshot(os.path.join(shots, "page-%s.png" % page))
        errs = console_errors(d)
        t.ok(shown and not errs, "page %s loads, live, no console error" %
             page, errs)
    # Accessible markup: every field has its label, every action is a
    # button, and the pages are reached from the keyboard.
    unlabelled = d.execute_script("""
        return [...document.querySelectorAll('input, textarea, select')]
            .filter((f) => !f.labels || f.labels.length === 0)
            .map((f) => f.outerHTML);""")
    t.ok(not unlabelled, "every form field has a label", unlabelled)
    d.get(url + "#vms")
    wait.until(lambda d: d.find_element(By.ID, "live").text == "live")
    link = d.find_element(By.CSS_SELECTOR, 'nav a[href="#events"]')
    link.send_keys(Keys.ENTER)
    wait.until(lambda d: d.find_element(By.ID, "page-events").is_displayed())
    t.ok(link.get_attribute("aria-current") == "page" and
         not d.find_element(By.ID, "page-vms").is_displayed(),
         "a page is opened from the keyboard, and marked current")
    d.get(url + "#platforms")
    wait.until(lambda d: "s1" in d.find_element(By.ID,
                                                "platform-table").text)
    t.ok("server" in d.find_element(By.ID, "platform-table").text,
         "the platforms page lists s1 as a server")

    # Create and start a VM from the page; dmctl must see it.
    d.get(url + "#vms")
    wait.until(lambda d: d.find_element(By.ID, "live").text == "live")
    d.find_element(By.ID, "vm-name").send_keys("webvm")
    d.find_element(By.ID, "vm-devices").send_keys("e0=edu\ne1=edu@s1")
    d.find_element(By.CSS_SELECTOR, "#vm-create button[type=submit]").click()
    accept_dialog(d, wait)
    row = 'tr[data-vm="webvm"]'
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, row))
    rc, out = dmctl(e, port, "vm", "list")
    t.ok(rc == 0 and "webvm" in out and "defined" in out,
         "a VM created from the page is in dmctl vm list", out)
    d.find_element(By.CSS_SELECTOR,
                   'button[data-action="start"][data-vm="webvm"]').click()
    accept_dialog(d, wait)
    wait.until(lambda d: "running" in
               d.find_element(By.CSS_SELECTOR, row).text)
    rc, out = dmctl(e, port, "vm", "list")
    line = [ln for ln in out.splitlines() if ln.startswith("webvm")]
    t.ok(rc == 0 and line and "running" in line[0] and "c1" in line[0],
         "started from the page: running on c1 in dmctl vm list", out)
    text = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, row).text)
    t.ok("e1: edu on s1" in text, "the page shows where each model runs",
         text)
    wait.until(lambda d: "started on c1" in
               d.find_element(By.ID, "event-log").get_attribute("textContent"))
    t.ok(True, "the start's event is in the events log")
    d.save_screenshot(os.path.join(shots, "vm-started.png"))

    # An event committed by another writer, seen without a reload.
    d.get(url + "#events")
    wait.until(lambda d: d.find_element(By.ID, "live").text == "live")
    d.execute_script("window.notReloaded = true;")
    post_events(e.db, [("webvm", "model e0 crashed (posted by the test)")])
    wait.until(lambda d: "posted by the test" in
               d.find_element(By.ID, "event-log").text)
    t.ok(d.execute_script("return window.notReloaded === true;"),
         "a posted event shows in the open page, without a reload")
    d.save_screenshot(os.path.join(shots, "event-live.png"))

    # A model crashes and its launcher restarts it: the orchestrator's
    # watch (--watch-models) records it, and the open page shows it.
    import json
    import urllib.request
    with urllib.request.urlopen(url + "v1/vms/webvm", timeout=30) as r:
        inst = [x["instance"] for x in json.load(r)["devices"]
                if x["name"] == "e0"][0]
    e.fake_config("s1", instance_set={inst: {"restarts": 1}})
    wait.until(lambda d: "device e0: model edu on s1 restarted (1 restart)"
               in d.find_element(By.ID, "event-log").text)
    t.ok(d.execute_script("return window.notReloaded === true;"),
         "a model's restart shows in the open page, without a reload")
    e.fake_config("s1", instance_set={inst: {"state": "exited"}})
    wait.until(lambda d: "device e0: model edu on s1 is exited"
               in d.find_element(By.ID, "event-log").text)
    t.ok(True, "...and its exit")
    d.save_screenshot(os.path.join(shots, "model-crash.png"))
    errs = console_errors(d)
    t.ok(not errs, "no console error after the actions", errs)
    serial(e, d, url, port, wait, shots)
    migrate(e, d, url, port, wait, shots)
    e.stop_orch()


def migrate(e, d, url, port, wait, shots):
    """Migrate from the page: the fake source QEMU reports 75 % until
    the test lets it complete; the page's bar shows it meanwhile."""
    c2 = e.start_fake("c2", "client")
    rc, out = dmctl(e, port, "platform", "add", "c2", "--role", "client",
                    "--address", c2)
    t.eq(rc, 0, "client c2 added")
    e.fake_config("c1", migrate_hold=True)
    d.get(url + "#vms")
    sel = 'button[data-action="migrate"][data-vm="webvm"]'
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, sel))
    d.find_element(By.CSS_SELECTOR, sel).click()
    wait.until(EC.alert_is_present())
    t.ok("c2" in d.switch_to.alert.text, "the migration asks where to",
         d.switch_to.alert.text)
    d.switch_to.alert.accept()          # its default: c2
    bar = 'tr[data-vm="webvm"] progress'
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, bar) and
               d.find_element(By.CSS_SELECTOR, bar).get_attribute("value")
               == "75")
    # The row is redrawn every 500 ms meanwhile: read it as a whole.
    row = d.execute_script("""const r = document.querySelector(
        'tr[data-vm="webvm"]'); return r ? r.textContent : '';""")
    t.ok("75 %" in row, "the progress bar shows the migration's 75 %", row)
    wait.until(lambda d: "75 %" in d.find_element(By.ID,
                                                  "action-status").text)
    t.ok("migrate webvm to c2: active" in d.find_element(
        By.ID, "action-status").text, "...and so does the action's status")
    d.save_screenshot(os.path.join(shots, "migrating.png"))
    e.fake_config("c1", migrate_hold=False)
    wait.until(lambda d: "c2" in d.find_element(
        By.CSS_SELECTOR, 'tr[data-vm="webvm"]').text and not
        d.find_elements(By.CSS_SELECTOR, bar))
    rc, out = dmctl(e, port, "vm", "list")
    line = [ln for ln in out.splitlines() if ln.startswith("webvm")]
    t.ok(line and "running" in line[0] and "c2" in line[0],
         "once complete: running on c2, the bar gone", out)
    # The row can show c2 from a poll before the call's answer comes.
    try:
        wait.until(lambda d: ": completed" in d.find_element(
            By.ID, "action-status").text)
    except TimeoutException:
        pass
    text = d.find_element(By.ID, "action-status").text
    t.ok("migrate webvm to c2: completed" in text and "100 %" in text,
         "the action's status ends at 100 %, completed", text)
    t.ok(not console_errors(d), "no console error after the migration")


def term_text(d):
    return d.execute_script("""
        const b = window.dmTerm && window.dmTerm.buffer.active;
        if (!b) return '';
        let s = '';
        for (let i = 0; i < b.length; i++)
            s += b.getLine(i).translateToString(true) + '\\n';
        return s;""")


def serial(e, d, url, port, wait, shots):
    """The console in the page: the fake server's console socket sends a
    banner and echoes what it gets (as the remote UART's would carry the
    guest's output and our keys)."""
    rc, out = dmctl(e, port, "vm", "create", "con", "--device",
                    "console=uart16550")
    rc2, out2 = dmctl(e, port, "vm", "start", "con")
    t.ok(rc == 0 and rc2 == 0, "a VM with a remote UART started", out2)
    d.get(url + "#vms")
    wait.until(lambda d: d.find_elements(
        By.CSS_SELECTOR, 'button[data-action="console"][data-vm="con"]'))
    d.find_element(By.CSS_SELECTOR,
                   'button[data-action="console"][data-vm="con"]').click()
    wait.until(lambda d: "console of " in term_text(d))
    t.ok(True, "the console's output shows in xterm.js")
    d.find_element(By.CSS_SELECTOR, "#serial textarea").send_keys("hello")
    # Each key is its own message: the fake echoes each as it comes.
    wait.until(lambda d: "echo:h" in term_text(d) and
               "hello" in term_text(d).replace("echo:", ""))
    t.ok(True, "typed keys reach the console, its answer shows")
    d.save_screenshot(os.path.join(shots, "serial-console.png"))
    errs = console_errors(d)
    t.ok(not errs, "no console error with the serial console open", errs)
    d.execute_script("""window.wsResult = 'pending';
        const ws = new WebSocket('ws://' + location.host +
                                 '/v1/ws/console/nope');
        ws.onopen = () => window.wsResult = 'open';
        ws.onerror = () => window.wsResult = 'refused';""")
    wait.until(lambda d: d.execute_script("return window.wsResult") !=
               "pending")
    t.eq(d.execute_script("return window.wsResult"), "refused",
         "a console of no VM is refused")
    d.get_log("browser")            # that refusal's own log line


def tls_login(e, d, web, shots):
    certs = os.path.join(e.tmp, "certs")
    subprocess.run([os.path.join(HERE, "..", "net", "make-certs.sh"), certs],
                   check=True)
    token = "browser-token-0123456789"
    with open(os.path.join(e.tmp, "token"), "w") as f:
        f.write(token + "\n")
    port = weblib.free_port()
    start_orch(e, port, "--tls-creds", certs + "/server", "--web", web,
               "--web-token-file", os.path.join(e.tmp, "token"))
    url = "https://127.0.0.1:%d/" % port
    wait = WebDriverWait(d, 30, ignored_exceptions=(
        StaleElementReferenceException,))
    d.get(url)
    d.save_screenshot(os.path.join(shots, "login.png"))
    t.ok(d.find_elements(By.ID, "token") and
         not d.find_elements(By.ID, "vm-table"),
         "over TLS without credentials: the login form, not the console")
    d.get(url + "v1/vms")
    t.ok("client certificate or the login token" in d.page_source,
         "...and the API refuses the browser")
    d.get(url + "login")
    d.find_element(By.ID, "token").send_keys(token + "\n")
    wait.until(lambda d: d.find_elements(By.ID, "live") and
               d.find_element(By.ID, "live").text == "live")
    d.save_screenshot(os.path.join(shots, "logged-in.png"))
    t.ok(d.find_elements(By.ID, "vm-table"),
         "with the token: the console, live")
    e.stop_orch()


def main():
    build = sys.argv[1]
    # scripts/build-web.sh's output: our pages and the npm packages.
    web = os.path.join(build, "web")
    for part in (pages, tls_login):
        e = Env(build)
        shots = os.environ.get("WEB_TEST_ARTEFACTS") or e.tmp
        os.makedirs(shots, exist_ok=True)
        d = None
        try:
            d = browser(e.tmp)
            part(e, d, web, shots)
        except Exception:
            import traceback
            t.ok(False, part.__name__ + " ran to its end",
                 traceback.format_exc() + "\n" + e.orch_log()[-3000:])
            if d:
                d.save_screenshot(os.path.join(shots, part.__name__ +
                                               "-failed.png"))
        finally:
            if d:
                d.quit()
            e.cleanup()
    return t.done()


sys.exit(main())
