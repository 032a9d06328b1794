/*
 * virtio-net's user-mode back end: libslirp in the model's process.
 *
 * Slirp is a TCP/IP stack of its own: the guest's frames go in by
 * slirp_input(), and what it sends the guest comes out through the
 * send_packet callback; guest connections become the server's sockets.
 * It runs on the model's event loop, as QEMU's main loop drives it
 * (net/slirp.c): a poll hook asks slirp before each poll() which of its
 * sockets to watch for what (slirp_pollfds_fill, which also says how
 * long it may sleep: its TCP timers), and hands poll()'s answer back
 * (slirp_pollfds_poll); slirp's own timers are the loop's timers.
 *
 * The guest's network is subnet= (10.0.2.0/24 by default, as QEMU's):
 * the gateway (and the server's loopback: host 127.0.0.1) at .2, DNS at
 * .3, DHCP from .15.  restrict=on: no way out, hostfwd only.  IPv4 only.
 *
 * hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT, as QEMU's
 * (tcp:HOSTPORT-:GUESTPORT too), several joined by '+'; HOSTADDR is
 * 0.0.0.0 by default (as QEMU), GUESTADDR the first DHCP address.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <slirp/libslirp.h>

#include "log.h"
#include "net-backend.h"

#define DEFAULT_SUBNET  "10.0.2.0/24"
#define MAX_RULES       16
#define RULE_LEN        128

struct NetBackend {
    DmDevice *dev;
    Slirp *slirp;
    DmPollHook hook;
    NetReceive *rx;
    void *opaque;
    bool hook_full_warned;
};

typedef struct SlirpTimer {
    DmTimer t;
    SlirpTimerCb cb;
    void *cb_opaque;
} SlirpTimer;

/* ---- Parsing ---- */

static int parse_subnet(const char *val, struct in_addr *net,
                        struct in_addr *mask, char *err, size_t errlen)
{
    char addr[32], *end;
    const char *slash = strchr(val, '/');
    unsigned long prefix;

    if (!slash || (size_t)(slash - val) >= sizeof(addr)) {
        snprintf(err, errlen, "subnet '%s' is not ADDRESS/PREFIX", val);
        return -EINVAL;
    }
    memcpy(addr, val, slash - val);
    addr[slash - val] = '\0';
    errno = 0;
    prefix = strtoul(slash + 1, &end, 10);
    /* Room for .2, .3 and the DHCP range from .15 (16 addresses). */
    if (!inet_aton(addr, net) || *end || end == slash + 1 || prefix < 8 ||
        prefix > 27) {
        snprintf(err, errlen, "subnet '%s' is not an IPv4 ADDRESS/PREFIX "
                 "with a prefix of 8 to 27", val);
        return -EINVAL;
    }
    mask->s_addr = htonl(~0u << (32 - prefix));
    if (net->s_addr & ~mask->s_addr) {
        snprintf(err, errlen, "subnet '%s' has host bits set", val);
        return -EINVAL;
    }
    return 0;
}

static int parse_port(const char *s, int *port)
{
    char *end;
    unsigned long v;

    if (!*s) {
        return -1;
    }
    v = strtoul(s, &end, 10);
    if (*end || v == 0 || v > 65535) {
        return -1;
    }
    *port = v;
    return 0;
}

/* "[ADDR]:PORT" (@need_colon) or "PORT"; an empty ADDR leaves @addr. */
static int parse_addr_port(char *s, struct in_addr *addr, int *port)
{
    char *colon = strrchr(s, ':');

    if (!colon) {
        return parse_port(s, port);
    }
    *colon = '\0';
    if (*s && !inet_aton(s, addr)) {
        return -1;
    }
    return parse_port(colon + 1, port);
}

typedef struct Rule {
    bool udp;
    struct in_addr haddr, gaddr;
    int hport, gport;
} Rule;

/* One rule; gaddr stays 0.0.0.0 unless given (then: the DHCP start). */
static int parse_rule(const char *text, Rule *r, char *err, size_t errlen)
{
    char buf[RULE_LEN], *p, *dash;

    memset(r, 0, sizeof(*r));
    if (strlen(text) >= sizeof(buf)) {
        snprintf(err, errlen, "hostfwd rule '%.32s...' is too long", text);
        return -EINVAL;
    }
    strcpy(buf, text);
    p = buf;
    if (!strncmp(p, "tcp:", 4)) {
        p += 4;
    } else if (!strncmp(p, "udp:", 4)) {
        r->udp = true;
        p += 4;
    } else if (*p == ':') {
        p++;
    }
    dash = strchr(p, '-');
    if (!dash || parse_addr_port(dash + 1, &r->gaddr, &r->gport) < 0) {
        goto bad;
    }
    *dash = '\0';
    if (parse_addr_port(p, &r->haddr, &r->hport) < 0) {
        goto bad;
    }
    return 0;
bad:
    snprintf(err, errlen, "hostfwd rule '%s' is not "
             "[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT", text);
    return -EINVAL;
}

