/*
 * libsoup over TLS with both ends verified (see soup-tls.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "soup-tls.h"

gboolean dm_soup_tls_creds_load(const char *dir, const char *role,
                                DmSoupTlsCreds *ret, GError **errp)
{
    g_autofree char *ca = g_build_filename(dir, "ca-cert.pem", NULL);
    g_autofree char *cert_name = g_strdup_printf("%s-cert.pem", role);
    g_autofree char *key_name = g_strdup_printf("%s-key.pem", role);
    g_autofree char *cert = g_build_filename(dir, cert_name, NULL);
    g_autofree char *key = g_build_filename(dir, key_name, NULL);
    g_autoptr(GError) err = NULL;

    memset(ret, 0, sizeof(*ret));
    if (!g_tls_backend_supports_tls(g_tls_backend_get_default())) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                    "GIO has no TLS backend (install glib-networking)");
        return FALSE;
    }
    ret->ca = g_tls_file_database_new(ca, &err);
    if (!ret->ca) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "%s: %s", ca, err->message);
        return FALSE;
    }
    ret->cert = g_tls_certificate_new_from_files(cert, key, &err);
    if (!ret->cert) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "%s or %s: %s", cert, key, err->message);
        dm_soup_tls_creds_clear(ret);
        return FALSE;
    }
    return TRUE;
}

void dm_soup_tls_creds_clear(DmSoupTlsCreds *creds)
{
    g_clear_object(&creds->cert);
    g_clear_object(&creds->ca);
}

/*
 * Server side.  libsoup runs these on the server's main context, the
 * handshake included, so a slow client holds up no one.
 */

/* Where refusals are reported. */
typedef struct SoupTlsLog {
    DmSoupTlsLogFn fn;
    gpointer opaque;
} SoupTlsLog;

static void soup_tls_log_free(gpointer data, GClosure *closure)
{
    g_free(data);
}

/*
 * GIO verifies a client's certificate chain against our CA but leaves the
 * verdict to the application: accept only a chain with no error at all.
 */
static gboolean soup_tls_accept_certificate(SoupServerMessage *msg,
                                            GTlsCertificate *cert,
                                            GTlsCertificateFlags errors,
                                            gpointer opaque)
{
    SoupTlsLog *log = opaque;
    GSocketAddress *peer;
    g_autofree char *who = NULL;
    g_autofree char *line = NULL;

    if (!errors) {
        return TRUE;
    }
    peer = soup_server_message_get_remote_address(msg);
    who = peer ? g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(peer)) :
          g_strdup("a client");
    line = g_strdup_printf("refused %s: its TLS certificate is not signed "
                           "by our CA (GTlsCertificateFlags 0x%x)", who,
                           errors);
    log->fn(line, log->opaque);
    return FALSE;
}

/*
 * Each connection's first message decides on the TLS handshake.  The
 * message gets its own copy of @log: it may outlive the server's handler.
 */
static void soup_tls_request_started(SoupServer *soup, SoupServerMessage *msg,
                                     gpointer opaque)
{
    g_signal_connect_data(msg, "accept-certificate",
                          G_CALLBACK(soup_tls_accept_certificate),
                          g_memdup2(opaque, sizeof(SoupTlsLog)),
                          soup_tls_log_free, 0);
}

SoupServerListenOptions dm_soup_tls_server_setup(SoupServer *soup,
                                                 const DmSoupTlsCreds *creds,
                                                 DmSoupTlsLogFn log,
                                                 gpointer opaque)
{
    SoupTlsLog *l = g_new(SoupTlsLog, 1);

    l->fn = log;
    l->opaque = opaque;
    soup_server_set_tls_certificate(soup, creds->cert);
    soup_server_set_tls_database(soup, creds->ca);
    soup_server_set_tls_auth_mode(soup, G_TLS_AUTHENTICATION_REQUIRED);
    g_signal_connect_data(soup, "request-started",
                          G_CALLBACK(soup_tls_request_started), l,
                          soup_tls_log_free, 0);
    return SOUP_SERVER_LISTEN_HTTPS;
}

/*
 * Client side.  The calls may block (dmctl, the orchestrator's worker
 * thread); a session is used by one thread at a time.
 */

SoupSession *dm_soup_tls_session_new(GSocketConnectable *peer,
                                     const DmSoupTlsCreds *creds,
                                     const char *user_agent,
                                     guint timeout_s)
{
    /*
     * GIO takes the connectable as the TLS server identity: the server's
     * certificate must name the host of @peer, not the URI's label.
     */
    return soup_session_new_with_options("remote-connectable", peer,
                                         "user-agent", user_agent,
                                         "timeout", timeout_s,
                                         "tls-database",
                                         creds ? creds->ca : NULL,
                                         NULL);
}

