/*
 * dm-orchestrator: the device models the server platforms offer.
 *
 * A launcher's health lists its models as {"name", "bus" ("pci" or
 * "isa"), "props": [{"name", "type", "default", "help"}]}: the model's
 * own declaration (dm-remote/model.h).  Each server platform's are kept
 * in platform_models, so a VM's devices are checked, given their bus
 * and placed by what the launchers say.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include <vup/address.h>

#include "catalogue.h"
#include "error.h"
#include "json-http.h"

/* A declaration we can use: a valid name, a known bus, props an array. */
static bool catalogue_usable(JsonNode *e, const char **ret_name)
{
    JsonObject *o;
    JsonNode *n;
    const char *bus;

    if (!JSON_NODE_HOLDS_OBJECT(e)) {
        return false;
    }
    o = json_node_get_object(e);
    n = json_object_get_member(o, "name");
    if (!n || !JSON_NODE_HOLDS_VALUE(n) ||
        json_node_get_value_type(n) != G_TYPE_STRING ||
        !vup_name_valid(json_node_get_string(n))) {
        return false;
    }
    *ret_name = json_node_get_string(n);
    n = json_object_get_member(o, "bus");
    if (!n || !JSON_NODE_HOLDS_VALUE(n) ||
        json_node_get_value_type(n) != G_TYPE_STRING) {
        return false;
    }
    bus = json_node_get_string(n);
    if (strcmp(bus, "pci") != 0 && strcmp(bus, "isa") != 0) {
        return false;
    }
    n = json_object_get_member(o, "props");
    return !n || JSON_NODE_HOLDS_ARRAY(n);
}

GHashTable *orch_catalogue_parse(JsonObject *health)
{
    GHashTable *models = g_hash_table_new_full(g_str_hash, g_str_equal,
        g_free, (GDestroyNotify)json_object_unref);
    JsonNode *list = json_object_get_member(health, "models");
    JsonArray *a;
    guint i;

    if (!list || !JSON_NODE_HOLDS_ARRAY(list)) {
        return models;
    }
    a = json_node_get_array(list);
    for (i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        const char *name;

        if (catalogue_usable(e, &name)) {      /* take what is usable */
            g_hash_table_replace(models, g_strdup(name),
                                 json_object_ref(json_node_get_object(e)));
        }
    }
    return models;
}

static const char *catalogue_bus(JsonObject *decl)
{
    return json_object_get_string_member(decl, "bus");
}

bool orch_health_model_tls(JsonObject *health)
{
    JsonNode *n = json_object_get_member(health, "model_tls");

    return n && JSON_NODE_HOLDS_VALUE(n) &&
           json_node_get_value_type(n) == G_TYPE_BOOLEAN &&
           json_node_get_boolean(n);
}

/* The declaration of property @name in @decls (a JSON array), or NULL. */
static JsonObject *catalogue_prop(JsonArray *decls, const char *name)
{
    for (guint i = 0; decls && i < json_array_get_length(decls); i++) {
        JsonNode *n = json_array_get_element(decls, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ?
            json_node_get_object(n) : NULL;

        if (o && g_strcmp0(json_object_get_string_member_with_default(
                               o, "name", NULL), name) == 0) {
            return o;
        }
    }
    return NULL;
}

/* The props of @model's declaration @decls (NULL: none) checked. */
static char *catalogue_check_decls(JsonArray *decls, const char *model,
                                   const char *device, JsonNode *props,
                                   GError **errp)
{
    g_autoptr(JsonObject) out = json_object_new();
    g_autoptr(JsonNode) out_node = json_node_new(JSON_NODE_OBJECT);
    g_autoptr(GList) names = NULL;
    JsonObject *given = NULL;

    if (props && !JSON_NODE_HOLDS_NULL(props)) {
        if (!JSON_NODE_HOLDS_OBJECT(props)) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_REQUEST,
                        "device '%s': 'props' must be an object", device);
            return NULL;
        }
        given = json_node_get_object(props);
        names = json_object_get_members(given);
    }
    for (GList *l = names; l; l = l->next) {
        const char *name = l->data;
        g_autofree char *val = dm_json_scalar_string(json_object_get_member(given,
                                                                      name));

        /*
         * tap=BRIDGE, the spelling of a card on a bridge: where
         * the launcher makes the taps (it declares "bridge", and takes
         * no interface name from us) it means bridge=BRIDGE.
         */
        if (g_str_equal(name, "tap") && catalogue_prop(decls, "bridge")) {
            if (json_object_has_member(given, "bridge")) {
                g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_REQUEST,
                            "device '%s': 'tap' and 'bridge' both name the "
                            "bridge: give one", device);
                return NULL;
            }
            name = "bridge";
        }

        if (!catalogue_prop(decls, name) || g_str_equal(name, "console")) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_REQUEST,
                        "device '%s': model '%s' has no property '%s'",
                        device, model, name);
            return NULL;
        }
        if (!val || strpbrk(val, "\r\n")) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_REQUEST,
                        "device '%s': property '%s' must be a string, a "
                        "boolean or a number on one line", device, name);
            return NULL;
        }
        json_object_set_string_member(out, name, val);
    }
    for (guint i = 0; decls && i < json_array_get_length(decls); i++) {
        JsonNode *n = json_array_get_element(decls, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ?
            json_node_get_object(n) : NULL;
        const char *name = o ? json_object_get_string_member_with_default(
                                   o, "name", NULL) : NULL;

        if (name && json_object_get_boolean_member_with_default(
                        o, "required", FALSE) &&
            !json_object_has_member(out, name)) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_REQUEST,
                        "device '%s': model '%s' needs property '%s'",
                        device, model, name);
            return NULL;
        }
    }
    json_node_set_object(out_node, out);
    return json_to_string(out_node, FALSE);
}

