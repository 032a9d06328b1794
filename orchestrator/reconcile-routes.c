/*
 * dm-orchestrator: reconciling the owner servers' routes at start-up.
 *
 * A route is added right after its instance is launched, in the same
 * transaction: an orchestrator that died before the commit leaves a
 * route that no placement knows on the owner (to an instance that
 * reconcile.c deletes as unknown).  Such routes are deleted the same way.
 * This runs after the VMs are repaired, so the routes of the VMs stopped
 * there are gone already and are not counted twice.
 *
 * Main thread, inside reconcile.c's transaction.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "db.h"
#include "launcher.h"
#include "log.h"
#include "reconcile-routes.h"
#include "store-events.h"
#include "undo.h"

/* The routes @name's launcher has, or NULL (warned) if no answer. */
static JsonArray *reconcile_routes_get(const char *name, const char *address)
{
    g_autoptr(JsonNode) reply = NULL;
    g_autoptr(GError) err = NULL;
    guint status = 0;
    JsonNode *list;

    if (!orch_launcher_call(address, "GET", "/v1/routes", NULL, &status,
                            &reply, &err) || status != 200) {
        orch_warn("reconcile: platform %s: GET /v1/routes: %s; its routes "
                  "are left as they are", name, err ? err->message :
                  "not answered");
        return NULL;
    }
    list = reply && JSON_NODE_HOLDS_OBJECT(reply) ?
        json_object_get_member(json_node_get_object(reply), "routes") : NULL;
    if (!list || !JSON_NODE_HOLDS_ARRAY(list)) {
        orch_warn("reconcile: platform %s: GET /v1/routes has no 'routes'; "
                  "they are left as they are", name);
        return NULL;
    }
    return json_array_ref(json_node_get_array(list));
}

/* Delete route @id on @name if no placement of a device via @name has it. */
static int reconcile_route(sqlite3 *db, const char *name,
                           const char *address, JsonObject *route)
{
    const char *id = orch_launcher_str(route, "id");
    const char *uuid = orch_launcher_str(route, "vm");
    g_autofree char *path = NULL;
    g_autofree char *vm = NULL;
    g_autofree char *msg = NULL;
    OrchUndo d = { 0 };

    if (!id || orch_db_int(db, 0, "SELECT count(*) FROM placements p"
                           " JOIN devices dv ON dv.id = p.device_id"
                           " JOIN platforms o ON o.id = dv.via_id"
                           " WHERE p.route_id = ? AND o.name = ?", "ss", id,
                           name) > 0) {
        return 0;
    }
    path = g_strconcat("/v1/routes/", id, NULL);
    orch_undo_add(&d, address, path);
    orch_undo_run(&d);
    vm = uuid ? orch_db_str(db, "SELECT name FROM vms WHERE uuid = ?", "s",
                            uuid) : NULL;
    msg = g_strdup_printf("route %s on %s is unknown to the database: "
                          "deleted", id, name);
    orch_events_add(vm ? vm : "-", msg);
    if (vm) {
        orch_info("reconcile: VM %s: %s", vm, msg);
    } else {
        orch_info("reconcile: %s", msg);
    }
    return 1;
}

int orch_reconcile_routes(sqlite3 *db, GHashTable *answered)
{
    g_autoptr(sqlite3_stmt) st = orch_db_stmt(db,
        "SELECT name, address FROM platforms WHERE role = 'server'"
        " ORDER BY name", "");
    int changes = 0;

    while (st && sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *address = (const char *)sqlite3_column_text(st, 1);
        g_autoptr(JsonArray) routes = NULL;
        guint i;

        if (!g_hash_table_contains(answered, name)) {
            continue;       /* warned about already */
        }
        routes = reconcile_routes_get(name, address);
        for (i = 0; routes && i < json_array_get_length(routes); i++) {
            JsonNode *e = json_array_get_element(routes, i);

            if (JSON_NODE_HOLDS_OBJECT(e)) {
                changes += reconcile_route(db, name, address,
                                           json_node_get_object(e));
            }
        }
    }
    return changes;
}
