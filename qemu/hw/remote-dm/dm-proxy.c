/*
 * The client end of one vfio-user connection to a remote device model.
 *
 * Threads: dm_proxy_call() and dm_proxy_post() run in whichever thread
 * trapped (a vCPU, or the main loop under qtest), with or without the big
 * QEMU lock; they hold DMProxy.lock for the whole transaction.  The fd
 * handler, the fault bottom half and the reconnect timer run in the main
 * loop with the big QEMU lock held.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/socket.h>
#include <sys/un.h>
#include <netdb.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include "qapi/error.h"
#include "crypto/secret_common.h"
#include "qemu/error-report.h"
#include "qemu/lockable.h"
#include "qemu/accel.h"
#include "qemu/cutils.h"
#include "qemu/host-utils.h"
#include "qemu/main-loop.h"
#include "hw/boards.h"
#include "qapi/qapi-commands-remote-dm.h"
#include "qapi/qapi-events-remote-dm.h"
#include "hw/remote-dm/dm-proxy.h"
#include "vup/dm-ext.h"
#include "vup/tcp.h"
#include "trace.h"

/* A ring fetch (DM_VQ_FETCH) carries a 1 MiB write and its descriptors. */
#define DM_PROXY_MAX_XFER       (4 * 1024 * 1024)
#define DM_PROXY_BACKOFF_MIN_MS 100
#define DM_PROXY_BACKOFF_MAX_MS 5000
#define DM_PROXY_BACKOFF_HOLD_MS 200  /* while accesses may be held */
/*
 * The largest VERSION reply taken from a model: its capabilities are a
 * short JSON object, a few hundred bytes.
 */
#define DM_PROXY_MAX_VERSION    (64 * 1024)
/* Server requests the main loop serves per wake-up before it yields. */
#define DM_PROXY_DRAIN_MAX      128

static void dm_proxy_readable(void *opaque);

/*
 * How long calls must stop before the main loop watches the socket again:
 * the longest an interrupt sent right after a burst of accesses can wait.
 * Short against a guest's interrupt latency, long against a burst's gaps.
 */
#define DM_PROXY_QUIET_NS (500 * SCALE_US)

/* Every proxy, for query-remote-devices; main loop only. */
static QLIST_HEAD(, DMProxy) dm_proxies = QLIST_HEAD_INITIALIZER(dm_proxies);

/* ---- Connection set-up (main loop) ---- */

static int dm_proxy_connect_tcp(DMProxy *p, Error **errp)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_NUMERICSERV,
    };
    struct addrinfo *res, *ai;
    int ret = getaddrinfo(p->addr.host, p->addr.port, &hints, &res);
    int fd = -1, err = 0;
    char cerr[512];

    if (ret) {
        error_setg(errp, "cannot resolve %s: %s", p->addr.host,
                   gai_strerror(ret));
        return -1;
    }
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        error_setg_errno(errp, err, "cannot connect to %s", p->server);
        return -1;
    }
    if (vup_tcp_tune(fd, p->tcp_congestion, cerr, sizeof(cerr)) < 0) {
        /* Checked at realize: the host changed since.  Still usable. */
        warn_report("dm-proxy %s: %s", p->id, cerr);
    }
    return fd;
}

static int dm_proxy_connect_socket(DMProxy *p, Error **errp)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    struct timeval tv = {
        .tv_sec = p->timeout_ms / 1000,
        .tv_usec = (p->timeout_ms % 1000) * 1000,
    };
    int fd;

    if (!p->fds_ok) {
        fd = dm_proxy_connect_tcp(p, errp);
    } else {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            error_setg_errno(errp, errno, "socket");
            return -1;
        }
        pstrcpy(sun.sun_path, sizeof(sun.sun_path), p->addr.path);
        if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
            error_setg_errno(errp, errno, "cannot connect to %s", p->server);
            close(fd);
            return -1;
        }
    }
    if (fd < 0) {
        return -1;
    }
    /* A reply that never comes fails the call instead of hanging it. */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

