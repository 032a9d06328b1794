/*
 * dm-orchestrator: the routes through owner servers as documents on the
 * store (docs/scale-out.md, the key layout; routes.c says what a route
 * is):
 *
 *   ROOT "routes/ROUTE"            {"vm", "device"}: a route id is unique
 *   ROOT "placements/VM/DEVICE"    its "route_id" and "route_address"
 *
 * A route is made on the owner's launcher right after its instance is
 * launched, so it is written in the same view as the placement's claim
 * and the launcher's answer, and committed with them or not at all: a
 * request that loses the race for the slot or the name writes no route,
 * and its undo list deletes the route it made with the instance.
 * orch_placement_release (store-placements.h) deletes the route's key
 * with its placement.
 *
 * The per-object layer routes.c and reconcile-routes.c move onto with
 * the placements: not used by the handlers yet.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_STORE_ROUTES_H
#define ORCH_STORE_ROUTES_H

#include <stdbool.h>
#include <glib.h>

#include "store-view.h"

/*
 * Record route @id, whose owner's router is at @address, for device
 * @dev of VM @vm: its placement's "route_id" and "route_address", and
 * @id's key.  NOT_FOUND if the device is not placed; CONFLICT if its
 * placement has a route already or @id is taken (both conditioned on
 * what @v read).
 */
bool orch_route_doc_set(OrchStoreView *v, const char *root, const char *vm,
                        const char *dev, const char *id, const char *address,
                        GError **errp);
/*
 * Route @id as @v sees it: true with *@vm and *@dev (new strings), both
 * NULL if there is no such route.
 */
bool orch_route_doc_read(OrchStoreView *v, const char *root, const char *id,
                         char **vm, char **dev, GError **errp);
/*
 * Whether route @id on owner server @owner is one a placement holds:
 * its key names a device whose "via" (store-vms.h) is @owner and whose
 * placement records @id.  What reconciliation asks of each route an
 * owner's launcher lists (reconcile-routes.c); a route it does not know
 * is deleted there.
 */
bool orch_route_doc_known(OrchStoreView *v, const char *root, const char *id,
                          const char *owner, bool *known, GError **errp);

#endif /* ORCH_STORE_ROUTES_H */
