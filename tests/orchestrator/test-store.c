/*
 * The orchestrator's store (orchestrator/store.h), one suite for both
 * back ends: ORCH_TEST_STORE names the store ("etcd:http://..." from
 * with-etcd.sh); unset, a SQLite file in a temporary directory.
 *
 * What it holds the back ends to: a create on a taken name, a write
 * conditioned on a stale revision, are refused with 409 and write
 * nothing, not even the other keys of their transaction; revisions only
 * grow; a prefix lists its keys in order and nothing else; two clients
 * incrementing one counter by compare-and-swap lose no increment.
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

#include "error.h"
#include "etcd.h"
#include "store.h"
#include "store-view.h"

#define ETCD_ONLY 2

static char *spec;
static char *tmpdir;
static char *prefix;            /* this run's keys, apart from others' */

/* With with-etcd.sh --tls: a directory of make-certs.sh's, else NULL. */
static const char *certs;

/* @what/ca-cert.pem, client-cert.pem or client-key.pem of @certs. */
static char *cert_file(const char *what, const char *file)
{
    return certs ? g_build_filename(certs, what, file, NULL) : NULL;
}

static OrchStore *open_store(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *ca = cert_file("client", "ca-cert.pem");
    g_autofree char *cert = cert_file("client", "client-cert.pem");
    g_autofree char *key = cert_file("client", "client-key.pem");
    OrchStore *s = orch_store_open(spec, ca, cert, key, &err);

    if (!s) {
        fail_msg("%s: %s", spec, err->message);
    }
    return s;
}

static char *key(const char *name)
{
    return g_strconcat(prefix, name, NULL);
}

/* The value of @k, or NULL; its mod_rev in *@mod. */
static char *get(OrchStore *s, const char *k, gint64 *mod)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(OrchKv) kv = NULL;

    assert_true(orch_store_get(s, k, &kv, NULL, &err));
    if (mod) {
        *mod = kv ? kv->mod_rev : 0;
    }
    return kv ? g_strdup(kv->value) : NULL;
}

static void test_create_if_absent(void **state)
{
    g_autoptr(OrchStore) s = open_store();
    g_autofree char *k = key("names/vm1");
    g_autoptr(OrchTxn) t = orch_txn_new();
    g_autoptr(OrchTxn) again = orch_txn_new();
    g_autoptr(GError) err = NULL;
    g_autoptr(OrchKv) kv = NULL;
    g_autofree char *v = NULL;
    gint64 rev = 0, rev_read = 0;

    orch_txn_if_rev(t, k, 0);
    orch_txn_put(t, k, "{\"owner\":1}");
    assert_true(orch_store_txn(s, t, &rev, &err));
    assert_true(rev > 1);

    assert_true(orch_store_get(s, k, &kv, &rev_read, &err));
    assert_non_null(kv);
    assert_string_equal(kv->value, "{\"owner\":1}");
    assert_int_equal(kv->create_rev, rev);
    assert_int_equal(kv->mod_rev, rev);
    assert_true(rev_read >= rev);

    /* The name is taken: 409, and the first owner's value stays. */
    orch_txn_if_rev(again, k, 0);
    orch_txn_put(again, k, "{\"owner\":2}");
    assert_false(orch_store_txn(s, again, NULL, &err));
    assert_true(g_error_matches(err, ORCH_ERROR, ORCH_ERROR_CONFLICT));
    v = get(s, k, NULL);
    assert_string_equal(v, "{\"owner\":1}");
}

