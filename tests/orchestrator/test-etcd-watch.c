/*
 * The watch on a prefix (common/etcd-watch.h) against a real etcd on
 * loopback (with-etcd.sh): the events another client writes arrive in
 * order, once each, the keys outside the prefix not at all; none is lost
 * or repeated across a kill -9 and restart of etcd on its data directory,
 * across an endpoint cut off while keys are written (a proxy in this
 * process between the watch and etcd, cut and restored), or when the
 * watch moves to the next endpoint; a compacted start revision is
 * reported and stops the watch; a watch is freed while connected, while
 * no endpoint answers and while it waits to retry, and no callback runs
 * after; every callback on the caller's thread.
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

#include "etcd.h"
#include "etcd-watch.h"
#include "etcd-proxy.h"

/* Generous: a loaded machine; a wait never decides a result alone. */
#define WAIT_S 60

static char *etcd_url;          /* http://127.0.0.1:PORT */
static guint16 etcd_port;
static DmEtcd *etcd;            /* "another client": the writer */

/* What a watch delivered, as text, and its notices counted. */
typedef struct Seen {
    GPtrArray *events;          /* "PUT key=value@rev", "DEL key@rev" */
    guint up, down, compacted;
    gint64 compact_rev;
    char *down_msg;
    gint64 last_rev;
    bool out_of_order;
    bool other_thread;          /* a callback not on the caller's thread */
} Seen;

static GThread *main_thread;

static void seen_cb(const DmEtcdWatchNotice *n, gpointer opaque)
{
    Seen *s = opaque;
    guint i;

    if (g_thread_self() != main_thread) {
        s->other_thread = true;
    }
    switch (n->kind) {
    case DM_ETCD_WATCH_UP:
        s->up++;
        break;
    case DM_ETCD_WATCH_DOWN:
        s->down++;
        g_free(s->down_msg);
        s->down_msg = g_strdup(n->message);
        break;
    case DM_ETCD_WATCH_COMPACTED:
        s->compacted++;
        s->compact_rev = n->revision;
        break;
    case DM_ETCD_WATCH_EVENTS:
        for (i = 0; i < n->events->len; i++) {
            DmEtcdWatchEvent *ev = n->events->pdata[i];

            if (ev->mod_rev < s->last_rev) {
                s->out_of_order = true;
            }
            s->last_rev = ev->mod_rev;
            g_ptr_array_add(s->events, ev->deleted
                ? g_strdup_printf("DEL %s@%" G_GINT64_FORMAT, ev->key,
                                  ev->mod_rev)
                : g_strdup_printf("PUT %s=%s@%" G_GINT64_FORMAT, ev->key,
                                  ev->value, ev->mod_rev));
        }
        break;
    }
}

static Seen *seen_new(void)
{
    Seen *s = g_new0(Seen, 1);

    s->events = g_ptr_array_new_with_free_func(g_free);
    return s;
}

static void seen_free(Seen *s)
{
    g_ptr_array_unref(s->events);
    g_free(s->down_msg);
    g_free(s);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Seen, seen_free)

/* Run the default context until @cond, or fail after WAIT_S. */
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

/* Iterate the default context a while: what was queued runs. */
static void drain(guint ms)
{
    gint64 end = g_get_monotonic_time() + ms * G_TIME_SPAN_MILLISECOND;

    while (g_get_monotonic_time() < end) {
        if (!g_main_context_iteration(NULL, FALSE)) {
            g_usleep(5000);
        }
    }
}

static JsonNode *call(const char *path, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);
static JsonNode *call(const char *path, const char *fmt, ...)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *text = NULL;
    g_autoptr(JsonNode) body = NULL;
    JsonNode *r;
    va_list ap;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    body = json_from_string(text, &err);
    assert_non_null(body);
    r = dm_etcd_call(etcd, path, body, &err);
    if (!r) {
        fail_msg("%s: %s", path, err->message);
    }
    return r;
}

static gint64 header_rev(JsonNode *r)
{
    return dm_etcd_int(json_object_get_object_member(
                           json_node_get_object(r), "header"), "revision");
}

/* Put @key = @value as another client; its revision. */
static gint64 put(const char *key, const char *value)
{
    g_autofree char *k = dm_etcd_b64(key);
    g_autofree char *v = dm_etcd_b64(value);
    g_autoptr(JsonNode) r = call("/v3/kv/put",
                                 "{\"key\":\"%s\",\"value\":\"%s\"}", k, v);

    return header_rev(r);
}

static gint64 del(const char *key)
{
    g_autofree char *k = dm_etcd_b64(key);
    g_autoptr(JsonNode) r = call("/v3/kv/deleterange", "{\"key\":\"%s\"}",
                                 k);

    return header_rev(r);
}

/* Put @n keys PREFIX%02d from @first, each "v%d"; their lines to @want. */
static void put_some(GPtrArray *want, const char *prefix, int first, int n)
{
    int i;

    for (i = first; i < first + n; i++) {
        g_autofree char *key = g_strdup_printf("%s%02d", prefix, i);
        g_autofree char *value = g_strdup_printf("v%d", i);
        gint64 rev = put(key, value);

        g_ptr_array_add(want, g_strdup_printf("PUT %s=%s@%" G_GINT64_FORMAT,
                                              key, value, rev));
    }
}

