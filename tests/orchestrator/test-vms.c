/*
 * The VMs as documents on the store (orchestrator/store-vms.h), on the
 * back end ORCH_TEST_STORE names ("etcd:http://..." from with-etcd.sh;
 * unset, a SQLite file in a temporary directory): a create that writes
 * the VM and its UUID's claim together at the commit; a taken name or
 * UUID refused, also when two requests take one at once (one commit
 * holds, the other writes nothing); devices naming absent or client
 * platforms, or a pinned platform removed before the commit; two
 * requests updating one VM (the second is 409); a listing's commit
 * failed by a VM created meanwhile; a platform's removal refused while a
 * VM runs on it or a device names it (also one created after the
 * removal read), and clearing it as a stopped VM's client; a VM's
 * removal refused while it holds placements, also when the claim
 * commits after the removal read, and a removal that frees the UUID;
 * names and UUIDs that are not refused (they are parts of keys); a
 * document nested 768 KiB deep refused before json-glib recursed
 * (issue #22).
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
#include "store-platform-remove.h"
#include "store-platforms.h"
#include "store-vms.h"

#define ROOT "/t-vms/"
#define U1 "11111111-1111-4111-8111-111111111111"
#define U2 "22222222-2222-4222-8222-222222222222"
#define U3 "33333333-3333-4333-8333-333333333333"
#define U4 "44444444-4444-4444-8444-444444444444"
#define U5 "55555555-5555-4555-8555-555555555555"
#define U6 "66666666-6666-4666-8666-666666666666"
#define U7 "77777777-7777-4777-8777-777777777777"
#define U8 "88888888-8888-4888-8888-888888888888"
#define U9 "99999999-9999-4999-8999-999999999999"

static char *value_now(const char *key)
{
    g_autoptr(OrchKv) kv = NULL;
    g_autoptr(GError) err = NULL;

    if (!orch_store_get(store_test_store, key, &kv, NULL, &err)) {
        fail_msg("get %s: %s", key, err->message);
    }
    return kv ? g_strdup(kv->value) : NULL;
}

static bool absent_now(const char *key)
{
    g_autofree char *v = value_now(key);

    return v == NULL;
}

/* A VM of one edu pinned to "s" and one UART through "s" (its owner). */
static JsonObject *vm_doc(const char *name, const char *uuid)
{
    JsonObject *doc = orch_vm_doc_new(name, uuid, "256M");
    JsonObject *props = json_object_new();

    json_object_set_string_member(props, "dma_mask", "28");
    orch_vm_doc_add_device(doc, "d1", "edu", "pci", "s", NULL, "never",
                           false, props);
    orch_vm_doc_add_device(doc, "u", "uart16550", "isa", NULL, "s",
                           "on-failure", true, NULL);
    return doc;
}

/* Create @doc in a view of its own and commit it. */
static bool create(JsonObject *doc, GError **errp)
{
    g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);

    return orch_vm_doc_create(v, ROOT, doc, errp) &&
           orch_view_commit(v, NULL, errp);
}

static JsonObject *read_now(const char *name)
{
    g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);
    g_autoptr(GError) err = NULL;
    JsonObject *o = NULL;

    if (!orch_vm_doc_read(v, ROOT, name, &o, &err)) {
        fail_msg("read %s: %s", name, err->message);
    }
    return o;
}

