/*
 * A schema-7 database, made by db.c as the orchestrator makes it, copied
 * into the store (orchestrator/store-import.h) on the back end that
 * ORCH_TEST_STORE names (a SQLite file in a temporary directory if
 * unset): every row is in its key as a document, names resolved, the
 * claims and the load derived, the events in order across several
 * transactions, and a second import refused without a write.  And a
 * database whose orchestrator kept its events on the store since (its
 * own kv table): they are taken from there; and a store imported before
 * catches up with the events table once (orch_store_import_moved).
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

#include <glib/gstdio.h>

#include "catalogue.h"
#include "db.h"
#include "error.h"
#include "store-events.h"
#include "records.h"
#include "records-view.h"
#include "store-import.h"
#include "records-set.h"
#include "store-placements.h"
#include "store-platform-remove.h"
#include "store-platforms.h"
#include "store-routes.h"
#include "store-vms.h"

#define EVENTS 150              /* more than one batch */

static char *tmpdir;
static char *spec;
static char *root;

/* The document at ROOT @rel, parsed; fails the test if absent. */
static JsonObject *doc(OrchStore *s, const char *rel, gint64 *mod)
{
    g_autofree char *key = g_strconcat(root, rel, NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(OrchKv) kv = NULL;
    JsonNode *n;
    JsonObject *o;

    assert_true(orch_store_get(s, key, &kv, NULL, &err));
    if (!kv) {
        fail_msg("%s is absent", key);
    }
    if (mod) {
        *mod = kv->mod_rev;
    }
    n = json_from_string(kv->value, &err);
    assert_non_null(n);
    o = json_object_ref(json_node_get_object(n));
    json_node_unref(n);
    return o;
}

static sqlite3 *make_schema7(const char *file)
{
    g_autofree char *path = g_build_filename(tmpdir, file, NULL);
    g_autoptr(GError) err = NULL;
    sqlite3 *db = orch_db_open(path, &err);
    int i;

    assert_non_null(db);
    assert_int_equal(orch_db_int(db, -1, "PRAGMA user_version", ""), 7);
    assert_true(orch_db_run(db, &err,
        "INSERT INTO platforms (name, role, address, capacity, model_tls)"
        " VALUES ('s1', 'server', 'tcp:127.0.0.1:7000', 4, 1),"
        " ('c1', 'client', 'unix:/run/c1.sock', 0, 0)", ""));
    assert_true(orch_db_run(db, &err,
        "INSERT INTO platform_models (platform_id, model, bus, props)"
        " VALUES (1, 'edu', 'pci', '[]'), (1, 'uart16550', 'isa',"
        " '[{\"name\":\"console\",\"type\":\"string\"}]')", ""));
    assert_true(orch_db_run(db, &err,
        "INSERT INTO vms (name, uuid, memory, state, client_id,"
        " extra_args, boot) VALUES ('vm1', 'uuid-1', '256M', 'running', 2,"
        " '[\"-nodefaults\"]', 'edu0'), ('vm2', 'uuid-2', '64M',"
        " 'defined', NULL, '[]', NULL)", ""));
    assert_true(orch_db_run(db, &err,
        "INSERT INTO devices (vm_id, name, model, bus, server_id, restart,"
        " via_id, console, props) VALUES"
        " (1, 'edu0', 'edu', 'pci', 1, 'never', 1, 0, '{\"x\":\"y\"}'),"
        " (1, 'ser', 'uart16550', 'isa', NULL, 'on-failure', NULL, 1, '{}')",
        ""));
    assert_true(orch_db_run(db, &err,
        "INSERT INTO placements (device_id, server_id, instance, address,"
        " token, state, route_id, route_address) VALUES (1, 1, 'inst-1',"
        " 'tcp:127.0.0.1:7100', 'secret', 'running', 'r-1',"
        " 'tcp:127.0.0.1:7200')", ""));
    for (i = 0; i < EVENTS; i++) {
        g_autofree char *m = g_strdup_printf("e%d", i);

        assert_true(orch_db_run(db, &err, "INSERT INTO events (vm, message)"
                                " VALUES ('vm1', ?)", "s", m));
    }
    return db;
}


/* @a and @b (either NULL) are the same document. */
static void same_doc(JsonObject *a, JsonObject *b)
{
    g_autoptr(JsonNode) na = NULL, nb = NULL;
    g_autofree char *ta = NULL, *tb = NULL;

    if (!a || !b) {
        assert_true(a == b);
        return;
    }
    na = json_node_init_object(json_node_alloc(), a);
    nb = json_node_init_object(json_node_alloc(), b);
    ta = json_to_string(na, FALSE);
    tb = json_to_string(nb, FALSE);
    if (!json_node_equal(na, nb)) {
        fail_msg("%s differs from %s", ta, tb);
    }
}

static void same_names(GPtrArray *a, GPtrArray *b)
{
    assert_int_equal(a->len, b->len);
    for (guint i = 0; i < a->len; i++) {
        assert_string_equal(a->pdata[i], b->pdata[i]);
    }
}

/*
 * records-view.h answers what records.h answers from the tables the
 * store was imported from: every document, name list, claim and count,
 * and NULL for what is absent.  Then the counts as a view sees them: a
 * VM it wrote counts for its client, and the client count is not
 * remembered (another's change of a VM fails no commit), the server's
 * load is.
 */
static void check_records_view(sqlite3 *db, OrchStore *s)
{
    g_autoptr(OrchStoreView) v = orch_view_new(s);
    g_autoptr(OrchStoreView) w = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) vn = orch_rec_vm_names(db);
    g_autoptr(GPtrArray) pn = orch_rec_platform_names(db);
    g_autoptr(GPtrArray) ps = orch_rec_platforms(db);
    g_autoptr(GPtrArray) vn2 = orch_recv_vm_names(v, root, &err);
    g_autoptr(GPtrArray) pn2 = orch_recv_platform_names(v, root, &err);
    g_autoptr(GPtrArray) ps2 = orch_recv_platforms(v, root, &err);
    g_autoptr(JsonObject) vm2 = NULL;
    g_autofree char *text = NULL, *vkey = NULL;
    static const char *const devs[][2] = {
        { "vm1", "edu0" }, { "vm1", "ser" }, { "vm2", "none" },
        { "nope", "edu0" },
    };
    static const char *const plats[] = { "s1", "c1", "nope" };
    guint i;

    same_names(vn, vn2);
    assert_int_equal(vn->len, 2);
    same_names(pn, pn2);
    assert_int_equal(ps->len, ps2->len);
    for (i = 0; i < ps->len; i++) {
        same_doc(ps->pdata[i], ps2->pdata[i]);
    }
    for (i = 0; i < vn->len + 1; i++) {
        const char *name = i < vn->len ? vn->pdata[i] : "nope";
        g_autoptr(JsonObject) a = orch_rec_vm(db, name);
        g_autoptr(JsonObject) b = orch_recv_vm(v, root, name, &err);

        same_doc(a, b);
    }
    for (i = 0; i < G_N_ELEMENTS(devs); i++) {
        g_autoptr(JsonObject) a = orch_rec_placement(db, devs[i][0],
                                                     devs[i][1]);
        g_autoptr(JsonObject) b = orch_recv_placement(v, root, devs[i][0],
                                                      devs[i][1], &err);

        same_doc(a, b);
    }
    for (i = 0; i < G_N_ELEMENTS(plats); i++) {
        g_autoptr(JsonObject) a = orch_rec_platform(db, plats[i]);
        g_autoptr(JsonObject) b = orch_recv_platform(v, root, plats[i],
                                                     &err);

        same_doc(a, b);
        assert_int_equal(orch_rec_server_used(db, plats[i]),
                         orch_recv_server_used(v, root, plats[i], &err));
        assert_int_equal(orch_rec_client_running(db, plats[i]),
                         orch_recv_client_running(v, root, plats[i], &err));
    }
    assert_int_equal(orch_recv_server_used(v, root, "s1", &err), 1);
    assert_int_equal(orch_recv_client_running(v, root, "c1", &err), 1);
    {
        g_autoptr(JsonObject) a = orch_rec_instance(db, "inst-1");
        g_autoptr(JsonObject) b = orch_recv_instance(v, root, "inst-1",
                                                     &err);
        g_autoptr(JsonObject) c = orch_recv_instance(v, root, "inst-9",
                                                     &err);
        g_autoptr(JsonObject) d = orch_rec_route(db, "r-1");
        g_autoptr(JsonObject) e = orch_recv_route(v, root, "r-1", &err);
        g_autoptr(JsonObject) f = orch_recv_route(v, root, "r-9", &err);
        g_autofree char *u = orch_rec_vm_by_uuid(db, "uuid-2");
        g_autofree char *u2 = orch_recv_vm_by_uuid(v, root, "uuid-2", &err);
        g_autofree char *u3 = orch_recv_vm_by_uuid(v, root, "uuid-9", &err);

        assert_non_null(a);
        same_doc(a, b);
        assert_null(c);
        assert_non_null(d);
        same_doc(d, e);
        assert_null(f);
        assert_string_equal(u, u2);
        assert_null(u3);
    }
    assert_null(err);

    /*
     * vm2 started on c1 in a view that read it alone: counted there, not
     * by another.
     */
    g_clear_pointer(&v, orch_view_free);
    v = orch_view_new(s);
    vm2 = orch_recv_vm(v, root, "vm2", &err);
    json_object_set_string_member(vm2, "state", "running");
    json_object_set_string_member(vm2, "client", "c1");
    assert_true(orch_vm_doc_update(v, root, vm2, &err));
    assert_int_equal(orch_recv_client_running(v, root, "c1", &err), 2);
    w = orch_view_new(s);
    assert_int_equal(orch_recv_client_running(w, root, "c1", &err), 1);
    /* Another stops vm1 meanwhile: the count was not remembered. */
    text = g_strdup("{\"name\":\"vm1\",\"uuid\":\"uuid-1\","
                    "\"state\":\"stopped\",\"client\":\"c1\","
                    "\"devices\":[]}");
    vkey = g_strconcat(root, "vms/vm1", NULL);
    {
        g_autoptr(OrchTxn) t = orch_txn_new();

        orch_txn_put(t, vkey, text);
        assert_true(orch_store_txn(s, t, NULL, &err));
    }
    assert_int_equal(orch_recv_client_running(v, root, "c1", &err), 1);
    assert_true(orch_view_commit(v, NULL, &err));
    assert_int_equal(orch_recv_client_running(w, root, "c1", &err), 1);
    /* The load is remembered: a claim meanwhile fails the commit. */
    assert_int_equal(orch_recv_server_used(w, root, "s1", &err), 1);
    orch_view_put(w, vkey, text);
    {
        g_autofree char *lkey = g_strconcat(root, "load/s1", NULL);
        g_autoptr(OrchTxn) t = orch_txn_new();

        orch_txn_put(t, lkey, "{\"used\":2}");
        assert_true(orch_store_txn(s, t, NULL, &err));
    }
    assert_false(orch_view_commit(w, NULL, &err));
    assert_true(g_error_matches(err, ORCH_ERROR, ORCH_ERROR_CONFLICT));
}

