/*
 * The libsoup server of both APIs (dm-orchestrator's, dm-remote
 * daemon's) with its limits (common/soup-limits.c), on a UNIX socket:
 * what a client's connections leave behind once closed.  Each accepted
 * socket is followed with a weak reference; after many connections
 * (requests closed by the server, keep-alive ones closed by the client,
 * connections that send nothing) the live sockets are those still open
 * plus the one the limits' table holds until the next connection: not
 * one per connection made.  libsoup 3.2 kept every socket it accepted
 * (fuzz-launcher-api's memory grew by about 2 KB an input).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

#include "soup-limits.h"

#define CONNECTIONS 300

typedef struct Fixture {
    char dir[64];
    char path[96];
    SoupServer *soup;
    guint accepted;             /* sockets seen */
    guint live;                 /* of which not yet freed */
    guint fds;                  /* the process's descriptors, set up */
} Fixture;

static guint count_fds(void)
{
    g_autoptr(GDir) d = g_dir_open("/proc/self/fd", 0, NULL);
    guint n = 0;

    assert_non_null(d);
    while (g_dir_read_name(d)) {
        n++;
    }
    return n;
}

static void socket_freed(gpointer opaque, GObject *gone)
{
    Fixture *f = opaque;

    f->live--;
}

/* Connected after the limits' handler, as a second one would be. */
static void seen(SoupServer *soup, SoupServerMessage *msg, gpointer opaque)
{
    Fixture *f = opaque;
    GSocket *sock = soup_server_message_get_socket(msg);

    if (!sock || g_object_get_data(G_OBJECT(sock), "test-seen")) {
        return;
    }
    g_object_set_data(G_OBJECT(sock), "test-seen", GINT_TO_POINTER(1));
    g_object_weak_ref(G_OBJECT(sock), socket_freed, f);
    f->accepted++;
    f->live++;
}

static void hello(SoupServer *soup, SoupServerMessage *msg, const char *path,
                  GHashTable *query, gpointer opaque)
{
    soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
    soup_server_message_set_response(msg, "application/json",
                                     SOUP_MEMORY_STATIC, "{}", 2);
}

static int setup(void **state)
{
    Fixture *f = g_new0(Fixture, 1);
    g_autoptr(GSocketAddress) addr = NULL;
    g_autoptr(GError) err = NULL;

    g_strlcpy(f->dir, "/tmp/test-soup-limits-XXXXXX", sizeof(f->dir));
    assert_non_null(g_mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/api.sock", f->dir);
    f->soup = soup_server_new("server-header", "test", NULL);
    dm_soup_limits_setup(f->soup, DM_SOUP_MAX_BODY, DM_SOUP_MAX_CONNECTIONS,
                         NULL, NULL);
    g_signal_connect(f->soup, "request-started", G_CALLBACK(seen), f);
    soup_server_add_handler(f->soup, NULL, hello, f, NULL);
    addr = g_unix_socket_address_new(f->path);
    if (!soup_server_listen(f->soup, addr, 0, &err)) {
        fail_msg("listen: %s", err->message);
    }
    f->fds = count_fds();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;

    g_object_unref(f->soup);
    while (g_main_context_iteration(NULL, FALSE)) {
    }
    g_unlink(f->path);
    g_rmdir(f->dir);
    g_free(f);
    return 0;
}

static int dial(Fixture *f)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    g_strlcpy(sa.sun_path, f->path, sizeof(sa.sun_path));
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/*
 * Send @req on @fd and read until @answers answers have come (counted by
 * their status lines) or the server closed, running the server meanwhile.
 * Returns the answers read.
 */
static guint exchange(int fd, const char *req, guint answers)
{
    g_autoptr(GString) in = g_string_new(NULL);
    size_t sent = 0, len = strlen(req);
    guint got = 0;

    for (;;) {
        char buf[4096];
        ssize_t n;
        const char *p;

        if (sent < len) {
            n = send(fd, req + sent, len - sent, MSG_NOSIGNAL);
            if (n > 0) {
                sent += n;
            }
        }
        n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
            break;
        }
        if (n > 0) {
            g_string_append_len(in, buf, n);
        }
        got = 0;
        for (p = in->str; (p = strstr(p, "HTTP/1.1 200")); p++) {
            got++;
        }
        if (got >= answers && g_str_has_suffix(in->str, "{}")) {
            break;
        }
        if (!g_main_context_iteration(NULL, FALSE)) {
            struct pollfd pf = { .fd = fd, .events = POLLIN };

            poll(&pf, 1, 1);
        }
    }
    return got;
}