static void test_create(void **state)
{
    g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);
    g_autoptr(JsonObject) doc = vm_doc("vm1", U1);
    g_autoptr(JsonObject) back = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *claim = NULL, *holder = NULL;
    JsonObject *d;

    assert_true(orch_vm_doc_create(v, ROOT, doc, &err));
    /* The view sees its own write; the store nothing before the commit. */
    assert_true(orch_vm_doc_by_uuid(v, ROOT, U1, &holder, &err));
    assert_string_equal(holder, "vm1");
    assert_true(absent_now(ROOT "vms/vm1"));
    assert_true(absent_now(ROOT "uuids/" U1));
    assert_true(orch_view_commit(v, NULL, &err));
    claim = value_now(ROOT "uuids/" U1);
    assert_string_equal(claim, "{\"vm\":\"vm1\"}");
    back = read_now("vm1");
    assert_non_null(back);
    assert_string_equal(json_object_get_string_member(back, "uuid"), U1);
    assert_string_equal(json_object_get_string_member(back, "state"),
                        "defined");
    assert_true(json_object_get_null_member(back, "client"));
    d = orch_vm_doc_device(back, "d1");
    assert_non_null(d);
    assert_string_equal(json_object_get_string_member(d, "server"), "s");
    assert_true(json_object_get_null_member(d, "via"));
    assert_string_equal(json_object_get_string_member(
                            json_object_get_object_member(d, "props"),
                            "dma_mask"), "28");
    d = orch_vm_doc_device(back, "u");
    assert_non_null(d);
    assert_string_equal(json_object_get_string_member(d, "via"), "s");
    assert_true(json_object_get_boolean_member(d, "console"));
    assert_null(orch_vm_doc_device(back, "nope"));
}

