/*
 * Lines from a peer's stream, each at most a given length.
 *
 * GDataInputStream's read_line buffers a line however long it is: a
 * peer that never sends a newline makes us hold everything it sends.
 * This reader holds at most @max bytes of a line (plus its "\r\n"); a
 * longer one is an error, and the stream cannot be trusted after it (the
 * caller closes it).  The same shape as g_data_input_stream_read_line_
 * async/finish, so a caller drops in.  Main loop only; never prints.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_LINE_READER_H
#define DM_LINE_READER_H

#include <gio/gio.h>

typedef struct DmLineReader DmLineReader;

/* Lines of @in (referenced), without their "\n" or "\r\n". */
DmLineReader *dm_line_reader_new(GInputStream *in, gsize max);
DmLineReader *dm_line_reader_ref(DmLineReader *r);
void dm_line_reader_unref(DmLineReader *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DmLineReader, dm_line_reader_unref)

/* One line at a time: no second read before the first one finished. */
void dm_line_reader_read_async(DmLineReader *r, GCancellable *cancel,
                               GAsyncReadyCallback cb, gpointer opaque);

/*
 * The next line (NUL-terminated, @ret_len bytes before the NUL; it may
 * hold NULs of its own), to be freed; or NULL: with @errp set on a read
 * error, on cancellation (G_IO_ERROR_CANCELLED) or on a line longer
 * than the reader's @max (G_IO_ERROR_MESSAGE_TOO_LARGE, saying so), and
 * without an error when the peer closed (an unfinished last line is
 * dropped).
 */
char *dm_line_reader_read_finish(GAsyncResult *res, gsize *ret_len,
                                 GError **errp);

#endif /* DM_LINE_READER_H */
