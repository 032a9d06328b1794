/*
 * The device-model server.
 *
 * Everything runs in one thread, in the event loop: the listening
 * socket, the clients' sockets, the model's timers and the signals that
 * stop us.  Nothing a new client does (or fails to do) blocks it: TLS
 * handshakes run a step at a time, and a client that has not sent
 * VERSION within cfg->hello_timeout_ns is dropped, so that a stray
 * connection cannot hold the device.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdint.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vup/msg.h"
#include "log.h"
#include "server.h"

/* Connections not yet past VERSION (or their TLS handshake) at a time. */
#define DM_MAX_PENDING 8

/*
 * Where a pending connection comes from, to share the pending slots
 * fairly: its IPv4 address, its IPv6 /64 (one host can hold a whole /64),
 * or its uid on a UNIX socket.
 */
typedef struct DmPeer {
    uint8_t key[1 + 8];         /* family, then the address part */
} DmPeer;

typedef struct DmServer {
    const DmServerConfig *cfg;
    DmLoop *loop;
    DmDevice dev;
    int listen_fd;
    int signal_fd;
    DmSession *session;         /* the device's client */
    DmSession *standby;         /* a second client, e.g. a migration target */
    /* Clients before VERSION: it decides which of the above they get. */
    DmSession *pending[DM_MAX_PENDING];
    DmPeer pending_peer[DM_MAX_PENDING];
    DmTimer hello;              /* drops clients that never said VERSION */
    DmTlsCreds *tls;            /* TLS required when set */
    DmPollHook flush;           /* posted messages out before each wait */
} DmServer;

/* The slot that holds @s. */
static DmSession **client_slot(DmServer *srv, DmSession *s)
{
    if (srv->session == s) {
        return &srv->session;
    }
    if (srv->standby == s) {
        return &srv->standby;
    }
    for (unsigned i = 0; i < DM_MAX_PENDING; i++) {
        if (srv->pending[i] == s) {
            return &srv->pending[i];
        }
    }
    return NULL;
}

static void client_gone(DmServer *srv, DmSession *s)
{
    if (s->versioned) {
        dm_info("%sclient disconnected (%llu requests, %llu errors, "
                "%llu bytes of dirty pages, %llu DMA messages)",
                s->standby ? "standby " : "",
                (unsigned long long)s->stats.requests,
                (unsigned long long)s->stats.errors,
                (unsigned long long)s->stats.dirty_bytes,
                (unsigned long long)s->stats.dma_messages);
    }
    dm_loop_del_fd(srv->loop, s->sock);
    *client_slot(srv, s) = NULL;
    dm_session_free(s);
}

/*
 * The hello deadline: drop every client that has not finished VERSION
 * within hello_timeout_ns of its connection, then wait for the next.
 */
static void hello_timeout(void *opaque)
{
    DmServer *srv = opaque;
    int64_t now = dm_clock_ns(), next = INT64_MAX;
    int64_t limit = srv->cfg->hello_timeout_ns;

    for (unsigned i = 0; i < DM_MAX_PENDING; i++) {
        DmSession *s = srv->pending[i];

        if (!s) {
            continue;
        }
        if (now - s->accepted_ns >= limit) {
            dm_warn("a client sent no VERSION within %lld s%s; closing its "
                    "connection", (long long)(limit / 1000000000),
                    s->greeting ? " (TLS handshake unfinished)" : "");
            client_gone(srv, s);
        } else {
            int64_t due = s->accepted_ns + limit;

            next = due < next ? due : next;
        }
    }
    if (next != INT64_MAX) {
        dm_timer_mod(&srv->hello, next - now);
    }
}

/*
 * Requests already in the session's stream buffer (read along with a DMA
 * reply, say) wait for nobody on poll(): serve them.  A session whose
 * stream failed outside a message's handling (a DMA reply that never
 * came to a kick by eventfd, a completion's interrupt that could not be
 * sent) is closed at once: its client may send nothing more (doorbells
 * and interrupts by eventfd), and only the close tells it to reconnect
 * to the queues parked meanwhile.
 */
static bool client_pending(void *opaque, int fd)
{
    DmSession *s = opaque;

    return s->broken || vup_stream_pending(&s->stream) > 0 ||
           dm_session_has_deferred(s);
}

