/*
 * TLS for dm-remote's TCP sessions, with GnuTLS (see tls.h).
 *
 * Runs in the server's single thread.  The handshake runs on a
 * non-blocking socket, a step each time the client's bytes arrive; after
 * it, every call blocks at most for the socket's send/receive timeouts.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "vup/buffered.h"
#include "tls.h"

/* A TLS record of type handshake starts with this byte. */
#define TLS_CONTENT_HANDSHAKE 0x16

struct DmTlsCreds {
    gnutls_certificate_credentials_t x509;
};

struct DmTlsSession {
    gnutls_session_t handle;
    VupBuffered raw;            /* records read whole, header and body */
    char peer[256];
};

/*
 * GnuTLS's transport: it asks for a record's 5-byte header, then for its
 * body; reading through a buffer makes that one recv() instead of two.
 */
static ssize_t tls_pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
    DmTlsSession *s = ptr;
    ssize_t n = vup_buffered_read(&s->raw, buf, len);

    if (n < 0) {
        gnutls_transport_set_errno(s->handle, (int)-n);
        return -1;
    }
    return n;
}

static ssize_t tls_push(gnutls_transport_ptr_t ptr, const void *buf,
                        size_t len)
{
    DmTlsSession *s = ptr;
    ssize_t n = send(s->raw.fd, buf, len, MSG_NOSIGNAL);

    if (n < 0) {
        gnutls_transport_set_errno(s->handle, errno);
    }
    return n;
}

/* The handshake's timeout: buffered bytes are ready at once. */
static int tls_pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
    DmTlsSession *s = ptr;
    struct pollfd p = { .fd = s->raw.fd, .events = POLLIN };

    if (vup_buffered_held(&s->raw)) {
        return 1;
    }
    return poll(&p, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
}

static char *creds_path(const char *dir, const char *file)
{
    char *p;

    if (asprintf(&p, "%s/%s", dir, file) < 0) {
        return NULL;
    }
    return p;
}

int dm_tls_creds_load(const char *dir, DmTlsCreds **ret_creds, char *err,
                      size_t errlen)
{
    DmTlsCreds *c = calloc(1, sizeof(*c));
    char *ca = creds_path(dir, "ca-cert.pem");
    char *crl = creds_path(dir, "ca-crl.pem");
    char *cert = creds_path(dir, "server-cert.pem");
    char *key = creds_path(dir, "server-key.pem");
    int ret = -ENOMEM;

    if (!c || !ca || !crl || !cert || !key ||
        gnutls_certificate_allocate_credentials(&c->x509) < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    ret = -EINVAL;
    if (access(ca, R_OK) < 0 || access(cert, R_OK) < 0 ||
        access(key, R_OK) < 0) {
        snprintf(err, errlen, "%s needs ca-cert.pem, server-cert.pem and "
                 "server-key.pem: %s", dir, strerror(errno));
        goto out;
    }
    if (gnutls_certificate_set_x509_trust_file(c->x509, ca,
                                               GNUTLS_X509_FMT_PEM) <= 0) {
        snprintf(err, errlen, "%s: no usable CA certificate", ca);
        goto out;
    }
    if (access(crl, R_OK) == 0 &&
        gnutls_certificate_set_x509_crl_file(c->x509, crl,
                                             GNUTLS_X509_FMT_PEM) < 0) {
        snprintf(err, errlen, "%s: unusable revocation list", crl);
        goto out;
    }
    ret = gnutls_certificate_set_x509_key_file(c->x509, cert, key,
                                               GNUTLS_X509_FMT_PEM);
    if (ret < 0) {
        snprintf(err, errlen, "%s, %s: %s", cert, key, gnutls_strerror(ret));
        ret = -EINVAL;
        goto out;
    }
    gnutls_certificate_set_known_dh_params(c->x509, GNUTLS_SEC_PARAM_MEDIUM);
    *ret_creds = c;
    c = NULL;
    ret = 0;
out:
    dm_tls_creds_free(c);
    free(ca);
    free(crl);
    free(cert);
    free(key);
    return ret;
}

void dm_tls_creds_free(DmTlsCreds *creds)
{
    if (creds) {
        if (creds->x509) {
            gnutls_certificate_free_credentials(creds->x509);
        }
        free(creds);
    }
}

/* Record the subject of the client's (already verified) certificate. */
static void session_note_peer(DmTlsSession *s)
{
    unsigned n = 0;
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(s->handle, &n);
    gnutls_x509_crt_t crt;
    size_t len = sizeof(s->peer);

    snprintf(s->peer, sizeof(s->peer), "(unknown)");
    if (n == 0 || gnutls_x509_crt_init(&crt) < 0) {
        return;
    }
    if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) == 0) {
        gnutls_x509_crt_get_dn(crt, s->peer, &len);
    }
    gnutls_x509_crt_deinit(crt);
}

