/*
 * dm-orchestrator: the placements as documents on the store
 * (store-placements.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "error.h"
#include "json-http.h"
#include "json-limits.h"
#include "store-load.h"
#include "store-placements.h"

static char *placement_key(const char *root, const char *vm,
                           const char *dev)
{
    return g_strconcat(root, "placements/", vm, "/", dev, NULL);
}

static char *placement_text(JsonObject *o)
{
    g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), o);

    return json_to_string(n, FALSE);
}

static void set_str_or_null(JsonObject *o, const char *member,
                            const char *value)
{
    if (value) {
        json_object_set_string_member(o, member, value);
    } else {
        json_object_set_null_member(o, member);
    }
}

bool orch_placement_read(OrchStoreView *v, const char *root, const char *vm,
                         const char *dev, JsonObject **ret, GError **errp)
{
    g_autofree char *key = placement_key(root, vm, dev);
    g_autofree char *text = NULL;
    g_autoptr(JsonNode) n = NULL;
    g_autoptr(GError) err = NULL;

    *ret = NULL;
    if (!orch_view_get(v, key, &text, errp)) {
        return false;
    }
    if (!text) {
        return true;
    }
    /* From etcd, perhaps written by another: depth checked first. */
    n = dm_json_parse_peer(text, strlen(text), DM_JSON_MAX_DEPTH, &err);
    if (!n) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL,
                    "store: %s refused: %s", key, err->message);
        return false;
    }
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL,
                    "store: %s is not a JSON object", key);
        return false;
    }
    *ret = json_object_ref(json_node_get_object(n));
    return true;
}

/* Whether the name @instance is free as @v reads it (remembered). */
static bool placement_instance_free(OrchStoreView *v, const char *root,
                                    const char *instance, bool *free_,
                                    GError **errp)
{
    g_autofree char *key = g_strconcat(root, "instances/", instance, NULL);
    g_autofree char *text = NULL;

    if (!orch_view_get(v, key, &text, errp)) {
        return false;
    }
    *free_ = text == NULL;
    return true;
}

bool orch_placement_claim(OrchStoreView *v, const char *root,
                          const char *vm, const char *dev,
                          const char *model, const char *pinned,
                          const char *instance, const char *token,
                          char **server, GError **errp)
{
    g_autoptr(JsonObject) had = NULL;
    g_autoptr(JsonObject) p = json_object_new();
    g_autoptr(JsonObject) claim = json_object_new();
    g_autofree char *key = placement_key(root, vm, dev);
    g_autofree char *ikey = g_strconcat(root, "instances/", instance, NULL);
    g_autofree char *text = NULL, *ctext = NULL;
    bool free_;

    *server = NULL;
    /* Both read through the view: the commit holds only if still so. */
    if (!orch_placement_read(v, root, vm, dev, &had, errp) ||
        !placement_instance_free(v, root, instance, &free_, errp)) {
        return false;
    }
    if (had) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "device '%s' of VM '%s' is placed already", dev, vm);
        return false;
    }
    if (!free_) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "instance '%s' exists", instance);
        return false;
    }
    if (!orch_load_claim(v, root, dev, model, pinned, server, errp)) {
        return false;
    }
    json_object_set_string_member(p, "server", *server);
    json_object_set_string_member(p, "instance", instance);
    json_object_set_null_member(p, "address");
    json_object_set_string_member(p, "token", token);
    json_object_set_null_member(p, "console");
    json_object_set_string_member(p, "state", "launching");
    json_object_set_null_member(p, "route_id");
    json_object_set_null_member(p, "route_address");
    text = placement_text(p);
    orch_view_put(v, key, text);
    json_object_set_string_member(claim, "vm", vm);
    json_object_set_string_member(claim, "device", dev);
    ctext = placement_text(claim);
    orch_view_put(v, ikey, ctext);
    return true;
}

bool orch_placement_launched(OrchStoreView *v, const char *root,
                             const char *vm, const char *dev,
                             const char *address, const char *console,
                             const char *state, GError **errp)
{
    g_autoptr(JsonObject) p = NULL;
    g_autofree char *key = placement_key(root, vm, dev);
    g_autofree char *text = NULL;

    if (!orch_placement_read(v, root, vm, dev, &p, errp)) {
        return false;
    }
    if (!p) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND,
                    "device '%s' of VM '%s' is not placed", dev, vm);
        return false;
    }
    json_object_set_string_member(p, "address", address);
    set_str_or_null(p, "console", console);
    json_object_set_string_member(p, "state", state);
    text = placement_text(p);
    orch_view_put(v, key, text);
    return true;
}

bool orch_placement_release(OrchStoreView *v, const char *root,
                            const char *vm, const char *dev, GError **errp)
{
    g_autoptr(JsonObject) p = NULL;
    g_autofree char *key = placement_key(root, vm, dev);
    g_autofree char *ikey = NULL;
    const char *route, *server;

    if (!orch_placement_read(v, root, vm, dev, &p, errp)) {
        return false;
    }
    if (!p) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND,
                    "device '%s' of VM '%s' is not placed", dev, vm);
        return false;
    }
    server = json_object_get_string_member_with_default(p, "server", NULL);
    route = json_object_get_string_member_with_default(p, "route_id", NULL);
    ikey = g_strconcat(root, "instances/",
                       json_object_get_string_member_with_default(
                           p, "instance", ""), NULL);
    orch_view_delete(v, key);
    orch_view_delete(v, ikey);
    if (route) {
        g_autofree char *rkey = g_strconcat(root, "routes/", route, NULL);

        orch_view_delete(v, rkey);
    }
    return !server || orch_load_release(v, root, server, errp);
}