static void test_import(void **state)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(OrchStore) s = orch_store_open(spec, NULL, NULL, NULL, &err);
    sqlite3 *db = make_schema7("db.sqlite");
    g_autofree char *events_prefix = g_strconcat(root, "events/", NULL);
    g_autoptr(GPtrArray) events = NULL;
    g_autoptr(GPtrArray) again = NULL;
    JsonObject *o, *m, *d;
    JsonArray *a;
    gint64 mod, mod_again;

    assert_non_null(s);
    assert_true(orch_store_import(db, s, root, &err));

    o = doc(s, "schema", &mod);
    assert_int_equal(json_object_get_int_member(o, "version"), 8);
    assert_int_equal(json_object_get_int_member(o, "imported_from"), 7);
    json_object_unref(o);

    o = doc(s, "platforms/s1", NULL);
    assert_false(json_object_has_member(o, "id"));
    assert_string_equal(json_object_get_string_member(o, "role"), "server");
    assert_int_equal(json_object_get_int_member(o, "capacity"), 4);
    assert_true(json_object_get_boolean_member(o, "model_tls"));
    a = json_object_get_array_member(o, "models");
    assert_int_equal(json_array_get_length(a), 2);
    m = json_array_get_object_element(a, 1);
    assert_string_equal(json_object_get_string_member(m, "model"),
                        "uart16550");
    assert_string_equal(json_object_get_string_member(m, "bus"), "isa");
    assert_string_equal(json_object_get_string_member(
        json_array_get_object_element(json_object_get_array_member(
            m, "props"), 0), "name"), "console");
    json_object_unref(o);

    o = doc(s, "vms/vm1", NULL);
    assert_string_equal(json_object_get_string_member(o, "uuid"), "uuid-1");
    assert_string_equal(json_object_get_string_member(o, "client"), "c1");
    assert_string_equal(json_object_get_string_member(o, "boot"), "edu0");
    assert_string_equal(json_array_get_string_element(
        json_object_get_array_member(o, "extra_args"), 0), "-nodefaults");
    a = json_object_get_array_member(o, "devices");
    assert_int_equal(json_array_get_length(a), 2);
    d = json_array_get_object_element(a, 0);
    assert_false(json_object_has_member(d, "id"));
    assert_string_equal(json_object_get_string_member(d, "server"), "s1");
    assert_string_equal(json_object_get_string_member(d, "via"), "s1");
    assert_false(json_object_get_boolean_member(d, "console"));
    assert_string_equal(json_object_get_string_member(
        json_object_get_object_member(d, "props"), "x"), "y");
    d = json_array_get_object_element(a, 1);
    assert_true(json_object_get_null_member(d, "server"));
    assert_true(json_object_get_boolean_member(d, "console"));
    assert_string_equal(json_object_get_string_member(d, "restart"),
                        "on-failure");
    json_object_unref(o);

    o = doc(s, "vms/vm2", NULL);
    assert_true(json_object_get_null_member(o, "client"));
    assert_int_equal(json_array_get_length(
        json_object_get_array_member(o, "devices")), 0);
    json_object_unref(o);

    o = doc(s, "placements/vm1/edu0", NULL);
    assert_string_equal(json_object_get_string_member(o, "instance"),
                        "inst-1");
    assert_string_equal(json_object_get_string_member(o, "server"), "s1");
    assert_string_equal(json_object_get_string_member(o, "token"),
                        "secret");
    assert_string_equal(json_object_get_string_member(o, "route_address"),
                        "tcp:127.0.0.1:7200");
    json_object_unref(o);

    o = doc(s, "instances/inst-1", NULL);
    assert_string_equal(json_object_get_string_member(o, "vm"), "vm1");
    assert_string_equal(json_object_get_string_member(o, "device"), "edu0");
    json_object_unref(o);
    o = doc(s, "routes/r-1", NULL);
    assert_string_equal(json_object_get_string_member(o, "device"), "edu0");
    json_object_unref(o);
    o = doc(s, "uuids/uuid-2", NULL);
    assert_string_equal(json_object_get_string_member(o, "vm"), "vm2");
    json_object_unref(o);
    o = doc(s, "load/s1", NULL);
    assert_int_equal(json_object_get_int_member(o, "used"), 1);
    json_object_unref(o);

    events = orch_store_list(s, events_prefix, NULL, &err);
    assert_non_null(events);
    assert_int_equal(events->len, EVENTS);
    {
        g_autoptr(JsonNode) first = json_from_string(
            ((OrchKv *)events->pdata[0])->value, NULL);
        g_autoptr(JsonNode) last = json_from_string(
            ((OrchKv *)events->pdata[EVENTS - 1])->value, NULL);
        g_autofree char *want = g_strdup_printf("e%d", EVENTS - 1);

        assert_string_equal(json_object_get_string_member(
            json_node_get_object(first), "message"), "e0");
        assert_string_equal(json_object_get_string_member(
            json_node_get_object(last), "message"), want);
    }

    /* Once only: a second import is refused, and writes nothing. */
    assert_false(orch_store_import(db, s, root, &err));
    assert_true(g_error_matches(err, ORCH_ERROR, ORCH_ERROR_CONFLICT));
    g_clear_error(&err);
    o = doc(s, "schema", &mod_again);
    json_object_unref(o);
    assert_int_equal(mod_again, mod);
    again = orch_store_list(s, events_prefix, NULL, &err);
    assert_int_equal(again->len, EVENTS);
    assert_int_equal(((OrchKv *)again->pdata[0])->mod_rev,
                     ((OrchKv *)events->pdata[0])->mod_rev);
    check_records_view(db, s);
    sqlite3_close(db);
}