/* What a client message went through, for dm_soup_tls_explain(). */
#define SOUP_TLS_REFUSED "dm-soup-tls-refused"
#define SOUP_TLS_STEP "dm-soup-tls-step"

/*
 * Called only for a server certificate GIO found fault with: refuse it,
 * and remember why.
 */
static gboolean soup_tls_refuse_server(SoupMessage *msg,
                                       GTlsCertificate *cert,
                                       GTlsCertificateFlags errors,
                                       gpointer opaque)
{
    if (!errors) {
        errors = G_TLS_CERTIFICATE_GENERIC_ERROR;
    }
    g_object_set_data(G_OBJECT(msg), SOUP_TLS_REFUSED,
                      GUINT_TO_POINTER(errors));
    return FALSE;
}

/* Hand @cert to the TLS connection about to shake hands. */
static void soup_tls_give_cert(SoupMessage *msg, GSocketClientEvent event,
                               GIOStream *conn, gpointer cert)
{
    if (event == G_SOCKET_CLIENT_TLS_HANDSHAKING && G_IS_TLS_CONNECTION(conn)) {
        g_tls_connection_set_certificate(G_TLS_CONNECTION(conn), cert);
    }
}

void dm_soup_tls_message_set_cert(SoupMessage *msg, GTlsCertificate *cert)
{
    g_signal_connect_data(msg, "network-event",
                          G_CALLBACK(soup_tls_give_cert), g_object_ref(cert),
                          (GClosureNotify)(void (*)(void))g_object_unref, 0);
}

/* Remember how far the connection got: connected, then handshaked. */
static void soup_tls_network_event(SoupMessage *msg, GSocketClientEvent event,
                                   GIOStream *conn, gpointer opaque)
{
    if (event == G_SOCKET_CLIENT_CONNECTED ||
        event == G_SOCKET_CLIENT_TLS_HANDSHAKED) {
        g_object_set_data(G_OBJECT(msg), SOUP_TLS_STEP,
                          GUINT_TO_POINTER(event));
    }
}

static char *soup_tls_flags_str(guint errors)
{
    static const struct {
        GTlsCertificateFlags flag;
        const char *why;
    } reasons[] = {
        { G_TLS_CERTIFICATE_UNKNOWN_CA, "not signed by our CA" },
        { G_TLS_CERTIFICATE_BAD_IDENTITY, "not issued for this address" },
        { G_TLS_CERTIFICATE_NOT_ACTIVATED, "not valid yet" },
        { G_TLS_CERTIFICATE_EXPIRED, "expired" },
        { G_TLS_CERTIFICATE_REVOKED, "revoked" },
        { G_TLS_CERTIFICATE_INSECURE, "of an insecure algorithm" },
    };
    GString *s = g_string_new(NULL);
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(reasons); i++) {
        if (errors & reasons[i].flag) {
            g_string_append_printf(s, "%s%s", s->len ? ", " : "",
                                   reasons[i].why);
        }
    }
    if (!s->len) {
        g_string_append(s, "invalid");
    }
    return g_string_free(s, FALSE);
}

char *dm_soup_tls_explain(SoupMessage *msg, const GError *err)
{
    GObject *o = G_OBJECT(msg);
    guint refused = GPOINTER_TO_UINT(g_object_get_data(o, SOUP_TLS_REFUSED));
    guint step = GPOINTER_TO_UINT(g_object_get_data(o, SOUP_TLS_STEP));
    g_autofree char *flags = NULL;

    if (refused) {
        flags = soup_tls_flags_str(refused);
        return g_strdup_printf("its TLS certificate is refused: %s", flags);
    }
    if (step == G_SOCKET_CLIENT_CONNECTED) {
        return g_strdup_printf("no TLS handshake (does it serve TLS, and "
                               "does it accept our certificate?): %s",
                               err->message);
    }
    /*
     * Under TLS 1.3 the server checks our certificate after our side of
     * the handshake is done: a refusal is a connection dropped unanswered.
     */
    if (step == G_SOCKET_CLIENT_TLS_HANDSHAKED &&
        !soup_message_get_status(msg)) {
        return g_strdup_printf("TLS connection dropped without an answer "
                               "(does it accept our certificate?): %s",
                               err->message);
    }
    return g_strdup(err->message);
}

SoupMessage *dm_soup_tls_message_new(const char *method, const char *host,
                                     const char *path,
                                     const DmSoupTlsCreds *creds)
{
    g_autofree char *uri = g_strconcat(creds ? "https://" : "http://", host,
                                       path, NULL);
    SoupMessage *msg = soup_message_new(method, uri);

    if (msg && creds) {
        dm_soup_tls_message_set_cert(msg, creds->cert);
        g_signal_connect(msg, "accept-certificate",
                         G_CALLBACK(soup_tls_refuse_server), NULL);
        g_signal_connect(msg, "network-event",
                         G_CALLBACK(soup_tls_network_event), NULL);
    }
    return msg;
}
