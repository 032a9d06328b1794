#!/usr/bin/python3
"""The control plane's own speed, by store (issue 21's benchmark).

    bench/placements.py BUILD [VMS]

One dm-orchestrator against fake launchers that answer at once
(tests/orchestrator/fake-launcher.py: 2 clients, 4 servers), so what is
measured is the orchestrator and its store: VMS (200) VMs of one edu
each are created, started 4 at a time (each start places its device: a
claim committed in the store, the launcher's answer, the VM's state) and
stopped 4 at a time, on SQLite, on a single etcd member and on a 3-member
etcd cluster (all on loopback, each member with its own data directory on
this machine's disk).  Printed as a table; nothing is asserted.
"""
import concurrent.futures
import os
import shutil
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'orchestrator'))
from orchlib import Env  # noqa: E402


def free_ports(n):
    out = subprocess.run([os.path.join(HERE, '..', 'tests', 'free-port.py'),
                          '127.0.0.1', str(n)], capture_output=True,
                         text=True, check=True).stdout
    return int(out)


def etcd_up(members, tmp):
    """MEMBERS etcd members on loopback: (client URLs, processes)."""
    base = free_ports(2 * members)
    names = ['m%d' % i for i in range(members)]
    peers = ','.join('%s=http://127.0.0.1:%d' % (n, base + 2 * i + 1)
                     for i, n in enumerate(names))
    procs, urls = [], []
    for i, n in enumerate(names):
        client = 'http://127.0.0.1:%d' % (base + 2 * i)
        peer = 'http://127.0.0.1:%d' % (base + 2 * i + 1)
        urls.append(client)
        log = open(os.path.join(tmp, n + '.log'), 'w')
        procs.append(subprocess.Popen(
            ['etcd', '--name', n, '--data-dir', os.path.join(tmp, n),
             '--listen-client-urls', client, '--advertise-client-urls',
             client, '--listen-peer-urls', peer,
             '--initial-advertise-peer-urls', peer, '--initial-cluster',
             peers, '--initial-cluster-state', 'new'],
            stdout=log, stderr=subprocess.STDOUT))
    for _ in range(300):
        try:
            if all(b'"true"' in urllib.request.urlopen(
                    u + '/health', timeout=2).read() for u in urls):
                return ','.join(urls), procs
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError('etcd with %d members did not come up' % members)


def run(build, store, vms):
    e = Env(build)
    procs = []
    try:
        if store != 'SQLite':
            e.etcd, procs = etcd_up(3 if '3' in store else 1, e.tmp)
        e.start_orch(['-q'])
        for name, role in (('c1', 'client'), ('c2', 'client'),
                           ('s1', 'server'), ('s2', 'server'),
                           ('s3', 'server'), ('s4', 'server')):
            addr = e.start_fake(name, role, '--capacity', str(vms))
            st, body = e.api('POST', '/v1/platforms', {
                'name': name, 'role': role, 'address': addr,
                'capacity': vms})
            assert st == 201, body
        t0 = time.monotonic()
        for i in range(vms):
            st, body = e.api('POST', '/v1/vms', {
                'name': 'v%d' % i, 'devices': [{'name': 'e0',
                                                'model': 'edu'}]})
            assert st == 201, body
        create = vms / (time.monotonic() - t0)

        def timed(call):
            t = time.monotonic()
            st, body = e.api(*call)
            return st, time.monotonic() - t

        out = {'create': (create, None, 0)}
        for op, body in (('start', {}), ('stop', {'timeout': 0})):
            t0 = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                res = list(pool.map(timed, [
                    ('POST', '/v1/vms/v%d/%s' % (i, op), body)
                    for i in range(vms)]))
            rate = vms / (time.monotonic() - t0)
            lat = sorted(x[1] * 1000 for x in res)
            out[op] = (rate, lat[len(lat) // 2],
                       sum(1 for x in res if x[0] != 200))
        return out
    finally:
        e.cleanup()
        for p in procs:
            p.terminate()
            p.wait()


def main():
    build = sys.argv[1]
    vms = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    if not shutil.which('etcd'):
        print('etcd not installed (etcd-server): SQLite only')
    stores = ['SQLite'] + (['etcd, 1 member', 'etcd, 3 members']
                           if shutil.which('etcd') else [])
    print('The control plane alone: %d VMs of one edu, fake launchers that '
          'answer at once, 4 requests at a time (%s, load %s)' % (
              vms, time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
              ' '.join('%.1f' % x for x in os.getloadavg())))
    print()
    print('| store | creates/s | starts (placements)/s | start median ms '
          '| stops/s | stop median ms | failed |')
    print('|---|---|---|---|---|---|---|')
    for store in stores:
        r = run(build, store, vms)
        print('| %s | %.0f | %.1f | %.0f | %.1f | %.0f | %d |' % (
            store, r['create'][0], r['start'][0], r['start'][1],
            r['stop'][0], r['stop'][1], r['start'][2] + r['stop'][2]))
        sys.stdout.flush()
    return 0


if __name__ == '__main__':
    sys.exit(main())
