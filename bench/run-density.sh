#!/bin/bash
# make density: issue 21 point 4's numbers, printed as tables.
#  1. DENSITY_SESSIONS (256) device-model sessions on one server
#     platform: each model's memory (Pss and Rss), the launcher's own
#     memory, descriptors and API latency (tests/scale/density.py).
#  2. DENSITY_SERVERS (16) server platforms of capacity DENSITY_CAP (63)
#     in network namespaces, two clients whose QEMU is tests/scale/
#     fake-qemu.py, one orchestrator on SQLite: VM creates and starts per
#     second, the orchestrator's memory (tests/scale/fleet-test.sh).
# The short versions of both run in make check (suite "scale").
#   bench/run-density.sh BUILD
set -euo pipefail
build=$(cd "${1:?usage: run-density.sh BUILD}" && pwd)
scale=$(cd "$(dirname "$0")/../tests/scale" && pwd)
"$scale/density.py" "$build/meson/dm-remote/dm-remote" \
    "${DENSITY_SESSIONS:-256}"
echo
"$scale/fleet-test.sh" "$build" "${DENSITY_SERVERS:-16}" "${DENSITY_CAP:-63}"
