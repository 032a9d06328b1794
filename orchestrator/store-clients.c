/*
 * dm-orchestrator: the client platform's choice on the store
 * (store-clients.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "error.h"
#include "json-http.h"
#include "json-limits.h"
#include "store-clients.h"
#include "store-platforms.h"

/*
 * The documents under ROOT @dir as @v would see them, read from the store
 * itself (not remembered): a key @v wrote as it wrote it (skipped if it
 * deleted it).  A document @v wrote that the store lacks is not listed.
 */
static GPtrArray *clients_list(OrchStoreView *v, const char *root,
                               const char *dir, GError **errp)
{
    g_autofree char *prefix = g_strconcat(root, dir, NULL);
    g_autoptr(GPtrArray) kvs = orch_store_list(orch_view_store(v), prefix,
                                               NULL, errp);
    GPtrArray *out;

    if (!kvs) {
        return NULL;
    }
    out = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
    for (guint i = 0; i < kvs->len; i++) {
        OrchKv *kv = g_ptr_array_index(kvs, i);
        const char *mine = NULL;
        bool wrote = orch_view_wrote(v, kv->key, &mine);
        JsonObject *o;

        if (wrote && !mine) {
            continue;
        }
        /* Another writer's document that is not an object: no VM's. */
        o = dm_json_object_parse(wrote ? mine : kv->value);
        if (o) {
            g_ptr_array_add(out, o);
        }
    }
    return out;
}

static const char *clients_str(JsonObject *o, const char *member)
{
    return json_object_get_string_member_with_default(o, member, NULL);
}

GHashTable *orch_client_loads(OrchStoreView *v, const char *root,
                              GError **errp)
{
    g_autoptr(GPtrArray) vms = clients_list(v, root, "vms/", errp);
    GHashTable *loads;

    if (!vms) {
        return NULL;
    }
    loads = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < vms->len; i++) {
        JsonObject *o = g_ptr_array_index(vms, i);
        const char *client = clients_str(o, "client");
        const char *state = clients_str(o, "state");

        if (client && (!g_strcmp0(state, "running") ||
                       !g_strcmp0(state, "suspended") ||
                       !g_strcmp0(state, "migrating"))) {
            g_hash_table_insert(loads, g_strdup(client), GINT_TO_POINTER(
                GPOINTER_TO_INT(g_hash_table_lookup(loads, client)) + 1));
        }
    }
    return loads;
}

/* The least-loaded client's name (a new string), or NULL. */
static char *clients_least(OrchStoreView *v, const char *root,
                           bool need_model_tls, GError **errp)
{
    g_autoptr(GPtrArray) platforms = clients_list(v, root, "platforms/",
                                                  errp);
    g_autoptr(GHashTable) loads = platforms ?
        orch_client_loads(v, root, errp) : NULL;
    const char *best = NULL;
    gint64 best_load = G_MAXINT64;

    if (!loads) {
        return NULL;
    }
    /* In name order: the first of the least loaded wins a tie. */
    for (guint i = 0; i < platforms->len; i++) {
        JsonObject *p = g_ptr_array_index(platforms, i);
        const char *name = clients_str(p, "name");
        gint64 load;

        if (!name || g_strcmp0(clients_str(p, "role"), "client") != 0 ||
            orch_platform_doc_lost(p) ||
            (need_model_tls &&
             !json_object_get_boolean_member_with_default(p, "model_tls",
                                                          FALSE))) {
            continue;
        }
        load = GPOINTER_TO_INT(g_hash_table_lookup(loads, name));
        if (load < best_load) {
            best_load = load;
            best = name;
        }
    }
    if (!best) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "no client platform to run the VM on%s",
                    need_model_tls ? " with model TLS credentials (its "
                    "devices are served over TLS)" : "");
        return NULL;
    }
    return g_strdup(best);
}

bool orch_client_choose(OrchStoreView *v, const char *root,
                        const char *name, bool need_model_tls,
                        JsonObject **ret, GError **errp)
{
    g_autofree char *least = NULL;
    g_autoptr(JsonObject) p = NULL;

    *ret = NULL;
    if (!name) {
        least = clients_least(v, root, need_model_tls, errp);
        if (!least) {
            return false;
        }
    }
    /* The one chosen through @v: its removal meanwhile fails the commit. */
    if (!orch_platform_read(v, root, name ? name : least, &p, errp)) {
        return false;
    }
    if (!p) {
        g_set_error(errp, ORCH_ERROR, name ? ORCH_ERROR_NOT_FOUND :
                    ORCH_ERROR_CONFLICT, "no platform '%s'",
                    name ? name : least);
        return false;
    }
    if (g_strcmp0(clients_str(p, "role"), "client") != 0) {
        g_set_error(errp, ORCH_ERROR, name ? ORCH_ERROR_BAD_REQUEST :
                    ORCH_ERROR_CONFLICT, "'%s' is a server platform, not "
                    "a client", name ? name : least);
        return false;
    }
    if (orch_platform_doc_lost(p)) {
        g_autofree char *why = orch_platform_lost_why(name ? name : least);

        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT, "%s", why);
        return false;
    }
    *ret = g_steal_pointer(&p);
    return true;
}
