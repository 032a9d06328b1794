"""What the Python test scripts share: TAP lines, a free port, waiting
for a condition, reading a log that may not exist yet and showing its
tail, stopping the processes a test started and removing its
directory."""
import os
import shutil
import socket
import subprocess
import time

_n = 0
_failed = False


def ok(cond, name, todo=None):
    """One TAP line: ok or not ok, numbered.  With @todo (why: a known
    fault, not fixed yet) a failure is a TAP TODO, which fails nothing."""
    global _n, _failed
    _n += 1
    print("%s %d - %s%s" % ("ok" if cond else "not ok", _n, name,
                            f" # TODO {todo}" if todo else ""), flush=True)
    _failed |= not cond and not todo


def failed():
    """Did a check fail so far?"""
    return _failed


def finish():
    """The plan line; the exit status (1 if anything failed)."""
    print("1..%d" % _n)
    return 1 if _failed else 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, seconds):
    """Poll @cond every 0.2 s for at most @seconds: whether it held."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return False


def read(path):
    """A file's text ("" while it does not exist)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def show_tails(tmp, names, lines=15):
    """After a failure: the last @lines lines of each file @names in
    @tmp, as TAP comments."""
    for name in names:
        print(f"# {name}:")
        for line in read(os.path.join(tmp, name)).splitlines()[-lines:]:
            print(f"#   {line}")


def stop(procs, tmp=None):
    """SIGTERM each process, SIGKILL after 10 s; then remove @tmp
    (kept with KEEP=1)."""
    for p in procs:
        if p:
            p.terminate()
    for p in procs:
        if not p:
            continue
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
    if tmp and not os.environ.get("KEEP"):
        shutil.rmtree(tmp, ignore_errors=True)
