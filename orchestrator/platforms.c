/*
 * dm-orchestrator: /v1/platforms, the client and server platforms and
 * their launchers.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>

#include "address.h"
#include "catalogue.h"
#include "db.h"
#include "error.h"
#include "launcher.h"
#include "platforms.h"
#include "records.h"
#include "records-set.h"
#include "store-platforms.h"
#include "request.h"

/* Default capacity of a server whose launcher does not say. */
#define PLATFORM_DEFAULT_CAPACITY 16

/*
 * Platform @name as the API shows it: its document, its models' names
 * and how many models (a server) or VMs (a client) run there; NULL if
 * there is none.
 */
static JsonObject *platform_object(sqlite3 *db, const char *name)
{
    g_autoptr(JsonObject) p = orch_rec_platform(db, name);
    const char *role = orch_rec_str(p, "role");
    JsonObject *o;
    JsonArray *models, *names;
    guint i;

    if (!role) {
        return NULL;
    }
    o = json_object_new();
    json_object_set_string_member(o, "name", name);
    json_object_set_string_member(o, "role", role);
    json_object_set_member(o, "address", json_node_copy(
        json_object_get_member(p, "address")));
    json_object_set_member(o, "capacity", json_node_copy(
        json_object_get_member(p, "capacity")));
    json_object_set_member(o, "hypervisor", json_node_copy(
        json_object_get_member(p, "hypervisor")));
    json_object_set_boolean_member(o, "model_tls",
        json_object_get_boolean_member_with_default(p, "model_tls", FALSE));
    /* Its launcher's registration in etcd, if it registers at all. */
    if (orch_rec_str(p, "registration")) {
        json_object_set_string_member(o, "registration",
                                      orch_rec_str(p, "registration"));
    }
    models = json_object_get_array_member(p, "models");
    names = json_array_new();
    for (i = 0; i < json_array_get_length(models); i++) {
        json_array_add_string_element(names, orch_rec_str(
            json_array_get_object_element(models, i), "model"));
    }
    json_object_set_array_member(o, "models", names);
    json_object_set_int_member(o, "running", strcmp(role, "server") == 0 ?
                               orch_rec_server_used(db, name) :
                               orch_rec_client_running(db, name));
    return o;
}

int orch_platform_list(OrchRequest *r)
{
    g_autoptr(GPtrArray) names = orch_rec_platform_names(r->db);
    JsonArray *a = json_array_new();
    JsonObject *o = json_object_new();
    guint i;

    for (i = 0; i < names->len; i++) {
        JsonObject *p = platform_object(r->db, names->pdata[i]);

        if (p) {
            json_array_add_object_element(a, p);
        }
    }
    json_object_set_array_member(o, "platforms", a);
    orch_reply_object(r, 200, o);
    return 0;
}

static int platform_reply(OrchRequest *r, const char *name, guint status)
{
    JsonObject *o = platform_object(r->db, name);

    if (!o) {
        return orch_fail(r, 404, "no platform '%s'", name);
    }
    orch_reply_object(r, status, o);
    return 0;
}

int orch_platform_get(OrchRequest *r)
{
    return platform_reply(r, r->seg[1], 200);
}

/* The "models" of the body, NULL if absent; false with a 400 if bad. */
static bool platform_body_models(OrchRequest *r, JsonArray **ret)
{
    JsonNode *n = json_object_get_member(r->body, "models");
    JsonArray *a;
    guint i;

    *ret = NULL;
    if (!n || JSON_NODE_HOLDS_NULL(n)) {
        return true;
    }
    if (!JSON_NODE_HOLDS_ARRAY(n)) {
        orch_fail(r, 400, "'models' must be an array of strings");
        return false;
    }
    a = json_node_get_array(n);
    for (i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);

        if (!JSON_NODE_HOLDS_VALUE(e) ||
            json_node_get_value_type(e) != G_TYPE_STRING ||
            orch_check_name(r, "model", json_node_get_string(e)) < 0) {
            orch_fail(r, 400, "'models' must be an array of model names");
            return false;
        }
    }
    *ret = a;
    return true;
}

/*
 * Ask the launcher at @address for its health; it must be up and of
 * @role.  Its reply is returned to fill in defaults.
 */
static JsonObject *platform_check_launcher(const char *address,
                                           const char *role, GError **errp)
{
    g_autoptr(JsonNode) reply = NULL;
    const char *theirs = NULL;
    JsonObject *o;

    if (!orch_launcher_expect(address, "GET", "/v1/health", NULL, 200,
                              &reply, errp)) {
        return NULL;
    }
    if (!reply || !JSON_NODE_HOLDS_OBJECT(reply)) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_GATEWAY,
                    "launcher %s: health is not an object", address);
        return NULL;
    }
    o = json_node_get_object(reply);
    if (json_object_has_member(o, "role") &&
        JSON_NODE_HOLDS_VALUE(json_object_get_member(o, "role"))) {
        theirs = json_object_get_string_member(o, "role");
    }
    if (!theirs || strcmp(theirs, role) != 0) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "the launcher at %s is a %s platform, not a %s", address,
                    theirs ? theirs : "(unknown)", role);
        return NULL;
    }
    return json_object_ref(o);
}