static bool dm_proxy_negotiate(DMProxy *p, Error **errp)
{
    VupHeader h = { .msg_id = p->next_id++, .command = VUP_CMD_VERSION };
    g_autofree void *buf = NULL;
    g_autofree char *accel = NULL;
    uint16_t major, minor;
    VupCaps ours, peer;
    char err[160];
    size_t len;
    VupMsg m;
    int ret;

    vup_caps_init_defaults(&ours);
    ours.max_msg_fds = p->fds_ok ? VUP_MAX_FDS : 0;
    ours.max_data_xfer_size = DM_PROXY_MAX_XFER;
    ours.dm_irq_messages = true;
    ours.dm_vm_clock = true;
    ours.dm_events = p->ops->event != NULL;
    ours.dm_controls = true;
    ours.dm_applied = true;
    /* Over TCP, doorbells without eventfds: kicks we send at once. */
    ours.dm_doorbells = true;
    ours.dm_vq_fetch = p->ops->vq_fetch;
    ours.dm_vq_push = p->ops->vq_fetch && p->ops->vq_push;
    ours.dm_dirty_pages = p->ops->dirty_pages;
    /* What the model may size itself to (a disk's queues). */
    ours.dm_vcpus = MIN(MACHINE(qdev_get_machine())->smp.cpus,
                        VUP_DM_VCPUS_MAX);
    /*
     * What an interrupt costs the guest, for the model to tune to: the
     * accelerator's name in lower case ("KVM" -> "kvm", "QTest"), as the
     * protocol has it (docs/protocol.md).
     */
    accel = g_ascii_strdown(current_accel_name(), -1);
    pstrcpy(ours.dm_accel, sizeof(ours.dm_accel), accel);
    /* A migration target may wait while the source drives the model. */
    ours.dm_standby = runstate_check(RUN_STATE_INMIGRATE);
    memcpy(ours.ids, p->ids, sizeof(ours.ids));
    ret = vup_version_build(VUP_VERSION_MAJOR, VUP_VERSION_MINOR, &ours,
                            &buf, &len);
    if (ret == 0) {
        ret = vup_stream_send_msg(&p->stream, &h, buf, len, NULL, 0);
    }
    if (ret == 0) {
        ret = vup_stream_recv_msg(&p->stream, &m,
                                  sizeof(VupHeader) + DM_PROXY_MAX_VERSION,
                                  0);
    }
    if (ret < 0) {
        if ((ret == -EPROTO || ret == -ECONNRESET) && p->tls) {
            error_setg(errp, "%s ended the TLS session (%s): is our "
                       "certificate signed by a CA it trusts?", p->server,
                       ret == -EPROTO && p->tls_error ? p->tls_error
                                                      : "closed");
        } else {
            error_setg(errp, "%s: VERSION failed: %s", p->server,
                       ret == -EAGAIN ? "no reply" :
                       ret == -EMSGSIZE ? "reply larger than 64 KiB" :
                       strerror(-ret));
        }
        return false;
    }
    ret = vup_check_reply(&m, &h);
    if (ret < 0) {
        if (ret == -EPERM) {
            error_setg(errp, "%s refused our identifiers: they do not match "
                       "the model's binding (vm-id, hypervisor-id, ...)",
                       p->server);
        } else if (ret == -EACCES) {
            error_setg(errp, "%s refused our access token (token-secret)",
                       p->server);
        } else if (ret == -EPROTONOSUPPORT) {
            error_setg(errp, "%s requires TLS: give the proxy tls-creds "
                       "(a tls-creds-x509 object, endpoint=client)",
                       p->server);
        } else if (ret == -EBUSY) {
            error_setg(errp, "%s is busy serving another client", p->server);
        } else {
            error_setg(errp, "%s refused the session: %s", p->server,
                       strerror(-ret));
        }
        vup_msg_clear(&m);
        return false;
    }
    ret = vup_version_parse(m.payload, m.payload_len, &major, &minor, &peer,
                            err, sizeof(err));
    vup_msg_clear(&m);
    if (ret < 0) {
        error_setg(errp, "%s: bad VERSION reply: %s", p->server, err);
        return false;
    }
    if (!p->fds_ok && !peer.dm_irq_messages) {
        error_setg(errp, "%s cannot send interrupts without file "
                   "descriptors (no dm_irq_messages)", p->server);
        return false;
    }
    if (major != VUP_VERSION_MAJOR || minor > VUP_VERSION_MINOR) {
        error_setg(errp, "%s answered vfio-user %u.%u to our %u.%u",
                   p->server, major, minor, VUP_VERSION_MAJOR,
                   VUP_VERSION_MINOR);
        return false;
    }
    vup_caps_negotiate(&ours, &peer, &p->caps);
    /* What we may send is bounded by what the server receives. */
    p->caps.max_msg_fds = peer.max_msg_fds;
    p->standby = p->caps.dm_standby;
    if (p->standby) {
        info_report("dm-proxy %s: %s serves another client (the migration "
                    "source): standing by", p->id, p->server);
    }
    return true;
}

/* Close the socket and its TLS session; p->lock held. */
void dm_proxy_close(DMProxy *p)
{
    vup_batch_clear(&p->posted);        /* for a connection now gone */
    if (p->fd >= 0) {
        qemu_set_fd_handler(p->fd, NULL, NULL, NULL);
        p->watching = false;
        dm_proxy_tls_end(p);
        close(p->fd);
        p->fd = -1;
    }
}

/* Connect and negotiate; on success the proxy is CONNECTED. */
static bool dm_proxy_connect(DMProxy *p, Error **errp)
{
    int fd = dm_proxy_connect_socket(p, errp);

    if (fd < 0) {
        return false;
    }
    /* Still DISCONNECTED: no other thread touches the socket yet. */
    WITH_QEMU_LOCK_GUARD(&p->lock) {
        p->fd = fd;
        p->stream = p->fds_ok ? VUP_STREAM_PLAIN(fd)
                              : vup_buffered_stream(&p->rbuf, fd);
        p->conn++;              /* replies confirm only its writes */
    }
    if ((p->tls_creds && !dm_proxy_tls_start(p, errp)) ||
        !dm_proxy_negotiate(p, errp)) {
        WITH_QEMU_LOCK_GUARD(&p->lock) {
            dm_proxy_close(p);
        }
        return false;
    }
    WITH_QEMU_LOCK_GUARD(&p->lock) {
        qatomic_set(&p->state, DM_PROXY_CONNECTED);
    }
    WITH_QEMU_LOCK_GUARD(&p->lock) {
        qemu_set_fd_handler(fd, dm_proxy_readable, NULL, p);
        p->watching = true;
    }
    trace_dm_proxy_connected(p->id, p->server);
    /* Before anything the device sends next (a standby: at activation). */
    dm_proxy_vm_clock_sync(p);
    return true;
}

/* ---- Faults ---- */

/* The stream is unusable.  Called with p->lock held, from any thread. */
void dm_proxy_fault(DMProxy *p, const char *why)
{
    if (p->state != DM_PROXY_CONNECTED) {
        return;
    }
    qatomic_set(&p->state, DM_PROXY_DISCONNECTED);
    p->ready = false;
    p->hold_until_ns = p->hold_ms ?
        qemu_clock_get_ns(QEMU_CLOCK_REALTIME) +
        (int64_t)p->hold_ms * SCALE_MS : 0;
    shutdown(p->fd, SHUT_RDWR);
    g_free(p->fault);
    p->fault = g_strdup(why);
    error_report("dm-proxy %s: lost %s: %s; device accesses fail until it "
                 "is back", p->id, p->server, why);
    qemu_bh_schedule(p->lost_bh);
}

static void dm_proxy_lost_bh(void *opaque)
{
    DMProxy *p = opaque;
    g_autofree char *why = NULL;

    WITH_QEMU_LOCK_GUARD(&p->lock) {
        dm_proxy_close(p);
        why = g_strdup(p->fault ? p->fault : "unknown");
    }
    qapi_event_send_remote_device_disconnected(p->id, p->server, why);
    if (p->ops->lost) {
        p->ops->lost(p->opaque, p);
    }
    p->backoff_ms = DM_PROXY_BACKOFF_MIN_MS;
    timer_mod(p->reconnect_timer,
              qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + p->backoff_ms);
}

void dm_proxy_reconnect_now(DMProxy *p)
{
    p->backoff_ms = DM_PROXY_BACKOFF_MIN_MS;
    timer_mod(p->reconnect_timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME));
}

