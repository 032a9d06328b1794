/*
 * dm-orchestrator: QEMU's command line.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>

#include "db.h"
#include "error.h"
#include "qemu-args.h"
#include "records.h"

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
 * Whether the session to placement @p's model is TLS: a model on TCP on
 * a server with model_tls (one on a UNIX socket is plain).  A routed one
 * is refused (orch_qemu_args_check).  @servers caches the platforms read.
 */
static bool placed_tls(sqlite3 *db, GHashTable *servers, JsonObject *p)
{
    const char *name = orch_rec_str(p, "server");
    const char *address = orch_rec_str(p, "address");
    JsonObject *s;

    if (!name || !address || !g_str_has_prefix(address, "tcp:")) {
        return false;
    }
    s = g_hash_table_lookup(servers, name);
    if (!s) {
        s = orch_rec_platform(db, name);
        if (!s) {
            return false;
        }
        g_hash_table_insert(servers, g_strdup(name), s);
    }
    return json_object_get_boolean_member_with_default(s, "model_tls",
                                                       FALSE);
}

static GHashTable *servers_new(void)
{
    return g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                 (GDestroyNotify)json_object_unref);
}

/*
 * The placed devices of VM document @doc, in order: the device's
 * document and its placement's, pairs of JsonObject in one array.
 */
static GPtrArray *vm_placed(sqlite3 *db, JsonObject *doc)
{
    GPtrArray *a = g_ptr_array_new_with_free_func(
        (GDestroyNotify)json_object_unref);
    JsonArray *devs = json_object_get_array_member(doc, "devices");
    guint i;

    for (i = 0; i < json_array_get_length(devs); i++) {
        JsonObject *d = json_array_get_object_element(devs, i);
        JsonObject *p = orch_rec_placement(db, orch_rec_str(doc, "name"),
                                           orch_rec_str(d, "name"));

        if (p) {
            g_ptr_array_add(a, json_object_ref(d));
            g_ptr_array_add(a, p);
        }
    }
    return a;
}

/*
 * The -object secret and -remote-device of device @d placed as @p.  Its
 * address is the owner's router for a routed device; the identifiers are
 * the same either way (the router checks them, the model too).  A model
 * on TCP on a server with model_tls speaks TLS: the client launcher
 * defines the credentials ORCH_MODEL_TLS_ID in every QEMU it starts.
 */
static void qemu_device_args(JsonArray *a, JsonObject *files, int n,
                             JsonObject *d, JsonObject *p, bool tls,
                             bool boot, const char *vm, const char *uuid,
                             const char *client, const char *hypervisor)
{
    const char *name = orch_rec_str(d, "name");
    const char *route = orch_rec_str(p, "route_address");
    const char *address = route ? route : orch_rec_str(p, "address");
    g_autofree char *id = g_strdup_printf("tok%d", n);
    g_autofree char *file = g_strdup_printf("@STATE@/%s.%s", vm, id);
    g_autofree char *efile = qemu_escape(file);
    g_autofree char *eaddr = qemu_escape(address);
    g_autofree char *obj = NULL, *dev = NULL;

    obj = g_strdup_printf("secret,id=%s,file=%s", id, efile);
    dev = g_strdup_printf("bus=%s,server=%s,vm-id=%s,hypervisor-id=%s,"
                          "client-platform-id=%s,device-model-id=%s,"
                          "server-platform-id=%s,token-secret=%s",
                          orch_rec_str(d, "bus"), eaddr, uuid, hypervisor,
                          client, orch_rec_str(p, "instance"),
                          orch_rec_str(p, "server"), id);
    if (tls && !route) {
        g_autofree char *plain = g_steal_pointer(&dev);

        dev = g_strconcat(plain, ",tls-creds=" ORCH_MODEL_TLS_ID, NULL);
    }
    if (g_ascii_isalpha(*name)) {
        /*
         * The proxy's id is the device's name, as QMP knows a local
         * device by its id (set_link NAME); QEMU's ids start with a
         * letter, so a name that does not has none.
         */
        g_autofree char *plain = g_steal_pointer(&dev);

        dev = g_strconcat("id=", name, ",", plain, NULL);
    }
    if (boot) {
        /* The VM's boot device: the firmware tries it first. */
        g_autofree char *plain = g_steal_pointer(&dev);

        dev = g_strconcat(plain, ",bootindex=1", NULL);
    }
    qemu_arg2(a, "-object", obj);
    qemu_arg2(a, "-remote-device", dev);
    json_object_set_string_member(files, id, orch_rec_str(p, "token"));
}

