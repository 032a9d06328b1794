/*
 * A request's database section with its store view (orchestrator/
 * request.h: orch_request_view, orch_request_finish), on the back end
 * ORCH_TEST_STORE names ("etcd:http://..." from with-etcd.sh; unset, a
 * SQLite file in a temporary directory, which is also the request's
 * database, as dm-orchestrator has it): a request that commits writes
 * its view and its events and runs no undo; one whose view read a key
 * another writer changed while its section was paused (as around a
 * launcher call) is 409, writes nothing of its view and none of its
 * events, and runs its undo list; a failed handler writes neither; a
 * request ended while paused commits its view too, or fails the same
 * way.  The section holds no SQL transaction since step 3 of
 * docs/scale-out.md's "The next step": nothing of a request is in SQL.
 *
 * The launchers are a stub that records the calls the undo list makes.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "store-test.h"
#include "db.h"
#include "error.h"
#include "launcher.h"
#include "request.h"
#include "store-events.h"
#include "store-load.h"
#include "store-placements.h"

#define ROOT "/t-request/"

static sqlite3 *db;
static char *db_dir;
/* "METHOD ADDRESS PATH" of each launcher call, oldest first. */
static GPtrArray *calls;

/* The launchers, for undo.c: each call recorded and answered 200. */
bool orch_launcher_call(const char *address, const char *method,
                        const char *path, JsonNode *body, guint *ret_status,
                        JsonNode **ret_reply, GError **errp)
{
    g_ptr_array_add(calls, g_strdup_printf("%s %s %s", method, address,
                                           path));
    *ret_status = 200;
    *ret_reply = NULL;
    return true;
}

static char *value_now(const char *key)
{
    g_autoptr(OrchKv) kv = NULL;
    g_autoptr(GError) err = NULL;

    if (!orch_store_get(store_test_store, key, &kv, NULL, &err)) {
        fail_msg("get %s: %s", key, err->message);
    }
    return kv ? g_strdup(kv->value) : NULL;
}

/* The messages of @vm's events in the store, "a,b,...". */
static char *events_of(const char *vm)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonArray) a = orch_events_read(-1, 100, vm, &err);
    g_autoptr(GString) s = g_string_new(NULL);

    if (!a) {
        fail_msg("events: %s", err->message);
    }
    for (guint i = 0; i < json_array_get_length(a); i++) {
        g_string_append_printf(s, "%s%s", i ? "," : "",
                               json_object_get_string_member(
                                   json_array_get_object_element(a, i),
                                   "message"));
    }
    return g_string_free(g_steal_pointer(&s), FALSE);
}

/* Another writer (request, orchestrator) puts @value at @key. */
static void other_puts(const char *key, const char *value)
{
    g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);
    g_autoptr(GError) err = NULL;

    orch_view_put(v, key, value);
    if (!orch_view_commit(v, NULL, &err)) {
        fail_msg("other writer: %s", err->message);
    }
}

/* A request's section begun, its view read @key (absent). */
static void begin(OrchRequest *r, const char *key)
{
    g_autofree char *had = NULL;
    g_autoptr(GError) err = NULL;

    memset(r, 0, sizeof(*r));
    r->status = 200;
    assert_int_equal(orch_db_section_begin(r, db), 0);
    assert_non_null(orch_request_view(r));
    assert_true(orch_view_get(orch_request_view(r), key, &had, &err));
}

static void test_commit(void **state)
{
    OrchRequest r;
    g_autofree char *k = NULL, *ev = NULL;

    begin(&r, ROOT "k1");
    orch_view_put(orch_request_view(&r), ROOT "k1", "{\"n\":1}");
    orch_events_add("vm-a", "one");
    orch_undo_add(&r.undo, "unix:/l", "/v1/instances/a");
    assert_true(orch_request_finish(&r, 0));
    assert_null(r.error);
    assert_null(r.view);
    k = value_now(ROOT "k1");
    assert_string_equal(k, "{\"n\":1}");
    ev = events_of("vm-a");
    assert_string_equal(ev, "one");
    assert_int_equal(calls->len, 0);
}

/* What the view read changed while the section was paused: 409. */
static void test_conflict(void **state)
{
    OrchRequest r;
    g_autofree char *k = NULL, *ev = NULL;

    begin(&r, ROOT "k2");
    orch_undo_add(&r.undo, "unix:/l", "/v1/instances/b");
    /* As around a launcher call: nothing written yet. */
    orch_db_pause();
    assert_false(r.db_held);
    other_puts(ROOT "k2", "{\"by\":\"other\"}");
    assert_true(orch_db_resume());
    orch_view_put(orch_request_view(&r), ROOT "k2", "{\"by\":\"r\"}");
    orch_events_add("vm-b", "two");
    assert_false(orch_request_finish(&r, 0));
    assert_int_equal(r.status, 409);
    assert_string_equal(r.error, "the store: changed meanwhile; read again "
                        "and retry");
    assert_null(r.view);
    k = value_now(ROOT "k2");
    assert_string_equal(k, "{\"by\":\"other\"}");
    ev = events_of("vm-b");
    assert_string_equal(ev, "");
    assert_int_equal(calls->len, 1);
    assert_string_equal(g_ptr_array_index(calls, 0),
                        "DELETE unix:/l /v1/instances/b");
    g_free(r.error);
}