/* Every document, list, claim and count the same under roots @a and @b. */
static void same_roots(OrchStore *s, const char *a, const char *b)
{
    g_autoptr(OrchStoreView) v = orch_view_new(s);
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) vn = orch_recv_vm_names(v, a, &err);
    g_autoptr(GPtrArray) pn = orch_recv_platform_names(v, a, &err);
    g_autoptr(GPtrArray) vn2 = orch_recv_vm_names(v, b, &err);
    g_autoptr(GPtrArray) pn2 = orch_recv_platform_names(v, b, &err);

    same_names(vn, vn2);
    same_names(pn, pn2);
    for (guint i = 0; i < pn->len; i++) {
        g_autoptr(JsonObject) x = orch_recv_platform(v, a, pn->pdata[i],
                                                     &err);
        g_autoptr(JsonObject) y = orch_recv_platform(v, b, pn->pdata[i],
                                                     &err);

        same_doc(x, y);
        assert_int_equal(orch_recv_server_used(v, a, pn->pdata[i], &err),
                         orch_recv_server_used(v, b, pn->pdata[i], &err));
        assert_int_equal(orch_recv_client_running(v, a, pn->pdata[i], &err),
                         orch_recv_client_running(v, b, pn->pdata[i],
                                                  &err));
    }
    for (guint i = 0; i < vn->len; i++) {
        g_autoptr(JsonObject) x = orch_recv_vm(v, a, vn->pdata[i], &err);
        g_autoptr(JsonObject) y = orch_recv_vm(v, b, vn->pdata[i], &err);
        JsonArray *devs = json_object_get_array_member(x, "devices");

        same_doc(x, y);
        for (guint j = 0; j < json_array_get_length(devs); j++) {
            const char *dev = orch_rec_str(
                json_array_get_object_element(devs, j), "name");
            g_autoptr(JsonObject) p = orch_recv_placement(v, a, vn->pdata[i],
                                                          dev, &err);
            g_autoptr(JsonObject) q = orch_recv_placement(v, b, vn->pdata[i],
                                                          dev, &err);
            const char *inst = orch_rec_str(p, "instance");
            const char *route = orch_rec_str(p, "route_id");

            same_doc(p, q);
            if (inst) {
                g_autoptr(JsonObject) c = orch_recv_instance(v, a, inst,
                                                             &err);
                g_autoptr(JsonObject) d = orch_recv_instance(v, b, inst,
                                                             &err);

                same_doc(c, d);
            }
            if (route) {
                g_autoptr(JsonObject) c = orch_recv_route(v, a, route, &err);
                g_autoptr(JsonObject) d = orch_recv_route(v, b, route, &err);

                same_doc(c, d);
            }
        }
    }
    assert_null(err);
}