static void check_seen(Seen *s, GPtrArray *want)
{
    guint i;

    assert_false(s->out_of_order);
    assert_false(s->other_thread);
    for (i = 0; i < MAX(want->len, s->events->len); i++) {
        const char *w = i < want->len ? want->pdata[i] : "(none)";
        const char *g = i < s->events->len ? s->events->pdata[i] : "(none)";

        if (strcmp(w, g)) {
            fail_msg("event %u: got '%s', wanted '%s'", i, g, w);
        }
    }
}

static DmEtcdWatch *watch(const char *endpoints, const char *prefix,
                          gint64 from, Seen *s)
{
    g_autoptr(GError) err = NULL;
    DmEtcdWatch *w = dm_etcd_watch_new(endpoints, NULL, NULL, NULL, prefix,
                                       from, NULL, seen_cb, s, &err);

    if (!w) {
        fail_msg("watch: %s", err->message);
    }
    return w;
}

/* ---- The tests ---- */

static void test_order(void **state)
{
    g_autoptr(Seen) s = seen_new();
    g_autoptr(GPtrArray) want = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(DmEtcdWatch) w = watch(etcd_url, "/w/order/", 0, s);
    gint64 rev;

    WAIT(s->up == 1);
    put_some(want, "/w/order/", 0, 30);
    /* Outside the prefix: the next key after it, and a longer one. */
    put("/w/order0", "no");
    put("/w/orderx/1", "no");
    rev = del("/w/order/05");
    g_ptr_array_add(want, g_strdup_printf("DEL /w/order/05@%" G_GINT64_FORMAT,
                                          rev));
    put_some(want, "/w/order/", 30, 1);
    WAIT(s->events->len >= want->len);
    drain(300);
    check_seen(s, want);
    assert_int_equal(s->down, 0);
}

/* kill -9 of etcd, started again on its data directory. */
static void test_etcd_restart(void **state)
{
    g_autoptr(Seen) s = seen_new();
    g_autoptr(GPtrArray) want = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(DmEtcdWatch) w = watch(etcd_url, "/w/restart/", 0, s);
    const char *dir = g_getenv("ORCH_TEST_ETCD_DIR");
    g_autofree char *pidfile = g_build_filename(dir, "etcd.pid", NULL);
    g_autofree char *start = g_build_filename(dir, "start-etcd.sh", NULL);
    g_autofree char *pidtext = NULL;
    g_autoptr(GError) err = NULL;
    int status;

    WAIT(s->up == 1);
    put_some(want, "/w/restart/", 0, 5);
    WAIT(s->events->len == 5);
    assert_true(g_file_get_contents(pidfile, &pidtext, NULL, NULL));
    assert_int_equal(kill(atoi(pidtext), SIGKILL), 0);
    WAIT(s->down == 1);
    assert_non_null(s->down_msg);
    if (!g_spawn_sync(NULL, (char *[]){ start, NULL }, NULL,
                      G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status,
                      &err) || !g_spawn_check_wait_status(status, &err)) {
        fail_msg("%s: %s", start, err->message);
    }
    /* Written as soon as etcd answers: before or after the watch's return. */
    put_some(want, "/w/restart/", 5, 5);
    WAIT(s->events->len >= 10);
    drain(300);
    check_seen(s, want);
    assert_int_equal(s->up, 2);
    assert_int_equal(s->down, 1);
}

/* Keys written while the watch's endpoint is cut off arrive afterwards. */
static void test_cut_resume(void **state)
{
    Proxy *p = *state;
    g_autoptr(Seen) s = seen_new();
    g_autoptr(GPtrArray) want = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(DmEtcdWatch) w = watch(p->url, "/w/cut/", 0, s);
    gint64 rev;

    WAIT(s->up == 1);
    put_some(want, "/w/cut/", 0, 3);
    WAIT(s->events->len == 3);
    proxy_cut(p);
    WAIT(s->down == 1);
    /* The watch cannot see these now: it must ask from where it was. */
    put_some(want, "/w/cut/", 3, 3);
    rev = del("/w/cut/00");
    g_ptr_array_add(want, g_strdup_printf("DEL /w/cut/00@%" G_GINT64_FORMAT,
                                          rev));
    drain(200);
    assert_int_equal(s->events->len, 3);
    proxy_restore(p);
    WAIT(s->events->len >= 7);
    drain(300);
    check_seen(s, want);
    assert_int_equal(s->up, 2);
    assert_int_equal(s->down, 1);
}

/* The first endpoint cut off: the next, at once, from where it was. */
static void test_next_endpoint(void **state)
{
    Proxy *p = *state;
    Proxy *q = proxy_new(etcd_port);
    g_autofree char *both = g_strdup_printf("%s,%s", p->url, q->url);
    g_autoptr(Seen) s = seen_new();
    g_autoptr(GPtrArray) want = g_ptr_array_new_with_free_func(g_free);
    DmEtcdWatch *w = watch(both, "/w/next/", 0, s);

    WAIT(s->up == 1);
    put_some(want, "/w/next/", 0, 2);
    WAIT(s->events->len == 2);
    proxy_cut(p);
    put_some(want, "/w/next/", 2, 2);
    WAIT(s->events->len >= 4 && s->up == 2);
    drain(300);
    check_seen(s, want);
    assert_int_equal(s->down, 0);
    dm_etcd_watch_free(w);
    proxy_free(q);
}

