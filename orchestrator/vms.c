/*
 * dm-orchestrator: /v1/vms (definitions), the consoles and /v1/dms.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>

#include "catalogue.h"
#include "db.h"
#include "launcher.h"
#include "placement.h"
#include "qemu-args.h"
#include "records.h"
#include "records-set.h"
#include "store-vms.h"
#include "request.h"
#include "vm.h"
#include "vms.h"

int orch_vm_list(OrchRequest *r)
{
    g_autoptr(GPtrArray) names = orch_rec_vm_names(r->db);
    JsonArray *a = json_array_new();
    JsonObject *o = json_object_new();
    guint i;

    for (i = 0; i < names->len; i++) {
        JsonObject *vm = orch_vm_object(r->db, names->pdata[i]);

        if (vm) {
            json_array_add_object_element(a, vm);
        }
    }
    json_object_set_array_member(o, "vms", a);
    orch_reply_object(r, 200, o);
    return 0;
}

int orch_vm_get(OrchRequest *r)
{
    JsonObject *o = orch_vm_object(r->db, r->seg[1]);

    if (!o) {
        return orch_fail(r, 404, "no VM '%s'", r->seg[1]);
    }
    orch_reply_object(r, 200, o);
    return 0;
}

/*
 * Server platform @platform (NULL: none), named by device @dev's @key
 * ("server" or "via"): 404 if unknown, 400 if a client.
 */
static int vm_server_check(OrchRequest *r, const char *dev, const char *key,
                           const char *platform)
{
    g_autoptr(JsonObject) p = NULL;
    const char *role;

    if (!platform) {
        return 0;
    }
    if (orch_check_name(r, "platform", platform) < 0) {
        return -EINVAL;
    }
    p = orch_rec_platform(r->db, platform);
    role = orch_rec_str(p, "role");
    if (!role) {
        return orch_fail(r, 404, "device '%s': no platform '%s'", dev,
                         platform);
    }
    if (strcmp(role, "server") != 0) {
        return orch_fail(r, 400, "device '%s': '%s' is a client platform, "
                         "not a server ('%s' must name a server)", dev,
                         platform, key);
    }
    return 0;
}

/*
 * Check one element of "devices" against the @platforms' documents
 * (records.h) and add it to VM document @doc; @seen holds the names of
 * those added before it.
 */
static int vm_add_device(OrchRequest *r, GPtrArray *platforms,
                         JsonObject *doc, JsonNode *n, int *consoles,
                         GHashTable *seen)
{
    const char *name, *model, *server = NULL, *restart = NULL, *via = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *props = NULL;
    g_autoptr(JsonNode) pn = NULL;
    OrchModelInfo m;
    JsonObject *o;

    if (!JSON_NODE_HOLDS_OBJECT(n)) {
        return orch_fail(r, 400, "each of 'devices' must be an object");
    }
    o = json_node_get_object(n);
    if (orch_body_str(r, o, "name", true, &name) < 0 ||
        orch_check_name(r, "device", name) < 0 ||
        orch_body_str(r, o, "model", true, &model) < 0 ||
        orch_body_str(r, o, "server", false, &server) < 0 ||
        orch_body_str(r, o, "restart", false, &restart) < 0 ||
        orch_body_str(r, o, "via", false, &via) < 0) {
        return -EINVAL;
    }
    restart = restart ? restart : "never";
    if (strcmp(restart, "never") != 0 && strcmp(restart, "on-failure")) {
        return orch_fail(r, 400, "device '%s': 'restart' must be never or "
                         "on-failure, not '%s'", name, restart);
    }
    if (vm_server_check(r, name, "server", server) < 0 ||
        vm_server_check(r, name, "via", via) < 0) {
        return -EINVAL;
    }
    /* The model as the launchers declare it (its pinned server's first). */
    if (!orch_catalogue_find_in(platforms, model, server, &m)) {
        g_autofree char *known = orch_catalogue_names_in(platforms);

        return orch_fail(r, 400, "device '%s': unknown model '%s' (the "
                         "server platforms offer: %s)", name, model,
                         *known ? known : "none");
    }
    props = orch_catalogue_check_props_in(platforms, model, server, name,
                                          json_object_get_member(o, "props"),
                                          &err);
    if (!props) {
        return orch_fail_error(r, err);
    }
    if (m.console && ++*consoles > 1) {
        return orch_fail(r, 400, "device '%s': only one console device "
                         "per VM", name);
    }
    if (!g_hash_table_add(seen, g_strdup(name))) {
        return orch_fail(r, 400, "device '%s' appears twice", name);
    }
    /* The catalogue's check answers an object's text. */
    pn = json_from_string(props, &err);
    if (!pn || !JSON_NODE_HOLDS_OBJECT(pn)) {
        return orch_fail(r, 500, "device '%s': its properties: %s", name,
                         err ? err->message : "not an object");
    }
    orch_vm_doc_add_device(doc, name, model, m.bus, server, via, restart,
                           m.console, json_object_ref(
                               json_node_get_object(pn)));
    return 0;
}

