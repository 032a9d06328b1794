/*
 * dm-orchestrator: where VMs and device models go, and launching the
 * device models there.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "address.h"
#include "db.h"
#include "error.h"
#include "launcher.h"
#include "placement.h"
#include "records.h"
#include "records-bind.h"
#include "records-set.h"
#include "request.h"
#include "store-clients.h"

void orch_client_choice_clear(OrchClientChoice *c)
{
    g_free(c->name);
    g_free(c->address);
    g_free(c->hypervisor);
}

void orch_server_choice_clear(OrchServerChoice *s)
{
    g_free(s->name);
    g_free(s->address);
}

bool orch_place_vm(sqlite3 *db, const char *name, bool need_model_tls,
                   OrchClientChoice *ret, GError **errp)
{
    g_autoptr(GPtrArray) names = NULL;
    g_autoptr(JsonObject) best = NULL;
    gint64 best_load = G_MAXINT64;
    guint i;

    /*
     * On the store (step 2 of docs/scale-out.md's "The next step"): the
     * commit conditioned on the platform chosen only, not on every VM and
     * platform read to choose it ("Which reads a view remembers").
     */
    if (orch_rec_read_view()) {
        if (!orch_client_choose(orch_rec_read_view(), orch_rec_bound_root(),
                                name, need_model_tls, &best, errp)) {
            return false;
        }
    } else if (name) {
        g_autoptr(JsonObject) p = orch_rec_platform(db, name);
        const char *role = orch_rec_str(p, "role");

        if (!role) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND,
                        "no platform '%s'", name);
            return false;
        }
        if (strcmp(role, "client") != 0) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_REQUEST,
                        "'%s' is a server platform, not a client", name);
            return false;
        }
        best = g_steal_pointer(&p);
    } else {
        /* Least loaded: fewest VMs that hold a QEMU there; then by name. */
        names = orch_rec_platform_names(db);
        for (i = 0; i < names->len; i++) {
            g_autoptr(JsonObject) p = orch_rec_platform(db, names->pdata[i]);
            gint64 load;

            if (g_strcmp0(orch_rec_str(p, "role"), "client") != 0 ||
                (need_model_tls &&
                 !json_object_get_boolean_member_with_default(
                     p, "model_tls", FALSE))) {
                continue;
            }
            load = orch_rec_client_running(db, names->pdata[i]);
            if (load < best_load) {
                best_load = load;
                g_clear_pointer(&best, json_object_unref);
                best = g_steal_pointer(&p);
            }
        }
    }
    if (!best) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "no client platform to run the VM on%s",
                    need_model_tls && !name ?
                    " with model TLS credentials (its devices are "
                    "served over TLS)" : "");
        return false;
    }
    ret->name = g_strdup(orch_rec_str(best, "name"));
    ret->address = g_strdup(orch_rec_str(best, "address"));
    ret->hypervisor = g_strdup(orch_rec_str(best, "hypervisor"));
    return true;
}

/* Whether platform document @p offers @model. */
static bool placement_offers(JsonObject *p, const char *model)
{
    JsonArray *models = json_object_get_array_member(p, "models");
    guint i;

    for (i = 0; models && i < json_array_get_length(models); i++) {
        if (!g_strcmp0(orch_rec_str(json_array_get_object_element(models, i),
                                    "model"), model)) {
            return true;
        }
    }
    return false;
}

/*
 * CONFLICT with the reason no server could take @model (pinned to
 * @pinned or not), @offered telling whether any server (or the pinned
 * one) offers it.
 */
static void placement_refuse(const char *dev, const char *model,
                             const char *pinned, bool offered,
                             GError **errp)
{
    if (pinned) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT, offered ?
                    "device '%s': server '%s' is full" :
                    "device '%s': server '%s' does not offer model '%s'",
                    dev, pinned, model);
    } else if (!offered) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "device '%s': no server platform offers model '%s'",
                    dev, model);
    } else {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "device '%s': every server offering model '%s' is full",
                    dev, model);
    }
}

