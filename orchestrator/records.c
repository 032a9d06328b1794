/*
 * dm-orchestrator: the documents of the key layout read through the
 * thread's store view, or from the SQLite tables for the import
 * (records.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "db.h"
#include "log.h"
#include "records.h"
#include "records-bind.h"
#include "records-view.h"

const char *orch_rec_str(JsonObject *o, const char *member)
{
    JsonNode *n = o ? json_object_get_member(o, member) : NULL;

    if (!n || !JSON_NODE_HOLDS_VALUE(n) ||
        json_node_get_value_type(n) != G_TYPE_STRING) {
        return NULL;
    }
    return json_node_get_string(n);
}

/* Integer columns 0/1 that mean false/true. */
static void to_bool(JsonObject *o, const char *member)
{
    json_object_set_boolean_member(
        o, member, json_object_get_int_member_with_default(o, member, 0));
}

static GPtrArray *names(sqlite3 *db, const char *sql)
{
    g_autoptr(sqlite3_stmt) st = orch_db_stmt(db, sql, "");
    GPtrArray *a = g_ptr_array_new_with_free_func(g_free);

    while (st && sqlite3_step(st) == SQLITE_ROW) {
        g_ptr_array_add(a, g_strdup((const char *)sqlite3_column_text(st,
                                                                      0)));
    }
    return a;
}

static JsonObject *tables_vm(sqlite3 *db, const char *name)
{
    g_autoptr(sqlite3_stmt) st = orch_db_stmt(db,
        "SELECT v.id, v.name, v.uuid, v.memory, v.kernel, v.initrd,"
        " v.append, v.state, c.name AS client, v.hypervisor,"
        " v.extra_args AS \"j:extra_args\", v.saved_file, v.boot"
        " FROM vms v LEFT JOIN platforms c ON c.id = v.client_id"
        " WHERE v.name = ?", "s", name);
    g_autoptr(sqlite3_stmt) ds = NULL;
    JsonObject *v;
    JsonArray *devs;
    guint i;

    if (!st || sqlite3_step(st) != SQLITE_ROW) {
        return NULL;
    }
    v = orch_db_row(st);
    ds = orch_db_stmt(db,
        "SELECT d.name, d.model, d.bus, s.name AS server,"
        " w.name AS via, d.restart, d.console, d.props AS \"j:props\""
        " FROM devices d LEFT JOIN platforms s ON s.id = d.server_id"
        " LEFT JOIN platforms w ON w.id = d.via_id"
        " WHERE d.vm_id = ? ORDER BY d.id", "i",
        json_object_get_int_member(v, "id"));
    devs = orch_db_rows(ds);
    for (i = 0; i < json_array_get_length(devs); i++) {
        to_bool(json_array_get_object_element(devs, i), "console");
    }
    json_object_remove_member(v, "id");
    json_object_set_array_member(v, "devices", devs);
    return v;
}

JsonObject *orch_rec_device(JsonObject *vm, const char *name)
{
    JsonArray *devs = vm ? json_object_get_array_member(vm, "devices") :
        NULL;
    guint i;

    for (i = 0; devs && i < json_array_get_length(devs); i++) {
        JsonObject *d = json_array_get_object_element(devs, i);

        if (!g_strcmp0(orch_rec_str(d, "name"), name)) {
            return d;
        }
    }
    return NULL;
}

static GPtrArray *tables_vm_names(sqlite3 *db)
{
    return names(db, "SELECT name FROM vms ORDER BY name");
}

static JsonObject *tables_placement(sqlite3 *db, const char *vm,
                                    const char *dev)
{
    g_autoptr(sqlite3_stmt) st = orch_db_stmt(db,
        "SELECT p.instance, s.name AS server, p.address, p.token,"
        " p.console, p.state, p.route_id, p.route_address"
        " FROM placements p JOIN platforms s ON s.id = p.server_id"
        " JOIN devices d ON d.id = p.device_id"
        " JOIN vms v ON v.id = d.vm_id"
        " WHERE v.name = ? AND d.name = ?", "ss", vm, dev);

    if (!st || sqlite3_step(st) != SQLITE_ROW) {
        return NULL;
    }
    return orch_db_row(st);
}

