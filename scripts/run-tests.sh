#!/bin/bash
# Run every test through meson and end with one line:
#   N passed, N failed[, N skipped]
# Exit status is non-zero if any test failed.
set -uo pipefail
out=${1:?usage: run-tests.sh BUILD}

meson test -C "$out/meson" --print-errorlogs --num-processes 2 \
    ${TESTS:-} 2>&1 | grep -v '^>>> '
status=${PIPESTATUS[0]}
logs=("$out/meson/meson-logs/testlog.json")

# The libFuzzer targets' suite, in their clang build (scripts/build-fuzz.sh)
# when there is one; TESTS names the main build's tests only.
if [ -z "${TESTS:-}" ] && [ -f "$out/fuzz/build.ninja" ]; then
    meson test -C "$out/fuzz" --print-errorlogs --num-processes 2 \
        --suite fuzz 2>&1 | grep -v '^>>> '
    [ "${PIPESTATUS[0]}" = 0 ] || status=1
    logs+=("$out/fuzz/meson-logs/testlog.json")
fi

/usr/bin/python3 - "${logs[@]}" <<'PY'
import json, sys
import re
passed = failed = skipped = 0
failures = []
tap = re.compile(r"^(not ok|ok)\b[^#]*(#\s*(SKIP|TODO))?", re.I)
def lines():
    for path in sys.argv[1:]:
        yield from open(path)
try:
    for line in lines():
        t = json.loads(line)
        before = failed
        # TAP tests count by subtest; the rest by program.
        subs = [tap.match(l) for l in (t.get("stdout") or "").splitlines()]
        subs = [m for m in subs if m]
        if subs and t["result"] in ("OK", "FAIL", "SKIP"):
            for m in subs:
                if m.group(3):
                    skipped += 1
                elif m.group(1) == "ok":
                    passed += 1
                else:
                    failed += 1
            if t["result"] == "FAIL" and all(m.group(1) == "ok" for m in subs):
                failed += 1     # it died after its last subtest
        elif t["result"] in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif t["result"] == "SKIP":
            skipped += 1
        else:
            failed += 1
        if failed > before:
            failures.append((t["name"], t["result"],
                             (t.get("stdout") or "") +
                             (t.get("stderr") or "")))
except OSError:
    failed += 1
# The failures again, last, where a log's tail (CI's) shows them: each
# test's name, result, failed subtests and the end of its output.
for name, result, out in failures:
    print(f"FAILED: {name} ({result})")
    out = out.splitlines()
    bad = [l for l in out if l.startswith(("not ok", "Bail out"))]
    for l in bad[:5] + ["..."] + out[-12:]:
        print(f"  | {l}")
line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
PY
exit $status
