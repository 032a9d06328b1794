/*
 * dm-orchestrator: the store's twins of the tables compared with the
 * tables (docs/scale-out.md, "The next step", step 1): the judge of the
 * dual write (records-set.h), run by `dm-orchestrator --check-store`.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_STORE_CHECK_H
#define ORCH_STORE_CHECK_H

#include <glib.h>
#include <sqlite3.h>

#include "store.h"

/*
 * Compare what records.h answers from @db (one snapshot) with what
 * records-view.h answers from @s under @root: the names of the VMs and
 * platforms, every platform's and VM's document, each server's load and
 * each client's running VMs, each device's placement with its instance's
 * and route's claims, each UUID's claim; and no claim, placement or load
 * in the store that the tables do not have.  Each difference is a line
 * of @out.  Their number, or -1 with @errp if the store or the database
 * failed.
 */
int orch_store_check_twins(sqlite3 *db, OrchStore *s, const char *root,
                           GString *out, GError **errp);

#endif /* ORCH_STORE_CHECK_H */
