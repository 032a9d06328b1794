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
#include "request.h"
#include "vm.h"
#include "vms.h"

int orch_vm_list(OrchRequest *r)
{
    g_autoptr(sqlite3_stmt) st = orch_db_stmt(r->db,
        "SELECT name FROM vms ORDER BY name", "");
    JsonArray *a = json_array_new();
    JsonObject *o = json_object_new();

    while (st && sqlite3_step(st) == SQLITE_ROW) {
        JsonObject *vm = orch_vm_object(r->db,
                                        (const char *)sqlite3_column_text(
                                            st, 0));
        if (vm) {
            json_array_add_object_element(a, vm);
        }
    }
    json_object_set_array_member(o, "vms", a);
    orch_reply_object(r, 200, o);
    return st ? 0 : -EIO;
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
 * The id of server platform @platform, named by device @dev's @key
 * ("server" or "via"); -1 for none.  404 if unknown, 400 if a client.
 */
static int vm_server_id(OrchRequest *r, const char *dev, const char *key,
                        const char *platform, gint64 *ret)
{
    g_autofree char *role = NULL;

    *ret = -1;
    if (!platform) {
        return 0;
    }
    if (orch_check_name(r, "platform", platform) < 0) {
        return -EINVAL;
    }
    role = orch_db_str(r->db, "SELECT role FROM platforms WHERE name = ?",
                       "s", platform);
    if (!role) {
        return orch_fail(r, 404, "device '%s': no platform '%s'", dev,
                         platform);
    }
    if (strcmp(role, "server") != 0) {
        return orch_fail(r, 400, "device '%s': '%s' is a client platform, "
                         "not a server ('%s' must name a server)", dev,
                         platform, key);
    }
    *ret = orch_db_int(r->db, -1, "SELECT id FROM platforms WHERE name = ?",
                       "s", platform);
    return 0;
}

/* Check one element of "devices" and insert it for VM @vm_id. */
static int vm_add_device(OrchRequest *r, gint64 vm_id, JsonNode *n,
                         int *consoles)
{
    const char *name, *model, *server = NULL, *restart = NULL, *via = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *props = NULL;
    OrchModelInfo m;
    JsonObject *o;
    gint64 server_id, via_id;

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
    if (vm_server_id(r, name, "server", server, &server_id) < 0 ||
        vm_server_id(r, name, "via", via, &via_id) < 0) {
        return -EINVAL;
    }
    /* The model as the launchers declare it (its pinned server's first). */
    if (!orch_catalogue_find(r->db, model, server_id, &m)) {
        g_autofree char *known = orch_catalogue_names(r->db);

        return orch_fail(r, 400, "device '%s': unknown model '%s' (the "
                         "server platforms offer: %s)", name, model,
                         *known ? known : "none");
    }
    props = orch_catalogue_check_props(r->db, model, server_id, name,
                                       json_object_get_member(o, "props"),
                                       &err);
    if (!props) {
        return orch_fail_error(r, err);
    }
    if (m.console && ++*consoles > 1) {
        return orch_fail(r, 400, "device '%s': only one console device "
                         "per VM", name);
    }
    if (orch_db_int(r->db, 0, "SELECT count(*) FROM devices WHERE"
                    " vm_id = ? AND name = ?", "is", vm_id, name) > 0) {
        return orch_fail(r, 400, "device '%s' appears twice", name);
    }
    /* NULLIF: -1 stands for "none" (the binder knows no NULL integer). */
    if (!orch_db_run(r->db, &err, "INSERT INTO devices (vm_id, name, model,"
                     " bus, console, restart, server_id, via_id, props)"
                     " VALUES (?, ?, ?, ?, ?, ?, NULLIF(?, -1), NULLIF(?, -1),"
                     " ?)", "isssisiis", vm_id, name, model, m.bus,
                     (gint64)m.console, restart, server_id, via_id, props)) {
        return orch_fail_error(r, err);
    }
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
    JsonNode *devs;
    gint64 id;
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
    if (orch_db_int(r->db, 0, "SELECT count(*) FROM vms WHERE name = ?",
                    "s", name) > 0) {
        return orch_fail(r, 409, "VM '%s' exists", name);
    }
    if (!orch_db_run(r->db, &err, "INSERT INTO vms (name, uuid, memory,"
                     " kernel, initrd, append, extra_args, boot) VALUES"
                     " (?, ?, ?, ?, ?, ?, ?, ?)", "ssssssss", name, uuid,
                     memory, kernel, initrd, append, args, boot)) {
        return orch_fail_error(r, err);
    }
    id = sqlite3_last_insert_rowid(r->db);
    for (i = 0; devs && JSON_NODE_HOLDS_ARRAY(devs) &&
         i < json_array_get_length(json_node_get_array(devs)); i++) {
        ret = vm_add_device(r, id, json_array_get_element(
                                json_node_get_array(devs), i), &consoles);
        if (ret < 0) {
            return ret;
        }
    }
    /* Paired by one launcher: pinned, they are pinned to one server. */
    if (orch_db_int(r->db, 0, "SELECT count(DISTINCT server_id) FROM devices"
                    " WHERE vm_id = ? AND model IN " ORCH_SQL_PAIRED_MODELS,
                    "i", id) > 1) {
        return orch_fail(r, 400, "a VM's display, keyboard and tablet go "
                         "to one server: pin them to the same one, or to "
                         "none");
    }
    if (boot && orch_db_int(r->db, 0, "SELECT count(*) FROM devices WHERE"
                            " vm_id = ? AND name = ? AND bus = 'pci'", "is",
                            id, boot) == 0) {
        return orch_fail(r, 400, "'boot' must name one of the VM's PCI "
                         "devices (a disk), not '%s'", boot);
    }
    orch_reply_object(r, 201, orch_vm_object(r->db, name));
    return 0;
}

int orch_vm_remove(OrchRequest *r)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *state = orch_db_str(r->db, "SELECT state FROM vms "
                                         "WHERE name = ?", "s", r->seg[1]);

    if (!state) {
        return orch_fail(r, 404, "no VM '%s'", r->seg[1]);
    }
    if (strcmp(state, "defined") != 0 && strcmp(state, "stopped") != 0) {
        return orch_fail(r, 409, "VM '%s' is %s: stop it first", r->seg[1],
                         state);
    }
    if (!orch_db_run(r->db, &err, "DELETE FROM vms WHERE name = ?", "s",
                     r->seg[1])) {
        return orch_fail_error(r, err);
    }
    orch_reply_object(r, 200, json_object_new());
    return 0;
}

