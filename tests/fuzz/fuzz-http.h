/*
 * What the API fuzz targets (fuzz-orch-api.c, fuzz-launcher-api.c)
 * share: their input's blocks, a request's HTTP framing, one exchange
 * with a server of this process on a UNIX socket, the answer's checks.
 *
 * Input: blocks of lines, each a marker character and a space at the
 * start of a line (its kind), the rest of that line, then the lines up
 * to the next block (its body).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef FUZZ_HTTP_H
#define FUZZ_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>

typedef struct FuzzBlock {
    char kind;
    const char *line, *body;
    size_t line_len, body_len;
} FuzzBlock;

/* The blocks of @data whose marker is in @kinds, at most @max. */
guint fuzz_http_blocks(const uint8_t *data, size_t size, const char *kinds,
                       FuzzBlock *out, guint max);

/*
 * The request "METHOD PATH" of @b's line with its body, framed; the
 * path's bytes that cannot go into a request line percent-encoded.
 * Headers may follow the path, each after a tab ("Name: value"); those
 * the harness frames itself (Content-Length, Connection, ...) are left
 * out, and a name's bytes that libsoup would refuse become '-'.
 * NULL if the method is not one libsoup would parse.  *@what gets a
 * short description for messages.
 */
GString *fuzz_http_request(const FuzzBlock *b, char **what);

/*
 * Send @req on a new connection to the UNIX socket @path and read the
 * whole answer into @out, iterating the default main context (the
 * server's) meanwhile; the head only of an event stream.
 */
void fuzz_http_exchange(const char *path, const GString *req, GString *out);

/*
 * The status of @answer to the request @what ("METHOD PATH"); aborts if
 * it is no HTTP answer, or an error (4xx, 5xx) of the JSON API (/v1)
 * without a JSON "error" message.
 */
guint fuzz_http_check(const char *what, const GString *answer);

/* The body of @answer ("" if none). */
const char *fuzz_http_body(const GString *answer);

/*
 * FUZZ_HEAP=N: every N inputs, the live heap (ASan's count: what is
 * allocated and not freed, the quarantine not included) on stderr, and
 * at exit the allocation stacks holding most of it.  How memory that
 * grows over a run is told from libFuzzer's own and found (with
 * ASAN_OPTIONS=quarantine_size_mb=0; G_SLICE=always-malloc shows what
 * GLib's slices hold).  Call once an input.
 */
void fuzz_heap_note(void);

#endif /* FUZZ_HTTP_H */
