/*
 * dm-orchestrator: QEMU's command line.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>

#include "db.h"
#include "error.h"
#include "qemu-args.h"

/* QEMU option values double a literal comma. */
static char *qemu_escape(const char *s)
{
    g_auto(GStrv) parts = g_strsplit(s ? s : "", ",", -1);

    return g_strjoinv(",,", parts);
}

static void qemu_arg2(JsonArray *a, const char *opt, const char *val)
{
    if (val) {
        json_array_add_string_element(a, opt);
        json_array_add_string_element(a, val);
    }
}

/*
 * The -object secret and -remote-device of the current device row.  Its
 * address is the owner's router for a routed device; the identifiers are
 * the same either way (the router checks them, the model too).  A model
 * on TCP on a server with model_tls speaks TLS (one on a UNIX socket
 * does not): the client launcher defines the credentials
 * ORCH_MODEL_TLS_ID in every QEMU it starts.
 */
static void qemu_device_args(JsonArray *a, JsonObject *files, int n,
                             sqlite3_stmt *st, const char *vm,
                             const char *uuid, const char *client,
                             const char *hypervisor)
{
    const char *bus = (const char *)sqlite3_column_text(st, 0);
    const char *address = (const char *)sqlite3_column_text(st, 1);
    const char *instance = (const char *)sqlite3_column_text(st, 2);
    const char *token = (const char *)sqlite3_column_text(st, 3);
    const char *server = (const char *)sqlite3_column_text(st, 4);
    g_autofree char *id = g_strdup_printf("tok%d", n);
    g_autofree char *file = g_strdup_printf("@STATE@/%s.%s", vm, id);
    g_autofree char *efile = qemu_escape(file);
    g_autofree char *eaddr = qemu_escape(address);
    g_autofree char *obj = NULL, *dev = NULL;

    obj = g_strdup_printf("secret,id=%s,file=%s", id, efile);
    dev = g_strdup_printf("bus=%s,server=%s,vm-id=%s,hypervisor-id=%s,"
                          "client-platform-id=%s,device-model-id=%s,"
                          "server-platform-id=%s,token-secret=%s", bus,
                          eaddr, uuid, hypervisor, client, instance, server,
                          id);
    if (sqlite3_column_int(st, 5)) {
        g_autofree char *plain = g_steal_pointer(&dev);

        dev = g_strconcat(plain, ",tls-creds=" ORCH_MODEL_TLS_ID, NULL);
    }
    if (g_ascii_isalpha(*(const char *)sqlite3_column_text(st, 7))) {
        /*
         * The proxy's id is the device's name, as QMP knows a local
         * device by its id (set_link NAME); QEMU's ids start with a
         * letter, so a name that does not has none.
         */
        g_autofree char *plain = g_steal_pointer(&dev);

        dev = g_strconcat("id=", (const char *)sqlite3_column_text(st, 7),
                          ",", plain, NULL);
    }
    if (sqlite3_column_int(st, 6)) {
        /* The VM's boot device: the firmware tries it first. */
        g_autofree char *plain = g_steal_pointer(&dev);

        dev = g_strconcat(plain, ",bootindex=1", NULL);
    }
    qemu_arg2(a, "-object", obj);
    qemu_arg2(a, "-remote-device", dev);
    json_object_set_string_member(files, id, token);
}

/* -m, the kernel and the console of VM @name; its uuid in *ret_uuid. */
static int qemu_vm_args(sqlite3 *db, const char *name, JsonArray *a,
                        char **ret_uuid, JsonArray **ret_extra)
{
    g_autoptr(sqlite3_stmt) st = orch_db_stmt(db,
        "SELECT uuid, memory, kernel, initrd, append, extra_args,"
        " (SELECT count(*) FROM devices d WHERE d.vm_id = v.id"
        "  AND d.console = 1)"
        " FROM vms v WHERE name = ?", "s", name);
    g_autoptr(JsonNode) extra = NULL;

    if (!st || sqlite3_step(st) != SQLITE_ROW) {
        return -ENOENT;
    }
    qemu_arg2(a, "-m", (const char *)sqlite3_column_text(st, 1));
    qemu_arg2(a, "-kernel", (const char *)sqlite3_column_text(st, 2));
    qemu_arg2(a, "-initrd", (const char *)sqlite3_column_text(st, 3));
    qemu_arg2(a, "-append", (const char *)sqlite3_column_text(st, 4));
    if (sqlite3_column_int(st, 6) > 0) {
        /* The remote UART is the console: no local one at 0x3f8. */
        qemu_arg2(a, "-serial", "none");
    }
    extra = json_from_string((const char *)sqlite3_column_text(st, 5), NULL);
    if (extra && JSON_NODE_HOLDS_ARRAY(extra)) {
        *ret_extra = json_array_ref(json_node_get_array(extra));
    }
    *ret_uuid = g_strdup((const char *)sqlite3_column_text(st, 0));
    return 0;
}

