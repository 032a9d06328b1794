/*
 * An HTTP answer's body from a peer, at most a given size.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdbool.h>

#include "soup-read.h"

G_DEFINE_QUARK(dm-soup-read-error-quark, dm_soup_read_error)

#define DM_SOUP_READ_CHUNK 16384

/* By its Content-Length, before reading any of it. */
static bool soup_read_declared_ok(SoupMessage *msg, gsize max, GError **errp)
{
    goffset declared = soup_message_headers_get_content_length(
        soup_message_get_response_headers(msg));

    if (declared > 0 && (guint64)declared > max) {
        g_set_error(errp, DM_SOUP_READ_ERROR, DM_SOUP_READ_ERROR_TOO_LARGE,
                    "answer of %" G_GOFFSET_FORMAT " bytes, more than %"
                    G_GSIZE_FORMAT, declared, max);
        return false;
    }
    return true;
}

/* @n more bytes read into @buf: false with @errp set past @max. */
static bool soup_read_add(GByteArray *buf, const guint8 *data, gsize n,
                          gsize max, GError **errp)
{
    if (n > max - buf->len) {
        g_set_error(errp, DM_SOUP_READ_ERROR, DM_SOUP_READ_ERROR_TOO_LARGE,
                    "answer larger than %" G_GSIZE_FORMAT " bytes", max);
        return false;
    }
    g_byte_array_append(buf, data, n);
    return true;
}

static void soup_read_failed(GError *err, GError **errp)
{
    g_set_error(errp, DM_SOUP_READ_ERROR, DM_SOUP_READ_ERROR_READ,
                "reading the answer: %s", err->message);
}

GBytes *dm_soup_read_max(SoupMessage *msg, GInputStream *in, gsize max,
                         GCancellable *cancel, GError **errp)
{
    g_autoptr(GByteArray) buf = g_byte_array_new();
    guint8 chunk[DM_SOUP_READ_CHUNK];

    if (!soup_read_declared_ok(msg, max, errp)) {
        return NULL;
    }
    for (;;) {
        g_autoptr(GError) err = NULL;
        gssize n = g_input_stream_read(in, chunk, sizeof(chunk), cancel,
                                       &err);

        if (n < 0) {
            soup_read_failed(err, errp);
            return NULL;
        }
        if (n == 0) {
            return g_byte_array_free_to_bytes(g_steal_pointer(&buf));
        }
        if (!soup_read_add(buf, chunk, n, max, errp)) {
            return NULL;
        }
    }
}

/* ---- the same, from the main loop ---- */

typedef struct SoupRead {
    GInputStream *in;
    GByteArray *buf;
    gsize max;
    guint8 chunk[DM_SOUP_READ_CHUNK];
} SoupRead;

static void soup_read_free(SoupRead *r)
{
    g_object_unref(r->in);
    g_byte_array_unref(r->buf);
    g_free(r);
}

static void soup_read_next(GTask *task);

static void soup_read_done(GObject *src, GAsyncResult *res, gpointer opaque)
{
    GTask *task = opaque;
    SoupRead *r = g_task_get_task_data(task);
    g_autoptr(GError) err = NULL;
    GError *why = NULL;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(src), res, &err);

    if (n < 0) {
        soup_read_failed(err, &why);
    } else if (n == 0) {
        GBytes *body = g_byte_array_free_to_bytes(r->buf);

        r->buf = g_byte_array_new();
        g_task_return_pointer(task, body, (GDestroyNotify)g_bytes_unref);
        g_object_unref(task);
        return;
    } else if (soup_read_add(r->buf, r->chunk, n, r->max, &why)) {
        soup_read_next(task);
        return;
    }
    g_task_return_error(task, why);
    g_object_unref(task);
}

static void soup_read_next(GTask *task)
{
    SoupRead *r = g_task_get_task_data(task);

    g_input_stream_read_async(r->in, r->chunk, sizeof(r->chunk),
                              G_PRIORITY_DEFAULT,
                              g_task_get_cancellable(task), soup_read_done,
                              task);
}

void dm_soup_read_max_async(SoupMessage *msg, GInputStream *in, gsize max,
                            GCancellable *cancel, GAsyncReadyCallback cb,
                            gpointer opaque)
{
    GTask *task = g_task_new(NULL, cancel, cb, opaque);
    SoupRead *r = g_new0(SoupRead, 1);
    GError *err = NULL;

    r->in = g_object_ref(in);
    r->buf = g_byte_array_new();
    r->max = max;
    g_task_set_task_data(task, r, (GDestroyNotify)soup_read_free);
    if (!soup_read_declared_ok(msg, max, &err)) {
        g_task_return_error(task, err);
        g_object_unref(task);
        return;
    }
    soup_read_next(task);
}

GBytes *dm_soup_read_max_finish(GAsyncResult *res, GError **errp)
{
    return g_task_propagate_pointer(G_TASK(res), errp);
}

/* ---- sending, then reading ---- */

GBytes *dm_soup_send_and_read_max(SoupSession *s, SoupMessage *msg,
                                  gsize max, GCancellable *cancel,
                                  GError **errp)
{
    g_autoptr(GInputStream) in = soup_session_send(s, msg, cancel, errp);

    return in ? dm_soup_read_max(msg, in, max, cancel, errp) : NULL;
}

typedef struct SoupSendRead {
    SoupMessage *msg;
    gsize max;
} SoupSendRead;

static void soup_send_read_free(SoupSendRead *sr)
{
    g_object_unref(sr->msg);
    g_free(sr);
}

static void soup_send_read_read(GObject *src, GAsyncResult *res,
                                gpointer opaque)
{
    GTask *task = opaque;
    GError *err = NULL;
    GBytes *body = dm_soup_read_max_finish(res, &err);

    if (body) {
        g_task_return_pointer(task, body, (GDestroyNotify)g_bytes_unref);
    } else {
        g_task_return_error(task, err);
    }
    g_object_unref(task);
}

static void soup_send_read_sent(GObject *src, GAsyncResult *res,
                                gpointer opaque)
{
    GTask *task = opaque;
    SoupSendRead *sr = g_task_get_task_data(task);
    GError *err = NULL;
    g_autoptr(GInputStream) in = soup_session_send_finish(SOUP_SESSION(src),
                                                          res, &err);

    if (!in) {
        g_task_return_error(task, err);
        g_object_unref(task);
        return;
    }
    dm_soup_read_max_async(sr->msg, in, sr->max, g_task_get_cancellable(task),
                           soup_send_read_read, task);
}

void dm_soup_send_and_read_max_async(SoupSession *s, SoupMessage *msg,
                                     gsize max, GCancellable *cancel,
                                     GAsyncReadyCallback cb,
                                     gpointer opaque)
{
    GTask *task = g_task_new(s, cancel, cb, opaque);
    SoupSendRead *sr = g_new0(SoupSendRead, 1);

    sr->msg = g_object_ref(msg);
    sr->max = max;
    g_task_set_task_data(task, sr, (GDestroyNotify)soup_send_read_free);
    soup_session_send_async(s, msg, G_PRIORITY_DEFAULT, cancel,
                            soup_send_read_sent, task);
}

GBytes *dm_soup_send_and_read_max_finish(GAsyncResult *res, GError **errp)
{
    return g_task_propagate_pointer(G_TASK(res), errp);
}
