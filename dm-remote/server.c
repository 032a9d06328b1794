/*
 * The device-model server.
 *
 * Everything runs in one thread, in the event loop: the listening
 * socket, the client's socket, refusals of extra clients, the model's
 * timers and the signals that stop us.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vup/msg.h"
#include "log.h"
#include "server.h"

#define REFUSE_TIMEOUT_NS   (2LL * 1000 * 1000 * 1000)

typedef struct DmServer {
    const DmServerConfig *cfg;
    DmLoop *loop;
    DmDevice dev;
    int listen_fd;
    int signal_fd;
    DmSession *session;
    DmSession *standby;         /* a second client, e.g. a migration target */
    DmTlsCreds *tls;            /* TLS required when set */
} DmServer;

/* An extra client, waiting for its first message to be refused. */
typedef struct DmRefusal {
    DmServer *srv;
    int fd;
    DmTimer timeout;
} DmRefusal;

static void refusal_free(DmRefusal *r)
{
    dm_loop_del_fd(r->srv->loop, r->fd);
    dm_timer_del(&r->timeout);
    close(r->fd);
    free(r);
}

static void refusal_timeout(void *opaque)
{
    refusal_free(opaque);
}

static void refusal_readable(void *opaque, int fd, short revents)
{
    DmRefusal *r = opaque;
    VupMsg m;
    int ret = vup_recv_msg(fd, &m, sizeof(VupHeader) + 4096, VUP_MAX_FDS);

    if (ret == 0 || ret == -EBADMSG) {
        vup_send_error(fd, &m.hdr, EBUSY);
        vup_msg_clear(&m);
    }
    dm_info("refused a second client: the device is busy");
    refusal_free(r);
}

static void client_gone(DmServer *srv, DmSession *s)
{
    dm_info("%sclient disconnected (%llu requests, %llu errors, "
            "%llu DMA messages)", s->standby ? "standby " : "",
            (unsigned long long)s->stats.requests,
            (unsigned long long)s->stats.errors,
            (unsigned long long)s->stats.dma_messages);
    dm_loop_del_fd(srv->loop, s->sock);
    if (s == srv->standby) {
        srv->standby = NULL;
    } else {
        srv->session = NULL;
    }
    dm_session_free(s);
}

/* The session (active or standby) on @fd. */
static DmSession *client_session(DmServer *srv, int fd)
{
    return srv->session && srv->session->sock == fd ? srv->session
                                                    : srv->standby;
}

/*
 * Requests already in the session's stream buffer (read along with a DMA
 * reply, say) wait for nobody on poll(): serve them.
 */
static bool client_pending(void *opaque, int fd)
{
    DmSession *s = client_session(opaque, fd);

    return s && vup_stream_pending(&s->stream) > 0;
}

static void client_readable(void *opaque, int fd, short revents)
{
    DmServer *srv = opaque;
    DmSession *s = client_session(srv, fd);

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
    } while (vup_stream_spin_readable(&s->stream, srv->cfg->spin_ns));
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
 * not refused as a second one.
 */
static void reap_hung_up_client(DmServer *srv)
{
    struct pollfd p = { .fd = srv->session->sock, .events = POLLRDHUP };

    if (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP))) {
        while (dm_session_handle_one(srv->session)) {
            continue;
        }
        client_gone(srv, srv->session);
    }
}

static void listen_readable(void *opaque, int fd, short revents)
{
    DmServer *srv = opaque;
    int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    DmSession *s;

    if (c < 0) {
        dm_warn("accept: %m, ignoring");
        return;
    }
    if (srv->session) {
        reap_hung_up_client(srv);
    }
    if (srv->session && srv->standby) {
        /* Reply EBUSY to its first message (bounded wait), then close. */
        DmRefusal *r = calloc(1, sizeof(*r));

        if (!r || dm_loop_add_fd(srv->loop, c, POLLIN, refusal_readable,
                                 r) < 0) {
            free(r);
            close(c);
            return;
        }
        r->srv = srv;
        r->fd = c;
        dm_timer_init(&r->timeout, srv->loop, refusal_timeout, r);
        dm_timer_mod(&r->timeout, REFUSE_TIMEOUT_NS);
        return;
    }
    if (srv->cfg->listen.kind == DM_ADDRESS_TCP) {
        dm_address_tune_tcp(c);
    }
    /* Busy: the new client may wait as a standby (see session.h). */
    s = dm_session_new(&srv->dev, c, srv->cfg->dma_layout,
                       srv->cfg->listen.kind == DM_ADDRESS_UNIX,
                       &srv->cfg->binding, srv->session != NULL);
    if (!s) {
        dm_error("cannot serve a new client: out of resources");
        close(c);
        return;
    }
    s->activate = standby_activate;
    s->owner = srv;
    if (srv->tls) {
        char err[512];

        if (dm_session_start_tls(s, srv->tls, err, sizeof(err)) < 0) {
            dm_warn("TLS: %s; closing the connection", err);
            dm_session_free(s);
            return;
        }
    }
    if (dm_loop_add_fd(srv->loop, c, POLLIN, client_readable, srv) < 0) {
        dm_error("cannot serve a new client: out of resources");
        dm_session_free(s);
        return;
    }
    dm_loop_set_pending(srv->loop, c, client_pending);
    if (s->standby) {
        srv->standby = s;
    } else {
        srv->session = s;
    }
}

static void signal_readable(void *opaque, int fd, short revents)
{
    DmServer *srv = opaque;
    struct signalfd_siginfo si;

    if (read(fd, &si, sizeof(si)) == sizeof(si)) {
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
    sigprocmask(SIG_BLOCK, &mask, NULL);
    srv.signal_fd = signalfd(-1, &mask, SFD_CLOEXEC);
    srv.loop = dm_loop_new();
    if (srv.signal_fd < 0 || !srv.loop) {
        dm_error("cannot set up the event loop: %m");
        goto out;
    }

    ret = dm_device_realize(&srv.dev, cfg->model, srv.loop,
                            &cfg->model_args);
    if (ret < 0) {
        dm_error("model %s failed to start: %s", cfg->model->name,
                 strerror(-ret));
        goto out;
    }
    if (cfg->tls_creds &&
        dm_tls_creds_load(cfg->tls_creds, &srv.tls, err, sizeof(err)) < 0) {
        dm_error("TLS credentials: %s", err);
        goto out_dev;
    }
    srv.listen_fd = dm_address_listen(&cfg->listen, err, sizeof(err));
    if (srv.listen_fd < 0) {
        dm_error("%s", err);
        goto out_dev;
    }
    dm_loop_add_fd(srv.loop, srv.signal_fd, POLLIN, signal_readable, &srv);
    dm_loop_add_fd(srv.loop, srv.listen_fd, POLLIN, listen_readable, &srv);
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

    if (srv.session) {
        dm_session_free(srv.session);
    }
    if (srv.standby) {
        dm_session_free(srv.standby);
    }
    close(srv.listen_fd);
    dm_address_cleanup(&cfg->listen);
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
