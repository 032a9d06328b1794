/*
 * dm-orchestrator: the VMs as documents on the store (store-vms.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include <vup/address.h>

#include "error.h"
#include "json-http.h"
#include "json-limits.h"
#include "store-platforms.h"
#include "store-vms.h"

static void set_str_or_null(JsonObject *o, const char *member,
                            const char *value)
{
    if (value) {
        json_object_set_string_member(o, member, value);
    } else {
        json_object_set_null_member(o, member);
    }
}

JsonObject *orch_vm_doc_new(const char *name, const char *uuid,
                            const char *memory)
{
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "name", name);
    json_object_set_string_member(o, "uuid", uuid);
    json_object_set_string_member(o, "memory", memory);
    json_object_set_null_member(o, "kernel");
    json_object_set_null_member(o, "initrd");
    json_object_set_null_member(o, "append");
    json_object_set_array_member(o, "extra_args", json_array_new());
    json_object_set_null_member(o, "boot");
    json_object_set_string_member(o, "state", "defined");
    json_object_set_null_member(o, "client");
    json_object_set_null_member(o, "hypervisor");
    json_object_set_null_member(o, "saved_file");
    json_object_set_array_member(o, "devices", json_array_new());
    return o;
}

/* @doc's "devices", or NULL if it has none or they are not an array. */
static JsonArray *vm_devices(JsonObject *doc)
{
    JsonNode *n = json_object_get_member(doc, "devices");

    return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

void orch_vm_doc_add_device(JsonObject *doc, const char *name,
                            const char *model, const char *bus,
                            const char *server, const char *via,
                            const char *restart, bool console,
                            JsonObject *props)
{
    JsonObject *d = json_object_new();
    JsonArray *devs = vm_devices(doc);

    if (!devs) {
        devs = json_array_new();
        json_object_set_array_member(doc, "devices", devs);
    }
    json_object_set_string_member(d, "name", name);
    json_object_set_string_member(d, "model", model);
    json_object_set_string_member(d, "bus", bus);
    set_str_or_null(d, "server", server);
    set_str_or_null(d, "via", via);
    json_object_set_string_member(d, "restart", restart);
    json_object_set_boolean_member(d, "console", console);
    json_object_set_object_member(d, "props", props ? props :
                                  json_object_new());
    json_array_add_object_element(devs, d);
}

JsonObject *orch_vm_doc_device(JsonObject *doc, const char *name)
{
    JsonArray *devs = vm_devices(doc);

    for (guint i = 0; devs && i < json_array_get_length(devs); i++) {
        JsonNode *e = json_array_get_element(devs, i);

        if (JSON_NODE_HOLDS_OBJECT(e) &&
            g_strcmp0(json_object_get_string_member_with_default(
                          json_node_get_object(e), "name", NULL),
                      name) == 0) {
            return json_node_get_object(e);
        }
    }
    return NULL;
}

/*
 * @text (@key's value) as a JSON object: a new reference, or NULL with
 * INTERNAL.  From etcd, perhaps written by another: depth checked first.
 */
static JsonObject *vm_parse(const char *key, const char *text,
                            GError **errp)
{
    g_autoptr(JsonNode) n = NULL;
    g_autoptr(GError) err = NULL;

    n = dm_json_parse_peer(text, strlen(text), DM_JSON_MAX_DEPTH, &err);
    if (!n) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL,
                    "store: %s refused: %s", key, err->message);
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL,
                    "store: %s is not a JSON object", key);
        return NULL;
    }
    return json_object_ref(json_node_get_object(n));
}

static char *vm_text(JsonObject *o)
{
    g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), o);

    return json_to_string(n, FALSE);
}

/* Read @key through @v as an object: true with *@ret (NULL if absent). */
static bool vm_get(OrchStoreView *v, const char *key, JsonObject **ret,
                   GError **errp)
{
    g_autofree char *text = NULL;

    *ret = NULL;
    if (!orch_view_get(v, key, &text, errp)) {
        return false;
    }
    return !text || (*ret = vm_parse(key, text, errp)) != NULL;
}

bool orch_vm_doc_read(OrchStoreView *v, const char *root, const char *name,
                      JsonObject **ret, GError **errp)
{
    g_autofree char *key = g_strconcat(root, "vms/", name, NULL);

    return vm_get(v, key, ret, errp);
}

bool orch_vm_doc_by_uuid(OrchStoreView *v, const char *root,
                         const char *uuid, char **ret, GError **errp)
{
    g_autofree char *key = g_strconcat(root, "uuids/", uuid, NULL);
    g_autoptr(JsonObject) claim = NULL;
    const char *vm;

    *ret = NULL;
    if (!vm_get(v, key, &claim, errp)) {
        return false;
    }
    if (!claim) {
        return true;
    }
    vm = json_object_get_string_member_with_default(claim, "vm", NULL);
    if (!vm) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL,
                    "store: %s names no VM", key);
        return false;
    }
    *ret = g_strdup(vm);
    return true;
}

