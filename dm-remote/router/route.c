/*
 * The owner server's router (see route.h).
 *
 * One thread per routed session, so that a slow I/O server never holds
 * up the others: it reads the client's VERSION (within one deadline for
 * the whole of it, counted from the accept), picks the route, connects,
 * forwards the VERSION as it came and then copies bytes both ways.  At
 * most max_sessions sessions at a time (more are closed at once), and an
 * accept that fails for want of descriptors or memory pauses accepting
 * for a moment instead of spinning on a listening socket that stays
 * readable.  On UNIX sockets descriptors are carried along with the
 * bytes they came with (DMA_MAP's memory, SET_IRQS' eventfds).  Refusals
 * are vfio-user error replies to the VERSION: EHOSTUNREACH (no route for
 * this device model), EPERM (the route is bound to another VM).
 *
 * The table is the --route options plus, with --routes-file, the lines
 * of that file, read again by the accept loop for every new session (a
 * few hundred bytes: cheaper than being clever, and a route written just
 * before a connection is always seen by it).  A session keeps the table
 * it started with.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vup/msg.h"
#include "log.h"
#include "route.h"

#define ROUTE_VERSION_MAX   (sizeof(VupHeader) + 65536)
#define ROUTE_CHUNK         65536
#define ROUTE_MIN(a, b)     ((a) < (b) ? (a) : (b))
/* Out of descriptors or memory: stop accepting this long. */
#define ROUTE_ACCEPT_PAUSE_MS   250
/* A session's stack: it copies through a per-thread buffer, not this. */
#define ROUTE_THREAD_STACK  (512 * 1024)

/* Bounds the I/O server's half of the hand-over (connect done, sends). */
static const struct timeval route_io_timeout = { .tv_sec = 5 };

typedef struct RouteConn {
    int client;
    RouteTable *table;          /* a reference */
    int64_t deadline_ms;        /* CLOCK_MONOTONIC: VERSION due by then */
    atomic_uint *sessions;      /* the router's count, ours to decrement */
    const char *tcp_congestion; /* for the I/O server's leg; NULL: default */
} RouteConn;

static int64_t route_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * INT64_C(1000) + ts.tv_nsec / 1000000;
}

/*
 * The client's VERSION, gathered without blocking until @deadline_ms:
 * a client that trickles its bytes gains nothing by it.  0, or -errno
 * (-ETIMEDOUT past the deadline).
 */
static int route_recv_version(int fd, VupMsg *ret_msg, int64_t deadline_ms)
{
    VupStream st = VUP_STREAM_PLAIN(fd);
    VupMsgReader r;
    int ret;

    vup_reader_init(&r);
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int64_t left;

        ret = vup_stream_recv_some(&st, &r, ROUTE_VERSION_MAX, 0);
        if (ret != -EAGAIN) {
            break;
        }
        left = deadline_ms - route_now_ms();
        if (left <= 0) {
            vup_reader_clear(&r);
            return -ETIMEDOUT;
        }
        if (poll(&p, 1, (int)ROUTE_MIN(left, INT32_MAX)) < 0 &&
            errno != EINTR) {
            ret = -errno;
            vup_reader_clear(&r);
            return ret;
        }
    }
    if (ret < 0) {
        vup_reader_clear(&r);   /* -EBADMSG too: no fds are taken here */
        return ret;
    }
    *ret_msg = r.msg;
    return 0;
}

/* Copy what @from has (with any descriptors) to @to: false at EOF/error. */
static bool route_copy(int from, int to)
{
    static __thread char buf[ROUTE_CHUNK];
    union {
        char buf[CMSG_SPACE(VUP_MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } ctrl;
    struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = ctrl.buf, .msg_controllen = sizeof(ctrl.buf),
    };
    struct cmsghdr *cm;
    int fds[VUP_MAX_FDS];
    unsigned nfds = 0;
    ssize_t n = recvmsg(from, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    bool ok = n > 0 && !(mh.msg_flags & MSG_CTRUNC);

    for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
            unsigned k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

            memcpy(fds + nfds, CMSG_DATA(cm),
                   ROUTE_MIN(k, VUP_MAX_FDS - nfds) * sizeof(int));
            nfds += ROUTE_MIN(k, VUP_MAX_FDS - nfds);
        }
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        ok = true;
        n = 0;
    }
    /* Descriptors go with the first byte of what came with them. */
    mh = (struct msghdr) { .msg_iov = &iov, .msg_iovlen = 1 };
    if (nfds) {
        mh.msg_control = ctrl.buf;
        mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
    }
    for (ssize_t done = 0; ok && done < n;) {
        ssize_t w;

        iov.iov_base = buf + done;
        iov.iov_len = n - done;
        w = sendmsg(to, &mh, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            ok = false;
            break;
        }
        done += w;
        mh.msg_control = NULL;
        mh.msg_controllen = 0;
    }
    for (unsigned i = 0; i < nfds; i++) {
        close(fds[i]);
    }
    return ok;
}

static void route_splice(int a, int b)
{
    for (;;) {
        struct pollfd p[2] = {
            { .fd = a, .events = POLLIN },
            { .fd = b, .events = POLLIN },
        };

        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        if ((p[0].revents && !route_copy(a, b)) ||
            (p[1].revents && !route_copy(b, a))) {
            return;
        }
    }
}