/* Run the server until it has nothing left to do. */
static void drain(void)
{
    while (g_main_context_iteration(NULL, FALSE)) {
    }
}

/*
 * The connections made, each closed: no more sockets live than one (the
 * limits' table keeps the last until the next connection), no
 * descriptor more than it.
 */
static void assert_bounded(Fixture *f)
{
    drain();
    assert_int_equal(f->accepted, CONNECTIONS);
    assert_in_range(f->live, 0, 1);
    assert_in_range(count_fds(), 0, f->fds + 1);
}

/* A request each, the server closing (Connection: close). */
static void test_closed_by_server(void **state)
{
    Fixture *f = *state;

    for (guint i = 0; i < CONNECTIONS; i++) {
        int fd = dial(f);

        assert_int_equal(exchange(fd, "GET /x HTTP/1.1\r\nHost: t\r\n"
                                  "Connection: close\r\n\r\n", 1), 1);
        close(fd);
        drain();
    }
    assert_bounded(f);
}

/*
 * Keep-alive asked, the client closing once answered (as a SoupSession
 * dropping its idle connections): libsoup 3.2 never closed those.
 */
static void test_closed_by_client(void **state)
{
    Fixture *f = *state;

    for (guint i = 0; i < CONNECTIONS; i++) {
        int fd = dial(f);

        assert_int_equal(exchange(fd, "GET /a HTTP/1.1\r\nHost: t\r\n\r\n",
                                  1), 1);
        close(fd);
        drain();
    }
    assert_bounded(f);
}

static void ws_open(SoupServer *soup, SoupServerMessage *msg,
                    const char *path, SoupWebsocketConnection *ws,
                    gpointer opaque)
{
    soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
}

/* A WebSocket's handshake still upgrades: 101, Connection: Upgrade. */
static void test_websocket(void **state)
{
    Fixture *f = *state;
    g_autoptr(GString) in = g_string_new(NULL);
    const char *req = "GET /ws HTTP/1.1\r\nHost: t\r\n"
                      "Connection: Upgrade\r\nUpgrade: websocket\r\n"
                      "Sec-WebSocket-Version: 13\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    int fd;

    soup_server_add_websocket_handler(f->soup, "/ws", NULL, NULL, ws_open,
                                      f, NULL);
    fd = dial(f);
    assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), strlen(req));
    while (!strstr(in->str, "\r\n\r\n")) {
        char buf[1024];
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

        if (n > 0) {
            g_string_append_len(in, buf, n);
        } else {
            assert_true(n < 0 && errno == EAGAIN);
            if (!g_main_context_iteration(NULL, FALSE)) {
                struct pollfd pf = { .fd = fd, .events = POLLIN };

                poll(&pf, 1, 1);
            }
        }
    }
    close(fd);
    assert_true(g_str_has_prefix(in->str, "HTTP/1.1 101 "));
    assert_non_null(strstr(in->str, "\r\nConnection: Upgrade\r\n"));
    assert_null(strstr(in->str, "close"));
}

/* Connections that send nothing: the cheapest a client can make. */
static void test_nothing_sent(void **state)
{
    Fixture *f = *state;

    for (guint i = 0; i < CONNECTIONS; i++) {
        int fd = dial(f);

        drain();
        close(fd);
        drain();
    }
    assert_bounded(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_closed_by_server, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_closed_by_client, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_nothing_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_websocket, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