GPtrArray *orch_vm_doc_read_all(OrchStoreView *v, const char *root,
                                GError **errp)
{
    g_autofree char *prefix = g_strconcat(root, "vms/", NULL);
    g_autoptr(GPtrArray) kvs = orch_view_list(v, prefix, errp);
    g_autoptr(GPtrArray) out = NULL;

    if (!kvs) {
        return NULL;
    }
    out = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
    for (guint i = 0; i < kvs->len; i++) {
        OrchKv *kv = g_ptr_array_index(kvs, i);
        JsonObject *o = vm_parse(kv->key, kv->value, errp);

        if (!o) {
            return NULL;
        }
        g_ptr_array_add(out, o);
    }
    return g_steal_pointer(&out);
}

/*
 * Device @dev's reference @member ("server" or "via"), if any, names a
 * server platform as @v reads it (remembered: its removal meanwhile
 * fails the commit).
 */
static bool vm_check_ref(OrchStoreView *v, const char *root,
                         JsonObject *dev, const char *member, GError **errp)
{
    const char *name = json_object_get_string_member_with_default(
        dev, "name", "");
    const char *platform = json_object_get_string_member_with_default(
        dev, member, NULL);
    g_autoptr(JsonObject) p = NULL;

    if (!platform) {
        return true;
    }
    if (!orch_platform_read(v, root, platform, &p, errp)) {
        return false;
    }
    if (!p) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND,
                    "device '%s': no platform '%s'", name, platform);
        return false;
    }
    if (g_strcmp0(json_object_get_string_member_with_default(p, "role",
                                                             NULL),
                  "server") != 0) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_REQUEST,
                    "device '%s': '%s' is a client platform, not a server "
                    "('%s' must name a server)", name, platform, member);
        return false;
    }
    return true;
}

/* Each device of @doc: named once, its platforms servers that exist. */
static bool vm_check_devices(OrchStoreView *v, const char *root,
                             JsonObject *doc, GError **errp)
{
    JsonArray *devs = vm_devices(doc);
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

    for (guint i = 0; devs && i < json_array_get_length(devs); i++) {
        JsonNode *e = json_array_get_element(devs, i);
        JsonObject *d = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) :
            NULL;
        const char *name = d ? json_object_get_string_member_with_default(
            d, "name", NULL) : NULL;

        /* A part of its placement's key: no '/' (the handlers' rule). */
        if (!name || !vup_name_valid(name)) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_REQUEST,
                        "store: bad device name '%s'", name ? name : "");
            return false;
        }
        if (!g_hash_table_add(seen, (gpointer)name)) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_REQUEST,
                        "device '%s' appears twice", name);
            return false;
        }
        if (!vm_check_ref(v, root, d, "server", errp) ||
            !vm_check_ref(v, root, d, "via", errp)) {
            return false;
        }
    }
    return true;
}

bool orch_vm_doc_create(OrchStoreView *v, const char *root, JsonObject *doc,
                        GError **errp)
{
    const char *name = json_object_get_string_member_with_default(
        doc, "name", NULL);
    const char *uuid = json_object_get_string_member_with_default(
        doc, "uuid", NULL);
    g_autoptr(JsonObject) had = NULL;
    g_autoptr(JsonObject) claim = NULL;
    g_autofree char *key = NULL, *ukey = NULL, *holder = NULL;
    g_autofree char *text = NULL, *ctext = NULL;

    if (!name || !uuid) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL,
                    "store: a VM without a name or a UUID");
        return false;
    }
    /* Both are parts of keys: a '/' would reach under another's prefix. */
    if (!vup_name_valid(name) || !g_uuid_string_is_valid(uuid)) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_REQUEST,
                    "store: bad VM name '%s' or UUID '%s'", name, uuid);
        return false;
    }
    /* Both read through the view: the commit holds only if still free. */
    if (!orch_vm_doc_read(v, root, name, &had, errp) ||
        !orch_vm_doc_by_uuid(v, root, uuid, &holder, errp)) {
        return false;
    }
    if (had) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "VM '%s' exists", name);
        return false;
    }
    if (holder) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "UUID '%s' is taken by VM '%s'", uuid, holder);
        return false;
    }
    if (!vm_check_devices(v, root, doc, errp)) {
        return false;
    }
    key = g_strconcat(root, "vms/", name, NULL);
    ukey = g_strconcat(root, "uuids/", uuid, NULL);
    text = vm_text(doc);
    claim = json_object_new();
    json_object_set_string_member(claim, "vm", name);
    ctext = vm_text(claim);
    orch_view_put(v, key, text);
    orch_view_put(v, ukey, ctext);
    return true;
}