/* @ok, or the test fails with @err's message. */
#define OK(ok, err) do { \
        if (!(ok)) { \
            fail_msg("%s: %s", #ok, (err) ? (err)->message : "?"); \
        } \
    } while (0)

/*
 * records-set.h's writes (under one root) and the store layers' on a
 * view (under another), step by step the same (a VM created with a
 * pinned device, its start's claim, the launcher's answer, its route,
 * the VM running; a platform added and refreshed; then all undone):
 * after each step the two read the same.  The handlers write through
 * records-set.h: what they write is what the layers tested on both back
 * ends write.
 */
static void test_twins(void **state)
{
    g_autofree char *at = g_strconcat(root, "twins/", NULL);
    g_autofree char *rec = g_strconcat(root, "twins-rec/", NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(OrchStore) s = orch_store_open(spec, NULL, NULL, NULL, &err);
    g_autoptr(JsonObject) vm = NULL, plat = NULL, health = NULL;
    g_autoptr(JsonNode) hn = NULL;
    g_autofree char *server = NULL;
    sqlite3 *db = make_schema7("twins.sqlite");
    OrchStoreView *v;

    assert_non_null(s);
    OK(orch_store_import(db, s, at, &err), err);
    OK(orch_store_import(db, s, rec, &err), err);
    /* records-set.h writes under @rec, each in a view of its own. */
    orch_rec_twin_open(s, rec);
    same_roots(s, rec, at);

    /* A VM with a device pinned to s1, reached through s1. */
    vm = orch_vm_doc_new("vm3", "123e4567-e89b-42d3-a456-426614174000",
                         "128M");
    json_object_set_string_member(vm, "kernel", "/k");
    orch_vm_doc_add_device(vm, "d", "edu", "pci", "s1", "s1", "never", false,
                           NULL);
    OK(orch_rec_vm_create(vm, &err), err);
    v = orch_view_new(s);
    OK(orch_vm_doc_create(v, at, vm, &err), err);
    OK(orch_view_commit(v, NULL, &err), err);
    orch_view_free(v);
    same_roots(s, rec, at);

    /* Its start: the claim, the launcher's answer, the route, running. */
    OK(orch_rec_placement_claim("vm3", "d", "s1", "inst-3",
                                         "tok", &err), err);
    v = orch_view_new(s);
    OK(orch_placement_claim(v, at, "vm3", "d", "edu", "s1",
                                     "inst-3", "tok", &server, &err), err);
    assert_string_equal(server, "s1");
    OK(orch_view_commit(v, NULL, &err), err);
    orch_view_free(v);
    OK(orch_rec_placement_launched("vm3", "d",
                                            "tcp:127.0.0.1:7300", NULL,
                                            "running", &err), err);
    OK(orch_rec_route_set("vm3", "d", "r-3",
                                   "tcp:127.0.0.1:7400", &err), err);
    json_object_set_string_member(vm, "state", "running");
    json_object_set_string_member(vm, "client", "c1");
    json_object_set_string_member(vm, "hypervisor", "c1-qemu");
    OK(orch_rec_vm_update(vm, &err), err);
    v = orch_view_new(s);
    OK(orch_placement_launched(v, at, "vm3", "d",
                                        "tcp:127.0.0.1:7300", NULL,
                                        "running", &err), err);
    OK(orch_route_doc_set(v, at, "vm3", "d", "r-3",
                                   "tcp:127.0.0.1:7400", &err), err);
    {
        g_autoptr(JsonObject) cur = NULL;

        OK(orch_vm_doc_read(v, at, "vm3", &cur, &err), err);
        json_object_set_string_member(cur, "state", "running");
        json_object_set_string_member(cur, "client", "c1");
        json_object_set_string_member(cur, "hypervisor", "c1-qemu");
        OK(orch_vm_doc_update(v, at, cur, &err), err);
    }
    OK(orch_view_commit(v, NULL, &err), err);
    orch_view_free(v);
    same_roots(s, rec, at);

    /* A platform added from its launcher's health, then refreshed. */
    hn = json_from_string("{\"role\": \"server\", \"model_tls\": false,"
                          " \"models\": [{\"name\": \"edu\", \"bus\":"
                          " \"pci\", \"props\": [{\"name\": \"dma\","
                          " \"type\": \"number\"}]}]}", &err);
    health = json_object_ref(json_node_get_object(hn));
    plat = orch_platform_doc_new("s2", "server", "tcp:127.0.0.1:7500", 2,
                                 NULL, health, NULL, &err);
    assert_non_null(plat);
    OK(orch_rec_platform_add(plat, &err), err);
    v = orch_view_new(s);
    OK(orch_platform_add_doc(v, at, plat, &err), err);
    OK(orch_view_commit(v, NULL, &err), err);
    orch_view_free(v);
    same_roots(s, rec, at);
    json_object_set_boolean_member(health, "model_tls", true);
    json_object_set_string_member(json_array_get_object_element(
        json_object_get_array_member(health, "models"), 0), "bus", "isa");
    assert_int_equal(orch_catalogue_refresh_doc(plat, health), 1);
    json_object_set_boolean_member(plat, "model_tls", true);
    OK(orch_rec_platform_update(plat, &err), err);
    v = orch_view_new(s);
    OK(orch_platform_update_doc(v, at, plat, &err), err);
    OK(orch_view_commit(v, NULL, &err), err);
    orch_view_free(v);
    same_roots(s, rec, at);

    /* All undone: the placement freed, the VM stopped and removed. */
    OK(orch_rec_placement_delete("vm3", "d", &err), err);
    json_object_set_string_member(vm, "state", "stopped");
    OK(orch_rec_vm_update(vm, &err), err);
    v = orch_view_new(s);
    OK(orch_placement_release(v, at, "vm3", "d", &err), err);
    {
        g_autoptr(JsonObject) cur = NULL;

        OK(orch_vm_doc_read(v, at, "vm3", &cur, &err), err);
        json_object_set_string_member(cur, "state", "stopped");
        OK(orch_vm_doc_update(v, at, cur, &err), err);
    }
    OK(orch_view_commit(v, NULL, &err), err);
    orch_view_free(v);
    same_roots(s, rec, at);
    OK(orch_rec_vm_remove("vm3", &err), err);
    OK(orch_rec_platform_remove("s2", &err), err);
    v = orch_view_new(s);
    OK(orch_vm_doc_remove(v, at, "vm3", &err), err);
    OK(orch_platform_remove_doc(v, at, "s2", &err), err);
    OK(orch_view_commit(v, NULL, &err), err);
    orch_view_free(v);
    same_roots(s, rec, at);
    orch_rec_twin_open(NULL, NULL);
    /* Without a store, a write fails rather than doing nothing. */
    assert_false(orch_rec_vm_remove("vm1", &err));
    assert_non_null(err);
    sqlite3_close(db);
}

/*
 * A database imported into its own file's store (dm-orchestrator's first
 * start), then an event appended there only (store-events.h): a later
 * import takes the events from the kv table, the new one too.
 */
static void test_import_events_moved(void **state)
{
    g_autofree char *path = g_build_filename(tmpdir, "moved.sqlite", NULL);
    g_autofree char *own = g_strconcat("sqlite:", path, NULL);
    g_autofree char *dest_root = g_strconcat(root, "moved/", NULL);
    g_autofree char *prefix = g_strconcat(dest_root, "events/", NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(OrchStore) src = NULL;
    g_autoptr(OrchStore) dest = NULL;
    g_autoptr(GPtrArray) events = NULL;
    sqlite3 *db = orch_db_open(path, &err);
    static const char *const want[] = { "old0", "old1", "new" };
    guint i;

    assert_non_null(db);
    assert_true(orch_db_run(db, &err, "INSERT INTO events (vm, message)"
                            " VALUES ('vm1', 'old0'), ('vm1', 'old1')", ""));
    src = orch_store_open(own, NULL, NULL, NULL, &err);
    assert_non_null(src);
    assert_true(orch_store_import(db, src, "/dm/", &err));
    assert_true(orch_events_open(src, &err));
    orch_events_add("vm1", "new");
    orch_events_close();

    dest = orch_store_open(spec, NULL, NULL, NULL, &err);
    assert_non_null(dest);
    assert_true(orch_store_import(db, dest, dest_root, &err));
    events = orch_store_list(dest, prefix, NULL, &err);
    assert_non_null(events);
    assert_int_equal(events->len, G_N_ELEMENTS(want));
    for (i = 0; i < events->len; i++) {
        g_autoptr(JsonNode) n = json_from_string(
            ((OrchKv *)events->pdata[i])->value, NULL);
        JsonObject *o = json_node_get_object(n);

        assert_string_equal(json_object_get_string_member(o, "message"),
                            want[i]);
        assert_int_equal(json_object_get_int_member(o, "id"), i + 1);
    }
    sqlite3_close(db);
}

/* Messages of the events under @prefix, in order, space-separated. */
static char *event_messages(OrchStore *s, const char *prefix)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) events = orch_store_list(s, prefix, NULL, &err);
    GString *out = g_string_new(NULL);
    guint i;

    assert_non_null(events);
    for (i = 0; i < events->len; i++) {
        g_autoptr(JsonNode) n = json_from_string(
            ((OrchKv *)events->pdata[i])->value, NULL);

        g_string_append_printf(out, "%s%s", i ? " " : "",
                               json_object_get_string_member(
                                   json_node_get_object(n), "message"));
    }
    return g_string_free(out, FALSE);
}

