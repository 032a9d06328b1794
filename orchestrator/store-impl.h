/*
 * dm-orchestrator: what a store back end implements (store.h is the
 * interface; store-sqlite.c and store-etcd.c the back ends).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_STORE_IMPL_H
#define ORCH_STORE_IMPL_H

#include "store.h"

typedef enum { ORCH_TXN_PUT, ORCH_TXN_DELETE } OrchTxnOpKind;

typedef struct OrchTxnCmp {
    char *key;
    bool prefix;                /* every key under @key: mod_rev <= @mod_rev */
    gint64 mod_rev;             /* else @key's is this (0: it is absent) */
} OrchTxnCmp;

/*
 * The first key past every key that begins with @prefix (etcd's
 * range_end for a prefix), or NULL if there is none: all keys.
 */
char *orch_store_prefix_end(const char *prefix);

typedef struct OrchTxnOp {
    OrchTxnOpKind kind;
    char *key;
    char *value;                /* puts only */
} OrchTxnOp;

struct OrchTxn {
    GArray *cmps;               /* of OrchTxnCmp */
    GArray *ops;                /* of OrchTxnOp */
};

typedef struct OrchStoreOps {
    const char *kind;
    bool (*get)(OrchStore *s, const char *key, OrchKv **ret, gint64 *rev,
                GError **errp);
    /* orch_store_range; list is a range with no start and no limit. */
    GPtrArray *(*range)(OrchStore *s, const char *prefix, const char *from,
                        gint64 limit, bool last, gint64 *rev,
                        GError **errp);
    bool (*txn)(OrchStore *s, OrchTxn *t, gint64 *rev, GError **errp);
    /* NULL: the back end has no watch (store.h's orch_store_watch). */
    DmEtcdWatch *(*watch)(OrchStore *s, const char *prefix,
                          gint64 start_rev, GMainContext *ctx,
                          DmEtcdWatchFunc func, gpointer opaque,
                          GError **errp);
    void (*close)(OrchStore *s);
} OrchStoreOps;

/* Each back end's struct begins with this. */
struct OrchStore {
    const OrchStoreOps *ops;
};

OrchStore *orch_store_sqlite_open(const char *path, GError **errp);
OrchStore *orch_store_etcd_open(const char *endpoints, const char *ca,
                                const char *cert, const char *key,
                                GError **errp);

#endif /* ORCH_STORE_IMPL_H */
