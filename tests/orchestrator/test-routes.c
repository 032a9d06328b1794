/*
 * The routes through owner servers as documents on the store
 * (orchestrator/store-routes.h), on the back end ORCH_TEST_STORE names
 * ("etcd:http://..." from with-etcd.sh; unset, a SQLite file in a
 * temporary directory): a VM, its device's placement and the route on
 * its owner written in one view and committed together; what
 * reconciliation asks of a route (known on its owner, not on another);
 * a device not placed, one routed already, a route id taken, also by two
 * requests at once (one commit holds); a request that loses the last
 * slot writes no route; a release deletes the route's key; a document
 * nested 768 KiB deep refused before json-glib recursed (issue #22).
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
#include "store-placements.h"
#include "store-routes.h"
#include "store-vms.h"

#define ROOT "/t-routes/"

static bool absent_now(const char *key)
{
    g_autoptr(OrchKv) kv = NULL;
    g_autoptr(GError) err = NULL;

    if (!orch_store_get(store_test_store, key, &kv, NULL, &err)) {
        fail_msg("get %s: %s", key, err->message);
    }
    return kv == NULL;
}

static char *value_now(const char *key)
{
    g_autoptr(OrchKv) kv = NULL;

    assert_true(orch_store_get(store_test_store, key, &kv, NULL, NULL));
    return kv ? g_strdup(kv->value) : NULL;
}

/* A VM of edu devices @devs (comma-separated), each through owner "s". */
static void make_vm(OrchStoreView *v, const char *name, const char *devs)
{
    g_autofree char *uuid = g_uuid_string_random();
    g_autoptr(JsonObject) doc = orch_vm_doc_new(name, uuid, "256M");
    g_auto(GStrv) d = g_strsplit(devs, ",", -1);
    g_autoptr(GError) err = NULL;

    for (guint i = 0; d[i]; i++) {
        orch_vm_doc_add_device(doc, d[i], "edu", "pci", NULL, "s", "never",
                               false, NULL);
    }
    if (!orch_vm_doc_create(v, ROOT, doc, &err)) {
        fail_msg("create %s: %s", name, err->message);
    }
}

/* Place @vm's @dev (instance VM-DEV) in @v. */
static bool place(OrchStoreView *v, const char *vm, const char *dev,
                  GError **errp)
{
    g_autofree char *inst = g_strconcat(vm, "-", dev, NULL);
    g_autofree char *server = NULL;

    return orch_placement_claim(v, ROOT, vm, dev, "edu", NULL, inst, "tok",
                                &server, errp) &&
           orch_placement_launched(v, ROOT, vm, dev, "tcp:127.0.0.1:40000",
                                   NULL, "running", errp);
}

static bool known(const char *id, const char *owner)
{
    g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);
    g_autoptr(GError) err = NULL;
    bool k;

    if (!orch_route_doc_known(v, ROOT, id, owner, &k, &err)) {
        fail_msg("known %s: %s", id, err->message);
    }
    return k;
}

/* The VM, its placement and its route: one commit. */
static void test_with_placement(void **state)
{
    g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);
    g_autoptr(OrchStoreView) r = orch_view_new(store_test_store);
    g_autoptr(JsonObject) p = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *claim = NULL, *vm = NULL, *dev = NULL;

    make_vm(v, "vm1", "u");
    assert_true(place(v, "vm1", "u", &err));
    assert_true(orch_route_doc_set(v, ROOT, "vm1", "u", "vm1-u",
                                   "tcp:10.0.0.9:7000", &err));
    assert_true(absent_now(ROOT "routes/vm1-u"));
    assert_true(absent_now(ROOT "placements/vm1/u"));
    assert_true(orch_view_commit(v, NULL, &err));
    claim = value_now(ROOT "routes/vm1-u");
    assert_string_equal(claim, "{\"vm\":\"vm1\",\"device\":\"u\"}");
    assert_true(orch_placement_read(r, ROOT, "vm1", "u", &p, &err));
    assert_string_equal(json_object_get_string_member(p, "route_id"),
                        "vm1-u");
    assert_string_equal(json_object_get_string_member(p, "route_address"),
                        "tcp:10.0.0.9:7000");
    assert_true(orch_route_doc_read(r, ROOT, "vm1-u", &vm, &dev, &err));
    assert_string_equal(vm, "vm1");
    assert_string_equal(dev, "u");
    assert_true(known("vm1-u", "s"));
    assert_false(known("vm1-u", "t"));
    assert_false(known("nosuch", "s"));
}

