#!/bin/bash
# make density: issue 21 point 4's numbers, printed as tables.
#  1. DENSITY_SESSIONS (256) device-model sessions on one server
#     platform: each model's memory (Pss and Rss), the launcher's own
#     memory, descriptors and API latency (tests/scale/density.py).
#  2. DENSITY_SERVERS (16) server platforms of capacity DENSITY_CAP (63)
#     in network namespaces, two clients whose QEMU is tests/scale/
#     fake-qemu.py, one orchestrator on SQLite, then the same on a
#     3-member etcd: VM creates and starts per second, the
#     orchestrator's memory (tests/scale/fleet-test.sh).
#  3. The control plane alone (fake launchers that answer at once): VM
#     creates, starts (placements) and stops per second on SQLite, one
#     etcd member and a 3-member etcd (bench/placements.py).
# The failover times are make soak's (tests/scale/cluster-test.sh).
# The short versions of 1 and 2 run in make check (suite "scale").
#   bench/run-density.sh BUILD
set -euo pipefail
build=$(cd "${1:?usage: run-density.sh BUILD}" && pwd)
scale=$(cd "$(dirname "$0")/../tests/scale" && pwd)
"$scale/density.py" "$build/meson/dm-remote/dm-remote" \
    "${DENSITY_SESSIONS:-256}"
for store in sqlite etcd; do
    echo
    FLEET_STORE=$store "$scale/fleet-test.sh" "$build" \
        "${DENSITY_SERVERS:-16}" "${DENSITY_CAP:-63}"
done
echo
"$(dirname "$0")/placements.py" "$build" "${PLACEMENTS_VMS:-200}"
