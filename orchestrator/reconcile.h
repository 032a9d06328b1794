/*
 * dm-orchestrator: start-up reconciliation with the launchers
 * (reconcile.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_RECONCILE_H
#define ORCH_RECONCILE_H

#include <stdbool.h>
#include <glib.h>
#include <sqlite3.h>

/*
 * Ask every platform's launcher what runs and repair the database to
 * match (see docs/orchestrator.md), each repair (a platform's, a VM's)
 * committed on its own; *@left (if given) the repairs another writer's
 * change left to a next pass.  False with ORCH_ERROR_INTERNAL (error.h)
 * if the store refused a write, ORCH_ERROR_UNAVAILABLE if it could not
 * be read (no repair made after that).
 */
bool orch_reconcile(sqlite3 *db, guint *left, GError **errp);

#endif /* ORCH_RECONCILE_H */
