/*
 * The API fuzz targets' HTTP side (fuzz-http.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <json-glib/json-glib.h>
#include <sanitizer/allocator_interface.h>
#include <sanitizer/common_interface_defs.h>

#include "fuzz-http.h"

/* The next line at or after @p that starts a block, or NULL. */
static const char *next_block(const char *p, const char *end,
                              const char *kinds)
{
    for (; p < end; p++) {
        if (*p && strchr(kinds, *p) && p + 1 < end && p[1] == ' ') {
            return p;
        }
        p = memchr(p, '\n', end - p);
        if (!p) {
            return NULL;
        }
    }
    return NULL;
}

guint fuzz_http_blocks(const uint8_t *data, size_t size, const char *kinds,
                       FuzzBlock *out, guint max)
{
    const char *p = (const char *)data, *end = p + size;
    guint n = 0;

    for (p = next_block(p, end, kinds); p && n < max; n++) {
        const char *eol = memchr(p, '\n', end - p);
        const char *body = eol ? eol + 1 : end;
        const char *next = next_block(body, end, kinds);

        out[n].kind = p[0];
        out[n].line = p + 2;
        out[n].line_len = (eol ? eol : end) - (p + 2);
        out[n].body = body;
        out[n].body_len = (next ? next : end) - body;
        p = next;
    }
    return n;
}

/* Whether @c may go into a request line's path as it is. */
static bool path_char_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '#';
}

GString *fuzz_http_request(const FuzzBlock *b, char **what)
{
    const char *sp = memchr(b->line, ' ', b->line_len);
    const char *tab = memchr(b->line, '\t', b->line_len);
    const char *end = tab ? tab : b->line + b->line_len;
    GString *req;

    if (!sp || sp == b->line) {
        return NULL;
    }
    for (const char *c = b->line; c < sp; c++) {
        if (*c < 'A' || *c > 'Z') {
            return NULL;
        }
    }
    req = g_string_new(NULL);
    g_string_append_len(req, b->line, sp - b->line);
    g_string_append_c(req, ' ');
    if (sp + 1 == end || sp[1] != '/') {
        g_string_append_c(req, '/');
    }
    for (const char *c = sp + 1; c < end; c++) {
        if (path_char_ok(*c)) {
            g_string_append_c(req, *c);
        } else {
            g_string_append_printf(req, "%%%02X", (unsigned char)*c);
        }
    }
    *what = g_strndup(req->str, MIN(req->len, 200));
    g_string_append(req, " HTTP/1.1\r\nHost: fuzz\r\n"
                    "Connection: close\r\n");
    /* Headers after the path, each after a tab: "Name: value". */
    while (tab && tab < b->line + b->line_len) {
        const char *h = tab + 1, *colon;

        tab = memchr(h, '\t', b->line + b->line_len - h);
        end = tab ? tab : b->line + b->line_len;
        colon = memchr(h, ':', end - h);
        /* A name libsoup would take; what the harness frames, ours. */
        if (!colon || colon == h ||
            !g_ascii_strncasecmp(h, "Content-Length", colon - h) ||
            !g_ascii_strncasecmp(h, "Transfer-Encoding", colon - h) ||
            !g_ascii_strncasecmp(h, "Connection", colon - h) ||
            !g_ascii_strncasecmp(h, "Host", colon - h)) {
            continue;
        }
        for (const char *c = h; c < end; c++) {
            bool name = c < colon;

            if ((name && !g_ascii_isalnum(*c) && *c != '-') ||
                *c == '\r' || *c == '\n' || *c == '\0') {
                g_string_append_c(req, name ? '-' : ' ');
            } else {
                g_string_append_c(req, *c);
            }
        }
        g_string_append(req, "\r\n");
    }
    g_string_append_printf(req, "Content-Type: application/json\r\n"
                           "Content-Length: %zu\r\n\r\n", b->body_len);
    g_string_append_len(req, b->body, b->body_len);
    return req;
}

void fuzz_http_exchange(const char *path, const GString *req, GString *out)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t sent = 0;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("fuzz: connect");
        abort();
    }
    for (;;) {
        char buf[16384];
        ssize_t n;
        bool busy = false;

        if (sent < req->len) {
            n = send(fd, req->str + sent, req->len - sent, MSG_NOSIGNAL);
            if (n > 0) {
                sent += n;
                busy = true;
            } else if (n < 0 && errno != EAGAIN) {
                sent = req->len;  /* the server closed: read its answer */
            }
        }
        n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
            break;
        }
        if (n > 0) {
            g_string_append_len(out, buf, n);
            busy = true;
            /* An event stream does not end: its head is enough. */
            if (strstr(out->str, "\r\n\r\n") &&
                strstr(out->str, "text/event-stream")) {
                break;
            }
        }
        busy |= g_main_context_iteration(NULL, FALSE);
        if (!busy) {
            struct pollfd p = { .fd = fd, .events = POLLIN };

            poll(&p, 1, 1);
        }
    }
    close(fd);
    /* What the server still does for that connection, before the next. */
    while (g_main_context_iteration(NULL, FALSE)) {
    }
}

const char *fuzz_http_body(const GString *answer)
{
    const char *body = strstr(answer->str, "\r\n\r\n");

    return body ? body + 4 : "";
}

guint fuzz_http_check(const char *what, const GString *answer)
{
    const char *body = fuzz_http_body(answer);
    g_autoptr(JsonParser) p = json_parser_new();
    JsonObject *o;
    const char *msg, *path;
    guint status;

    if (sscanf(answer->str, "HTTP/1.%*d %u ", &status) != 1 ||
        !strstr(answer->str, "\r\n\r\n")) {
        fprintf(stderr, "%s: no HTTP answer: '%.200s'\n", what, answer->str);
        abort();
    }
    /* The JSON API's errors; not /metrics', /login's or libsoup's own. */
    path = strchr(what, ' ');
    if (status < 400 || strstr(answer->str, "text/event-stream") ||
        !path || !g_str_has_prefix(path + 1, "/v1") ||
        (path[4] != '/' && path[4] != '\0' && path[4] != '?')) {
        return status;
    }
    /* libsoup's own refusals (a path it cannot parse) have no body. */
    if (!*body && (status == 400 || status == 404)) {
        return status;
    }
    o = json_parser_load_from_data(p, body, -1, NULL) &&
        json_parser_get_root(p) &&
        JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)) ?
        json_node_get_object(json_parser_get_root(p)) : NULL;
    msg = o ? json_object_get_string_member_with_default(o, "error", NULL) :
          NULL;
    if (!msg || !*msg) {
        fprintf(stderr, "%s: %u without a message: '%.200s'\n", what,
                status, body);
        abort();
    }
    return status;
}

static void heap_profile(void)
{
    __sanitizer_print_memory_profile(95, 25);
}

void fuzz_heap_note(void)
{
    static unsigned every = (unsigned)-1, inputs;
    static size_t last;
    size_t now;

    if (every == (unsigned)-1) {
        const char *e = getenv("FUZZ_HEAP");

        every = e ? strtoul(e, NULL, 10) : 0;
        if (every) {
            atexit(heap_profile);
        }
    }
    if (!every || ++inputs % every) {
        return;
    }
    now = __sanitizer_get_current_allocated_bytes();
    fprintf(stderr, "heap: %u inputs, %zu bytes live (%+ld)\n", inputs, now,
            (long)(now - last));
    last = now;
}
