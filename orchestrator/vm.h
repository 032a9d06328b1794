/*
 * dm-orchestrator: the VM, one module below the API handlers that act
 * on it (vms.c, lifecycle.c, migrate.c, save.c, reconcile.c): its row,
 * its events, its QEMU and its migration's progress.  Worker thread
 * only, but for orch_migration_progress.  Failures are GErrors in
 * ORCH_ERROR (error.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_VM_H
#define ORCH_VM_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <sqlite3.h>

#include "undo.h"

typedef struct OrchVm {
    const char *name;
    char *uuid;
    char *state;
    char *client;               /* NULL until first started */
    char *client_address;
    char *hypervisor;
    char *saved_file;           /* NULL unless saved */
} OrchVm;

void orch_vm_clear(OrchVm *vm);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(OrchVm, orch_vm_clear)

/* Load what a lifecycle call needs about VM @name; NOT_FOUND if unknown. */
bool orch_vm_load(sqlite3 *db, const char *name, OrchVm *ret,
                  GError **errp);
/* CONFLICT unless the VM's state is one of @states (NULL-terminated). */
bool orch_vm_expect_state(OrchVm *vm, const char *action,
                          const char *const *states, GError **errp);
/*
 * Log and record an event about @vm (store-events.h: with the request's
 * commit, or at once outside a request).
 */
void orch_event(const char *vm, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);
/* The VM's row as the API shows it (NULL if unknown). */
JsonObject *orch_vm_object(sqlite3 *db, const char *name);
/*
 * Run QMP @cmd on the VM's QEMU through its client's launcher at
 * @address; its "return" in *@ret_return (if not NULL).  BAD_GATEWAY if
 * the launcher or QEMU refuses.
 */
bool orch_qmp(const char *address, const char *vm, const char *cmd,
              JsonObject *args, JsonNode **ret_return, GError **errp);
/*
 * Start @vm's QEMU on a client; @extra args go last.  Its DELETE goes on
 * @undo.
 */
bool orch_start_qemu(sqlite3 *db, OrchUndo *undo, OrchVm *vm,
                     const char *client, const char *address,
                     const char *hypervisor, const char *const *extra,
                     GError **errp);
/*
 * Delete every instance of VM @name (best effort), free its placements
 * and make it stopped; false only if the database failed.
 */
bool orch_vm_teardown(sqlite3 *db, const char *name, GError **errp);
/*
 * Set members of VM @name's document, pairs of a member ("state",
 * "client", "hypervisor", "saved_file") and its value (NULL: null)
 * ending with NULL, and write it back (records-set.h): the others keep
 * their values.  NOT_FOUND if there is no such VM.
 */
bool orch_vm_write(sqlite3 *db, const char *name, GError **errp, ...)
    G_GNUC_NULL_TERMINATED;

/* Progress of a running migration, or NULL (any thread). */
JsonObject *orch_migration_progress(const char *vm);
/*
 * Record @status (and the RAM figures of @info, if any) for @vm, which
 * GET shows in state @state ("state" is taken out of the object there).
 */
void orch_migration_set(const char *vm, const char *state, const char *to,
                        const char *status, JsonObject *info);
/*
 * Poll query-migrate on @vm's QEMU at @address every 200 ms until it says
 * completed (true), failed or cancelled (BAD_GATEWAY), or @timeout s have
 * passed (migrate_cancel, TIMEOUT).  Meanwhile GET shows @vm in @state
 * with "migration": {"to": @to, "status", ...}, until
 * orch_migrate_forget().
 */
bool orch_migrate_wait(const char *address, const char *vm,
                       const char *state, const char *to, gint64 timeout,
                       GError **errp);
void orch_migrate_forget(const char *vm);
/*
 * Forget @vm's progress and return the last one recorded, without its
 * "state" (NULL if none): after a completed migration, save or restore,
 * "status" "completed" with QEMU's last figures.
 */
JsonObject *orch_migrate_take(const char *vm);
/* orch_vm_object() of @name with @last (or nothing) as its "migration". */
JsonObject *orch_vm_object_ended(sqlite3 *db, const char *name,
                                 JsonObject *last);
/* Whether client platform @client's launcher has model TLS credentials. */
bool orch_client_model_tls(sqlite3 *db, const char *client);
/*
 * Before a stream that is not TLS (a save to a file): clear the TLS
 * migration parameters of @vm's QEMU on @client, if it may have them.
 */
bool orch_migrate_tls_off(sqlite3 *db, const char *client,
                          const char *address, const char *vm, GError **errp);
/* QMP migrate-set-parameters @creds and @host ("" for none) on @vm. */
bool orch_migrate_set_tls(const char *address, const char *vm,
                          const char *creds, const char *host, GError **errp);

#endif /* ORCH_VM_H */
