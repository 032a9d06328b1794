/*
 * Input limits of a libsoup server (see soup-limits.h).
 *
 * Everything runs in the server's main context.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "soup-limits.h"

typedef struct SoupLimits {
    gsize max_body;
    guint max_conns;
    GHashTable *conns;          /* GSocket * served, a reference each */
    DmSoupTlsLogFn log;
    gpointer opaque;
} SoupLimits;

/* Set on a message whose connection is over the limit. */
#define LIMITS_OVER "dm-soup-limits-over"

/* libsoup's version, as 30203 for 3.2.3. */
static guint limits_soup_version(void)
{
    return soup_get_major_version() * 10000 +
           soup_get_minor_version() * 100 + soup_get_micro_version();
}

/*
 * libsoup 3.1.2 to 3.2 never close a kept-alive connection whose client
 * left between two requests (fixed in 3.3.0 by "server: do not leak
 * idle connections closed by the client"): its descriptor and its
 * objects stay until the server ends, so that a client (or a SoupSession
 * dropping its idle connections) exhausts the server's descriptors and
 * grows its memory.  With such a libsoup every answer closes its
 * connection (Connection: close), but a WebSocket's handshake.
 */
static bool limits_idle_leak(void)
{
    guint v = limits_soup_version();

    return v >= 30102 && v < 30300;
}

/*
 * Forget the connections that have ended: closed by us, or by the peer.
 * libsoup 3.2 does not always close (nor free) a connection whose client
 * left, so its socket cannot tell: an end of file waiting on it does.
 */
static gboolean limits_socket_closed(gpointer key, gpointer value,
                                     gpointer opaque)
{
    GSocket *sock = key;
    char c;
    ssize_t n;

    if (g_socket_is_closed(sock)) {
        return true;
    }
    n = recv(g_socket_get_fd(sock), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
                      errno != EINTR);
}

static void limits_free(gpointer opaque)
{
    SoupLimits *l = opaque;

    g_hash_table_destroy(l->conns);
    g_free(l);
}

static void limits_log(SoupLimits *l, SoupServerMessage *msg,
                       const char *fmt, ...)
{
    GSocketAddress *peer = soup_server_message_get_remote_address(msg);
    g_autofree char *who = NULL;
    g_autofree char *what = NULL;
    va_list ap;

    if (!l->log) {
        return;
    }
    va_start(ap, fmt);
    what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (G_IS_INET_SOCKET_ADDRESS(peer)) {
        g_autofree char *ip = g_inet_address_to_string(
            g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(peer)));

        who = g_strdup_printf("%s port %u", ip,
            g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(peer)));
    }
    if (who) {
        g_autofree char *line = g_strdup_printf("%s: %s", who, what);

        l->log(line, l->opaque);
    } else {
        l->log(what, l->opaque);
    }
}

static void limits_closed(GObject *source, GAsyncResult *res, gpointer opaque)
{
    g_io_stream_close_finish(G_IO_STREAM(source), res, NULL);
    g_object_unref(source);
}

static void limits_written(GObject *source, GAsyncResult *res,
                           gpointer opaque)
{
    GIOStream *stream = opaque;

    g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), res, NULL,
                                     NULL);
    g_io_stream_close_async(stream, G_PRIORITY_DEFAULT, NULL, limits_closed,
                            NULL);
}

/*
 * Answer @status with a JSON error and close, without reading the rest
 * of the request: the connection is taken from libsoup, which forgets
 * the message (no handler runs).
 */
static void limits_refuse(SoupServerMessage *msg, guint status,
                          const char *error)
{
    GIOStream *stream = soup_server_message_steal_connection(msg);
    g_autofree char *body = NULL;
    GBytes *reply;
    char *text;
    const char *data;
    gsize len;

    if (!stream) {
        return;
    }
    body = g_strdup_printf("{\"error\": \"%s\"}", error);
    text = g_strdup_printf("HTTP/1.1 %u %s\r\n"
                           "Content-Type: application/json\r\n"
                           "Content-Length: %zu\r\n"
                           "Connection: close\r\n\r\n%s",
                           status, soup_status_get_phrase(status),
                           strlen(body), body);
    reply = g_bytes_new_take(text, strlen(text));
    /* The text lives as long as @stream, which the callbacks own. */
    data = g_bytes_get_data(reply, &len);
    g_object_set_data_full(G_OBJECT(stream), "dm-soup-limits-reply", reply,
                           (GDestroyNotify)g_bytes_unref);
    g_output_stream_write_all_async(g_io_stream_get_output_stream(stream),
                                    data, len, G_PRIORITY_DEFAULT,
                                    NULL, limits_written, stream);
}

