/*
 * The servers' load on the store (orchestrator/store-load.h), on the back
 * end ORCH_TEST_STORE names ("etcd:http://..." from with-etcd.sh; unset,
 * a SQLite file in a temporary directory): the least-loaded choice, the
 * refusals and their messages, and the race the claim exists for: two
 * requests that both saw the last slot of a server free, of which only
 * the first commit holds (the second is a conflict, nothing written).
 * And the clients' choice (orchestrator/store-clients.h): the fewest VMs
 * holding a QEMU, model TLS when asked, a pinned client's refusals, and
 * a commit conditioned on the platform chosen only.
 * Each test keeps its keys under a root of its own.
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
#include "store-clients.h"
#include "store-load.h"


/* Put platform @name (@role, @capacity, offering @models "a,b") under @root. */
static void put_platform(const char *root, const char *name,
                         const char *role, gint64 capacity,
                         const char *models)
{
    g_auto(GStrv) m = g_strsplit(models, ",", -1);
    g_autoptr(OrchTxn) t = orch_txn_new();
    g_autoptr(GError) err = NULL;
    g_autofree char *key = g_strconcat(root, "platforms/", name, NULL);
    GString *doc = g_string_new(NULL);
    g_autofree char *text = NULL;

    g_string_printf(doc, "{\"name\":\"%s\",\"role\":\"%s\",\"address\":"
                    "\"unix:/x/%s.sock\",\"capacity\":%" G_GINT64_FORMAT
                    ",\"models\":[", name, role, name, capacity);
    for (guint i = 0; m[i] && *m[i]; i++) {
        g_string_append_printf(doc, "%s{\"model\":\"%s\",\"bus\":\"pci\","
                               "\"props\":[]}", i ? "," : "", m[i]);
    }
    g_string_append(doc, "]}");
    text = g_string_free(doc, FALSE);
    orch_txn_put(t, key, text);
    if (!orch_store_txn(store_test_store, t, NULL, &err)) {
        fail_msg("put %s: %s", key, err->message);
    }
}

/* @server's used count in the store now (a view of its own). */
static gint64 used_now(const char *root, const char *server)
{
    g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);
    g_autoptr(GError) err = NULL;
    gint64 used = orch_load_used(v, root, server, &err);

    if (used < 0) {
        fail_msg("used %s: %s", server, err->message);
    }
    return used;
}

/* Claim in a view of its own and commit: the server, or NULL (@err). */
static char *claim_commit(const char *root, const char *model,
                          const char *pinned, GError **errp)
{
    g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);
    g_autofree char *server = NULL;

    if (!orch_load_claim(v, root, "d", model, pinned, &server, errp) ||
        !orch_view_commit(v, NULL, errp)) {
        return NULL;
    }
    return g_steal_pointer(&server);
}

static void expect_refusal(const char *root, const char *model,
                           const char *pinned, int code, const char *text)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *got = claim_commit(root, model, pinned, &err);

    if (got) {
        fail_msg("%s on %s: placed on %s, wanted '%s'", model,
                 pinned ? pinned : "any", got, text);
    }
    assert_int_equal(err->code, code);
    if (!strstr(err->message, text)) {
        fail_msg("got '%s', wanted '%s'", err->message, text);
    }
}

/* Lowest share of capacity first, then fewest used, then name. */
static void test_choice(void **state)
{
    const char *root = "/t-choice/";
    g_autoptr(GError) err = NULL;
    const char *want[] = { "a", "b", "b", "a", "b", "b" };

    put_platform(root, "a", "server", 2, "edu");
    put_platform(root, "b", "server", 4, "edu,uart");
    put_platform(root, "c", "server", 8, "uart");
    put_platform(root, "k", "client", 8, "");
    for (guint i = 0; i < G_N_ELEMENTS(want); i++) {
        g_autofree char *got = claim_commit(root, "edu", NULL, &err);

        if (!got) {
            fail_msg("claim %u: %s", i, err->message);
        }
        if (strcmp(got, want[i])) {
            fail_msg("claim %u: on %s, wanted %s", i, got, want[i]);
        }
    }
    assert_int_equal(used_now(root, "a"), 2);
    assert_int_equal(used_now(root, "b"), 4);
    expect_refusal(root, "edu", NULL, ORCH_ERROR_CONFLICT,
                   "every server offering model 'edu' is full");
    expect_refusal(root, "edu", "a", ORCH_ERROR_CONFLICT,
                   "server 'a' is full");
    expect_refusal(root, "uart", "a", ORCH_ERROR_CONFLICT,
                   "server 'a' does not offer model 'uart'");
    expect_refusal(root, "nope", NULL, ORCH_ERROR_CONFLICT,
                   "no server platform offers model 'nope'");
    expect_refusal(root, "edu", "k", ORCH_ERROR_BAD_REQUEST,
                   "client platform");
    expect_refusal(root, "edu", "zz", ORCH_ERROR_NOT_FOUND,
                   "no platform 'zz'");
    /* Full for edu, not for its other model: it is the same server. */
    expect_refusal(root, "uart", "b", ORCH_ERROR_CONFLICT,
                   "server 'b' is full");
    {
        g_autofree char *got = claim_commit(root, "uart", NULL, &err);

        assert_non_null(got);
        assert_string_equal(got, "c");
    }
}

