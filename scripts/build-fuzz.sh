#!/bin/bash
# Build the libFuzzer targets (tests/fuzz) in BUILD/fuzz: the same meson
# project with -Dfuzz=true, compiled by clang.  Without a clang that
# links -fsanitize=fuzzer (Debian: clang, libclang-rt-14-dev) it says so
# and builds nothing; make check then runs without the suite 'fuzz'.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: build-fuzz.sh BUILD}
export CCACHE_DIR="${CCACHE_DIR:-${DM_CACHE:-/var/cache/dm-build}/ccache}"
mkdir -p "$out"

if ! command -v clang > /dev/null ||
        ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n)
                { return 0; }' |
        clang -x c -fsanitize=fuzzer,address,undefined -o /dev/null - \
            > /dev/null 2>&1; then
    echo "build-fuzz: no clang with libFuzzer: fuzz targets not built" >&2
    exit 0
fi
if [ ! -f "$out/fuzz/build.ninja" ]; then
    CC=clang meson setup "$out/fuzz" "$top" -Dfuzz=true \
        > "$out/fuzz-setup.log" 2>&1 ||
        { cat "$out/fuzz-setup.log" >&2; exit 1; }
fi
"$(dirname "$0")/ninja-progress.sh" build-fuzz "$out/fuzz-build.log" \
        -C "$out/fuzz" ||
    { grep -E -A8 'FAILED|error' "$out/fuzz-build.log" | head -n 60 >&2
      exit 1; }
