/*
 * etcd's answers as the client reads them (common/etcd.c), from a fake
 * etcd: a thread answering every request with one canned body.  Whatever
 * answers at an endpoint may send a few MB of '[': json-glib recursed
 * once per level and ran off the stack (issue #22); it is refused before
 * it is parsed, and a usual answer is still read.  An answer larger than
 * DM_ETCD_MAX_ANSWER is refused by its Content-Length, or, without one,
 * once that much has come (never held whole).  The same for a watch
 * (common/etcd-watch.c), and a message of its longer than its bound.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "etcd.h"
#include "etcd-watch.h"

/* Larger than any stack: each level is a frame of json-glib's parser. */
#define DEEP_LEN (4 * 1024 * 1024)

typedef struct FakeEtcd {
    int fd;                     /* listening on 127.0.0.1 */
    char *body;                 /* answered to every request */
    size_t len;
    size_t declared;            /* its Content-Length, if not len */
    bool endless;               /* no Content-Length, 'x' until closed */
    GThread *thread;
} FakeEtcd;

/* Read one request: its head, then Content-Length bytes of body. */
static bool fake_read_request(int c)
{
    g_autoptr(GString) in = g_string_new(NULL);
    const char *end, *cl;
    size_t want;
    char buf[4096];
    ssize_t n;

    while (!(end = strstr(in->str, "\r\n\r\n"))) {
        n = read(c, buf, sizeof(buf));
        if (n <= 0) {
            return false;
        }
        g_string_append_len(in, buf, n);
    }
    cl = strcasestr(in->str, "content-length:");
    want = (end - in->str) + 4 + (cl && cl < end ? strtoul(cl + 15, NULL, 10)
                                                  : 0);
    while (in->len < want) {
        n = read(c, buf, sizeof(buf));
        if (n <= 0) {
            return false;
        }
        g_string_append_len(in, buf, n);
    }
    return true;
}

/* 'x' without end, until the client goes. */
static void fake_etcd_endless(int c)
{
    char chunk[65536];

    memset(chunk, 'x', sizeof(chunk));
    while (send(c, chunk, sizeof(chunk), MSG_NOSIGNAL) > 0) {
        continue;
    }
}

static gpointer fake_etcd_run(gpointer opaque)
{
    FakeEtcd *f = opaque;
    int c;

    while ((c = accept(f->fd, NULL, NULL)) >= 0) {
        g_autofree char *length = g_strdup_printf(
            "Content-Length: %zu\r\n", f->declared ? f->declared : f->len);
        g_autofree char *head = g_strdup_printf(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            "%sConnection: close\r\n\r\n", f->endless ? "" : length);

        if (fake_read_request(c)) {
            size_t off = 0;

            if (write(c, head, strlen(head)) < 0) {
                off = f->len;
            }
            if (f->endless) {
                fake_etcd_endless(c);
            }
            while (off < f->len) {
                ssize_t n = send(c, f->body + off, f->len - off,
                                 MSG_NOSIGNAL);

                if (n <= 0) {
                    break;
                }
                off += n;
            }
        }
        close(c);
    }
    return NULL;
}

/* A fake etcd answering @body; its endpoint in *@ret_url. */
static FakeEtcd *fake_etcd_start_full(char *body, size_t len,
                                      size_t declared, bool endless,
                                      char **ret_url)
{
    FakeEtcd *f = g_new0(FakeEtcd, 1);
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t sl = sizeof(sa);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(f->fd >= 0);
    assert_int_equal(bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(f->fd, 8), 0);
    assert_int_equal(getsockname(f->fd, (struct sockaddr *)&sa, &sl), 0);
    f->body = body;
    f->len = len;
    f->declared = declared;
    f->endless = endless;
    f->thread = g_thread_new("fake-etcd", fake_etcd_run, f);
    *ret_url = g_strdup_printf("http://127.0.0.1:%u", ntohs(sa.sin_port));
    return f;
}

static FakeEtcd *fake_etcd_start(char *body, size_t len, char **ret_url)
{
    return fake_etcd_start_full(body, len, 0, false, ret_url);
}

static void fake_etcd_stop(FakeEtcd *f)
{
    /* accept() returns at once with an error once the socket is shut. */
    shutdown(f->fd, SHUT_RDWR);
    g_thread_join(f->thread);
    close(f->fd);
    g_free(f->body);
    g_free(f);
}