/* The one row of (vm, device) that @sql finds for @key, or NULL. */
static JsonObject *vm_device(sqlite3 *db, const char *sql, const char *key)
{
    g_autoptr(sqlite3_stmt) st = orch_db_stmt(db, sql, "s", key);

    if (!st || sqlite3_step(st) != SQLITE_ROW) {
        return NULL;
    }
    return orch_db_row(st);
}

static JsonObject *tables_instance(sqlite3 *db, const char *instance)
{
    return vm_device(db, "SELECT v.name AS vm, d.name AS device"
                     " FROM placements p JOIN devices d ON d.id = p.device_id"
                     " JOIN vms v ON v.id = d.vm_id WHERE p.instance = ?",
                     instance);
}

static JsonObject *tables_route(sqlite3 *db, const char *id)
{
    return vm_device(db, "SELECT v.name AS vm, d.name AS device"
                     " FROM placements p JOIN devices d ON d.id = p.device_id"
                     " JOIN vms v ON v.id = d.vm_id WHERE p.route_id = ?",
                     id);
}

static char *tables_vm_by_uuid(sqlite3 *db, const char *uuid)
{
    return orch_db_str(db, "SELECT name FROM vms WHERE uuid = ?", "s", uuid);
}

static JsonObject *tables_platform(sqlite3 *db, const char *name)
{
    g_autoptr(sqlite3_stmt) st = orch_db_stmt(db,
        "SELECT id, name, role, address, capacity, hypervisor, model_tls"
        " FROM platforms WHERE name = ?", "s", name);
    g_autoptr(sqlite3_stmt) ms = NULL;
    JsonObject *p;

    if (!st || sqlite3_step(st) != SQLITE_ROW) {
        return NULL;
    }
    p = orch_db_row(st);
    ms = orch_db_stmt(db,
        "SELECT model, bus, props AS \"j:props\" FROM platform_models"
        " WHERE platform_id = ? ORDER BY model", "i",
        json_object_get_int_member(p, "id"));
    json_object_remove_member(p, "id");
    to_bool(p, "model_tls");
    json_object_set_array_member(p, "models", orch_db_rows(ms));
    return p;
}

static GPtrArray *tables_platform_names(sqlite3 *db)
{
    return names(db, "SELECT name FROM platforms ORDER BY name");
}

static GPtrArray *tables_platforms(sqlite3 *db)
{
    g_autoptr(GPtrArray) names = tables_platform_names(db);
    GPtrArray *a = g_ptr_array_new_with_free_func(
        (GDestroyNotify)json_object_unref);
    guint i;

    for (i = 0; i < names->len; i++) {
        JsonObject *p = tables_platform(db, names->pdata[i]);

        if (p) {
            g_ptr_array_add(a, p);
        }
    }
    return a;
}

static gint64 tables_server_used(sqlite3 *db, const char *server)
{
    return orch_db_int(db, 0, "SELECT count(*) FROM placements x"
                       " JOIN platforms p ON p.id = x.server_id"
                       " WHERE p.name = ?", "s", server);
}

static gint64 tables_client_running(sqlite3 *db, const char *client)
{
    return orch_db_int(db, 0, "SELECT count(*) FROM vms v"
                       " JOIN platforms p ON p.id = v.client_id"
                       " WHERE p.name = ? AND v.state IN"
                       " ('running', 'suspended', 'migrating')", "s",
                       client);
}

/*
 * A thread with a view bound reads through it (records-view.h), any
 * other the tables (store-import.c reads them so, records-bind.h).  A store failure reads as absent, as an
 * SQL one does, and is logged.
 */
#define READ_VIEW orch_rec_read_view()
#define READ_ROOT orch_rec_bound_root()

static void read_failed(GError *err)
{
    if (err) {
        orch_warn("the store: %s", err->message);
        /* Not "absent" to the caller: its request fails (503). */
        orch_rec_read_failed(err->message);
        g_error_free(err);
    }
}

