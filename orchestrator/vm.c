/*
 * dm-orchestrator: the VM, below the API handlers that act on it
 * (vms.c, lifecycle.c, migrate.c, save.c): its row, its events, its
 * QEMU (started, asked over QMP, torn down) and the progress of its
 * migration.  It calls only what lies below it (placement, QEMU
 * arguments, the launchers, the database), never a handler.
 *
 * The progress of a running migration is kept here, outside the
 * database, so that the main thread can report it while the worker's
 * transaction is still open.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdarg.h>

#include "db.h"
#include "error.h"
#include "launcher.h"
#include "log.h"
#include "placement.h"
#include "qemu-args.h"
#include "store-events.h"
#include "vm.h"

#define MIGRATE_POLL_US (200 * 1000)

static GMutex migrate_lock;
static GHashTable *migrate_progress;    /* VM name -> its JSON text */

void orch_event(sqlite3 *db, const char *vm, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    orch_events_add(vm, msg);
    orch_info("VM %s: %s", vm, msg);
}

bool orch_qmp(const char *address, const char *vm, const char *cmd,
              JsonObject *args, JsonNode **ret_return, GError **errp)
{
    g_autofree char *path = g_strdup_printf("/v1/vms/%s/qmp", vm);
    g_autoptr(JsonNode) body = json_node_new(JSON_NODE_OBJECT);
    g_autoptr(JsonNode) reply = NULL;
    JsonObject *o = json_object_new(), *ro;

    json_object_set_string_member(o, "execute", cmd);
    if (args) {
        json_object_set_object_member(o, "arguments", json_object_ref(args));
    }
    json_node_take_object(body, o);
    if (!orch_launcher_expect(address, "POST", path, body, 200, &reply,
                              errp)) {
        return false;
    }
    if (!reply || !JSON_NODE_HOLDS_OBJECT(reply)) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_GATEWAY,
                    "QMP %s: the reply is not an object", cmd);
        return false;
    }
    ro = json_node_get_object(reply);
    if (json_object_has_member(ro, "error")) {
        JsonNode *e = json_object_get_member(ro, "error");
        const char *desc = NULL;

        if (JSON_NODE_HOLDS_OBJECT(e)) {
            JsonNode *d = json_object_get_member(json_node_get_object(e),
                                                 "desc");
            if (d && JSON_NODE_HOLDS_VALUE(d) &&
                json_node_get_value_type(d) == G_TYPE_STRING) {
                desc = json_node_get_string(d);
            }
        }
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_GATEWAY,
                    "QEMU refused %s: %s", cmd,
                    desc ? desc : "(no description)");
        return false;
    }
    if (ret_return) {
        JsonNode *rn = json_object_get_member(ro, "return");

        *ret_return = rn ? json_node_copy(rn) : json_node_new(
            JSON_NODE_NULL);
    }
    return true;
}

bool orch_vm_load(sqlite3 *db, const char *name, OrchVm *ret,
                  GError **errp)
{
    g_autoptr(sqlite3_stmt) st = orch_db_stmt(db,
        "SELECT v.id, v.uuid, v.state, c.name, c.address, v.hypervisor"
        " FROM vms v LEFT JOIN platforms c ON c.id = v.client_id"
        " WHERE v.name = ?", "s", name);

    if (!st || sqlite3_step(st) != SQLITE_ROW) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND, "no VM '%s'",
                    name);
        return false;
    }
    ret->id = sqlite3_column_int64(st, 0);
    ret->name = name;
    ret->uuid = g_strdup((const char *)sqlite3_column_text(st, 1));
    ret->state = g_strdup((const char *)sqlite3_column_text(st, 2));
    ret->client = g_strdup((const char *)sqlite3_column_text(st, 3));
    ret->client_address = g_strdup((const char *)sqlite3_column_text(st,
                                                                     4));
    ret->hypervisor = g_strdup((const char *)sqlite3_column_text(st, 5));
    return true;
}

void orch_vm_clear(OrchVm *vm)
{
    g_free(vm->uuid);
    g_free(vm->state);
    g_free(vm->client);
    g_free(vm->client_address);
    g_free(vm->hypervisor);
}

bool orch_vm_expect_state(OrchVm *vm, const char *action,
                          const char *const *states, GError **errp)
{
    size_t i;

    for (i = 0; states[i]; i++) {
        if (strcmp(vm->state, states[i]) == 0) {
            return true;
        }
    }
    g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                "cannot %s VM '%s': it is %s", action, vm->name, vm->state);
    return false;
}