bool orch_qemu_args(sqlite3 *db, const char *name, const char *client,
                    const char *hypervisor, JsonArray **ret_args,
                    JsonObject **ret_files, GError **errp)
{
    g_autoptr(JsonArray) a = json_array_new();
    g_autoptr(JsonObject) files = json_object_new();
    g_autoptr(JsonArray) extra = NULL;
    g_autoptr(sqlite3_stmt) st = NULL;
    g_autofree char *uuid = NULL;
    guint i;
    int n = 0, ret;

    ret = qemu_vm_args(db, name, a, &uuid, &extra);
    if (ret < 0) {
        orch_error_internal(errp, -ret);
        return false;
    }
    st = orch_db_stmt(db,
        "SELECT d.bus, COALESCE(p.route_address, p.address), p.instance,"
        " p.token, s.name, " ORCH_SQL_MODEL_TLS
        "  AND p.route_address IS NULL, d.name IS v.boot, d.name"
        " FROM devices d JOIN vms v ON v.id = d.vm_id"
        " JOIN placements p ON p.device_id = d.id"
        " JOIN platforms s ON s.id = p.server_id"
        " WHERE v.name = ? ORDER BY d.id", "s", name);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        qemu_device_args(a, files, n++, st, name, uuid, client, hypervisor);
    }
    for (i = 0; extra && i < json_array_get_length(extra); i++) {
        json_array_add_string_element(a, json_array_get_string_element(
                                          extra, i));
    }
    if (!st) {
        orch_error_internal(errp, EIO);
        return false;
    }
    *ret_args = g_steal_pointer(&a);
    *ret_files = g_steal_pointer(&files);
    return true;
}

/*
 * Sessions to a model on TCP on a server with model_tls (its launcher
 * gives models on UNIX sockets no TLS) are TLS end to end, so
 * the client's launcher must hold the credentials, and no owner's router
 * may sit in between: it reads the session's VERSION to route it, which
 * TLS hides.  The first device that breaks either is the error.
 */
bool orch_qemu_args_check(sqlite3 *db, const char *name,
                          const char *client, GError **errp)
{
    g_autoptr(sqlite3_stmt) st = orch_db_stmt(db,
        "SELECT d.name, s.name, o.name,"
        " (SELECT model_tls FROM platforms WHERE name = ?)"
        " FROM devices d JOIN vms v ON v.id = d.vm_id"
        " JOIN placements p ON p.device_id = d.id"
        " JOIN platforms s ON s.id = p.server_id"
        " LEFT JOIN platforms o ON o.id = d.via_id"
        " WHERE v.name = ? AND " ORCH_SQL_MODEL_TLS
        " ORDER BY d.id", "ss",
        client, name);

    while (st && sqlite3_step(st) == SQLITE_ROW) {
        const char *dev = (const char *)sqlite3_column_text(st, 0);
        const char *server = (const char *)sqlite3_column_text(st, 1);
        const char *owner = (const char *)sqlite3_column_text(st, 2);

        if (owner) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                        "VM '%s': device '%s' is served over TLS by server "
                        "'%s' (model_tls), which the router of its owner "
                        "'%s' cannot route (it reads the session's "
                        "VERSION); drop its 'via'", name, dev, server,
                        owner);
            return false;
        }
        if (!sqlite3_column_int(st, 3)) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                        "VM '%s' cannot run on client platform '%s': "
                        "device '%s' is served over TLS by server platform "
                        "'%s' (model_tls), and the launcher of '%s' has no "
                        "model TLS credentials (--model-tls-creds)", name,
                        client, dev, server, client);
            return false;
        }
    }
    if (!st) {
        orch_error_internal(errp, EIO);
        return false;
    }
    return true;
}

bool orch_vm_needs_model_tls(sqlite3 *db, const char *name)
{
    return orch_db_int(db, 0, "SELECT count(*) FROM devices d"
                       " JOIN vms v ON v.id = d.vm_id"
                       " JOIN placements p ON p.device_id = d.id"
                       " JOIN platforms s ON s.id = p.server_id"
                       " WHERE v.name = ? AND " ORCH_SQL_MODEL_TLS,
                       "s", name) > 0;
}
