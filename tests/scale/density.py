#!/usr/bin/python3
"""Many device-model sessions on one server platform (issue 21 point 4).

One `dm-remote daemon --role server` starts COUNT models through its API
(edu and uart16550 alternately, each its own `dm-remote serve` on TCP,
each bound to a VM id with a token); a vfio-user client (tests/
vup_client.py, no QEMU) opens a session to each (VERSION with the
identifiers and token, a register read) and keeps all of them open.  Then
every session answers once more, and each model's memory is read from
/proc/PID/smaps_rollup.

    density.py DM_REMOTE COUNT            a table (make density)
    density.py DM_REMOTE COUNT --tap      behaviour only, as TAP (make check)

With --tap the launcher starts under a soft descriptor limit of 64 (the
hard one unchanged): a launcher that kept it could not hold 32 children
(about two descriptors each), as one under the usual 1024 could not hold
500; it must raise it for its --capacity.

Memory is Pss (proportional set size): a page shared by k processes
counts 1/k in each, so libglib and libc, mapped by every model, count
once over all of them; Rss would count them in full in each model and
sum to more than the machine holds.  Both are printed.  Nothing about
memory or time is asserted: the machine is shared.
"""
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..'))
import vup_client  # noqa: E402

EDU_ID = 0x010000ed
UART_LSR_IDLE = 0x60        # THR empty, transmitter empty


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__('localhost', timeout=60)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(self.unix_path)


def api(sock, method, path, body=None):
    """One request on a fresh connection: (status, JSON, seconds)."""
    conn = UnixHTTP(sock)
    t0 = time.monotonic()
    conn.request(method, path, body=json.dumps(body) if body else None,
                 headers={'Content-Type': 'application/json'} if body
                 else {})
    resp = conn.getresponse()
    data = resp.read()
    dt = time.monotonic() - t0
    conn.close()
    return resp.status, json.loads(data or b'null'), dt


