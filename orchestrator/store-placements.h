/*
 * dm-orchestrator: the placements as documents on the store, in a
 * request's view (store-view.h), with the claims that go with them
 * (docs/scale-out.md, the key layout and "place a model"):
 *
 *   ROOT "placements/VM/DEVICE"  {"server", "instance", "address",
 *                                 "token", "console", "state",
 *                                 "route_id", "route_address"}
 *   ROOT "instances/INSTANCE"    {"vm", "device"}: the name is unique
 *   ROOT "load/SERVER"           the server's slot (store-load.h)
 *
 * A placement is claimed before its model is launched, in state
 * "launching" with no address; the launcher's answer fills it in.  The
 * claim, the instance's name and the slot are written together at the
 * view's commit, or not at all: two requests placing on one server's
 * last slot, or the same device twice, cannot both commit (409), and
 * the loser's undo list deletes what it launched.
 *
 * The per-object layer placement.c moves onto with the VMs and the
 * platforms: not used by the handlers yet.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_STORE_PLACEMENTS_H
#define ORCH_STORE_PLACEMENTS_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "store-view.h"

/*
 * Claim a placement for device @dev (of model @model) of VM @vm: a slot
 * on @pinned or the least-loaded server with room (store-load.h), the
 * instance name @instance, and the placement itself, in state
 * "launching".  True with *@server (a new string); false with CONFLICT
 * if the device is placed already, the instance name is taken, or no
 * server can take it (store-load.h's reasons), or another error.
 */
bool orch_placement_claim(OrchStoreView *v, const char *root,
                          const char *vm, const char *dev,
                          const char *model, const char *pinned,
                          const char *instance, const char *token,
                          char **server, GError **errp);
/* The launcher's answer: @address, @console (or NULL) and @state. */
bool orch_placement_launched(OrchStoreView *v, const char *root,
                             const char *vm, const char *dev,
                             const char *address, const char *console,
                             const char *state, GError **errp);
/*
 * Device @dev's placement as @v sees it: true with *@ret (NULL if it has
 * none).
 */
bool orch_placement_read(OrchStoreView *v, const char *root, const char *vm,
                         const char *dev, JsonObject **ret, GError **errp);
/*
 * Free device @dev's placement: the document, its instance's name, its
 * route's (if any) and its slot.  NOT_FOUND if it has none.
 */
bool orch_placement_release(OrchStoreView *v, const char *root,
                            const char *vm, const char *dev, GError **errp);

#endif /* ORCH_STORE_PLACEMENTS_H */