int orch_vm_console(OrchRequest *r)
{
    g_autoptr(sqlite3_stmt) st = NULL;
    g_autofree char *state = orch_db_str(r->db, "SELECT state FROM vms "
                                         "WHERE name = ?", "s", r->seg[1]);

    if (!state) {
        return orch_fail(r, 404, "no VM '%s'", r->seg[1]);
    }
    st = orch_db_stmt(r->db,
        "SELECT v.name AS vm, d.name AS device, s.name AS server,"
        " p.console, s.address AS server_address, p.instance"
        " FROM devices d JOIN vms v ON v.id = d.vm_id"
        " JOIN placements p ON p.device_id = d.id"
        " JOIN platforms s ON s.id = p.server_id"
        " WHERE v.name = ? AND d.console = 1", "s", r->seg[1]);
    if (!st || sqlite3_step(st) != SQLITE_ROW) {
        return orch_fail(r, 409, "VM '%s' has no running remote UART (it "
                         "is %s)", r->seg[1], state);
    }
    if (sqlite3_column_type(st, 3) == SQLITE_NULL) {
        return orch_fail(r, 409, "the launcher gave VM '%s''s UART no "
                         "console", r->seg[1]);
    }
    orch_reply_object(r, 200, orch_db_row(st));
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

int orch_dm_list(OrchRequest *r)
{
    g_autoptr(sqlite3_stmt) st = orch_db_stmt(r->db,
        "SELECT d.name AS device, v.name AS vm, d.model,"
        " d.props AS \"j:props\", s.name AS server,"
        " s.address AS server_address, o.name AS via, p.instance,"
        " NULLIF(p.address, '') AS address, p.route_address AS route,"
        " p.state, p.console,"
        /* As qemu-args.c composes it: no router in between. */
        " CASE WHEN " ORCH_SQL_MODEL_TLS " AND p.route_address IS NULL"
        "  THEN 'true' ELSE 'false' END AS \"j:tls\""
        " FROM placements p JOIN devices d ON d.id = p.device_id"
        " JOIN vms v ON v.id = d.vm_id JOIN platforms s ON s.id = p.server_id"
        " LEFT JOIN platforms o ON o.id = d.via_id"
        " ORDER BY v.name, d.id", "");
    JsonArray *a = orch_db_rows(st);
    JsonObject *o = json_object_new();
    guint i;

    for (i = 0; i < json_array_get_length(a); i++) {
        JsonObject *dm = json_array_get_object_element(a, i);

        /* Claimed, its launcher not answered yet: it knows no instance. */
        if (g_strcmp0(json_object_get_string_member(dm, "state"),
                      "launching") != 0) {
            vm_dm_refresh(dm);
        }
    }
    json_object_set_array_member(o, "dms", a);
    orch_reply_object(r, 200, o);
    return st ? 0 : -EIO;
}