/* The platform documents' side (catalogue.h): no SQL below. */

static int catalogue_str_cmp(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static JsonObject *catalogue_entry(const char *model, JsonObject *decl)
{
    JsonObject *e = json_object_new();
    JsonNode *props = json_object_get_member(decl, "props");

    json_object_set_string_member(e, "model", model);
    json_object_set_string_member(e, "bus", catalogue_bus(decl));
    json_object_set_member(e, "props", props ? json_node_copy(props) :
                           json_node_init_array(json_node_alloc(),
                                                json_array_new()));
    return e;
}

JsonArray *orch_catalogue_doc_models(JsonObject *health, JsonArray *chosen,
                                     GError **errp)
{
    g_autoptr(GHashTable) offered = orch_catalogue_parse(health);
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    JsonArray *out;
    guint i;

    if (!chosen) {
        GHashTableIter it;
        gpointer model;

        g_hash_table_iter_init(&it, offered);
        while (g_hash_table_iter_next(&it, &model, NULL)) {
            g_ptr_array_add(names, model);
        }
    }
    for (i = 0; chosen && i < json_array_get_length(chosen); i++) {
        const char *model = json_array_get_string_element(chosen, i);

        if (!g_hash_table_contains(offered, model)) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                        "the launcher does not offer model '%s'", model);
            return NULL;
        }
        if (!g_ptr_array_find_with_equal_func(names, model, g_str_equal,
                                              NULL)) {
            g_ptr_array_add(names, (gpointer)model);
        }
    }
    /* In name order, as the import writes them. */
    g_ptr_array_sort(names, catalogue_str_cmp);
    out = json_array_new();
    for (i = 0; i < names->len; i++) {
        const char *model = g_ptr_array_index(names, i);

        json_array_add_object_element(out, catalogue_entry(
            model, g_hash_table_lookup(offered, model)));
    }
    return out;
}

int orch_catalogue_refresh_doc(JsonObject *platform, JsonObject *health)
{
    g_autoptr(GHashTable) offered = orch_catalogue_parse(health);
    JsonNode *n = json_object_get_member(platform, "models");
    JsonArray *models = n && JSON_NODE_HOLDS_ARRAY(n) ?
        json_node_get_array(n) : NULL;
    int changed = 0;

    for (guint i = 0; models && i < json_array_get_length(models); i++) {
        JsonNode *e = json_array_get_element(models, i);
        JsonObject *m = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) :
            NULL;
        const char *model = m ? json_object_get_string_member_with_default(
                                    m, "model", NULL) : NULL;
        JsonObject *decl = model ? g_hash_table_lookup(offered, model) : NULL;
        g_autoptr(JsonObject) fresh = NULL;
        g_autofree char *had = NULL, *now = NULL;

        if (!decl) {
            continue;           /* no longer declared: kept, as in SQL */
        }
        fresh = catalogue_entry(model, decl);
        had = json_object_has_member(m, "props") ?
            json_to_string(json_object_get_member(m, "props"), FALSE) :
            g_strdup("[]");
        now = json_to_string(json_object_get_member(fresh, "props"), FALSE);
        if (g_strcmp0(json_object_get_string_member_with_default(
                          m, "bus", NULL), catalogue_bus(decl)) != 0 ||
            strcmp(had, now) != 0) {
            json_object_set_string_member(m, "bus", catalogue_bus(decl));
            json_object_set_member(m, "props", json_node_copy(
                json_object_get_member(fresh, "props")));
            changed++;
        }
    }
    return changed;
}