static JsonNode *range_call(const char *url, GError **err)
{
    g_autoptr(DmEtcd) e = dm_etcd_new(url, NULL, NULL, NULL, err);
    g_autoptr(JsonNode) body = json_from_string("{\"key\": \"YQ==\"}", NULL);

    assert_non_null(e);
    return dm_etcd_call(e, "/v3/kv/range", body, err);
}

/* A few MB of '[' from the endpoint: refused, saying why. */
static void test_deep_answer_refused(void **state)
{
    char *deep = g_malloc(DEEP_LEN);
    g_autofree char *url = NULL;
    g_autoptr(GError) err = NULL;
    FakeEtcd *f;
    JsonNode *r;

    memset(deep, '[', DEEP_LEN);
    f = fake_etcd_start(deep, DEEP_LEN, &url);
    r = range_call(url, &err);
    assert_null(r);
    assert_true(g_error_matches(err, DM_ETCD_ERROR,
                                DM_ETCD_ERROR_UNAVAILABLE));
    assert_non_null(strstr(err->message, "nested deeper than 32 levels"));
    assert_non_null(strstr(err->message, url));
    fake_etcd_stop(f);
}

/* An answer within the limit is read, one just past it is not. */
static void test_usual_answer_read(void **state)
{
    const char *usual = "{\"header\": {\"revision\": \"7\"}, \"kvs\": "
                        "[{\"key\": \"YQ==\", \"value\": \"Yg==\"}]}";
    GString *s = g_string_new("{\"a\": ");
    GError *err = NULL;
    char *url = NULL;
    FakeEtcd *f;
    JsonNode *r;
    int i;

    f = fake_etcd_start(g_strdup(usual), strlen(usual), &url);
    r = range_call(url, &err);
    assert_null(err);
    assert_non_null(r);
    assert_int_equal(json_array_get_length(json_object_get_array_member(
        json_node_get_object(r), "kvs")), 1);
    json_node_unref(r);
    fake_etcd_stop(f);
    g_free(url);

    /* 32 levels: the object and 31 arrays inside it. */
    for (i = 0; i < 31; i++) {
        g_string_append_c(s, '[');
    }
    for (i = 0; i < 31; i++) {
        g_string_append_c(s, ']');
    }
    g_string_append_c(s, '}');
    f = fake_etcd_start(g_strdup(s->str), s->len, &url);
    r = range_call(url, &err);
    assert_null(err);
    assert_non_null(r);
    json_node_unref(r);
    fake_etcd_stop(f);
    g_free(url);

    /* 33: refused. */
    g_string_insert_c(s, 6, '[');
    g_string_insert_c(s, s->len - 1, ']');
    assert_int_equal(s->len, 6 + 32 + 32 + 1);
    f = fake_etcd_start(g_strdup(s->str), s->len, &url);
    r = range_call(url, &err);
    assert_null(r);
    assert_non_null(err);
    assert_non_null(strstr(err->message, "nested deeper than 32 levels"));
    g_error_free(err);
    fake_etcd_stop(f);
    g_free(url);
    g_string_free(s, TRUE);
}

/*
 * Past DM_ETCD_MAX_ANSWER: refused by the Content-Length before the
 * body is read, or without one once that much has come.
 */
static void test_huge_answer_refused(void **state)
{
    g_autofree char *want = g_strdup_printf(
        "answer of %d bytes, more than %d", DM_ETCD_MAX_ANSWER + 1,
        DM_ETCD_MAX_ANSWER);
    g_autofree char *want_streamed = g_strdup_printf(
        "answer larger than %d bytes", DM_ETCD_MAX_ANSWER);
    char *url = NULL;
    GError *err = NULL;
    FakeEtcd *f;

    f = fake_etcd_start_full(g_strdup("{}"), 2, DM_ETCD_MAX_ANSWER + 1,
                             false, &url);
    assert_null(range_call(url, &err));
    assert_true(g_error_matches(err, DM_ETCD_ERROR,
                                DM_ETCD_ERROR_UNAVAILABLE));
    assert_non_null(strstr(err->message, want));
    g_clear_error(&err);
    fake_etcd_stop(f);
    g_free(url);

    f = fake_etcd_start_full(NULL, 0, 0, true, &url);
    assert_null(range_call(url, &err));
    assert_true(g_error_matches(err, DM_ETCD_ERROR,
                                DM_ETCD_ERROR_UNAVAILABLE));
    assert_non_null(strstr(err->message, want_streamed));
    g_clear_error(&err);
    fake_etcd_stop(f);
    g_free(url);
}