/* Not placed, routed already, an id taken (also by two at once). */
static void test_refused(void **state)
{
    g_autoptr(OrchStoreView) a = orch_view_new(store_test_store);
    g_autoptr(OrchStoreView) b = orch_view_new(store_test_store);
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) p = NULL;

    {
        g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);

        make_vm(v, "vm2", "a,b,c");
        assert_true(place(v, "vm2", "a", &err));
        assert_true(place(v, "vm2", "b", &err));
        assert_true(orch_view_commit(v, NULL, &err));
    }
    {
        g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);

        assert_false(orch_route_doc_set(v, ROOT, "vm2", "c", "x", "tcp:h:1",
                                        &err));
        assert_int_equal(err->code, ORCH_ERROR_NOT_FOUND);
        assert_string_equal(err->message, "device 'c' of VM 'vm2' is not "
                            "placed");
        g_clear_error(&err);
        assert_false(orch_route_doc_set(v, ROOT, "vm1", "u", "x", "tcp:h:1",
                                        &err));
        assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
        assert_string_equal(err->message, "device 'u' of VM 'vm1' has route "
                            "'vm1-u' already");
        g_clear_error(&err);
        assert_false(orch_route_doc_set(v, ROOT, "vm2", "a", "vm1-u",
                                        "tcp:h:1", &err));
        assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
        assert_string_equal(err->message, "route 'vm1-u' is held by device "
                            "'u' of VM 'vm1'");
        g_clear_error(&err);
    }
    /* One id for two devices, two requests: the second writes nothing. */
    assert_true(orch_route_doc_set(a, ROOT, "vm2", "a", "r", "tcp:h:1",
                                   &err));
    assert_true(orch_route_doc_set(b, ROOT, "vm2", "b", "r", "tcp:h:2",
                                   &err));
    assert_true(orch_view_commit(a, NULL, &err));
    assert_false(orch_view_commit(b, NULL, &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    g_clear_error(&err);
    {
        g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);

        assert_true(orch_placement_read(v, ROOT, "vm2", "b", &p, &err));
    }
    assert_true(json_object_get_null_member(p, "route_id"));
    assert_true(known("r", "s"));
}

/* Two requests for the last slot: the loser writes no route. */
static void test_lost_slot(void **state)
{
    g_autoptr(OrchStoreView) a = orch_view_new(store_test_store);
    g_autoptr(OrchStoreView) b = orch_view_new(store_test_store);
    g_autoptr(GError) err = NULL;

    {
        g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);

        make_vm(v, "vm3", "d");
        make_vm(v, "vm4", "d");
        assert_true(orch_view_commit(v, NULL, &err));
    }
    assert_true(place(a, "vm3", "d", &err));
    assert_true(orch_route_doc_set(a, ROOT, "vm3", "d", "vm3-d", "tcp:h:3",
                                   &err));
    assert_true(place(b, "vm4", "d", &err));
    assert_true(orch_route_doc_set(b, ROOT, "vm4", "d", "vm4-d", "tcp:h:4",
                                   &err));
    assert_true(orch_view_commit(b, NULL, &err));
    assert_false(orch_view_commit(a, NULL, &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    assert_true(absent_now(ROOT "routes/vm3-d"));
    assert_true(absent_now(ROOT "placements/vm3/d"));
    assert_true(known("vm4-d", "s"));
}

/* A release deletes the route's key with the placement. */
static void test_release(void **state)
{
    g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);
    g_autoptr(GError) err = NULL;

    assert_true(orch_placement_release(v, ROOT, "vm1", "u", &err));
    assert_true(orch_view_commit(v, NULL, &err));
    assert_true(absent_now(ROOT "routes/vm1-u"));
    assert_true(absent_now(ROOT "instances/vm1-u"));
    assert_false(known("vm1-u", "s"));
    assert_true(known("r", "s"));
}

/* 768 KiB of '[' (base64 in etcd: within its 1.5 MiB request limit). */
static void test_deep_document(void **state)
{
    size_t n = 768 * 1024;
    g_autofree char *deep = g_malloc(n + 1);
    g_autoptr(OrchTxn) t = orch_txn_new();
    g_autoptr(OrchStoreView) v = NULL;
    g_autoptr(GError) err = NULL;
    char *vm = NULL, *dev = NULL;

    memset(deep, '[', n);
    deep[n] = '\0';
    orch_txn_put(t, ROOT "routes/deep", deep);
    assert_true(orch_store_txn(store_test_store, t, NULL, &err));
    v = orch_view_new(store_test_store);
    assert_false(orch_route_doc_read(v, ROOT, "deep", &vm, &dev, &err));
    assert_null(vm);
    assert_int_equal(err->code, ORCH_ERROR_INTERNAL);
    assert_string_equal(err->message, "store: " ROOT "routes/deep refused: "
                        "JSON nested deeper than 32 levels");
}

static int setup(void **state)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(OrchTxn) t = orch_txn_new();

    if (store_test_setup(state) < 0) {
        return -1;
    }
    /* Room for vm1's u, vm2's a and b, and one of vm3's or vm4's d. */
    orch_txn_put(t, ROOT "platforms/s", "{\"name\":\"s\",\"role\":"
                 "\"server\",\"address\":\"unix:/s\",\"capacity\":4,"
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
        cmocka_unit_test(test_with_placement),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_lost_slot),
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_deep_document),
    };

    return store_test_run("test-routes", tests, G_N_ELEMENTS(tests), setup,
                          store_test_teardown);
}
