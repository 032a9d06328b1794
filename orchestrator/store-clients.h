/*
 * dm-orchestrator: the client platform a VM's QEMU runs on, chosen on the
 * store (docs/scale-out.md, the key layout: ROOT "platforms/NAME", ROOT
 * "vms/NAME" with its "state" and "client"), the twin of placement.h's
 * orch_place_vm on the tables.
 *
 * The choice reads every platform and every VM from the store itself,
 * not remembered by the request's view (store-view.h): remembering them
 * would make any two starts conflict at their commits, each changing
 * its own VM's state, and any start fail while reconciliation refreshes
 * a platform.  Only the platform chosen is read through the view, so a
 * start's commit fails (409) if that platform was removed or changed
 * meanwhile.  A client has no capacity: a count another start changed
 * meanwhile makes a worse balance, never an overcommitted platform.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_STORE_CLIENTS_H
#define ORCH_STORE_CLIENTS_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "store-view.h"

/*
 * How many VMs hold a QEMU on each client platform (running, suspended
 * or migrating): client name -> count (GINT_TO_POINTER), from the store
 * itself, a VM @v wrote counting as @v wrote it.  NULL if the store
 * failed.
 */
GHashTable *orch_client_loads(OrchStoreView *v, const char *root,
                              GError **errp);
/*
 * The client platform for a VM: @name if not NULL (NOT_FOUND if absent,
 * BAD_REQUEST if a server), else the one with the fewest VMs holding a
 * QEMU there, then by name, among those with model TLS credentials if
 * @need_model_tls (CONFLICT if none), orch_place_vm's messages.  True
 * with *@ret, the platform's document as @v read it.
 */
bool orch_client_choose(OrchStoreView *v, const char *root,
                        const char *name, bool need_model_tls,
                        JsonObject **ret, GError **errp);

#endif /* ORCH_STORE_CLIENTS_H */