static void test_cas(void **state)
{
    g_autoptr(OrchStore) s = open_store();
    g_autofree char *k = key("vms/a");
    g_autofree char *other = key("ports/server1/5900");
    g_autoptr(OrchTxn) t1 = orch_txn_new();
    g_autoptr(OrchTxn) t2 = orch_txn_new();
    g_autoptr(OrchTxn) stale = orch_txn_new();
    g_autoptr(GError) err = NULL;
    g_autoptr(OrchKv) kv = NULL;
    g_autofree char *v = NULL;
    g_autofree char *o = NULL;
    gint64 rev1, rev2, mod;

    orch_txn_put(t1, k, "{\"state\":\"defined\"}");
    assert_true(orch_store_txn(s, t1, &rev1, &err));
    g_free(get(s, k, &mod));
    assert_int_equal(mod, rev1);

    /* Conditioned on what was read: applied, with a newer revision. */
    orch_txn_if_rev(t2, k, mod);
    orch_txn_put(t2, k, "{\"state\":\"running\"}");
    assert_true(orch_store_txn(s, t2, &rev2, &err));
    assert_true(rev2 > rev1);
    assert_true(orch_store_get(s, k, &kv, NULL, &err));
    assert_int_equal(kv->create_rev, rev1);
    assert_int_equal(kv->mod_rev, rev2);

    /*
     * Conditioned on the revision before: refused as a whole, the claim
     * of a port in the same transaction too.
     */
    orch_txn_if_rev(stale, k, rev1);
    orch_txn_put(stale, k, "{\"state\":\"stopped\"}");
    orch_txn_if_rev(stale, other, 0);
    orch_txn_put(stale, other, "{\"vm\":\"a\"}");
    assert_false(orch_store_txn(s, stale, NULL, &err));
    assert_true(g_error_matches(err, ORCH_ERROR, ORCH_ERROR_CONFLICT));
    v = get(s, k, NULL);
    assert_string_equal(v, "{\"state\":\"running\"}");
    o = get(s, other, NULL);
    assert_null(o);
}

static void test_delete(void **state)
{
    g_autoptr(OrchStore) s = open_store();
    g_autofree char *k = key("placements/i1");
    g_autoptr(OrchTxn) put = orch_txn_new();
    g_autoptr(OrchTxn) stale = orch_txn_new();
    g_autoptr(OrchTxn) del = orch_txn_new();
    g_autoptr(GError) err = NULL;
    g_autofree char *v = NULL;
    g_autofree char *gone = NULL;
    gint64 rev, mod;

    orch_txn_put(put, k, "x");
    assert_true(orch_store_txn(s, put, &rev, &err));
    g_free(get(s, k, &mod));

    orch_txn_if_rev(stale, k, mod - 1);
    orch_txn_delete(stale, k);
    assert_false(orch_store_txn(s, stale, NULL, &err));
    g_clear_error(&err);
    v = get(s, k, NULL);
    assert_string_equal(v, "x");

    orch_txn_if_rev(del, k, mod);
    orch_txn_delete(del, k);
    assert_true(orch_store_txn(s, del, &rev, &err));
    assert_true(rev > mod);
    gone = get(s, k, &mod);
    assert_null(gone);
    assert_int_equal(mod, 0);
}

static void test_list(void **state)
{
    g_autoptr(OrchStore) s = open_store();
    static const char *const names[] = {
        "list/b", "list/a", "list/c/d", "lista", "list0", "lis",
    };
    g_autoptr(OrchTxn) t = orch_txn_new();
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) all = NULL;
    g_autoptr(GPtrArray) none = NULL;
    g_autofree char *p = key("list/");
    g_autofree char *empty = key("nothing/");
    gint64 rev, rev_read;
    guint i;

    for (i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *k = key(names[i]);

        orch_txn_put(t, k, names[i]);
    }
    assert_true(orch_store_txn(s, t, &rev, &err));

    all = orch_store_list(s, p, &rev_read, &err);
    assert_non_null(all);
    assert_true(rev_read >= rev);
    assert_int_equal(all->len, 3);
    for (i = 0; i < all->len; i++) {
        OrchKv *kv = g_ptr_array_index(all, i);
        static const char *const want[] = { "list/a", "list/b", "list/c/d" };

        assert_true(g_str_has_prefix(kv->key, prefix));
        assert_string_equal(kv->key + strlen(prefix), want[i]);
        assert_string_equal(kv->value, want[i]);
        /* One transaction, one revision for all it wrote. */
        assert_int_equal(kv->mod_rev, rev);
    }
    none = orch_store_list(s, empty, NULL, &err);
    assert_non_null(none);
    assert_int_equal(none->len, 0);
}

