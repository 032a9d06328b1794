#!/usr/bin/python3
# A tiny HTTP client for the launcher's tests (curl is not installed).
#
#   api.py ADDRESS METHOD PATH [BODY]     ADDRESS: unix:PATH or tcp:HOST:PORT
#
# Prints the status, a tab, the Content-Type, a tab and the body on one line.
import http.client
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
from httpunix import UnixConnection  # noqa: E402


def main():
    address, method, path = sys.argv[1:4]
    body = sys.argv[4] if len(sys.argv) > 4 else None
    if address.startswith('unix:'):
        conn = UnixConnection(address[5:])
    else:
        host, port = address[4:].rsplit(':', 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {'Content-Type': 'application/json'} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read().decode('utf-8', 'replace').replace('\n', ' ')
    print('%d\t%s\t%s' % (resp.status, resp.getheader('Content-Type'), data))


main()