/*
 * A view that only read (step 2's reads, docs/scale-out.md) is not
 * committed: a key it read changed while the section was paused is no
 * conflict, and the request's events stand.
 */
static void test_read_only(void **state)
{
    OrchRequest r;
    g_autofree char *k = NULL, *ev = NULL;

    begin(&r, ROOT "k9");
    orch_undo_add(&r.undo, "unix:/l", "/v1/instances/f");
    orch_db_pause();
    other_puts(ROOT "k9", "{\"by\":\"other\"}");
    assert_true(orch_db_resume());
    orch_events_add("vm-f", "six");
    assert_true(orch_request_finish(&r, 0));
    assert_null(r.error);
    assert_null(r.view);
    k = value_now(ROOT "k9");
    assert_string_equal(k, "{\"by\":\"other\"}");
    ev = events_of("vm-f");
    assert_string_equal(ev, "six");
    assert_int_equal(calls->len, 0);
}

/*
 * A launcher call pauses the section only if the view holds no write
 * yet (its writes stay atomic with the rest), or if the request has
 * committed claims already (a start: its claims are counted meanwhile,
 * its later writes wait in its view).
 */
static void test_pause_dirty(void **state)
{
    OrchRequest r;
    bool kept, let_go;

    begin(&r, ROOT "k6");
    orch_view_put(orch_request_view(&r), ROOT "k6", "{}");
    orch_db_pause();
    kept = r.db_held;
    orch_request_claimed(&r, ROOT, "vm-g", "dev", "inst-g");
    orch_db_pause();
    let_go = !r.db_held;
    assert_true(orch_db_resume());
    assert_true(r.db_held);
    /* Ended before the checks: a failure leaves the section free. */
    assert_true(orch_request_finish(&r, 0));
    assert_null(r.error);
    assert_true(kept);
    assert_true(let_go);
}

/* A handler that failed: no view, no events; the undo runs. */
static void test_failed(void **state)
{
    OrchRequest r;
    g_autofree char *k = NULL, *ev = NULL;

    begin(&r, ROOT "k3");
    orch_view_put(orch_request_view(&r), ROOT "k3", "{}");
    orch_events_add("vm-c", "three");
    orch_undo_add(&r.undo, "unix:/l", "/v1/instances/c");
    orch_fail(&r, 502, "launcher unix:/l: down");
    assert_false(orch_request_finish(&r, -EHOSTUNREACH));
    assert_int_equal(r.status, 502);
    assert_null(r.view);
    k = value_now(ROOT "k3");
    assert_null(k);
    ev = events_of("vm-c");
    assert_string_equal(ev, "");
    assert_int_equal(calls->len, 1);
    assert_string_equal(g_ptr_array_index(calls, 0),
                        "DELETE unix:/l /v1/instances/c");
    g_free(r.error);
}

/* Ended while paused: its view commits all the same, or is 409. */
static void test_paused_end(void **state)
{
    OrchRequest r;
    g_autofree char *k = NULL, *ev = NULL;

    begin(&r, ROOT "k4");
    orch_db_pause();
    orch_view_put(orch_request_view(&r), ROOT "k4", "{\"n\":4}");
    orch_events_add("vm-d", "four");
    assert_true(orch_request_finish(&r, 0));
    k = value_now(ROOT "k4");
    assert_string_equal(k, "{\"n\":4}");

    begin(&r, ROOT "k5");
    orch_undo_add(&r.undo, "unix:/l", "/v1/instances/d");
    orch_db_pause();
    other_puts(ROOT "k5", "{\"by\":\"other\"}");
    orch_view_put(orch_request_view(&r), ROOT "k5", "{\"by\":\"r\"}");
    orch_events_add("vm-d", "five");
    assert_false(orch_request_finish(&r, 0));
    assert_int_equal(r.status, 409);
    ev = events_of("vm-d");
    assert_string_equal(ev, "four");
    assert_int_equal(calls->len, 1);
    assert_string_equal(g_ptr_array_index(calls, 0),
                        "DELETE unix:/l /v1/instances/d");
    g_free(r.error);
}


/*
 * A start's claim committed before its launcher call
 * (orch_request_commit_now): another request placing meanwhile sees the
 * server full; the start failing afterwards releases the claim (its
 * document, instance name and slot), and the slot is taken by the next.
 * A commit whose reads changed meanwhile is 409 and claims nothing.
 */
