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
 * match (see docs/orchestrator.md); false with an ORCH_ERROR_INTERNAL
 * (error.h) if the database failed.
 */
bool orch_reconcile(sqlite3 *db, GError **errp);

#endif /* ORCH_RECONCILE_H */
