/*
 * dm-orchestrator: the platforms as documents on the store
 * (store-platforms.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "catalogue.h"
#include "error.h"
#include "json-http.h"
#include "json-limits.h"
#include "store-platforms.h"

JsonObject *orch_platform_doc_new(const char *name, const char *role,
                                  const char *address, gint64 capacity,
                                  const char *hypervisor, JsonObject *health,
                                  JsonArray *chosen, GError **errp)
{
    g_autoptr(JsonObject) o = json_object_new();
    JsonArray *models = NULL;

    if (strcmp(role, "server") == 0) {
        models = orch_catalogue_doc_models(health, chosen, errp);
        if (!models) {
            return NULL;
        }
    }
    json_object_set_string_member(o, "name", name);
    json_object_set_string_member(o, "role", role);
    json_object_set_string_member(o, "address", address);
    json_object_set_int_member(o, "capacity", capacity);
    if (hypervisor) {
        json_object_set_string_member(o, "hypervisor", hypervisor);
    } else {
        json_object_set_null_member(o, "hypervisor");
    }
    json_object_set_boolean_member(o, "model_tls",
                                   orch_health_model_tls(health));
    json_object_set_array_member(o, "models", models ? models :
                                 json_array_new());
    return g_steal_pointer(&o);
}

static char *platform_key(const char *root, const char *name)
{
    return g_strconcat(root, "platforms/", name, NULL);
}

static char *platform_text(JsonObject *doc)
{
    g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), doc);

    return json_to_string(n, FALSE);
}

bool orch_platform_read(OrchStoreView *v, const char *root,
                        const char *name, JsonObject **ret, GError **errp)
{
    g_autofree char *key = platform_key(root, name);
    g_autofree char *text = NULL;

    *ret = NULL;
    if (!orch_view_get(v, key, &text, errp)) {
        return false;
    }
    if (text && !(*ret = dm_json_object_parse(text))) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL,
                    "store: %s is not a JSON object", key);
        return false;
    }
    return true;
}

GPtrArray *orch_platform_read_all(OrchStoreView *v, const char *root,
                                  GError **errp)
{
    g_autofree char *prefix = g_strconcat(root, "platforms/", NULL);
    g_autoptr(GPtrArray) kvs = orch_view_list(v, prefix, errp);
    GPtrArray *out;

    if (!kvs) {
        return NULL;
    }
    out = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
    for (guint i = 0; i < kvs->len; i++) {
        OrchKv *kv = g_ptr_array_index(kvs, i);
        JsonObject *o = dm_json_object_parse(kv->value);

        if (!o) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL,
                        "store: %s is not a JSON object", kv->key);
            g_ptr_array_unref(out);
            return NULL;
        }
        g_ptr_array_add(out, o);
    }
    return out;
}

/* Write @doc at its name's key if its presence there is @exists. */
static bool platform_write(OrchStoreView *v, const char *root,
                           JsonObject *doc, bool exists, GError **errp)
{
    const char *name = json_object_get_string_member_with_default(
        doc, "name", NULL);
    g_autoptr(JsonObject) had = NULL;
    g_autofree char *key = NULL;
    g_autofree char *text = NULL;

    if (!name) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL,
                    "store: a platform without a name");
        return false;
    }
    /* Read through the view: the commit holds only if it is still so. */
    if (!orch_platform_read(v, root, name, &had, errp)) {
        return false;
    }
    if (had && !exists) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "platform '%s' exists", name);
        return false;
    }
    if (!had && exists) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND,
                    "no platform '%s'", name);
        return false;
    }
    key = platform_key(root, name);
    text = platform_text(doc);
    orch_view_put(v, key, text);
    return true;
}

bool orch_platform_add_doc(OrchStoreView *v, const char *root,
                           JsonObject *doc, GError **errp)
{
    return platform_write(v, root, doc, false, errp);
}

bool orch_platform_update_doc(OrchStoreView *v, const char *root,
                              JsonObject *doc, GError **errp)
{
    return platform_write(v, root, doc, true, errp);
}

void orch_platform_delete_doc(OrchStoreView *v, const char *root,
                              const char *name)
{
    g_autofree char *key = platform_key(root, name);
    g_autofree char *load = g_strconcat(root, "load/", name, NULL);

    orch_view_delete(v, key);
    orch_view_delete(v, load);
}

bool orch_platform_doc_lost(JsonObject *p)
{
    return p && g_strcmp0(json_object_get_string_member_with_default(
                              p, "registration", NULL), "lost") == 0;
}

char *orch_platform_lost_why(const char *name)
{
    return g_strdup_printf("platform '%s' lost its launcher (its "
                           "registration in etcd expired)", name);
}
