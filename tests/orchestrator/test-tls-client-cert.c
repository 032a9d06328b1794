/*
 * A synchronous HTTPS call with our client certificate, made from a
 * main-loop callback, as dm-orchestrator makes its etcd and launcher
 * calls.  The server (a thread of the test, with its own main context)
 * requires the certificate, so each new connection's handshake asks for
 * it.  With soup_message_set_tls_client_certificate(), libsoup 3.2 hands
 * it over through a GTlsInteraction that runs in the main context, which
 * the caller holds while it waits for the handshake: the call never
 * returned (orchestrator-dmctl-etcd-tls hung so).  A watchdog turns such
 * a hang into a failure.
 *
 *   test-tls-client-cert          (TLS_TEST_MAKE_CERTS: make-certs.sh)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>
#include <glib/gstdio.h>

#include "etcd.h"
#include "soup-tls.h"

/* Far beyond a handshake on loopback, even on a loaded machine. */
#define WATCHDOG_S 60
/* New connections, each a full handshake asked for our certificate. */
#define CALLS 3

typedef struct Server {
    GMainContext *ctx;
    GMainLoop *loop;
    SoupServer *soup;
    GThread *thread;
    guint port;
    guint asked;                /* requests that came with a certificate */
} Server;

typedef struct Fixture {
    char *dir;                  /* the certificates */
    Server srv;
    GMutex lock;
    GCond cond;
    bool done;
    GThread *watchdog;
} Fixture;

static void server_handler(SoupServer *soup, SoupServerMessage *msg,
                           const char *path, GHashTable *query,
                           gpointer opaque)
{
    Server *s = opaque;
    GTlsCertificate *peer = soup_server_message_get_tls_peer_certificate(msg);
    static const char answer[] = "{\"header\":{\"revision\":\"1\"}}";

    if (peer) {
        s->asked++;
    }
    soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
    soup_server_message_set_response(msg, "application/json",
                                     SOUP_MEMORY_STATIC, answer,
                                     sizeof(answer) - 1);
}

static void server_log(const char *line, gpointer opaque)
{
    printf("# server: %s\n", line);
}

static gpointer server_thread(gpointer opaque)
{
    Server *s = opaque;

    g_main_context_push_thread_default(s->ctx);
    g_main_loop_run(s->loop);
    g_main_context_pop_thread_default(s->ctx);
    return NULL;
}

static void server_start(Server *s, const char *dir)
{
    g_auto(DmSoupTlsCreds) creds = { 0 };
    g_autoptr(GError) err = NULL;
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new_from_string(
        "127.0.0.1", 0);
    g_autoptr(GSocketAddress) bound = NULL;
    GSList *listeners;
    SoupServerListenOptions how;

    assert_true(dm_soup_tls_creds_load(dir, "server", &creds, &err));
    s->ctx = g_main_context_new();
    s->loop = g_main_loop_new(s->ctx, FALSE);
    /* libsoup's server runs in the thread-default context it is made in. */
    g_main_context_push_thread_default(s->ctx);
    s->soup = soup_server_new(NULL, NULL);
    soup_server_add_handler(s->soup, NULL, server_handler, s, NULL);
    how = dm_soup_tls_server_setup(s->soup, &creds, server_log, NULL);
    assert_true(soup_server_listen(s->soup, any, how, &err));
    g_main_context_pop_thread_default(s->ctx);
    listeners = soup_server_get_listeners(s->soup);
    bound = g_socket_get_local_address(listeners->data, &err);
    g_slist_free(listeners);
    assert_non_null(bound);
    s->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
    s->thread = g_thread_new("tls-server", server_thread, s);
}

static void server_stop(Server *s)
{
    g_main_context_invoke(s->ctx, (GSourceFunc)g_main_loop_quit, s->loop);
    g_thread_join(s->thread);
    g_main_context_push_thread_default(s->ctx);
    soup_server_disconnect(s->soup);
    g_object_unref(s->soup);
    g_main_context_pop_thread_default(s->ctx);
    g_main_loop_unref(s->loop);
    g_main_context_unref(s->ctx);
}

/* A hang is a failure, not a test killed by meson's timeout. */
static gpointer watchdog_thread(gpointer opaque)
{
    Fixture *f = opaque;
    gint64 end = g_get_monotonic_time() + WATCHDOG_S * G_TIME_SPAN_SECOND;

    g_mutex_lock(&f->lock);
    while (!f->done) {
        if (!g_cond_wait_until(&f->cond, &f->lock, end)) {
            printf("not ok - a synchronous TLS call from the main loop got "
                   "no answer in %d s: deadlocked\n", WATCHDOG_S);
            fflush(stdout);
            _exit(1);
        }
    }
    g_mutex_unlock(&f->lock);
    return NULL;
}

