/*
 * The bounded line reader (common/line-reader.c) that reads QEMU's QMP
 * in the launcher: lines split across reads or many in one, "\r\n",
 * NULs inside a line, the length limit's edges, a peer that never sends
 * a newline (refused once past the limit, not waited on), an unfinished
 * last line, a read cancelled after its reader was let go.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <gio/gio.h>
#include <gio/gunixinputstream.h>

#include "line-reader.h"

typedef struct Got {
    bool done;
    char *line;
    gsize len;
    GError *err;
} Got;

/* Our end of a socketpair as a stream; the other end in *@ret_peer. */
static GInputStream *pair(int *ret_peer)
{
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
                                sv), 0);
    *ret_peer = sv[1];
    return g_unix_input_stream_new(sv[0], TRUE);
}

static void send_all(int fd, const void *data, size_t len)
{
    assert_int_equal(write(fd, data, len), (ssize_t)len);
}

static void got_line(GObject *src, GAsyncResult *res, gpointer opaque)
{
    Got *g = opaque;

    g->line = dm_line_reader_read_finish(res, &g->len, &g->err);
    g->done = true;
}

/* The next line or end, the main loop run until it comes. */
static void next(DmLineReader *r, GCancellable *cancel, Got *g)
{
    g_free(g->line);
    g_clear_error(&g->err);
    memset(g, 0, sizeof(*g));
    dm_line_reader_read_async(r, cancel, got_line, g);
    while (!g->done) {
        g_main_context_iteration(NULL, TRUE);
    }
}

static void got_clear(Got *g)
{
    g_free(g->line);
    g_clear_error(&g->err);
}

static void test_lines(void **state)
{
    int peer;
    g_autoptr(GInputStream) in = pair(&peer);
    g_autoptr(DmLineReader) r = dm_line_reader_new(in, 16);
    Got g = { 0 };

    /* Split across writes, several in one, CRLF, a NUL, an empty one. */
    send_all(peer, "ab", 2);
    send_all(peer, "c\nde\r\nf\0g\n\nlast", 15);
    shutdown(peer, SHUT_WR);
    next(r, NULL, &g);
    assert_string_equal(g.line, "abc");
    assert_int_equal(g.len, 3);
    next(r, NULL, &g);
    assert_string_equal(g.line, "de");
    assert_int_equal(g.len, 2);
    next(r, NULL, &g);
    assert_int_equal(g.len, 3);
    assert_memory_equal(g.line, "f\0g", 4);
    next(r, NULL, &g);
    assert_string_equal(g.line, "");
    assert_int_equal(g.len, 0);
    /* Closed with "last" unfinished: the end, no error. */
    next(r, NULL, &g);
    assert_null(g.line);
    assert_null(g.err);
    got_clear(&g);
    close(peer);
}

/* A line of exactly the limit passes, with "\n" or "\r\n"; one more not. */
static void test_edges(void **state)
{
    int peer;
    g_autoptr(GInputStream) in = pair(&peer);
    g_autoptr(DmLineReader) r = dm_line_reader_new(in, 8);
    Got g = { 0 };

    send_all(peer, "12345678\n12345678\r\n123456789\n", 30);
    next(r, NULL, &g);
    assert_string_equal(g.line, "12345678");
    next(r, NULL, &g);
    assert_string_equal(g.line, "12345678");
    next(r, NULL, &g);
    assert_null(g.line);
    assert_true(g_error_matches(g.err, G_IO_ERROR,
                                G_IO_ERROR_MESSAGE_TOO_LARGE));
    assert_string_equal(g.err->message, "a line longer than 8 bytes");
    got_clear(&g);
    close(peer);
}

typedef struct Flood {
    int fd;
    size_t len;
    size_t sent;
} Flood;

/* Sends @len bytes of '[' until they are all out or the reader is gone. */
static gpointer flood(gpointer opaque)
{
    Flood *f = opaque;
    char chunk[65536];

    memset(chunk, '[', sizeof(chunk));
    while (f->sent < f->len) {
        ssize_t n = send(f->fd, chunk, MIN(sizeof(chunk), f->len - f->sent),
                         MSG_NOSIGNAL);

        if (n <= 0) {
            break;
        }
        f->sent += n;
    }
    return NULL;
}

/*
 * A peer that sends far more than the limit and no newline, and keeps
 * the connection open: refused once the limit is passed, without waiting
 * for the rest (nor reading it: the sender is still blocked then).
 */
static void test_endless(void **state)
{
    const size_t max = 256 * 1024;
    int peer;
    g_autoptr(GInputStream) in = pair(&peer);
    g_autoptr(DmLineReader) r = dm_line_reader_new(in, max);
    Flood f = { .len = 64 * max };
    GThread *t;
    Got g = { 0 };

    f.fd = peer;
    t = g_thread_new("flood", flood, &f);
    next(r, NULL, &g);
    assert_null(g.line);
    assert_true(g_error_matches(g.err, G_IO_ERROR,
                                G_IO_ERROR_MESSAGE_TOO_LARGE));
    assert_string_equal(g.err->message, "a line longer than 262144 bytes");
    /* Our end closed: the sender stops, most of its bytes never read. */
    g_input_stream_close(in, NULL, NULL);
    g_thread_join(t);
    assert_true(f.sent < f.len);
    got_clear(&g);
    close(peer);
}

/* Many lines in one write come one a read, none lost. */
static void test_many(void **state)
{
    int peer;
    g_autoptr(GInputStream) in = pair(&peer);
    g_autoptr(DmLineReader) r = dm_line_reader_new(in, 16);
    g_autoptr(GString) all = g_string_new(NULL);
    Got g = { 0 };
    int i;

    for (i = 0; i < 1000; i++) {
        g_string_append_printf(all, "%d\n", i);
    }
    send_all(peer, all->str, all->len);
    for (i = 0; i < 1000; i++) {
        g_autofree char *want = g_strdup_printf("%d", i);

        next(r, NULL, &g);
        assert_non_null(g.line);
        assert_string_equal(g.line, want);
    }
    got_clear(&g);
    close(peer);
}

/* Let go of the reader with a read pending, then cancel: told so. */
static void test_cancel(void **state)
{
    int peer;
    g_autoptr(GInputStream) in = pair(&peer);
    g_autoptr(GCancellable) cancel = g_cancellable_new();
    DmLineReader *r = dm_line_reader_new(in, 16);
    Got g = { 0 };

    dm_line_reader_read_async(r, cancel, got_line, &g);
    dm_line_reader_unref(r);
    g_main_context_iteration(NULL, FALSE);
    g_cancellable_cancel(cancel);
    while (!g.done) {
        g_main_context_iteration(NULL, TRUE);
    }
    assert_null(g.line);
    assert_true(g_error_matches(g.err, G_IO_ERROR, G_IO_ERROR_CANCELLED));
    got_clear(&g);
    close(peer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_endless),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_cancel),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