/* Platform @p's entry for @model if it is a server offering it. */
static JsonObject *catalogue_doc_entry(JsonObject *p, const char *model)
{
    JsonNode *n = json_object_get_member(p, "models");
    JsonArray *a = n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) :
        NULL;

    if (g_strcmp0(json_object_get_string_member_with_default(p, "role",
                                                             NULL),
                  "server") != 0) {
        return NULL;
    }
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);

        if (JSON_NODE_HOLDS_OBJECT(e) &&
            g_strcmp0(json_object_get_string_member_with_default(
                          json_node_get_object(e), "model", NULL),
                      model) == 0) {
            return json_node_get_object(e);
        }
    }
    return NULL;
}

/* @pinned's entry for @model, else the first server's in name order. */
static JsonObject *catalogue_doc_pick(GPtrArray *platforms,
                                      const char *model, const char *pinned)
{
    JsonObject *first = NULL;

    for (guint i = 0; i < platforms->len; i++) {
        JsonObject *p = g_ptr_array_index(platforms, i);
        JsonObject *e = catalogue_doc_entry(p, model);

        if (e && pinned && g_strcmp0(json_object_get_string_member_with_default(
                                         p, "name", NULL), pinned) == 0) {
            return e;
        }
        first = first ? first : e;
    }
    return first;
}

static JsonArray *catalogue_entry_props(JsonObject *e)
{
    JsonNode *n = json_object_get_member(e, "props");

    return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

bool orch_catalogue_find_in(GPtrArray *platforms, const char *model,
                            const char *pinned, OrchModelInfo *ret)
{
    JsonObject *e = catalogue_doc_pick(platforms, model, pinned);

    if (!e) {
        return false;
    }
    g_strlcpy(ret->bus, json_object_get_string_member_with_default(
                  e, "bus", "pci"), sizeof(ret->bus));
    ret->console = catalogue_prop(catalogue_entry_props(e), "console") !=
        NULL;
    return true;
}

char *orch_catalogue_check_props_in(GPtrArray *platforms, const char *model,
                                    const char *pinned, const char *device,
                                    JsonNode *props, GError **errp)
{
    JsonObject *e = catalogue_doc_pick(platforms, model, pinned);

    return catalogue_check_decls(e ? catalogue_entry_props(e) : NULL, model,
                                 device, props, errp);
}

char *orch_catalogue_names_in(GPtrArray *platforms)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    GString *s = g_string_new(NULL);
    guint i, j;

    for (i = 0; i < platforms->len; i++) {
        JsonObject *p = g_ptr_array_index(platforms, i);
        JsonNode *n = json_object_get_member(p, "models");
        JsonArray *a = n && JSON_NODE_HOLDS_ARRAY(n) ?
            json_node_get_array(n) : NULL;

        for (j = 0; a && j < json_array_get_length(a); j++) {
            JsonNode *e = json_array_get_element(a, j);
            const char *model = JSON_NODE_HOLDS_OBJECT(e) ?
                json_object_get_string_member_with_default(
                    json_node_get_object(e), "model", NULL) : NULL;

            if (model && catalogue_doc_entry(p, model) &&
                !g_ptr_array_find_with_equal_func(names, model, g_str_equal,
                                                  NULL)) {
                g_ptr_array_add(names, (gpointer)model);
            }
        }
    }
    g_ptr_array_sort(names, catalogue_str_cmp);
    for (i = 0; i < names->len; i++) {
        g_string_append_printf(s, "%s%s", i ? ", " : "",
                               (const char *)g_ptr_array_index(names, i));
    }
    return g_string_free(s, FALSE);
}