JsonObject *orch_rec_vm(sqlite3 *db, const char *name)
{
    GError *err = NULL;
    JsonObject *o;

    if (!READ_VIEW) {
        return tables_vm(db, name);
    }
    o = orch_recv_vm(READ_VIEW, READ_ROOT, name, &err);
    read_failed(err);
    return o;
}

/*
 * The list @a, or an empty one if the store failed (@err: not an
 * argument evaluated beside the call that sets it, whose order C leaves
 * open: the failure was lost so, a list read as empty).
 */
static GPtrArray *read_list(GPtrArray *a, GError *err, GDestroyNotify free)
{
    read_failed(err);
    return a ? a : g_ptr_array_new_with_free_func(free);
}

GPtrArray *orch_rec_vm_names(sqlite3 *db)
{
    GError *err = NULL;
    GPtrArray *a;

    if (!READ_VIEW) {
        return tables_vm_names(db);
    }
    a = orch_recv_vm_names(READ_VIEW, READ_ROOT, &err);
    return read_list(a, err, g_free);
}

JsonObject *orch_rec_placement(sqlite3 *db, const char *vm, const char *dev)
{
    GError *err = NULL;
    JsonObject *o;

    if (!READ_VIEW) {
        return tables_placement(db, vm, dev);
    }
    o = orch_recv_placement(READ_VIEW, READ_ROOT, vm, dev, &err);
    read_failed(err);
    return o;
}

JsonObject *orch_rec_instance(sqlite3 *db, const char *instance)
{
    GError *err = NULL;
    JsonObject *o;

    if (!READ_VIEW) {
        return tables_instance(db, instance);
    }
    o = orch_recv_instance(READ_VIEW, READ_ROOT, instance, &err);
    read_failed(err);
    return o;
}

JsonObject *orch_rec_route(sqlite3 *db, const char *id)
{
    GError *err = NULL;
    JsonObject *o;

    if (!READ_VIEW) {
        return tables_route(db, id);
    }
    o = orch_recv_route(READ_VIEW, READ_ROOT, id, &err);
    read_failed(err);
    return o;
}

char *orch_rec_vm_by_uuid(sqlite3 *db, const char *uuid)
{
    GError *err = NULL;
    char *name;

    if (!READ_VIEW) {
        return tables_vm_by_uuid(db, uuid);
    }
    name = orch_recv_vm_by_uuid(READ_VIEW, READ_ROOT, uuid, &err);
    read_failed(err);
    return name;
}

JsonObject *orch_rec_platform(sqlite3 *db, const char *name)
{
    GError *err = NULL;
    JsonObject *o;

    if (!READ_VIEW) {
        return tables_platform(db, name);
    }
    o = orch_recv_platform(READ_VIEW, READ_ROOT, name, &err);
    read_failed(err);
    return o;
}

GPtrArray *orch_rec_platform_names(sqlite3 *db)
{
    GError *err = NULL;
    GPtrArray *a;

    if (!READ_VIEW) {
        return tables_platform_names(db);
    }
    a = orch_recv_platform_names(READ_VIEW, READ_ROOT, &err);
    return read_list(a, err, g_free);
}

GPtrArray *orch_rec_platforms(sqlite3 *db)
{
    GError *err = NULL;
    GPtrArray *a;

    if (!READ_VIEW) {
        return tables_platforms(db);
    }
    a = orch_recv_platforms(READ_VIEW, READ_ROOT, &err);
    return read_list(a, err, (GDestroyNotify)json_object_unref);
}

gint64 orch_rec_server_used(sqlite3 *db, const char *server)
{
    GError *err = NULL;
    gint64 n;

    if (!READ_VIEW) {
        return tables_server_used(db, server);
    }
    n = orch_recv_server_used(READ_VIEW, READ_ROOT, server, &err);
    read_failed(err);
    return n;
}

gint64 orch_rec_client_running(sqlite3 *db, const char *client)
{
    GError *err = NULL;
    gint64 n;

    if (!READ_VIEW) {
        return tables_client_running(db, client);
    }
    n = orch_recv_client_running(READ_VIEW, READ_ROOT, client, &err);
    read_failed(err);
    return n;
}
