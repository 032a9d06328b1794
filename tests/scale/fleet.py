#!/usr/bin/python3
"""fleet-test.sh's driver: VMs through the orchestrator's API, then checks.

    fleet.py unix:ORCH_SOCK ORCH_PID SERVERS CAP [--tap]

Platforms s1..sSERVERS (servers, capacity CAP, at 192.0.2.N) and c1, c2
(clients) are added; SERVERS*CAP+1 VMs of one edu each are created and
started one after the other (FLEET_PARALLEL=N: N at a time, as
`make check`'s short version does; see docs/scale-out.md on concurrent
starts).  Then: every start but one answered 200,
the last 409 (every server full); each VM runs on a client; each device
model was placed once, no server holds more than CAP, no two share an
address; each server's launcher lists its models running, and each model
holds one established vfio-user session (the fake QEMU's) in the server's
namespace.  Without --tap, the rates and memory are printed instead of
TAP (nothing about time or memory is asserted).
"""
import collections
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from density import UnixHTTP, smaps_rollup, spread  # noqa: E402

NS = os.environ.get('FLEET_NETNS_PREFIX', '')
HERE = os.path.dirname(os.path.abspath(__file__))


def api(sock, method, path, body=None):
    conn = UnixHTTP(sock)
    conn.timeout = 300
    t0 = time.monotonic()
    conn.request(method, path, body=json.dumps(body) if body is not None
                 else None, headers={'Content-Type': 'application/json'})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, json.loads(data or b'null'), time.monotonic() - t0


def launcher_get(server, path):
    """GET on a server's launcher, from the ctl namespace (the bridge)."""
    out = subprocess.run(
        ['ip', 'netns', 'exec', NS + 'ctl', '/usr/bin/python3',
         os.path.join(HERE, '..', 'launcher', 'api.py'),
         'tcp:192.0.2.%d:7000' % server, 'GET', path],
        capture_output=True, text=True, timeout=120).stdout
    status, _, body = out.split('\t', 2)
    return int(status), json.loads(body)


def model_sessions(server):
    """Established TCP connections on the models' ports in sN's namespace."""
    out = subprocess.run(
        ['ip', 'netns', 'exec', NS + 's%d' % server, 'ss', '-Htn', 'state',
         'established', 'src', '192.0.2.%d' % server],
        capture_output=True, text=True, timeout=60).stdout
    ports = collections.Counter()
    for line in out.splitlines():
        local = line.split()[2]
        port = int(local.rsplit(':', 1)[1])
        if 40000 <= port <= 40999:
            ports[port] += 1
    return ports


class Tap:
    def __init__(self, on):
        self.on = on
        self.n = 0
        self.failed = 0

    def check(self, name, ok, why=''):
        self.n += 1
        if not ok:
            self.failed += 1
        if self.on:
            print('%sok %d %s%s' % ('' if ok else 'not ', self.n, name,
                                    '' if ok else ': ' + str(why)[:300]))
            sys.stdout.flush()
        elif not ok:
            print('FAILED: %s: %s' % (name, str(why)[:300]))


