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
#include <errno.h>

#include "address.h"
#include "db.h"
#include "request.h"
#include "routes.h"
#include "vm.h"

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
static int route_parse_reply(OrchRequest *r, const char *owner,
                             JsonNode *reply, const char **ret_addr)
{
    if (!reply || !JSON_NODE_HOLDS_OBJECT(reply) ||
        orch_body_str(r, json_node_get_object(reply), "address", true,
                      ret_addr) < 0 ||
        !orch_address_valid(*ret_addr, NULL)) {
        g_clear_pointer(&r->error, g_free);
        return orch_fail(r, 502, "launcher %s: the route has no usable "
                         "address", owner);
    }
    return 0;
}

int orch_route_add(OrchRequest *r, OrchVm *vm, const char *dev,
                   gint64 via_id, const char *instance)
{
    g_autofree char *owner = orch_db_str(r->db, "SELECT address FROM "
                                         "platforms WHERE id = ?", "i",
                                         via_id);
    g_autofree char *target = orch_db_str(r->db, "SELECT address FROM "
                                          "placements WHERE instance = ?",
                                          "s", instance);
    g_autofree char *path = g_strconcat("/v1/routes/", instance, NULL);
    g_autoptr(JsonNode) body = NULL;
    g_autoptr(JsonNode) reply = NULL;
    const char *addr;
    int ret;

    if (!owner || !target) {
        /* Platforms named by a device cannot be removed: not expected. */
        return orch_fail(r, 409, "device '%s': its owner server or its "
                         "placement is gone", dev);
    }
    body = route_request(instance, vm->uuid, target);
    ret = orch_launcher_expect(r, owner, "POST", "/v1/routes", body, 201,
                               &reply);
    if (ret < 0) {
        return ret;
    }
    orch_undo_add(r, owner, path);
    ret = route_parse_reply(r, owner, reply, &addr);
    if (ret < 0) {
        return ret;
    }
    return orch_db_run(r->db, "UPDATE placements SET route_id = ?,"
                       " route_address = ? WHERE instance = ?", "sss",
                       instance, addr, instance);
}
