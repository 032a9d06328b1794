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
#include "records-bind.h"
#include "records.h"
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

/*
 * Whether route @id on owner @name is one the database knows: the
 * placement of a device reached through @name holds it (on the store,
 * "routes/ID": store-routes.h's orch_route_doc_known).
 */
static bool reconcile_route_known(sqlite3 *db, const char *name,
                                  const char *id)
{
    g_autoptr(JsonObject) r = orch_rec_route(db, id);
    g_autoptr(JsonObject) vm = r ? orch_rec_vm(db, orch_rec_str(r, "vm")) :
        NULL;
    JsonArray *devs = vm ? json_object_get_array_member(vm, "devices") :
        NULL;
    guint i;

    for (i = 0; devs && i < json_array_get_length(devs); i++) {
        JsonObject *d = json_array_get_object_element(devs, i);

        if (!g_strcmp0(orch_rec_str(d, "name"), orch_rec_str(r, "device"))) {
            return !g_strcmp0(orch_rec_str(d, "via"), name);
        }
    }
    return false;
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

    /* Unread is not unknown: nothing is deleted on a failed read. */
    if (!id || reconcile_route_known(db, name, id) ||
        orch_rec_read_error_pending()) {
        return 0;
    }
    path = g_strconcat("/v1/routes/", id, NULL);
    orch_undo_add(&d, address, path);
    orch_undo_run(&d);
    vm = uuid ? orch_rec_vm_by_uuid(db, uuid) : NULL;
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
    g_autoptr(GPtrArray) platforms = orch_rec_platforms(db);
    int changes = 0;
    guint j;

    for (j = 0; j < platforms->len; j++) {
        const char *name = orch_rec_str(platforms->pdata[j], "name");
        const char *address = orch_rec_str(platforms->pdata[j], "address");
        g_autoptr(JsonArray) routes = NULL;
        guint i;

        if (g_strcmp0(orch_rec_str(platforms->pdata[j], "role"),
                      "server") != 0 ||
            !g_hash_table_contains(answered, name)) {
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
