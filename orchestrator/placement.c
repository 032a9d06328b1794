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

    if (name) {
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
    /* The row's id: what the writes, still SQL, are keyed by. */
    ret->id = orch_db_int(db, -1, "SELECT id FROM platforms WHERE name = ?",
                          "s", ret->name);
    ret->address = g_strdup(orch_rec_str(best, "address"));
    ret->hypervisor = g_strdup(orch_rec_str(best, "hypervisor"));
    return true;
}

/* CONFLICT with the reason no server could take @model (pinned or not). */
static void placement_refuse(sqlite3 *db, const char *dev,
                             const char *model, gint64 pinned_id,
                             GError **errp)
{
    g_autofree char *pinned = NULL;

    if (pinned_id >= 0) {
        pinned = orch_db_str(db, "SELECT name FROM platforms WHERE id = ?",
                             "i", pinned_id);
        if (orch_db_int(db, 0, "SELECT count(*) FROM platform_models "
                        "WHERE platform_id = ? AND model = ?", "is",
                        pinned_id, model) == 0) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                        "device '%s': server '%s' does not offer model "
                        "'%s'", dev, pinned, model);
        } else {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                        "device '%s': server '%s' is full", dev, pinned);
        }
    } else if (orch_db_int(db, 0, "SELECT count(*) FROM platform_models m"
                           " JOIN platforms p ON p.id = m.platform_id WHERE"
                           " p.role = 'server' AND m.model = ?", "s",
                           model) == 0) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "device '%s': no server platform offers model '%s'",
                    dev, model);
    } else {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "device '%s': every server offering model '%s' is full",
                    dev, model);
    }
}

bool orch_place_device(sqlite3 *db, gint64 dev_id, const char *dev,
                       const char *model, gint64 pinned_id,
                       OrchServerChoice *ret, GError **errp)
{
    /*
     * Least loaded: lowest share of capacity in use (placements made
     * earlier in this same transaction count), then fewest, then name.
     */
    g_autoptr(sqlite3_stmt) st = orch_db_stmt(db,
        "SELECT id, name, address FROM (SELECT p.id, p.name, p.address,"
        "  p.capacity, (SELECT count(*) FROM placements x"
        "   WHERE x.server_id = p.id) AS used"
        "  FROM platforms p JOIN platform_models m ON m.platform_id = p.id"
        "  WHERE p.role = 'server' AND m.model = ?1"
        "  AND (?2 < 0 OR p.id = ?2))"
        " WHERE used < capacity"
        " ORDER BY CAST(used AS REAL) / capacity, used, name LIMIT 1",
        "si", model, pinned_id);

    if (!st || sqlite3_step(st) != SQLITE_ROW) {
        placement_refuse(db, dev, model, pinned_id, errp);
        return false;
    }
    ret->id = sqlite3_column_int64(st, 0);
    ret->name = g_strdup((const char *)sqlite3_column_text(st, 1));
    ret->address = g_strdup((const char *)sqlite3_column_text(st, 2));
    ret->dev_id = dev_id;
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
                       const char *model, gint64 *pinned_id,
                       GError **errp)
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
        gint64 id;

        if (!orch_model_paired(orch_rec_str(d, "model"))) {
            continue;
        }
        first_pin = first_pin ? first_pin : orch_rec_str(d, "server");
        p = orch_rec_placement(db, vm, name);
        server = orch_rec_str(p, "server");
        if (!server) {
            continue;
        }
        /* The row's id: what the placement's choice, still SQL, takes. */
        id = orch_db_int(db, -1, "SELECT id FROM platforms WHERE name = ?",
                         "s", server);
        if (*pinned_id >= 0 && *pinned_id != id) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                        "device '%s': a VM's display, keyboard and tablet "
                        "go to one server, and '%s' is on '%s'", dev, name,
                        server);
            return false;
        }
        *pinned_id = id;
        return true;
    }
    /* The first of them: where one of them is pinned, if any. */
    if (*pinned_id < 0 && first_pin) {
        *pinned_id = orch_db_int(db, -1, "SELECT id FROM platforms"
                                 " WHERE name = ?", "s", first_pin);
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

bool orch_launch_instance(sqlite3 *db, OrchUndo *undo, const char *vm_uuid,
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
     * The row is the claim on the server's room, so it is written before
     * the launcher is called: orch_place_device counts rows, and a start
     * served while this one waits for its launcher (the section is paused
     * then) must count it.  Written after the answer, two starts picked
     * the same last slot (docs/scale-out.md, "Concurrent starts").
     */
    if (!orch_db_run(db, errp, "INSERT INTO placements (device_id,"
                     " server_id, instance, address, token, state)"
                     " VALUES (?, ?, ?, '', ?, 'launching')", "iiss",
                     s->dev_id, s->id, instance, token) ||
        !orch_launcher_expect(s->address, "POST", "/v1/instances", body,
                              201, &reply, errp)) {
        return false;
    }
    orch_undo_add(undo, s->address, path);
    if (!placement_parse_instance(s, reply, &addr, &cons, &state, errp)) {
        return false;
    }
    cons = cons ? cons : placement_vnc(reply);
    return orch_db_run(db, errp, "UPDATE placements SET address = ?,"
                       " console = ?, state = ? WHERE instance = ?", "ssss",
                       addr, cons, state ? state : "starting", instance);
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
