/*
 * dm-orchestrator: the VM, one module below the API handlers that act
 * on it (vms.c, lifecycle.c, migrate.c, save.c, reconcile.c): its row,
 * its events, its QEMU and its migration's progress.  Worker thread
 * only, but for orch_migration_progress.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_VM_H
#define ORCH_VM_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <sqlite3.h>

#include "request.h"

typedef struct OrchVm {
    gint64 id;
    const char *name;
    char *uuid;
    char *state;
    char *client;               /* NULL until first started */
    char *client_address;
    char *hypervisor;
} OrchVm;

void orch_vm_clear(OrchVm *vm);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(OrchVm, orch_vm_clear)

/* Load what a lifecycle call needs about VM @name; 404 if unknown. */
int orch_vm_load(OrchRequest *r, const char *name, OrchVm *ret);
int orch_vm_expect_state(OrchRequest *r, OrchVm *vm, const char *action,
                         const char *const *states);
void orch_event(sqlite3 *db, const char *vm, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
/* The VM's row as the API shows it (NULL if unknown). */
JsonObject *orch_vm_object(sqlite3 *db, const char *name);
/* Run QMP @cmd on the VM's QEMU through its client's launcher. */
int orch_qmp(OrchRequest *r, const char *address, const char *vm,
             const char *cmd, JsonObject *args, JsonNode **ret_return);
/* Start @vm's QEMU on a client; @extra args go last. */
int orch_start_qemu(OrchRequest *r, OrchVm *vm, const char *client,
                    const char *address, const char *hypervisor,
                    const char *const *extra);
/* Delete every instance of VM @vm_id (best effort), free its placements
 * and make it stopped; 0 or -EIO. */
int orch_vm_teardown(OrchRequest *r, gint64 vm_id);

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
 * completed (0), failed or cancelled (502), or @timeout s have passed
 * (migrate_cancel, 504).  Meanwhile GET shows @vm in @state with
 * "migration": {"to": @to, "status", ...}, until orch_migrate_forget().
 */
int orch_migrate_wait(OrchRequest *r, const char *address, const char *vm,
                      const char *state, const char *to, gint64 timeout);
void orch_migrate_forget(const char *vm);
/* Whether client platform @client's launcher has model TLS credentials. */
bool orch_client_model_tls(sqlite3 *db, const char *client);
/*
 * Before a stream that is not TLS (a save to a file): clear the TLS
 * migration parameters of @vm's QEMU on @client, if it may have them.
 */
int orch_migrate_tls_off(OrchRequest *r, const char *client,
                         const char *address, const char *vm);
/* QMP migrate-set-parameters @creds and @host ("" for none) on @vm. */
int orch_migrate_set_tls(OrchRequest *r, const char *address,
                         const char *vm, const char *creds, const char *host);

#endif /* ORCH_VM_H */
