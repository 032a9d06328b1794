/*
 * dm-orchestrator: the store's interface, dispatched to its back end
 * (store-txn.c has what the back ends share).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "error.h"
#include "store-impl.h"

OrchStore *orch_store_open(const char *spec, const char *ca,
                           const char *cert, const char *key,
                           GError **errp)
{
    if (g_str_has_prefix(spec, "sqlite:") && spec[7]) {
        return orch_store_sqlite_open(spec + 7, errp);
    }
    if (g_str_has_prefix(spec, "etcd:") && spec[5]) {
        return orch_store_etcd_open(spec + 5, ca, cert, key, errp);
    }
    g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_REQUEST,
                "store '%s': wanted sqlite:PATH or etcd:URL[,URL...]",
                spec);
    return NULL;
}

void orch_store_close(OrchStore *s)
{
    if (s) {
        s->ops->close(s);
    }
}

DmEtcdWatch *orch_store_watch(OrchStore *s, const char *prefix,
                              gint64 start_rev, GMainContext *ctx,
                              DmEtcdWatchFunc func, gpointer opaque,
                              GError **errp)
{
    if (!s->ops->watch) {
        return NULL;
    }
    return s->ops->watch(s, prefix, start_rev, ctx, func, opaque, errp);
}

const char *orch_store_kind(OrchStore *s)
{
    return s->ops->kind;
}

bool orch_store_get(OrchStore *s, const char *key, OrchKv **ret,
                    gint64 *rev, GError **errp)
{
    *ret = NULL;
    return s->ops->get(s, key, ret, rev, errp);
}

GPtrArray *orch_store_list(OrchStore *s, const char *prefix, gint64 *rev,
                           GError **errp)
{
    return s->ops->range(s, prefix, NULL, 0, false, rev, errp);
}

GPtrArray *orch_store_range(OrchStore *s, const char *prefix,
                            const char *from, gint64 limit, bool last,
                            gint64 *rev, GError **errp)
{
    /* A start outside the prefix would read others' keys. */
    if (from && (last || strcmp(from, prefix) < 0)) {
        from = NULL;
    }
    return s->ops->range(s, prefix, from, MAX(limit, 0), last, rev, errp);
}

bool orch_store_txn(OrchStore *s, OrchTxn *t, gint64 *rev, GError **errp)
{
    guint i, j;

    /*
     * etcd refuses a txn that writes one key twice ("duplicate key given
     * in txn request"); refuse it on both back ends alike.
     */
    for (i = 0; i < t->ops->len; i++) {
        for (j = i + 1; j < t->ops->len; j++) {
            if (!strcmp(g_array_index(t->ops, OrchTxnOp, i).key,
                        g_array_index(t->ops, OrchTxnOp, j).key)) {
                g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL,
                            "store: a transaction writes %s twice",
                            g_array_index(t->ops, OrchTxnOp, i).key);
                return false;
            }
        }
    }
    return s->ops->txn(s, t, rev, errp);
}
