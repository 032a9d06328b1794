# Shared helpers for apt work through *private* sources lists.
#
# The system's apt configuration is never edited: extra suites (backports
# for a newer meson, sid's deb-src for the pinned QEMU source) live in
# lists under $DM_CACHE/apt, passed to apt with -o options.  The archive's
# address is read from the system's own sources at run time.
# shellcheck shell=bash

: "${DM_CACHE:=/var/cache/dm-build}"

# Print the URI of the system's main Debian archive (not the security one).
dm_debian_uri() {
    local uri
    uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources \
              2>/dev/null | tr ' ' '\n' | grep -v -- '-security' | head -n1)
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk '$1 == "deb" && $0 !~ /security/ { print $2; exit }' \
                  /etc/apt/sources.list)
    fi
    if [ -z "$uri" ]; then
        echo "error: no Debian archive URI in the system's apt sources" >&2
        return 1
    fi
    printf '%s\n' "${uri%/}"
}

# dm_apt NAME "SOURCES LINES" apt-get-args...
# Runs apt-get with a private sources list NAME holding the given lines.
dm_apt() {
    local name=$1 lines=$2
    shift 2
    local dir="$DM_CACHE/apt/$name"
    mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
    printf '%s\n' "$lines" > "$dir/sources.list.new"
    if ! cmp -s "$dir/sources.list.new" "$dir/sources.list"; then
        mv "$dir/sources.list.new" "$dir/sources.list"
        rm -f "$dir/updated"
    else
        rm -f "$dir/sources.list.new"
    fi
    local opts=(-o "Dir::Etc::sourcelist=$dir/sources.list"
                -o "Dir::Etc::sourceparts=-"
                -o "Dir::State::Lists=$dir/lists"
                -o "Dir::Cache=$dir/cache"
                -o "APT::Get::List-Cleanup=0")
    # Refresh the private index at most once a day.
    if [ -z "$(find "$dir/updated" -mmin -1440 2>/dev/null)" ]; then
        apt-get -qq "${opts[@]}" update >/dev/null || return 1
        touch "$dir/updated"
    fi
    apt-get "${opts[@]}" "$@"
}
