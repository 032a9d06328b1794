/*
 * dm-orchestrator: schema 7 copied into the store (store-import.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <string.h>

#include "db.h"
#include "error.h"
#include "json-http.h"
#include "json-limits.h"
#include "log.h"
#include "records.h"
#include "records-bind.h"
#include "store-import.h"

typedef struct Import {
    OrchStore *s;
    const char *root;
    char *schema_key;
    /* Every batch holds if this key's mod_rev is still this. */
    char *cond_key;
    gint64 cond_rev;
    OrchTxn *t;
    guint n;                    /* writes in @t */
    GHashTable *load;           /* server name -> count of placements */
    /*
     * The store's keys of the platforms' and VMs' modules and their
     * values, when they are copied again (the catch-up of
     * orch_store_import_moved): a key the tables give leaves it, and is
     * not written if its document is the same.
     */
    GHashTable *have;
} Import;

static bool import_flush(Import *im, GError **errp)
{
    bool ok;

    if (!im->n) {
        return true;
    }
    ok = orch_store_txn(im->s, im->t, NULL, errp);
    if (!ok && g_error_matches(*errp, ORCH_ERROR, ORCH_ERROR_CONFLICT) &&
        !strcmp(im->cond_key, im->schema_key)) {
        g_clear_error(errp);
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "%s exists: the store holds an import already",
                    im->schema_key);
    }
    orch_txn_free(im->t);
    im->t = orch_txn_new();
    orch_txn_if_rev(im->t, im->cond_key, im->cond_rev);
    im->n = 0;
    return ok;
}

/* Whether the store holds @node at @key already; @key leaves @im->have. */
static bool import_same(Import *im, const char *key, JsonNode *node)
{
    const char *text = g_hash_table_lookup(im->have, key);
    g_autoptr(JsonNode) had = NULL;

    if (!text) {
        return false;
    }
    had = dm_json_parse_peer(text, strlen(text), DM_JSON_MAX_DEPTH, NULL);
    g_hash_table_remove(im->have, key);
    return had && json_node_equal(had, node);
}

/* Put @o (taken) at ROOT @fmt... */
static bool import_put(Import *im, JsonObject *o, GError **errp,
                       const char *fmt, ...) G_GNUC_PRINTF(4, 5);
static bool import_put(Import *im, JsonObject *o, GError **errp,
                       const char *fmt, ...)
{
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), o);
    g_autofree char *rel = NULL;
    g_autofree char *key = NULL;
    g_autofree char *text = json_to_string(node, FALSE);
    va_list ap;

    json_object_unref(o);
    va_start(ap, fmt);
    rel = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    key = g_strconcat(im->root, rel, NULL);
    if (im->have && import_same(im, key, node)) {
        return true;
    }
    orch_txn_put(im->t, key, text);
    return ++im->n < ORCH_IMPORT_BATCH || import_flush(im, errp);
}

/* An object of one string member. */
static JsonObject *obj1(const char *name, const char *value)
{
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, name, value);
    return o;
}

static JsonObject *obj2(const char *vm, const char *device)
{
    JsonObject *o = obj1("vm", vm);

    json_object_set_string_member(o, "device", device);
    return o;
}

static bool import_platforms(Import *im, sqlite3 *db, GError **errp)
{
    g_autoptr(GPtrArray) names = orch_rec_platform_names(db);
    guint i;

    for (i = 0; i < names->len; i++) {
        JsonObject *p = orch_rec_platform(db, names->pdata[i]);

        if (p && !import_put(im, p, errp, "platforms/%s",
                             (char *)names->pdata[i])) {
            return false;
        }
    }
    return true;
}

