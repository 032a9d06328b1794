/*
 * dm-orchestrator: the handlers' writes of the tables by names and
 * documents (records-set.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "db.h"
#include "error.h"
#include "records.h"
#include "records-bind.h"
#include "records-set.h"
#include "store-placements.h"
#include "store-platform-remove.h"
#include "store-platforms.h"
#include "store-routes.h"
#include "store-vms.h"

/* The root of the twins' keys (records-bind.h). */
#define TWIN_ROOT orch_rec_bound_root()

/*
 * The view a twin writes in, NULL if there is no store; *@own is it when
 * it is the write's own (no section), for twin_end to commit.
 */
static OrchStoreView *twin_begin(OrchStoreView **own)
{
    OrchStoreView *v = orch_rec_bound_view();

    *own = NULL;
    if (v || !orch_rec_bound_store()) {
        return v;
    }
    return *own = orch_view_new(orch_rec_bound_store());
}

static bool twin_end(OrchStoreView *own, bool ok, GError **errp)
{
    if (own) {
        ok = ok && orch_view_commit(own, NULL, errp);
        orch_view_free(own);
    }
    return ok;
}

/* The members orch_rec_vm_update writes, copied onto the store's doc. */
static bool twin_vm_update(JsonObject *doc, GError **errp)
{
    static const char *const members[] = {
        "state", "client", "hypervisor", "saved_file", NULL,
    };
    OrchStoreView *own, *v = twin_begin(&own);
    g_autoptr(JsonObject) cur = NULL;
    const char *name = orch_rec_str(doc, "name");
    bool ok;

    if (!v) {
        return true;
    }
    ok = orch_vm_doc_read(v, TWIN_ROOT, name, &cur, errp);
    if (ok && !cur) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND,
                    "the store: no VM '%s'", name);
        ok = false;
    }
    for (guint i = 0; ok && members[i]; i++) {
        JsonNode *n = json_object_get_member(doc, members[i]);

        json_object_set_member(cur, members[i], n ? json_node_copy(n) :
                               json_node_new(JSON_NODE_NULL));
    }
    ok = ok && orch_vm_doc_update(v, TWIN_ROOT, cur, errp);
    return twin_end(own, ok, errp);
}

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
    return twin_vm_update(doc, errp);
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
    {
        OrchStoreView *own, *v = twin_begin(&own);

        return !v || twin_end(own, orch_vm_doc_create(v, TWIN_ROOT, doc,
                                                      errp), errp);
    }
}

/* Release in @v every placement VM @vm's document lists a device of. */
static bool twin_release_all(OrchStoreView *v, const char *vm,
                             GError **errp)
{
    g_autoptr(JsonObject) doc = NULL;
    JsonArray *devs;

    if (!orch_vm_doc_read(v, TWIN_ROOT, vm, &doc, errp)) {
        return false;
    }
    devs = doc ? json_object_get_array_member(doc, "devices") : NULL;
    for (guint i = 0; devs && i < json_array_get_length(devs); i++) {
        const char *dev = orch_rec_str(json_array_get_object_element(devs,
                                                                     i),
                                       "name");
        g_autoptr(JsonObject) p = NULL;

        if (!orch_placement_read(v, TWIN_ROOT, vm, dev, &p, errp) ||
            (p && !orch_placement_release(v, TWIN_ROOT, vm, dev, errp))) {
            return false;
        }
    }
    return true;
}

bool orch_rec_vm_remove(sqlite3 *db, const char *name, GError **errp)
{
    OrchStoreView *own, *v;

    if (!orch_db_run(db, errp, "DELETE FROM vms WHERE name = ?", "s",
                     name)) {
        return false;
    }
    v = twin_begin(&own);
    /* The rows' placements go with them (ON DELETE CASCADE). */
    return !v || twin_end(own, twin_release_all(v, name, errp) &&
                          orch_vm_doc_remove(v, TWIN_ROOT, name, errp),
                          errp);
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
    {
        OrchStoreView *own, *v = twin_begin(&own);

        return !v || twin_end(own, orch_platform_add_doc(v, TWIN_ROOT, doc,
                                                         errp), errp);
    }
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
    {
        OrchStoreView *own, *v = twin_begin(&own);

        return !v || twin_end(own, orch_platform_update_doc(v, TWIN_ROOT,
                                                            doc, errp),
                              errp);
    }
}

