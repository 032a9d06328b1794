# Sourced: a small LAN of network namespaces on this machine, for the
# orchestrator's tests and the demo.  A bridge lives in its own namespace;
# each host namespace gets one veth leg with an address from the
# documentation range 192.0.2.0/24, which exists only inside them.
#
#   lan_up ID NAME=ADDR...   e.g. lan_up 42 ctl=192.0.2.10 srv=192.0.2.2
#                            creates namespaces dm-ID-lan and dm-ID-NAME
#   lan_ns NAME              the namespace of host NAME
#   lan_down                 removes every namespace lan_up made
lan_id=
lan_hosts=()

lan_ns() { echo "dm-$lan_id-$1"; }

lan_up() {
    local spec name addr i=0 br
    lan_id=$1
    shift
    br=dm-$lan_id-lan
    ip netns add "$br" || return 1
    ip -n "$br" link add br0 type bridge || return 1
    ip -n "$br" link set br0 up
    for spec in "$@"; do
        name=${spec%%=*} addr=${spec#*=}
        ip netns add "$(lan_ns "$name")" || return 1
        lan_hosts+=("$name")
        ip link add "dml$lan_id$i" netns "$br" type veth peer name eth0 \
            netns "$(lan_ns "$name")" || return 1
        ip -n "$br" link set "dml$lan_id$i" master br0 up
        ip -n "$(lan_ns "$name")" addr add "$addr/24" dev eth0
        ip -n "$(lan_ns "$name")" link set eth0 up
        ip -n "$(lan_ns "$name")" link set lo up
        # The launchers' model ports (--port-range's default) kept out of
        # the ephemeral range, as docs/scale-out.md asks of a server host:
        # an outgoing connection there took a model's port (scale-fleet:
        # "cannot listen ... Address already in use").
        ip netns exec "$(lan_ns "$name")" sysctl -qw \
            net.ipv4.ip_local_reserved_ports=40000-40999 || return 1
        i=$((i + 1))
    done
    # Bounded wait for the carriers.
    for _ in $(seq 200); do
        ! ip -n "$br" link show | grep -q "NO-CARRIER" && break
        sleep 0.01
    done
}

lan_down() {
    local name
    for name in "${lan_hosts[@]}"; do
        # Whatever still runs there dies with its host.
        ip netns pids "$(lan_ns "$name")" 2>/dev/null | xargs -r kill -9
        ip netns del "$(lan_ns "$name")" 2>/dev/null
    done
    [ -n "$lan_id" ] && ip netns del "dm-$lan_id-lan" 2>/dev/null
    lan_hosts=()
}