static void dm_proxy_reconnect(void *opaque)
{
    DMProxy *p = opaque;
    Error *err = NULL;

    if (dm_proxy_connect(p, &err) &&
        (!p->ops->replay || p->ops->replay(p->opaque, p, &err)) &&
        dm_proxy_applied_resume(p, &err)) {
        WITH_QEMU_LOCK_GUARD(&p->lock) {
            if (p->state == DM_PROXY_CONNECTED) {
                p->ready = true;
                qemu_cond_broadcast(&p->back);  /* the held accesses */
            }
        }
        qatomic_inc(&p->reconnects);
        info_report("dm-proxy %s: reconnected to %s", p->id, p->server);
        qapi_event_send_remote_device_reconnected(p->id, p->server);
        return;
    }
    trace_dm_proxy_reconnect_failed(p->id, error_get_pretty(err));
    error_free(err);
    WITH_QEMU_LOCK_GUARD(&p->lock) {
        if (p->state == DM_PROXY_CONNECTED) {
            /* Connected, but the replay failed: start over. */
            dm_proxy_fault(p, "setup replay failed");
            return;
        }
    }
    p->backoff_ms = MIN(p->backoff_ms * 2, DM_PROXY_BACKOFF_MAX_MS);
    WITH_QEMU_LOCK_GUARD(&p->lock) {
        /* Within the hold a vCPU may be waiting: keep trying often. */
        if (p->hold_until_ns > qemu_clock_get_ns(QEMU_CLOCK_REALTIME)) {
            p->backoff_ms = MIN(p->backoff_ms, DM_PROXY_BACKOFF_HOLD_MS);
        }
    }
    timer_mod(p->reconnect_timer,
              qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + p->backoff_ms);
}

/* ---- Messages ---- */

static uint32_t dm_proxy_max_msg(DMProxy *p)
{
    return sizeof(VupHeader) + sizeof(VupDmaAccess) +
           p->caps.max_data_xfer_size;
}

/* A command from the server; p->lock held. */
static void dm_proxy_handle_request(DMProxy *p, VupMsg *m, int recv_ret)
{
    int ret = recv_ret < 0 ? -EINVAL : vup_check_command(m);
    const VupCommandInfo *info = vup_command_info(m->hdr.command);

    trace_dm_proxy_recv_request(p->id, vup_command_name(m->hdr.command),
                                m->hdr.msg_id, m->hdr.msg_size);
    if (ret == 0 && (!info || info->direction != VUP_DIR_SERVER_TO_CLIENT)) {
        ret = -EINVAL;
    }
    if (ret < 0) {
        dm_proxy_reply_error(p, m, -ret);
    } else if (m->hdr.command == VUP_CMD_DM_IRQ) {
        VupDmIrq irq;

        memcpy(&irq, m->payload, sizeof(irq));
        dm_proxy_irq_deliver(p, irq.index, irq.sub);
    } else if (m->hdr.command == VUP_CMD_DM_EVENT) {
        VupDmEvent ev;

        memcpy(&ev, m->payload, sizeof(ev));
        trace_dm_proxy_event(p->id, ev.type, ev.value);
        /* Only where offered; a posted message: nothing to answer. */
        if (p->caps.dm_events && !ev.reserved) {
            p->ops->event(p->opaque, ev.type, ev.value);
        }
    } else {
        p->ops->request(p->opaque, p, m);
    }
    vup_msg_clear(m);
}

void dm_proxy_irq_deliver(DMProxy *p, uint32_t index, uint32_t sub)
{
    /* Delivered from the main loop, where the lock order is safe. */
    if (index < ARRAY_SIZE(p->irq_pending) && sub < 64 && p->ops->irq) {
        qatomic_or(&p->irq_pending[index], 1ULL << sub);
        if (!p->irq_inline) {
            qemu_bh_schedule(p->irq_bh);
        }
    }
}

void dm_proxy_irq_raise(DMProxy *p)
{
    for (unsigned i = 0; i < ARRAY_SIZE(p->irq_pending); i++) {
        uint64_t bits = qatomic_xchg(&p->irq_pending[i], 0);

        while (bits) {
            unsigned sub = ctz64(bits);

            bits &= bits - 1;
            p->ops->irq(p->opaque, i, sub);
        }
    }
}

static void dm_proxy_irq_bh(void *opaque)
{
    DMProxy *p = opaque;

    if (!dm_proxy_irq_hold(p)) {
        dm_proxy_irq_raise(p);
    }
}

void dm_proxy_reply(DMProxy *p, const VupMsg *req, const void *payload,
                    size_t len)
{
    if (req->hdr.flags & VUP_FLAG_NO_REPLY) {
        return;
    }
    if (vup_stream_send_reply(&p->stream, &req->hdr, payload, len) < 0) {
        dm_proxy_fault(p, "cannot send a reply");
    }
}

void dm_proxy_reply_error(DMProxy *p, const VupMsg *req, int err)
{
    if (req->hdr.flags & VUP_FLAG_NO_REPLY) {
        return;
    }
    if (vup_stream_send_error(&p->stream, &req->hdr, err) < 0) {
        dm_proxy_fault(p, "cannot send a reply");
    }
}

/* The call's time is up: no reply within the timeout.  p->lock held. */
static void dm_proxy_timed_out(DMProxy *p)
{
    g_autofree char *why = g_strdup_printf("no reply within %u ms",
                                           p->timeout_ms);

    dm_proxy_fault(p, why);
    /* Its vCPU has waited long enough: no hold on top of the timeout. */
    p->hold_until_ns = 0;
}

/*
 * A vCPU's access failed because the model is lost: wait for it to come
 * back, at most until the hold taken at the loss ends (see DMProxy).
 * true: it is back, the access may be made again.  Never with the BQL
 * (the main loop reconnects) nor for a model handed over by migration.
 */
static bool dm_proxy_hold(DMProxy *p)
{
    QEMU_LOCK_GUARD(&p->lock);

    if (bql_locked() || p->released) {
        return false;
    }
    while (!p->ready && p->hold_until_ns) {
        int64_t left = p->hold_until_ns -
                       qemu_clock_get_ns(QEMU_CLOCK_REALTIME);

        if (left <= 0) {
            /* Later accesses of this outage fail at once. */
            p->hold_until_ns = 0;
            break;
        }
        trace_dm_proxy_hold(p->id, left / SCALE_MS);
        qemu_cond_timedwait(&p->back, &p->lock, DIV_ROUND_UP(left, SCALE_MS));
    }
    return p->ready;
}

/*
 * Wait until a message starts arriving (@ready: it has, says a spin) or
 * @deadline_ns (REALTIME) passes; false (and a fault) at the deadline.
 * One deadline for the whole call: what a model sends meanwhile
 * (requests, stray replies, a flood of them) does not extend it.
 * p->lock held.
 */