/* A step of a client's TLS handshake; false once it is gone. */
static bool client_greet(DmServer *srv, DmSession *s)
{
    bool want_write;
    char err[512];
    int ret = dm_session_greet(s, srv->tls, &want_write, err, sizeof(err));

    if (ret == -EAGAIN) {
        dm_loop_set_events(srv->loop, s->sock, want_write ? POLLOUT : POLLIN);
        return false;
    }
    if (ret < 0) {
        dm_warn("TLS: %s; closing the connection", err);
        client_gone(srv, s);
        return false;
    }
    dm_loop_set_events(srv->loop, s->sock, POLLIN);
    return vup_stream_readable(&s->stream);
}

/* Each client's watch has its session as opaque: no lookup per event. */
static void client_readable(void *opaque, int fd, short revents)
{
    DmSession *s = opaque;
    DmServer *srv = s->owner;

    if (s->broken) {
        client_gone(srv, s);    /* see client_pending */
        return;
    }
    if (s->greeting && !client_greet(srv, s)) {
        return;                 /* more to come, or gone */
    }
    /*
     * Serve from a tight loop: after each reply, poll briefly for the
     * client's next request before going back to the event loop (timers
     * and other sockets wait at most the spin budget).
     */
    do {
        if (!dm_session_handle_one(s)) {
            client_gone(srv, s);
            return;
        }
        /* Not the device's client: one step per event, no spinning. */
    } while (!s->standby &&
             (dm_session_has_deferred(s) ||
              (dm_session_flush(s) == 0 &&
               vup_stream_spin_readable(&s->stream, srv->cfg->spin_ns))));
}

/*
 * Before the loop waits: what this round posted (a DMA write, a used
 * ring's update, an interrupt), in one send per client.  A client whose
 * send failed is closed next round (client_pending), without waiting.
 */
static void flush_prepare(void *opaque, DmPollHook *h, int *timeout_ms)
{
    DmServer *srv = opaque;
    DmSession *clients[] = { srv->session, srv->standby };

    for (unsigned i = 0; i < G_N_ELEMENTS(clients); i++) {
        if (clients[i] && dm_session_flush(clients[i]) < 0) {
            *timeout_ms = 0;
        }
    }
}

static void flush_dispatch(void *opaque, DmPollHook *h, bool error)
{
}

/* DM_ACTIVATE from the standby client: it gets the device once free. */
static int standby_activate(void *owner, DmSession *s)
{
    DmServer *srv = owner;

    if (srv->session) {
        return -EBUSY;
    }
    srv->session = s;
    srv->standby = NULL;
    dm_session_promote(s);
    dm_info("the standby client is now active");
    return 0;
}

/*
 * Has the current client hung up, with us not yet told by poll()?  Then
 * finish its last messages now, so that a client reconnecting at once is
 * not refused as a second one.  A session whose stream failed (a DMA
 * reply that never came: the link dropped) is as good as gone too; its
 * client reconnecting is this one.
 */
static void reap_hung_up_client(DmServer *srv)
{
    struct pollfd p = { .fd = srv->session->sock, .events = POLLRDHUP };

    if (srv->session->broken) {
        client_gone(srv, srv->session);
    } else if (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP))) {
        while (dm_session_handle_one(srv->session)) {
            continue;
        }
        client_gone(srv, srv->session);
    }
}

/* VERSION from a pending client: see DmSession.claim. */
static int client_claim(void *owner, DmSession *s, bool can_wait)
{
    DmServer *srv = owner;
    DmSession **from = client_slot(srv, s);

    if (srv->session) {
        reap_hung_up_client(srv);
    }
    if (!srv->session) {
        srv->session = s;
        dm_session_promote(s);
    } else if (can_wait && !srv->standby) {
        srv->standby = s;
    } else {
        return -EBUSY;
    }
    *from = NULL;
    return 0;
}