int orch_platform_add(OrchRequest *r)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) health = NULL;
    g_autoptr(JsonObject) existing = NULL;
    const char *name, *role, *address, *hypervisor = NULL;
    g_autofree char *default_hv = NULL;
    JsonArray *models;
    g_autoptr(JsonObject) doc = NULL;
    gint64 capacity = -1;

    if (orch_require_body(r) < 0 ||
        orch_body_str(r, r->body, "name", true, &name) < 0 ||
        orch_check_name(r, "platform", name) < 0 ||
        orch_body_str(r, r->body, "role", true, &role) < 0 ||
        orch_body_str(r, r->body, "address", true, &address) < 0 ||
        orch_body_int(r, r->body, "capacity", false, &capacity) < 0 ||
        orch_body_str(r, r->body, "hypervisor", false, &hypervisor) < 0 ||
        !platform_body_models(r, &models)) {
        return -EINVAL;
    }
    if (strcmp(role, "client") != 0 && strcmp(role, "server") != 0) {
        return orch_fail(r, 400, "'role' must be client or server, not "
                         "'%s'", role);
    }
    if (!orch_address_valid(address, &err)) {
        return orch_fail(r, 400, "'address': %s", err->message);
    }
    if (json_object_has_member(r->body, "capacity") && capacity < 0) {
        return orch_fail(r, 400, "'capacity' must not be negative");
    }
    if (hypervisor && orch_check_name(r, "hypervisor", hypervisor) < 0) {
        return -EINVAL;
    }
    existing = orch_rec_platform(r->db, name);
    if (existing) {
        return orch_fail(r, 409, "platform '%s' exists", name);
    }
    health = platform_check_launcher(address, role, &err);
    if (!health) {
        return orch_fail_error(r, err);
    }
    if (capacity < 0) {
        capacity = PLATFORM_DEFAULT_CAPACITY;
        JsonNode *n = json_object_get_member(health, "capacity");

        if (n && JSON_NODE_HOLDS_VALUE(n) &&
            json_node_get_value_type(n) == G_TYPE_INT64 &&
            json_node_get_int(n) >= 0) {
            capacity = json_node_get_int(n);
        }
    }
    if (strcmp(role, "client") == 0) {
        default_hv = g_strconcat(name, "-qemu", NULL);
        hypervisor = hypervisor ? hypervisor : default_hv;
    } else {
        hypervisor = NULL;
    }
    doc = orch_platform_doc_new(name, role, address, capacity, hypervisor,
                                health, models, &err);
    if (!doc || !orch_rec_platform_add(doc, &err)) {
        return orch_fail_error(r, err);
    }
    return platform_reply(r, name, 201);
}

/*
 * What refers to platform @name, over the VMs' documents: devices placed
 * on it whose route goes through it (@routed), devices pinned to it
 * (@pinned) and reaching their model through it (@via).
 */
static void platform_users(sqlite3 *db, const char *name, gint64 *routed,
                           gint64 *pinned, gint64 *via)
{
    g_autoptr(GPtrArray) names = orch_rec_vm_names(db);
    guint i, j;

    *routed = *pinned = *via = 0;
    for (i = 0; i < names->len; i++) {
        g_autoptr(JsonObject) vm = orch_rec_vm(db, names->pdata[i]);
        JsonArray *devs = vm ? json_object_get_array_member(vm, "devices") :
            NULL;

        for (j = 0; devs && j < json_array_get_length(devs); j++) {
            JsonObject *d = json_array_get_object_element(devs, j);
            bool through = !g_strcmp0(orch_rec_str(d, "via"), name);

            *pinned += !g_strcmp0(orch_rec_str(d, "server"), name);
            *via += through;
            if (through) {
                g_autoptr(JsonObject) p = orch_rec_placement(
                    db, names->pdata[i], orch_rec_str(d, "name"));

                *routed += orch_rec_str(p, "route_id") != NULL;
            }
        }
    }
}

int orch_platform_remove(OrchRequest *r)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) p = NULL;
    const char *name = r->seg[1];
    gint64 users, routed, pinned, via;

    p = orch_rec_platform(r->db, name);
    if (!p) {
        return orch_fail(r, 404, "no platform '%s'", name);
    }
    users = orch_rec_client_running(r->db, name) +
            orch_rec_server_used(r->db, name);
    if (users > 0) {
        return orch_fail(r, 409, "platform '%s' is in use by %"
                         G_GINT64_FORMAT " running VM(s) or device "
                         "model(s)", name, users);
    }
    platform_users(r->db, name, &routed, &pinned, &via);
    if (routed > 0) {
        return orch_fail(r, 409, "platform '%s' routes %" G_GINT64_FORMAT
                         " device model(s) in use", name, routed);
    }
    if (pinned > 0) {
        return orch_fail(r, 409, "platform '%s' is the pinned server of %"
                         G_GINT64_FORMAT " device(s)", name, pinned);
    }
    if (via > 0) {
        return orch_fail(r, 409, "platform '%s' is the owner server "
                         "('via') of %" G_GINT64_FORMAT " device(s)", name,
                         via);
    }
    if (!orch_rec_platform_remove(name, &err)) {
        return orch_fail_error(r, err);
    }
    orch_reply_object(r, 200, json_object_new());
    return 0;
}