/* Part of a prefix: from a key, a limit, the last N; in key order. */
static void test_range(void **state)
{
    g_autoptr(OrchStore) s = open_store();
    static const char *const names[] = {
        "range/01", "range/02", "range/03", "range/04", "range/05",
        "range0", "rang",
    };
    static const struct {
        const char *from;
        gint64 limit;
        bool last;
        const char *want;
    } cases[] = {
        { NULL, 0, false, "01 02 03 04 05" },
        { "range/03", 2, false, "03 04" },
        { "range/025", 0, false, "03 04 05" },
        { "range/05", 10, false, "05" },
        { "range/06", 0, false, "" },
        { "rang", 2, false, "01 02" },   /* below the prefix: its first */
        { NULL, 2, true, "04 05" },
        { "range/02", 3, true, "03 04 05" },  /* @from ignored */
        { NULL, 9, true, "01 02 03 04 05" },
    };
    g_autoptr(OrchTxn) t = orch_txn_new();
    g_autoptr(GError) err = NULL;
    g_autofree char *p = key("range/");
    guint i, j;

    for (i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *k = key(names[i]);

        orch_txn_put(t, k, names[i]);
    }
    assert_true(orch_store_txn(s, t, NULL, &err));
    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *from = cases[i].from ? key(cases[i].from) : NULL;
        g_autoptr(GPtrArray) got = orch_store_range(s, p, from,
                                                    cases[i].limit,
                                                    cases[i].last, NULL,
                                                    &err);
        g_autoptr(GString) keys = g_string_new(NULL);

        assert_non_null(got);
        for (j = 0; j < got->len; j++) {
            OrchKv *kv = g_ptr_array_index(got, j);

            g_string_append_printf(keys, "%s%s", j ? " " : "",
                                   kv->key + strlen(p));
        }
        if (strcmp(keys->str, cases[i].want)) {
            fail_msg("case %u: got '%s', wanted '%s'", i, keys->str,
                     cases[i].want);
        }
    }
}

static void test_values(void **state)
{
    g_autoptr(OrchStore) s = open_store();
    static const char *const values[] = {
        "", "{\"name\":\"caf\xc3\xa9\",\"n\":[1,2]}", "a\nb\tc \"q\" \\",
    };
    g_autoptr(GError) err = NULL;
    guint i;

    for (i = 0; i < G_N_ELEMENTS(values); i++) {
        g_autofree char *k = g_strdup_printf("%svalues/%u", prefix, i);
        g_autoptr(OrchTxn) t = orch_txn_new();
        g_autofree char *v = NULL;

        orch_txn_put(t, k, values[i]);
        assert_true(orch_store_txn(s, t, NULL, &err));
        v = get(s, k, NULL);
        assert_non_null(v);
        assert_string_equal(v, values[i]);
    }
}

static void test_twice_refused(void **state)
{
    g_autoptr(OrchStore) s = open_store();
    g_autofree char *k = key("twice");
    g_autoptr(OrchTxn) t = orch_txn_new();
    g_autoptr(GError) err = NULL;
    g_autofree char *v = NULL;

    orch_txn_put(t, k, "1");
    orch_txn_delete(t, k);
    assert_false(orch_store_txn(s, t, NULL, &err));
    assert_false(g_error_matches(err, ORCH_ERROR, ORCH_ERROR_CONFLICT));
    v = get(s, k, NULL);
    assert_null(v);
}

/* Nothing written under a prefix since a revision: added or changed. */
static void test_prefix_since(void **state)
{
    g_autoptr(OrchStore) s = open_store();
    g_autofree char *p = key("since/");
    g_autofree char *x = key("since/x");
    g_autofree char *y = key("since/y");
    g_autofree char *beside = key("since0");
    g_autofree char *out = key("out");
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) l = NULL;
    gint64 rev;
    int step;

    {
        g_autoptr(OrchTxn) t = orch_txn_new();

        orch_txn_put(t, x, "1");
        assert_true(orch_store_txn(s, t, NULL, &err));
    }
    l = orch_store_list(s, p, &rev, &err);
    assert_non_null(l);
    /* A write beside the prefix leaves it unchanged. */
    for (step = 0; step < 4; step++) {
        g_autoptr(OrchTxn) w = orch_txn_new();
        g_autoptr(OrchTxn) t = orch_txn_new();
        bool ok;

        switch (step) {
        case 0:
            orch_txn_put(w, beside, "b");
            break;
        case 1:
            orch_txn_put(w, y, "added");
            break;
        case 2:
            orch_txn_put(w, x, "changed");
            break;
        }
        if (step < 3) {
            assert_true(orch_store_txn(s, w, NULL, &err));
        }
        orch_txn_if_prefix_since(t, p, rev);
        orch_txn_put(t, out, "written");
        ok = orch_store_txn(s, t, NULL, &err);
        /* 0: only beside; 3: nothing since the list read again at 2. */
        if (step == 0 || step == 3) {
            assert_true(ok);
        } else {
            assert_false(ok);
            assert_true(g_error_matches(err, ORCH_ERROR,
                                        ORCH_ERROR_CONFLICT));
            g_clear_error(&err);
        }
        /* Read again: holds from then on, until the next write. */
        if (step == 2) {
            g_ptr_array_unref(l);
            l = orch_store_list(s, p, &rev, &err);
            assert_non_null(l);
            {
                g_autoptr(OrchTxn) again = orch_txn_new();

                orch_txn_if_prefix_since(again, p, rev);
                orch_txn_put(again, out, "again");
                assert_true(orch_store_txn(s, again, NULL, &err));
            }
        }
    }
    {
        g_autofree char *v = get(s, out, NULL);

        assert_string_equal(v, "written");
    }
}

