/*
 * The live events' stream (orchestrator/stream.c) served by a libsoup
 * server in this process, on the back end ORCH_TEST_STORE names (a
 * SQLite file unset; etcd from with-etcd.sh), read by a raw HTTP client
 * in a thread: events appended by another writer (a second handle on
 * the store, as a second orchestrator) and by this one reach the open
 * stream in order, once each, from ?since= or from now.  On etcd, where
 * a watch wakes the stream instead of a poll: an idle stream reads
 * nothing from etcd (its own count of ranges served), events written
 * after a kill -9 and restart of etcd still reach it, and so do those
 * written while its watch was cut off and then compacted away.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <gio/gio.h>
#include <libsoup/soup.h>

#include "etcd.h"
#include "etcd-proxy.h"
#include "store-test.h"
#include "store-events.h"
#include "stream.h"

#define WAIT_S 60

typedef struct Client {
    GThread *thread;
    guint port;
    char *query;
    GCancellable *cancel;
    GMutex lock;
    GString *data;              /* what the stream sent, raw */
} Client;

static OrchStream *stream;
static SoupServer *server;
static guint server_port;
static OrchStore *other;        /* another writer's handle */

static void serve(SoupServer *srv, SoupServerMessage *msg, const char *path,
                  GHashTable *query, gpointer opaque)
{
    orch_stream_open(stream, msg, query);
}

static gpointer client_run(gpointer opaque)
{
    Client *c = opaque;
    g_autoptr(GSocketClient) sc = g_socket_client_new();
    g_autoptr(GSocketConnection) conn = g_socket_client_connect_to_host(
        sc, "127.0.0.1", c->port, c->cancel, NULL);
    g_autofree char *req = g_strdup_printf(
        "GET /v1/events/stream%s HTTP/1.1\r\nHost: x\r\n\r\n", c->query);
    char buf[4096];
    gssize n;

    if (!conn ||
        !g_output_stream_write_all(
            g_io_stream_get_output_stream(G_IO_STREAM(conn)), req,
            strlen(req), NULL, c->cancel, NULL)) {
        return NULL;
    }
    while ((n = g_input_stream_read(
                g_io_stream_get_input_stream(G_IO_STREAM(conn)), buf,
                sizeof(buf), c->cancel, NULL)) > 0) {
        g_mutex_lock(&c->lock);
        g_string_append_len(c->data, buf, n);
        g_mutex_unlock(&c->lock);
    }
    return NULL;
}

static Client *client_open(const char *query)
{
    Client *c = g_new0(Client, 1);

    c->port = server_port;
    c->query = g_strdup(query);
    c->cancel = g_cancellable_new();
    g_mutex_init(&c->lock);
    c->data = g_string_new(NULL);
    c->thread = g_thread_new("sse-client", client_run, c);
    return c;
}

static void client_close(Client *c)
{
    g_cancellable_cancel(c->cancel);
    g_thread_join(c->thread);
    g_object_unref(c->cancel);
    g_mutex_clear(&c->lock);
    g_string_free(c->data, TRUE);
    g_free(c->query);
    g_free(c);
}

/* The ids of the events received, "3 4 5". */
static char *client_ids(Client *c)
{
    g_autoptr(GString) ids = g_string_new(NULL);
    const char *p;

    g_mutex_lock(&c->lock);
    for (p = c->data->str; (p = strstr(p, "\nid: ")); p++) {
        g_string_append_printf(ids, "%s%" G_GINT64_FORMAT,
                               ids->len ? " " : "",
                               g_ascii_strtoll(p + 5, NULL, 10));
    }
    g_mutex_unlock(&c->lock);
    return g_strdup(ids->str);
}

static bool client_opened(Client *c)
{
    bool open;

    g_mutex_lock(&c->lock);
    open = strstr(c->data->str, ": dm-orchestrator events") != NULL;
    g_mutex_unlock(&c->lock);
    return open;
}

/* Serve until @cond, or fail after WAIT_S. */
#define WAIT(cond) do {                                                   \
        gint64 end_ = g_get_monotonic_time() + WAIT_S * G_TIME_SPAN_SECOND;\
        while (!(cond)) {                                                 \
            if (g_get_monotonic_time() > end_) {                          \
                fail_msg("line %d: waited %d s for %s", __LINE__, WAIT_S, \
                         #cond);                                          \
            }                                                             \
            if (!g_main_context_iteration(NULL, FALSE)) {                 \
                g_usleep(5000);                                           \
            }                                                             \
        }                                                                 \
    } while (0)

static void serve_for(guint ms)
{
    gint64 end = g_get_monotonic_time() + ms * G_TIME_SPAN_MILLISECOND;

    while (g_get_monotonic_time() < end) {
        if (!g_main_context_iteration(NULL, FALSE)) {
            g_usleep(5000);
        }
    }
}

