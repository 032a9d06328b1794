/*
 * dm-orchestrator: start-up reconciliation with the launchers
 * (reconcile.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_RECONCILE_H
#define ORCH_RECONCILE_H

#include <sqlite3.h>

/*
 * Ask every platform's launcher what runs and repair the database to
 * match (see docs/orchestrator.md); 0, or -errno if the database failed.
 */
int orch_reconcile(sqlite3 *db);

#endif /* ORCH_RECONCILE_H */