static bool dm_proxy_wait(DMProxy *p, int64_t deadline_ns, bool ready)
{
    struct pollfd pfd = { .fd = p->fd, .events = POLLIN };

    for (;;) {
        int64_t left = deadline_ns - qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
        int ret;

        if (left <= 0) {
            dm_proxy_timed_out(p);
            return false;
        }
        if (ready || vup_stream_pending(&p->stream)) {
            return true;
        }
        ret = poll(&pfd, 1, DIV_ROUND_UP(left, SCALE_MS));
        if (ret > 0) {
            return true;        /* data, EOF or an error: recv tells */
        }
        if (ret < 0 && errno != EINTR) {
            dm_proxy_fault(p, strerror(errno));
            return false;
        }
    }
}

/*
 * Receive one message; false (and a fault) if the stream failed.  With a
 * @deadline_ns (REALTIME, which is CLOCK_MONOTONIC here; 0: none) a
 * message whose bytes trickle in is given up at it, not after a socket
 * timeout per byte.
 */
static bool dm_proxy_recv(DMProxy *p, VupMsg *m, int *ret_recv,
                          int64_t deadline_ns)
{
    int ret;

    p->stream.deadline_ns = deadline_ns;
    ret = vup_stream_recv_msg(&p->stream, m, dm_proxy_max_msg(p),
                              p->fds_ok ? VUP_MAX_FDS : 0);
    p->stream.deadline_ns = 0;

    if (ret == -EAGAIN) {
        dm_proxy_timed_out(p);
        return false;
    }
    if (ret == -EPROTO && p->tls_error) {
        g_autofree char *why = g_strdup_printf("TLS: %s", p->tls_error);
        dm_proxy_fault(p, why);
        return false;
    }
    if (ret < 0 && ret != -EBADMSG) {
        dm_proxy_fault(p, ret == -ECONNRESET ? "connection closed"
                                              : strerror(-ret));
        return false;
    }
    *ret_recv = ret;
    return true;
}

/*
 * A call is about to read the socket: take the watch off (see DMProxy).
 * From any thread: the trapping vCPU does not hold the BQL (the BARs are
 * lockless), and AioContext handlers may be changed from any thread.
 * @now: QEMU_CLOCK_REALTIME, read by the caller.  p->lock held, which
 * orders us with the timer below.
 */
static void dm_proxy_quiet(DMProxy *p, int64_t now)
{
    qatomic_set(&p->last_call_ns, now);
    if (p->watching) {
        qemu_set_fd_handler(p->fd, NULL, NULL, NULL);
        p->watching = false;
        timer_mod(p->quiet_timer, now + DM_PROXY_QUIET_NS);
    }
}

/* Main loop: calls have stopped for a while, watch the socket again. */
static void dm_proxy_quiet_timer(void *opaque)
{
    DMProxy *p = opaque;
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    int64_t due = qatomic_read(&p->last_call_ns) + DM_PROXY_QUIET_NS;

    /* A call in progress (lock taken) is not quiet either. */
    if (qemu_mutex_trylock(&p->lock)) {
        timer_mod(p->quiet_timer, MAX(due, now + DM_PROXY_QUIET_NS));
        return;
    }
    /* What was read ahead while a drain found the lock taken: now. */
    if (p->state == DM_PROXY_CONNECTED && vup_stream_pending(&p->stream)) {
        qemu_bh_schedule(p->drain_bh);
    }
    if (due > now) {
        qemu_mutex_unlock(&p->lock);
        timer_mod(p->quiet_timer, due);
        return;
    }
    if (p->state == DM_PROXY_CONNECTED && !p->watching) {
        /* Level-triggered: what came meanwhile is seen at once. */
        qemu_set_fd_handler(p->fd, dm_proxy_readable, NULL, p);
        p->watching = true;
    }
    qemu_mutex_unlock(&p->lock);
}

static int dm_proxy_send(DMProxy *p, const VupHeader *h, const void *payload,
                         size_t len, const int *fds, unsigned nfds);

/*
 * Count a round trip of @ns in p->latency.  p->lock held: plain
 * increments, stored whole for QMP's unlocked reads.
 */
static void dm_proxy_latency_add(DMProxy *p, int64_t ns)
{
    /* Bucket i holds up to 2^i us: the first power of two >= ceil(us). */
    uint64_t us = ns > 0 ? DIV_ROUND_UP(ns, SCALE_US) : 0;
    unsigned i = us <= 1 ? 0 : MIN(64 - clz64(us - 1), DM_PROXY_LAT_BOUNDS);
    DMProxyLatency *l = &p->latency;

    qatomic_set(&l->buckets[i], qatomic_read(&l->buckets[i]) + 1);
    qatomic_set(&l->sum_ns, qatomic_read(&l->sum_ns) + MAX(ns, 0));
}

/*
 * Wait for the reply to @h until @deadline_ns, serving what the model
 * sends meanwhile.  p->lock held.
 */
static int dm_proxy_await(DMProxy *p, const VupHeader *h,
                          int64_t deadline_ns, VupMsg *reply)
{
    uint16_t cmd = h->command;
    int ret;

    for (;;) {
        VupMsg m;
        int recv_ret;

        /*
         * A short spin beats a cross-CPU wake-up (see libvup's msg.h);
         * then sleep until the deadline, which also bounds a message
         * whose bytes trickle in.
         */
        if (!dm_proxy_wait(p, deadline_ns,
                           vup_stream_spin_readable(&p->stream,
                                                    p->spin_ns)) ||
            !dm_proxy_recv(p, &m, &recv_ret, deadline_ns)) {
            qatomic_inc(&p->errors);
            return p->state == DM_PROXY_DISCONNECTED ? -ETIMEDOUT : -EPIPE;
        }
        if ((m.hdr.flags & VUP_FLAG_TYPE_MASK) != VUP_FLAG_TYPE_REPLY) {
            dm_proxy_handle_request(p, &m, recv_ret);
            continue;
        }
        if (m.hdr.msg_id != h->msg_id || m.hdr.command != cmd) {
            trace_dm_proxy_unexpected_reply(p->id, m.hdr.msg_id);
            vup_msg_clear(&m);
            continue;           /* toward the same deadline */
        }
        /* Handled, so everything before it on this connection too. */
        dm_proxy_unconfirmed_confirm(p, h->msg_id);
        ret = recv_ret < 0 ? -EINVAL : vup_check_reply(&m, h);
        trace_dm_proxy_recv_reply(p->id, vup_command_name(cmd), h->msg_id,
                                  ret);
        /* A model may refuse what is optional: no failed access. */
        if (ret < 0 && cmd != VUP_CMD_DEVICE_GET_REGION_IO_FDS) {
            qatomic_inc(&p->errors);
        }
        if (ret == 0 && reply) {
            *reply = m;
        } else {
            vup_msg_clear(&m);
        }
        if (vup_stream_pending(&p->stream)) {
            /* Read ahead (TLS, buffer): the fd handler would not see it. */
            qemu_bh_schedule(p->drain_bh);
        }
        return ret;
    }
}