bool orch_vm_doc_update(OrchStoreView *v, const char *root, JsonObject *doc,
                        GError **errp)
{
    const char *name = json_object_get_string_member_with_default(
        doc, "name", NULL);
    g_autoptr(JsonObject) had = NULL;
    g_autofree char *key = NULL, *text = NULL;

    if (!name) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL,
                    "store: a VM without a name");
        return false;
    }
    /* Read through the view: its mod_rev is what the commit compares. */
    if (!orch_vm_doc_read(v, root, name, &had, errp)) {
        return false;
    }
    if (!had) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND,
                    "no VM '%s'", name);
        return false;
    }
    /* The UUID's claim names this VM: a new one would leave it behind. */
    if (g_strcmp0(json_object_get_string_member_with_default(doc, "uuid",
                                                             NULL),
                  json_object_get_string_member_with_default(had, "uuid",
                                                             NULL)) != 0) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL,
                    "store: VM '%s''s UUID cannot change", name);
        return false;
    }
    key = g_strconcat(root, "vms/", name, NULL);
    text = vm_text(doc);
    orch_view_put(v, key, text);
    return true;
}

bool orch_vm_doc_remove(OrchStoreView *v, const char *root,
                        const char *name, GError **errp)
{
    g_autoptr(JsonObject) had = NULL;
    g_autoptr(GPtrArray) placed = NULL;
    g_autofree char *key = g_strconcat(root, "vms/", name, NULL);
    g_autofree char *pprefix = g_strconcat(root, "placements/", name, "/",
                                           NULL);
    g_autofree char *ukey = NULL, *holder = NULL;
    const char *uuid;

    if (!orch_vm_doc_read(v, root, name, &had, errp)) {
        return false;
    }
    if (!had) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND,
                    "no VM '%s'", name);
        return false;
    }
    uuid = json_object_get_string_member_with_default(had, "uuid", NULL);
    if (!uuid) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL,
                    "store: %s has no UUID", key);
        return false;
    }
    /* Listed through the view: a placement claimed meanwhile fails it. */
    placed = orch_view_list(v, pprefix, errp);
    if (!placed) {
        return false;
    }
    if (placed->len > 0) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "VM '%s' holds %u device model placement(s)", name,
                    placed->len);
        return false;
    }
    /* Only this VM's own claim: one naming another is not ours to free. */
    if (!orch_vm_doc_by_uuid(v, root, uuid, &holder, errp)) {
        return false;
    }
    orch_view_delete(v, key);
    if (g_strcmp0(holder, name) == 0) {
        ukey = g_strconcat(root, "uuids/", uuid, NULL);
        orch_view_delete(v, ukey);
    }
    return true;
}

/* What platform @name is to VM document @doc, counted into @n. */
typedef struct VmPlatformUse {
    guint running;              /* VMs running on it */
    guint pinned;               /* devices pinned to it */
    guint via;                  /* devices routed through it */
} VmPlatformUse;

static bool vm_is_active(JsonObject *doc)
{
    const char *state = json_object_get_string_member_with_default(
        doc, "state", "");

    return !strcmp(state, "running") || !strcmp(state, "suspended") ||
           !strcmp(state, "migrating");
}

static void vm_count_use(JsonObject *doc, const char *name, VmPlatformUse *n)
{
    JsonArray *devs = vm_devices(doc);

    if (g_strcmp0(json_object_get_string_member_with_default(doc, "client",
                                                             NULL),
                  name) == 0 && vm_is_active(doc)) {
        n->running++;
    }
    for (guint i = 0; devs && i < json_array_get_length(devs); i++) {
        JsonNode *e = json_array_get_element(devs, i);
        JsonObject *d = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) :
            NULL;

        if (d && g_strcmp0(json_object_get_string_member_with_default(
                               d, "server", NULL), name) == 0) {
            n->pinned++;
        }
        if (d && g_strcmp0(json_object_get_string_member_with_default(
                               d, "via", NULL), name) == 0) {
            n->via++;
        }
    }
}

bool orch_vm_doc_release_platform(OrchStoreView *v, const char *root,
                                  const char *name, GError **errp)
{
    g_autoptr(GPtrArray) vms = NULL;
    VmPlatformUse n = { 0 };

    /* Listed through the view: a VM written meanwhile fails the commit. */
    vms = orch_vm_doc_read_all(v, root, errp);
    if (!vms) {
        return false;
    }
    for (guint i = 0; i < vms->len; i++) {
        vm_count_use(g_ptr_array_index(vms, i), name, &n);
    }
    if (n.running) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "platform '%s' is in use by %u running VM(s)", name,
                    n.running);
        return false;
    }
    if (n.pinned) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "platform '%s' is the pinned server of %u device(s)",
                    name, n.pinned);
        return false;
    }
    if (n.via) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "platform '%s' is the owner server ('via') of %u "
                    "device(s)", name, n.via);
        return false;
    }
    for (guint i = 0; i < vms->len; i++) {
        JsonObject *doc = g_ptr_array_index(vms, i);

        if (g_strcmp0(json_object_get_string_member_with_default(
                          doc, "client", NULL), name) == 0) {
            json_object_set_null_member(doc, "client");
            if (!orch_vm_doc_update(v, root, doc, errp)) {
                return false;
            }
        }
    }
    return true;
}
