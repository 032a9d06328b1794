/*
 * dm-orchestrator: the handlers' writes of the tables by names and
 * documents (records-set.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "db.h"
#include "error.h"
#include "records.h"
#include "records-set.h"

bool orch_rec_vm_update(sqlite3 *db, JsonObject *doc, GError **errp)
{
    const char *name = orch_rec_str(doc, "name");
    const char *client = orch_rec_str(doc, "client");

    if (client && orch_db_int(db, 0, "SELECT count(*) FROM platforms"
                              " WHERE name = ?", "s", client) != 1) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND,
                    "no platform '%s'", client);
        return false;
    }
    if (!orch_db_run(db, errp, "UPDATE vms SET state = ?, client_id ="
                     " (SELECT id FROM platforms WHERE name = ?),"
                     " hypervisor = ?, saved_file = ? WHERE name = ?",
                     "sssss", orch_rec_str(doc, "state"), client,
                     orch_rec_str(doc, "hypervisor"),
                     orch_rec_str(doc, "saved_file"), name)) {
        return false;
    }
    if (sqlite3_changes(db) != 1) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND, "no VM '%s'",
                    name);
        return false;
    }
    return true;
}

/* Member @member of @o as JSON text (NULL if absent or null). */
static char *json_text(JsonObject *o, const char *member)
{
    JsonNode *n = json_object_get_member(o, member);

    return n && !JSON_NODE_HOLDS_NULL(n) ? json_to_string(n, FALSE) : NULL;
}

bool orch_rec_vm_create(sqlite3 *db, JsonObject *doc, GError **errp)
{
    JsonNode *dn = json_object_get_member(doc, "devices");
    JsonArray *devs = dn && JSON_NODE_HOLDS_ARRAY(dn) ?
        json_node_get_array(dn) : NULL;
    g_autofree char *args = json_text(doc, "extra_args");
    gint64 id;

    if (!orch_db_run(db, errp, "INSERT INTO vms (name, uuid, memory,"
                     " kernel, initrd, append, extra_args, boot) VALUES"
                     " (?, ?, ?, ?, ?, ?, ?, ?)", "ssssssss",
                     orch_rec_str(doc, "name"), orch_rec_str(doc, "uuid"),
                     orch_rec_str(doc, "memory"),
                     orch_rec_str(doc, "kernel"),
                     orch_rec_str(doc, "initrd"),
                     orch_rec_str(doc, "append"), args ? args : "[]",
                     orch_rec_str(doc, "boot"))) {
        return false;
    }
    id = sqlite3_last_insert_rowid(db);
    for (guint i = 0; devs && i < json_array_get_length(devs); i++) {
        JsonObject *d = json_array_get_object_element(devs, i);
        g_autofree char *props = json_text(d, "props");

        if (!orch_db_run(db, errp, "INSERT INTO devices (vm_id, name, model,"
                         " bus, console, restart, server_id, via_id, props)"
                         " VALUES (?, ?, ?, ?, ?, ?,"
                         " (SELECT id FROM platforms WHERE name = ?),"
                         " (SELECT id FROM platforms WHERE name = ?), ?)",
                         "isssissss", id, orch_rec_str(d, "name"),
                         orch_rec_str(d, "model"), orch_rec_str(d, "bus"),
                         (gint64)json_object_get_boolean_member_with_default(
                             d, "console", FALSE),
                         orch_rec_str(d, "restart"),
                         orch_rec_str(d, "server"), orch_rec_str(d, "via"),
                         props ? props : "{}")) {
            return false;
        }
    }
    return true;
}

bool orch_rec_vm_remove(sqlite3 *db, const char *name, GError **errp)
{
    return orch_db_run(db, errp, "DELETE FROM vms WHERE name = ?", "s",
                       name);
}