int dm_proxy_call(DMProxy *p, uint16_t cmd, const void *payload, size_t len,
                  const int *fds, unsigned nfds, VupMsg *reply)
{
    QEMU_LOCK_GUARD(&p->lock);
    VupHeader h = { .command = cmd };
    int64_t start;
    int ret;

    if (p->state != DM_PROXY_CONNECTED) {
        qatomic_inc(&p->errors);
        return -ENOTCONN;
    }
    ret = dm_proxy_migration_gate(p, cmd, payload, reply != NULL);
    if (ret <= 0) {
        return ret;
    }
    h.msg_id = p->next_id++;
    qatomic_inc(&p->requests);
    /*
     * One clock read for the watch, the deadline and the round trip's
     * start: the histogram's read at the end costs no more than before.
     */
    start = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    dm_proxy_quiet(p, start);
    trace_dm_proxy_send(p->id, vup_command_name(cmd), h.msg_id, len, nfds);
    ret = dm_proxy_send(p, &h, payload, len, fds, nfds);
    if (ret == 0) {
        ret = dm_proxy_await(p, &h, start + (int64_t)p->timeout_ms * SCALE_MS,
                             reply);
    }
    /* Every request counted that waits: a failed one took its time too. */
    dm_proxy_latency_add(p, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - start);
    return ret;
}

int dm_proxy_post(DMProxy *p, uint16_t cmd, const void *payload, size_t len)
{
    QEMU_LOCK_GUARD(&p->lock);

    return dm_proxy_post_locked(p, cmd, payload, len, false);
}

int dm_proxy_post_locked(DMProxy *p, uint16_t cmd, const void *payload,
                         size_t len, bool now)
{
    VupHeader h = { .command = cmd, .flags = VUP_FLAG_NO_REPLY };
    int ret;

    if (p->state != DM_PROXY_CONNECTED) {
        qatomic_inc(&p->errors);
        return -ENOTCONN;
    }
    ret = dm_proxy_migration_gate(p, cmd, payload, false);
    if (ret <= 0) {
        return ret;
    }
    h.msg_id = p->next_id++;
    qatomic_inc(&p->requests);
    trace_dm_proxy_send(p->id, vup_command_name(cmd), h.msg_id, len, 0);
    /*
     * Kept until a reply confirms it; not a doorbell's kick (@now): a
     * model back from a loss looks at its rings anyway (docs/protocol.md,
     * "A lost link"), and kicks must not crowd out the writes that matter.
     */
    if (cmd == VUP_CMD_REGION_WRITE && !now) {
        dm_proxy_unconfirmed_add(p, h.msg_id, payload, len);
    }
    if (now || p->post_now) {
        return dm_proxy_send(p, &h, payload, len, NULL, 0);
    }
    if (vup_batch_add(&p->posted, &h, payload, len) == 0) {
        if (p->posted.count == 1) {
            qemu_event_set(&p->flush_ev);       /* the flusher's turn */
        }
        return 0;
    }
    /* Full (or too big to gather): what waits, then this, now. */
    return dm_proxy_send(p, &h, payload, len, NULL, 0);
}

/* A send failed: the stream is unusable.  -EPIPE; p->lock held. */
static int dm_proxy_send_failed(DMProxy *p)
{
    dm_proxy_fault(p, "cannot send");
    qatomic_inc(&p->errors);
    return -EPIPE;
}

int dm_proxy_flush_posted(DMProxy *p)
{
    if (p->posted.len &&
        vup_stream_send_batch(&p->stream, &p->posted) < 0) {
        return dm_proxy_send_failed(p);
    }
    return 0;
}

int dm_proxy_send_posted(DMProxy *p, uint16_t cmd, uint16_t msg_id,
                         const void *payload, size_t len)
{
    VupHeader h = { .msg_id = msg_id, .command = cmd,
                    .flags = VUP_FLAG_NO_REPLY };

    trace_dm_proxy_send(p->id, vup_command_name(cmd), msg_id, len, 0);
    return dm_proxy_send(p, &h, payload, len, NULL, 0);
}

/*
 * Send @h now, behind the posted commands waiting: in the same send when
 * it fits in their batch (no descriptors).  p->lock held.
 */
static int dm_proxy_send(DMProxy *p, const VupHeader *h, const void *payload,
                         size_t len, const int *fds, unsigned nfds)
{
    if (p->posted.len && !nfds &&
        vup_batch_add(&p->posted, h, payload, len) == 0) {
        return dm_proxy_flush_posted(p);
    }
    if (dm_proxy_flush_posted(p) < 0) {
        return -EPIPE;
    }
    if (vup_stream_send_msg(&p->stream, h, payload, len, fds, nfds) < 0) {
        return dm_proxy_send_failed(p);
    }
    return 0;
}

/* Posted commands go out from here when no call takes them first. */
static void *dm_proxy_flusher(void *opaque)
{
    DMProxy *p = opaque;

    for (;;) {
        qemu_event_wait(&p->flush_ev);
        qemu_event_reset(&p->flush_ev);
        WITH_QEMU_LOCK_GUARD(&p->lock) {
            if (p->flusher_quit) {
                return NULL;
            }
            if (p->state == DM_PROXY_CONNECTED) {
                dm_proxy_flush_posted(p);
            }
        }
    }
}

/*
 * A region read's reply holds what was asked: the access echoed (offset,
 * region, count) and exactly count bytes after it.
 */
static bool dm_proxy_read_reply_ok(const VupMsg *m, const VupRegionAccess *req)
{
    VupRegionAccess echo;

    if (m->payload_len != sizeof(*req) + req->count) {
        return false;
    }
    memcpy(&echo, m->payload, sizeof(echo));
    return echo.offset == req->offset && echo.region == req->region &&
           echo.count == req->count;
}

/*
 * The guest's accesses wait while a model that was lost comes back and
 * is set up again (its replay, the writes it lost sent again): none may
 * overtake them.  false: not back within the hold, the access fails.
 */
