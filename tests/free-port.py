#!/usr/bin/python3
"""Print the first of COUNT consecutive TCP ports free on HOST.

    free-port.py [HOST [COUNT]]      default 127.0.0.1, 1

Ports are drawn from 10000-32767, below the kernel's ephemeral range
(32768-60999 by default), so a client's outgoing connection cannot take
one between this check and the test's bind.  Every port of the run is
bound once to check it; exit status 1 if none was found.
"""
import random
import socket
import sys


def free(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def main():
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    for _ in range(500):
        first = random.randint(10000, 32768 - count)
        if all(free(host, first + i) for i in range(count)):
            print(first)
            return 0
    print(f"free-port: no {count} free ports on {host}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