static bool import_placement(Import *im, sqlite3 *db, const char *vm,
                             const char *dev, GError **errp)
{
    JsonObject *p = orch_rec_placement(db, vm, dev);
    const char *route, *server;
    g_autofree char *instance = NULL;
    guint *load;

    if (!p) {
        return true;
    }
    instance = g_strdup(json_object_get_string_member(p, "instance"));
    route = json_object_get_string_member_with_default(p, "route_id", NULL);
    server = json_object_get_string_member(p, "server");
    load = g_hash_table_lookup(im->load, server);
    if (!load) {
        load = g_new0(guint, 1);
        g_hash_table_insert(im->load, g_strdup(server), load);
    }
    ++*load;
    if (route && !import_put(im, obj2(vm, dev), errp, "routes/%s", route)) {
        json_object_unref(p);
        return false;
    }
    return import_put(im, p, errp, "placements/%s/%s", vm, dev) &&
           import_put(im, obj2(vm, dev), errp, "instances/%s", instance);
}

static bool import_vms(Import *im, sqlite3 *db, GError **errp)
{
    g_autoptr(GPtrArray) names = orch_rec_vm_names(db);
    guint i, j;

    for (i = 0; i < names->len; i++) {
        const char *name = names->pdata[i];
        JsonObject *v = orch_rec_vm(db, name);
        g_autofree char *uuid = NULL;
        JsonArray *devs;

        if (!v) {
            continue;
        }
        uuid = g_strdup(json_object_get_string_member(v, "uuid"));
        devs = json_object_get_array_member(v, "devices");
        for (j = 0; j < json_array_get_length(devs); j++) {
            JsonObject *d = json_array_get_object_element(devs, j);

            if (!import_placement(im, db, name,
                                  json_object_get_string_member(d, "name"),
                                  errp)) {
                json_object_unref(v);
                return false;
            }
        }
        if (!import_put(im, v, errp, "vms/%s", name) ||
            !import_put(im, obj1("vm", name), errp, "uuids/%s", uuid)) {
            return false;
        }
    }
    return true;
}

/* The prefixes of the platforms' and VMs' modules, under ROOT. */
static const char *const import_twinned[] = {
    "platforms/", "vms/", "uuids/", "placements/", "instances/", "routes/",
    "load/", NULL,
};

/*
 * The documents whose keys start /dm/@prefix ("vms", "events/") in @db's
 * own kv table, copied
 * as they are (a value that is not a JSON object is skipped).
 */
static bool import_kv_prefix(Import *im, sqlite3 *db, const char *prefix,
                             GError **errp)
{
    g_autofree char *from = g_strconcat("/dm/", prefix, NULL);
    g_autofree char *to = g_strdup(from);
    g_autoptr(sqlite3_stmt) st = NULL;

    /* The prefix's end: its last character's successor. */
    to[strlen(to) - 1]++;
    st = orch_db_stmt(db, "SELECT key, value FROM kv WHERE key >= ?"
                      " AND key < ? ORDER BY key", "ss", from, to);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        g_autoptr(JsonNode) node = json_from_string(
            (const char *)sqlite3_column_text(st, 1), NULL);

        if (!node || !JSON_NODE_HOLDS_OBJECT(node)) {
            continue;
        }
        if (!import_put(im, json_object_ref(json_node_get_object(node)),
                        errp, "%s", key + strlen("/dm/"))) {
            return false;
        }
    }
    return true;
}

/*
 * A database whose orchestrator kept its platforms and VMs on the store
 * (its own kv table's "/dm/moved" lists "vms": docs/scale-out.md, step
 * 3) no longer writes them in its tables: their keys are copied from
 * the kv table, documents as they are.  *@done says whether it was so.
 */
static bool import_records_kv(Import *im, sqlite3 *db, bool *done,
                              GError **errp)
{
    g_autofree char *moved = NULL;
    g_autoptr(JsonNode) mn = NULL;
    JsonArray *mods = NULL;

    *done = false;
    if (orch_db_int(db, 0, "SELECT count(*) FROM sqlite_master"
                    " WHERE type = 'table' AND name = 'kv'", "") > 0) {
        moved = orch_db_str(db, "SELECT value FROM kv WHERE key = ?", "s",
                            "/dm/moved");
    }
    mn = moved ? json_from_string(moved, NULL) : NULL;
    if (mn && JSON_NODE_HOLDS_OBJECT(mn)) {
        JsonNode *m = json_object_get_member(json_node_get_object(mn),
                                             "modules");

        mods = m && JSON_NODE_HOLDS_ARRAY(m) ? json_node_get_array(m) : NULL;
    }
    for (guint i = 0; mods && i < json_array_get_length(mods); i++) {
        JsonNode *e = json_array_get_element(mods, i);

        *done |= JSON_NODE_HOLDS_VALUE(e) &&
                 json_node_get_value_type(e) == G_TYPE_STRING &&
                 !g_strcmp0(json_node_get_string(e), "vms");
    }
    for (guint i = 0; *done && import_twinned[i]; i++) {
        if (!import_kv_prefix(im, db, import_twinned[i], errp)) {
            return false;
        }
    }
    return true;
}