static bool dm_proxy_guest_may_access(DMProxy *p)
{
    return qatomic_read(&p->ready) || dm_proxy_hold(p);
}

uint64_t dm_proxy_region_read(DMProxy *p, uint32_t region, uint64_t addr,
                              unsigned size)
{
    VupRegionAccess req = { .offset = addr, .region = region,
                            .count = size };
    uint64_t val = 0;
    VupMsg m;
    int ret;

    if (!dm_proxy_guest_may_access(p)) {
        qatomic_inc(&p->errors);
        return MAKE_64BIT_MASK(0, size * 8);
    }
    dm_proxy_vm_clock_before_access(p);
    ret = dm_proxy_call(p, VUP_CMD_REGION_READ, &req, sizeof(req), NULL, 0,
                        &m);
    if (ret < 0 && !dm_proxy_connected(p) && dm_proxy_hold(p)) {
        /* The model that was lost is back: ask the new one. */
        ret = dm_proxy_call(p, VUP_CMD_REGION_READ, &req, sizeof(req), NULL,
                            0, &m);
    }
    dm_proxy_vm_clock_after_access(p);
    if (ret < 0) {
        return MAKE_64BIT_MASK(0, size * 8);
    }
    if (dm_proxy_read_reply_ok(&m, &req)) {
        memcpy(&val, m.payload + sizeof(req), size);
        val = le64_to_cpu(val);
    } else {
        /* The model's fault, not the guest's: a failed access. */
        qatomic_inc(&p->errors);
        trace_dm_proxy_bad_read_reply(p->id, region, addr, size,
                                      m.payload_len);
        val = MAKE_64BIT_MASK(0, size * 8);
    }
    vup_msg_clear(&m);
    return val;
}

void dm_proxy_region_write(DMProxy *p, uint32_t region, uint64_t addr,
                           uint64_t val, unsigned size, bool posted)
{
    struct QEMU_PACKED {
        VupRegionAccess req;
        uint64_t data;
    } msg = {
        .req = { .offset = addr, .region = region, .count = size },
        .data = cpu_to_le64(val),
    };
    size_t len = sizeof(msg.req) + size;

    if (!dm_proxy_guest_may_access(p)) {
        qatomic_inc(&p->errors);
        return;
    }
    /* Kept until confirmed: a full keep is confirmed by a call. */
    posted = posted && dm_proxy_unconfirmed_room(p);
    dm_proxy_vm_clock_before_access(p);
    if (qatomic_read(&p->ndoorbells) &&
        dm_proxy_doorbell_write(p, region, addr, val, size, &msg, len,
                                posted)) {
        return;
    }
    for (int tries = 0; tries < 2; tries++) {
        int ret = posted ? dm_proxy_post(p, VUP_CMD_REGION_WRITE, &msg, len)
                         : dm_proxy_call(p, VUP_CMD_REGION_WRITE, &msg, len,
                                         NULL, 0, NULL);

        /* Lost: once the model is back, the write goes to the new one. */
        if (ret >= 0 || dm_proxy_connected(p) || !dm_proxy_hold(p)) {
            break;
        }
    }
}

int dm_proxy_set_irqs(DMProxy *p, unsigned index, unsigned start,
                      unsigned count, const int *fds)
{
    VupIrqSet set = {
        .argsz = sizeof(set),
        .flags = (fds ? VUP_IRQ_SET_DATA_EVENTFD : VUP_IRQ_SET_DATA_NONE) |
                 VUP_IRQ_SET_ACTION_TRIGGER,
        .index = index,
        .start = start,
        .count = count,
    };

    if (fds && !p->fds_ok) {
        /* No descriptor can travel: the model sends DM_IRQ messages. */
        set.flags = VUP_IRQ_SET_DATA_DM_MESSAGE | VUP_IRQ_SET_ACTION_TRIGGER;
        fds = NULL;
    }

    return dm_proxy_call(p, VUP_CMD_DEVICE_SET_IRQS, &set, sizeof(set), fds,
                         fds ? count : 0, NULL);
}

void dm_proxy_unmask_irq(DMProxy *p, unsigned index, unsigned sub)
{
    VupIrqSet set = {
        .argsz = sizeof(set),
        .flags = VUP_IRQ_SET_DATA_NONE | VUP_IRQ_SET_ACTION_UNMASK,
        .index = index,
        .start = sub,
        .count = 1,
    };

    dm_proxy_post(p, VUP_CMD_DEVICE_SET_IRQS, &set, sizeof(set));
}

/* ---- Level-triggered lines ---- */

static void dm_proxy_line_event(EventNotifier *e)
{
    DMProxyLine *l = container_of(e, DMProxyLine, notifier);

    if (event_notifier_test_and_clear(e)) {
        trace_dm_proxy_line(l->proxy->id, l->index, 1);
        qatomic_set(&l->pending, true);
        qemu_irq_raise(l->irq);
    }
}

int dm_proxy_line_wire(DMProxyLine *l)
{
    int fd = event_notifier_get_fd(&l->notifier);

    return dm_proxy_set_irqs(l->proxy, l->index, 0, 1, &fd);
}

bool dm_proxy_line_init(DMProxyLine *l, DMProxy *p, unsigned index,
                        qemu_irq irq, Error **errp)
{
    *l = (DMProxyLine) { .proxy = p, .index = index, .irq = irq };
    if (event_notifier_init(&l->notifier, 0) < 0) {
        error_setg(errp, "no eventfd for the interrupt line");
        return false;
    }
    event_notifier_set_handler(&l->notifier, dm_proxy_line_event);
    l->wired = true;
    p->line = l;
    if (dm_proxy_line_wire(l) < 0) {
        error_setg(errp, "the model did not take our interrupt line");
        return false;
    }
    return true;
}

void dm_proxy_line_eoi(DMProxyLine *l)
{
    if (!qatomic_xchg(&l->pending, false)) {
        return;
    }
    {
        BQL_LOCK_GUARD();
        trace_dm_proxy_line(l->proxy->id, l->index, 0);
        qemu_irq_lower(l->irq);
    }
    dm_proxy_unmask_irq(l->proxy, l->index, 0);
}

void dm_proxy_line_drop(DMProxyLine *l)
{
    if (qatomic_xchg(&l->pending, false)) {
        qemu_irq_lower(l->irq);
    }
}

