/*
 * TLS under a proxy's vfio-user stream, the way QEMU's other TLS clients
 * do it: a tls-creds-x509 object (endpoint=client) gives the CA that
 * signs the server and our own certificate, which the server verifies.
 *
 * Threads: set-up and teardown run in the main loop; the stream ops run
 * with DMProxy.lock held, like every other use of the socket, so the
 * session never sees two threads at once.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/socket.h>
#include "qapi/error.h"
#include "qom/object.h"
#include "hw/remote-dm/dm-proxy.h"
#include "trace.h"

bool dm_proxy_tls_setup(DMProxy *p, const DMProxyIds *ids, Error **errp)
{
    Object *obj;
    QCryptoTLSCreds *creds;

    if (!ids || !ids->tls_creds) {
        if (ids && ids->tls_hostname) {
            error_setg(errp, "'tls-hostname' needs 'tls-creds'");
            return false;
        }
        return true;
    }
    if (p->fds_ok) {
        error_setg(errp, "'tls-creds' needs server=tcp:HOST:PORT");
        return false;
    }
    obj = object_resolve_path_component(object_get_objects_root(),
                                        ids->tls_creds);
    if (!obj) {
        error_setg(errp, "no TLS credentials object '%s' (-object "
                   "tls-creds-x509,id=%s,endpoint=client,dir=...)",
                   ids->tls_creds, ids->tls_creds);
        return false;
    }
    creds = (QCryptoTLSCreds *)object_dynamic_cast(obj,
                                                   TYPE_QCRYPTO_TLS_CREDS);
    if (!creds) {
        error_setg(errp, "'%s' is not TLS credentials", ids->tls_creds);
        return false;
    }
    if (!qcrypto_tls_creds_check_endpoint(creds,
                                          QCRYPTO_TLS_CREDS_ENDPOINT_CLIENT,
                                          errp)) {
        return false;
    }
    p->tls_creds = creds;
    object_ref(OBJECT(creds));
    p->tls_hostname = g_strdup(ids->tls_hostname ? ids->tls_hostname
                                                 : p->addr.host);
    return true;
}

void dm_proxy_tls_cleanup(DMProxy *p)
{
    if (p->tls_creds) {
        object_unref(OBJECT(p->tls_creds));
        p->tls_creds = NULL;
    }
    g_free(p->tls_hostname);
    p->tls_hostname = NULL;
    g_free(p->tls_error);
    p->tls_error = NULL;
}

/* ---- The session's transport: the blocking socket, with timeouts ---- */

static ssize_t dm_proxy_tls_push(const void *buf, size_t len, void *opaque,
                                 Error **errp)
{
    DMProxy *p = opaque;
    ssize_t n;

    do {
        n = send(p->fd, buf, len, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return QCRYPTO_TLS_SESSION_ERR_BLOCK;   /* SO_SNDTIMEO */
        }
        error_setg_errno(errp, errno, "cannot send");
        return -1;
    }
    return n;
}

static ssize_t dm_proxy_tls_pull(void *buf, size_t len, void *opaque,
                                 Error **errp)
{
    DMProxy *p = opaque;
    ssize_t n;

    /* Through p->rbuf: a record's header and body in one recv(). */
    do {
        n = vup_buffered_read(&p->rbuf, buf, len);
    } while (n == -EINTR);
    if (n < 0) {
        if (n == -EAGAIN || n == -EWOULDBLOCK) {
            return QCRYPTO_TLS_SESSION_ERR_BLOCK;   /* SO_RCVTIMEO */
        }
        error_setg_errno(errp, (int)-n, "cannot receive");
        return -1;
    }
    return n;
}

/* ---- The framing's view (vup/msg.h), errors kept for messages ---- */

static ssize_t dm_proxy_tls_failed(DMProxy *p, ssize_t ret, Error *err)
{
    if (ret == QCRYPTO_TLS_SESSION_ERR_BLOCK) {
        error_free(err);
        return -EAGAIN;
    }
    g_free(p->tls_error);
    p->tls_error = g_strdup(err ? error_get_pretty(err) : "TLS failure");
    error_free(err);
    return -EPROTO;
}

static ssize_t dm_proxy_tls_send(void *opaque, const void *buf, size_t len)
{
    DMProxy *p = opaque;
    Error *err = NULL;
    ssize_t n = qcrypto_tls_session_write(p->tls, buf, len, &err);

    return n >= 0 ? n : dm_proxy_tls_failed(p, n, err);
}

static ssize_t dm_proxy_tls_recv(void *opaque, void *buf, size_t len)
{
    DMProxy *p = opaque;
    Error *err = NULL;
    ssize_t n = qcrypto_tls_session_read(p->tls, buf, len, &err);

    if (n == QCRYPTO_TLS_SESSION_PREMATURE_TERMINATION) {
        error_free(err);
        return 0;               /* closed without a goodbye: EOF */
    }
    return n >= 0 ? n : dm_proxy_tls_failed(p, n, err);
}

static size_t dm_proxy_tls_pending(void *opaque)
{
    DMProxy *p = opaque;

    return qcrypto_tls_session_check_pending(p->tls) +
           vup_buffered_held(&p->rbuf);
}

static const VupStreamOps dm_proxy_tls_ops = {
    .send = dm_proxy_tls_send,
    .recv = dm_proxy_tls_recv,
    .pending = dm_proxy_tls_pending,
};

bool dm_proxy_tls_start(DMProxy *p, Error **errp)
{
    Error *err = NULL;
    int ret;

    p->tls = qcrypto_tls_session_new(p->tls_creds, p->tls_hostname, NULL,
                                     QCRYPTO_TLS_CREDS_ENDPOINT_CLIENT, errp);
    if (!p->tls) {
        return false;
    }
    vup_buffered_init(&p->rbuf, p->fd);
    qcrypto_tls_session_set_callbacks(p->tls, dm_proxy_tls_push,
                                      dm_proxy_tls_pull, p);
    /* A blocking socket: the handshake ends in one call or fails. */
    ret = qcrypto_tls_session_handshake(p->tls, &err);
    if (ret != QCRYPTO_TLS_HANDSHAKE_COMPLETE) {
        error_setg(errp, "TLS handshake with %s failed: %s", p->server,
                   err ? error_get_pretty(err) : "no answer in time");
        error_free(err);
        goto fail;
    }
    if (qcrypto_tls_session_check_credentials(p->tls, &err) < 0) {
        error_setg(errp, "%s: server certificate rejected: %s", p->server,
                   error_get_pretty(err));
        error_free(err);
        goto fail;
    }
    p->stream = (VupStream) { .fd = p->fd, .ops = &dm_proxy_tls_ops,
                              .opaque = p };
    trace_dm_proxy_tls(p->id, p->server, p->tls_hostname);
    return true;

fail:
    qcrypto_tls_session_free(p->tls);
    p->tls = NULL;
    return false;
}

void dm_proxy_tls_end(DMProxy *p)
{
    if (p->tls) {
        qcrypto_tls_session_free(p->tls);
        p->tls = NULL;
    }
}
