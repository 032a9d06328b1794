/*
 * dm-orchestrator: routes on owner servers (the patent's Fig. 6).
 *
 * A device that names an owner ("via") is placed and launched on an I/O
 * server like any other.  Then the owner's launcher is asked for a route
 * from the identifiers QEMU will present in VERSION (the device-model id
 * and the VM id) to the instance, and QEMU is pointed at the owner's
 * router instead of at the instance.  The route lives as long as the
 * placement: a migration or a save and restore keep it, since the
 * router's address does not change.  Worker thread only.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "address.h"
#include "db.h"
#include "error.h"
#include "launcher.h"
#include "records.h"
#include "records-set.h"
#include "routes.h"

static JsonNode *route_request(const char *id, const char *vm_uuid,
                               const char *target)
{
    JsonNode *body = json_node_new(JSON_NODE_OBJECT);
    JsonObject *o = json_object_new();

    /* The instance id is the device-model id QEMU sends: see qemu-args.c */
    json_object_set_string_member(o, "id", id);
    json_object_set_string_member(o, "device_model", id);
    json_object_set_string_member(o, "vm", vm_uuid);
    json_object_set_string_member(o, "target", target);
    json_node_take_object(body, o);
    return body;
}

/* The route's "address" (the owner's router) from the launcher's reply. */
static bool route_parse_reply(const char *owner, JsonNode *reply,
                              const char **ret_addr, GError **errp)
{
    *ret_addr = reply && JSON_NODE_HOLDS_OBJECT(reply) ?
        orch_launcher_str(json_node_get_object(reply), "address") : NULL;
    if (!*ret_addr || !orch_address_valid(*ret_addr, NULL)) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_GATEWAY,
                    "launcher %s: the route has no usable address", owner);
        return false;
    }
    return true;
}

bool orch_route_add(sqlite3 *db, OrchUndo *undo, const char *vm,
                    const char *vm_uuid, const char *dev, const char *via,
                    const char *instance, GError **errp)
{
    g_autoptr(JsonObject) o = orch_rec_platform(db, via);
    g_autoptr(JsonObject) p = orch_rec_placement(db, vm, dev);
    const char *owner = orch_rec_str(o, "address");
    const char *target = orch_rec_str(p, "address");
    g_autofree char *path = g_strconcat("/v1/routes/", instance, NULL);
    g_autoptr(JsonNode) body = NULL;
    g_autoptr(JsonNode) reply = NULL;
    const char *addr;

    if (!owner || !target) {
        /* Platforms named by a device cannot be removed: not expected. */
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT, "device '%s': "
                    "its owner server or its placement is gone", dev);
        return false;
    }
    body = route_request(instance, vm_uuid, target);
    if (!orch_launcher_expect(owner, "POST", "/v1/routes", body, 201,
                              &reply, errp)) {
        return false;
    }
    orch_undo_add(undo, owner, path);
    return route_parse_reply(owner, reply, &addr, errp) &&
           orch_rec_route_set(vm, dev, instance, addr, errp);
}