static DmPeer peer_of(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    DmPeer p = { { 0 } };

    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) {
        return p;
    }
    p.key[0] = ss.ss_family;
    if (ss.ss_family == AF_INET) {
        memcpy(p.key + 1, &((struct sockaddr_in *)&ss)->sin_addr, 4);
    } else if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;

        if (IN6_IS_ADDR_V4MAPPED(a)) {
            p.key[0] = AF_INET;
            memcpy(p.key + 1, a->s6_addr + 12, 4);
        } else {
            memcpy(p.key + 1, a->s6_addr, 8);
        }
    } else if (ss.ss_family == AF_UNIX) {
        struct ucred cred;
        socklen_t clen = sizeof(cred);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0) {
            memcpy(p.key + 1, &cred.uid, sizeof(cred.uid));
        }
    }
    return p;
}

/*
 * Every pending slot is taken: free one by closing the oldest connection
 * of the peer that holds the most of them.  A flood of idle connections
 * from one address (or uid) then only ever evicts its own, and a client
 * from elsewhere (the one the device is bound to) always gets a slot,
 * and with the VERSION it sends at once, the device.  Within one peer,
 * the oldest goes: a real client finishes VERSION in milliseconds.
 */
static DmSession **evict_pending(DmServer *srv)
{
    unsigned victim = 0, victim_n = 0;

    for (unsigned i = 0; i < DM_MAX_PENDING; i++) {
        unsigned n = 0;

        for (unsigned j = 0; j < DM_MAX_PENDING; j++) {
            n += !memcmp(&srv->pending_peer[i], &srv->pending_peer[j],
                         sizeof(DmPeer));
        }
        if (n > victim_n || (n == victim_n &&
            srv->pending[i]->accepted_ns < srv->pending[victim]->accepted_ns)) {
            victim = i;
            victim_n = n;
        }
    }
    dm_warn("%d connections have not finished VERSION: closing the oldest "
            "of the peer that holds %u of them", DM_MAX_PENDING, victim_n);
    client_gone(srv, srv->pending[victim]);
    return &srv->pending[victim];
}

static void listen_readable(void *opaque, int fd, short revents)
{
    DmServer *srv = opaque;
    int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    DmSession **slot = NULL, *s;

    if (c < 0) {
        dm_warn("accept: %m, ignoring");
        return;
    }
    for (unsigned i = 0; i < DM_MAX_PENDING && !slot; i++) {
        slot = srv->pending[i] ? NULL : &srv->pending[i];
    }
    if (!slot) {
        slot = evict_pending(srv);
    }
    if (srv->cfg->listen.kind == DM_ADDRESS_TCP) {
        dm_address_tune_tcp(c, srv->cfg->tcp_congestion);
    }
    s = dm_session_new(&srv->dev, c, srv->cfg->dma_layout,
                       srv->cfg->listen.kind == DM_ADDRESS_UNIX,
                       &srv->cfg->binding);
    if (!s) {
        dm_error("cannot serve a new client: out of resources");
        close(c);
        return;
    }
    s->claim = client_claim;
    s->activate = standby_activate;
    s->owner = srv;
    if (srv->tls) {
        dm_session_require_tls(s);
    }
    if (dm_loop_add_fd(srv->loop, c, POLLIN, client_readable, s) < 0) {
        dm_error("cannot serve a new client: out of resources");
        dm_session_free(s);
        return;
    }
    dm_loop_set_pending(srv->loop, c, client_pending);
    *slot = s;
    srv->pending_peer[slot - srv->pending] = peer_of(c);
    if (!dm_timer_pending(&srv->hello)) {
        dm_timer_mod(&srv->hello, srv->cfg->hello_timeout_ns);
    }
}

static void signal_readable(void *opaque, int fd, short revents)
{
    DmServer *srv = opaque;
    struct signalfd_siginfo si;

    if (read(fd, &si, sizeof(si)) != sizeof(si)) {
        return;
    }
    if (si.ssi_signo == SIGUSR1) {
        /* Asked for: printed even under --quiet. */
        DmLogLevel level = dm_log_level;

        dm_log_level = level > DM_LOG_INFO ? level : DM_LOG_INFO;
        dm_device_dump(&srv->dev);
        dm_log_level = level;
    } else {
        dm_info("%s received, stopping", strsignal(si.ssi_signo));
        dm_loop_quit(srv->loop, 0);
    }
}