/*
 * A view reads, writes, and commits only if what it read is as it was:
 * a key another client changed, or a key another client added under a
 * prefix the view listed, refuses the whole commit.
 */
static void test_view(void **state)
{
    g_autoptr(OrchStore) s = open_store();
    g_autoptr(OrchStore) other = open_store();
    g_autofree char *p = key("view/");
    g_autofree char *a = key("view/a");
    g_autofree char *b = key("view/b");
    g_autofree char *c = key("view/c");
    g_autofree char *name = key("viewname");
    g_autoptr(GError) err = NULL;
    int round;

    {
        g_autoptr(OrchTxn) t = orch_txn_new();

        orch_txn_put(t, a, "A");
        orch_txn_put(t, b, "B");
        assert_true(orch_store_txn(s, t, NULL, &err));
    }
    /* Read your writes; a delete hides the key from a list. */
    {
        g_autoptr(OrchStoreView) v = orch_view_new(s);
        g_autoptr(GPtrArray) l = NULL;
        g_autofree char *got = NULL;

        orch_view_put(v, c, "C");
        orch_view_delete(v, a);
        assert_true(orch_view_get(v, c, &got, &err));
        assert_string_equal(got, "C");
        g_clear_pointer(&got, g_free);
        assert_true(orch_view_get(v, a, &got, &err));
        assert_null(got);
        l = orch_view_list(v, p, &err);
        assert_non_null(l);
        assert_int_equal(l->len, 2);
        assert_string_equal(((OrchKv *)l->pdata[0])->value, "B");
        assert_string_equal(((OrchKv *)l->pdata[1])->value, "C");
        /* Not in the store until the commit. */
        got = get(s, c, NULL);
        assert_null(got);
        assert_true(orch_view_commit(v, NULL, &err));
        got = get(s, c, NULL);
        assert_string_equal(got, "C");
        g_clear_pointer(&got, g_free);
        got = get(s, a, NULL);
        assert_null(got);
    }
    /* Round 0: another changes a key read; 1: adds under a prefix listed. */
    for (round = 0; round < 2; round++) {
        g_autoptr(OrchStoreView) v = orch_view_new(s);
        g_autoptr(OrchTxn) t = orch_txn_new();
        g_autoptr(GPtrArray) l = NULL;
        g_autofree char *got = NULL;

        if (round == 0) {
            assert_true(orch_view_get(v, b, &got, &err));
            orch_txn_put(t, b, "B2");
        } else {
            l = orch_view_list(v, p, &err);
            assert_non_null(l);
            orch_txn_put(t, a, "A again");
        }
        orch_view_put(v, name, "taken");
        assert_true(orch_store_txn(other, t, NULL, &err));
        assert_false(orch_view_commit(v, NULL, &err));
        assert_true(g_error_matches(err, ORCH_ERROR, ORCH_ERROR_CONFLICT));
        g_clear_error(&err);
        g_clear_pointer(&got, g_free);
        got = get(s, name, NULL);
        assert_null(got);
    }
    /* Two views read one key and both write it: the second loses. */
    {
        g_autoptr(OrchStoreView) v1 = orch_view_new(s);
        g_autoptr(OrchStoreView) v2 = orch_view_new(other);
        g_autofree char *g1 = NULL;
        g_autofree char *g2 = NULL;
        g_autofree char *now = NULL;

        assert_true(orch_view_get(v1, name, &g1, &err));
        assert_true(orch_view_get(v2, name, &g2, &err));
        assert_null(g1);
        assert_null(g2);
        orch_view_put(v1, name, "one");
        orch_view_put(v2, name, "two");
        assert_true(orch_view_commit(v1, NULL, &err));
        assert_false(orch_view_commit(v2, NULL, &err));
        assert_true(g_error_matches(err, ORCH_ERROR, ORCH_ERROR_CONFLICT));
        now = get(s, name, NULL);
        assert_string_equal(now, "one");
    }
}