void dm_proxy_line_fire(DMProxyLine *l)
{
    if (l->wired) {
        event_notifier_set(&l->notifier);
    }
}

void dm_proxy_line_poll(DMProxy *p)
{
    if (p->line && p->line->wired) {
        dm_proxy_line_event(&p->line->notifier);
    }
}

void dm_proxy_line_cleanup(DMProxyLine *l)
{
    if (l->proxy && l->proxy->line == l) {
        l->proxy->line = NULL;
    }
    if (l->wired) {
        event_notifier_set_handler(&l->notifier, NULL);
        event_notifier_cleanup(&l->notifier);
        l->wired = false;
    }
}

/* Main loop: a message while no call is waiting (a server request). */
static void dm_proxy_readable(void *opaque)
{
    DMProxy *p = opaque;
    VupMsg m;
    int recv_ret;
    unsigned n = 0;

    if (qemu_mutex_trylock(&p->lock)) {
        /*
         * A call waiting for its reply reads what comes before it, but
         * the holder may only be sending (the flusher, a posted write):
         * what the stream read ahead (TCP's buffer, TLS), which no fd
         * event announces again, would wait for the next call, an
         * interrupt among it.  The quiet timer looks again shortly.
         */
        timer_mod_anticipate_ns(p->quiet_timer,
                                qemu_clock_get_ns(QEMU_CLOCK_REALTIME) +
                                DM_PROXY_QUIET_NS);
        return;
    }
    /*
     * What is ready, including what TLS has decrypted ahead; a model that
     * never stops sending does not keep the main loop here: after a
     * batch, come back later.
     */
    p->irq_inline = true;
    while (p->state == DM_PROXY_CONNECTED && vup_stream_readable(&p->stream)) {
        if (n++ == DM_PROXY_DRAIN_MAX) {
            qemu_bh_schedule(p->drain_bh);
            break;
        }
        if (!dm_proxy_recv(p, &m, &recv_ret, 0)) {
            break;
        }
        if ((m.hdr.flags & VUP_FLAG_TYPE_MASK) == VUP_FLAG_TYPE_REPLY) {
            trace_dm_proxy_unexpected_reply(p->id, m.hdr.msg_id);
            vup_msg_clear(&m);
        } else {
            dm_proxy_handle_request(p, &m, recv_ret);
        }
    }
    p->irq_inline = false;
    qemu_mutex_unlock(&p->lock);
    /* The bottom half's work, here: main loop, big lock, no p->lock. */
    dm_proxy_irq_bh(p);
}

/* ---- Life cycle ---- */

bool dm_proxy_connected(DMProxy *p)
{
    return qatomic_read(&p->state) == DM_PROXY_CONNECTED;
}

DMProxy *dm_proxy_find(const char *id)
{
    DMProxy *p;

    QLIST_FOREACH(p, &dm_proxies, next) {
        if (!strcmp(p->id, id)) {
            return p;
        }
    }
    return NULL;
}

bool dm_proxy_parse_server(const char *server, VupAddress *ret_addr,
                           Error **errp)
{
    char err[160];

    if (!server || !*server) {
        error_setg(errp, "'server' is required, e.g. server=unix:PATH");
        return false;
    }
    if (vup_address_parse(server, ret_addr, err, sizeof(err)) < 0) {
        error_setg(errp, "bad server: %s", err);
        return false;
    }
    return true;
}

/*
 * Copy what we present to the model, checking it: identifiers by
 * libvup's rule (the orchestrator's names and UUIDs pass), the token by
 * its length only (a secret may hold any byte).
 */
static bool dm_proxy_set_ids(DMProxy *p, const DMProxyIds *ids, Error **errp)
{
    static const char *const props[VUP_ID_COUNT] = {
        [VUP_ID_VM] = "vm-id",
        [VUP_ID_HYPERVISOR] = "hypervisor-id",
        [VUP_ID_CLIENT_PLATFORM] = "client-platform-id",
        [VUP_ID_DEVICE_MODEL] = "device-model-id",
        [VUP_ID_SERVER_PLATFORM] = "server-platform-id",
    };
    const char *vals[VUP_ID_COUNT] = {
        [VUP_ID_VM] = ids ? ids->vm : NULL,
        [VUP_ID_HYPERVISOR] = ids ? ids->hypervisor : NULL,
        [VUP_ID_CLIENT_PLATFORM] = ids ? ids->client_platform : NULL,
        [VUP_ID_DEVICE_MODEL] = ids ? ids->device_model : NULL,
        [VUP_ID_SERVER_PLATFORM] = ids ? ids->server_platform : NULL,
    };
    g_autofree char *token = NULL;

    if (ids && ids->token_secret) {
        token = qcrypto_secret_lookup_as_utf8(ids->token_secret, errp);
        if (!token) {
            return false;
        }
        vals[VUP_ID_TOKEN] = token;
    }
    for (int i = 0; i < VUP_ID_COUNT; i++) {
        if (i == VUP_ID_TOKEN && vals[i] && strlen(vals[i]) > VUP_ID_MAX) {
            error_setg(errp, "the access token is longer than %d bytes",
                       VUP_ID_MAX);
            return false;
        }
        if (i != VUP_ID_TOKEN && vals[i] && !vup_id_valid(vals[i])) {
            error_setg(errp, "bad %s '%s' (1 to %d of A-Z a-z 0-9 . _ -)",
                       props[i], vals[i], VUP_ID_MAX);
            return false;
        }
        pstrcpy(p->ids[i], sizeof(p->ids[i]), vals[i] ? vals[i] : "");
    }
    return true;
}