/* Split @val at '+' into @rules: how many, or -EINVAL with a reason. */
static int parse_rules(const char *val, Rule *rules, char *err,
                       size_t errlen)
{
    int n = 0;
    const char *p = val;

    while (*p) {
        const char *end = strchr(p, '+');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char one[RULE_LEN];

        if (n == MAX_RULES) {
            snprintf(err, errlen, "more than %d hostfwd rules", MAX_RULES);
            return -EINVAL;
        }
        if (len == 0 || len >= sizeof(one)) {
            snprintf(err, errlen, "hostfwd '%s' has an empty or too long "
                     "rule", val);
            return -EINVAL;
        }
        memcpy(one, p, len);
        one[len] = '\0';
        if (parse_rule(one, &rules[n++], err, errlen) < 0) {
            return -EINVAL;
        }
        p = end ? end + 1 : p + len;
        if (end && !*p) {
            snprintf(err, errlen, "hostfwd '%s' ends with '+'", val);
            return -EINVAL;
        }
    }
    return n;
}

int net_slirp_check_hostfwd(const char *val, char *err, size_t errlen)
{
    Rule rules[MAX_RULES];

    return parse_rules(val, rules, err, errlen) < 0 ? -EINVAL : 0;
}

int net_slirp_check_subnet(const char *val, char *err, size_t errlen)
{
    struct in_addr net, mask;

    return parse_subnet(val, &net, &mask, err, errlen);
}

/* ---- Slirp's callbacks ---- */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
    NetBackend *be = opaque;

    /* Slirp cannot wait: what the card's queue cannot take it counts. */
    be->rx(be->opaque, buf, len);
    return len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
    dm_warn("virtio-net: slirp: the guest: %s", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
    return dm_clock_ns();
}

static void slirp_timer_fire(void *opaque)
{
    SlirpTimer *t = opaque;

    t->cb(t->cb_opaque);
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    NetBackend *be = opaque;
    SlirpTimer *t = calloc(1, sizeof(*t));

    if (!t) {
        abort();                /* slirp cannot take a failure here */
    }
    t->cb = cb;
    t->cb_opaque = cb_opaque;
    dm_timer_init(&t->t, dm_device_loop(be->dev), slirp_timer_fire, t);
    return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
    SlirpTimer *t = timer;

    dm_timer_del(&t->t);
    free(t);
}

/* @expire_ms: on cb_clock_get_ns's clock, in milliseconds. */
static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    SlirpTimer *t = timer;
    int64_t delay = expire_ms * 1000000 - dm_clock_ns();

    dm_timer_mod(&t->t, delay > 0 ? delay : 0);
}

/* The poll hook asks slirp every round: nothing to keep here. */
static void cb_register_poll_fd(int fd, void *opaque)
{
}

static void cb_unregister_poll_fd(int fd, void *opaque)
{
}

static void cb_notify(void *opaque)
{
}

static const SlirpCb slirp_cb = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_get_ns,
    .timer_new = cb_timer_new,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register_poll_fd,
    .unregister_poll_fd = cb_unregister_poll_fd,
    .notify = cb_notify,
};

/* ---- Slirp's sockets in the loop ---- */

static int add_poll(int fd, int events, void *opaque)
{
    NetBackend *be = opaque;
    short ev = 0;
    int idx;

    ev |= (events & SLIRP_POLL_IN) ? POLLIN : 0;
    ev |= (events & SLIRP_POLL_OUT) ? POLLOUT : 0;
    ev |= (events & SLIRP_POLL_PRI) ? POLLPRI : 0;
    ev |= (events & SLIRP_POLL_ERR) ? POLLERR : 0;
    ev |= (events & SLIRP_POLL_HUP) ? POLLHUP : 0;
    idx = dm_poll_hook_fd(&be->hook, fd, ev);
    if (idx < 0 && !be->hook_full_warned) {
        /* That socket waits until others close. */
        dm_warn("virtio-net: slirp has more than %d sockets",
                DM_POLL_HOOK_MAX_FDS);
        be->hook_full_warned = true;
    }
    return idx;
}