/*
 * Two clients (two connections, as two orchestrators would have) add
 * one to a counter ROUNDS times each, by read, compare-and-swap, and
 * read again on a conflict.  A lost update would leave it short.
 */
#define ROUNDS 60

typedef struct Adder {
    char *key;
    int conflicts;
    bool failed;
} Adder;

static gpointer adder(gpointer opaque)
{
    Adder *a = opaque;
    g_autoptr(OrchStore) s = open_store();
    int done = 0;

    while (done < ROUNDS && !a->failed) {
        g_autoptr(GError) err = NULL;
        g_autoptr(OrchKv) kv = NULL;
        g_autoptr(OrchTxn) t = orch_txn_new();
        g_autofree char *next = NULL;

        if (!orch_store_get(s, a->key, &kv, NULL, &err)) {
            a->failed = true;
            break;
        }
        next = g_strdup_printf("%" G_GINT64_FORMAT,
                               (kv ? g_ascii_strtoll(kv->value, NULL, 10)
                                   : 0) + 1);
        orch_txn_if_rev(t, a->key, kv ? kv->mod_rev : 0);
        orch_txn_put(t, a->key, next);
        if (orch_store_txn(s, t, NULL, &err)) {
            done++;
        } else if (g_error_matches(err, ORCH_ERROR, ORCH_ERROR_CONFLICT)) {
            a->conflicts++;
        } else {
            a->failed = true;
        }
    }
    return NULL;
}

static void test_race(void **state)
{
    g_autofree char *k = key("counter");
    Adder a = { k, 0, false }, b = { k, 0, false };
    GThread *ta = g_thread_new("a", adder, &a);
    GThread *tb = g_thread_new("b", adder, &b);
    g_autoptr(OrchStore) s = open_store();
    g_autofree char *v = NULL;

    g_thread_join(ta);
    g_thread_join(tb);
    assert_false(a.failed);
    assert_false(b.failed);
    v = get(s, k, NULL);
    assert_non_null(v);
    assert_int_equal(g_ascii_strtoll(v, NULL, 10), 2 * ROUNDS);
    print_message("# %d conflicts retried\n", a.conflicts + b.conflicts);
}

/* Leases, on etcd only: granted, renewed, revoked, then not renewable. */
static void test_lease(void **state)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(DmEtcd) e = NULL;
    gint64 id;

    {
        g_autofree char *ca = cert_file("client", "ca-cert.pem");
        g_autofree char *cert = cert_file("client", "client-cert.pem");
        g_autofree char *key = cert_file("client", "client-key.pem");

        e = dm_etcd_new(spec + 5, ca, cert, key, &err);
    }
    assert_non_null(e);
    id = dm_etcd_lease_grant(e, 30, &err);
    assert_true(id != 0);
    assert_true(dm_etcd_lease_keepalive(e, id, &err) > 0);
    assert_true(dm_etcd_lease_revoke(e, id, &err));
    assert_int_equal(dm_etcd_lease_keepalive(e, id, &err), 0);
}

/* An endpoint that does not answer is passed over for the next one. */
static void test_endpoints(void **state)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(OrchStore) s = NULL;
    g_autoptr(OrchKv) kv = NULL;
    g_autofree char *two = NULL;

    g_autofree char *ca = cert_file("client", "ca-cert.pem");
    g_autofree char *cert = cert_file("client", "client-cert.pem");
    g_autofree char *ckey = cert_file("client", "client-key.pem");

    /* Port 1 on loopback: refused at once. */
    two = g_strconcat("etcd:http://127.0.0.1:1,", spec + 5, NULL);
    s = orch_store_open(two, ca, cert, ckey, &err);
    assert_non_null(s);
    assert_true(orch_store_get(s, prefix, &kv, NULL, &err));

    g_clear_pointer(&s, orch_store_close);
    s = orch_store_open("etcd:http://127.0.0.1:1", NULL, NULL, NULL, &err);
    assert_non_null(s);
    assert_false(orch_store_get(s, prefix, &kv, NULL, &err));
    assert_true(g_error_matches(err, ORCH_ERROR, ORCH_ERROR_UNAVAILABLE));
}

