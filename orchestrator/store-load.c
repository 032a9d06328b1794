/*
 * dm-orchestrator: the servers' load on the store (store-load.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include <json-glib/json-glib.h>

#include "error.h"
#include "json-http.h"
#include "json-limits.h"
#include "store-load.h"
#include "store-platforms.h"

/* A server that could take the model, as the choice sees it. */
typedef struct LoadServer {
    char *name;
    gint64 capacity;
    gint64 used;
} LoadServer;

static void load_server_free(gpointer p)
{
    LoadServer *ls = p;

    g_free(ls->name);
    g_free(ls);
}

/* The "used" of a load document (absent: none used). */
static gint64 load_used_of(const char *text)
{
    g_autoptr(JsonObject) o = dm_json_object_parse(text);

    return o ? json_object_get_int_member_with_default(o, "used", 0) : 0;
}

static bool load_is_server(JsonObject *p)
{
    return g_strcmp0(json_object_get_string_member_with_default(
                         p, "role", NULL), "server") == 0;
}

/* Whether platform @p's "models" ({"model", ...} each) has @model. */
static bool load_offers(JsonObject *p, const char *model)
{
    JsonNode *n = json_object_get_member(p, "models");
    JsonArray *a = n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) :
        NULL;

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);

        if (JSON_NODE_HOLDS_OBJECT(e) &&
            g_strcmp0(json_object_get_string_member_with_default(
                          json_node_get_object(e), "model", NULL),
                      model) == 0) {
            return true;
        }
    }
    return false;
}

static char *load_key(const char *root, const char *server)
{
    return g_strconcat(root, "load/", server, NULL);
}

gint64 orch_load_used(OrchStoreView *v, const char *root,
                      const char *server, GError **errp)
{
    g_autofree char *key = load_key(root, server);
    g_autofree char *text = NULL;

    if (!orch_view_get(v, key, &text, errp)) {
        return -1;
    }
    return load_used_of(text);
}

static void load_set(OrchStoreView *v, const char *root, const char *server,
                     gint64 used)
{
    g_autofree char *key = load_key(root, server);
    g_autofree char *text = NULL;

    /* None used: no key, as the import leaves a server without models. */
    if (used <= 0) {
        orch_view_delete(v, key);
        return;
    }
    text = g_strdup_printf("{\"used\":%" G_GINT64_FORMAT "}", used);
    orch_view_put(v, key, text);
}

/*
 * Take a slot on @server if it has room by what @v reads now (remembered:
 * the commit holds only if neither the platform nor its count changed).
 * 1 if claimed, 0 if full, -1 if the store failed.
 */
static int load_take(OrchStoreView *v, const char *root, const char *server,
                     const char *model, GError **errp)
{
    g_autofree char *pkey = g_strconcat(root, "platforms/", server, NULL);
    g_autofree char *text = NULL;
    g_autoptr(JsonObject) p = NULL;
    gint64 used;

    if (!orch_view_get(v, pkey, &text, errp)) {
        return -1;
    }
    p = dm_json_object_parse(text);
    if (!p || !load_is_server(p) || !load_offers(p, model) ||
        orch_platform_doc_lost(p)) {
        return 0;               /* removed or changed since the list */
    }
    used = orch_load_used(v, root, server, errp);
    if (used < 0) {
        return -1;
    }
    if (used >= json_object_get_int_member_with_default(p, "capacity", 0)) {
        return 0;
    }
    load_set(v, root, server, used + 1);
    return 1;
}

static bool load_claim_pinned(OrchStoreView *v, const char *root,
                              const char *dev, const char *model,
                              const char *pinned, GError **errp)
{
    g_autofree char *pkey = g_strconcat(root, "platforms/", pinned, NULL);
    g_autofree char *text = NULL;
    g_autoptr(JsonObject) p = NULL;
    int took;

    if (!orch_view_get(v, pkey, &text, errp)) {
        return false;
    }
    p = dm_json_object_parse(text);
    if (!p) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND,
                    "no platform '%s'", pinned);
        return false;
    }
    if (!load_is_server(p)) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_REQUEST,
                    "'%s' is a client platform, not a server", pinned);
        return false;
    }
    if (!load_offers(p, model)) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "device '%s': server '%s' does not offer model '%s'",
                    dev, pinned, model);
        return false;
    }
    if (orch_platform_doc_lost(p)) {
        g_autofree char *why = orch_platform_lost_why(pinned);

        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT, "device '%s': %s",
                    dev, why);
        return false;
    }
    took = load_take(v, root, pinned, model, errp);
    if (took == 0) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "device '%s': server '%s' is full", dev, pinned);
    }
    return took > 0;
}

