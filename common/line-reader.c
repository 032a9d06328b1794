/*
 * Lines from a peer's stream, each at most a given length.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "line-reader.h"

/* Asked of the stream at a time; never more than a line may still take. */
#define DM_LINE_READER_CHUNK (64 * 1024)

struct DmLineReader {
    gint ref;
    GInputStream *in;
    gsize max;
    GByteArray *buf;            /* read, not yet returned as a line */
    gsize scanned;              /* buf's first bytes seen without '\n' */
    gsize reading;              /* buf's length before the read going on */
};

DmLineReader *dm_line_reader_new(GInputStream *in, gsize max)
{
    DmLineReader *r = g_new0(DmLineReader, 1);

    r->ref = 1;
    r->in = g_object_ref(in);
    r->max = max;
    r->buf = g_byte_array_new();
    return r;
}

DmLineReader *dm_line_reader_ref(DmLineReader *r)
{
    g_atomic_int_inc(&r->ref);
    return r;
}

void dm_line_reader_unref(DmLineReader *r)
{
    if (r && g_atomic_int_dec_and_test(&r->ref)) {
        g_object_unref(r->in);
        g_byte_array_unref(r->buf);
        g_free(r);
    }
}

static void line_reader_step(GTask *task);

static void line_reader_read_done(GObject *src, GAsyncResult *res,
                                  gpointer opaque)
{
    g_autoptr(GTask) task = opaque;
    DmLineReader *r = g_task_get_task_data(task);
    GError *err = NULL;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(src), res, &err);

    g_byte_array_set_size(r->buf, r->reading + MAX(n, 0));
    if (n < 0) {
        g_task_return_error(task, err);
    } else if (n == 0) {
        g_task_return_pointer(task, NULL, NULL);        /* closed */
    } else {
        line_reader_step(g_steal_pointer(&task));
    }
}

/* Return the next line if it is all in, or read more; takes @task. */
static void line_reader_step(GTask *task)
{
    DmLineReader *r = g_task_get_task_data(task);
    guint8 *nl = NULL;
    gsize len, want;
    char *line;

    if (r->buf->len > r->scanned) {
        nl = memchr(r->buf->data + r->scanned, '\n',
                    r->buf->len - r->scanned);
    }
    if (nl) {
        len = nl - r->buf->data;
        if (len && nl[-1] == '\r') {
            len--;
        }
        if (len > r->max) {
            goto too_long;
        }
        line = g_malloc(len + 1);
        memcpy(line, r->buf->data, len);
        line[len] = '\0';
        g_byte_array_remove_range(r->buf, 0, nl + 1 - r->buf->data);
        r->scanned = 0;
        g_object_set_data(G_OBJECT(task), "dm-line-len",
                          GSIZE_TO_POINTER(len));
        g_task_return_pointer(task, line, g_free);
        g_object_unref(task);
        return;
    }
    r->scanned = r->buf->len;
    /*
     * max + 2 bytes and no '\n': the line holds max + 1 or more, even if
     * the last of them is the '\r' of its "\r\n".
     */
    if (r->buf->len > r->max + 1) {
        goto too_long;
    }
    want = MIN(DM_LINE_READER_CHUNK, r->max + 2 - r->buf->len);
    r->reading = r->buf->len;
    g_byte_array_set_size(r->buf, r->reading + want);
    g_input_stream_read_async(r->in, r->buf->data + r->reading, want,
                              G_PRIORITY_DEFAULT,
                              g_task_get_cancellable(task),
                              line_reader_read_done, task);
    return;

too_long:
    g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                            "a line longer than %" G_GSIZE_FORMAT " bytes",
                            r->max);
    g_object_unref(task);
}

void dm_line_reader_read_async(DmLineReader *r, GCancellable *cancel,
                               GAsyncReadyCallback cb, gpointer opaque)
{
    GTask *task = g_task_new(NULL, cancel, cb, opaque);

    g_task_set_source_tag(task, dm_line_reader_read_async);
    /* Kept while the read goes on, whoever lets go of it meanwhile. */
    g_task_set_task_data(task, dm_line_reader_ref(r),
                         (GDestroyNotify)dm_line_reader_unref);
    line_reader_step(task);
}

char *dm_line_reader_read_finish(GAsyncResult *res, gsize *ret_len,
                                 GError **errp)
{
    char *line;

    g_return_val_if_fail(g_task_is_valid(res, NULL), NULL);
    line = g_task_propagate_pointer(G_TASK(res), errp);
    if (line && ret_len) {
        /* Lines may hold NULs: their length is the buffer's, not strlen. */
        *ret_len = GPOINTER_TO_SIZE(g_object_get_data(G_OBJECT(res),
                                                      "dm-line-len"));
    }
    return line;
}