/*
 * A database whose orchestrator ran with its events on the store has
 * them in its own kv table (store-events.h), no longer in its events
 * table: copied from there, documents as they are.
 */
static bool import_events_kv(Import *im, sqlite3 *db, bool *done,
                             GError **errp)
{
    *done = orch_db_int(db, 0, "SELECT count(*) FROM sqlite_master"
                        " WHERE type = 'table' AND name = 'kv'", "") > 0 &&
            orch_db_int(db, 0, "SELECT count(*) FROM kv"
                        " WHERE key = '/dm/schema'", "") > 0;
    if (!*done) {
        return true;
    }
    return import_kv_prefix(im, db, "events/", errp);
}

static bool import_events(Import *im, sqlite3 *db, GError **errp)
{
    g_autoptr(sqlite3_stmt) st = NULL;
    bool done;

    if (!import_events_kv(im, db, &done, errp)) {
        return false;
    }
    if (done) {
        return true;
    }
    st = orch_db_stmt(db, "SELECT id, time, vm, message FROM events"
                      " ORDER BY id", "");

    while (st && sqlite3_step(st) == SQLITE_ROW) {
        JsonObject *e = orch_db_row(st);
        gint64 id = json_object_get_int_member(e, "id");

        /* Zero-padded: key order is the events' order. */
        if (!import_put(im, e, errp, "events/%020" G_GINT64_FORMAT, id)) {
            return false;
        }
    }
    return true;
}

/* Every server's count of placements (@im->load) as its "load/S". */
static bool import_loads(Import *im, GError **errp)
{
    GHashTableIter it;
    gpointer server, load;

    g_hash_table_iter_init(&it, im->load);
    while (g_hash_table_iter_next(&it, &server, &load)) {
        JsonObject *o = json_object_new();

        json_object_set_int_member(o, "used", *(guint *)load);
        if (!import_put(im, o, errp, "load/%s", (char *)server)) {
            return false;
        }
    }
    return true;
}

static bool import_all(sqlite3 *db, OrchStore *s, const char *root,
                       GError **errp)
{
    Import im = { s, root, g_strconcat(root, "schema", NULL), NULL, 0,
                  orch_txn_new(), 0,
                  g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        g_free), NULL };
    JsonObject *schema;
    bool ok = false, from_kv;

    im.cond_key = im.schema_key;
    orch_txn_if_rev(im.t, im.schema_key, 0);
    /* One snapshot of the database for the whole copy. */
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        orch_error_internal(errp, EIO);
        goto out;
    }
    if (!import_records_kv(&im, db, &from_kv, errp) ||
        (!from_kv && (!import_platforms(&im, db, errp) ||
                      !import_vms(&im, db, errp))) ||
        !import_events(&im, db, errp)) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        goto out;
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    /* The kv table's loads were copied with the rest. */
    if (!from_kv && !import_loads(&im, errp)) {
        goto out;
    }
    /* Last: the mark that the import is whole. */
    schema = json_object_new();
    json_object_set_int_member(schema, "version", ORCH_STORE_SCHEMA);
    json_object_set_int_member(schema, "imported_from", ORCH_DB_VERSION);
    if (!import_put(&im, schema, errp, "schema")) {
        goto out;
    }
    ok = import_flush(&im, errp);
out:
    orch_txn_free(im.t);
    g_hash_table_unref(im.load);
    g_free(im.schema_key);
    return ok;
}