/*
 * A store imported earlier (by --import-into, say) while an older
 * orchestrator went on writing events into the table: the first start
 * that keeps them on the store catches up with the table, once.
 */
static void test_import_moved(void **state)
{
    g_autofree char *path = g_build_filename(tmpdir, "catchup.sqlite", NULL);
    g_autofree char *dest_root = g_strconcat(root, "catchup/", NULL);
    g_autofree char *prefix = g_strconcat(dest_root, "events/", NULL);
    g_autofree char *got = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(OrchStore) dest = NULL;
    g_autoptr(JsonObject) moved = NULL;
    static const char *const events[] = { "events", NULL };
    static const char *const unknown[] = { "events", "nonesuch", NULL };
    sqlite3 *db = orch_db_open(path, &err);
    JsonArray *modules;
    gint64 mod, mod_again;

    assert_non_null(db);
    assert_true(orch_db_run(db, &err, "INSERT INTO events (vm, message)"
                            " VALUES ('v', 'e1'), ('v', 'e2')", ""));
    dest = orch_store_open(spec, NULL, NULL, NULL, &err);
    assert_non_null(dest);
    assert_true(orch_store_import(db, dest, dest_root, &err));
    assert_true(orch_db_run(db, &err, "INSERT INTO events (vm, message)"
                            " VALUES ('v', 'e3'), ('v', 'e4')", ""));

    assert_true(orch_store_import_moved(db, dest, dest_root, events, &err));
    got = event_messages(dest, prefix);
    assert_string_equal(got, "e1 e2 e3 e4");
    moved = doc(dest, "catchup/moved", &mod);
    modules = json_object_get_array_member(moved, "modules");
    assert_int_equal(json_array_get_length(modules), 1);
    assert_string_equal(json_array_get_string_element(modules, 0),
                        "events");

    /* Listed now: the table is not read again, nothing is written. */
    assert_true(orch_db_run(db, &err, "INSERT INTO events (vm, message)"
                            " VALUES ('v', 'stale')", ""));
    assert_true(orch_store_import_moved(db, dest, dest_root, events, &err));
    g_free(got);
    got = event_messages(dest, prefix);
    assert_string_equal(got, "e1 e2 e3 e4");
    json_object_unref(doc(dest, "catchup/moved", &mod_again));
    assert_int_equal(mod_again, mod);

    /* A module this code cannot bring over: refused, nothing written. */
    assert_false(orch_store_import_moved(db, dest, dest_root, unknown,
                                         &err));
    g_clear_error(&err);
    json_object_unref(doc(dest, "catchup/moved", &mod_again));
    assert_int_equal(mod_again, mod);
    sqlite3_close(db);
}