/*
 * Two requests see the last slot free; the first to commit has it, the
 * other's commit is a conflict that writes nothing of what it held.
 */
static void test_race(void **state)
{
    const char *root = "/t-race/";
    g_autoptr(OrchStoreView) v1 = orch_view_new(store_test_store);
    g_autoptr(OrchStoreView) v2 = orch_view_new(store_test_store);
    g_autoptr(GError) err = NULL;
    g_autofree char *s1 = NULL, *s2 = NULL;

    put_platform(root, "s", "server", 1, "edu");
    assert_true(orch_load_claim(v1, root, "d1", "edu", NULL, &s1, &err));
    assert_true(orch_load_claim(v2, root, "d2", "edu", NULL, &s2, &err));
    assert_string_equal(s1, "s");
    assert_string_equal(s2, "s");
    /* What else the losing request would have written with its claim. */
    orch_view_put(v2, "/t-race/placements/vm2/d2", "{\"server\":\"s\"}");
    assert_true(orch_view_commit(v1, NULL, &err));
    assert_false(orch_view_commit(v2, NULL, &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    g_clear_error(&err);
    assert_int_equal(used_now(root, "s"), 1);
    {
        g_autoptr(OrchKv) kv = NULL;

        assert_true(orch_store_get(store_test_store,
                                   "/t-race/placements/vm2/d2", &kv, NULL,
                                   &err));
        assert_null(kv);
    }
    /* Tried again, it sees the server full. */
    expect_refusal(root, "edu", NULL, ORCH_ERROR_CONFLICT,
                   "every server offering model 'edu' is full");
    expect_refusal(root, "edu", "s", ORCH_ERROR_CONFLICT,
                   "server 's' is full");
}

/*
 * Only the chosen server's count conditions the commit: a claim on
 * another server meanwhile does not fail it.  A platform removed
 * meanwhile does.
 */
static void test_independent(void **state)
{
    const char *root = "/t-indep/";
    g_autoptr(OrchStoreView) v1 = orch_view_new(store_test_store);
    g_autoptr(OrchStoreView) v2 = orch_view_new(store_test_store);
    g_autoptr(OrchStoreView) v3 = orch_view_new(store_test_store);
    g_autoptr(OrchTxn) t = orch_txn_new();
    g_autoptr(GError) err = NULL;
    g_autofree char *s1 = NULL, *s2 = NULL, *s3 = NULL;

    put_platform(root, "x", "server", 4, "edu");
    put_platform(root, "y", "server", 4, "edu");
    assert_true(orch_load_claim(v1, root, "d", "edu", "x", &s1, &err));
    assert_true(orch_load_claim(v2, root, "d", "edu", "y", &s2, &err));
    assert_true(orch_load_claim(v3, root, "d", "edu", "y", &s3, &err));
    assert_true(orch_view_commit(v2, NULL, &err));
    assert_true(orch_view_commit(v1, NULL, &err));
    assert_int_equal(used_now(root, "x"), 1);
    assert_int_equal(used_now(root, "y"), 1);
    /* v3 counted y before v2's claim: it loses. */
    assert_false(orch_view_commit(v3, NULL, &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    g_clear_error(&err);
    {
        g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);
        g_autofree char *s = NULL;

        assert_true(orch_load_claim(v, root, "d", "edu", NULL, &s, &err));
        orch_txn_delete(t, "/t-indep/platforms/x");
        orch_txn_delete(t, "/t-indep/platforms/y");
        assert_true(orch_store_txn(store_test_store, t, NULL, &err));
        assert_false(orch_view_commit(v, NULL, &err));
        assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    }
}

/* Claims in one view count each other; a release gives a slot back. */
static void test_release(void **state)
{
    const char *root = "/t-release/";
    g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);
    g_autoptr(GError) err = NULL;
    g_autofree char *a = NULL, *b = NULL, *c = NULL;

    put_platform(root, "s", "server", 2, "edu");
    assert_true(orch_load_claim(v, root, "d1", "edu", NULL, &a, &err));
    assert_true(orch_load_claim(v, root, "d2", "edu", NULL, &b, &err));
    assert_false(orch_load_claim(v, root, "d3", "edu", NULL, &c, &err));
    assert_int_equal(err->code, ORCH_ERROR_CONFLICT);
    g_clear_error(&err);
    assert_true(orch_view_commit(v, NULL, &err));
    assert_int_equal(used_now(root, "s"), 2);
    {
        g_autoptr(OrchStoreView) r = orch_view_new(store_test_store);

        assert_true(orch_load_release(r, root, "s", &err));
        assert_true(orch_view_commit(r, NULL, &err));
    }
    assert_int_equal(used_now(root, "s"), 1);
    g_free(c);
    c = claim_commit(root, "edu", NULL, &err);
    assert_non_null(c);
    assert_string_equal(c, "s");
    /* Down to none: the key goes, as the import leaves an idle server. */
    for (int i = 0; i < 2; i++) {
        g_autoptr(OrchStoreView) r = orch_view_new(store_test_store);

        assert_true(orch_load_release(r, root, "s", &err));
        assert_true(orch_view_commit(r, NULL, &err));
    }
    {
        g_autoptr(OrchKv) kv = NULL;

        assert_true(orch_store_get(store_test_store, "/t-release/load/s",
                                   &kv, NULL, &err));
        assert_null(kv);
    }
}


/* Put @key = @text under @root in a transaction of its own. */
static void put_doc(const char *root, const char *key, const char *text)
{
    g_autofree char *k = g_strconcat(root, key, NULL);
    g_autoptr(OrchTxn) t = orch_txn_new();
    g_autoptr(GError) err = NULL;

    orch_txn_put(t, k, text);
    if (!orch_store_txn(store_test_store, t, NULL, &err)) {
        fail_msg("put %s: %s", k, err->message);
    }
}

static void put_vm(const char *root, const char *name, const char *state,
                   const char *client)
{
    g_autofree char *key = g_strconcat("vms/", name, NULL);
    g_autofree char *text = g_strdup_printf(
        "{\"name\":\"%s\",\"state\":\"%s\",\"client\":\"%s\","
        "\"devices\":[]}", name, state, client);

    put_doc(root, key, text);
}

static void put_client(const char *root, const char *name, bool tls)
{
    g_autofree char *key = g_strconcat("platforms/", name, NULL);
    g_autofree char *text = g_strdup_printf(
        "{\"name\":\"%s\",\"role\":\"client\",\"address\":"
        "\"unix:/x/%s.sock\",\"capacity\":0,\"model_tls\":%s,"
        "\"models\":[]}", name, name, tls ? "true" : "false");

    put_doc(root, key, text);
}

/* The client chosen in a view of its own, or NULL with @errp set. */
static char *choose(const char *root, const char *name, bool tls,
                    GError **errp)
{
    g_autoptr(OrchStoreView) v = orch_view_new(store_test_store);
    g_autoptr(JsonObject) p = NULL;

    if (!orch_client_choose(v, root, name, tls, &p, errp)) {
        return NULL;
    }
    return g_strdup(json_object_get_string_member(p, "name"));
}

static void expect_client(const char *root, const char *name, bool tls,
                          const char *want)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *got = choose(root, name, tls, &err);

    if (g_strcmp0(got, want) != 0) {
        fail_msg("chose %s, wanted %s (%s)", got, want,
                 err ? err->message : "");
    }
}

static void expect_no_client(const char *root, const char *name, bool tls,
                             int code, const char *text)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *got = choose(root, name, tls, &err);

    if (got) {
        fail_msg("chose %s, wanted '%s'", got, text);
    }
    assert_int_equal(err->code, code);
    if (!strstr(err->message, text)) {
        fail_msg("got '%s', wanted '%s'", err->message, text);
    }
}