/* What a watch on the fake etcd said: its first DOWN, and its events. */
typedef struct WatchSaw {
    char *down;
    guint up, events;
    char *key;
} WatchSaw;

static void watch_saw(const DmEtcdWatchNotice *n, gpointer opaque)
{
    WatchSaw *saw = opaque;

    if (n->kind == DM_ETCD_WATCH_DOWN && !saw->down) {
        saw->down = g_strdup(n->message);
    }
    if (n->kind == DM_ETCD_WATCH_UP) {
        saw->up++;
    }
    if (n->kind == DM_ETCD_WATCH_EVENTS && !saw->key) {
        saw->events += n->events->len;
        saw->key = g_strdup(((DmEtcdWatchEvent *)n->events->pdata[0])->key);
    }
}

/* Watch the fake answering @body until @done(saw); then stop. */
static void watch_fake(char *body, size_t len, WatchSaw *saw,
                       bool (*done)(WatchSaw *saw))
{
    g_autofree char *url = NULL;
    g_autoptr(GError) err = NULL;
    FakeEtcd *f = fake_etcd_start(body, len, &url);
    DmEtcdWatch *w = dm_etcd_watch_new(url, NULL, NULL, NULL, "/p/", 0, NULL,
                                       watch_saw, saw, &err);
    gint64 end = g_get_monotonic_time() + 60 * G_TIME_SPAN_SECOND;

    assert_non_null(w);
    while (!done(saw)) {
        if (g_get_monotonic_time() > end) {
            fail_msg("the watch said nothing of its fake etcd");
        }
        if (!g_main_context_iteration(NULL, FALSE)) {
            g_usleep(5000);
        }
    }
    dm_etcd_watch_free(w);
    fake_etcd_stop(f);
}

static bool saw_down(WatchSaw *saw)
{
    return saw->down;
}

static bool saw_event(WatchSaw *saw)
{
    return saw->key;
}

/*
 * A watch's message past DM_ETCD_WATCH_MAX_MSG, or nested too deep:
 * refused (a DOWN saying why), never parsed; a usual one read.
 */
static void test_watch_bounds(void **state)
{
    size_t big = DM_ETCD_WATCH_MAX_MSG + 4096;
    char *body = g_malloc(big);
    WatchSaw saw = { 0 };
    const char *usual =
        "{\"result\":{\"header\":{\"revision\":\"4\"},\"created\":true}}\n"
        "{\"result\":{\"header\":{\"revision\":\"5\"},\"events\":[{\"kv\":"
        "{\"key\":\"L3AvYQ==\",\"mod_revision\":\"5\",\"value\":\"eA==\"}}]}}\n";

    memset(body, ' ', big);
    body[0] = '{';
    watch_fake(body, big, &saw, saw_down);
    assert_non_null(strstr(saw.down, "a message longer than 4194304 bytes"));
    g_clear_pointer(&saw.down, g_free);

    body = g_malloc(DEEP_LEN);
    memset(body, '[', DEEP_LEN - 1);
    body[DEEP_LEN - 1] = '\n';
    watch_fake(body, DEEP_LEN, &saw, saw_down);
    assert_non_null(strstr(saw.down, "nested deeper than 32 levels"));
    g_clear_pointer(&saw.down, g_free);

    /* A line at a time; the fake then closes: the watch tries again. */
    watch_fake(g_strdup(usual), strlen(usual), &saw, saw_event);
    assert_true(saw.up >= 1);
    assert_int_equal(saw.events, 1);
    assert_string_equal(saw.key, "/p/a");
    g_free(saw.key);
    g_free(saw.down);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deep_answer_refused),
        cmocka_unit_test(test_usual_answer_read),
        cmocka_unit_test(test_huge_answer_refused),
        cmocka_unit_test(test_watch_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