/* "args": extra QEMU arguments, an array of strings, as JSON text. */
static int vm_body_args(OrchRequest *r, char **ret)
{
    JsonNode *n = json_object_get_member(r->body, "args");
    JsonArray *a;
    guint i;

    if (!n || JSON_NODE_HOLDS_NULL(n)) {
        *ret = g_strdup("[]");
        return 0;
    }
    if (!JSON_NODE_HOLDS_ARRAY(n)) {
        return orch_fail(r, 400, "'args' must be an array of strings");
    }
    a = json_node_get_array(n);
    for (i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);

        if (!JSON_NODE_HOLDS_VALUE(e) ||
            json_node_get_value_type(e) != G_TYPE_STRING) {
            return orch_fail(r, 400, "'args' must be an array of strings");
        }
    }
    *ret = json_to_string(n, FALSE);
    return 0;
}

/*
 * What is checked on the VM's devices together, on its document as
 * created (records.h): its display, keyboard and tablet, paired by one
 * launcher, pinned to one server if to any; @boot one of its PCI
 * devices.
 */
static int vm_check_devices(OrchRequest *r, const char *name,
                            const char *boot)
{
    g_autoptr(JsonObject) doc = orch_rec_vm(r->db, name);
    JsonArray *devs = doc ? json_object_get_array_member(doc, "devices") :
        NULL;
    const char *pinned = NULL;
    bool boot_found = false;
    guint i;

    for (i = 0; devs && i < json_array_get_length(devs); i++) {
        JsonObject *d = json_array_get_object_element(devs, i);
        const char *server = orch_rec_str(d, "server");

        if (orch_model_paired(orch_rec_str(d, "model")) && server) {
            if (pinned && strcmp(pinned, server) != 0) {
                return orch_fail(r, 400, "a VM's display, keyboard and "
                                 "tablet go to one server: pin them to the "
                                 "same one, or to none");
            }
            pinned = server;
        }
        boot_found |= boot && !g_strcmp0(orch_rec_str(d, "name"), boot) &&
                      !g_strcmp0(orch_rec_str(d, "bus"), "pci");
    }
    if (boot && !boot_found) {
        return orch_fail(r, 400, "'boot' must name one of the VM's PCI "
                         "devices (a disk), not '%s'", boot);
    }
    return 0;
}

/* Member @member of VM document @doc: @value, or null if NULL. */
static void vm_doc_set(JsonObject *doc, const char *member,
                       const char *value)
{
    if (value) {
        json_object_set_string_member(doc, member, value);
    } else {
        json_object_set_null_member(doc, member);
    }
}

static bool vm_memory_valid(const char *s)
{
    size_t i = 0;

    while (g_ascii_isdigit(s[i])) {
        i++;
    }
    return i > 0 && i < 12 && (!s[i] || (strchr("KMGT", s[i]) && !s[i + 1]));
}

