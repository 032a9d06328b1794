#!/bin/bash
# Run every test through meson and end with one line:
#   N passed, N failed[, N skipped]
# Exit status is non-zero if any test failed.
set -uo pipefail
out=${1:?usage: run-tests.sh BUILD}

meson test -C "$out/meson" --print-errorlogs --num-processes 2 \
    ${TESTS:-} 2>&1 | grep -v '^>>> '
status=${PIPESTATUS[0]}

/usr/bin/python3 - "$out/meson/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
try:
    for line in open(sys.argv[1]):
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
except OSError:
    failed += 1
line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
PY
exit $status