bool orch_rec_platform_remove(sqlite3 *db, const char *name, GError **errp)
{
    OrchStoreView *own, *v;

    if (!orch_db_run(db, errp, "UPDATE vms SET client_id = NULL WHERE"
                     " client_id = (SELECT id FROM platforms"
                     " WHERE name = ?)", "s", name) ||
        !orch_db_run(db, errp, "DELETE FROM platforms WHERE name = ?", "s",
                     name)) {
        return false;
    }
    v = twin_begin(&own);
    return !v || twin_end(own, orch_platform_remove_doc(v, TWIN_ROOT, name,
                                                        errp), errp);
}

bool orch_rec_placements_delete(sqlite3 *db, const char *vm, GError **errp)
{
    OrchStoreView *own, *v;

    if (!orch_db_run(db, errp, "DELETE FROM placements WHERE device_id IN"
                     " (SELECT d.id FROM devices d JOIN vms v"
                     " ON v.id = d.vm_id WHERE v.name = ?)", "s", vm)) {
        return false;
    }
    v = twin_begin(&own);
    return !v || twin_end(own, twin_release_all(v, vm, errp), errp);
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

/* The claim on @server the tables chose, with the model the VM names. */
static bool twin_claim(const char *vm, const char *dev, const char *server,
                       const char *instance, const char *token,
                       GError **errp)
{
    OrchStoreView *own, *v = twin_begin(&own);
    g_autoptr(JsonObject) doc = NULL;
    g_autofree char *chosen = NULL;
    JsonObject *d;
    bool ok;

    if (!v) {
        return true;
    }
    ok = orch_vm_doc_read(v, TWIN_ROOT, vm, &doc, errp);
    d = doc ? orch_vm_doc_device(doc, dev) : NULL;
    if (ok && !d) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND,
                    "the store: no device '%s' of VM '%s'", dev, vm);
        ok = false;
    }
    ok = ok && orch_placement_claim(v, TWIN_ROOT, vm, dev,
                                    orch_rec_str(d, "model"), server,
                                    instance, token, &chosen, errp);
    return twin_end(own, ok, errp);
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
           changed_one(db, vm, dev, errp) &&
           twin_claim(vm, dev, server, instance, token, errp);
}

bool orch_rec_placement_delete(sqlite3 *db, const char *vm, const char *dev,
                               GError **errp)
{
    OrchStoreView *own, *v;

    if (!orch_db_run(db, errp, "DELETE FROM placements WHERE device_id = "
                     DEVICE_ROW, "ss", vm, dev) ||
        !changed_one(db, vm, dev, errp)) {
        return false;
    }
    v = twin_begin(&own);
    return !v || twin_end(own, orch_placement_release(v, TWIN_ROOT, vm, dev,
                                                      errp), errp);
}

static bool twin_launched(const char *vm, const char *dev,
                          const char *address, const char *console,
                          const char *state, GError **errp)
{
    OrchStoreView *own, *v = twin_begin(&own);

    return !v || twin_end(own, orch_placement_launched(v, TWIN_ROOT, vm, dev,
                                                       address, console,
                                                       state, errp), errp);
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
           changed_one(db, vm, dev, errp) &&
           twin_launched(vm, dev, address, console, state, errp);
}

static bool twin_route(const char *vm, const char *dev, const char *id,
                       const char *address, GError **errp)
{
    OrchStoreView *own, *v = twin_begin(&own);

    return !v || twin_end(own, orch_route_doc_set(v, TWIN_ROOT, vm, dev, id,
                                                  address, errp), errp);
}

bool orch_rec_route_set(sqlite3 *db, const char *vm, const char *dev,
                        const char *id, const char *address, GError **errp)
{
    return orch_db_run(db, errp, "UPDATE placements SET route_id = ?,"
                       " route_address = ? WHERE device_id = " DEVICE_ROW,
                       "ssss", id, address, vm, dev) &&
           changed_one(db, vm, dev, errp) &&
           twin_route(vm, dev, id, address, errp);
}