/* The events table's rows after the store's last event. */
static bool moved_events(Import *im, sqlite3 *db, GError **errp)
{
    g_autofree char *prefix = g_strconcat(im->root, "events/", NULL);
    g_autoptr(GPtrArray) last = orch_store_range(im->s, prefix, NULL, 1,
                                                 true, NULL, errp);
    g_autoptr(sqlite3_stmt) st = NULL;
    gint64 after = 0;

    if (!last) {
        return false;
    }
    if (last->len) {
        after = g_ascii_strtoll(((OrchKv *)last->pdata[0])->key +
                                strlen(prefix), NULL, 10);
    }
    st = orch_db_stmt(db, "SELECT id, time, vm, message FROM events"
                      " WHERE id > ? ORDER BY id", "i", after);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        JsonObject *e = orch_db_row(st);
        gint64 id = json_object_get_int_member(e, "id");

        if (!import_put(im, e, errp, "events/%020" G_GINT64_FORMAT, id)) {
            return false;
        }
    }
    return true;
}

static bool import_twins(sqlite3 *db, OrchStore *s, const char *root,
                         GError **errp);

/*
 * "platforms" and "vms" (with their devices, placements, routes, claims
 * and loads): the tables are not append-only, so their part is copied
 * again whole (import_twins), once for both.
 */
static bool moved_records(Import *im, sqlite3 *db, bool *done,
                          GError **errp)
{
    if (*done) {
        return true;
    }
    *done = true;
    /* What this catch-up put so far first: the copy has its own batches. */
    return import_flush(im, errp) &&
           import_twins(db, im->s, im->root, errp);
}

static bool import_moved(sqlite3 *db, OrchStore *s, const char *root,
                         const char *const *moved, GError **errp)
{
    Import im = { s, root, g_strconcat(root, "schema", NULL),
                  g_strconcat(root, "moved", NULL), 0, orch_txn_new(), 0,
                  NULL, NULL };
    g_autoptr(OrchKv) kv = NULL;
    g_autoptr(JsonNode) node = NULL;
    JsonArray *have = NULL;
    JsonObject *o;
    bool ok = false, added = false, records = false;
    guint i, j;

    if (!orch_store_get(s, im.cond_key, &kv, NULL, errp)) {
        goto out;
    }
    node = kv ? dm_json_parse_peer(kv->value, strlen(kv->value),
                                   DM_JSON_MAX_DEPTH, NULL) : NULL;
    if (node && JSON_NODE_HOLDS_OBJECT(node)) {
        have = json_object_get_array_member(json_node_get_object(node),
                                            "modules");
    }
    im.cond_rev = kv ? kv->mod_rev : 0;
    orch_txn_if_rev(im.t, im.cond_key, im.cond_rev);
    o = json_object_new();
    json_object_set_array_member(o, "modules", json_array_new());
    for (j = 0; have && j < json_array_get_length(have); j++) {
        json_array_add_string_element(
            json_object_get_array_member(o, "modules"),
            json_array_get_string_element(have, j));
    }
    for (i = 0; moved[i]; i++) {
        bool known = false;

        for (j = 0; have && j < json_array_get_length(have); j++) {
            known |= !g_strcmp0(json_array_get_string_element(have, j),
                                moved[i]);
        }
        if (known) {
            continue;
        }
        if (!db) {
            /* No tables to catch up from: the keys are all there is. */
            orch_info("the store's module '%s' taken as it is", moved[i]);
        } else if (!strcmp(moved[i], "events")) {
            if (!moved_events(&im, db, errp)) {
                json_object_unref(o);
                goto out;
            }
        } else if (!strcmp(moved[i], "platforms") ||
                   !strcmp(moved[i], "vms")) {
            if (!moved_records(&im, db, &records, errp)) {
                json_object_unref(o);
                goto out;
            }
        } else {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL,
                        "no way to bring module '%s' into the store",
                        moved[i]);
            json_object_unref(o);
            goto out;
        }
        json_array_add_string_element(
            json_object_get_array_member(o, "modules"), moved[i]);
        added = true;
    }
    if (!added) {
        json_object_unref(o);
        ok = true;
        goto out;
    }
    /* Last: the list, so that a catch-up cut short is done again. */
    ok = import_put(&im, o, errp, "moved") && import_flush(&im, errp);
