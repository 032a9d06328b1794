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
#include "records.h"
#include "records-set.h"
#include "store-events.h"
#include "vm.h"

#define MIGRATE_POLL_US (200 * 1000)

static GMutex migrate_lock;
static GHashTable *migrate_progress;    /* VM name -> its JSON text */

void orch_event(const char *vm, const char *fmt, ...)
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
    g_autoptr(JsonObject) doc = orch_rec_vm(db, name);
    g_autoptr(JsonObject) client = NULL;

    if (!doc) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND, "no VM '%s'",
                    name);
        return false;
    }
    ret->name = name;
    ret->uuid = g_strdup(orch_rec_str(doc, "uuid"));
    ret->state = g_strdup(orch_rec_str(doc, "state"));
    ret->client = g_strdup(orch_rec_str(doc, "client"));
    client = ret->client ? orch_rec_platform(db, ret->client) : NULL;
    ret->client_address = g_strdup(orch_rec_str(client, "address"));
    ret->hypervisor = g_strdup(orch_rec_str(doc, "hypervisor"));
    ret->saved_file = g_strdup(orch_rec_str(doc, "saved_file"));
    return true;
}

void orch_vm_clear(OrchVm *vm)
{
    g_free(vm->uuid);
    g_free(vm->state);
    g_free(vm->client);
    g_free(vm->client_address);
    g_free(vm->hypervisor);
    g_free(vm->saved_file);
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

bool orch_vm_teardown(sqlite3 *db, const char *name, GError **errp)
{
    OrchUndo teardown = { 0 };

    orch_placements_release(db, &teardown, name);
    orch_undo_run(&teardown);
    return orch_rec_placements_delete(name, errp) &&
           orch_vm_write(db, name, errp, "state", "stopped", "saved_file",
                         NULL, NULL);
}

bool orch_vm_write(sqlite3 *db, const char *name, GError **errp, ...)
{
    g_autoptr(JsonObject) doc = orch_rec_vm(db, name);
    const char *member;
    va_list ap;

    if (!doc) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_NOT_FOUND, "no VM '%s'",
                    name);
        return false;
    }
    va_start(ap, errp);
    while ((member = va_arg(ap, const char *))) {
        const char *value = va_arg(ap, const char *);

        if (value) {
            json_object_set_string_member(doc, member, value);
        } else {
            json_object_set_null_member(doc, member);
        }
    }
    va_end(ap);
    return orch_rec_vm_update(doc, errp);
}

/* Member @member of @from copied into @to as @as (null if absent). */
static void copy_member(JsonObject *to, const char *as, JsonObject *from,
                        const char *member)
{
    JsonNode *n = from ? json_object_get_member(from, member) : NULL;

    json_object_set_member(to, as, n ? json_node_copy(n) :
                           json_node_new(JSON_NODE_NULL));
}

/*
 * The API's device @d of VM @vm: what was asked (the VM's document),
 * where it runs (its placement's).  Sets *@vnc to the first display's
 * VNC address (placement.c keeps it in the console of a device that is
 * not a console) if it is still NULL.
 */
static JsonObject *vm_device(sqlite3 *db, const char *vm, JsonObject *d,
                             char **vnc)
{
    g_autoptr(JsonObject) p = orch_rec_placement(db, vm,
                                                 orch_rec_str(d, "name"));
    JsonObject *o = json_object_new();
    const char *address = orch_rec_str(p, "address");
    const char *console = orch_rec_str(p, "console");

    copy_member(o, "name", d, "name");
    copy_member(o, "model", d, "model");
    copy_member(o, "bus", d, "bus");
    copy_member(o, "props", d, "props");
    copy_member(o, "server", d, "server");
    copy_member(o, "restart", d, "restart");
    copy_member(o, "via", d, "via");
    copy_member(o, "placed_on", p, "server");
    copy_member(o, "instance", p, "instance");
    /* "" while its launch is under way (placement.c's claim). */
    if (address && *address) {
        json_object_set_string_member(o, "address", address);
    } else {
        json_object_set_null_member(o, "address");
    }
    copy_member(o, "route", p, "route_address");
    copy_member(o, "console", p, "console");
    if (!*vnc && console && !json_object_get_boolean_member_with_default(
            d, "console", FALSE)) {
        *vnc = g_strdup(console);
    }
    return o;
}

JsonObject *orch_vm_object(sqlite3 *db, const char *name)
{
    g_autoptr(JsonObject) doc = orch_rec_vm(db, name);
    g_autofree char *vnc = NULL;
    JsonObject *o, *progress;
    JsonArray *devs, *docs;
    guint i;

    if (!doc) {
        return NULL;
    }
    o = json_object_new();
    copy_member(o, "name", doc, "name");
    copy_member(o, "id", doc, "uuid");
    copy_member(o, "memory", doc, "memory");
    copy_member(o, "kernel", doc, "kernel");
    copy_member(o, "initrd", doc, "initrd");
    copy_member(o, "append", doc, "append");
    copy_member(o, "args", doc, "extra_args");
    copy_member(o, "boot", doc, "boot");
    copy_member(o, "state", doc, "state");
    copy_member(o, "client", doc, "client");
    copy_member(o, "hypervisor", doc, "hypervisor");
    copy_member(o, "saved_file", doc, "saved_file");
    docs = json_object_get_array_member(doc, "devices");
    devs = json_array_new();
    for (i = 0; i < json_array_get_length(docs); i++) {
        json_array_add_object_element(devs, vm_device(
            db, name, json_array_get_object_element(docs, i), &vnc));
    }
    json_object_set_array_member(o, "devices", devs);
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
    g_autoptr(JsonObject) p = orch_rec_platform(db, client);

    return p && json_object_get_boolean_member_with_default(p, "model_tls",
                                                            FALSE);
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
