# Sourced by the bench/run-*-bench.sh scripts: what every table's script
# does before and around its rows.
#   bench_init NAME     $tmp (a fresh directory, removed at exit), $pids
#                       (killed at exit: append what you start), $qemu, $dm
#   bench_wait ADDRESS  until unix:PATH or tcp:HOST:PORT answers (10 s);
#                       1 if it never does
# Needs $build (the build directory) set first.

bench_init() {
    qemu=$build/qemu-system-x86_64
    dm=$build/meson/dm-remote/dm-remote
    tmp=$(mktemp -d "/tmp/dm-$1-bench-XXXXXX")
    pids=()
    trap bench_cleanup EXIT
}

bench_cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}

bench_wait() {
    local hostport=${1#tcp:}
    for _ in $(seq 500); do
        case $1 in
            unix:*) [ -S "${1#unix:}" ] && return 0 ;;
            tcp:*) (exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}") \
                       2>/dev/null && return 0 ;;
        esac
        sleep 0.02
    done
    return 1
}
