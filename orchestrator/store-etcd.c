/*
 * dm-orchestrator: the store on etcd (store.h), through its v3 JSON
 * gateway (etcd.h).  A transaction is one etcd txn: the compares on
 * mod_revision (0 for an absent key), then the puts and deletes as its
 * success branch and nothing as its failure branch, so a lost race
 * writes nothing.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "error.h"
#include "etcd.h"
#include "store-impl.h"

typedef struct StoreEtcd {
    OrchStore base;
    DmEtcd *etcd;
    GMutex lock;                /* the client is one thread's at a time */
    /* What opened it: a watch opens its own client. */
    char *endpoints, *ca, *cert, *key;
} StoreEtcd;

/* etcd's range_end for every key under @prefix ("\0": all keys). */
static char *etcd_prefix_end(const char *prefix)
{
    g_autofree char *end = orch_store_prefix_end(prefix);

    return end ? dm_etcd_b64(end) : g_strdup("AA==");
}

static OrchKv *etcd_kv(JsonObject *o)
{
    g_autofree char *key = dm_etcd_unb64(
        json_object_get_string_member_with_default(o, "key", ""), NULL);
    gsize len;
    g_autofree char *value = dm_etcd_unb64(
        json_object_get_string_member_with_default(o, "value", ""), &len);

    return orch_kv_new(key, value, len, dm_etcd_int(o, "create_revision"),
                       dm_etcd_int(o, "mod_revision"));
}

static gint64 etcd_header_rev(JsonObject *o)
{
    return dm_etcd_int(json_object_get_object_member(o, "header"),
                         "revision");
}

/* @key alone, or (@prefix) the keys under it from @from, as store.h's range. */
static JsonNode *etcd_range(StoreEtcd *s, const char *key, bool prefix,
                            const char *from, gint64 limit, bool last,
                            GError **errp)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    const char *start = from ? from : key;
    g_autofree char *k = *start || !prefix ? dm_etcd_b64(start)
                                           : g_strdup("AA==");
    g_autoptr(JsonNode) body = NULL;
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&s->lock);
    JsonNode *r;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "key");
    json_builder_add_string_value(b, k);
    if (prefix) {
        g_autofree char *end = etcd_prefix_end(key);

        json_builder_set_member_name(b, "range_end");
        json_builder_add_string_value(b, end);
    }
    if (limit) {
        json_builder_set_member_name(b, "limit");
        json_builder_add_int_value(b, limit);
    }
    if (last) {
        json_builder_set_member_name(b, "sort_order");
        json_builder_add_string_value(b, "DESCEND");
        json_builder_set_member_name(b, "sort_target");
        json_builder_add_string_value(b, "KEY");
    }
    json_builder_end_object(b);
    body = json_builder_get_root(b);
    r = dm_etcd_call(s->etcd, "/v3/kv/range", body, errp);
    orch_error_from_etcd(errp);
    return r;
}

static bool se_get(OrchStore *base, const char *key, OrchKv **ret,
                   gint64 *rev, GError **errp)
{
    g_autoptr(JsonNode) r = etcd_range((StoreEtcd *)base, key, false, NULL, 0,
                                       false, errp);
    JsonObject *o;
    JsonArray *kvs;

    if (!r) {
        return false;
    }
    o = json_node_get_object(r);
    /* No match: no "kvs" member at all. */
    kvs = json_object_has_member(o, "kvs")
        ? json_object_get_array_member(o, "kvs") : NULL;
    if (kvs && json_array_get_length(kvs) > 0) {
        *ret = etcd_kv(json_array_get_object_element(kvs, 0));
    }
    if (rev) {
        *rev = etcd_header_rev(o);
    }
    return true;
}

static GPtrArray *se_range(OrchStore *base, const char *prefix,
                           const char *from, gint64 limit, bool last,
                           gint64 *rev, GError **errp)
{
    g_autoptr(JsonNode) r = etcd_range((StoreEtcd *)base, prefix, true,
                                       from, limit, last, errp);
    GPtrArray *out;
    JsonObject *o;
    JsonArray *kvs;
    guint i;

    if (!r) {
        return NULL;
    }
    o = json_node_get_object(r);
    kvs = json_object_has_member(o, "kvs")
        ? json_object_get_array_member(o, "kvs") : NULL;
    out = g_ptr_array_new_with_free_func((GDestroyNotify)orch_kv_free);
    for (i = 0; kvs && i < json_array_get_length(kvs); i++) {
        guint j = last ? json_array_get_length(kvs) - 1 - i : i;

        /* Read from the end; answered in key order. */
        g_ptr_array_add(out, etcd_kv(json_array_get_object_element(kvs, j)));
    }
    if (rev) {
        *rev = etcd_header_rev(o);
    }
    return out;
}

