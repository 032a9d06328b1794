/*
 * dm-orchestrator: routes nobody knows, at reconciliation
 * (reconcile-routes.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_RECONCILE_ROUTES_H
#define ORCH_RECONCILE_ROUTES_H

#include <glib.h>
#include <sqlite3.h>

/*
 * Delete the routes that no placement knows on the
 * server platforms named in @answered (whose launchers answered); the
 * number deleted.
 */
int orch_reconcile_routes(sqlite3 *db, GHashTable *answered);

#endif /* ORCH_RECONCILE_ROUTES_H */