static gint load_cmp(gconstpointer a, gconstpointer b)
{
    const LoadServer *x = *(LoadServer *const *)a;
    const LoadServer *y = *(LoadServer *const *)b;
    /* used/capacity compared without division: both capacities > 0. */
    gint64 l = x->used * y->capacity, r = y->used * x->capacity;

    if (l != r) {
        return l < r ? -1 : 1;
    }
    if (x->used != y->used) {
        return x->used < y->used ? -1 : 1;
    }
    return strcmp(x->name, y->name);
}

/*
 * The servers offering @model with room, least loaded first, read from
 * the store without conditions (the commit is conditioned on the one
 * taken only), with this view's own claims counted.  NULL if the store
 * failed; *@offered says whether any server offers @model at all.
 */
static GPtrArray *load_candidates(OrchStoreView *v, const char *root,
                                  const char *model, bool *offered,
                                  GError **errp)
{
    g_autofree char *pprefix = g_strconcat(root, "platforms/", NULL);
    g_autofree char *lprefix = g_strconcat(root, "load/", NULL);
    g_autoptr(GPtrArray) platforms = NULL;
    g_autoptr(GPtrArray) loads = NULL;
    g_autoptr(GHashTable) used = g_hash_table_new(g_str_hash, g_str_equal);
    GPtrArray *out;
    guint i;

    *offered = false;
    platforms = orch_store_list(orch_view_store(v), pprefix, NULL, errp);
    loads = platforms ? orch_store_list(orch_view_store(v), lprefix, NULL,
                                        errp) : NULL;
    if (!loads) {
        return NULL;
    }
    for (i = 0; i < loads->len; i++) {
        OrchKv *kv = g_ptr_array_index(loads, i);

        g_hash_table_insert(used, kv->key + strlen(lprefix), kv->value);
    }
    out = g_ptr_array_new_with_free_func(load_server_free);
    for (i = 0; i < platforms->len; i++) {
        OrchKv *kv = g_ptr_array_index(platforms, i);
        const char *name = kv->key + strlen(pprefix);
        g_autoptr(JsonObject) p = dm_json_object_parse(kv->value);
        g_autofree char *key = load_key(root, name);
        const char *mine;
        LoadServer *ls;

        if (!p || !load_is_server(p) || !load_offers(p, model)) {
            continue;
        }
        *offered = true;
        if (orch_platform_doc_lost(p)) {
            continue;
        }
        ls = g_new0(LoadServer, 1);
        ls->name = g_strdup(name);
        ls->capacity = json_object_get_int_member_with_default(p, "capacity",
                                                               0);
        ls->used = orch_view_wrote(v, key, &mine) ? load_used_of(mine) :
            load_used_of(g_hash_table_lookup(used, name));
        if (ls->used < ls->capacity) {
            g_ptr_array_add(out, ls);
        } else {
            load_server_free(ls);
        }
    }
    g_ptr_array_sort(out, load_cmp);
    return out;
}

bool orch_load_claim(OrchStoreView *v, const char *root, const char *dev,
                     const char *model, const char *pinned, char **server,
                     GError **errp)
{
    g_autoptr(GPtrArray) cand = NULL;
    bool offered;
    guint i;

    *server = NULL;
    if (pinned) {
        if (!load_claim_pinned(v, root, dev, model, pinned, errp)) {
            return false;
        }
        *server = g_strdup(pinned);
        return true;
    }
    cand = load_candidates(v, root, model, &offered, errp);
    if (!cand) {
        return false;
    }
    for (i = 0; i < cand->len; i++) {
        LoadServer *ls = g_ptr_array_index(cand, i);
        int took = load_take(v, root, ls->name, model, errp);

        if (took < 0) {
            return false;
        }
        if (took > 0) {
            *server = g_strdup(ls->name);
            return true;
        }
    }
    if (!offered) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "device '%s': no server platform offers model '%s'",
                    dev, model);
    } else {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "device '%s': every server offering model '%s' is full",
                    dev, model);
    }
    return false;
}

bool orch_load_release(OrchStoreView *v, const char *root,
                       const char *server, GError **errp)
{
    gint64 used = orch_load_used(v, root, server, errp);

    if (used < 0) {
        return false;
    }
    load_set(v, root, server, used - 1);
    return true;
}