/* The fewest VMs holding a QEMU (running, suspended, migrating), by name. */
static void test_client_choice(void **state)
{
    const char *root = "/t-clients/";

    expect_no_client(root, NULL, false, ORCH_ERROR_CONFLICT,
                     "no client platform to run the VM on");
    put_client(root, "c1", false);
    put_client(root, "c2", true);
    put_platform(root, "s1", "server", 4, "edu");
    put_vm(root, "a", "running", "c1");
    put_vm(root, "b", "stopped", "c2");
    put_vm(root, "c", "suspended", "c1");
    expect_client(root, NULL, false, "c2");
    put_vm(root, "d", "running", "c2");
    put_vm(root, "e", "migrating", "c2");
    put_vm(root, "f", "running", "c2");
    expect_client(root, NULL, false, "c1");
    expect_client(root, NULL, true, "c2");
    /* A tie: the first by name. */
    put_vm(root, "f", "defined", "c2");
    expect_client(root, NULL, false, "c1");
    put_vm(root, "c", "saved", "c1");
    expect_client(root, NULL, false, "c1");
    put_vm(root, "a", "stopped", "c1");
    put_vm(root, "d", "stopped", "c2");
    put_vm(root, "e", "stopped", "c2");
    expect_client(root, NULL, false, "c1");
    /* Pinned. */
    expect_client(root, "c2", false, "c2");
    expect_client(root, "c1", true, "c1");
    expect_no_client(root, "s1", false, ORCH_ERROR_BAD_REQUEST,
                     "'s1' is a server platform, not a client");
    expect_no_client(root, "nope", false, ORCH_ERROR_NOT_FOUND,
                     "no platform 'nope'");
    expect_no_client("/t-clients-notls/", NULL, true, ORCH_ERROR_CONFLICT,
                     "with model TLS credentials");
    put_client("/t-clients-notls/", "c9", false);
    expect_no_client("/t-clients-notls/", NULL, true, ORCH_ERROR_CONFLICT,
                     "with model TLS credentials");
}