/* -m, the kernel and the console of VM document @doc. */
static void qemu_vm_args(JsonObject *doc, JsonArray *a)
{
    JsonArray *devs = json_object_get_array_member(doc, "devices");
    guint i;

    qemu_arg2(a, "-m", orch_rec_str(doc, "memory"));
    qemu_arg2(a, "-kernel", orch_rec_str(doc, "kernel"));
    qemu_arg2(a, "-initrd", orch_rec_str(doc, "initrd"));
    qemu_arg2(a, "-append", orch_rec_str(doc, "append"));
    for (i = 0; i < json_array_get_length(devs); i++) {
        if (json_object_get_boolean_member_with_default(
                json_array_get_object_element(devs, i), "console", FALSE)) {
            /* The remote UART is the console: no local one at 0x3f8. */
            qemu_arg2(a, "-serial", "none");
            break;
        }
    }
}

bool orch_qemu_args(sqlite3 *db, const char *name, const char *client,
                    const char *hypervisor, JsonArray **ret_args,
                    JsonObject **ret_files, GError **errp)
{
    g_autoptr(JsonArray) a = json_array_new();
    g_autoptr(JsonObject) files = json_object_new();
    g_autoptr(JsonObject) doc = orch_rec_vm(db, name);
    g_autoptr(GHashTable) servers = servers_new();
    g_autoptr(GPtrArray) placed = NULL;
    JsonNode *extra;
    const char *boot;
    guint i;

    if (!doc) {
        orch_error_internal(errp, ENOENT);
        return false;
    }
    qemu_vm_args(doc, a);
    boot = orch_rec_str(doc, "boot");
    placed = vm_placed(db, doc);
    for (i = 0; i < placed->len; i += 2) {
        JsonObject *d = placed->pdata[i], *p = placed->pdata[i + 1];

        qemu_device_args(a, files, i / 2, d, p, placed_tls(db, servers, p),
                         boot && !g_strcmp0(boot, orch_rec_str(d, "name")),
                         name, orch_rec_str(doc, "uuid"), client,
                         hypervisor);
    }
    extra = json_object_get_member(doc, "extra_args");
    if (extra && JSON_NODE_HOLDS_ARRAY(extra)) {
        JsonArray *ea = json_node_get_array(extra);

        for (i = 0; i < json_array_get_length(ea); i++) {
            json_array_add_string_element(a, json_array_get_string_element(
                                              ea, i));
        }
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
    g_autoptr(JsonObject) doc = orch_rec_vm(db, name);
    g_autoptr(JsonObject) c = client ? orch_rec_platform(db, client) : NULL;
    g_autoptr(GHashTable) servers = servers_new();
    g_autoptr(GPtrArray) placed = NULL;
    guint i;

    if (!doc) {
        orch_error_internal(errp, ENOENT);
        return false;
    }
    placed = vm_placed(db, doc);
    for (i = 0; i < placed->len; i += 2) {
        JsonObject *d = placed->pdata[i], *p = placed->pdata[i + 1];
        const char *dev = orch_rec_str(d, "name");
        const char *server = orch_rec_str(p, "server");
        const char *owner = orch_rec_str(d, "via");

        if (!placed_tls(db, servers, p)) {
            continue;
        }
        if (owner) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                        "VM '%s': device '%s' is served over TLS by server "
                        "'%s' (model_tls), which the router of its owner "
                        "'%s' cannot route (it reads the session's "
                        "VERSION); drop its 'via'", name, dev, server,
                        owner);
            return false;
        }
        if (!c || !json_object_get_boolean_member_with_default(
                c, "model_tls", FALSE)) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                        "VM '%s' cannot run on client platform '%s': "
                        "device '%s' is served over TLS by server platform "
                        "'%s' (model_tls), and the launcher of '%s' has no "
                        "model TLS credentials (--model-tls-creds)", name,
                        client, dev, server, client);
            return false;
        }
    }
    return true;
}

bool orch_vm_needs_model_tls(sqlite3 *db, const char *name)
{
    g_autoptr(JsonObject) doc = orch_rec_vm(db, name);
    g_autoptr(GHashTable) servers = servers_new();
    g_autoptr(GPtrArray) placed = NULL;
    guint i;

    if (!doc) {
        return false;
    }
    placed = vm_placed(db, doc);
    for (i = 0; i < placed->len; i += 2) {
        if (placed_tls(db, servers, placed->pdata[i + 1])) {
            return true;
        }
    }
    return false;
}
