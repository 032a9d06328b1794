/*
 * dm-orchestrator: live migration of a VM to another client platform.
 *
 * The device models stay where they are: the new QEMU connects to the
 * same addresses with the same tokens, which is why their binding leaves
 * the client platform and hypervisor open.  The progress of a running
 * migration is kept here, outside the database, so that the main thread
 * can report it while the worker's transaction is still open.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>

#include "db.h"
#include "launcher.h"
#include "lifecycle.h"
#include "qemu-args.h"

#define MIGRATE_POLL_US (200 * 1000)
#define MIGRATE_PORT_BASE 49152

static GMutex migrate_lock;
static GHashTable *migrate_progress;    /* VM name -> its JSON text */

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
static void migrate_set(const char *vm, const char *state, const char *to,
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

/*
 * Where the target QEMU listens for the stream: a TCP port on the target
 * launcher's host, or a UNIX socket beside the launcher's own.
 */
static char *migrate_uri(const char *address, const char *vm)
{
    if (g_str_has_prefix(address, "unix:")) {
        g_autofree char *dir = g_path_get_dirname(address + 5);

        return g_strdup_printf("unix:%s/%s.migrate", dir, vm);
    } else {
        const char *hp = address + 4;
        const char *colon = strrchr(hp, ':');
        g_autofree char *host = g_strndup(hp, colon - hp);

        return g_strdup_printf("tcp:%s:%d", host, MIGRATE_PORT_BASE +
                               g_random_int_range(0, 16384));
    }
}

int orch_migrate_wait(OrchRequest *r, const char *address, const char *vm,
                      const char *state, const char *to, gint64 timeout)
{
    gint64 deadline = g_get_monotonic_time() + timeout * G_USEC_PER_SEC;

    for (;;) {
        g_autoptr(JsonNode) ret = NULL;
        JsonObject *info;
        const char *status = NULL;

        if (orch_qmp(r, address, vm, "query-migrate", NULL, &ret) < 0) {
            return -EIO;
        }
        info = JSON_NODE_HOLDS_OBJECT(ret) ? json_node_get_object(ret) :
            NULL;
        if (info) {
            orch_body_str(r, info, "status", false, &status);
        }
        status = status ? status : "unknown";
        migrate_set(vm, state, to, status, info);
        if (strcmp(status, "completed") == 0) {
            return 0;
        }
        if (strcmp(status, "failed") == 0 ||
            strcmp(status, "cancelled") == 0) {
            const char *desc = NULL;

            orch_body_str(r, info, "error-desc", false, &desc);
            return orch_fail(r, 502, "migration %s: %s", status,
                             desc ? desc : "(no reason given)");
        }
        if (g_get_monotonic_time() > deadline) {
            orch_qmp(r, address, vm, "migrate_cancel", NULL, NULL);
            return orch_fail(r, 504, "migration did not complete in %"
                             G_GINT64_FORMAT " s; cancelled", timeout);
        }
        g_usleep(MIGRATE_POLL_US);
    }
}

bool orch_client_model_tls(sqlite3 *db, const char *client)
{
    return orch_db_int(db, 0, "SELECT model_tls FROM platforms WHERE "
                       "name = ?", "s", client) == 1;
}

/* QMP migrate-set-parameters @creds and @host ("" for none) on @vm. */
static int migrate_set_tls(OrchRequest *r, const char *address,
                           const char *vm, const char *creds,
                           const char *host)
{
    g_autoptr(JsonObject) args = json_object_new();

    json_object_set_string_member(args, "tls-creds", creds);
    json_object_set_string_member(args, "tls-hostname", host);
    return orch_qmp(r, address, vm, "migrate-set-parameters", args, NULL);
}

int orch_migrate_tls_off(OrchRequest *r, const char *client,
                         const char *address, const char *vm)
{
    /* Only a QEMU on a client with credentials may have had them set. */
    if (!orch_client_model_tls(r->db, client)) {
        return 0;
    }
    return migrate_set_tls(r, address, vm, "", "");
}

/*
 * A TCP stream between two clients with credentials is TLS, both ends
 * verified: the target's QEMU serves it with ORCH_MIGRATE_TLS_ID, the
 * source's checks the target's certificate for @uri's host.  Otherwise
 * (a UNIX socket stays on the host) the source's are turned off, in
 * case an earlier incoming migration left them set.
 */
static int migrate_tls(OrchRequest *r, OrchVm *vm, OrchClientChoice *c,
                       const char *uri)
{
    g_autofree char *host = NULL;
    const char *hp;

    if (!g_str_has_prefix(uri, "tcp:") ||
        !orch_client_model_tls(r->db, c->name) ||
        !orch_client_model_tls(r->db, vm->client)) {
        return orch_migrate_tls_off(r, vm->client, vm->client_address,
                                    vm->name);
    }
    hp = uri + 4;
    host = g_strndup(hp, strrchr(hp, ':') - hp);
    if (migrate_set_tls(r, c->address, vm->name, ORCH_MIGRATE_TLS_ID,
                        "") < 0 ||
        migrate_set_tls(r, vm->client_address, vm->name, ORCH_MODEL_TLS_ID,
                        host) < 0) {
        return -EIO;
    }
    return 0;
}

static int migrate_run(OrchRequest *r, OrchVm *vm, OrchClientChoice *c,
                       gint64 timeout)
{
    static const char *const incoming[] = { "-incoming", "defer", NULL };
    g_autofree char *uri = migrate_uri(c->address, vm->name);
    g_autofree char *path = g_strconcat("/v1/vms/", vm->name, NULL);
    g_autoptr(JsonObject) args = json_object_new();
    OrchRequest cleanup = { .db = r->db };

    json_object_set_string_member(args, "uri", uri);
    migrate_set(vm->name, "migrating", c->name, "setup", NULL);
    if (orch_start_qemu(r, vm, c->name, c->address, c->hypervisor,
                        incoming) < 0 ||
        migrate_tls(r, vm, c, uri) < 0 ||
        orch_qmp(r, c->address, vm->name, "migrate-incoming", args,
                 NULL) < 0 ||
        orch_qmp(r, vm->client_address, vm->name, "migrate", args,
                 NULL) < 0 ||
        orch_migrate_wait(r, vm->client_address, vm->name, "migrating",
                          c->name, timeout) < 0) {
        return -EIO;
    }
    /*
     * The target runs the guest now: the source QEMU goes (best effort),
     * before the write, which then holds the database no longer than
     * itself.
     */
    orch_undo_clear(r);
    orch_qmp(&cleanup, vm->client_address, vm->name, "quit", NULL, NULL);
    g_clear_pointer(&cleanup.error, g_free);
    orch_undo_add(&cleanup, vm->client_address, path);
    orch_undo_run(&cleanup);
    if (orch_db_run(r->db, "UPDATE vms SET client_id = ?, hypervisor = ? "
                    "WHERE id = ?", "isi", c->id, c->hypervisor,
                    vm->id) < 0) {
        return -EIO;
    }
    orch_event(r->db, vm->name, "migrated from %s to %s", vm->client,
               c->name);
    return 0;
}

int orch_vm_migrate(OrchRequest *r)
{
    static const char *const ok[] = { "running", "suspended", NULL };
    g_auto(OrchVm) vm = { 0 };
    g_auto(OrchClientChoice) c = { 0 };
    const char *to = NULL;
    gint64 timeout = 600;
    int ret;

    if (orch_vm_load(r, r->seg[1], &vm) < 0 ||
        orch_vm_expect_state(r, &vm, "migrate", ok) < 0 ||
        orch_require_body(r) < 0 ||
        orch_body_str(r, r->body, "to", true, &to) < 0 ||
        orch_body_int(r, r->body, "timeout", false, &timeout) < 0 ||
        orch_place_vm(r, to, false, &c) < 0) {
        return -EINVAL;
    }
    if (timeout < 1) {
        return orch_fail(r, 400, "'timeout' must be at least 1 second");
    }
    if (c.id == orch_db_int(r->db, -1, "SELECT client_id FROM vms WHERE "
                            "id = ?", "i", vm.id)) {
        return orch_fail(r, 409, "VM '%s' already runs on '%s'", vm.name,
                         to);
    }
    ret = migrate_run(r, &vm, &c, timeout);
    orch_migrate_forget(vm.name);
    if (ret < 0) {
        return ret;
    }
    orch_reply_object(r, 200, orch_vm_object(r->db, vm.name));
    return 0;
}