bool orch_place_device(sqlite3 *db, const char *vm, const char *dev,
                       const char *model, const char *pinned,
                       OrchServerChoice *ret, GError **errp)
{
    g_autoptr(GPtrArray) platforms = orch_rec_platforms(db);
    JsonObject *best = NULL;
    gint64 best_used = 0, best_cap = 1;
    bool offered = false;
    guint i;

    /*
     * Least loaded: lowest share of capacity in use (placements made
     * earlier in this same transaction count, claims being launched
     * too), then fewest, then name (the documents' order).
     */
    for (i = 0; i < platforms->len; i++) {
        JsonObject *p = platforms->pdata[i];
        const char *name = orch_rec_str(p, "name");
        gint64 cap = json_object_get_int_member_with_default(p, "capacity",
                                                             0);
        gint64 used;

        if (g_strcmp0(orch_rec_str(p, "role"), "server") != 0 ||
            (pinned && g_strcmp0(name, pinned) != 0) ||
            !placement_offers(p, model)) {
            continue;
        }
        offered = true;
        used = orch_rec_server_used(db, name);
        if (used >= cap) {
            continue;
        }
        /* used / cap < best_used / best_cap, without division. */
        if (!best || used * best_cap < best_used * cap ||
            (used * best_cap == best_used * cap && used < best_used)) {
            best = p;
            best_used = used;
            best_cap = cap;
        }
    }
    if (!best) {
        placement_refuse(dev, model, pinned, offered, errp);
        return false;
    }
    ret->vm = vm;
    ret->dev = dev;
    ret->name = g_strdup(orch_rec_str(best, "name"));
    ret->address = g_strdup(orch_rec_str(best, "address"));
    return true;
}

static JsonNode *placement_request(const char *vm_uuid, OrchServerChoice *s,
                                   const char *instance, const char *model,
                                   const char *props, const char *restart,
                                   bool console, const char *token)
{
    JsonNode *body = json_node_new(JSON_NODE_OBJECT);
    JsonObject *o = json_object_new(), *bind = json_object_new();
    JsonNode *p = props ? json_from_string(props, NULL) : NULL;

    /*
     * The client platform and hypervisor are left unbound: a migration
     * moves the VM to another client while its models stay put.
     */
    json_object_set_string_member(bind, "vm", vm_uuid);
    json_object_set_null_member(bind, "hypervisor");
    json_object_set_null_member(bind, "client_platform");
    json_object_set_string_member(bind, "device_model", instance);
    json_object_set_string_member(bind, "server_platform", s->name);
    json_object_set_string_member(o, "id", instance);
    json_object_set_string_member(o, "model", model);
    json_object_set_string_member(o, "transport",
                                  g_str_has_prefix(s->address, "unix:") ?
                                  "unix" : "tcp");
    json_object_set_object_member(o, "bind", bind);
    json_object_set_string_member(o, "token", token);
    json_object_set_string_member(o, "restart", restart);
    json_object_set_boolean_member(o, "console", console);
    if (p && JSON_NODE_HOLDS_OBJECT(p) &&
        json_object_get_size(json_node_get_object(p))) {
        json_object_set_member(o, "props", p);
    } else if (p) {
        json_node_unref(p);
    }
    json_node_take_object(body, o);
    return body;
}

/* Member @key of @o is absent or null (json-http.c's rule for optional). */
static bool placement_absent(JsonObject *o, const char *key)
{
    JsonNode *n = json_object_get_member(o, key);

    return !n || JSON_NODE_HOLDS_NULL(n);
}

/* The launcher's "address", "console" and "state" of the new instance. */
static bool placement_parse_instance(OrchServerChoice *s, JsonNode *reply,
                                     const char **ret_addr,
                                     const char **ret_console,
                                     const char **ret_state, GError **errp)
{
    JsonObject *o = reply && JSON_NODE_HOLDS_OBJECT(reply) ?
        json_node_get_object(reply) : NULL;

    if (!o) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_GATEWAY,
                    "launcher %s: the instance is not an object",
                    s->address);
        return false;
    }
    /* "console" and "state" may be absent or null, not of another type. */
    *ret_addr = orch_launcher_str(o, "address");
    *ret_console = orch_launcher_str(o, "console");
    *ret_state = orch_launcher_str(o, "state");
    if (!*ret_addr || !orch_address_valid(*ret_addr, NULL) ||
        (!*ret_console && !placement_absent(o, "console")) ||
        (!*ret_state && !placement_absent(o, "state"))) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_GATEWAY,
                    "launcher %s: the instance has no usable address",
                    s->address);
        return false;
    }
    return true;
}

bool orch_model_paired(const char *model)
{
    static const char *const paired[] = {
        "bochs-display", "virtio-keyboard", "virtio-tablet", NULL,
    };

    return g_strv_contains(paired, model);
}