static void limits_got_headers(SoupServerMessage *msg, gpointer opaque)
{
    SoupLimits *l = opaque;
    SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);

    if (limits_idle_leak()) {
        soup_message_headers_replace(
            soup_server_message_get_response_headers(msg), "Connection",
            "close");
    }
    if (g_object_get_data(G_OBJECT(msg), LIMITS_OVER)) {
        limits_log(l, msg, "refused a connection: %u already served",
                   l->max_conns);
        limits_refuse(msg, SOUP_STATUS_SERVICE_UNAVAILABLE,
                      "too many connections");
        return;
    }
    if (soup_message_headers_get_encoding(h) ==
            SOUP_ENCODING_CONTENT_LENGTH &&
        soup_message_headers_get_content_length(h) > (goffset)l->max_body) {
        limits_log(l, msg, "refused a request: a body of %" G_GOFFSET_FORMAT
                   " bytes (at most %zu)",
                   soup_message_headers_get_content_length(h), l->max_body);
        limits_refuse(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE,
                      "request body too large");
    }
}

/*
 * After the server's own got-body (its handler): a WebSocket's handshake
 * (101) says Connection: Upgrade, alone.
 */
static void limits_got_body(SoupServerMessage *msg, gpointer opaque)
{
    if (soup_server_message_get_status(msg) ==
        SOUP_STATUS_SWITCHING_PROTOCOLS) {
        soup_message_headers_replace(
            soup_server_message_get_response_headers(msg), "Connection",
            "Upgrade");
    }
}

/* A chunked body (no Content-Length) is checked as it grows. */
static void limits_got_chunk(SoupServerMessage *msg, GBytes *chunk,
                             gpointer opaque)
{
    SoupLimits *l = opaque;
    SoupMessageBody *body = soup_server_message_get_request_body(msg);

    /* A body's length is never negative. */
    if (body && (gsize)body->length > l->max_body) {
        limits_log(l, msg, "refused a request: a body over %zu bytes",
                   l->max_body);
        limits_refuse(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE,
                      "request body too large");
    }
}

/* Set on a socket whose reference leaked by libsoup was dropped. */
#define LIMITS_ACCEPT_REF "dm-soup-limits-accept-ref"

/*
 * libsoup 3.1.2 to 3.3 (Debian 12 has 3.2.3) never drop the reference
 * g_socket_accept() gave them (soup-listener.c's listen_watch; fixed in
 * 3.4.0 by "soup-listener: Plug a leak"): every connection's GSocket
 * stays allocated after it closed, inside GLib's slices where
 * LeakSanitizer does not see it, so that a client connecting in a loop
 * grows the server's memory without end.  The first request-started of
 * a connection is emitted on accept, when the socket holds that
 * reference and the connection's only: drop the leaked one there, once.
 * With any other count (another libsoup) the socket is left alone.
 */
static void limits_accept_leak(GSocket *sock)
{
    guint v = limits_soup_version();

    if (v < 30102 || v >= 30400 ||
        g_object_get_data(G_OBJECT(sock), LIMITS_ACCEPT_REF)) {
        return;
    }
    g_object_set_data(G_OBJECT(sock), LIMITS_ACCEPT_REF, GINT_TO_POINTER(1));
    if (g_atomic_int_get(&G_OBJECT(sock)->ref_count) == 2) {
        g_object_unref(sock);
    }
}

static void limits_request_started(SoupServer *soup, SoupServerMessage *msg,
                                   gpointer opaque)
{
    SoupLimits *l = opaque;
    GSocket *sock = soup_server_message_get_socket(msg);

    if (sock) {
        limits_accept_leak(sock);
    }
    g_signal_connect(msg, "got-headers", G_CALLBACK(limits_got_headers), l);
    g_signal_connect(msg, "got-chunk", G_CALLBACK(limits_got_chunk), l);
    if (limits_idle_leak()) {
        g_signal_connect(msg, "got-body", G_CALLBACK(limits_got_body), l);
    }
    if (!sock || g_hash_table_contains(l->conns, sock)) {
        return;
    }
    g_hash_table_foreach_remove(l->conns, limits_socket_closed, NULL);
    if (g_hash_table_size(l->conns) >= l->max_conns) {
        /* Refused at got-headers: libsoup is mid-read here. */
        g_object_set_data(G_OBJECT(msg), LIMITS_OVER, GINT_TO_POINTER(1));
        return;
    }
    g_hash_table_add(l->conns, g_object_ref(sock));
}

void dm_soup_limits_setup(SoupServer *soup, gsize max_body, guint max_conns,
                          DmSoupTlsLogFn log, gpointer opaque)
{
    SoupLimits *l = g_new0(SoupLimits, 1);

    l->max_body = max_body;
    l->max_conns = max_conns;
    l->conns = g_hash_table_new_full(NULL, NULL, g_object_unref, NULL);
    l->log = log;
    l->opaque = opaque;
    g_object_set_data_full(G_OBJECT(soup), "dm-soup-limits", l, limits_free);
    g_signal_connect(soup, "request-started",
                     G_CALLBACK(limits_request_started), l);
}
