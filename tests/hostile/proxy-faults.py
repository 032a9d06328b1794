#!/usr/bin/python3
"""The fork against a model that answers wrongly, round after round.

For each fault scenario of tests/hostile/hostile-server.py (a read of
BAR0 offset 0x10 answered wrongly, every other access well), QEMU runs
with the qtest accelerator (no guest code: this script reads and writes
guest-physical addresses through QEMU's qtest protocol, as a vCPU would),
a dm-proxy-pci is hot-plugged on the hostile server, BAR0 is placed and
enabled through the PCI config ports, and then, ROUNDS times:

  - the trigger is read: the access fails (all-ones) or, for the faults
    a proxy must simply survive, is answered as the model meant;
  - QEMU reports what the fault is: query-remote-devices counts the
    failed access, and a fault that breaks the connection emits
    REMOTE_DEVICE_DISCONNECTED with its reason, then
    REMOTE_DEVICE_RECONNECTED once the proxy has found the model again;
  - the VM keeps running (query-status: running) and the device answers
    the good read again;
  - after the first rounds (warm-up) QEMU's open descriptors stay the
    same and its resident memory grows less than RSS_SLACK_KB over all
    the others: a leak of a descriptor or of a message buffer per fault
    shows.

    proxy-faults.py BUILD [SCENARIO...]
TAP output.  Python 3 standard library only.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import taplib  # noqa: E402
from taplib import ok  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BAR0 = 0xe0000000               # in pc's PCI hole, above -m 128M
SLOT = 4
GOOD = 0xc0ffee00
TRIGGER = 0x10
ROUNDS = 6
WARMUP = 2
# Across the rounds after the warm-up: QEMU's allocator settles in a few
# hundred KiB; a message buffer (up to 1 MiB) or a 1 GiB allocation kept
# per fault would be several MiB.
RSS_SLACK_KB = 2048

# scenario: (what the trigger reads, does the connection break?,
#            the reason's words in REMOTE_DEVICE_DISCONNECTED,
#            does the access count as failed?)
CASES = {
    'short-reply': (0xffffffff, False, None, True),
    'wrong-id': (0xffffffff, True, 'no reply within', True),
    'huge-count': (0xffffffff, False, None, True),
    'huge-size': (0xffffffff, True, 'Message too long', True),
    'unsolicited-replies': (GOOD, False, None, False),
    # 7 refused (bits 0-7), the good read served (bit 8)
    'dma-outside': (0x107, False, None, False),
    'irq-flood': (GOOD, False, None, False),
    'close-mid-reply': (0xffffffff, True, None, True),
    'never-answer': (0xffffffff, True, 'no reply within', True),
}
# The proxy's timeout= (ms): 1 s, short enough for never-answer's rounds;
# the interrupts sent before irq-flood's reply are each handled inside
# the call (a loaded machine has taken more than 1 s for them), and the
# case is about surviving them, not about the deadline.
TIMEOUT_MS = {'irq-flood': 30000}
# Known faults of the fork, reported as TAP TODO (the round's checks run
# and print; they do not fail the suite until the fork is fixed): none
# now (short-reply and huge-count were, until the fork checked a read's
# reply against its request: qemu/hw/remote-dm/dm-proxy.c).
TODO = {}


class Qmp:
    """QMP with its events kept, every answer awaited at most 60 s."""

    def __init__(self, path):
        deadline = time.monotonic() + 30
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(60)
        self.file = self.sock.makefile('rb')
        self.events = []
        self.file.readline()
        self.cmd('qmp_capabilities')

    def _line(self):
        line = self.file.readline()
        if not line:
            raise EOFError('QMP closed')
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {'execute': name}
        if args:
            msg['arguments'] = args
        self.sock.sendall(json.dumps(msg).encode() + b'\n')
        while True:
            r = self._line()
            if 'event' in r:
                self.events.append(r)
            else:
                return r

    def event(self, name, seconds):
        """The first @name event kept or arriving within @seconds."""
        deadline = time.monotonic() + seconds
        while True:
            for i, e in enumerate(self.events):
                if e['event'] == name:
                    return self.events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                self.events.append(self._line())
            except socket.timeout:
                return None
            finally:
                self.sock.settimeout(60)

    def device(self):
        return self.cmd('query-remote-devices')['return'][0]


class Qtest:
    """QEMU's qtest protocol: one command, one 'OK ...' line."""

    def __init__(self, conn):
        self.file = conn.makefile('rwb', buffering=0)
        conn.settimeout(120)

    def do(self, line):
        self.file.write(line.encode() + b'\n')
        while True:
            r = self.file.readline().decode().strip()
            if not r:
                raise EOFError('qtest closed')
            if r.startswith('IRQ'):
                continue                # asynchronous, not ours
            if not r.startswith('OK'):
                raise RuntimeError(f'qtest {line!r}: {r}')
            return r

    def readl(self, addr):
        return int(self.do(f'readl 0x{addr:x}').split()[1], 16)

    def cfg_writel(self, reg, value):
        self.do(f'outl 0xcf8 0x{0x80000000 | SLOT << 11 | reg:x}')
        self.do(f'outl 0xcfc 0x{value:x}')


