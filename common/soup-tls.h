/*
 * libsoup over TLS with both ends verified, the credentials read from a
 * directory laid out as QEMU's tls-creds-x509: ca-cert.pem, and
 * server-cert.pem/server-key.pem or client-cert.pem/client-key.pem.
 *
 * A server requires a client certificate that chains to its CA; a client
 * checks the server's certificate against its CA and the host it connects
 * to (GIO takes the session's remote-connectable as the server identity).
 * Used by dm-orchestrator (its API, and its calls to the launchers), dmctl
 * and dm-remote daemon.  Like a library, it never prints: refusals go to
 * the caller's log function.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_SOUP_TLS_H
#define DM_SOUP_TLS_H

#include <gio/gio.h>
#include <libsoup/soup.h>

typedef struct DmSoupTlsCreds {
    GTlsCertificate *cert;      /* ours, with its key */
    GTlsDatabase *ca;           /* whom we trust */
} DmSoupTlsCreds;

/* Takes one complete line, without a newline. */
typedef void (*DmSoupTlsLogFn)(const char *line, gpointer opaque);

/*
 * Load DIR/ca-cert.pem and DIR/@role-cert.pem + DIR/@role-key.pem
 * (@role "server" or "client").  FALSE with a message naming the file on
 * failure, also when GIO has no TLS backend (glib-networking); @ret is
 * left empty then.
 */
gboolean dm_soup_tls_creds_load(const char *dir, const char *role,
                                DmSoupTlsCreds *ret, GError **errp);
void dm_soup_tls_creds_clear(DmSoupTlsCreds *creds);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(DmSoupTlsCreds, dm_soup_tls_creds_clear)

/*
 * Make @soup serve HTTPS with @creds and require a client certificate
 * signed by their CA; each refused client is given to @log (with its
 * address).  Call before listening, and listen with the options returned
 * (SOUP_SERVER_LISTEN_HTTPS).
 */
SoupServerListenOptions dm_soup_tls_server_setup(SoupServer *soup,
                                                 const DmSoupTlsCreds *creds,
                                                 DmSoupTlsLogFn log,
                                                 gpointer opaque);

/*
 * A session to @peer: over TLS when @creds is not NULL (the server is
 * checked against their CA and @peer's host name), plain HTTP otherwise.
 * @timeout_s is libsoup's I/O timeout, 0 for none.
 */
SoupSession *dm_soup_tls_session_new(GSocketConnectable *peer,
                                     const DmSoupTlsCreds *creds,
                                     const char *user_agent,
                                     guint timeout_s);

/*
 * @method @path for a session made by dm_soup_tls_session_new() with the
 * same @creds: https with our client certificate, or plain http.  @host
 * only labels the URI (the Host header): the session's connectable says
 * where it goes.  NULL if @path does not make a URI.
 */
SoupMessage *dm_soup_tls_message_new(const char *method, const char *host,
                                     const char *path,
                                     const DmSoupTlsCreds *creds);

/*
 * Our client certificate @cert for the TLS connections @msg opens, set on
 * each before its handshake.  Not soup_message_set_tls_client_certificate():
 * libsoup 3.2 hands that one over through a GTlsInteraction that runs in
 * the main context, while a synchronous send from a main-loop callback
 * waits for the handshake's thread, which waits for the main context: a
 * deadlock each time the server asks for the certificate (every full
 * handshake; a resumed session is not asked).  The orchestrator hung so.
 */
void dm_soup_tls_message_set_cert(SoupMessage *msg, GTlsCertificate *cert);

/*
 * Why @msg, a message from dm_soup_tls_message_new(), got no answer; @err
 * is what libsoup said.  Over TLS that may be: the server's certificate
 * was refused (and why, e.g. "not signed by our CA"), the handshake did
 * not complete, or the server dropped the connection after it (as one
 * refusing our certificate does under TLS 1.3).  Otherwise @err's message.
 */
char *dm_soup_tls_explain(SoupMessage *msg, const GError *err);

#endif /* DM_SOUP_TLS_H */