/* A taken name or UUID: 409 and nothing written; also two at once. */
static void test_taken(void **state)
{
    g_autoptr(JsonObject) same_name = vm_doc("vm1", U2);
    g_autoptr(JsonObject) same_uuid = vm_doc("vm2", U1);
    g_autoptr(JsonObject) a = vm_doc("vm3", U2);
    g_autoptr(JsonObject) b = vm_doc("vm3", U3);
    g_autoptr(JsonObject) c = vm_doc("vm4", U3);
    g_autoptr(OrchStoreView) va = orch_view_new(store_test_store);
    g_autoptr(OrchStoreView) vb = orch_view_new(store_test_store);
    g_autoptr(OrchStoreView) vc = orch_view_new(store_test_store);
    g_autoptr(GError) err = NULL;

    assert_false(create(same_name, &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    assert_string_equal(err->message, "VM 'vm1' exists");
    g_clear_error(&err);
    assert_true(absent_now(ROOT "uuids/" U2));
    assert_false(create(same_uuid, &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    assert_string_equal(err->message, "UUID '" U1 "' is taken by VM 'vm1'");
    g_clear_error(&err);
    assert_true(absent_now(ROOT "vms/vm2"));

    /* One name, two requests: the second commit writes nothing. */
    assert_true(orch_vm_doc_create(va, ROOT, a, &err));
    assert_true(orch_vm_doc_create(vb, ROOT, b, &err));
    assert_true(orch_view_commit(va, NULL, &err));
    assert_false(orch_view_commit(vb, NULL, &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    g_clear_error(&err);
    assert_true(absent_now(ROOT "uuids/" U3));
    /* One UUID, two requests (vb's name and c's): the same. */
    assert_true(orch_vm_doc_create(vc, ROOT, c, &err));
    {
        g_autoptr(JsonObject) d = vm_doc("vm5", U3);

        assert_true(create(d, &err));
    }
    assert_false(orch_view_commit(vc, NULL, &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    assert_true(absent_now(ROOT "vms/vm4"));
}

/* Devices' platforms: absent, a client, one removed before the commit. */
static void test_refs(void **state)
{
    g_autoptr(JsonObject) absent = orch_vm_doc_new("r1", U4, "1G");
    g_autoptr(JsonObject) client = orch_vm_doc_new("r2", U5, "1G");
    g_autoptr(JsonObject) twice = orch_vm_doc_new("r3", U6, "1G");
    g_autoptr(JsonObject) pinned = orch_vm_doc_new("r4", U7, "1G");
    g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);
    g_autoptr(OrchStoreView) rm = orch_view_new(store_test_store);
    g_autoptr(GError) err = NULL;

    orch_vm_doc_add_device(absent, "d", "edu", "pci", "nosuch", NULL,
                           "never", false, NULL);
    assert_false(create(absent, &err));
    assert_int_equal(err->code, ORCH_ERROR_NOT_FOUND);
    assert_string_equal(err->message, "device 'd': no platform 'nosuch'");
    g_clear_error(&err);
    orch_vm_doc_add_device(client, "d", "edu", "pci", NULL, "c", "never",
                           false, NULL);
    assert_false(create(client, &err));
    assert_int_equal(err->code, ORCH_ERROR_BAD_REQUEST);
    assert_string_equal(err->message, "device 'd': 'c' is a client "
                        "platform, not a server ('via' must name a server)");
    g_clear_error(&err);
    orch_vm_doc_add_device(twice, "d", "edu", "pci", NULL, NULL, "never",
                           false, NULL);
    orch_vm_doc_add_device(twice, "d", "edu", "pci", NULL, NULL, "never",
                           false, NULL);
    assert_false(create(twice, &err));
    assert_int_equal(err->code, ORCH_ERROR_BAD_REQUEST);
    assert_string_equal(err->message, "device 'd' appears twice");
    g_clear_error(&err);
    {
        g_autoptr(JsonObject) slash = orch_vm_doc_new("a/b", U4, "1G");
        g_autoptr(JsonObject) bad_uuid = orch_vm_doc_new("r5", "r5", "1G");
        g_autoptr(JsonObject) bad_dev = orch_vm_doc_new("r6", U4, "1G");

        assert_false(create(slash, &err));
        assert_int_equal(err->code, ORCH_ERROR_BAD_REQUEST);
        assert_string_equal(err->message, "store: bad VM name 'a/b' or UUID "
                            "'" U4 "'");
        g_clear_error(&err);
        assert_false(create(bad_uuid, &err));
        assert_int_equal(err->code, ORCH_ERROR_BAD_REQUEST);
        g_clear_error(&err);
        orch_vm_doc_add_device(bad_dev, "../d", "edu", "pci", NULL, NULL,
                               "never", false, NULL);
        assert_false(create(bad_dev, &err));
        assert_int_equal(err->code, ORCH_ERROR_BAD_REQUEST);
        assert_string_equal(err->message, "store: bad device name '../d'");
        g_clear_error(&err);
    }
    assert_true(absent_now(ROOT "vms/r1"));
    assert_true(absent_now(ROOT "vms/r2"));
    assert_true(absent_now(ROOT "vms/r3"));

    /* Pinned to "t", which another request removes before the commit. */
    orch_vm_doc_add_device(pinned, "d", "edu", "pci", "t", NULL, "never",
                           false, NULL);
    assert_true(orch_vm_doc_create(v, ROOT, pinned, &err));
    assert_true(orch_platform_remove_doc(rm, ROOT, "t", &err));
    assert_true(orch_view_commit(rm, NULL, &err));
    assert_false(orch_view_commit(v, NULL, &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    assert_true(absent_now(ROOT "vms/r4"));
    assert_true(absent_now(ROOT "uuids/" U7));
}

/* Two requests read vm1 and write it: the second commit is 409. */
static void test_update(void **state)
{
    g_autoptr(OrchStoreView) a = orch_view_new(store_test_store);
    g_autoptr(OrchStoreView) b = orch_view_new(store_test_store);
    g_autoptr(JsonObject) da = NULL, db = NULL, now = NULL;
    g_autoptr(JsonObject) missing = orch_vm_doc_new("vm9", U9, "1G");
    g_autoptr(GError) err = NULL;

    assert_true(orch_vm_doc_read(a, ROOT, "vm1", &da, &err));
    assert_true(orch_vm_doc_read(b, ROOT, "vm1", &db, &err));
    json_object_set_string_member(da, "state", "running");
    json_object_set_string_member(da, "client", "c");
    json_object_set_string_member(db, "state", "stopped");
    assert_true(orch_vm_doc_update(a, ROOT, da, &err));
    assert_true(orch_vm_doc_update(b, ROOT, db, &err));
    assert_true(orch_view_commit(a, NULL, &err));
    assert_false(orch_view_commit(b, NULL, &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    g_clear_error(&err);
    now = read_now("vm1");
    assert_string_equal(json_object_get_string_member(now, "state"),
                        "running");
    assert_string_equal(json_object_get_string_member(now, "client"), "c");

    {
        g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);

        assert_false(orch_vm_doc_update(v, ROOT, missing, &err));
        assert_int_equal(err->code, ORCH_ERROR_NOT_FOUND);
        assert_string_equal(err->message, "no VM 'vm9'");
        g_clear_error(&err);
        json_object_set_string_member(now, "uuid", U2);
        assert_false(orch_vm_doc_update(v, ROOT, now, &err));
        assert_int_equal(err->code, ORCH_ERROR_INTERNAL);
        assert_string_equal(err->message, "store: VM 'vm1''s UUID cannot "
                            "change");
    }
}

/* A listing, in name order; a VM created meanwhile fails its commit. */
static void test_read_all(void **state)
{
    g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);
    g_autoptr(GPtrArray) all = NULL;
    g_autoptr(JsonObject) doc = NULL;
    g_autoptr(JsonObject) late = orch_vm_doc_new("vm6", U8, "1G");
    g_autoptr(GError) err = NULL;

    all = orch_vm_doc_read_all(v, ROOT, &err);
    assert_non_null(all);
    assert_int_equal(all->len, 3);
    assert_string_equal(json_object_get_string_member(
                            g_ptr_array_index(all, 0), "name"), "vm1");
    assert_string_equal(json_object_get_string_member(
                            g_ptr_array_index(all, 1), "name"), "vm3");
    assert_string_equal(json_object_get_string_member(
                            g_ptr_array_index(all, 2), "name"), "vm5");
    doc = json_object_ref(g_ptr_array_index(all, 1));
    json_object_set_string_member(doc, "state", "stopped");
    assert_true(orch_vm_doc_update(v, ROOT, doc, &err));
    assert_true(create(late, &err));
    assert_false(orch_view_commit(v, NULL, &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
}

/* Remove platform @name in a view of its own and commit it. */
static bool remove_platform(const char *name, GError **errp)
{
    g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);

    return orch_platform_remove_doc(v, ROOT, name, errp) &&
           orch_view_commit(v, NULL, errp);
}

/* A platform a VM names: its removal refused, or its client cleared. */
static void test_platform_removal(void **state)
{
    g_autoptr(OrchStoreView) stop = orch_view_new(store_test_store);
    g_autoptr(OrchStoreView) rm = orch_view_new(store_test_store);
    g_autoptr(OrchStoreView) mk = orch_view_new(store_test_store);
    g_autoptr(OrchTxn) t = orch_txn_new();
    g_autoptr(JsonObject) vm1 = NULL, now = NULL;
    g_autoptr(JsonObject) via = orch_vm_doc_new("vm8", U9, "1G");
    g_autoptr(GError) err = NULL;

    assert_false(remove_platform("c", &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    assert_string_equal(err->message, "platform 'c' is in use by 1 running "
                        "VM(s)");
    g_clear_error(&err);
    assert_false(remove_platform("s", &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    assert_string_equal(err->message, "platform 's' is the pinned server of "
                        "3 device(s)");
    g_clear_error(&err);
    /* Stopped, vm1 keeps its client; the removal clears it. */
    assert_true(orch_vm_doc_read(stop, ROOT, "vm1", &vm1, &err));
    json_object_set_string_member(vm1, "state", "stopped");
    assert_true(orch_vm_doc_update(stop, ROOT, vm1, &err));
    assert_true(orch_view_commit(stop, NULL, &err));
    assert_true(remove_platform("c", &err));
    now = read_now("vm1");
    assert_true(json_object_get_null_member(now, "client"));
    assert_true(absent_now(ROOT "platforms/c"));

    /* A VM naming "w" created after the removal read: the removal is 409. */
    orch_txn_put(t, ROOT "platforms/w", "{\"name\":\"w\",\"role\":"
                 "\"server\",\"address\":\"unix:/w\",\"capacity\":1,"
                 "\"models\":[]}");
    assert_true(orch_store_txn(store_test_store, t, NULL, &err));
    assert_true(orch_platform_remove_doc(rm, ROOT, "w", &err));
    orch_vm_doc_add_device(via, "d", "edu", "pci", NULL, "w", "never", false,
                           NULL);
    assert_true(orch_vm_doc_create(mk, ROOT, via, &err));
    assert_true(orch_view_commit(mk, NULL, &err));
    assert_false(orch_view_commit(rm, NULL, &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    g_clear_error(&err);
    assert_false(absent_now(ROOT "platforms/w"));
    assert_false(remove_platform("w", &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    assert_string_equal(err->message, "platform 'w' is the owner server "
                        "('via') of 1 device(s)");
}

/* Placed: refused, also if the claim commits after the removal read. */
static void test_remove(void **state)
{
    g_autoptr(OrchStoreView) r = orch_view_new(store_test_store);
    g_autoptr(OrchStoreView) p = orch_view_new(store_test_store);
    g_autoptr(JsonObject) again = vm_doc("vm7", U1);
    g_autoptr(GError) err = NULL;
    g_autofree char *server = NULL;

    assert_true(orch_vm_doc_remove(r, ROOT, "vm1", &err));
    assert_true(orch_placement_claim(p, ROOT, "vm1", "d1", "edu", "s",
                                     "vm1-d1", "tok", &server, &err));
    assert_true(orch_view_commit(p, NULL, &err));
    assert_false(orch_view_commit(r, NULL, &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    g_clear_error(&err);
    assert_false(absent_now(ROOT "vms/vm1"));
    assert_false(absent_now(ROOT "uuids/" U1));
    {
        g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);

        assert_false(orch_vm_doc_remove(v, ROOT, "vm1", &err));
        assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
        assert_string_equal(err->message, "VM 'vm1' holds 1 device model "
                            "placement(s)");
        g_clear_error(&err);
        assert_false(orch_vm_doc_remove(v, ROOT, "vm9", &err));
        assert_int_equal(err->code, ORCH_ERROR_NOT_FOUND);
        g_clear_error(&err);
        assert_true(orch_placement_release(v, ROOT, "vm1", "d1", &err));
        assert_true(orch_view_commit(v, NULL, &err));
    }
    {
        g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);

        assert_true(orch_vm_doc_remove(v, ROOT, "vm1", &err));
        assert_true(orch_view_commit(v, NULL, &err));
    }
    assert_true(absent_now(ROOT "vms/vm1"));
    assert_true(absent_now(ROOT "uuids/" U1));
    /* Its UUID is free again. */
    assert_true(create(again, &err));
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
    orch_txn_put(t, ROOT "vms/deep", deep);
    assert_true(orch_store_txn(store_test_store, t, NULL, &err));
    v = orch_view_new(store_test_store);
    assert_false(orch_vm_doc_read(v, ROOT, "deep", &o, &err));
    assert_null(o);
    assert_int_equal(err->code, ORCH_ERROR_INTERNAL);
    assert_string_equal(err->message, "store: " ROOT "vms/deep refused: "
                        "JSON nested deeper than 32 levels");
}

static int setup(void **state)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(OrchTxn) t = orch_txn_new();
    const char *server = "{\"name\":\"%s\",\"role\":\"server\","
        "\"address\":\"unix:/%s\",\"capacity\":2,\"models\":[{\"model\":"
        "\"edu\",\"bus\":\"pci\",\"props\":[]}]}";
    g_autofree char *s = g_strdup_printf(server, "s", "s");
    g_autofree char *tt = g_strdup_printf(server, "t", "t");

    if (store_test_setup(state) < 0) {
        return -1;
    }
    orch_txn_put(t, ROOT "platforms/s", s);
    orch_txn_put(t, ROOT "platforms/t", tt);
    orch_txn_put(t, ROOT "platforms/c", "{\"name\":\"c\",\"role\":"
                 "\"client\",\"address\":\"unix:/c\",\"capacity\":4,"
                 "\"models\":[]}");
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
        cmocka_unit_test(test_create),
        cmocka_unit_test(test_taken),
        cmocka_unit_test(test_refs),
        cmocka_unit_test(test_update),
        cmocka_unit_test(test_read_all),
        cmocka_unit_test(test_platform_removal),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_deep_document),
    };

    return store_test_run("test-vms", tests, G_N_ELEMENTS(tests), setup,
                          store_test_teardown);
}
