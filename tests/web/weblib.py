# The set-up the web tests share: the skip when the browser is missing,
# headless Chromium, the login; for those with a real guest
# (test-screen.py, test-guest.py), a small cluster on loopback:
# certificates, a login token, a server launcher on TCP with TLS, client
# launchers running the fork's QEMU, dm-orchestrator on TCP with TLS
# serving the web console, dmctl with the client certificate.
import importlib.util
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "orchestrator"))
from orchlib import wait_for  # noqa: E402


def skip_without_browser():
    """TAP's skip plan, and exit, without what the browser needs."""
    if importlib.util.find_spec("selenium") is None:
        print("1..0 # SKIP python3-selenium is not installed (make deps)")
        sys.exit(0)
    for b in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not os.path.exists(b):
            print("1..0 # SKIP %s is not installed (make deps)" % b)
            sys.exit(0)


def browser(tmp, size="1280,1000"):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", "--window-size=" + size,
              "--user-data-dir=" + os.path.join(tmp, "chromium"),
              # Our test CA is not the system's: TLS is checked by the
              # orchestrator's side of the test, not here.
              "--ignore-certificate-errors"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"),
                            options=o)


def login(d, url, token, timeout=120):
    """Log the browser in with the token; returns once the page is live."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    d.get(url + "login")
    d.find_element(By.ID, "token").send_keys(token + "\n")
    WebDriverWait(d, timeout, ignored_exceptions=(
        StaleElementReferenceException,)).until(
        lambda d: d.find_elements(By.ID, "live") and
        d.find_element(By.ID, "live").text == "live")


def linux_args(build, append=""):
    """dmctl vm create's options for the test guest (BUILD/guest): its
    kernel, initramfs and the shared command line, plus @append."""
    with open(os.path.join(build, "guest", "append")) as f:
        line = f.read().strip()
    return ["--kernel", os.path.join(build, "guest", "vmlinuz"),
            "--initrd", os.path.join(build, "guest", "initramfs.cpio.gz"),
            "--append", (line + " " + append).strip()]


def free_port():
    return int(subprocess.check_output(
        [sys.executable, os.path.join(HERE, "..", "free-port.py")]))


class Cluster:
    """Launchers and an orchestrator in @e's temporary directory.

    The server platform srv1's launcher is on TCP with TLS, as on another
    host (the orchestrator calls it with its client certificate), its
    models on TCP; or, @server "unix", on a UNIX socket, its models too.
    @clients maps each client platform's name to
    "unix" (its launcher on a UNIX socket) or "tcp" (on TCP with TLS).
    With @model_tls, model sessions and migration streams between TCP
    clients are TLS too, both ends verified (the launchers'
    --model-tls-creds), as in scripts/demo.sh.  The launchers are stopped
    with SIGTERM by stop(), so that their QEMUs and models go with them.
    """

    def __init__(self, e, token, clients, model_tls=False, server="tcp"):
        self.e = e
        self.token = token
        self.launchers = []
        build = e.build
        dm = os.path.join(e.meson, "dm-remote", "dm-remote")
        self.certs = certs = os.path.join(e.tmp, "certs")
        subprocess.run([os.path.join(HERE, "..", "net", "make-certs.sh"),
                        certs], check=True)
        # A client platform's QEMUs also take migration streams, with a
        # server certificate (docs/orchestrator.md, "Migration").
        client_host = os.path.join(certs, "client-host")
        os.makedirs(client_host)
        for f in ("client/ca-cert.pem", "client/client-cert.pem",
                  "client/client-key.pem", "server/server-cert.pem",
                  "server/server-key.pem"):
            with open(os.path.join(certs, f), "rb") as src, \
                    open(os.path.join(client_host, os.path.basename(f)),
                         "wb") as dst:
                dst.write(src.read())
        with open(os.path.join(e.tmp, "token"), "w") as f:
            f.write(token + "\n")
        if server == "unix":
            srv_api = ["--listen", "unix:" + os.path.join(e.tmp, "srv.api")]
        else:
            srv_api = ["--listen", "tcp:127.0.0.1:%d" % free_port(),
                       "--tls-creds", certs + "/server"]
        self.addresses = {"srv1": srv_api[1]}
        self._launch(dm, "srv", ["--role", "server"] + srv_api +
                     (["--model-tls-creds", certs + "/server"]
                      if model_tls else []))
        for name, kind in clients.items():
            if kind == "unix":
                api = ["--listen", "unix:" + os.path.join(e.tmp,
                                                          name + ".api")]
            else:
                api = ["--listen", "tcp:127.0.0.1:%d" % free_port(),
                       "--tls-creds", certs + "/server"]
            self.addresses[name] = api[1]
            self._launch(dm, name, ["--role", "client"] + api + [
                "--qemu", os.path.join(build, "qemu-system-x86_64")] +
                (["--model-tls-creds", client_host] if model_tls else []))
        for name in ["srv"] + list(clients):
            wait_for(lambda: "listening" in open(
                os.path.join(e.tmp, name + ".log")).read(),
                "launcher " + name, 30)
        self.port = free_port()
        self.url = "https://127.0.0.1:%d/" % self.port
        e.orch = e.spawn([e.orch_bin, "--db", e.db, "--listen",
                          "tcp:127.0.0.1:%d" % self.port, "-v",
                          "--tls-creds", certs + "/server",
                          "--web", os.path.join(build, "web"),
                          "--web-token-file", os.path.join(e.tmp, "token"),
                          "--launcher-tls-creds", certs + "/client"],
                         "orch.log")
        wait_for(lambda: "serving the web console" in e.orch_log() or
                 e.orch.poll() is not None, "the orchestrator")
        if e.orch.poll() is not None:
            raise RuntimeError("the orchestrator died: " + e.orch_log())

    def _launch(self, dm, name, argv):
        self.launchers.append(self.e.spawn(
            [dm, "daemon"] + argv + [
                "--platform-id", name,
                "--state-dir", os.path.join(self.e.tmp, name)],
            name + ".log"))

    def _dmctl(self, argv):
        return subprocess.run([self.e.dmctl_bin, "-o",
                               "tcp:127.0.0.1:%d" % self.port,
                               "-t", self.certs + "/client"] + list(argv),
                              capture_output=True, timeout=120)

    def dmctl(self, *argv):
        """(exit status, stdout and stderr) of dmctl over TLS."""
        p = self._dmctl(argv)
        return p.returncode, p.stdout.decode() + p.stderr.decode()

    def dmctl_json(self, *argv):
        """(exit status, the JSON it printed or None, all it said) of
        dmctl --json over TLS."""
        p = self._dmctl(("--json",) + argv)
        try:
            doc = json.loads(p.stdout)
        except ValueError:
            doc = None
        return p.returncode, doc, p.stdout.decode() + p.stderr.decode()

    def add_platforms(self):
        """Registers every launcher; the exit statuses of dmctl."""
        rcs = []
        for name, address in self.addresses.items():
            rc, _ = self.dmctl("platform", "add", name, "--role",
                               "server" if name == "srv1" else "client",
                               "--address", address)
            rcs.append(rc)
        return rcs

    def log(self, name):
        with open(os.path.join(self.e.tmp, name + ".log"),
                  errors="replace") as f:
            return f.read()

    def stop(self):
        # A launcher killed outright leaves its children (QEMU, the
        # models) running: SIGTERM stops them with it.
        for p in self.launchers:
            if p.poll() is None:
                p.terminate()
        for p in self.launchers:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