/* Wait until @c received exactly the ids @want (and no more after). */
static void wait_ids(Client *c, const char *want)
{
    g_autofree char *got = NULL;

    WAIT((g_free(got), got = client_ids(c), strlen(got) >= strlen(want)));
    serve_for(2 * ORCH_STREAM_TICK_MS);
    g_free(got);
    got = client_ids(c);
    if (strcmp(got, want)) {
        fail_msg("stream ids: got '%s', wanted '%s'", got, want);
    }
}

/*
 * Event @id written by the other writer, as a second orchestrator would;
 * the store's revision it carries.
 */
static gint64 other_append(gint64 id)
{
    g_autoptr(OrchTxn) t = orch_txn_new();
    g_autoptr(GError) err = NULL;
    gint64 rev = 0;
    g_autofree char *key = g_strdup_printf("/dm/events/%020" G_GINT64_FORMAT,
                                           id);
    g_autofree char *doc = g_strdup_printf(
        "{\"id\": %" G_GINT64_FORMAT ", \"time\": \"2026-12-04T00:00:00Z\", "
        "\"vm\": \"other\", \"message\": \"m%" G_GINT64_FORMAT "\"}", id, id);

    orch_txn_if_rev(t, key, 0);
    orch_txn_put(t, key, doc);
    if (!orch_store_txn(other, t, &rev, &err)) {
        fail_msg("append %" G_GINT64_FORMAT ": %s", id, err->message);
    }
    return rev;
}

static char *ids_from(gint64 first, gint64 last)
{
    GString *s = g_string_new(NULL);
    gint64 i;

    for (i = first; i <= last; i++) {
        g_string_append_printf(s, "%s%" G_GINT64_FORMAT, s->len ? " " : "",
                               i);
    }
    return g_string_free(s, FALSE);
}

static void test_other_writer(void **state)
{
    gint64 last = orch_events_last_id();
    Client *c = client_open("");
    g_autofree char *want = NULL;
    gint64 i;

    WAIT(client_opened(c));
    for (i = last + 1; i <= last + 5; i++) {
        other_append(i);
    }
    /* And this process's own, after the other's ids. */
    orch_events_add("self", "mine");
    want = ids_from(last + 1, last + 6);
    wait_ids(c, want);
    client_close(c);
}

static void test_since(void **state)
{
    gint64 last = orch_events_last_id();
    g_autofree char *q = g_strdup_printf("?since=%" G_GINT64_FORMAT,
                                         last - 3);
    g_autofree char *want = ids_from(last - 2, last + 2);
    Client *c = client_open(q);

    assert_true(last >= 4);
    WAIT(client_opened(c));
    other_append(last + 1);
    other_append(last + 2);
    wait_ids(c, want);
    client_close(c);
}

/* etcd's count of ranges served (its gRPC counter, gateway included). */
static gint64 etcd_ranges(void)
{
    g_autoptr(SoupSession) soup = soup_session_new();
    g_autofree char *url = g_strconcat(store_test_spec + 5, "/metrics", NULL);
    g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
    g_autoptr(GBytes) body = soup_session_send_and_read(soup, msg, NULL,
                                                        NULL);
    const char *name = "grpc_server_started_total{grpc_method=\"Range\","
                       "grpc_service=\"etcdserverpb.KV\","
                       "grpc_type=\"unary\"} ";
    g_autofree char *text = NULL;
    const char *p;

    assert_non_null(body);
    text = g_strndup(g_bytes_get_data(body, NULL), g_bytes_get_size(body));
    p = strstr(text, name);
    assert_non_null(p);
    return g_ascii_strtoll(p + strlen(name), NULL, 10);
}

/* An open stream with nothing new reads nothing: the watch wakes it. */
static void test_idle_reads_nothing(void **state)
{
    Client *c;
    gint64 before, last = orch_events_last_id();
    g_autofree char *want = ids_from(last + 1, last + 1);

    c = client_open("");
    WAIT(client_opened(c));
    /* Past its first read: then a while of ticks, with nothing new. */
    serve_for(4 * ORCH_STREAM_TICK_MS);
    before = etcd_ranges();
    serve_for(8 * ORCH_STREAM_TICK_MS);
    assert_int_equal(etcd_ranges(), before);
    /* Still awake: an event arrives. */
    other_append(last + 1);
    wait_ids(c, want);
    client_close(c);
}

