/*
 * dm-orchestrator: where VMs and device models go, and launching the
 * device models there.  Worker thread only; failures are GErrors in
 * ORCH_ERROR (error.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_PLACEMENT_H
#define ORCH_PLACEMENT_H

#include <stdbool.h>
#include <glib.h>
#include <sqlite3.h>

#include "undo.h"

typedef struct OrchClientChoice {
    char *name;
    char *address;
    char *hypervisor;
} OrchClientChoice;

void orch_client_choice_clear(OrchClientChoice *c);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(OrchClientChoice, orch_client_choice_clear)

typedef struct OrchServerChoice {
    const char *vm, *dev;       /* the device placed (the caller's) */
    char *name;
    char *address;
} OrchServerChoice;

void orch_server_choice_clear(OrchServerChoice *s);

/*
 * The client platform @name, or the least-loaded one if NULL (among those
 * with model TLS credentials if @need_model_tls).  NOT_FOUND or
 * BAD_REQUEST for a bad @name, CONFLICT if there is none.
 */
bool orch_place_vm(sqlite3 *db, const char *name, bool need_model_tls,
                   OrchClientChoice *ret, GError **errp);
/*
 * The server for device @dev of VM @vm (@model): @pinned if not NULL,
 * else the least-loaded server offering @model that has room (CONFLICT
 * if none).
 */
bool orch_place_device(sqlite3 *db, const char *vm, const char *dev,
                       const char *model, const char *pinned,
                       OrchServerChoice *ret, GError **errp);
/*
 * Launch the instance on @s for the VM whose identifier is @vm_uuid,
 * with the model's @props (JSON text of an object, or NULL), and record
 * the placement; its DELETE goes on @undo.  The placement is written
 * first, in state "launching", as the claim on @s's room, and committed
 * before the launcher is called (orch_request_claim_now), which releases
 * it again if the request fails.
 */
bool orch_launch_instance(OrchUndo *undo, const char *vm_uuid,
                          OrchServerChoice *s, const char *instance,
                          const char *model, const char *props,
                          const char *restart, bool console,
                          const char *token, GError **errp);
/*
 * A VM's display and its keyboard and tablet are paired by the launcher
 * they run on (docs/launcher.md): they go to one server.  Whether
 * @model is one of them.
 */
bool orch_model_paired(const char *model);

/*
 * For device @dev of model @model of VM @vm: if it is paired and
 * another paired device of the VM is placed already, *@pinned (a string
 * the caller frees, NULL for none) becomes that device's server; 409 if
 * @dev was pinned elsewhere.  If none is placed, the first pin of the
 * VM's paired devices, if @dev has none.
 */
bool orch_place_paired(sqlite3 *db, const char *vm, const char *dev,
                       const char *model, char **pinned, GError **errp);

/*
 * Queue the DELETE of every instance of VM @vm, and of the routes to
 * them, on @undo.
 */
void orch_placements_release(sqlite3 *db, OrchUndo *undo, const char *vm);

#endif /* ORCH_PLACEMENT_H */
