#!/usr/bin/python3
"""What a guest that is stuck is doing, for a failed test's log.

    guest-stuck.py QMP_SOCKET [HMP_COMMAND...]

Prints the remote devices (the proxy's state and counters), where each
vCPU is (halted or not, its instruction pointer) and what each extra
monitor command says ("info pic" for a dead ISA line), each line
prefixed with "# ".
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import qmplib  # noqa: E402


def main():
    q = qmplib.Qmp(sys.argv[1], 5)
    print("# query-remote-devices:",
          json.dumps(q.cmd("query-remote-devices").get("return")))
    for cmd in ["info cpus", "info registers -a"] + sys.argv[2:]:
        out = q.cmd("human-monitor-command", **{"command-line": cmd})
        for line in out.get("return", "").splitlines():
            # Registers: where it runs; interrupt controllers: the pins
            # in use (the masked ones are many and say nothing).
            if cmd == "info registers -a" and \
                    not line.startswith(("RIP", "CS ", "CR0")):
                continue
            if cmd == "info pic" and " masked " in line:
                continue
            print("# " + cmd + ": " + line.strip())


if __name__ == "__main__":
    main()