out:
    orch_txn_free(im.t);
    g_free(im.schema_key);
    g_free(im.cond_key);
    return ok;
}

/* The store's keys under the twinned prefixes into @im->have. */
static bool import_have(Import *im, GError **errp)
{
    for (guint i = 0; import_twinned[i]; i++) {
        g_autofree char *prefix = g_strconcat(im->root, import_twinned[i],
                                              NULL);
        g_autoptr(GPtrArray) kvs = orch_store_list(im->s, prefix, NULL,
                                                   errp);

        if (!kvs) {
            return false;
        }
        for (guint j = 0; j < kvs->len; j++) {
            OrchKv *kv = kvs->pdata[j];

            g_hash_table_insert(im->have, g_strdup(kv->key),
                                g_strdup(kv->value));
        }
    }
    return true;
}

/* Delete each key of @im->have the tables did not give. */
static bool import_drop_rest(Import *im, GError **errp)
{
    GHashTableIter it;
    gpointer key;

    g_hash_table_iter_init(&it, im->have);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        orch_txn_delete(im->t, key);
        if (++im->n >= ORCH_IMPORT_BATCH && !import_flush(im, errp)) {
            return false;
        }
    }
    return true;
}

static bool import_twins(sqlite3 *db, OrchStore *s, const char *root,
                         GError **errp)
{
    Import im = { s, root, g_strconcat(root, "schema", NULL),
                  g_strconcat(root, "moved", NULL), 0, orch_txn_new(), 0,
                  g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        g_free),
                  g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        g_free) };
    g_autoptr(OrchKv) kv = NULL;
    bool ok = false;

    if (!orch_store_get(s, im.cond_key, &kv, NULL, errp)) {
        goto out;
    }
    im.cond_rev = kv ? kv->mod_rev : 0;
    orch_txn_if_rev(im.t, im.cond_key, im.cond_rev);
    if (!import_have(&im, errp)) {
        goto out;
    }
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        orch_error_internal(errp, EIO);
        goto out;
    }
    ok = import_platforms(&im, db, errp) && import_vms(&im, db, errp);
    sqlite3_exec(db, ok ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    ok = ok && import_loads(&im, errp) && import_drop_rest(&im, errp) &&
         import_flush(&im, errp);
out:
    orch_txn_free(im.t);
    g_hash_table_unref(im.load);
    g_hash_table_unref(im.have);
    g_free(im.schema_key);
    g_free(im.cond_key);
    return ok;
}

/*
 * The tables themselves, whatever view this thread's records are bound
 * to (records-bind.h): a request's resync copies them from under one.
 */
bool orch_store_import(sqlite3 *db, OrchStore *s, const char *root,
                       GError **errp)
{
    OrchStoreView **slot = orch_rec_twin_unbind();
    bool ok = import_all(db, s, root, errp);

    orch_rec_twin_bind(slot);
    return ok;
}

bool orch_store_create(OrchStore *s, const char *root, GError **errp)
{
    g_autofree char *key = g_strconcat(root, "schema", NULL);
    g_autofree char *value = g_strdup_printf("{\"version\":%d}",
                                             ORCH_STORE_SCHEMA);
    g_autoptr(GError) err = NULL;
    OrchTxn *t = orch_txn_new();
    bool ok;

    orch_txn_if_rev(t, key, 0);
    orch_txn_put(t, key, value);
    ok = orch_store_txn(s, t, NULL, &err);
    orch_txn_free(t);
    /* Another orchestrator made it first: as good. */
    if (!ok && g_error_matches(err, ORCH_ERROR, ORCH_ERROR_CONFLICT)) {
        return true;
    }
    if (!ok) {
        g_propagate_error(errp, g_steal_pointer(&err));
    }
    return ok;
}

bool orch_store_import_moved(sqlite3 *db, OrchStore *s, const char *root,
                             const char *const *moved, GError **errp)
{
    OrchStoreView **slot = orch_rec_twin_unbind();
    bool ok = import_moved(db, s, root, moved, errp);

    orch_rec_twin_bind(slot);
    return ok;
}