def main():
    sock = sys.argv[1][len('unix:'):]
    orch_pid = int(sys.argv[2])
    servers, cap = int(sys.argv[3]), int(sys.argv[4])
    tap = Tap(sys.argv[5:] == ['--tap'])
    if tap.on:
        print('1..9')
    placed = servers * cap
    nvms = placed + 1
    for _ in range(3000):
        if os.path.exists(sock):
            break
        time.sleep(0.01)

    def add(body):
        for _ in range(300):        # until its launcher listens
            status, reply, _ = api(sock, 'POST', '/v1/platforms', body)
            if status != 502:
                return status, reply
            time.sleep(0.1)
        return status, reply
    added = [add({'name': 's%d' % i, 'role': 'server',
                  'address': 'tcp:192.0.2.%d:7000' % i, 'capacity': cap})
             for i in range(1, servers + 1)]
    added += [add({'name': c, 'role': 'client',
                   'address': 'tcp:192.0.2.20%s:7000' % c[1:]})
              for c in ('c1', 'c2')]
    tap.check('%d server and 2 client platforms added' % servers,
              all(s == 201 for s, _ in added),
              [r for s, r in added if s != 201][:2])

    t0 = time.monotonic()
    created = [api(sock, 'POST', '/v1/vms',
                   {'name': 'vm-%d' % i, 'memory': '64M',
                    'devices': [{'name': 'edu0', 'model': 'edu'}]})
               for i in range(nvms)]
    create_s = time.monotonic() - t0
    tap.check('%d VMs created' % nvms, all(c[0] == 201 for c in created),
              [c[1] for c in created if c[0] != 201][:2])

    def start(i):
        return api(sock, 'POST', '/v1/vms/vm-%d/start' % i, {})
    t0 = time.monotonic()
    parallel = int(os.environ.get('FLEET_PARALLEL', '1'))
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        started = list(pool.map(start, range(nvms)))
    start_s = time.monotonic() - t0
    ok = [s for s in started if s[0] == 200]
    refused = [s for s in started if s[0] != 200]
    tap.check('%d starts answer 200, one 409 (every server full)' % placed,
              len(ok) == placed and len(refused) == 1 and
              refused[0][0] == 409 and 'full' in refused[0][1]['error'],
              [r[:2] for r in refused][:3])

    _, vms, _ = api(sock, 'GET', '/v1/vms')
    running = [v for v in vms['vms'] if v['state'] == 'running']
    tap.check('%d VMs run, each on a client' % placed,
              len(running) == placed and
              all(v['client'] in ('c1', 'c2') for v in running),
              collections.Counter(v['state'] for v in vms['vms']))

    _, dms, _ = api(sock, 'GET', '/v1/dms')
    dms = [d for d in dms['dms'] if d['instance']]
    per_server = collections.Counter(d['server'] for d in dms)
    tap.check('each device placed once, no server over its capacity %d'
              % cap, len(dms) == placed and
              len(set(d['instance'] for d in dms)) == placed and
              max(per_server.values()) <= cap and
              len(per_server) == servers, per_server)
    tap.check('no two models share an address',
              len(set(d['address'] for d in dms)) == placed)

    lists = {i: launcher_get(i, '/v1/instances')[1]['instances']
             for i in range(1, servers + 1)}
    mismatch = []
    for i, insts in lists.items():
        ours = {d['instance'] for d in dms if d['server'] == 's%d' % i}
        theirs = {x['id'] for x in insts if x['state'] == 'running'}
        if ours != theirs or len(insts) > cap:
            mismatch.append('s%d: %d placed, %d running there'
                            % (i, len(ours), len(theirs)))
    tap.check('each launcher runs exactly the models placed on it',
              not mismatch, mismatch[:3])
    bad = []
    for i in range(1, servers + 1):
        ports = model_sessions(i)
        want = {int(d['address'].rsplit(':', 1)[1]) for d in dms
                if d['server'] == 's%d' % i}
        if set(ports) != want or any(n != 1 for n in ports.values()):
            bad.append('s%d: %d sessions on %d ports, %d models'
                       % (i, sum(ports.values()), len(ports), len(want)))
    tap.check('each model holds one session (its fake QEMU\'s)', not bad,
              bad[:3])
    _, plats, _ = api(sock, 'GET', '/v1/platforms')
    clients = {p['name']: p['running'] for p in plats['platforms']
               if p['role'] == 'client'}
    tap.check('the clients run them all (%s)' % clients,
              sum(clients.values()) == placed, clients)

    if not tap.on:
        om = smaps_rollup(orch_pid)
        lat = [s[2] * 1000 for s in ok]
        print('%d VMs (one edu each) over %d server platforms, 2 clients '
              '(%s, load %s)' % (
                  placed, servers,
                  time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
                  ' '.join('%.1f' % x for x in os.getloadavg())))
        print()
        print('| step | count | total s | per second | latency ms min / '
              'median / max |')
        print('|---|---|---|---|---|')
        print('| create (POST /v1/vms) | %d | %.1f | %.1f | |' % (
            nvms, create_s, nvms / create_s))
        print('| start (place, launch model, launch QEMU; %d at a time) '
              '| %d | %.1f | %.1f | %.0f / %.0f / %.0f |' % (
                  parallel, placed, start_s, placed / start_s, *spread(lat)))
        print()
        print('orchestrator (%s): Pss %d KiB, Rss %d KiB with %d VMs'
              % ('a 3-member etcd' if os.environ.get('FLEET_STORE') ==
                 'etcd' else 'SQLite', om['Pss'], om['Rss'], placed))
        print('placed per server: min / median / max %d / %d / %d' % spread(
            list(per_server.values())))
    return 1 if tap.failed else 0


if __name__ == '__main__':
    sys.exit(main())
