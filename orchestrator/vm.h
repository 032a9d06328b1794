/*
 * dm-orchestrator: what starting, stopping and migrating VMs share
 * (lifecycle.c, placement.c, migrate.c).  Worker thread only.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_LIFECYCLE_H
#define ORCH_LIFECYCLE_H

#include "orch.h"

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

typedef struct OrchClientChoice {
    gint64 id;
    char *name;
    char *address;
    char *hypervisor;
} OrchClientChoice;

void orch_client_choice_clear(OrchClientChoice *c);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(OrchClientChoice, orch_client_choice_clear)

typedef struct OrchServerChoice {
    gint64 dev_id;              /* the device placed */
    gint64 id;
    char *name;
    char *address;
} OrchServerChoice;

void orch_server_choice_clear(OrchServerChoice *s);

int orch_vm_load(OrchRequest *r, const char *name, OrchVm *ret);
int orch_vm_expect_state(OrchRequest *r, OrchVm *vm, const char *action,
                         const char *const *states);
void orch_event(sqlite3 *db, const char *vm, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

/*
 * The client platform @name, or the least-loaded one if NULL (among those
 * with model TLS credentials if @need_model_tls).
 */
int orch_place_vm(OrchRequest *r, const char *name, bool need_model_tls,
                  OrchClientChoice *ret);
/*
 * The server for device @dev_id (@model): @pinned_id if >= 0, else the
 * least-loaded server offering @model that has room.
 */
int orch_place_device(OrchRequest *r, gint64 dev_id, const char *dev,
                      const char *model, gint64 pinned_id,
                      OrchServerChoice *ret);
/* Launch the instance on @s and record the placement (undone on failure). */
int orch_launch_instance(OrchRequest *r, OrchVm *vm, OrchServerChoice *s,
                         const char *instance, const char *model,
                         const char *restart, bool console,
                         const char *token);
/*
 * routes.c: ask the owner server @via_id for a route from device @dev's
 * identifiers to its @instance (placed already), DELETEd should @r fail,
 * and record it in the placement.
 */
int orch_route_add(OrchRequest *r, OrchVm *vm, const char *dev,
                   gint64 via_id, const char *instance);
/*
 * Queue the DELETE of every instance of VM @vm_id, and of the routes to
 * them, on @r's undo list.
 */
void orch_placements_release(OrchRequest *r, gint64 vm_id);
/* Start @vm's QEMU on a client; @extra args go last. */
int orch_start_qemu(OrchRequest *r, OrchVm *vm, const char *client,
                    const char *address, const char *hypervisor,
                    const char *const *extra);

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
/* Delete every instance of VM @vm_id (best effort), free its placements
 * and make it stopped; 0 or -EIO. */
int orch_vm_teardown(OrchRequest *r, gint64 vm_id);

#endif /* ORCH_LIFECYCLE_H */