/*
 * etcd over TLS with client certificates: without our certificate, with
 * one of another CA, or without trusting etcd's CA, no answer (503),
 * and the reason in the message.
 */
static void test_tls(void **state)
{
    g_autofree char *ca = cert_file("client", "ca-cert.pem");
    g_autofree char *cert = cert_file("client", "client-cert.pem");
    g_autofree char *ckey = cert_file("client", "client-key.pem");
    g_autofree char *rogue = cert_file("rogue-client", "client-cert.pem");
    g_autofree char *rogue_key = cert_file("rogue-client",
                                           "client-key.pem");
    const char *how[][3] = {
        { ca, NULL, NULL },             /* no client certificate */
        { ca, rogue, rogue_key },       /* another CA's */
        { NULL, cert, ckey },           /* etcd's CA not trusted */
    };
    guint i;

    for (i = 0; i < G_N_ELEMENTS(how); i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(OrchStore) s = orch_store_open(spec, how[i][0], how[i][1],
                                                 how[i][2], &err);
        g_autoptr(OrchKv) kv = NULL;

        assert_non_null(s);
        assert_false(orch_store_get(s, prefix, &kv, NULL, &err));
        assert_true(g_error_matches(err, ORCH_ERROR, ORCH_ERROR_UNAVAILABLE));
        print_message("# refused as wanted: %s\n", err->message);
    }
    /* A certificate without its key is a usage error. */
    {
        g_autoptr(GError) err = NULL;

        assert_null(orch_store_open(spec, ca, cert, NULL, &err));
        assert_true(g_error_matches(err, ORCH_ERROR,
                                    ORCH_ERROR_BAD_REQUEST));
    }
}

static void test_bad_spec(void **state)
{
    static const char *const bad[] = {
        "", "sqlite:", "etcd:", "etcd:ftp://h:1", "etcd:http://h:1/x",
        "postgres:x",
    };
    guint i;

    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;

        assert_null(orch_store_open(bad[i], NULL, NULL, NULL, &err));
        assert_true(g_error_matches(err, ORCH_ERROR,
                                    ORCH_ERROR_BAD_REQUEST));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /*
         * with-etcd.sh --tls only, and first: GIO resumes a TLS session
         * made with our certificate on a later connection without one,
         * which etcd accepts (the session was authenticated).
         */
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_create_if_absent),
        cmocka_unit_test(test_cas),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_twice_refused),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_prefix_since),
        cmocka_unit_test(test_view),
        cmocka_unit_test(test_race),
        cmocka_unit_test(test_bad_spec),
        /* etcd's own: the last ETCD_ONLY */
        cmocka_unit_test(test_lease),
        cmocka_unit_test(test_endpoints),
    };
    const char *env = g_getenv("ORCH_TEST_STORE");
    int rc;

    tmpdir = g_dir_make_tmp("test-store-XXXXXX", NULL);
    g_assert(tmpdir);
    spec = env && *env ? g_strdup(env)
                       : g_strconcat("sqlite:", tmpdir, "/store.sqlite",
                                     NULL);
    prefix = g_strdup_printf("/test/%d/", (int)getpid());
    /* cmocka's skip() is a "not ok" in TAP: leave them out instead. */
    certs = g_getenv("ORCH_TEST_CERTS");
    rc = _cmocka_run_group_tests(spec, tests + (certs ? 0 : 1),
                                 G_N_ELEMENTS(tests) - (certs ? 0 : 1) -
                                 (g_str_has_prefix(spec, "etcd:") ? 0
                                                                  : ETCD_ONLY),
                                 NULL, NULL);
    if (!env || !*env) {
        g_autofree char *f = g_strconcat(tmpdir, "/store.sqlite", NULL);
        g_autofree char *w = g_strconcat(f, "-wal", NULL);
        g_autofree char *m = g_strconcat(f, "-shm", NULL);

        g_unlink(f);
        g_unlink(w);
        g_unlink(m);
    }
    g_rmdir(tmpdir);
    return rc;
}
