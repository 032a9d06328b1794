#!/bin/bash
# Build the web console into BUILD/web: our pages (web/) beside the dist
# files of the npm packages they use, fetched with `npm ci` from the
# lock file (web/package-lock.json, pinned versions and hashes).  Nothing
# is fetched at run time; dm-orchestrator --web BUILD/web serves it, and
# meson installs it in PREFIX/share/dm-orchestrator/web.
#   scripts/build-web.sh BUILD
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: build-web.sh BUILD}
npmdir=$out/web-npm
web=$out/web

# npm ci again only when the lock file changed.
mkdir -p "$npmdir"
if ! cmp -s "$top/web/package-lock.json" "$npmdir/package-lock.json" ||
   [ ! -d "$npmdir/node_modules" ]; then
    cp "$top/web/package.json" "$top/web/package-lock.json" "$npmdir/"
    (cd "$npmdir" && npm ci --ignore-scripts --no-audit --no-fund \
        --loglevel=error) >"$out/web-npm.log" 2>&1 ||
        { cat "$out/web-npm.log" >&2; rm -f "$npmdir/package-lock.json"
          exit 1; }
fi

# Our files, then the packages' files under vendor/: xterm.js's dist,
# noVNC's ES modules as published (core/ imports ../vendor/pako/ by
# relative paths, so both keep their places; browsers load them as they
# are, no bundler).
rm -rf "$web.new"
mkdir -p "$web.new/vendor/xterm" "$web.new/vendor/novnc"
(cd "$top/web" && tar cf - --exclude=package.json \
    --exclude=package-lock.json --exclude=node_modules .) |
    tar xf - -C "$web.new"
x=$npmdir/node_modules/@xterm/xterm
cp "$x/lib/xterm.mjs" "$x/css/xterm.css" "$x/LICENSE" "$web.new/vendor/xterm/"
n=$npmdir/node_modules/@novnc/novnc
cp -r "$n/core" "$n/vendor" "$n/LICENSE.txt" "$web.new/vendor/novnc/"
rm -rf "$web"
mv "$web.new" "$web"
