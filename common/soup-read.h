/*
 * An HTTP answer's body from a peer, at most a given size: its
 * Content-Length checked first, then the body as it streams, so a peer
 * (or whatever answers at its address) cannot make us hold more.
 * libsoup's send_and_read keeps whatever comes.  Never prints.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_SOUP_READ_H
#define DM_SOUP_READ_H

#include <gio/gio.h>
#include <libsoup/soup.h>

#define DM_SOUP_READ_ERROR (dm_soup_read_error_quark())
GQuark dm_soup_read_error_quark(void);

typedef enum {
    DM_SOUP_READ_ERROR_TOO_LARGE,   /* more than the caller's limit */
    DM_SOUP_READ_ERROR_READ,        /* the body could not be read */
} DmSoupReadError;

/*
 * @msg's body from @in (soup_session_send's stream), at most @max bytes;
 * NULL with a DM_SOUP_READ_ERROR saying why: "answer of N bytes, more
 * than MAX" (by its Content-Length), "answer larger than MAX bytes", or
 * "reading the answer: ...".
 */
GBytes *dm_soup_read_max(SoupMessage *msg, GInputStream *in, gsize max,
                         GCancellable *cancel, GError **errp);
void dm_soup_read_max_async(SoupMessage *msg, GInputStream *in, gsize max,
                            GCancellable *cancel, GAsyncReadyCallback cb,
                            gpointer opaque);
GBytes *dm_soup_read_max_finish(GAsyncResult *res, GError **errp);

/*
 * soup_session_send_and_read(), with the body bounded as above: a
 * failed send is libsoup's error (for dm_soup_tls_explain), the body's a
 * DM_SOUP_READ_ERROR.
 */
GBytes *dm_soup_send_and_read_max(SoupSession *s, SoupMessage *msg,
                                  gsize max, GCancellable *cancel,
                                  GError **errp);
void dm_soup_send_and_read_max_async(SoupSession *s, SoupMessage *msg,
                                     gsize max, GCancellable *cancel,
                                     GAsyncReadyCallback cb,
                                     gpointer opaque);
GBytes *dm_soup_send_and_read_max_finish(GAsyncResult *res, GError **errp);

#endif /* DM_SOUP_READ_H */