bool dm_proxy_init(DMProxy *p, const char *type, const char *id,
                   const char *server, uint32_t timeout_ms, uint32_t poll_us,
                   const DMProxyIds *ids, const DMProxyOps *ops,
                   void *opaque, Error **errp)
{
    memset(p, 0, sizeof(*p));
    p->fd = -1;
    if (!dm_proxy_set_ids(p, ids, errp)) {
        return false;
    }
    if (!dm_proxy_parse_server(server, &p->addr, errp)) {
        return false;
    }
    /* Descriptors (shared RAM, eventfds) travel on a UNIX socket only. */
    p->fds_ok = p->addr.kind == VUP_ADDRESS_UNIX;
    if (timeout_ms == 0) {
        error_setg(errp, "'timeout' must be at least 1 ms");
        return false;
    }
    if (ids->tcp_congestion) {
        char err[512];

        if (p->fds_ok) {
            error_setg(errp, "'tcp-congestion' is for a tcp: server");
            return false;
        }
        if (vup_tcp_congestion_check(ids->tcp_congestion, err,
                                     sizeof(err)) < 0) {
            error_setg(errp, "tcp-congestion: %s", err);
            return false;
        }
    }
    p->type = type;
    p->id = g_strdup(id);
    p->server = g_strdup(server);
    p->tcp_congestion = g_strdup(ids->tcp_congestion);
    p->timeout_ms = timeout_ms;
    p->spin_ns = (int64_t)poll_us * 1000;
    p->ops = ops;
    p->opaque = opaque;
    p->next_id = 1;
    qemu_mutex_init(&p->lock);
    qemu_cond_init(&p->back);
    qemu_event_init(&p->flush_ev, false);
    qemu_thread_create(&p->flusher, "dm-proxy-flush", dm_proxy_flusher, p,
                       QEMU_THREAD_JOINABLE);
    p->lost_bh = qemu_bh_new(dm_proxy_lost_bh, p);
    p->irq_bh = qemu_bh_new(dm_proxy_irq_bh, p);
    p->drain_bh = qemu_bh_new(dm_proxy_readable, p);
    p->reconnect_timer = timer_new_ms(QEMU_CLOCK_REALTIME,
                                      dm_proxy_reconnect, p);
    p->quiet_timer = timer_new_ns(QEMU_CLOCK_REALTIME, dm_proxy_quiet_timer,
                                  p);
    QLIST_INSERT_HEAD(&dm_proxies, p, next);
    dm_proxy_migration_init(p);
    dm_proxy_vm_clock_init(p);
    if (!dm_proxy_tls_setup(p, ids, errp)) {
        dm_proxy_cleanup(p);
        return false;
    }
    if (!p->fds_ok && !p->tls_creds) {
        warn_report("dm-proxy %s: %s is plain TCP, neither authenticated "
                    "nor encrypted: use it on trusted networks only", p->id,
                    server);
    }
    dm_proxy_unconfirmed_init(p);
    if (!dm_proxy_connect(p, errp) ||
        (!p->standby && !dm_proxy_applied_resume(p, errp))) {
        dm_proxy_cleanup(p);
        return false;
    }
    p->ready = true;            /* nothing to replay yet */
    return true;
}

void dm_proxy_cleanup(DMProxy *p)
{
    if (p->server) {
        /*
         * A vCPU may be in a lockless BAR access: let its call end, make
         * later ones fail at once and stop the flusher, before anything
         * is freed.
         */
        WITH_QEMU_LOCK_GUARD(&p->lock) {
            dm_proxy_close(p);
            qatomic_set(&p->state, DM_PROXY_DISCONNECTED);
            p->flusher_quit = true;
            /* A held access gives up: nothing will reconnect. */
            p->ready = false;
            p->hold_until_ns = 0;
            qemu_cond_broadcast(&p->back);
        }
        qemu_event_set(&p->flush_ev);
        qemu_thread_join(&p->flusher);
        qemu_event_destroy(&p->flush_ev);
    }
    if (p->reconnect_timer) {
        timer_free(p->reconnect_timer);
        p->reconnect_timer = NULL;
    }
    if (p->quiet_timer) {
        timer_free(p->quiet_timer);
        p->quiet_timer = NULL;
    }
    if (p->lost_bh) {
        qemu_bh_delete(p->lost_bh);
        p->lost_bh = NULL;
    }
    if (p->irq_bh) {
        qemu_bh_delete(p->irq_bh);
        p->irq_bh = NULL;
    }
    if (p->drain_bh) {
        qemu_bh_delete(p->drain_bh);
        p->drain_bh = NULL;
    }
    dm_proxy_irq_hold_cleanup(p);
    dm_proxy_tls_cleanup(p);
    dm_proxy_migration_cleanup(p);
    dm_proxy_vm_clock_cleanup(p);
    if (p->server) {
        /* p->lock stays usable: a late access finds it and fails. */
        QLIST_REMOVE(p, next);
    }
    g_free(p->fault);
    p->fault = NULL;
    memset(p->ids, 0, sizeof(p->ids));  /* the token too */
    g_free(p->id);
    g_free(p->server);
    g_free(p->tcp_congestion);
    p->id = p->server = NULL;
}

/* ---- QMP (main loop) ---- */

/*
 * The histogram as QMP gives it; its count is the sum of its buckets, so
 * that the two agree even while a call adds to them.
 */
static RemoteDeviceLatency *dm_proxy_latency_info(DMProxyLatency *l)
{
    RemoteDeviceLatency *info = g_new0(RemoteDeviceLatency, 1);
    uint64List **tail = &info->buckets;

    for (unsigned i = 0; i <= DM_PROXY_LAT_BOUNDS; i++) {
        uint64_t n = qatomic_read(&l->buckets[i]);

        info->count += n;
        QAPI_LIST_APPEND(tail, n);
    }
    info->sum_ns = qatomic_read(&l->sum_ns);
    return info;
}

RemoteDeviceInfoList *qmp_query_remote_devices(Error **errp)
{
    RemoteDeviceInfoList *head = NULL, **tail = &head;
    DMProxy *p;

    QLIST_FOREACH(p, &dm_proxies, next) {
        RemoteDeviceInfo *info = g_new0(RemoteDeviceInfo, 1);

        /*
         * Without p->lock, which a call holds until its reply or timeout:
         * the monitor answers while a vCPU waits for a model.  The names
         * are fixed while the proxy is listed.
         */
        info->id = g_strdup(p->id);
        info->type = g_strdup(p->type);
        info->server = g_strdup(p->server);
        info->state = qatomic_read(&p->state) == DM_PROXY_CONNECTED ?
                      REMOTE_DEVICE_STATE_CONNECTED :
                      REMOTE_DEVICE_STATE_DISCONNECTED;
        info->requests = qatomic_read(&p->requests);
        info->errors = qatomic_read(&p->errors);
        info->reconnects = qatomic_read(&p->reconnects);
        info->kicks = qatomic_read(&p->kicks);
        info->mapped = qatomic_read(&p->mapped);
        info->latency = dm_proxy_latency_info(&p->latency);
        /* A snapshot: the table changes only in the main loop, ours. */
        info->doorbells = p->ndoorbells;
        for (unsigned i = 0; i < p->ndoorbells; i++) {
            info->ioeventfds += p->doorbells[i].has_fd;
        }
        QAPI_LIST_APPEND(tail, info);
    }
    return head;
}