int dm_server_run(const DmServerConfig *cfg)
{
    DmServer srv = { .cfg = cfg, .listen_fd = -1, .signal_fd = -1 };
    char err[256];
    sigset_t mask;
    int ret, status = 1;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGUSR1);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    srv.signal_fd = signalfd(-1, &mask, SFD_CLOEXEC);
    srv.loop = dm_loop_new();
    if (srv.signal_fd < 0 || !srv.loop) {
        dm_error("cannot set up the event loop: %m");
        goto out;
    }

    if (cfg->state_file && access(cfg->state_file, F_OK) < 0) {
        /*
         * A fresh start: no journal of an earlier device either, nor its
         * record of what a client's messages did to it.
         */
        static const char *const kept[] = { "mem", "applied" };

        for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
            char *path = dm_persist_path(cfg->state_file, kept[i]);

            if (path) {
                unlink(path);
            }
            free(path);
        }
    }
    ret = dm_device_realize(&srv.dev, cfg->model, srv.loop,
                            &cfg->model_args);
    if (ret < 0) {
        dm_error("model %s failed to start: %s", cfg->model->name,
                 strerror(-ret));
        goto out;
    }
    if (cfg->state_file && access(cfg->state_file, F_OK) == 0) {
        if (dm_device_load_file(&srv.dev, cfg->state_file, err,
                                sizeof(err)) < 0) {
            dm_error("%s", err);
            goto out_dev;
        }
        dm_info("state of %s loaded from %s", cfg->model->name,
                cfg->state_file);
    }
    if (cfg->tls_creds &&
        dm_tls_creds_load(cfg->tls_creds, &srv.tls, err, sizeof(err)) < 0) {
        dm_error("TLS credentials: %s", err);
        goto out_dev;
    }
    srv.listen_fd = dm_address_listen(&cfg->listen, err, sizeof(err));
    if (srv.listen_fd < 0) {
        dm_error("%s", err);
        if (srv.listen_fd == -EADDRINUSE &&
            cfg->listen.kind == DM_ADDRESS_TCP) {
            status = DM_EXIT_ADDR_IN_USE;
        }
        goto out_dev;
    }
    dm_timer_init(&srv.hello, srv.loop, hello_timeout, &srv);
    dm_loop_add_fd(srv.loop, srv.signal_fd, POLLIN, signal_readable, &srv);
    dm_loop_add_fd(srv.loop, srv.listen_fd, POLLIN, listen_readable, &srv);
    dm_poll_hook_add(&srv.flush, srv.loop, flush_prepare, flush_dispatch,
                     &srv);
    if (cfg->listen.kind == DM_ADDRESS_UNIX) {
        dm_info("serving model %s on unix:%s", cfg->model->name,
                cfg->listen.path);
    } else if (srv.tls) {
        dm_info("serving model %s on tcp:%s:%s with TLS (client "
                "certificates verified)", cfg->model->name,
                cfg->listen.host, cfg->listen.port);
    } else {
        dm_warn("serving model %s on tcp:%s:%s in the clear: use it on "
                "trusted networks only", cfg->model->name, cfg->listen.host,
                cfg->listen.port);
    }

    ret = dm_loop_run(srv.loop);
    status = ret < 0 ? 1 : ret;
    dm_poll_hook_del(&srv.flush);

    dm_timer_del(&srv.hello);
    dm_session_free(srv.session);
    dm_session_free(srv.standby);
    for (unsigned i = 0; i < DM_MAX_PENDING; i++) {
        dm_session_free(srv.pending[i]);
    }
    close(srv.listen_fd);
    dm_address_cleanup(&cfg->listen);
    if (cfg->state_file) {
        if (dm_device_save_file(&srv.dev, cfg->state_file, err,
                                sizeof(err)) < 0) {
            dm_error("%s", err);
            status = 1;
        } else {
            dm_info("state of %s saved to %s", cfg->model->name,
                    cfg->state_file);
        }
    }
out_dev:
    dm_tls_creds_free(srv.tls);
    dm_device_unrealize(&srv.dev);
out:
    if (srv.signal_fd >= 0) {
        close(srv.signal_fd);
    }
    dm_loop_free(srv.loop);
    return status;
}
