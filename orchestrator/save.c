/*
 * dm-orchestrator: saving a VM to a file and restoring it.
 *
 * A save is a migration into a file on the client platform (QMP migrate
 * to "file:PATH"), after which the QEMU goes but the device models stay
 * on their servers: they hold the device state.  A restore starts a QEMU
 * with -incoming defer and feeds it the file; the fork's proxies find
 * their models free and, since the VM is in run state inmigrate, skip the
 * start-up reset, so the device state survives.  Worker thread only.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>

#include "db.h"
#include "error.h"
#include "launcher.h"
#include "log.h"
#include "placement.h"
#include "qemu-args.h"
#include "request.h"
#include "save.h"
#include "vm.h"

#define SAVE_TIMEOUT_S 600
#define SAVE_POLL_US (200 * 1000)
#define SAVE_NAME_MAX 255    /* NAME_MAX */

char *orch_save_dir;

/*
 * The "file" of the body, a plain name in the save directory, or
 * NAME.vmstate there.  A path of the caller's choosing would have QEMU
 * write (and a restore read) any file the client platform's QEMU can.
 */
static int save_file(OrchRequest *r, const char *vm, char **ret)
{
    const char *file = NULL;
    size_t i;

    if (orch_body_str(r, r->body, "file", false, &file) < 0) {
        return -EINVAL;
    }
    if (!file) {
        *ret = g_strdup_printf("%s/%s.vmstate", orch_save_dir, vm);
        return 0;
    }
    if (!*file || file[0] == '.' || strlen(file) > SAVE_NAME_MAX) {
        goto bad;
    }
    for (i = 0; file[i]; i++) {
        /* QEMU's file: URI takes options after a comma. */
        if (file[i] == '/' || file[i] == ',' || g_ascii_iscntrl(file[i])) {
            goto bad;
        }
    }
    *ret = g_strdup_printf("%s/%s", orch_save_dir, file);
    return 0;
bad:
    return orch_fail(r, 400, "'file' must be a file name in the save "
                     "directory (1 to %d bytes, no '/', ',' or control "
                     "character, not starting with '.'), not '%s'",
                     SAVE_NAME_MAX, file);
}

/* A file recorded by a save is in today's save directory, or refused. */
static bool save_file_confined(const char *file)
{
    g_autofree char *dir = g_path_get_dirname(file);
    g_autofree char *base = g_path_get_basename(file);

    return strcmp(dir, orch_save_dir) == 0 && base[0] != '.' &&
           g_path_is_absolute(file);
}

static int save_timeout(OrchRequest *r, gint64 *ret)
{
    *ret = SAVE_TIMEOUT_S;
    if (orch_body_int(r, r->body, "timeout", false, ret) < 0) {
        return -EINVAL;
    }
    if (*ret < 1 || *ret > 86400) {
        return orch_fail(r, 400, "'timeout' must be 1 to 86400 seconds");
    }
    return 0;
}

/* Stop, write the file, delete the QEMU; the caller undoes the stop. */
static bool save_run(sqlite3 *db, OrchVm *vm, const char *file,
                     gint64 timeout, GError **errp)
{
    g_autofree char *uri = g_strconcat("file:", file, NULL);
    g_autofree char *path = g_strconcat("/v1/vms/", vm->name, NULL);
    g_autoptr(JsonObject) args = json_object_new();

    json_object_set_string_member(args, "uri", uri);
    return orch_migrate_tls_off(db, vm->client, vm->client_address,
                                vm->name, errp) &&
           orch_qmp(vm->client_address, vm->name, "migrate", args, NULL,
                    errp) &&
           orch_migrate_wait(vm->client_address, vm->name, "saving", file,
                             timeout, errp) &&
           orch_launcher_expect(vm->client_address, "DELETE", path, NULL,
                                200, NULL, errp);
}

int orch_vm_save(OrchRequest *r)
{
    static const char *const ok[] = { "running", "suspended", NULL };
    g_auto(OrchVm) vm = { 0 };
    g_autoptr(GError) err = NULL;
    g_autofree char *file = NULL;
    g_autoptr(JsonObject) last = NULL;
    gint64 timeout;
    bool was_running;

    if (!orch_vm_load(r->db, r->seg[1], &vm, &err) ||
        !orch_vm_expect_state(&vm, "save", ok, &err)) {
        return orch_fail_error(r, err);
    }
    if (save_file(r, vm.name, &file) < 0 ||
        save_timeout(r, &timeout) < 0) {
        return -EINVAL;
    }
    /* Stopped first, so that the file holds one consistent moment. */
    was_running = strcmp(vm.state, "running") == 0;
    if (was_running &&
        !orch_qmp(vm.client_address, vm.name, "stop", NULL, NULL, &err)) {
        return orch_fail_error(r, err);
    }
    if (!save_run(r->db, &vm, file, timeout, &err)) {
        g_autoptr(GError) again = NULL;

        orch_migrate_forget(vm.name);
        if (was_running &&
            !orch_qmp(vm.client_address, vm.name, "cont", NULL, NULL,
                      &again)) {
            orch_warn("VM %s: cont after a failed save: %s, ignoring",
                      vm.name, again->message);
        }
        return orch_fail_error(r, err);
    }
    last = orch_migrate_take(vm.name);
    if (!orch_vm_write(r->db, vm.name, &err, "state", "saved", "saved_file",
                       file, "client", NULL, "hypervisor", NULL, NULL)) {
        return orch_fail_error(r, err);
    }
    orch_event(vm.name, "saved to %s on %s", file, vm.client);
    orch_reply_object(r, 200, orch_vm_object_ended(r->db, vm.name, last));
    return 0;
}

