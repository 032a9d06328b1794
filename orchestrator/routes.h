/*
 * dm-orchestrator: routes through an owner server's router.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_ROUTES_H
#define ORCH_ROUTES_H

#include <stdbool.h>
#include <glib.h>
#include <sqlite3.h>

#include "undo.h"

/*
 * Ask the owner server @via for a route from device @dev's identifiers
 * (its @instance and VM @vm's @vm_uuid) to @instance (placed already),
 * with its DELETE on @undo, and record it in the placement.  False with
 * an ORCH_ERROR (error.h) on failure.
 */
bool orch_route_add(sqlite3 *db, OrchUndo *undo, const char *vm,
                    const char *vm_uuid, const char *dev, const char *via,
                    const char *instance, GError **errp);

#endif /* ORCH_ROUTES_H */