/* Whether key ROOT @rel is in @s. */
static bool has_key(OrchStore *s, const char *rel)
{
    g_autofree char *key = g_strconcat(root, rel, NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(OrchKv) kv = NULL;

    assert_true(orch_store_get(s, key, &kv, NULL, &err));
    return kv != NULL;
}

/*
 * Step 3 of the switch: the platforms and VMs (with their placements,
 * routes and claims) are the store's; a store filled while an older
 * orchestrator went on writing the tables catches up with them once, the
 * tables copied again whole: a change made there after the import is
 * taken, a placement they no longer hold is deleted with its claims, an
 * unchanged document is not written again.  Once listed, the tables are
 * not read again.
 */
static void test_import_moved_records(void **state)
{
    g_autofree char *at = g_strconcat(root, "catchup-rec/", NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(OrchStore) dest = orch_store_open(spec, NULL, NULL, NULL,
                                                &err);
    g_autoptr(JsonObject) vm = NULL, moved = NULL, plat = NULL;
    static const char *const all[] = { "events", "platforms", "vms", NULL };
    sqlite3 *db = make_schema7("catchup-rec.sqlite");
    gint64 mod, plat_mod, plat_mod_again;

    assert_non_null(dest);
    assert_true(orch_store_import(db, dest, at, &err));
    json_object_unref(doc(dest, "catchup-rec/platforms/s1", &plat_mod));
    /* The older orchestrator, after the import: a VM changed, one freed. */
    assert_true(orch_db_run(db, &err, "UPDATE vms SET memory = '1G'"
                            " WHERE name = 'vm2'", ""));
    assert_true(orch_db_run(db, &err, "DELETE FROM placements", ""));
    assert_true(orch_db_run(db, &err, "UPDATE vms SET state = 'stopped',"
                            " client_id = NULL WHERE name = 'vm1'", ""));

    assert_true(orch_store_import_moved(db, dest, at,
                                        all, &err));
    vm = doc(dest, "catchup-rec/vms/vm2", NULL);
    assert_string_equal(orch_rec_str(vm, "memory"), "1G");
    json_object_unref(vm);
    vm = doc(dest, "catchup-rec/vms/vm1", NULL);
    assert_string_equal(orch_rec_str(vm, "state"), "stopped");
    assert_false(has_key(dest, "catchup-rec/placements/vm1/edu0"));
    assert_false(has_key(dest, "catchup-rec/instances/inst-1"));
    assert_false(has_key(dest, "catchup-rec/routes/r-1"));
    assert_false(has_key(dest, "catchup-rec/load/s1"));
    plat = doc(dest, "catchup-rec/platforms/s1", &plat_mod_again);
    assert_int_equal(plat_mod_again, plat_mod);
    moved = doc(dest, "catchup-rec/moved", &mod);
    assert_int_equal(json_array_get_length(
        json_object_get_array_member(moved, "modules")), 3);

    /* Listed now: the tables are not read again. */
    assert_true(orch_db_run(db, &err, "UPDATE vms SET memory = '2G'"
                            " WHERE name = 'vm2'", ""));
    assert_true(orch_store_import_moved(db, dest, at,
                                        all, &err));
    json_object_unref(vm);
    vm = doc(dest, "catchup-rec/vms/vm2", NULL);
    assert_string_equal(orch_rec_str(vm, "memory"), "1G");
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_import),
        cmocka_unit_test(test_twins),
        cmocka_unit_test(test_import_events_moved),
        cmocka_unit_test(test_import_moved),
        cmocka_unit_test(test_import_moved_records),
    };
    const char *env = g_getenv("ORCH_TEST_STORE");
    g_autofree char *cmd = NULL;
    int rc;

    tmpdir = g_dir_make_tmp("test-import-XXXXXX", NULL);
    g_assert(tmpdir);
    spec = env && *env ? g_strdup(env)
                       : g_strconcat("sqlite:", tmpdir, "/store.sqlite",
                                     NULL);
    root = g_strdup_printf("/test/%d/dm/", (int)getpid());
    rc = cmocka_run_group_tests_name(spec, tests, NULL, NULL);
    cmd = g_strdup_printf("rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        rc = 1;
    }
    return rc;
}