/* Ask @vm's client to run its QEMU with @extra after the usual args. */
bool orch_start_qemu(sqlite3 *db, OrchUndo *undo, OrchVm *vm,
                     const char *client, const char *address,
                     const char *hypervisor, const char *const *extra,
                     GError **errp)
{
    g_autoptr(JsonArray) args = NULL;
    g_autoptr(JsonObject) files = NULL;
    g_autoptr(JsonNode) body = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *path = g_strconcat("/v1/vms/", vm->name, NULL);
    JsonObject *o = json_object_new();

    if (!orch_qemu_args_check(db, vm->name, client, errp) ||
        !orch_qemu_args(db, vm->name, client, hypervisor, &args, &files,
                        errp)) {
        json_object_unref(o);
        return false;
    }
    for (; extra && *extra; extra++) {
        json_array_add_string_element(args, *extra);
    }
    json_object_set_string_member(o, "id", vm->name);
    json_object_set_array_member(o, "args", json_array_ref(args));
    json_object_set_object_member(o, "files", json_object_ref(files));
    json_node_take_object(body, o);
    if (!orch_launcher_expect(address, "POST", "/v1/vms", body, 201, NULL,
                              errp)) {
        return false;
    }
    orch_undo_add(undo, address, path);
    return true;
}

bool orch_vm_teardown(sqlite3 *db, gint64 vm_id, GError **errp)
{
    OrchUndo teardown = { 0 };

    orch_placements_release(db, &teardown, vm_id);
    orch_undo_run(&teardown);
    return orch_db_run(db, errp, "DELETE FROM placements WHERE device_id IN"
                       " (SELECT id FROM devices WHERE vm_id = ?)", "i",
                       vm_id) &&
           orch_db_run(db, errp, "UPDATE vms SET state = 'stopped', "
                       "saved_file = NULL WHERE id = ?", "i", vm_id);
}

static JsonArray *vm_devices(sqlite3 *db, const char *name)
{
    g_autoptr(sqlite3_stmt) st = orch_db_stmt(db,
        "SELECT d.name, d.model, d.bus, d.props AS \"j:props\","
        " s.name AS server, d.restart,"
        " o.name AS via, ps.name AS placed_on, p.instance,"
        /* "" while its launch is under way (placement.c's claim). */
        " NULLIF(p.address, '') AS address,"
        " p.route_address AS route, p.console"
        " FROM devices d JOIN vms v ON v.id = d.vm_id"
        " LEFT JOIN platforms s ON s.id = d.server_id"
        " LEFT JOIN platforms o ON o.id = d.via_id"
        " LEFT JOIN placements p ON p.device_id = d.id"
        " LEFT JOIN platforms ps ON ps.id = p.server_id"
        " WHERE v.name = ? ORDER BY d.id", "s", name);

    return orch_db_rows(st);
}

/*
 * The VM's VNC display: the console column of its display's placement
 * (placement.c keeps a display's VNC address there), or NULL.
 */
static char *vm_vnc(sqlite3 *db, const char *name)
{
    return orch_db_str(db,
        "SELECT p.console FROM placements p JOIN devices d"
        " ON d.id = p.device_id JOIN vms v ON v.id = d.vm_id"
        " WHERE v.name = ? AND d.console = 0 AND p.console IS NOT NULL"
        " ORDER BY d.id LIMIT 1", "s", name);
}

JsonObject *orch_vm_object(sqlite3 *db, const char *name)
{
    g_autofree char *vnc = NULL;
    g_autoptr(sqlite3_stmt) st = orch_db_stmt(db,
        "SELECT v.name, v.uuid AS id, v.memory, v.kernel, v.initrd,"
        " v.append, v.extra_args AS \"j:args\", v.boot, v.state,"
        " c.name AS client,"
        " v.hypervisor, v.saved_file FROM vms v"
        " LEFT JOIN platforms c ON c.id = v.client_id WHERE v.name = ?",
        "s", name);
    JsonObject *o, *progress;

    if (!st || sqlite3_step(st) != SQLITE_ROW) {
        return NULL;
    }
    o = orch_db_row(st);
    json_object_set_array_member(o, "devices", vm_devices(db, name));
    vnc = vm_vnc(db, name);
    if (vnc) {
        json_object_set_string_member(o, "vnc", vnc);
    } else {
        json_object_set_null_member(o, "vnc");
    }
    progress = orch_migration_progress(name);
    if (progress) {
        /* The worker's transaction is not visible yet: say it here. */
        if (json_object_has_member(progress, "state")) {
            json_object_set_member(o, "state", json_node_copy(
                json_object_get_member(progress, "state")));
            json_object_remove_member(progress, "state");
        }
        json_object_set_object_member(o, "migration", progress);
    }
    return o;
}

JsonObject *orch_migration_progress(const char *vm)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&migrate_lock);
    g_autoptr(JsonNode) node = NULL;
    const char *text;

    text = migrate_progress ? g_hash_table_lookup(migrate_progress, vm) :
        NULL;
    node = text ? json_from_string(text, NULL) : NULL;
    if (!node || !JSON_NODE_HOLDS_OBJECT(node)) {
        return NULL;
    }
    return json_object_ref(json_node_get_object(node));
}