/*
 * Only the platform chosen conditions the commit: other VMs' changes
 * meanwhile do not fail it, the chosen platform's change does; a VM the
 * view rewrote counts as it wrote it.
 */
static void test_client_commit(void **state)
{
    const char *root = "/t-clients-commit/";
    g_autoptr(OrchStoreView) a = orch_view_new(store_test_store);
    g_autoptr(OrchStoreView) b = orch_view_new(store_test_store);
    g_autoptr(OrchStoreView) c = orch_view_new(store_test_store);
    g_autoptr(JsonObject) pa = NULL, pb = NULL, pc = NULL;
    g_autoptr(GHashTable) loads = NULL;
    g_autoptr(GError) err = NULL;

    put_client(root, "c1", false);
    put_client(root, "c2", false);
    put_vm(root, "x", "running", "c2");
    assert_true(orch_client_choose(a, root, NULL, false, &pa, &err));
    assert_string_equal(json_object_get_string_member(pa, "name"), "c1");
    assert_true(orch_client_choose(b, root, NULL, false, &pb, &err));
    orch_view_put(a, "/t-clients-commit/vms/y", "{}");
    orch_view_put(b, "/t-clients-commit/vms/z", "{}");
    /* Another start changes a VM and adds one: a's commit holds. */
    put_vm(root, "x", "stopped", "c2");
    put_vm(root, "w", "running", "c2");
    assert_true(orch_view_commit(a, NULL, &err));
    /* The chosen platform changed meanwhile: b's is 409. */
    put_client(root, "c1", true);
    assert_false(orch_view_commit(b, NULL, &err));
    assert_true(g_error_matches(err, ORCH_ERROR, ORCH_ERROR_CONFLICT));
    g_clear_error(&err);
    /* c1 idle, c2 one: c rewrites w onto c1 and counts it there. */
    orch_view_put(c, "/t-clients-commit/vms/w", "{\"name\":\"w\","
                  "\"state\":\"running\",\"client\":\"c1\"}");
    loads = orch_client_loads(c, root, &err);
    assert_non_null(loads);
    assert_int_equal(GPOINTER_TO_INT(g_hash_table_lookup(loads, "c1")), 1);
    assert_null(g_hash_table_lookup(loads, "c2"));
    assert_true(orch_client_choose(c, root, NULL, false, &pc, &err));
    assert_string_equal(json_object_get_string_member(pc, "name"), "c2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_choice),
        cmocka_unit_test(test_race),
        cmocka_unit_test(test_independent),
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_client_choice),
        cmocka_unit_test(test_client_commit),
    };

    return store_test_run("test-load", tests, G_N_ELEMENTS(tests),
                          store_test_setup, store_test_teardown);
}