static void test_claim_now(void **state)
{
    OrchRequest r, c;
    g_autoptr(OrchStoreView) other = NULL;
    g_autoptr(OrchStoreView) next = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *server = NULL, *s2 = NULL, *s3 = NULL, *p = NULL;
    g_autofree char *inst = NULL;

    other_puts(ROOT "platforms/s1", "{\"name\":\"s1\",\"role\":\"server\","
               "\"address\":\"unix:/s1\",\"capacity\":1,"
               "\"models\":[{\"model\":\"m\",\"bus\":\"pci\"}]}");
    begin(&r, ROOT "k6");
    assert_true(orch_placement_claim(orch_request_view(&r), ROOT, "va", "d",
                                     "m", NULL, "ia", "tok", &server, &err));
    assert_string_equal(server, "s1");
    orch_request_claimed(&r, ROOT, "va", "d", "ia");
    assert_int_equal(orch_request_commit_now(&r), 0);
    assert_null(r.error);
    p = value_now(ROOT "placements/va/d");
    assert_non_null(strstr(p, "\"launching\""));
    /* As around the launcher call: another request places meanwhile. */
    orch_db_pause();
    other = orch_view_new(store_test_store);
    assert_false(orch_placement_claim(other, ROOT, "vb", "d", "m", NULL,
                                      "ib", "tok", &s2, &err));
    assert_true(g_error_matches(err, ORCH_ERROR, ORCH_ERROR_CONFLICT));
    assert_non_null(strstr(err->message, "is full"));
    g_clear_error(&err);
    assert_true(orch_db_resume());
    /* The launcher failed: the claim is released with the rest. */
    orch_undo_add(&r.undo, "unix:/s1", "/v1/instances/ia");
    orch_fail(&r, 502, "launcher unix:/s1: down");
    assert_false(orch_request_finish(&r, -EHOSTUNREACH));
    g_clear_pointer(&p, g_free);
    p = value_now(ROOT "placements/va/d");
    assert_null(p);
    inst = value_now(ROOT "instances/ia");
    assert_null(inst);
    next = orch_view_new(store_test_store);
    assert_int_equal(orch_load_used(next, ROOT, "s1", &err), 0);
    assert_int_equal(calls->len, 1);
    g_free(r.error);

    /* What the claiming request read changed meanwhile: 409, no claim. */
    begin(&c, ROOT "k7");
    orch_db_pause();
    other_puts(ROOT "k7", "{\"by\":\"other\"}");
    assert_true(orch_db_resume());
    assert_true(orch_placement_claim(orch_request_view(&c), ROOT, "vc", "d",
                                     "m", NULL, "ic", "tok", &s3, &err));
    orch_request_claimed(&c, ROOT, "vc", "d", "ic");
    assert_int_equal(orch_request_commit_now(&c), -EBUSY);
    assert_int_equal(c.status, 409);
    assert_false(orch_request_finish(&c, -EBUSY));
    g_clear_pointer(&p, g_free);
    p = value_now(ROOT "placements/vc/d");
    assert_null(p);
    assert_int_equal(orch_load_used(next, ROOT, "s1", &err), 0);
    g_free(c.error);

    /* The slot freed is the next start's. */
    g_clear_pointer(&s2, g_free);
    assert_true(orch_placement_claim(next, ROOT, "vb", "d", "m", NULL, "ib",
                                     "tok", &s2, &err));
    assert_true(orch_view_commit(next, NULL, &err));
}

static int setup(void **state)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *path = NULL;

    if (store_test_setup(state) < 0) {
        return -1;
    }
    /* On SQLite the store's own file, as dm-orchestrator's --db. */
    if (g_str_has_prefix(store_test_spec, "sqlite:")) {
        path = g_strdup(store_test_spec + strlen("sqlite:"));
    } else {
        db_dir = g_dir_make_tmp("test-request-XXXXXX", NULL);
        path = g_build_filename(db_dir, "db.sqlite", NULL);
    }
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_busy_timeout(db, 10000) != SQLITE_OK ||
        sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS rows (x TEXT)", NULL,
                     NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", path, sqlite3_errmsg(db));
        return -1;
    }
    if (!orch_events_open(store_test_store, &err)) {
        fprintf(stderr, "events: %s\n", err->message);
        return -1;
    }
    orch_request_set_store(store_test_store);
    return 0;
}

static int teardown(void **state)
{
    orch_request_set_store(NULL);
    orch_events_close();
    sqlite3_close(db);
    if (db_dir) {
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", db_dir);

        if (system(cmd) != 0) {
            return -1;
        }
    }
    return store_test_teardown(state);
}

static int each_setup(void **state)
{
    calls = g_ptr_array_new_with_free_func(g_free);
    return 0;
}

static int each_teardown(void **state)
{
    g_ptr_array_unref(calls);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit, each_setup,
                                        each_teardown),
        cmocka_unit_test_setup_teardown(test_conflict, each_setup,
                                        each_teardown),
        cmocka_unit_test_setup_teardown(test_read_only, each_setup,
                                        each_teardown),
        cmocka_unit_test_setup_teardown(test_pause_dirty, each_setup,
                                        each_teardown),
        cmocka_unit_test_setup_teardown(test_failed, each_setup,
                                        each_teardown),
        cmocka_unit_test_setup_teardown(test_paused_end, each_setup,
                                        each_teardown),
        cmocka_unit_test_setup_teardown(test_claim_now, each_setup,
                                        each_teardown),
    };

    return store_test_run("test-request", tests, G_N_ELEMENTS(tests), setup,
                          teardown);
}
