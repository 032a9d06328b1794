/*
 * The platforms as documents on the store (orchestrator/store-platforms.h)
 * and the catalogue's decisions on them (catalogue.h's *_in), on the back
 * end ORCH_TEST_STORE names ("etcd:http://..." from with-etcd.sh; unset,
 * a SQLite file in a temporary directory): a document made from a
 * launcher's health, a name taken twice (also by two requests at once),
 * a refresh of the declarations, the model lookups and property checks,
 * and a removal refused while models are placed, also when the claim
 * commits after the removal read.  Each test has a root of its own.
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
#include "catalogue.h"
#include "error.h"
#include "store-load.h"
#include "store-platform-remove.h"
#include "store-platforms.h"


/* A server launcher's health: edu (pci, @edu_bus), a UART with a console. */
static JsonObject *health(const char *edu_bus)
{
    g_autofree char *text = g_strdup_printf(
        "{\"role\": \"server\", \"capacity\": 8, \"model_tls\": true,"
        " \"models\": ["
        "  {\"name\": \"edu\", \"bus\": \"%s\", \"props\": ["
        "    {\"name\": \"dma_mask\", \"type\": \"number\"}]},"
        "  {\"name\": \"uart16550\", \"bus\": \"isa\", \"props\": ["
        "    {\"name\": \"console\", \"type\": \"string\"},"
        "    {\"name\": \"iobase\", \"type\": \"number\"}]},"
        "  {\"name\": \"virtio-blk\", \"bus\": \"pci\", \"props\": ["
        "    {\"name\": \"file\", \"type\": \"file\", \"required\": true}]},"
        "  {\"name\": \"bad name\", \"bus\": \"pci\"}]}", edu_bus);
    g_autoptr(JsonNode) n = json_from_string(text, NULL);

    assert_non_null(n);
    return json_object_ref(json_node_get_object(n));
}

static JsonArray *strings(const char *csv)
{
    g_auto(GStrv) v = g_strsplit(csv, ",", -1);
    JsonArray *a = json_array_new();

    for (guint i = 0; v[i]; i++) {
        json_array_add_string_element(a, v[i]);
    }
    return a;
}

/* "model:bus model:bus" of @doc's models. */
static char *models_str(JsonObject *doc)
{
    JsonArray *a = json_object_get_array_member(doc, "models");
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *m = json_array_get_object_element(a, i);

        g_string_append_printf(s, "%s%s:%s", i ? " " : "",
                               json_object_get_string_member(m, "model"),
                               json_object_get_string_member(m, "bus"));
    }
    return g_string_free(s, FALSE);
}

static void add(const char *root, JsonObject *doc)
{
    g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);
    g_autoptr(GError) err = NULL;

    if (!orch_platform_add_doc(v, root, doc, &err) ||
        !orch_view_commit(v, NULL, &err)) {
        fail_msg("add: %s", err->message);
    }
}