/*
 * Record @status (and the RAM figures of @info, if any) for @vm, which
 * GET shows in state @state ("state" is taken out of the object there).
 */
void orch_migration_set(const char *vm, const char *state, const char *to,
                        const char *status, JsonObject *info)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&migrate_lock);
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    JsonObject *o = json_object_new();

    if (!migrate_progress) {
        migrate_progress = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                 g_free, g_free);
    }
    json_object_set_string_member(o, "state", state);
    json_object_set_string_member(o, "to", to);
    json_object_set_string_member(o, "status", status);
    if (info && json_object_has_member(info, "ram") &&
        JSON_NODE_HOLDS_OBJECT(json_object_get_member(info, "ram"))) {
        JsonObject *ram = json_object_get_object_member(info, "ram");
        static const char *const keys[] = { "transferred", "total",
                                            "remaining" };
        size_t i;

        for (i = 0; i < G_N_ELEMENTS(keys); i++) {
            JsonNode *n = json_object_get_member(ram, keys[i]);

            if (n && JSON_NODE_HOLDS_VALUE(n)) {
                json_object_set_member(o, keys[i], json_node_copy(n));
            }
        }
    }
    json_node_take_object(node, o);
    g_hash_table_replace(migrate_progress, g_strdup(vm),
                         json_to_string(node, FALSE));
}

void orch_migrate_forget(const char *vm)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&migrate_lock);

    if (migrate_progress) {
        g_hash_table_remove(migrate_progress, vm);
    }
}

JsonObject *orch_migrate_take(const char *vm)
{
    JsonObject *last = orch_migration_progress(vm);

    orch_migrate_forget(vm);
    if (last) {
        json_object_remove_member(last, "state");
    }
    return last;
}

JsonObject *orch_vm_object_ended(sqlite3 *db, const char *name,
                                 JsonObject *last)
{
    JsonObject *o = orch_vm_object(db, name);

    if (o && last) {
        json_object_set_object_member(o, "migration", json_object_ref(last));
    }
    return o;
}

bool orch_migrate_wait(const char *address, const char *vm,
                       const char *state, const char *to, gint64 timeout,
                       GError **errp)
{
    gint64 deadline = g_get_monotonic_time() + timeout * G_USEC_PER_SEC;

    for (;;) {
        g_autoptr(JsonNode) ret = NULL;
        JsonObject *info;
        const char *status;

        if (!orch_qmp(address, vm, "query-migrate", NULL, &ret, errp)) {
            return false;
        }
        info = JSON_NODE_HOLDS_OBJECT(ret) ? json_node_get_object(ret) :
            NULL;
        status = orch_launcher_str(info, "status");
        status = status ? status : "unknown";
        orch_migration_set(vm, state, to, status, info);
        if (strcmp(status, "completed") == 0) {
            return true;
        }
        if (strcmp(status, "failed") == 0 ||
            strcmp(status, "cancelled") == 0) {
            const char *desc = orch_launcher_str(info, "error-desc");

            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_GATEWAY,
                        "migration %s: %s", status,
                        desc ? desc : "(no reason given)");
            return false;
        }
        if (g_get_monotonic_time() > deadline) {
            /* A QEMU that cannot even cancel: that is the news. */
            if (orch_qmp(address, vm, "migrate_cancel", NULL, NULL, errp)) {
                g_set_error(errp, ORCH_ERROR, ORCH_ERROR_TIMEOUT,
                            "migration did not complete in %"
                            G_GINT64_FORMAT " s; cancelled", timeout);
            }
            return false;
        }
        g_usleep(MIGRATE_POLL_US);
    }
}

bool orch_client_model_tls(sqlite3 *db, const char *client)
{
    return orch_db_int(db, 0, "SELECT model_tls FROM platforms WHERE "
                       "name = ?", "s", client) == 1;
}

bool orch_migrate_set_tls(const char *address, const char *vm,
                          const char *creds, const char *host, GError **errp)
{
    g_autoptr(JsonObject) args = json_object_new();

    json_object_set_string_member(args, "tls-creds", creds);
    json_object_set_string_member(args, "tls-hostname", host);
    return orch_qmp(address, vm, "migrate-set-parameters", args, NULL,
                    errp);
}

bool orch_migrate_tls_off(sqlite3 *db, const char *client,
                          const char *address, const char *vm, GError **errp)
{
    /* Only a QEMU on a client with credentials may have had them set. */
    if (!orch_client_model_tls(db, client)) {
        return true;
    }
    return orch_migrate_set_tls(address, vm, "", "", errp);
}