int dm_tls_session_new(DmTlsCreds *creds, int fd, DmTlsSession **ret_session,
                       char *err, size_t errlen)
{
    DmTlsSession *s = calloc(1, sizeof(*s));

    /* GNUTLS_NONBLOCK: never wait in tls_pull_timeout, come back later. */
    if (!s || gnutls_init(&s->handle, GNUTLS_SERVER | GNUTLS_NONBLOCK) < 0) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    gnutls_set_default_priority(s->handle);
    gnutls_credentials_set(s->handle, GNUTLS_CRD_CERTIFICATE, creds->x509);
    /* Verification of the client: required, checked in the handshake. */
    gnutls_certificate_server_set_request(s->handle, GNUTLS_CERT_REQUIRE);
    gnutls_session_set_verify_cert(s->handle, NULL, 0);
    vup_buffered_init(&s->raw, fd);
    gnutls_transport_set_ptr(s->handle, s);
    gnutls_transport_set_pull_function(s->handle, tls_pull);
    gnutls_transport_set_push_function(s->handle, tls_push);
    gnutls_transport_set_pull_timeout_function(s->handle, tls_pull_timeout);
    *ret_session = s;
    return 0;
}

int dm_tls_session_handshake(DmTlsSession *s, bool *ret_want_write,
                             char *err, size_t errlen)
{
    int ret;

    do {
        ret = gnutls_handshake(s->handle);
    } while (ret < 0 && ret != GNUTLS_E_AGAIN && !gnutls_error_is_fatal(ret));
    if (ret == GNUTLS_E_AGAIN) {
        *ret_want_write = gnutls_record_get_direction(s->handle) == 1;
        return -EAGAIN;
    }
    if (ret < 0) {
        unsigned status = gnutls_session_get_verify_cert_status(s->handle);
        gnutls_datum_t why = { 0 };

        gnutls_alert_send_appropriate(s->handle, ret);
        if (ret == GNUTLS_E_NO_CERTIFICATE_FOUND ||
            ret == GNUTLS_E_CERTIFICATE_REQUIRED) {
            snprintf(err, errlen, "the client presented no certificate "
                     "signed by our CA");
        } else if (ret == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR && status &&
            gnutls_certificate_verification_status_print(
                status, GNUTLS_CRT_X509, &why, 0) == 0) {
            snprintf(err, errlen, "client certificate rejected: %s",
                     why.data);
            gnutls_free(why.data);
        } else {
            snprintf(err, errlen, "%s", gnutls_strerror(ret));
        }
        return -EACCES;
    }
    session_note_peer(s);
    return 0;
}

static ssize_t tls_send(void *opaque, const void *buf, size_t len)
{
    DmTlsSession *s = opaque;
    ssize_t n = gnutls_record_send(s->handle, buf, len);

    if (n >= 0) {
        return n;
    }
    return n == GNUTLS_E_AGAIN ? -EAGAIN :
           n == GNUTLS_E_INTERRUPTED ? -EINTR : -EIO;
}

static ssize_t tls_recv(void *opaque, void *buf, size_t len)
{
    DmTlsSession *s = opaque;
    ssize_t n = gnutls_record_recv(s->handle, buf, len);

    if (n >= 0) {
        return n;
    }
    switch (n) {
    case GNUTLS_E_PREMATURE_TERMINATION:
        return 0;               /* closed without a goodbye: EOF */
    case GNUTLS_E_AGAIN:
        return -EAGAIN;
    case GNUTLS_E_INTERRUPTED:
        return -EINTR;
    default:
        return -EPROTO;
    }
}

static size_t tls_pending(void *opaque)
{
    DmTlsSession *s = opaque;

    return gnutls_record_check_pending(s->handle) +
           vup_buffered_held(&s->raw);
}

static const VupStreamOps tls_stream_ops = {
    .send = tls_send,
    .recv = tls_recv,
    .pending = tls_pending,
};

VupStream dm_tls_session_stream(DmTlsSession *session)
{
    return (VupStream) { .fd = session->raw.fd, .ops = &tls_stream_ops,
                         .opaque = session };
}

const char *dm_tls_session_peer(DmTlsSession *session)
{
    return session->peer;
}

void dm_tls_session_free(DmTlsSession *session)
{
    if (session) {
        /* GNUTLS_SHUT_WR: send our close_notify, do not wait for theirs. */
        gnutls_bye(session->handle, GNUTLS_SHUT_WR);
        gnutls_deinit(session->handle);
        free(session);
    }
}

int dm_tls_peek_handshake(int fd)
{
    unsigned char b;
    ssize_t n;

    do {
        n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
    if (n == 0) {
        return -ECONNRESET;
    }
    return b == TLS_CONTENT_HANDSHAKE;
}