static int setup(void **state)
{
    Fixture *f = g_new0(Fixture, 1);
    const char *make = getenv("TLS_TEST_MAKE_CERTS");
    g_autoptr(GError) err = NULL;
    const char *argv[] = { make, NULL, NULL };
    g_autofree char *server = NULL;
    gint status = -1;

    assert_non_null(make);
    f->dir = g_dir_make_tmp("tls-client-cert.XXXXXX", &err);
    assert_non_null(f->dir);
    argv[1] = f->dir;
    assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT,
                             NULL, NULL, NULL, NULL, &status, &err));
    assert_true(g_spawn_check_wait_status(status, &err));
    server = g_build_filename(f->dir, "server", NULL);
    server_start(&f->srv, server);
    g_mutex_init(&f->lock);
    g_cond_init(&f->cond);
    f->watchdog = g_thread_new("watchdog", watchdog_thread, f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    g_autofree char *rm = g_strdup_printf("rm -rf '%s'", f->dir);

    g_mutex_lock(&f->lock);
    f->done = true;
    g_cond_signal(&f->cond);
    g_mutex_unlock(&f->lock);
    g_thread_join(f->watchdog);
    server_stop(&f->srv);
    assert_int_equal(system(rm), 0);
    g_free(f->dir);
    g_free(f);
    return 0;
}

/* Run @call from a callback of a main loop on the default context. */
typedef struct Call {
    Fixture *f;
    GMainLoop *loop;
    void (*fn)(Fixture *f);
} Call;

static gboolean call_in_loop(gpointer opaque)
{
    Call *c = opaque;

    /* The caller holds the context, as dm-orchestrator's handlers do. */
    assert_true(g_main_context_is_owner(g_main_context_default()));
    c->fn(c->f);
    g_main_loop_quit(c->loop);
    return G_SOURCE_REMOVE;
}

static void run_in_loop(Fixture *f, void (*fn)(Fixture *f))
{
    Call c = { f, g_main_loop_new(NULL, FALSE), fn };

    g_idle_add(call_in_loop, &c);
    g_main_loop_run(c.loop);
    g_main_loop_unref(c.loop);
}

/* What the launcher calls and dmctl do: dm_soup_tls_message_new(). */
static void launcher_calls(Fixture *f)
{
    g_autofree char *dir = g_build_filename(f->dir, "client", NULL);
    g_auto(DmSoupTlsCreds) creds = { 0 };
    g_autoptr(GError) err = NULL;
    int i;

    assert_true(dm_soup_tls_creds_load(dir, "client", &creds, &err));
    for (i = 0; i < CALLS; i++) {
        /* A session each: a new connection, a full handshake. */
        g_autoptr(GSocketConnectable) peer =
            g_network_address_new("127.0.0.1", f->srv.port);
        g_autoptr(SoupSession) s = dm_soup_tls_session_new(peer, &creds,
                                                           "test", 10);
        g_autoptr(SoupMessage) msg = dm_soup_tls_message_new(
            "GET", "127.0.0.1", "/", &creds);
        g_autoptr(GBytes) body = soup_session_send_and_read(s, msg, NULL,
                                                            &err);

        if (!body) {
            g_autofree char *why = dm_soup_tls_explain(msg, err);

            fail_msg("call %d: %s", i, why);
        }
        assert_int_equal(soup_message_get_status(msg), SOUP_STATUS_OK);
    }
}

static void test_launcher_call_from_loop(void **state)
{
    Fixture *f = *state;

    run_in_loop(f, launcher_calls);
    assert_int_equal(f->srv.asked, CALLS);
}

/* What the store and the leader do: common/etcd.c. */
static void etcd_calls(Fixture *f)
{
    g_autofree char *client = g_build_filename(f->dir, "client", NULL);
    g_autofree char *ca = g_build_filename(client, "ca-cert.pem", NULL);
    g_autofree char *cert = g_build_filename(client, "client-cert.pem", NULL);
    g_autofree char *key = g_build_filename(client, "client-key.pem", NULL);
    g_autofree char *url = g_strdup_printf("https://127.0.0.1:%u",
                                           f->srv.port);
    int i;

    for (i = 0; i < CALLS; i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(DmEtcd) e = dm_etcd_new(url, ca, cert, key, &err);
        g_autoptr(JsonNode) body = json_from_string("{}", NULL);
        g_autoptr(JsonNode) answer = NULL;

        assert_non_null(e);
        answer = dm_etcd_call(e, "/v3/kv/range", body, &err);
        if (!answer) {
            fail_msg("etcd call %d: %s", i, err->message);
        }
    }
}

static void test_etcd_call_from_loop(void **state)
{
    Fixture *f = *state;

    run_in_loop(f, etcd_calls);
    assert_int_equal(f->srv.asked, CALLS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_launcher_call_from_loop,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_etcd_call_from_loop,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
