/*
 * The owner server's router (see route.h).
 *
 * One thread per routed session, so that a slow I/O server never holds
 * up the others: it reads the client's VERSION (bounded), picks the
 * route, connects, forwards the VERSION as it came and then copies bytes
 * both ways.  On UNIX sockets descriptors are carried along with the
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vup/msg.h"
#include "log.h"
#include "route-table.h"

#define ROUTE_VERSION_MAX   (sizeof(VupHeader) + 65536)
#define ROUTE_CHUNK         65536
#define ROUTE_MIN(a, b)     ((a) < (b) ? (a) : (b))

static const struct timeval route_io_timeout = { .tv_sec = 5 };

typedef struct RouteConn {
    int client;
    RouteTable *table;          /* a reference */
} RouteConn;

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

    setsockopt(c->client, SOL_SOCKET, SO_RCVTIMEO, &route_io_timeout,
               sizeof(route_io_timeout));
    ret = vup_recv_msg(c->client, &m, ROUTE_VERSION_MAX, 0);
    if (ret < 0) {
        dm_warn("route: no VERSION from the client: %s", strerror(-ret));
        goto out;
    }
    if (m.hdr.command != VUP_CMD_VERSION ||
        vup_version_parse(m.payload, m.payload_len, &major, &minor, &caps,
                          err, sizeof(err)) < 0) {
        refuse = EINVAL;
    } else if ((r = route_find(c->table, &caps, &refuse)) != NULL) {
        server = dm_address_connect(&r->target, err, sizeof(err));
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

        setsockopt(c->client, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
        route_splice(c->client, server);
    }
out:
    if (server >= 0) {
        close(server);
    }
    close(c->client);
    route_table_unref(c->table);
    free(c);
    return NULL;
}

int dm_route_run(const DmAddress *listen, const DmRoute *routes,
                 unsigned nroutes, const char *routes_file)
{
    RouteSource src = {
        .fixed = routes, .nfixed = nroutes, .path = routes_file,
    };
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
            { .fd = lfd, .events = POLLIN },
            { .fd = sfd, .events = POLLIN },
        };
        RouteConn *c;
        pthread_attr_t attr;
        pthread_t t;
        int fd;

        if (poll(p, 2, -1) < 0 && errno != EINTR) {
            status = 1;
            break;
        }
        if (p[1].revents) {
            dm_info("stopping");
            break;
        }
        if (!p[0].revents) {
            continue;
        }
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            continue;
        }
        if (listen->kind == DM_ADDRESS_TCP) {
            dm_address_tune_tcp(fd);
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        route_source_refresh(&src);
        *c = (RouteConn) { .client = fd,
                           .table = route_table_ref(src.table) };
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, route_conn_thread, c) != 0) {
            dm_warn("route: cannot start a thread, dropping a client");
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