int orch_vm_create(OrchRequest *r)
{
    const char *name, *memory = NULL, *kernel, *initrd, *append, *boot;
    g_autofree char *uuid = g_uuid_string_random();
    g_autofree char *args = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) platforms = NULL;
    g_autoptr(JsonObject) existing = NULL;
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash,
                                                       g_str_equal, g_free,
                                                       NULL);
    g_autoptr(JsonObject) doc = NULL;
    g_autoptr(JsonNode) extra = NULL;
    JsonNode *devs;
    int consoles = 0, ret;
    guint i;

    if (orch_require_body(r) < 0 ||
        orch_body_str(r, r->body, "name", true, &name) < 0 ||
        orch_check_name(r, "VM", name) < 0 ||
        orch_body_str(r, r->body, "memory", false, &memory) < 0 ||
        orch_body_str(r, r->body, "kernel", false, &kernel) < 0 ||
        orch_body_str(r, r->body, "initrd", false, &initrd) < 0 ||
        orch_body_str(r, r->body, "append", false, &append) < 0 ||
        orch_body_str(r, r->body, "boot", false, &boot) < 0 ||
        vm_body_args(r, &args) < 0) {
        return -EINVAL;
    }
    memory = memory ? memory : "256M";
    if (!vm_memory_valid(memory)) {
        return orch_fail(r, 400, "bad 'memory' '%s' (a number with an "
                         "optional K, M, G or T)", memory);
    }
    devs = json_object_get_member(r->body, "devices");
    if (devs && !JSON_NODE_HOLDS_NULL(devs) && !JSON_NODE_HOLDS_ARRAY(devs)) {
        return orch_fail(r, 400, "'devices' must be an array");
    }
    existing = orch_rec_vm(r->db, name);
    if (existing) {
        return orch_fail(r, 409, "VM '%s' exists", name);
    }
    doc = orch_vm_doc_new(name, uuid, memory);
    vm_doc_set(doc, "kernel", kernel);
    vm_doc_set(doc, "initrd", initrd);
    vm_doc_set(doc, "append", append);
    vm_doc_set(doc, "boot", boot);
    /* vm_body_args made it: an array's text. */
    extra = json_from_string(args, NULL);
    if (extra && JSON_NODE_HOLDS_ARRAY(extra)) {
        json_object_set_array_member(doc, "extra_args", json_array_ref(
                                         json_node_get_array(extra)));
    }
    platforms = orch_rec_platforms(r->db);
    for (i = 0; devs && JSON_NODE_HOLDS_ARRAY(devs) &&
         i < json_array_get_length(json_node_get_array(devs)); i++) {
        ret = vm_add_device(r, platforms, doc, json_array_get_element(
                                json_node_get_array(devs), i), &consoles,
                            seen);
        if (ret < 0) {
            return ret;
        }
    }
    if (!orch_rec_vm_create(doc, &err)) {
        return orch_fail_error(r, err);
    }
    ret = vm_check_devices(r, name, boot);
    if (ret < 0) {
        return ret;
    }
    orch_reply_object(r, 201, orch_vm_object(r->db, name));
    return 0;
}

int orch_vm_remove(OrchRequest *r)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) vm = orch_rec_vm(r->db, r->seg[1]);
    const char *state = orch_rec_str(vm, "state");

    if (!state) {
        return orch_fail(r, 404, "no VM '%s'", r->seg[1]);
    }
    if (strcmp(state, "defined") != 0 && strcmp(state, "stopped") != 0) {
        return orch_fail(r, 409, "VM '%s' is %s: stop it first", r->seg[1],
                         state);
    }
    if (!orch_rec_vm_remove(r->seg[1], &err)) {
        return orch_fail_error(r, err);
    }
    orch_reply_object(r, 200, json_object_new());
    return 0;
}

int orch_vm_console(OrchRequest *r)
{
    g_autoptr(JsonObject) vm = orch_rec_vm(r->db, r->seg[1]);
    g_autoptr(JsonObject) p = NULL;
    g_autoptr(JsonObject) server = NULL;
    const char *state = orch_rec_str(vm, "state");
    JsonArray *devs;
    JsonObject *o;
    guint i;

    if (!state) {
        return orch_fail(r, 404, "no VM '%s'", r->seg[1]);
    }
    devs = json_object_get_array_member(vm, "devices");
    for (i = 0; !p && i < json_array_get_length(devs); i++) {
        JsonObject *d = json_array_get_object_element(devs, i);

        if (json_object_get_boolean_member_with_default(d, "console",
                                                        FALSE)) {
            p = orch_rec_placement(r->db, r->seg[1], orch_rec_str(d,
                                                                  "name"));
            o = d;
        }
    }
    server = p ? orch_rec_platform(r->db, orch_rec_str(p, "server")) : NULL;
    if (!server) {
        return orch_fail(r, 409, "VM '%s' has no running remote UART (it "
                         "is %s)", r->seg[1], state);
    }
    if (!orch_rec_str(p, "console")) {
        return orch_fail(r, 409, "the launcher gave VM '%s''s UART no "
                         "console", r->seg[1]);
    }
    {
        JsonObject *c = json_object_new();

        json_object_set_string_member(c, "vm", r->seg[1]);
        json_object_set_string_member(c, "device", orch_rec_str(o, "name"));
        json_object_set_string_member(c, "server", orch_rec_str(p,
                                                                "server"));
        json_object_set_string_member(c, "console", orch_rec_str(p,
                                                                 "console"));
        json_object_set_string_member(c, "server_address",
                                      orch_rec_str(server, "address"));
        json_object_set_string_member(c, "instance",
                                      orch_rec_str(p, "instance"));
        orch_reply_object(r, 200, c);
    }
    return 0;
}