bool orch_place_paired(sqlite3 *db, const char *vm, const char *dev,
                       const char *model, char **pinned, GError **errp)
{
    g_autoptr(JsonObject) doc = NULL;
    const char *first_pin = NULL, *server;
    JsonArray *devs;
    guint i;

    if (!orch_model_paired(model)) {
        return true;
    }
    doc = orch_rec_vm(db, vm);
    devs = doc ? json_object_get_array_member(doc, "devices") : NULL;
    for (i = 0; devs && i < json_array_get_length(devs); i++) {
        JsonObject *d = json_array_get_object_element(devs, i);
        const char *name = orch_rec_str(d, "name");
        g_autoptr(JsonObject) p = NULL;

        if (!orch_model_paired(orch_rec_str(d, "model"))) {
            continue;
        }
        first_pin = first_pin ? first_pin : orch_rec_str(d, "server");
        p = orch_rec_placement(db, vm, name);
        server = orch_rec_str(p, "server");
        if (!server) {
            continue;
        }
        if (*pinned && strcmp(*pinned, server) != 0) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                        "device '%s': a VM's display, keyboard and tablet "
                        "go to one server, and '%s' is on '%s'", dev, name,
                        server);
            return false;
        }
        g_free(*pinned);
        *pinned = g_strdup(server);
        return true;
    }
    /* The first of them: where one of them is pinned, if any. */
    if (!*pinned && first_pin) {
        *pinned = g_strdup(first_pin);
    }
    return true;
}

/*
 * A display's VNC address: kept in its placement's console column (its
 * graphical console; a display has no serial one).
 */
static const char *placement_vnc(JsonNode *reply)
{
    JsonObject *o = reply && JSON_NODE_HOLDS_OBJECT(reply) ?
        json_node_get_object(reply) : NULL;
    const char *vnc = o ? orch_launcher_str(o, "vnc") : NULL;

    return vnc && orch_address_valid(vnc, NULL) ? vnc : NULL;
}

bool orch_launch_instance(OrchUndo *undo, const char *vm_uuid,
                          OrchServerChoice *s, const char *instance,
                          const char *model, const char *props,
                          const char *restart, bool console,
                          const char *token, GError **errp)
{
    g_autoptr(JsonNode) body = placement_request(vm_uuid, s, instance, model,
                                                 props, restart, console,
                                                 token);
    g_autoptr(JsonNode) reply = NULL;
    g_autofree char *path = g_strconcat("/v1/instances/", instance, NULL);
    const char *addr, *cons, *state;

    /*
     * The placement is the claim on the server's room, so it is written
     * and committed before the launcher is called: orch_place_device
     * counts the claims, and a start served while this one waits for its
     * launcher (the section is paused then) must count it.  Written after
     * the answer, two starts picked the same last slot (docs/scale-out.md,
     * "Concurrent starts").
     */
    if (!orch_rec_placement_claim(s->vm, s->dev, s->name, instance,
                                  token, errp) ||
        !orch_request_claim_now(ORCH_STORE_ROOT, s->vm, s->dev, instance,
                                errp) ||
        !orch_launcher_expect(s->address, "POST", "/v1/instances", body,
                              201, &reply, errp)) {
        return false;
    }
    orch_undo_add(undo, s->address, path);
    if (!placement_parse_instance(s, reply, &addr, &cons, &state, errp)) {
        return false;
    }
    cons = cons ? cons : placement_vnc(reply);
    return orch_rec_placement_launched(s->vm, s->dev, addr, cons,
                                       state ? state : "starting", errp);
}

void orch_placements_release(sqlite3 *db, OrchUndo *undo, const char *vm)
{
    g_autoptr(JsonObject) doc = orch_rec_vm(db, vm);
    JsonArray *devs = doc ? json_object_get_array_member(doc, "devices") :
        NULL;
    guint i;

    for (i = 0; devs && i < json_array_get_length(devs); i++) {
        JsonObject *d = json_array_get_object_element(devs, i);
        g_autoptr(JsonObject) p = orch_rec_placement(db, vm,
                                                     orch_rec_str(d, "name"));
        g_autoptr(JsonObject) s = NULL;
        g_autoptr(JsonObject) o = NULL;
        g_autofree char *path = NULL;
        const char *via = orch_rec_str(d, "via");
        const char *route = orch_rec_str(p, "route_id");

        s = p ? orch_rec_platform(db, orch_rec_str(p, "server")) : NULL;
        if (!s) {
            continue;
        }
        path = g_strconcat("/v1/instances/", orch_rec_str(p, "instance"),
                           NULL);
        orch_undo_add(undo, orch_rec_str(s, "address"), path);
        /* Added last, so run first: no session is routed to a dead end. */
        o = via && route ? orch_rec_platform(db, via) : NULL;
        if (o) {
            g_autofree char *rpath = g_strconcat("/v1/routes/", route, NULL);

            orch_undo_add(undo, orch_rec_str(o, "address"), rpath);
        }
    }
}
