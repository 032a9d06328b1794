#!/usr/bin/python3
"""cluster-test.sh's driver: traffic, faults and checkers (issue 21 point 5).

    cluster.py SERVERS CAP ROUNDS [--tap]

Runs in the "drv" namespace of the LAN cluster-test.sh made; its
orchestrators listen on unix:CLUSTER_TMP/oN.sock, its processes are
(re)started by CLUSTER_TMP/run/NAME.sh (pid in NAME.pid).

Traffic: two threads create, start, migrate and stop VMs of one edu
each through a random orchestrator (a 307 followed to the leader, a 503
retried), one operation at a time per VM; each answer is recorded as
acknowledged (2xx), refused (4xx) or unknown (5xx, cut off, timed out).

Faults, one after the other in each of ROUNDS rounds, traffic running:
kill -9 of the leader (restarted as a follower), SIGSTOP of the leader
past its lease (then SIGCONT), a partition of the leader (its LAN link
down, then up), an etcd member killed and restarted, a server launcher
killed and restarted on its state directory.  After each, the time until
a write is taken again (the failover).

A sampler, every 0.3 s: every client's VMs, every server's models, every
launcher's fencing token (STATE/fence), the leader key's revision.

Checkers: no VM ran on two clients at once (outside its own migration);
no two models of a server share a port; no server held more than CAP;
fencing tokens only grew, at every launcher and in the leader key;
every acknowledged write is there at the end (each VM created exists;
each whose last operation was acknowledged, with nothing unknown after
it, is in the state it left).  With --tap: TAP; without: the counts.
"""
import collections
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..'))
from httpunix import UnixConnection  # noqa: E402

TMP = os.environ['CLUSTER_TMP']
NS = os.environ['CLUSTER_NS']
ENDPOINTS = os.environ['CLUSTER_ENDPOINTS'].split(',')
ORCHS = ['o1', 'o2', 'o3']
LEASE = 3                       # --leader-ttl in cluster-test.sh


def call(orch, method, path, body=None, timeout=60):
    """(status, answer, X-DM-Leader) from orchestrator ORCH; status 0 if
    it could not be reached or did not answer."""
    try:
        conn = UnixConnection(os.path.join(TMP, orch + '.sock'), timeout)
        conn.request(method, path, body=json.dumps(body) if body is not None
                     else None, headers={'Content-Type': 'application/json'})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return (resp.status, json.loads(data or b'null'),
                resp.getheader('X-DM-Leader'))
    except (ConnectionRefusedError, FileNotFoundError) as e:
        # Nobody listens there (killed, or not up yet): nothing was sent.
        return -1, {'error': str(e)}, None
    except (OSError, http.client.HTTPException, ValueError) as e:
        return 0, {'error': str(e)}, None


def api(method, path, body=None, deadline=30):
    """METHOD PATH through any orchestrator, following the leader and
    retrying while none leads, until DEADLINE seconds: (status, answer)."""
    end = time.monotonic() + deadline
    orch = random.choice(ORCHS)
    while True:
        status, ans, leader = call(orch, method, path, body)
        if status == 307 and leader and leader.startswith('unix:'):
            orch = os.path.basename(leader[5:])[:-len('.sock')]
            status, ans, leader = call(orch, method, path, body)
        # Not taken at the door: nobody leads or the leader reconciles
        # ("try again in a moment"), or nobody listens there: nothing was
        # done, another may be asked.  Any other 503 came from within a
        # request (the store unreachable, the leadership lost on the
        # way): done in part maybe, its outcome unknown.
        door = status == 503 and 'try again in a moment' in str(
            (ans or {}).get('error'))
        if door or status in (307, -1) or (status == 0 and method == 'GET'):
            if time.monotonic() > end:
                return status, ans
            time.sleep(0.3)
            orch = random.choice(ORCHS)
            continue
        return status, ans


def etcd(path, body):
    for url in ENDPOINTS:
        try:
            req = urllib.request.Request(url + path, json.dumps(body).encode())
            with urllib.request.urlopen(req, timeout=2) as f:
                return json.loads(f.read())
        except OSError:
            continue
    return None