static void test_doc(void **state)
{
    g_autoptr(JsonObject) h = health("pci");
    g_autoptr(JsonObject) all = NULL, one = NULL, client = NULL;
    g_autoptr(JsonArray) chosen = strings("edu,edu");
    g_autoptr(JsonArray) nope = strings("edu,nope");
    g_autoptr(GError) err = NULL;
    g_autofree char *s1 = NULL, *s2 = NULL;

    all = orch_platform_doc_new("s1", "server", "unix:/x", 8, NULL, h, NULL,
                                &err);
    assert_non_null(all);
    s1 = models_str(all);
    assert_string_equal(s1, "edu:pci uart16550:isa virtio-blk:pci");
    assert_true(json_object_get_boolean_member(all, "model_tls"));
    assert_int_equal(json_object_get_int_member(all, "capacity"), 8);
    one = orch_platform_doc_new("s1", "server", "unix:/x", 8, NULL, h,
                                chosen, &err);
    s2 = models_str(one);
    assert_string_equal(s2, "edu:pci");
    assert_null(orch_platform_doc_new("s1", "server", "unix:/x", 8, NULL, h,
                                      nope, &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    assert_non_null(strstr(err->message,
                           "the launcher does not offer model 'nope'"));
    client = orch_platform_doc_new("c1", "client", "unix:/c", 0, "c1-qemu",
                                   h, NULL, NULL);
    assert_int_equal(json_array_get_length(
                         json_object_get_array_member(client, "models")), 0);
    assert_string_equal(json_object_get_string_member(client, "hypervisor"),
                        "c1-qemu");
}

/* A name is taken once, also by two requests that both saw it free. */
static void test_add(void **state)
{
    const char *root = "/t-add/";
    g_autoptr(JsonObject) h = health("pci");
    g_autoptr(JsonObject) doc = orch_platform_doc_new(
        "s1", "server", "unix:/x", 8, NULL, h, NULL, NULL);
    g_autoptr(JsonObject) doc2 = orch_platform_doc_new(
        "s2", "server", "unix:/y", 4, NULL, h, NULL, NULL);
    g_autoptr(OrchStoreView) v1 = orch_view_new(store_test_store);
    g_autoptr(OrchStoreView) v2 = orch_view_new(store_test_store);
    g_autoptr(OrchStoreView) v3 = orch_view_new(store_test_store);
    g_autoptr(GPtrArray) all = NULL;
    g_autoptr(GError) err = NULL;

    assert_true(orch_platform_add_doc(v1, root, doc2, &err));
    assert_true(orch_platform_add_doc(v2, root, doc2, &err));
    assert_true(orch_view_commit(v1, NULL, &err));
    assert_false(orch_view_commit(v2, NULL, &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    g_clear_error(&err);
    assert_false(orch_platform_add_doc(v3, root, doc2, &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    assert_string_equal(err->message, "platform 's2' exists");
    g_clear_error(&err);
    add(root, doc);
    {
        g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);

        all = orch_platform_read_all(v, root, &err);
    }
    assert_non_null(all);
    assert_int_equal(all->len, 2);
    assert_string_equal(json_object_get_string_member(
                            g_ptr_array_index(all, 0), "name"), "s1");
    assert_string_equal(json_object_get_string_member(
                            g_ptr_array_index(all, 1), "address"), "unix:/y");
}

/* A launcher now declaring edu on another bus: the document follows. */
static void test_refresh(void **state)
{
    const char *root = "/t-refresh/";
    g_autoptr(JsonObject) h = health("pci");
    g_autoptr(JsonObject) h2 = health("isa");
    g_autoptr(JsonObject) doc = orch_platform_doc_new(
        "s1", "server", "unix:/x", 8, NULL, h, NULL, NULL);
    g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);
    g_autoptr(OrchStoreView) r = orch_view_new(store_test_store);
    g_autoptr(JsonObject) got = NULL, back = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *s = NULL;

    add(root, doc);
    assert_true(orch_platform_read(v, root, "s1", &got, &err));
    assert_int_equal(orch_catalogue_refresh_doc(got, h), 0);
    assert_int_equal(orch_catalogue_refresh_doc(got, h2), 1);
    assert_true(orch_platform_update_doc(v, root, got, &err));
    assert_true(orch_view_commit(v, NULL, &err));
    assert_true(orch_platform_read(r, root, "s1", &back, &err));
    s = models_str(back);
    assert_string_equal(s, "edu:isa uart16550:isa virtio-blk:pci");
    {
        g_autoptr(OrchStoreView) u = orch_view_new(store_test_store);
        g_autoptr(JsonObject) ghost = orch_platform_doc_new(
            "zz", "server", "unix:/z", 1, NULL, h, NULL, NULL);

        assert_false(orch_platform_update_doc(u, root, ghost, &err));
        assert_int_equal(err->code, ORCH_ERROR_NOT_FOUND);
    }
}

/* The catalogue's answers on documents: as catalogue.c's on SQL rows. */
static void test_catalogue(void **state)
{
    g_autoptr(JsonObject) h = health("pci");
    g_autoptr(JsonObject) h2 = health("isa");
    g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(
        (GDestroyNotify)json_object_unref);
    g_autoptr(JsonArray) only_edu = strings("edu");
    g_autoptr(GError) err = NULL;
    g_autofree char *names = NULL, *ok = NULL;
    g_autoptr(JsonNode) props = json_from_string(
        "{\"dma_mask\": 4095}", NULL);
    g_autoptr(JsonNode) bad = json_from_string("{\"nope\": \"1\"}", NULL);
    g_autoptr(JsonNode) console = json_from_string(
        "{\"console\": \"x\"}", NULL);
    OrchModelInfo m;

    /* In name order: a (edu on isa), b (edu on pci, uart), c a client. */
    g_ptr_array_add(all, orch_platform_doc_new("a", "server", "unix:/a", 4,
                                               NULL, h2, only_edu, NULL));
    g_ptr_array_add(all, orch_platform_doc_new("b", "server", "unix:/b", 4,
                                               NULL, h, NULL, NULL));
    g_ptr_array_add(all, orch_platform_doc_new("c", "client", "unix:/c", 0,
                                               "c-qemu", h, NULL, NULL));
    assert_true(orch_catalogue_find_in(all, "edu", NULL, &m));
    assert_string_equal(m.bus, "isa");
    assert_true(orch_catalogue_find_in(all, "edu", "b", &m));
    assert_string_equal(m.bus, "pci");
    assert_false(m.console);
    /* Pinned on one that lacks it: the first that has it. */
    assert_true(orch_catalogue_find_in(all, "uart16550", "a", &m));
    assert_string_equal(m.bus, "isa");
    assert_true(m.console);
    assert_false(orch_catalogue_find_in(all, "nope", NULL, &m));
    names = orch_catalogue_names_in(all);
    assert_string_equal(names, "edu, uart16550, virtio-blk");
    ok = orch_catalogue_check_props_in(all, "edu", "b", "d", props, &err);
    assert_non_null(ok);
    assert_string_equal(ok, "{\"dma_mask\":\"4095\"}");
    assert_null(orch_catalogue_check_props_in(all, "edu", NULL, "d", bad,
                                              &err));
    assert_int_equal(err->code, ORCH_ERROR_BAD_REQUEST);
    assert_string_equal(err->message,
                        "device 'd': model 'edu' has no property 'nope'");
    g_clear_error(&err);
    assert_null(orch_catalogue_check_props_in(all, "uart16550", NULL, "u",
                                              console, &err));
    assert_non_null(strstr(err->message, "has no property 'console'"));
    g_clear_error(&err);
    assert_null(orch_catalogue_check_props_in(all, "virtio-blk", NULL, "v",
                                              NULL, &err));
    assert_string_equal(err->message,
                        "device 'v': model 'virtio-blk' needs property "
                        "'file'");
}

/* Not removed while models are placed on it, nor under a new claim. */
static void test_remove(void **state)
{
    const char *root = "/t-remove/";
    g_autoptr(JsonObject) h = health("pci");
    g_autoptr(JsonObject) doc = orch_platform_doc_new(
        "s", "server", "unix:/s", 2, NULL, h, NULL, NULL);
    g_autoptr(GError) err = NULL;
    g_autofree char *server = NULL;

    add(root, doc);
    {
        g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);

        assert_false(orch_platform_remove_doc(v, root, "zz", &err));
        assert_int_equal(err->code, ORCH_ERROR_NOT_FOUND);
        g_clear_error(&err);
    }
    {
        /* The removal reads the load; a claim commits; the removal fails. */
        g_autoptr(OrchStoreView) rm = orch_view_new(store_test_store);
        g_autoptr(OrchStoreView) cl = orch_view_new(store_test_store);

        assert_true(orch_platform_remove_doc(rm, root, "s", &err));
        assert_true(orch_load_claim(cl, root, "d", "edu", NULL, &server,
                                    &err));
        assert_true(orch_view_commit(cl, NULL, &err));
        assert_false(orch_view_commit(rm, NULL, &err));
        assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
        g_clear_error(&err);
    }
    {
        g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);

        assert_false(orch_platform_remove_doc(v, root, "s", &err));
        assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
        assert_string_equal(err->message,
                            "platform 's' holds 1 device model(s)");
        g_clear_error(&err);
    }
    {
        g_autoptr(OrchStoreView) r = orch_view_new(store_test_store);
        g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);
        g_autoptr(OrchStoreView) after = orch_view_new(store_test_store);
        g_autoptr(JsonObject) gone = NULL;

        assert_true(orch_load_release(r, root, "s", &err));
        assert_true(orch_view_commit(r, NULL, &err));
        assert_true(orch_platform_remove_doc(v, root, "s", &err));
        assert_true(orch_view_commit(v, NULL, &err));
        assert_true(orch_platform_read(after, root, "s", &gone, &err));
        assert_null(gone);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doc),
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_refresh),
        cmocka_unit_test(test_catalogue),
        cmocka_unit_test(test_remove),
    };

    return store_test_run("test-platforms", tests, G_N_ELEMENTS(tests),
                          store_test_setup, store_test_teardown);
}