/* Wait until the restored QEMU has left run state inmigrate. */
static char *restore_wait_status(const char *address, const char *vm,
                                 gint64 timeout, GError **errp)
{
    gint64 deadline = g_get_monotonic_time() + timeout * G_USEC_PER_SEC;

    for (;;) {
        g_autoptr(JsonNode) ret = NULL;
        const char *status;

        if (!orch_qmp(address, vm, "query-status", NULL, &ret, errp)) {
            return NULL;
        }
        status = JSON_NODE_HOLDS_OBJECT(ret) ?
            orch_launcher_str(json_node_get_object(ret), "status") : NULL;
        if (!status) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_GATEWAY,
                        "QMP query-status: no status");
            return NULL;
        }
        if (strcmp(status, "inmigrate") != 0) {
            return g_strdup(status);
        }
        if (g_get_monotonic_time() > deadline) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_TIMEOUT,
                        "the restored VM did not leave run state inmigrate "
                        "in %" G_GINT64_FORMAT " s", timeout);
            return NULL;
        }
        g_usleep(SAVE_POLL_US);
    }
}

/* Start the QEMU on @c and feed it @file; @r's undo deletes it on failure. */
static bool restore_run(OrchRequest *r, OrchVm *vm, OrchClientChoice *c,
                        const char *file, gint64 timeout, GError **errp)
{
    static const char *const incoming[] = { "-incoming", "defer", NULL };
    g_autofree char *uri = g_strconcat("file:", file, NULL);
    g_autoptr(JsonObject) args = json_object_new();
    g_autofree char *status = NULL;

    json_object_set_string_member(args, "uri", uri);
    if (!orch_start_qemu(r->db, &r->undo, vm, c->name, c->address,
                         c->hypervisor, incoming, errp) ||
        !orch_qmp(c->address, vm->name, "migrate-incoming", args, NULL,
                  errp) ||
        !orch_migrate_wait(c->address, vm->name, "restoring", c->name,
                           timeout, errp)) {
        return false;
    }
    status = restore_wait_status(c->address, vm->name, timeout, errp);
    if (!status) {
        return false;
    }
    /* A VM saved while stopped comes back paused. */
    return strcmp(status, "running") == 0 ||
           orch_qmp(c->address, vm->name, "cont", NULL, NULL, errp);
}

int orch_vm_restore(OrchRequest *r)
{
    static const char *const ok[] = { "saved", NULL };
    g_auto(OrchVm) vm = { 0 };
    g_auto(OrchClientChoice) c = { 0 };
    g_autoptr(GError) err = NULL;
    g_autofree char *file = NULL;
    g_autoptr(JsonObject) last = NULL;
    const char *client = NULL;
    gint64 timeout;
    bool done;

    if (!orch_vm_load(r->db, r->seg[1], &vm, &err) ||
        !orch_vm_expect_state(&vm, "restore", ok, &err)) {
        return orch_fail_error(r, err);
    }
    if (orch_body_str(r, r->body, "client", false, &client) < 0 ||
        save_timeout(r, &timeout) < 0) {
        return -EINVAL;
    }
    if (!orch_place_vm(r->db, client,
                       orch_vm_needs_model_tls(r->db, vm.name), &c, &err)) {
        return orch_fail_error(r, err);
    }
    file = g_strdup(vm.saved_file);
    if (!file) {
        return orch_fail(r, 409, "VM '%s' is saved but its file is not "
                         "recorded", vm.name);
    }
    if (!save_file_confined(file)) {
        return orch_fail(r, 409, "VM '%s' was saved to %s, outside the save "
                         "directory %s: refused", vm.name, file,
                         orch_save_dir);
    }
    done = restore_run(r, &vm, &c, file, timeout, &err);
    last = orch_migrate_take(vm.name);
    if (!done ||
        !orch_vm_write(r->db, vm.name, &err, "state", "running", "client",
                       c.name, "hypervisor", c.hypervisor, "saved_file",
                       NULL, NULL)) {
        return orch_fail_error(r, err);
    }
    orch_event(vm.name, "restored from %s on %s", file, c.name);
    orch_reply_object(r, 200, orch_vm_object_ended(r->db, vm.name, last));
    return 0;
}