/* Platform document @doc's models, an array of {"model", "bus", "props"}. */
static JsonArray *platform_models(JsonObject *doc)
{
    JsonNode *n = json_object_get_member(doc, "models");

    return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

bool orch_rec_platform_add(sqlite3 *db, JsonObject *doc, GError **errp)
{
    JsonArray *models = platform_models(doc);
    gint64 id;

    if (!orch_db_run(db, errp, "INSERT INTO platforms (name, role,"
                     " address, capacity, hypervisor, model_tls) VALUES"
                     " (?, ?, ?, ?, ?, ?)", "sssisi",
                     orch_rec_str(doc, "name"), orch_rec_str(doc, "role"),
                     orch_rec_str(doc, "address"),
                     json_object_get_int_member_with_default(doc, "capacity",
                                                             0),
                     orch_rec_str(doc, "hypervisor"),
                     (gint64)json_object_get_boolean_member_with_default(
                         doc, "model_tls", FALSE))) {
        return false;
    }
    id = sqlite3_last_insert_rowid(db);
    for (guint i = 0; models && i < json_array_get_length(models); i++) {
        JsonObject *m = json_array_get_object_element(models, i);
        g_autofree char *props = json_text(m, "props");

        if (!orch_db_run(db, errp, "INSERT INTO platform_models"
                         " (platform_id, model, bus, props) VALUES"
                         " (?, ?, ?, ?)", "isss", id,
                         orch_rec_str(m, "model"), orch_rec_str(m, "bus"),
                         props ? props : "[]")) {
            return false;
        }
    }
    return true;
}

bool orch_rec_platform_update(sqlite3 *db, JsonObject *doc, GError **errp)
{
    const char *name = orch_rec_str(doc, "name");
    JsonArray *models = platform_models(doc);

    if (!orch_db_run(db, errp, "UPDATE platforms SET model_tls = ?"
                     " WHERE name = ?", "is",
                     (gint64)json_object_get_boolean_member_with_default(
                         doc, "model_tls", FALSE), name)) {
        return false;
    }
    if (sqlite3_changes(db) != 1) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND,
                    "no platform '%s'", name);
        return false;
    }
    for (guint i = 0; models && i < json_array_get_length(models); i++) {
        JsonObject *m = json_array_get_object_element(models, i);
        g_autofree char *props = json_text(m, "props");

        if (!orch_db_run(db, errp, "UPDATE platform_models SET bus = ?,"
                         " props = ? WHERE model = ? AND platform_id ="
                         " (SELECT id FROM platforms WHERE name = ?)",
                         "ssss", orch_rec_str(m, "bus"),
                         props ? props : "[]", orch_rec_str(m, "model"),
                         name)) {
            return false;
        }
    }
    return true;
}

bool orch_rec_platform_remove(sqlite3 *db, const char *name, GError **errp)
{
    return orch_db_run(db, errp, "UPDATE vms SET client_id = NULL WHERE"
                       " client_id = (SELECT id FROM platforms"
                       " WHERE name = ?)", "s", name) &&
           orch_db_run(db, errp, "DELETE FROM platforms WHERE name = ?", "s",
                       name);
}

bool orch_rec_placements_delete(sqlite3 *db, const char *vm, GError **errp)
{
    return orch_db_run(db, errp, "DELETE FROM placements WHERE device_id IN"
                       " (SELECT d.id FROM devices d JOIN vms v"
                       " ON v.id = d.vm_id WHERE v.name = ?)", "s", vm);
}

/* The row of device @dev of VM @vm, in SQL (two parameters: vm, dev). */
#define DEVICE_ROW "(SELECT d.id FROM devices d JOIN vms v ON v.id = d.vm_id" \
    " WHERE v.name = ? AND d.name = ?)"

/* NOT_FOUND with @what if the last statement changed no row. */
static bool changed_one(sqlite3 *db, const char *vm, const char *dev,
                        GError **errp)
{
    if (sqlite3_changes(db) != 1) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND,
                    "device '%s' of VM '%s': no such device or placement",
                    dev, vm);
        return false;
    }
    return true;
}

bool orch_rec_placement_claim(sqlite3 *db, const char *vm, const char *dev,
                              const char *server, const char *instance,
                              const char *token, GError **errp)
{
    return orch_db_run(db, errp, "INSERT INTO placements (device_id,"
                       " server_id, instance, address, token, state)"
                       " SELECT d.id, s.id, ?, '', ?, 'launching'"
                       " FROM devices d JOIN vms v ON v.id = d.vm_id,"
                       " platforms s WHERE v.name = ? AND d.name = ?"
                       " AND s.name = ?", "sssss", instance, token, vm, dev,
                       server) &&
           changed_one(db, vm, dev, errp);
}

bool orch_rec_placement_delete(sqlite3 *db, const char *vm, const char *dev,
                               GError **errp)
{
    return orch_db_run(db, errp, "DELETE FROM placements WHERE device_id = "
                       DEVICE_ROW, "ss", vm, dev) &&
           changed_one(db, vm, dev, errp);
}

bool orch_rec_placement_launched(sqlite3 *db, const char *vm,
                                 const char *dev, const char *address,
                                 const char *console, const char *state,
                                 GError **errp)
{
    return orch_db_run(db, errp, "UPDATE placements SET address = ?,"
                       " console = ?, state = ? WHERE device_id = "
                       DEVICE_ROW, "sssss", address, console, state, vm,
                       dev) &&
           changed_one(db, vm, dev, errp);
}

bool orch_rec_route_set(sqlite3 *db, const char *vm, const char *dev,
                        const char *id, const char *address, GError **errp)
{
    return orch_db_run(db, errp, "UPDATE placements SET route_id = ?,"
                       " route_address = ? WHERE device_id = " DEVICE_ROW,
                       "ssss", id, address, vm, dev) &&
           changed_one(db, vm, dev, errp);
}