def leader_key():
    """(address, create revision) of /dm/leader, or (None, 0)."""
    import base64
    r = etcd('/v3/kv/range', {'key': base64.b64encode(b'/dm/leader')
                              .decode()})
    kvs = (r or {}).get('kvs') or []
    if not kvs:
        return None, 0
    return (base64.b64decode(kvs[0]['value']).decode(),
            int(kvs[0]['create_revision']))


def leader():
    addr, _ = leader_key()
    if not addr:
        return None
    return os.path.basename(addr[5:])[:-len('.sock')]


def pid(name):
    with open(os.path.join(TMP, 'run', name + '.pid')) as f:
        return int(f.read())


def restart(name):
    subprocess.run([os.path.join(TMP, 'run', name + '.sh')], check=True)


def launcher_get(address, path):
    try:
        with urllib.request.urlopen('http://%s%s' % (address, path),
                                    timeout=5) as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None


class Run:
    def __init__(self, servers, cap):
        self.servers, self.cap = servers, cap
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.history = collections.defaultdict(list)   # vm: [(op, outcome)]
        self.counts = collections.Counter()
        self.migrating = set()
        self.busy = set()
        self.violations = collections.defaultdict(list)
        self.fences = collections.defaultdict(list)
        self.leader_revs = []
        self.failovers = collections.defaultdict(list)
        self.samples = 0
        self.unknown = collections.Counter()    # (status, error): count
        self.latency = collections.defaultdict(list)

    # --- traffic -------------------------------------------------------
    def state_of(self, vm):
        acked = [op for op, out in self.history[vm] if out == 'ack']
        return acked[-1] if acked else None

    def one_op(self, rng):
        vm = 'v%d' % rng.randrange(self.servers * self.cap)
        with self.lock:
            if vm in self.busy:
                return
            self.busy.add(vm)
            last = self.state_of(vm)
        t0 = time.monotonic()
        try:
            if last is None:
                op = 'create'
                st, ans = api('POST', '/v1/vms', {
                    'name': vm, 'memory': '64M',
                    'devices': [{'name': 'e0', 'model': 'edu'}]})
                if st == 409 and 'exists' in str(ans):
                    st = 201        # an unknown create that was taken
            elif last in ('create', 'stop'):
                op = 'start'
                st, ans = api('POST', '/v1/vms/%s/start' % vm, {})
            elif last in ('start', 'migrate') and rng.random() < 0.4:
                op = 'migrate'
                st, ans = api('GET', '/v1/vms/' + vm)
                to = 'c2' if (ans or {}).get('client') == 'c1' else 'c1'
                with self.lock:
                    self.migrating.add(vm)
                st, ans = api('POST', '/v1/vms/%s/migrate' % vm, {'to': to})
            else:
                op = 'stop'
                st, ans = api('POST', '/v1/vms/%s/stop' % vm)
            out = ('ack' if 200 <= st < 300 else
                   'refused' if 400 <= st < 500 else 'unknown')
            with self.lock:
                self.history[vm].append((op, out))
                self.counts[op, out] += 1
                self.latency[op].append(time.monotonic() - t0)
                if out == 'unknown':
                    self.unknown[st, str((ans or {}).get('error'))[:120]] \
                        += 1
                if op == 'migrate' and out != 'unknown':
                    self.migrating.discard(vm)
        finally:
            with self.lock:
                self.busy.discard(vm)

    def traffic(self, seed):
        rng = random.Random(seed)
        while not self.stop.is_set():
            self.one_op(rng)
            time.sleep(0.05)

    # --- sampler -------------------------------------------------------
    def sample(self):
        on = collections.defaultdict(list)
        for c in ('c1', 'c2'):
            vms = launcher_get('192.0.2.20%s:7000' % c[1], '/v1/vms')
            for v in (vms or {}).get('vms', []):
                if v.get('state') in ('running', 'starting'):
                    on[v['id']].append(c)
        with self.lock:
            migrating = set(self.migrating)
        for vm, clients in on.items():
            if len(clients) > 1 and vm not in migrating:
                self.violations['two clients'].append((vm, clients))
        for i in range(1, self.servers + 1):
            inst = launcher_get('192.0.2.%d:7000' % (100 + i),
                                '/v1/instances')
            if inst is None:
                continue
            live = [x for x in inst.get('instances', [])
                    if x.get('state') == 'running']
            ports = collections.Counter(x.get('address') for x in live)
            for addr, n in ports.items():
                if n > 1:
                    self.violations['shared port'].append(('s%d' % i, addr))
            if len(live) > self.cap:
                self.violations['over capacity'].append(('s%d' % i,
                                                          len(live)))
        for name in ['c1', 'c2'] + ['s%d' % i
                                    for i in range(1, self.servers + 1)]:
            try:
                with open(os.path.join(TMP, name, 'fence')) as f:
                    tok = int(f.read())
            except (OSError, ValueError):
                continue
            seen = self.fences[name]
            if seen and tok < seen[-1]:
                self.violations['fence went back'].append((name, seen[-1],
                                                           tok))
            if not seen or tok != seen[-1]:
                seen.append(tok)
        _, rev = leader_key()
        if rev:
            if self.leader_revs and rev < self.leader_revs[-1]:
                self.violations['leader token went back'].append(
                    (self.leader_revs[-1], rev))
            if not self.leader_revs or rev != self.leader_revs[-1]:
                self.leader_revs.append(rev)
        self.samples += 1

    def sampler(self):
        while not self.stop.is_set():
            self.sample()
            time.sleep(0.3)

    # --- faults --------------------------------------------------------
    def wait_write(self, deadline=60):
        """Seconds until a write is taken again (a harmless one: an
        unknown VM's stop is 404 on a leader)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < deadline:
            for o in ORCHS:
                if call(o, 'POST', '/v1/vms/none-such/stop', timeout=5)[0] \
                        == 404:
                    return time.monotonic() - t0
            time.sleep(0.1)
        return None

    def fault(self, kind):
        lead = leader()
        t0 = time.monotonic()
        if kind == 'kill -9 of the leader':
            os.kill(pid(lead), signal.SIGKILL)
            took = self.wait_write()
            restart(lead)
        elif kind == 'SIGSTOP of the leader':
            os.kill(pid(lead), signal.SIGSTOP)
            took = self.wait_write()
            time.sleep(1)
            os.kill(pid(lead), signal.SIGCONT)
        elif kind == 'partition of the leader':
            subprocess.run(['ip', '-n', NS + lead, 'link', 'set', 'eth0',
                            'down'], check=True)
            took = None
            while time.monotonic() - t0 < 60:
                if leader() not in (None, lead):
                    took = self.wait_write()
                    if took is not None:
                        took += time.monotonic() - t0 - took
                    break
                time.sleep(0.1)
            subprocess.run(['ip', '-n', NS + lead, 'link', 'set', 'eth0',
                            'up'], check=True)
        elif kind == 'an etcd member lost':
            member = random.choice(['e1', 'e2', 'e3'])
            os.kill(pid(member), signal.SIGKILL)
            time.sleep(2)
            took = self.wait_write()
            restart(member)
        else:                   # a server launcher restarted
            server = 's%d' % random.randrange(1, self.servers + 1)
            os.kill(pid(server), signal.SIGKILL)
            time.sleep(1)
            restart(server)
            took = self.wait_write()
        self.failovers[kind].append(took)
        time.sleep(2)
        return took


FAULTS = ['kill -9 of the leader', 'SIGSTOP of the leader',
          'partition of the leader', 'an etcd member lost',
          'a server launcher restarted']


def main():
    servers, cap, rounds = (int(x) for x in sys.argv[1:4])
    tap = sys.argv[4:] == ['--tap']
    n = 0
    failed = 0

    def check(name, ok, why=''):
        nonlocal n, failed
        n += 1
        failed += not ok
        if tap:
            print('%sok %d - %s' % ('' if ok else 'not ', n, name))
            if not ok:
                print('#   ' + str(why)[:600])
        elif not ok:
            print('FAILED: %s: %s' % (name, str(why)[:600]))
        sys.stdout.flush()

    run = Run(servers, cap)
    for _ in range(300):
        if all(os.path.exists(os.path.join(TMP, o + '.sock'))
               for o in ORCHS):
            break
        time.sleep(0.1)
    check('a leader is elected among 3 orchestrators',
          run.wait_write() is not None and leader() in ORCHS, leader())
    for i in range(1, servers + 1):
        st, ans = api('POST', '/v1/platforms', {
            'name': 's%d' % i, 'role': 'server',
            'address': 'tcp:192.0.2.%d:7000' % (100 + i), 'capacity': cap})
        if st != 201:
            break
    for c in ('c1', 'c2'):
        st2, ans2 = api('POST', '/v1/platforms', {
            'name': c, 'role': 'client',
            'address': 'tcp:192.0.2.20%s:7000' % c[1]})
    check('%d servers and 2 clients added' % servers,
          st == 201 and st2 == 201, (ans, ans2))
    threads = [threading.Thread(target=run.traffic, args=(s,))
               for s in (1, 2, 3, 4)]
    threads.append(threading.Thread(target=run.sampler))
    for th in threads:
        th.start()
    time.sleep(3)
    for r in range(rounds):
        for kind in FAULTS:
            took = run.fault(kind)
            if tap:
                check('round %d: after %s, writes are taken again%s' % (
                    r + 1, kind, '' if took is None else
                    ' (%.1f s)' % took), took is not None)
    time.sleep(2)
    run.stop.set()
    for th in threads:
        th.join(120)
    # Settled: a leader, reconciled, answers.
    run.wait_write()
    time.sleep(LEASE)
    run.sample()

    for what in ('two clients', 'shared port', 'over capacity',
                 'fence went back', 'leader token went back'):
        check('no %s in %d samples' % (what, run.samples),
              not run.violations[what], run.violations[what][:5])
    check('leadership changed and fencing tokens grew (%s)' %
          run.leader_revs, len(run.leader_revs) > 1)
    lost = []
    for vm, hist in run.history.items():
        acked_create = any(op == 'create' and out == 'ack'
                           for op, out in hist)
        st, ans = api('GET', '/v1/vms/' + vm)
        if acked_create and st != 200:
            lost.append((vm, 'created, now %d' % st))
            continue
        last = [(op, out) for op, out in hist if out != 'refused']
        if not last or last[-1][1] != 'ack':
            continue
        op = last[-1][0]
        want = {'create': ('defined',), 'start': ('running',),
                'migrate': ('running',), 'stop': ('stopped', 'defined')}[op]
        if ans.get('state') not in want:
            lost.append((vm, op, ans.get('state')))
    check('every acknowledged write is there (%d VMs)' % len(run.history),
          not lost, lost[:5])
    if tap:
        print('1..%d' % n)
    else:
        print('operations  acknowledged refused unknown  median s  max s')
        for op in ('create', 'start', 'migrate', 'stop'):
            lat = sorted(run.latency[op]) or [0]
            print('  %-8s %12d %7d %7d %9.2f %6.1f' % (
                op, run.counts[op, 'ack'], run.counts[op, 'refused'],
                run.counts[op, 'unknown'], lat[len(lat) // 2], lat[-1]))
        print('failover (s until a write is taken again), per fault:')
        for kind in FAULTS:
            times = [x for x in run.failovers[kind] if x is not None]
            print('  %-28s %s' % (kind, ' '.join('%.1f' % x for x in times)
                                  or '-'))
        print('unknown outcomes, the most frequent:')
        for (st, err), k in run.unknown.most_common(8):
            print('  %4d x %d %s' % (k, st, err))
        print('samples %d, leader tokens %s, checkers failed %d' % (
            run.samples, run.leader_revs, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
