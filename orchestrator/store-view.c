/*
 * dm-orchestrator: an optimistic transaction on the store (store-view.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "error.h"
#include "store-view.h"

/* What a key written here holds: a value, or deleted. */
typedef struct ViewWrite {
    char *value;                /* NULL: deleted */
} ViewWrite;

struct OrchStoreView {
    OrchStore *store;
    GHashTable *read;           /* key -> gint64 *: the mod_rev first seen */
    GHashTable *listed;         /* prefix -> gint64 *: the oldest read rev */
    GHashTable *writes;         /* key -> ViewWrite * */
    GPtrArray *order;           /* the keys written, first write first */
    bool done;
};

static void view_write_free(gpointer p)
{
    ViewWrite *w = p;

    g_free(w->value);
    g_free(w);
}

OrchStoreView *orch_view_new(OrchStore *s)
{
    OrchStoreView *v = g_new0(OrchStoreView, 1);

    v->store = s;
    v->read = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    v->listed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                      g_free);
    v->writes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                      view_write_free);
    v->order = g_ptr_array_new_with_free_func(g_free);
    return v;
}

void orch_view_free(OrchStoreView *v)
{
    if (v) {
        g_hash_table_unref(v->read);
        g_hash_table_unref(v->listed);
        g_hash_table_unref(v->writes);
        g_ptr_array_unref(v->order);
        g_free(v);
    }
}

/* The first revision seen of @key is the one the commit compares. */
static void view_saw(OrchStoreView *v, const char *key, gint64 mod_rev)
{
    if (!g_hash_table_contains(v->read, key)) {
        g_hash_table_insert(v->read, g_strdup(key),
                            g_memdup2(&mod_rev, sizeof(mod_rev)));
    }
}

bool orch_view_get(OrchStoreView *v, const char *key, char **value,
                   GError **errp)
{
    ViewWrite *w = g_hash_table_lookup(v->writes, key);
    g_autoptr(OrchKv) kv = NULL;

    *value = NULL;
    if (w) {
        *value = g_strdup(w->value);
        return true;
    }
    if (!orch_store_get(v->store, key, &kv, NULL, errp)) {
        return false;
    }
    view_saw(v, key, kv ? kv->mod_rev : 0);
    *value = kv ? g_steal_pointer(&kv->value) : NULL;
    return true;
}

static gint kv_cmp(gconstpointer a, gconstpointer b)
{
    return strcmp((*(OrchKv *const *)a)->key, (*(OrchKv *const *)b)->key);
}

GPtrArray *orch_view_list(OrchStoreView *v, const char *prefix,
                          GError **errp)
{
    g_autoptr(GPtrArray) got = NULL;
    GPtrArray *out;
    gint64 rev = 0, *seen;
    guint i;

    got = orch_store_list(v->store, prefix, &rev, errp);
    if (!got) {
        return NULL;
    }
    seen = g_hash_table_lookup(v->listed, prefix);
    if (!seen) {
        g_hash_table_insert(v->listed, g_strdup(prefix),
                            g_memdup2(&rev, sizeof(rev)));
    } else if (rev < *seen) {
        *seen = rev;
    }
    out = g_ptr_array_new_with_free_func((GDestroyNotify)orch_kv_free);
    for (i = 0; i < got->len; i++) {
        OrchKv *kv = g_ptr_array_index(got, i);

        view_saw(v, kv->key, kv->mod_rev);
        if (!g_hash_table_contains(v->writes, kv->key)) {
            g_ptr_array_add(out, orch_kv_new(kv->key, kv->value,
                                             strlen(kv->value),
                                             kv->create_rev, kv->mod_rev));
        }
    }
    /* This view's own writes under @prefix, in place of the store's. */
    for (i = 0; i < v->order->len; i++) {
        const char *key = g_ptr_array_index(v->order, i);
        ViewWrite *w = g_hash_table_lookup(v->writes, key);

        if (w->value && g_str_has_prefix(key, prefix)) {
            g_ptr_array_add(out, orch_kv_new(key, w->value,
                                             strlen(w->value), 0, 0));
        }
    }
    g_ptr_array_sort(out, kv_cmp);
    return out;
}

bool orch_view_wrote(OrchStoreView *v, const char *key, const char **value)
{
    ViewWrite *w = g_hash_table_lookup(v->writes, key);

    *value = w ? w->value : NULL;
    return w != NULL;
}

OrchStore *orch_view_store(OrchStoreView *v)
{
    return v->store;
}

static void view_write(OrchStoreView *v, const char *key, const char *value)
{
    ViewWrite *w = g_new0(ViewWrite, 1);

    w->value = g_strdup(value);
    if (!g_hash_table_contains(v->writes, key)) {
        g_ptr_array_add(v->order, g_strdup(key));
    }
    g_hash_table_insert(v->writes, g_strdup(key), w);
}

void orch_view_put(OrchStoreView *v, const char *key, const char *value)
{
    view_write(v, key, value);
}

void orch_view_delete(OrchStoreView *v, const char *key)
{
    view_write(v, key, NULL);
}

bool orch_view_dirty(OrchStoreView *v)
{
    return v->order->len > 0;
}

/* The commits' fence (orch_view_set_fence); NULL: none. */
static char *view_fence_key;
static gint64 (*view_fence_token)(void);

void orch_view_set_fence(const char *key, gint64 (*token)(void))
{
    g_free(view_fence_key);
    view_fence_key = g_strdup(key);
    view_fence_token = key ? token : NULL;
}

bool orch_view_commit(OrchStoreView *v, gint64 *rev, GError **errp)
{
    g_autoptr(OrchTxn) t = orch_txn_new();
    GHashTableIter it;
    gpointer key, val;
    guint i;

    if (v->done) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL,
                    "store: a view committed twice");
        return false;
    }
    v->done = true;
    if (view_fence_token) {
        gint64 token = view_fence_token();

        if (token < 0) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_UNAVAILABLE,
                        "this orchestrator no longer leads: nothing "
                        "written");
            return false;
        }
        /* The key unchanged since our election: still ours. */
        if (token > 0) {
            orch_txn_if_rev(t, view_fence_key, token);
        }
    }
    g_hash_table_iter_init(&it, v->read);
    while (g_hash_table_iter_next(&it, &key, &val)) {
        orch_txn_if_rev(t, key, *(gint64 *)val);
    }
    g_hash_table_iter_init(&it, v->listed);
    while (g_hash_table_iter_next(&it, &key, &val)) {
        orch_txn_if_prefix_since(t, key, *(gint64 *)val);
    }
    for (i = 0; i < v->order->len; i++) {
        const char *k = g_ptr_array_index(v->order, i);
        ViewWrite *w = g_hash_table_lookup(v->writes, k);

        if (w->value) {
            orch_txn_put(t, k, w->value);
        } else {
            orch_txn_delete(t, k);
        }
    }
    return orch_store_txn(v->store, t, rev, errp);
}
