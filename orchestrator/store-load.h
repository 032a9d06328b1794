/*
 * dm-orchestrator: the servers' load on the store, the claim a placement
 * makes (docs/scale-out.md, the key layout: ROOT "load/SERVER" holds
 * {"used": N}; ROOT "platforms/NAME" the platform, its "capacity" and
 * "models" as store-import.c writes them).
 *
 * A claim is a write in a request's store view (store-view.h): the
 * server's used count plus one, conditioned at the view's commit on the
 * count it read.  Two requests that claim the last slot of one server
 * both see room, but only the first commit holds; the other's is a
 * CONFLICT (409) and its undo list deletes what it launched.  So the
 * claim is made before the launcher is called and is part of the same
 * commit as the placement, and no server goes over its capacity however
 * many orchestrators place at once.  Only the chosen server's count is
 * conditioned: a claim elsewhere meanwhile does not make this one fail.
 *
 * Called by the twin of the start's claim (records-set.c, the dual write
 * of docs/scale-out.md's step 1, on the server the tables chose):
 * placement.c still chooses by counting its SQL rows (and writes the row
 * first, the same claim on one orchestrator) until the reads move onto
 * the store.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_STORE_LOAD_H
#define ORCH_STORE_LOAD_H

#include <stdbool.h>
#include <glib.h>

#include "store-view.h"

/*
 * Claim a slot for device @dev of model @model in @v, under @root
 * ("/dm/"): on server @pinned if not NULL, else on the least-loaded
 * server offering @model that has room (lowest share of its capacity in
 * use, then fewest used, then name).  True with *@server (a new string);
 * false with ORCH_ERROR_CONFLICT saying why none can take it (full, or
 * not offered), ORCH_ERROR_NOT_FOUND or BAD_REQUEST for a bad @pinned,
 * or the store's error.
 */
bool orch_load_claim(OrchStoreView *v, const char *root, const char *dev,
                     const char *model, const char *pinned, char **server,
                     GError **errp);

/* Give a slot on @server back in @v (a placement deleted). */
bool orch_load_release(OrchStoreView *v, const char *root,
                       const char *server, GError **errp);

/* @server's used count as @v sees it (0 if none); -1 if the store failed. */
gint64 orch_load_used(OrchStoreView *v, const char *root,
                      const char *server, GError **errp);

#endif /* ORCH_STORE_LOAD_H */
