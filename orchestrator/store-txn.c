/*
 * dm-orchestrator: what the store's back ends share, below them: keys as
 * read, and transactions as built (store.h, store-impl.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "store-impl.h"

void orch_kv_free(OrchKv *kv)
{
    if (kv) {
        g_free(kv->key);
        g_free(kv->value);
        g_free(kv);
    }
}

OrchKv *orch_kv_new(const char *key, const char *value, gsize len,
                    gint64 create_rev, gint64 mod_rev)
{
    OrchKv *kv = g_new0(OrchKv, 1);

    kv->key = g_strdup(key);
    kv->value = g_strndup(value ? value : "", value ? len : 0);
    kv->create_rev = create_rev;
    kv->mod_rev = mod_rev;
    return kv;
}

static void txn_cmp_clear(gpointer p)
{
    g_free(((OrchTxnCmp *)p)->key);
}

static void txn_op_clear(gpointer p)
{
    OrchTxnOp *op = p;

    g_free(op->key);
    g_free(op->value);
}

OrchTxn *orch_txn_new(void)
{
    OrchTxn *t = g_new0(OrchTxn, 1);

    t->cmps = g_array_new(FALSE, TRUE, sizeof(OrchTxnCmp));
    g_array_set_clear_func(t->cmps, txn_cmp_clear);
    t->ops = g_array_new(FALSE, TRUE, sizeof(OrchTxnOp));
    g_array_set_clear_func(t->ops, txn_op_clear);
    return t;
}

void orch_txn_free(OrchTxn *t)
{
    if (t) {
        g_array_unref(t->cmps);
        g_array_unref(t->ops);
        g_free(t);
    }
}

void orch_txn_if_rev(OrchTxn *t, const char *key, gint64 mod_rev)
{
    OrchTxnCmp c = { g_strdup(key), false, mod_rev };

    g_array_append_val(t->cmps, c);
}

void orch_txn_if_prefix_since(OrchTxn *t, const char *prefix, gint64 rev)
{
    OrchTxnCmp c = { g_strdup(prefix), true, rev };

    g_array_append_val(t->cmps, c);
}

char *orch_store_prefix_end(const char *prefix)
{
    char *end = g_strdup(prefix);
    gssize i;

    for (i = (gssize)strlen(end) - 1; i >= 0; i--) {
        if ((guchar)end[i] < 0xff) {
            end[i]++;
            end[i + 1] = '\0';
            return end;
        }
    }
    g_free(end);
    return NULL;
}

void orch_txn_put(OrchTxn *t, const char *key, const char *value)
{
    OrchTxnOp op = { ORCH_TXN_PUT, g_strdup(key), g_strdup(value) };

    g_array_append_val(t->ops, op);
}

void orch_txn_delete(OrchTxn *t, const char *key)
{
    OrchTxnOp op = { ORCH_TXN_DELETE, g_strdup(key), NULL };

    g_array_append_val(t->ops, op);
}