def smaps_rollup(pid):
    """{'Rss': KiB, 'Pss': KiB, ...} of a process."""
    out = {}
    with open('/proc/%d/smaps_rollup' % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == 'kB':
                out[parts[0].rstrip(':')] = int(parts[1])
    return out


def threads(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('Threads:'):
                return int(line.split()[1])
    return 0


def fds(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


class Session:
    """One vfio-user session to a model, kept open."""

    def __init__(self, inst, vm, token):
        self.inst = inst
        self.vm = vm
        self.token = token
        self.sock = None
        self.client = None

    def open(self):
        host, port = self.inst['address'][4:].rsplit(':', 1)
        self.sock = socket.create_connection((host, int(port)), timeout=60)
        self.client = vup_client.Client(self.sock)
        self.client.version(vm=self.vm, device_model=self.inst['id'],
                            token=self.token)

    def probe(self):
        """True if the model answers a register read as its kind should."""
        if self.inst['model'] == 'edu':
            return self.client.read32(0, 0) == EDU_ID
        return self.client.read(0, 5, 1)[0] == UART_LSR_IDLE


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, name, ok, why=''):
        self.n += 1
        if ok:
            print('ok %d %s' % (self.n, name))
        else:
            self.failed += 1
            print('not ok %d %s%s' % (self.n, name, ': ' + why if why else ''))
        sys.stdout.flush()


def spread(values):
    return (min(values), statistics.median(values), max(values))


def main():
    dm = os.path.abspath(sys.argv[1])
    count = int(sys.argv[2])
    tap = Tap() if '--tap' in sys.argv[3:] else None
    tmp = tempfile.mkdtemp(prefix='dm-density-')
    sock = os.path.join(tmp, 'api.sock')
    log = open(os.path.join(tmp, 'daemon.log'), 'w')

    def low_fd_limit():
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
    daemon = subprocess.Popen(
        [dm, 'daemon', '--role', 'server', '--listen', 'unix:' + sock,
         '--platform-id', 'dense', '--state-dir', os.path.join(tmp, 'state'),
         '--capacity', str(count), '--models', 'edu,uart16550', '-q'],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=low_fd_limit if tap else None)
    sessions = []
    try:
        for _ in range(2000):
            if os.path.exists(sock) or daemon.poll() is not None:
                break
            time.sleep(0.01)
        if tap:
            print('1..9')
            tap.check('the launcher starts', os.path.exists(sock))
        post_times = []
        failures = []
        for i in range(count):
            model = 'edu' if i % 2 == 0 else 'uart16550'
            vm, token = 'vm-%d' % i, 'tok-%d-%s' % (i, os.urandom(4).hex())
            status, inst, dt = api(sock, 'POST', '/v1/instances', {
                'id': 'dm-%d' % i, 'model': model, 'token': token,
                'bind': {'vm': vm, 'device_model': 'dm-%d' % i}})
            post_times.append(dt)
            if status != 201:
                failures.append('dm-%d: %d %s' % (i, status, inst))
                continue
            sessions.append(Session(inst, vm, token))
        if tap:
            tap.check('the launcher starts %d models' % count,
                      not failures, '; '.join(failures[:3]))
        status, over, _ = api(sock, 'POST', '/v1/instances',
                              {'id': 'one-more', 'model': 'edu'})
        if tap:
            tap.check('one more is refused: capacity full (409)',
                      status == 409, '%d %s' % (status, over))
        opened = []
        for s in sessions:
            try:
                s.open()
                opened.append(s.probe())
            except (OSError, vup_client.VupError) as e:
                opened.append(False)
                failures.append('%s: %s' % (s.inst['id'], e))
        if tap:
            tap.check('every model answers its own session (VERSION with '
                      'ids and token, a register read)',
                      all(opened) and len(opened) == count,
                      '; '.join(failures[:3]))
        if tap and sessions:
            # The binding holds at this density too: a wrong token is
            # refused (EACCES), the model's own session goes on.
            intruder = Session(sessions[0].inst, sessions[0].vm, 'wrong')
            try:
                intruder.open()
                refused = None
            except vup_client.VupError as e:
                refused = e.errno
            except OSError as e:
                refused = str(e)
            finally:
                if intruder.sock:
                    intruder.sock.close()
            tap.check('a session with a wrong token is refused (EACCES)',
                      refused == 13, str(refused))
        # All open at once: each answers again.
        again = []
        for s in sessions:
            try:
                again.append(s.probe())
            except (OSError, vup_client.VupError):
                again.append(False)
        pids = [s.inst['pid'] for s in sessions]
        ports = [s.inst['address'] for s in sessions]
        if tap:
            tap.check('with %d sessions open, each answers again'
                      % len(sessions), all(again) and len(again) == count)
            tap.check('each model is its own process on its own port',
                      len(set(pids)) == count and len(set(ports)) == count)
        health_times = []
        for _ in range(20):
            status, health, dt = api(sock, 'GET', '/v1/health')
            health_times.append(dt)
        list_times = []
        for _ in range(5):
            status, listing, dt = api(sock, 'GET', '/v1/instances')
            list_times.append(dt)
        if tap:
            tap.check('the launcher counts %d running' % count,
                      health.get('running') == count, str(health))
            running = [i for i in listing['instances']
                       if i['state'] == 'running']
            tap.check('GET /v1/instances lists them all running',
                      len(running) == count)
        if not tap:
            report(count, sessions, daemon.pid, post_times, health_times,
                   list_times)
    except (OSError, ValueError) as e:
        if not tap:
            raise
        tap.check('the launcher answers every request', False, repr(e))
    finally:
        for s in sessions:
            if s.sock:
                s.sock.close()
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
        if tap and tap.failed:
            with open(os.path.join(tmp, 'daemon.log')) as f:
                print('# daemon log tail:', *f.readlines()[-10:], sep='\n# ')
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if tap and tap.failed else 0


def report(count, sessions, daemon_pid, post_times, health_times,
           list_times):
    mem = {'edu': [], 'uart16550': []}
    for s in sessions:
        m = smaps_rollup(s.inst['pid'])
        mem[s.inst['model']].append((m['Pss'], m['Rss'], m.get('Private_Dirty', 0),
                                     threads(s.inst['pid'])))
    everything = mem['edu'] + mem['uart16550']
    print('%d model sessions on one server platform (%s, load %s)' % (
        count, time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
        ' '.join('%.1f' % x for x in os.getloadavg())))
    print()
    print('| models | n | Pss KiB min / median / max | Rss KiB min / median / '
          'max | private dirty KiB median | threads |')
    print('|---|---|---|---|---|---|')
    for name, rows in (('edu', mem['edu']), ('uart16550', mem['uart16550']),
                       ('all', everything)):
        if not rows:
            continue
        pss = spread([r[0] for r in rows])
        rss = spread([r[1] for r in rows])
        print('| %s | %d | %d / %d / %d | %d / %d / %d | %d | %d |' % (
            name, len(rows), *pss, *rss,
            statistics.median(r[2] for r in rows), max(r[3] for r in rows)))
    print()
    lm = smaps_rollup(daemon_pid)
    print('launcher: Pss %d KiB, Rss %d KiB, %d fds (limit %s), %d threads'
          % (lm['Pss'], lm['Rss'], fds(daemon_pid),
             open('/proc/%d/limits' % daemon_pid).read().split(
                 'Max open files')[1].split()[0], threads(daemon_pid)))
    ms = [t * 1000 for t in post_times]
    print('POST /v1/instances (model ready): ms min / median / max: '
          '%.1f / %.1f / %.1f; total %.1f s' % (*spread(ms), sum(ms) / 1000))
    for name, ts in (('GET /v1/health', health_times),
                     ('GET /v1/instances', list_times)):
        ms = [t * 1000 for t in ts]
        print('%s with %d children: ms min / median / max: %.1f / %.1f / %.1f'
              % (name, count, *spread(ms)))


if __name__ == '__main__':
    sys.exit(main())