static int get_revents(int idx, void *opaque)
{
    NetBackend *be = opaque;
    short rev = dm_poll_hook_revents(&be->hook, idx);
    int events = 0;

    events |= (rev & POLLIN) ? SLIRP_POLL_IN : 0;
    events |= (rev & POLLOUT) ? SLIRP_POLL_OUT : 0;
    events |= (rev & POLLPRI) ? SLIRP_POLL_PRI : 0;
    events |= (rev & POLLERR) ? SLIRP_POLL_ERR : 0;
    events |= (rev & POLLHUP) ? SLIRP_POLL_HUP : 0;
    return events;
}

static void hook_prepare(void *opaque, DmPollHook *h, int *timeout_ms)
{
    NetBackend *be = opaque;
    uint32_t t = *timeout_ms < 0 ? UINT32_MAX : (uint32_t)*timeout_ms;

    slirp_pollfds_fill(be->slirp, &t, add_poll, be);
    *timeout_ms = t == UINT32_MAX ? -1 : (int)(t > INT32_MAX ? INT32_MAX : t);
}

static void hook_dispatch(void *opaque, DmPollHook *h, bool error)
{
    NetBackend *be = opaque;

    slirp_pollfds_poll(be->slirp, error, get_revents, be);
}

/* ---- The back end ---- */

static int slirp_open(DmDevice *dev, const NetBackendOpts *o, NetReceive *rx,
                      void *opaque, NetBackend **ret, bool *vnet_hdr)
{
    NetBackend *be;
    SlirpConfig cfg = { .version = 1 };
    struct in_addr net, mask;
    Rule rules[MAX_RULES];
    char err[160];
    int nrules;

    if (parse_subnet(o->subnet ? o->subnet : DEFAULT_SUBNET, &net, &mask,
                     err, sizeof(err)) < 0 ||
        (nrules = parse_rules(o->hostfwd ? o->hostfwd : "", rules, err,
                              sizeof(err))) < 0) {
        dm_error("virtio-net: %s", err);
        return -EINVAL;
    }
    be = calloc(1, sizeof(*be));
    if (!be) {
        return -ENOMEM;
    }
    be->dev = dev;
    be->rx = rx;
    be->opaque = opaque;
    cfg.restricted = o->restricted;
    cfg.in_enabled = true;
    cfg.vnetwork = net;
    cfg.vnetmask = mask;
    cfg.vhost.s_addr = htonl(ntohl(net.s_addr) | 2);
    cfg.vnameserver.s_addr = htonl(ntohl(net.s_addr) | 3);
    cfg.vdhcp_start.s_addr = htonl(ntohl(net.s_addr) | 15);
    cfg.if_mtu = o->mtu;
    cfg.if_mru = o->mtu;
    be->slirp = slirp_new(&cfg, &slirp_cb, be);
    if (!be->slirp) {
        dm_error("virtio-net: slirp would not start");
        free(be);
        return -EINVAL;
    }
    for (int i = 0; i < nrules; i++) {
        Rule *r = &rules[i];
        struct in_addr gaddr = r->gaddr.s_addr ? r->gaddr : cfg.vdhcp_start;

        if (slirp_add_hostfwd(be->slirp, r->udp, r->haddr, r->hport, gaddr,
                              r->gport) < 0) {
            dm_error("virtio-net: hostfwd %s:%s:%d: %s",
                     r->udp ? "udp" : "tcp", inet_ntoa(r->haddr), r->hport,
                     strerror(errno ? errno : EADDRINUSE));
            slirp_cleanup(be->slirp);
            free(be);
            return -EADDRINUSE;
        }
        dm_info("virtio-net: hostfwd %s port %d to the guest's %d",
                r->udp ? "udp" : "tcp", r->hport, r->gport);
    }
    dm_poll_hook_add(&be->hook, dm_device_loop(dev), hook_prepare,
                     hook_dispatch, be);
    *ret = be;
    *vnet_hdr = false;
    return 0;
}

static int slirp_send(NetBackend *be, const uint8_t *frame, size_t len)
{
    slirp_input(be->slirp, frame, len);
    return 0;
}

static void slirp_close(NetBackend *be)
{
    dm_poll_hook_del(&be->hook);
    slirp_cleanup(be->slirp);
    free(be);
}

const NetBackendOps net_slirp_ops = {
    .open = slirp_open,
    .send = slirp_send,
    .close = slirp_close,
};
