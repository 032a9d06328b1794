/*
 * dm-orchestrator: the documents of the key layout read through a store
 * view (records-view.h), with the store layers' reads.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "error.h"
#include "json-http.h"
#include "json-limits.h"
#include "records-view.h"
#include "store-clients.h"
#include "store-load.h"
#include "store-placements.h"
#include "store-platforms.h"
#include "store-routes.h"
#include "store-vms.h"

JsonObject *orch_recv_vm(OrchStoreView *v, const char *root,
                         const char *name, GError **errp)
{
    JsonObject *o = NULL;

    orch_vm_doc_read(v, root, name, &o, errp);
    return o;
}

/* The names of the keys directly under ROOT @dir ("vms/", "platforms/"). */
static GPtrArray *recv_names(OrchStoreView *v, const char *root,
                             const char *dir, GError **errp)
{
    g_autofree char *prefix = g_strconcat(root, dir, NULL);
    g_autoptr(GPtrArray) kvs = orch_view_list(v, prefix, errp);
    GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
    size_t n = strlen(prefix);

    for (guint i = 0; kvs && i < kvs->len; i++) {
        OrchKv *kv = g_ptr_array_index(kvs, i);

        /* Key order is name order: both are byte order. */
        if (!strchr(kv->key + n, '/')) {
            g_ptr_array_add(a, g_strdup(kv->key + n));
        }
    }
    return a;
}

GPtrArray *orch_recv_vm_names(OrchStoreView *v, const char *root,
                              GError **errp)
{
    return recv_names(v, root, "vms/", errp);
}

JsonObject *orch_recv_placement(OrchStoreView *v, const char *root,
                                const char *vm, const char *dev,
                                GError **errp)
{
    JsonObject *o = NULL;

    orch_placement_read(v, root, vm, dev, &o, errp);
    return o;
}

static JsonObject *recv_vm_device(const char *vm, const char *dev)
{
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "vm", vm);
    json_object_set_string_member(o, "device", dev);
    return o;
}

JsonObject *orch_recv_instance(OrchStoreView *v, const char *root,
                               const char *instance, GError **errp)
{
    g_autofree char *key = g_strconcat(root, "instances/", instance, NULL);
    g_autofree char *text = NULL;
    g_autoptr(JsonNode) n = NULL;
    JsonObject *o;
    const char *vm, *dev;

    if (!orch_view_get(v, key, &text, errp) || !text) {
        return NULL;
    }
    /* From etcd, perhaps written by another: depth checked first. */
    n = dm_json_parse_peer(text, strlen(text), DM_JSON_MAX_DEPTH, NULL);
    o = n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
    vm = o ? json_object_get_string_member_with_default(o, "vm", NULL) :
        NULL;
    dev = o ? json_object_get_string_member_with_default(o, "device", NULL) :
        NULL;
    if (!vm || !dev) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL,
                    "store: %s is not an object with \"vm\" and \"device\"",
                    key);
        return NULL;
    }
    return recv_vm_device(vm, dev);
}

JsonObject *orch_recv_route(OrchStoreView *v, const char *root,
                            const char *id, GError **errp)
{
    g_autofree char *vm = NULL, *dev = NULL;

    if (!orch_route_doc_read(v, root, id, &vm, &dev, errp) || !vm) {
        return NULL;
    }
    return recv_vm_device(vm, dev);
}

char *orch_recv_vm_by_uuid(OrchStoreView *v, const char *root,
                           const char *uuid, GError **errp)
{
    char *name = NULL;

    orch_vm_doc_by_uuid(v, root, uuid, &name, errp);
    return name;
}

JsonObject *orch_recv_platform(OrchStoreView *v, const char *root,
                               const char *name, GError **errp)
{
    JsonObject *o = NULL;

    orch_platform_read(v, root, name, &o, errp);
    return o;
}

GPtrArray *orch_recv_platform_names(OrchStoreView *v, const char *root,
                                    GError **errp)
{
    return recv_names(v, root, "platforms/", errp);
}

GPtrArray *orch_recv_platforms(OrchStoreView *v, const char *root,
                               GError **errp)
{
    GPtrArray *a = orch_platform_read_all(v, root, errp);

    return a ? a : g_ptr_array_new_with_free_func(
        (GDestroyNotify)json_object_unref);
}

gint64 orch_recv_server_used(OrchStoreView *v, const char *root,
                             const char *server, GError **errp)
{
    gint64 n = orch_load_used(v, root, server, errp);

    return n < 0 ? 0 : n;
}

gint64 orch_recv_client_running(OrchStoreView *v, const char *root,
                                const char *client, GError **errp)
{
    g_autoptr(GHashTable) loads = orch_client_loads(v, root, errp);

    return loads ? GPOINTER_TO_INT(g_hash_table_lookup(loads, client)) : 0;
}