static void txn_add_ops(JsonBuilder *b, OrchTxn *t)
{
    guint i;

    for (i = 0; i < t->ops->len; i++) {
        OrchTxnOp *op = &g_array_index(t->ops, OrchTxnOp, i);
        g_autofree char *k = dm_etcd_b64(op->key);

        json_builder_begin_object(b);
        if (op->kind == ORCH_TXN_PUT) {
            g_autofree char *v = dm_etcd_b64(op->value);

            json_builder_set_member_name(b, "request_put");
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "key");
            json_builder_add_string_value(b, k);
            json_builder_set_member_name(b, "value");
            json_builder_add_string_value(b, v);
        } else {
            json_builder_set_member_name(b, "request_delete_range");
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "key");
            json_builder_add_string_value(b, k);
        }
        json_builder_end_object(b);
        json_builder_end_object(b);
    }
}

static bool se_txn(OrchStore *base, OrchTxn *t, gint64 *rev, GError **errp)
{
    StoreEtcd *s = (StoreEtcd *)base;
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&s->lock);
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) body = NULL;
    g_autoptr(JsonNode) r = NULL;
    JsonObject *o;
    guint i;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "compare");
    json_builder_begin_array(b);
    for (i = 0; i < t->cmps->len; i++) {
        OrchTxnCmp *c = &g_array_index(t->cmps, OrchTxnCmp, i);
        g_autofree char *k = c->prefix && !*c->key ? g_strdup("AA==")
                                                   : dm_etcd_b64(c->key);
        /* "Not written after REV" is "mod_revision < REV + 1". */
        g_autofree char *rv = g_strdup_printf("%" G_GINT64_FORMAT,
                                              c->mod_rev + c->prefix);

        /* An absent key's revisions are all 0: one compare for both. */
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "key");
        json_builder_add_string_value(b, k);
        if (c->prefix) {
            g_autofree char *end = etcd_prefix_end(c->key);

            /* Every key of the range must hold; none holds as a zero. */
            json_builder_set_member_name(b, "range_end");
            json_builder_add_string_value(b, end);
        }
        json_builder_set_member_name(b, "target");
        json_builder_add_string_value(b, "MOD");
        json_builder_set_member_name(b, "result");
        json_builder_add_string_value(b, c->prefix ? "LESS" : "EQUAL");
        json_builder_set_member_name(b, "mod_revision");
        json_builder_add_string_value(b, rv);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "success");
    json_builder_begin_array(b);
    txn_add_ops(b, t);
    json_builder_end_array(b);
    json_builder_end_object(b);
    body = json_builder_get_root(b);
    r = dm_etcd_call(s->etcd, "/v3/kv/txn", body, errp);
    if (!r) {
        orch_error_from_etcd(errp);
        return false;
    }
    o = json_node_get_object(r);
    /* A failed txn has no "succeeded" member (false is the default). */
    if (!json_object_get_boolean_member_with_default(o, "succeeded",
                                                     FALSE)) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "changed meanwhile; read again and retry");
        return false;
    }
    if (rev) {
        *rev = etcd_header_rev(o);
    }
    return true;
}

static void se_close(OrchStore *base)
{
    StoreEtcd *s = (StoreEtcd *)base;

    dm_etcd_free(s->etcd);
    g_mutex_clear(&s->lock);
    g_free(s->endpoints);
    g_free(s->ca);
    g_free(s->cert);
    g_free(s->key);
    g_free(s);
}

static DmEtcdWatch *se_watch(OrchStore *base, const char *prefix,
                             gint64 start_rev, GMainContext *ctx,
                             DmEtcdWatchFunc func, gpointer opaque,
                             GError **errp)
{
    StoreEtcd *s = (StoreEtcd *)base;
    DmEtcdWatch *w = dm_etcd_watch_new(s->endpoints, s->ca, s->cert, s->key,
                                       prefix, start_rev, ctx, func, opaque,
                                       errp);

    if (!w) {
        orch_error_from_etcd(errp);
    }
    return w;
}

static const OrchStoreOps store_etcd_ops = {
    .kind = "etcd",
    .get = se_get,
    .range = se_range,
    .txn = se_txn,
    .watch = se_watch,
    .close = se_close,
};

OrchStore *orch_store_etcd_open(const char *endpoints, const char *ca,
                                const char *cert, const char *key,
                                GError **errp)
{
    DmEtcd *etcd = dm_etcd_new(endpoints, ca, cert, key, errp);
    StoreEtcd *s;

    if (!etcd) {
        orch_error_from_etcd(errp);
        return NULL;
    }
    s = g_new0(StoreEtcd, 1);
    s->base.ops = &store_etcd_ops;
    s->etcd = etcd;
    g_mutex_init(&s->lock);
    s->endpoints = g_strdup(endpoints);
    s->ca = g_strdup(ca);
    s->cert = g_strdup(cert);
    s->key = g_strdup(key);
    return &s->base;
}
