/*
 * dm-orchestrator: the routes through owner servers as documents on the
 * store (store-routes.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "error.h"
#include "json-http.h"
#include "json-limits.h"
#include "store-placements.h"
#include "store-routes.h"
#include "store-vms.h"

static char *route_text(JsonObject *o)
{
    g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), o);

    return json_to_string(n, FALSE);
}

bool orch_route_doc_read(OrchStoreView *v, const char *root, const char *id,
                         char **vm, char **dev, GError **errp)
{
    g_autofree char *key = g_strconcat(root, "routes/", id, NULL);
    g_autofree char *text = NULL;
    g_autoptr(JsonNode) n = NULL;
    g_autoptr(GError) err = NULL;
    JsonObject *o;
    const char *a, *b;

    *vm = *dev = NULL;
    if (!orch_view_get(v, key, &text, errp)) {
        return false;
    }
    if (!text) {
        return true;
    }
    /* From etcd, perhaps written by another: depth checked first. */
    n = dm_json_parse_peer(text, strlen(text), DM_JSON_MAX_DEPTH, &err);
    o = n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
    a = o ? json_object_get_string_member_with_default(o, "vm", NULL) : NULL;
    b = o ? json_object_get_string_member_with_default(o, "device", NULL) :
        NULL;
    if (!a || !b) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL,
                    "store: %s refused: %s", key, err ? err->message :
                    "not an object with \"vm\" and \"device\"");
        return false;
    }
    *vm = g_strdup(a);
    *dev = g_strdup(b);
    return true;
}

bool orch_route_doc_set(OrchStoreView *v, const char *root, const char *vm,
                        const char *dev, const char *id, const char *address,
                        GError **errp)
{
    g_autoptr(JsonObject) p = NULL;
    g_autoptr(JsonObject) claim = json_object_new();
    g_autofree char *pkey = g_strconcat(root, "placements/", vm, "/", dev,
                                        NULL);
    g_autofree char *rkey = g_strconcat(root, "routes/", id, NULL);
    g_autofree char *hvm = NULL, *hdev = NULL;
    g_autofree char *text = NULL, *ctext = NULL;
    const char *had;

    /* Both read through the view: the commit holds only if still so. */
    if (!orch_placement_read(v, root, vm, dev, &p, errp) ||
        !orch_route_doc_read(v, root, id, &hvm, &hdev, errp)) {
        return false;
    }
    if (!p) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND,
                    "device '%s' of VM '%s' is not placed", dev, vm);
        return false;
    }
    had = json_object_get_string_member_with_default(p, "route_id", NULL);
    if (had) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "device '%s' of VM '%s' has route '%s' already", dev,
                    vm, had);
        return false;
    }
    if (hvm) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "route '%s' is held by device '%s' of VM '%s'", id,
                    hdev, hvm);
        return false;
    }
    json_object_set_string_member(p, "route_id", id);
    json_object_set_string_member(p, "route_address", address);
    text = route_text(p);
    json_object_set_string_member(claim, "vm", vm);
    json_object_set_string_member(claim, "device", dev);
    ctext = route_text(claim);
    orch_view_put(v, pkey, text);
    orch_view_put(v, rkey, ctext);
    return true;
}

bool orch_route_doc_known(OrchStoreView *v, const char *root, const char *id,
                          const char *owner, bool *known, GError **errp)
{
    g_autofree char *vm = NULL, *dev = NULL;
    g_autoptr(JsonObject) doc = NULL;
    g_autoptr(JsonObject) p = NULL;
    JsonObject *d;

    *known = false;
    if (!orch_route_doc_read(v, root, id, &vm, &dev, errp)) {
        return false;
    }
    if (!vm) {
        return true;
    }
    if (!orch_vm_doc_read(v, root, vm, &doc, errp) ||
        !orch_placement_read(v, root, vm, dev, &p, errp)) {
        return false;
    }
    d = doc ? orch_vm_doc_device(doc, dev) : NULL;
    *known = d && p &&
        g_strcmp0(json_object_get_string_member_with_default(d, "via",
                                                             NULL),
                  owner) == 0 &&
        g_strcmp0(json_object_get_string_member_with_default(p, "route_id",
                                                             NULL),
                  id) == 0;
    return true;
}
