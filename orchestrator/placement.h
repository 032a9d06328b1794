/*
 * dm-orchestrator: where VMs and device models go, and launching the
 * device models there.  Worker thread only.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_PLACEMENT_H
#define ORCH_PLACEMENT_H

#include <stdbool.h>
#include <glib.h>

#include "request.h"

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
/*
 * Launch the instance on @s for the VM whose identifier is @vm_uuid and
 * record the placement (undone on failure).
 */
int orch_launch_instance(OrchRequest *r, const char *vm_uuid,
                         OrchServerChoice *s,
                         const char *instance, const char *model,
                         const char *restart, bool console,
                         const char *token);
/*
 * Queue the DELETE of every instance of VM @vm_id, and of the routes to
 * them, on @r's undo list.
 */
void orch_placements_release(OrchRequest *r, gint64 vm_id);

#endif /* ORCH_PLACEMENT_H */