static void *route_conn_thread(void *opaque)
{
    RouteConn *c = opaque;
    const DmRoute *r = NULL;
    uint16_t major, minor;
    char err[256];
    VupCaps caps;
    VupMsg m;
    int ret, server = -1, refuse = 0;

    setsockopt(c->client, SOL_SOCKET, SO_SNDTIMEO, &route_io_timeout,
               sizeof(route_io_timeout));
    ret = route_recv_version(c->client, &m, c->deadline_ms);
    if (ret < 0) {
        dm_warn("route: no VERSION from the client: %s", strerror(-ret));
        goto out;
    }
    if (m.hdr.command != VUP_CMD_VERSION ||
        vup_version_parse(m.payload, m.payload_len, &major, &minor, &caps,
                          err, sizeof(err)) < 0) {
        refuse = EINVAL;
    } else if ((r = route_find(c->table, &caps, &refuse)) != NULL) {
        server = dm_address_connect(&r->target, c->tcp_congestion, err,
                                    sizeof(err));
        if (server < 0) {
            dm_warn("route: %s", err);
            refuse = EHOSTUNREACH;
        }
    }
    if (refuse) {
        vup_send_error(c->client, &m.hdr, refuse);
        vup_msg_clear(&m);
        goto out;
    }
    setsockopt(server, SOL_SOCKET, SO_SNDTIMEO, &route_io_timeout,
               sizeof(route_io_timeout));
    ret = vup_send_msg(server, &m.hdr, m.payload, m.payload_len, NULL, 0);
    if (r->target.kind == DM_ADDRESS_UNIX) {
        dm_info("route: device model '%s' of vm '%s' -> unix:%s",
                caps.ids[VUP_ID_DEVICE_MODEL], caps.ids[VUP_ID_VM],
                r->target.path);
    } else {
        dm_info("route: device model '%s' of vm '%s' -> tcp:%s:%s",
                caps.ids[VUP_ID_DEVICE_MODEL], caps.ids[VUP_ID_VM],
                r->target.host, r->target.port);
    }
    vup_msg_clear(&m);
    if (ret == 0) {
        /* From here on, silence is the peers' business: no timeout. */
        struct timeval none = { 0 };

        setsockopt(c->client, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
        setsockopt(server, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
        route_splice(c->client, server);
    }
out:
    if (server >= 0) {
        close(server);
    }
    close(c->client);
    route_table_unref(c->table);
    atomic_fetch_sub(c->sessions, 1);
    free(c);
    return NULL;
}

/* accept() failures that say "not now" rather than "this client". */
static bool route_accept_starved(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS ||
           err == ENOMEM;
}

int dm_route_run(const DmAddress *listen, const DmRoute *routes,
                 unsigned nroutes, const char *routes_file,
                 const DmRouteLimits *limits)
{
    RouteSource src = {
        .fixed = routes, .nfixed = nroutes, .path = routes_file,
    };
    static atomic_uint sessions;
    int64_t paused_until = 0;
    bool starved_logged = false, full_logged = false;
    char err[256];
    sigset_t mask;
    int lfd, sfd, status = 0;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    lfd = dm_address_listen(listen, err, sizeof(err));
    if (lfd < 0 || sfd < 0) {
        dm_error("%s", lfd < 0 ? err : "signalfd failed");
        return 1;
    }
    src.table = route_table_new(routes, nroutes, NULL, 0);
    if (!src.table) {
        dm_error("out of memory");
        return 1;
    }
    route_source_refresh(&src);
    dm_info("routing %u route(s)%s%s on %s%s", src.table->n,
            routes_file ? " and those of " : "",
            routes_file ? routes_file : "",
            listen->kind == DM_ADDRESS_UNIX ? "unix:" : "tcp:",
            listen->kind == DM_ADDRESS_UNIX ? listen->path : listen->host);
    for (;;) {
        struct pollfd p[2] = {
            { .fd = sfd, .events = POLLIN },
            { .fd = lfd, .events = POLLIN },
        };
        int64_t now = route_now_ms();
        /* While paused, the listening socket is left alone. */
        bool paused = now < paused_until;
        RouteConn *c;
        pthread_attr_t attr;
        pthread_t t;
        int fd;

        if (poll(p, paused ? 1 : 2, paused ? (int)(paused_until - now) : -1)
            < 0 && errno != EINTR) {
            status = 1;
            break;
        }
        if (p[0].revents) {
            dm_info("stopping");
            break;
        }
        if (paused || !p[1].revents) {
            continue;
        }
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (route_accept_starved(errno)) {
                if (!starved_logged) {
                    dm_warn("route: accept: %m; pausing new sessions for "
                            "%d ms at a time until it passes",
                            ROUTE_ACCEPT_PAUSE_MS);
                    starved_logged = true;
                }
                paused_until = route_now_ms() + ROUTE_ACCEPT_PAUSE_MS;
            }
            continue;
        }
        starved_logged = false;
        if (atomic_load(&sessions) >= limits->max_sessions) {
            if (!full_logged) {
                dm_warn("route: %u sessions already, refusing new ones "
                        "until one ends (--max-sessions)",
                        limits->max_sessions);
                full_logged = true;
            }
            close(fd);
            continue;
        }
        full_logged = false;
        if (listen->kind == DM_ADDRESS_TCP) {
            dm_address_tune_tcp(fd, limits->tcp_congestion);
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        route_source_refresh(&src);
        *c = (RouteConn) { .client = fd,
                           .table = route_table_ref(src.table),
                           .deadline_ms = route_now_ms() +
                                          limits->hello_timeout_ms,
                           .sessions = &sessions,
                           .tcp_congestion = limits->tcp_congestion };
        atomic_fetch_add(&sessions, 1);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, ROUTE_THREAD_STACK);
        if (pthread_create(&t, &attr, route_conn_thread, c) != 0) {
            dm_warn("route: cannot start a thread, dropping a client");
            atomic_fetch_sub(&sessions, 1);
            close(fd);
            route_table_unref(c->table);
            free(c);
        }
        pthread_attr_destroy(&attr);
    }
    close(lfd);
    close(sfd);
    dm_address_cleanup(listen);
    route_table_unref(src.table);
    free(src.seen);
    return status;
}