/* kill -9 of etcd while a stream is open; started again, it goes on. */
static void test_etcd_restart(void **state)
{
    const char *dir = g_getenv("ORCH_TEST_ETCD_DIR");
    g_autofree char *pidfile = NULL, *start = NULL, *pid = NULL;
    g_autofree char *want = NULL;
    g_autoptr(GError) err = NULL;
    gint64 last;
    Client *c;
    int status;

    assert_non_null(dir);
    pidfile = g_build_filename(dir, "etcd.pid", NULL);
    start = g_build_filename(dir, "start-etcd.sh", NULL);
    last = orch_events_last_id();
    c = client_open("");
    WAIT(client_opened(c));
    other_append(last + 1);
    want = ids_from(last + 1, last + 1);
    wait_ids(c, want);
    assert_true(g_file_get_contents(pidfile, &pid, NULL, NULL));
    assert_int_equal(kill(atoi(pid), SIGKILL), 0);
    /* Ticks with etcd gone: the stream waits for it. */
    serve_for(4 * ORCH_STREAM_TICK_MS);
    if (!g_spawn_sync(NULL, (char *[]){ start, NULL }, NULL,
                      G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status,
                      &err) || !g_spawn_check_wait_status(status, &err)) {
        fail_msg("%s: %s", start, err->message);
    }
    other_append(last + 2);
    other_append(last + 3);
    g_free(want);
    want = ids_from(last + 1, last + 3);
    wait_ids(c, want);
    client_close(c);
}

/*
 * The stream's watch cut off (its store through a proxy in the test)
 * while events are written and etcd compacts past them: when the
 * endpoint is back, the watch cannot resume, says so, and the stream
 * reads the store and watches again; no event is lost.
 */
static void test_compacted(void **state)
{
    g_autoptr(GUri) uri = g_uri_parse(store_test_spec + 5, G_URI_FLAGS_NONE,
                                      NULL);
    Proxy *p = proxy_new(g_uri_get_port(uri));
    g_autofree char *spec = g_strconcat("etcd:", p->url, NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(OrchStore) via = orch_store_open(spec, NULL, NULL, NULL, &err);
    g_autoptr(DmEtcd) e = dm_etcd_new(store_test_spec + 5, NULL, NULL, NULL,
                                      &err);
    g_autoptr(JsonNode) body = NULL;
    g_autoptr(JsonNode) r = NULL;
    g_autofree char *want = NULL;
    g_autofree char *compact = NULL;
    gint64 last, rev;
    Client *c;

    assert_non_null(via);
    assert_non_null(e);
    /*
     * A new stream, whose watch is on @via: the server has not noticed
     * the earlier tests' clients leave (it would at its next write), so
     * the stream's watch on the store would still be theirs.
     */
    orch_stream_free(stream);
    stream = orch_stream_new();
    orch_events_close();
    assert_true(orch_events_open(via, &err));
    last = orch_events_last_id();
    c = client_open("");
    WAIT(client_opened(c));
    other_append(last + 1);
    want = ids_from(last + 1, last + 1);
    wait_ids(c, want);

    proxy_cut(p);
    other_append(last + 2);
    rev = other_append(last + 3);
    compact = g_strdup_printf("{\"revision\": \"%" G_GINT64_FORMAT "\"}",
                              rev);
    body = json_from_string(compact, NULL);
    r = dm_etcd_call(e, "/v3/kv/compaction", body, &err);
    if (!r) {
        fail_msg("compaction: %s", err->message);
    }
    serve_for(2 * ORCH_STREAM_TICK_MS);
    proxy_restore(p);
    g_free(want);
    want = ids_from(last + 1, last + 3);
    wait_ids(c, want);
    client_close(c);

    orch_events_close();
    assert_true(orch_events_open(store_test_store, &err));
    proxy_free(p);
}

static int setup(void **state)
{
    g_autoptr(GError) err = NULL;
    GSList *uris;

    if (store_test_setup(state) < 0) {
        return -1;
    }
    if (!orch_events_open(store_test_store, &err)) {
        fail_msg("%s: %s", store_test_spec, err->message);
    }
    other = orch_store_open(store_test_spec, NULL, NULL, NULL, &err);
    if (!other) {
        fail_msg("%s: %s", store_test_spec, err->message);
    }
    stream = orch_stream_new();
    server = soup_server_new(NULL, NULL);
    soup_server_add_handler(server, "/v1/events/stream", serve, NULL, NULL);
    if (!soup_server_listen_local(server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY,
                                  &err)) {
        fail_msg("listen: %s", err->message);
    }
    uris = soup_server_get_uris(server);
    server_port = g_uri_get_port(uris->data);
    g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
    return 0;
}

static int teardown(void **state)
{
    /* The stream first: its clients' messages die with the server. */
    orch_stream_free(stream);
    soup_server_disconnect(server);
    g_object_unref(server);
    orch_store_close(other);
    orch_events_close();
    return store_test_teardown(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_other_writer),
        cmocka_unit_test(test_since),
        /* etcd's only, at the end: */
        cmocka_unit_test(test_idle_reads_nothing),
        cmocka_unit_test(test_etcd_restart),
        cmocka_unit_test(test_compacted),
    };
    const char *env = g_getenv("ORCH_TEST_STORE");
    bool etcd = env && g_str_has_prefix(env, "etcd:");

    /* cmocka's skip() is a "not ok" in TAP: leave them out instead. */
    return store_test_run("test-stream", tests,
                          G_N_ELEMENTS(tests) - (etcd ? 0 : 3), setup,
                          teardown);
}