static void test_compacted(void **state)
{
    g_autoptr(Seen) s = seen_new();
    g_autoptr(Seen) again = seen_new();
    g_autoptr(GPtrArray) want = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(DmEtcdWatch) w2 = NULL;
    g_autoptr(JsonNode) r = NULL;
    DmEtcdWatch *w;
    gint64 r1, r3;

    r1 = put("/w/compact/1", "a");
    put("/w/compact/2", "b");
    r3 = put("/w/compact/3", "c");
    r = call("/v3/kv/compaction",
             "{\"revision\":\"%" G_GINT64_FORMAT "\",\"physical\":true}", r3);
    w = watch(etcd_url, "/w/compact/", r1, s);
    WAIT(s->compacted == 1);
    assert_int_equal(s->compact_rev, r3);
    assert_int_equal(s->events->len, 0);
    dm_etcd_watch_free(w);
    /* The caller reloads, then watches from its read's revision + 1. */
    w2 = watch(etcd_url, "/w/compact/", r3, again);
    g_ptr_array_add(want, g_strdup_printf("PUT /w/compact/3=c@%"
                                          G_GINT64_FORMAT, r3));
    put_some(want, "/w/compact/", 4, 1);
    WAIT(again->events->len >= 2);
    check_seen(again, want);
    assert_int_equal(again->compacted, 0);
}

/* Freed connected, cut off, and never connected: no callback after. */
static void test_cancel(void **state)
{
    Proxy *p = *state;
    g_autoptr(Seen) s = seen_new();
    g_autoptr(Seen) t = seen_new();
    g_autofree char *dead = NULL;
    DmEtcdWatch *w;
    guint n;

    w = watch(etcd_url, "/w/cancel/", 0, s);
    WAIT(s->up == 1);
    put("/w/cancel/1", "x");
    dm_etcd_watch_free(w);
    n = s->events->len;
    put("/w/cancel/2", "x");
    drain(300);
    assert_int_equal(s->events->len, n);

    /* Cut off: freed while it waits to try again. */
    w = watch(p->url, "/w/cancel/", 0, t);
    WAIT(t->up == 1);
    proxy_cut(p);
    WAIT(t->down == 1);
    dm_etcd_watch_free(w);
    proxy_restore(p);

    /* Nothing listens there (the proxy's port, closed): never up. */
    proxy_cut(p);
    dead = g_strdup(p->url);
    w = watch(dead, "/w/cancel/", 0, t);
    dm_etcd_watch_free(w);
    w = watch(dead, "/w/cancel/", 0, t);
    WAIT(t->down == 2);
    dm_etcd_watch_free(w);
    drain(300);
    assert_int_equal(t->up, 1);
    assert_int_equal(t->down, 2);
    proxy_restore(p);
}

/* A bad endpoint is the caller's error, at once. */
static void test_bad_endpoint(void **state)
{
    g_autoptr(GError) err = NULL;
    DmEtcdWatch *w = dm_etcd_watch_new("ftp://x", NULL, NULL, NULL, "/w/",
                                       0, NULL, seen_cb, NULL, &err);

    assert_null(w);
    assert_true(g_error_matches(err, DM_ETCD_ERROR, DM_ETCD_ERROR_CONFIG));
}

static int proxy_setup(void **state)
{
    *state = proxy_new(etcd_port);
    return 0;
}

static int proxy_teardown(void **state)
{
    proxy_free(*state);
    return 0;
}

int main(void)
{
    const char *spec = g_getenv("ORCH_TEST_STORE");
    g_autoptr(GUri) uri = NULL;
    g_autoptr(GError) err = NULL;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_endpoint),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_compacted),
        cmocka_unit_test_setup_teardown(test_cut_resume, proxy_setup,
                                        proxy_teardown),
        cmocka_unit_test_setup_teardown(test_next_endpoint, proxy_setup,
                                        proxy_teardown),
        cmocka_unit_test_setup_teardown(test_cancel, proxy_setup,
                                        proxy_teardown),
        cmocka_unit_test(test_etcd_restart),
    };

    if (!spec || !g_str_has_prefix(spec, "etcd:http://")) {
        printf("1..0 # SKIP wants an etcd on http (with-etcd.sh)\n");
        return 0;
    }
    main_thread = g_thread_self();
    etcd_url = g_strdup(spec + 5);
    uri = g_uri_parse(etcd_url, G_URI_FLAGS_NONE, &err);
    assert_non_null(uri);
    etcd_port = g_uri_get_port(uri);
    etcd = dm_etcd_new(etcd_url, NULL, NULL, NULL, &err);
    assert_non_null(etcd);
    return cmocka_run_group_tests_name("etcd-watch", tests, NULL, NULL);
}