/* Replace the recorded state of placement @o with its launcher's. */
static void vm_dm_refresh(JsonObject *o)
{
    g_autofree char *path = g_strconcat("/v1/instances/",
                                        json_object_get_string_member(
                                            o, "instance"), NULL);
    g_autoptr(JsonNode) reply = NULL;
    const char *address = json_object_get_string_member(o, "server_address");
    guint status = 0;
    JsonObject *inst;

    if (!orch_launcher_call(address, "GET", path, NULL, &status, &reply,
                            NULL)) {
        json_object_set_string_member(o, "state", "unreachable");
    } else if (status == 404) {
        json_object_set_string_member(o, "state", "gone");
    } else if (status == 200 && reply && JSON_NODE_HOLDS_OBJECT(reply)) {
        inst = json_node_get_object(reply);
        if (json_object_has_member(inst, "state")) {
            json_object_set_member(o, "state", json_node_copy(
                json_object_get_member(inst, "state")));
        }
        if (json_object_has_member(inst, "restarts")) {
            json_object_set_member(o, "restarts", json_node_copy(
                json_object_get_member(inst, "restarts")));
        }
    }
    json_object_remove_member(o, "server_address");
}

/* Member @member of @o: string @value, or null if NULL. */
static void set_str(JsonObject *o, const char *member, const char *value)
{
    if (value) {
        json_object_set_string_member(o, member, value);
    } else {
        json_object_set_null_member(o, member);
    }
}

/*
 * Device @d of VM @vm placed as @p on @server, as GET /v1/dms shows it;
 * "tls" as qemu-args.c composes it: no router in between.
 */
static JsonObject *vm_dm_object(const char *vm, JsonObject *d, JsonObject *p,
                                JsonObject *server)
{
    JsonObject *o = json_object_new();
    const char *address = orch_rec_str(p, "address");
    const char *route = orch_rec_str(p, "route_address");
    JsonNode *props = json_object_get_member(d, "props");
    set_str(o, "device", orch_rec_str(d, "name"));
    set_str(o, "vm", vm);
    set_str(o, "model", orch_rec_str(d, "model"));
    json_object_set_member(o, "props", props ? json_node_copy(props) :
                           json_node_new(JSON_NODE_NULL));
    set_str(o, "server", orch_rec_str(p, "server"));
    set_str(o, "server_address",
                                  orch_rec_str(server, "address"));
    set_str(o, "via", orch_rec_str(d, "via"));
    set_str(o, "instance", orch_rec_str(p,
                                                              "instance"));
    set_str(o, "address",
                                  address && *address ? address : NULL);
    set_str(o, "route", route);
    set_str(o, "state", orch_rec_str(p, "state"));
    set_str(o, "console", orch_rec_str(p, "console"));
    json_object_set_boolean_member(
        o, "tls", !route && address && g_str_has_prefix(address, "tcp:") &&
        json_object_get_boolean_member_with_default(server, "model_tls",
                                                    FALSE));
    return o;
}

int orch_dm_list(OrchRequest *r)
{
    g_autoptr(GPtrArray) names = orch_rec_vm_names(r->db);
    JsonArray *a = json_array_new();
    JsonObject *o = json_object_new();
    guint i, j;

    for (i = 0; i < names->len; i++) {
        g_autoptr(JsonObject) vm = orch_rec_vm(r->db, names->pdata[i]);
        JsonArray *devs = vm ? json_object_get_array_member(vm, "devices") :
            NULL;

        for (j = 0; devs && j < json_array_get_length(devs); j++) {
            JsonObject *d = json_array_get_object_element(devs, j);
            g_autoptr(JsonObject) p = orch_rec_placement(
                r->db, names->pdata[i], orch_rec_str(d, "name"));
            g_autoptr(JsonObject) server = p ? orch_rec_platform(
                r->db, orch_rec_str(p, "server")) : NULL;
            JsonObject *dm;

            if (!server) {
                continue;
            }
            dm = vm_dm_object(names->pdata[i], d, p, server);
            /* Claimed, its launcher not answered yet: it knows no instance. */
            if (g_strcmp0(orch_rec_str(dm, "state"), "launching") != 0) {
                vm_dm_refresh(dm);
            }
            json_array_add_object_element(a, dm);
        }
    }
    json_object_set_array_member(o, "dms", a);
    orch_reply_object(r, 200, o);
    return 0;
}
