/*
 * The placements as documents on the store (orchestrator/
 * store-placements.h), on the back end ORCH_TEST_STORE names
 * ("etcd:http://..." from with-etcd.sh; unset, a SQLite file in a
 * temporary directory): a claim before the launch (the placement, the
 * instance's name, the server's slot, written together), the launcher's
 * answer filled in, one device claimed by two requests at once (one
 * commit holds), a taken instance name, a full server, a release that
 * gives everything back, and a document nested 768 KiB deep (written to
 * etcd by anyone with its keys) refused before json-glib recursed off
 * the stack (issue #22).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
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
#include "error.h"
#include "store-load.h"
#include "store-placements.h"

#define ROOT "/t-place/"


static char *value_now(const char *key)
{
    g_autoptr(OrchKv) kv = NULL;
    g_autoptr(GError) err = NULL;

    if (!orch_store_get(store_test_store, key, &kv, NULL, &err)) {
        fail_msg("get %s: %s", key, err->message);
    }
    return kv ? g_strdup(kv->value) : NULL;
}

static gint64 used_now(void)
{
    g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);

    return orch_load_used(v, ROOT, "s", NULL);
}

static bool claim(const char *vm, const char *dev, const char *instance,
                  GError **errp)
{
    g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);
    g_autofree char *server = NULL;

    return orch_placement_claim(v, ROOT, vm, dev, "edu", NULL, instance,
                                "tok", &server, errp) &&
           orch_view_commit(v, NULL, errp);
}

static void test_claim(void **state)
{
    g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);
    g_autoptr(OrchStoreView) w = orch_view_new(store_test_store);
    g_autoptr(JsonObject) p = NULL, q = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *server = NULL, *inst = NULL;

    assert_true(orch_placement_claim(v, ROOT, "vm1", "d1", "edu", NULL,
                                     "i1", "tok", &server, &err));
    assert_string_equal(server, "s");
    assert_true(orch_placement_read(v, ROOT, "vm1", "d1", &p, &err));
    assert_string_equal(json_object_get_string_member(p, "state"),
                        "launching");
    assert_true(json_object_get_null_member(p, "address"));
    /* Nothing in the store before the commit. */
    assert_int_equal(used_now(), 0);
    assert_true(orch_view_commit(v, NULL, &err));
    assert_int_equal(used_now(), 1);
    inst = value_now(ROOT "instances/i1");
    assert_string_equal(inst, "{\"vm\":\"vm1\",\"device\":\"d1\"}");
    assert_true(orch_placement_launched(w, ROOT, "vm1", "d1",
                                        "tcp:10.0.0.1:40000", NULL,
                                        "running", &err));
    assert_true(orch_view_commit(w, NULL, &err));
    {
        g_autoptr(OrchStoreView) r = orch_view_new(store_test_store);

        assert_true(orch_placement_read(r, ROOT, "vm1", "d1", &q, &err));
    }
    assert_string_equal(json_object_get_string_member(q, "address"),
                        "tcp:10.0.0.1:40000");
    assert_string_equal(json_object_get_string_member(q, "state"),
                        "running");
    assert_string_equal(json_object_get_string_member(q, "token"), "tok");
}

/* One device, two requests: one commit holds; then it is placed. */
static void test_twice(void **state)
{
    g_autoptr(OrchStoreView) a = orch_view_new(store_test_store);
    g_autoptr(OrchStoreView) b = orch_view_new(store_test_store);
    g_autoptr(GError) err = NULL;
    g_autofree char *sa = NULL, *sb = NULL, *gone = NULL;

    assert_true(orch_placement_claim(a, ROOT, "vm2", "d", "edu", NULL,
                                     "i2a", "t", &sa, &err));
    assert_true(orch_placement_claim(b, ROOT, "vm2", "d", "edu", NULL,
                                     "i2b", "t", &sb, &err));
    assert_true(orch_view_commit(a, NULL, &err));
    assert_false(orch_view_commit(b, NULL, &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    g_clear_error(&err);
    gone = value_now(ROOT "instances/i2b");
    assert_null(gone);
    assert_int_equal(used_now(), 2);
    assert_false(claim("vm2", "d", "i2c", &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    assert_string_equal(err->message, "device 'd' of VM 'vm2' is placed "
                        "already");
    g_clear_error(&err);
    assert_false(claim("vm3", "d", "i1", &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    assert_string_equal(err->message, "instance 'i1' exists");
}

/* Full: refused; a release gives the slot, the name and the key back. */
static void test_release(void **state)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *p = NULL, *i = NULL;

    assert_false(claim("vm3", "d", "i3", &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    assert_non_null(strstr(err->message, "is full"));
    g_clear_error(&err);
    {
        g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);

        assert_false(orch_placement_release(v, ROOT, "vm9", "d", &err));
        assert_int_equal(err->code, ORCH_ERROR_NOT_FOUND);
        g_clear_error(&err);
        assert_true(orch_placement_release(v, ROOT, "vm1", "d1", &err));
        assert_true(orch_view_commit(v, NULL, &err));
    }
    assert_int_equal(used_now(), 1);
    p = value_now(ROOT "placements/vm1/d1");
    i = value_now(ROOT "instances/i1");
    assert_null(p);
    assert_null(i);
    assert_true(claim("vm3", "d", "i1", &err));
    assert_int_equal(used_now(), 2);
}

/* 768 KiB of '[' (base64 in etcd: within its 1.5 MiB request limit). */
static void test_deep_document(void **state)
{
    size_t n = 768 * 1024;
    g_autofree char *deep = g_malloc(n + 1);
    g_autoptr(OrchTxn) t = orch_txn_new();
    g_autoptr(OrchStoreView) v = NULL;
    g_autoptr(GError) err = NULL;
    JsonObject *o = NULL;

    memset(deep, '[', n);
    deep[n] = '\0';
    orch_txn_put(t, ROOT "placements/vm8/d", deep);
    assert_true(orch_store_txn(store_test_store, t, NULL, &err));
    v = orch_view_new(store_test_store);
    assert_false(orch_placement_read(v, ROOT, "vm8", "d", &o, &err));
    assert_null(o);
    assert_int_equal(err->code, ORCH_ERROR_INTERNAL);
    assert_string_equal(err->message, "store: " ROOT "placements/vm8/d "
                        "refused: JSON nested deeper than 32 levels");
}

static int setup(void **state)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(OrchTxn) t = orch_txn_new();

    if (store_test_setup(state) < 0) {
        return -1;
    }
    orch_txn_put(t, ROOT "platforms/s", "{\"name\":\"s\",\"role\":"
                 "\"server\",\"address\":\"unix:/s\",\"capacity\":2,"
                 "\"models\":[{\"model\":\"edu\",\"bus\":\"pci\","
                 "\"props\":[]}]}");
    if (!orch_store_txn(store_test_store, t, NULL, &err)) {
        fprintf(stderr, "%s: %s\n", store_test_spec, err->message);
        return -1;
    }
    return 0;
}

int main(void)
{
    /* In this order: each goes on from the one before. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claim),
        cmocka_unit_test(test_twice),
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_deep_document),
    };

    return store_test_run("test-placements", tests, G_N_ELEMENTS(tests),
                          setup, store_test_teardown);
}
