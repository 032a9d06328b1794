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
#include "migrate.h"
#include "placement.h"
#include "qemu-args.h"
#include "request.h"
#include "undo.h"
#include "vm.h"
#include "vm-redo.h"

#define MIGRATE_PORT_BASE 49152

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

/*
 * A TCP stream between two clients with credentials is TLS, both ends
 * verified: the target's QEMU serves it with ORCH_MIGRATE_TLS_ID, the
 * source's checks the target's certificate for @uri's host.  Otherwise
 * (a UNIX socket stays on the host) the source's are turned off, in
 * case an earlier incoming migration left them set.
 */
static bool migrate_tls(sqlite3 *db, OrchVm *vm, OrchClientChoice *c,
                        const char *uri, GError **errp)
{
    g_autofree char *host = NULL;
    const char *hp;

    if (!g_str_has_prefix(uri, "tcp:") ||
        !orch_client_model_tls(db, c->name) ||
        !orch_client_model_tls(db, vm->client)) {
        return orch_migrate_tls_off(db, vm->client, vm->client_address,
                                    vm->name, errp);
    }
    hp = uri + 4;
    host = g_strndup(hp, strrchr(hp, ':') - hp);
    return orch_migrate_set_tls(c->address, vm->name, ORCH_MIGRATE_TLS_ID,
                                "", errp) &&
           orch_migrate_set_tls(vm->client_address, vm->name,
                                ORCH_MODEL_TLS_ID, host, errp);
}

/* The target's QEMU is started and fed; on failure @r's undo deletes it. */
static bool migrate_run(OrchRequest *r, OrchVm *vm, OrchClientChoice *c,
                        gint64 timeout, GError **errp)
{
    static const char *const incoming[] = { "-incoming", "defer", NULL };
    g_autofree char *uri = migrate_uri(c->address, vm->name);
    g_autofree char *path = g_strconcat("/v1/vms/", vm->name, NULL);
    g_autoptr(JsonObject) args = json_object_new();
    OrchUndo source = { 0 };

    json_object_set_string_member(args, "uri", uri);
    orch_migration_set(vm->name, "migrating", c->name, "setup", NULL);
    if (!orch_start_qemu(r->db, &r->undo, vm, c->name, c->address,
                         c->hypervisor, incoming, errp) ||
        !migrate_tls(r->db, vm, c, uri, errp) ||
        !orch_qmp(c->address, vm->name, "migrate-incoming", args, NULL,
                  errp) ||
        !orch_qmp(vm->client_address, vm->name, "migrate", args, NULL,
                  errp) ||
        !orch_migrate_wait(vm->client_address, vm->name, "migrating",
                           c->name, timeout, errp)) {
        return false;
    }
    /*
     * The target runs the guest now: the source QEMU goes (best effort),
     * before the write, which then holds the database no longer than
     * itself.
     */
    orch_undo_clear(&r->undo);
    /* The source goes: a conflict at the commit writes the target again. */
    orch_vm_redo_members(r, vm->name, "client", c->name, "hypervisor",
                         c->hypervisor, NULL);
    orch_qmp(vm->client_address, vm->name, "quit", NULL, NULL, NULL);
    orch_undo_add(&source, vm->client_address, path);
    orch_undo_run(&source);
    if (!orch_vm_write(r->db, vm->name, errp, "client", c->name,
                       "hypervisor", c->hypervisor, NULL)) {
        return false;
    }
    orch_event(vm->name, "migrated from %s to %s", vm->client,
               c->name);
    return true;
}

int orch_vm_migrate(OrchRequest *r)
{
    static const char *const ok[] = { "running", "suspended", NULL };
    g_auto(OrchVm) vm = { 0 };
    g_auto(OrchClientChoice) c = { 0 };
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) last = NULL;
    const char *to = NULL;
    gint64 timeout = 600;
    bool done;

    if (!orch_vm_load(r->db, r->seg[1], &vm, &err) ||
        !orch_vm_expect_state(&vm, "migrate", ok, &err)) {
        return orch_fail_error(r, err);
    }
    if (orch_require_body(r) < 0 ||
        orch_body_str(r, r->body, "to", true, &to) < 0 ||
        orch_body_int(r, r->body, "timeout", false, &timeout) < 0) {
        return -EINVAL;
    }
    if (!orch_place_vm(r->db, to, false, &c, &err)) {
        return orch_fail_error(r, err);
    }
    if (timeout < 1) {
        return orch_fail(r, 400, "'timeout' must be at least 1 second");
    }
    if (vm.client && strcmp(c.name, vm.client) == 0) {
        return orch_fail(r, 409, "VM '%s' already runs on '%s'", vm.name,
                         to);
    }
    done = migrate_run(r, &vm, &c, timeout, &err);
    last = orch_migrate_take(vm.name);
    if (!done) {
        return orch_fail_error(r, err);
    }
    /* With the last poll's figures: the caller sees it reach the end. */
    orch_reply_object(r, 200, orch_vm_object_ended(r->db, vm.name, last));
    return 0;
}