def proc_fds(pid):
    return len(os.listdir(f'/proc/{pid}/fd'))


def proc_rss_kb(pid):
    for line in taplib.read(f'/proc/{pid}/status').splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1])
    return 0


def run(build, scenario, tmp):
    want, breaks, reason, counted = CASES[scenario]
    sock = os.path.join(tmp, f'{scenario}.sock')
    qmp_path = os.path.join(tmp, f'{scenario}.qmp')
    qt_path = os.path.join(tmp, f'{scenario}.qtest')
    log = os.path.join(tmp, f'{scenario}.qemu.log')
    server = subprocess.Popen(
        ['/usr/bin/python3', os.path.join(HERE, 'hostile-server.py'),
         '--socket', sock, '--scenario', scenario],
        stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(tmp, f'{scenario}.server.log'), 'w'))
    qt_srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    qt_srv.bind(qt_path)
    qt_srv.listen(1)
    qt_srv.settimeout(60)
    qemu = None
    try:
        if not taplib.wait_for(lambda: os.path.exists(sock), 30):
            ok(False, f'{scenario}: the hostile server listens')
            return
        qemu = subprocess.Popen(
            [f'{build}/qemu-system-x86_64', '-machine', 'pc', '-accel',
             'qtest', '-m', '128M', '-display', 'none', '-nodefaults',
             '-qtest', f'unix:{qt_path}', '-qtest-log', '/dev/null', '-qmp',
             f'unix:{qmp_path},server=on,wait=off'],
            stdout=subprocess.DEVNULL, stderr=open(log, 'w'))
        conn, _ = qt_srv.accept()
        qt = Qtest(conn)
        qmp = Qmp(qmp_path)
        r = qmp.cmd('device_add', driver='dm-proxy-pci', id='hx',
                    bus='pci.0', addr=f'{SLOT:02x}.0',
                    server=f'unix:{sock}',
                    timeout=TIMEOUT_MS.get(scenario, 1000))
        ok('return' in r, f'{scenario}: the device realizes ({r})')
        if 'return' not in r:
            return
        qt.cfg_writel(0x10, BAR0)
        qt.cfg_writel(0x04, 0x6)        # memory decoding, bus master
        ok(qt.readl(BAR0) == GOOD, f'{scenario}: the good read before')
        samples = []
        for rnd in range(1, ROUNDS + 1):
            before = qmp.device()
            got = qt.readl(BAR0 + TRIGGER)
            good = got == want
            if breaks:
                ev = qmp.event('REMOTE_DEVICE_DISCONNECTED', 30)
                good &= ev is not None and ev['data']['id'] == 'hx'
                if good and reason:
                    good &= reason in ev['data']['reason']
                back = qmp.event('REMOTE_DEVICE_RECONNECTED', 60)
                good &= back is not None
            after = qmp.device()
            if counted:
                good &= after['errors'] > before['errors']
            else:
                good &= after['errors'] == before['errors']
            good &= after['state'] == 'connected'
            good &= (after['reconnects'] == before['reconnects'] +
                     (1 if breaks else 0))
            status = qmp.cmd('query-status')['return']
            good &= status['status'] == 'running'
            again = qt.readl(BAR0)
            good &= again == GOOD
            ok(good, f'{scenario}: round {rnd}: the trigger read 0x{got:x} '
               f'(want 0x{want:x}); errors {before["errors"]} -> '
               f'{after["errors"]}, reconnects {after["reconnects"]}, '
               f'{after["state"]}; VM {status["status"]}; good read '
               f'0x{again:x} after', TODO.get(scenario))
            samples.append((proc_fds(qemu.pid), proc_rss_kb(qemu.pid)))
        (fd0, rss0), (fd1, rss1) = samples[WARMUP - 1], samples[-1]
        ok(fd1 == fd0, f'{scenario}: QEMU\'s descriptors after round '
           f'{WARMUP} and {ROUNDS}: {fd0}, {fd1}')
        ok(rss1 - rss0 < RSS_SLACK_KB,
           f'{scenario}: QEMU\'s RSS after round {WARMUP} and {ROUNDS}: '
           f'{rss0} KiB, {rss1} KiB (less than {RSS_SLACK_KB} KiB more)')
        ok(qemu.poll() is None, f'{scenario}: QEMU is still running')
    finally:
        if taplib.failed():
            taplib.show_tails(tmp, [f'{scenario}.qemu.log',
                                    f'{scenario}.server.log'])
        qt_srv.close()
        taplib.stop([qemu, server])


def main():
    build = os.path.abspath(sys.argv[1])
    scenarios = sys.argv[2:] or list(CASES)
    tmp = tempfile.mkdtemp(prefix='dm-proxy-faults-')
    # A hang is a failure, not a stuck suite.
    signal.alarm(240 * len(scenarios))
    try:
        for sc in scenarios:
            run(build, sc, tmp)
    finally:
        taplib.stop([], tmp)
    return taplib.finish()


if __name__ == '__main__':
    sys.exit(main())
