/*
 * The events on the store (orchestrator/store-events.h), on the back end
 * ORCH_TEST_STORE names ("etcd:http://..." from with-etcd.sh; unset, a
 * SQLite file in a temporary directory): reads by range (the last N, N
 * after an id, one VM's), an id another writer took meanwhile (a second
 * orchestrator) skipped without losing either event, and a transaction's
 * events written only if it commits.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "store-test.h"
#include "error.h"
#include "store-events.h"


/* "ID:VM:MESSAGE ..." of @since, @limit, @vm's events. */
static char *read_str(gint64 since, gint64 limit, const char *vm)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonArray) a = orch_events_read(since, limit, vm, &err);
    GString *s = g_string_new(NULL);
    guint i;

    if (!a) {
        fail_msg("read: %s", err->message);
    }
    for (i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);

        assert_non_null(json_object_get_string_member(o, "time"));
        g_string_append_printf(s, "%s%" G_GINT64_FORMAT ":%s:%s", i ? " " : "",
                               json_object_get_int_member(o, "id"),
                               json_object_get_string_member(o, "vm"),
                               json_object_get_string_member(o, "message"));
    }
    return g_string_free(s, FALSE);
}

static void check(gint64 since, gint64 limit, const char *vm,
                  const char *want)
{
    g_autofree char *got = read_str(since, limit, vm);

    if (strcmp(got, want)) {
        fail_msg("since %" G_GINT64_FORMAT " limit %" G_GINT64_FORMAT
                 " vm %s: got '%s', wanted '%s'", since, limit,
                 vm ? vm : "(all)", got, want);
    }
}

static void test_read(void **state)
{
    check(-1, 10, NULL, "");
    assert_int_equal(orch_events_last_id(), 0);
    orch_events_add("a", "1");
    orch_events_add("b", "2");
    orch_events_add("a", "3");
    orch_events_add("b", "4");
    orch_events_add("a", "5");
    assert_int_equal(orch_events_last_id(), 5);
    check(-1, 3, NULL, "3:a:3 4:b:4 5:a:5");
    check(-1, 100, NULL, "1:a:1 2:b:2 3:a:3 4:b:4 5:a:5");
    check(2, 2, NULL, "3:a:3 4:b:4");
    check(5, 10, NULL, "");
    /* No id after the largest (its next would wrap below the first). */
    check(G_MAXINT64, 10, NULL, "");
    check(G_MAXINT64, 10, "a", "");
    check(-1, 2, "a", "3:a:3 5:a:5");
    check(0, 10, "b", "2:b:2 4:b:4");
    check(1, 1, "a", "3:a:3");
    check(-1, 10, "nobody", "");
}

/* Another orchestrator's events at the ids this one would take next. */
static void test_taken(void **state)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(OrchStore) other = orch_store_open(store_test_spec, NULL, NULL,
                                                 NULL, &err);
    g_autoptr(OrchTxn) t = orch_txn_new();
    g_autofree char *want = NULL;
    gint64 last = orch_events_last_id();
    int i;

    assert_non_null(other);
    for (i = 1; i <= 2; i++) {
        g_autofree char *key = g_strdup_printf(
            "/dm/events/%020" G_GINT64_FORMAT, last + i);
        g_autofree char *doc = g_strdup_printf(
            "{\"id\": %" G_GINT64_FORMAT ", \"time\":"
            " \"2026-01-01T00:00:00Z\", \"vm\": \"other\","
            " \"message\": \"o%d\"}", last + i, i);

        orch_txn_put(t, key, doc);
    }
    assert_true(orch_store_txn(other, t, NULL, &err));
    orch_events_add("mine", "m");
    want = g_strdup_printf("%" G_GINT64_FORMAT ":other:o1 %" G_GINT64_FORMAT
                           ":other:o2 %" G_GINT64_FORMAT ":mine:m",
                           last + 1, last + 2, last + 3);
    check(last, 10, NULL, want);
}

/* A transaction's events: none if it rolls back, all if it commits. */
static void test_deferred(void **state)
{
    g_autofree char *want = NULL;
    gint64 last = orch_events_last_id();

    orch_events_defer();
    orch_events_add("t", "rolled back");
    check(last, 10, NULL, "");
    orch_events_flush(false);
    check(last, 10, NULL, "");

    orch_events_defer();
    orch_events_add("t", "c1");
    orch_events_add("t", "c2");
    check(last, 10, NULL, "");
    orch_events_flush(true);
    want = g_strdup_printf("%" G_GINT64_FORMAT ":t:c1 %" G_GINT64_FORMAT
                           ":t:c2", last + 1, last + 2);
    check(last, 10, NULL, want);
    /* Not deferring any more: at once. */
    orch_events_add("t", "now");
    assert_int_equal(orch_events_last_id(), last + 3);
}

static int setup(void **state)
{
    g_autoptr(GError) err = NULL;

    if (store_test_setup(state) < 0) {
        return -1;
    }
    if (!orch_events_open(store_test_store, &err)) {
        fail_msg("%s: %s", store_test_spec, err->message);
    }
    return 0;
}

static int teardown(void **state)
{
    orch_events_close();
    return store_test_teardown(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read),
        cmocka_unit_test(test_taken),
        cmocka_unit_test(test_deferred),
    };

    return store_test_run("test-events", tests, G_N_ELEMENTS(tests), setup,
                          teardown);
}
