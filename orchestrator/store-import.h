/*
 * dm-orchestrator: a database of schema 7 (db.c's tables) copied into
 * the store's keys (docs/scale-out.md's layout), the step that takes an
 * existing SQLite deployment to the store, SQLite's or etcd's.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_STORE_IMPORT_H
#define ORCH_STORE_IMPORT_H

#include <stdbool.h>
#include <glib.h>
#include <sqlite3.h>

#include "store.h"

/* The store's schema, in ROOT "schema" once an import is complete. */
#define ORCH_STORE_SCHEMA 8

/*
 * Copy @db (schema ORCH_DB_VERSION, read in one snapshot) into @s under
 * @root ("/dm/"): platforms, VMs with their devices, placements, the
 * claims of instance names, routes and UUIDs, each server's load, and
 * the events (from the events table; or, once its orchestrator ran
 * with the events on the store, from @db's own kv table, where they are
 * since: store-events.h).  In transactions of at most ORCH_IMPORT_BATCH writes
 * (etcd's --max-txn-ops is 128 by default), each conditioned on
 * ROOT "schema" being absent, which the last one writes: CONFLICT if
 * the store was imported into already (nothing written), and an import
 * cut short is done again whole.
 */
#define ORCH_IMPORT_BATCH 100
bool orch_store_import(sqlite3 *db, OrchStore *s, const char *root,
                       GError **errp);

#endif /* ORCH_STORE_IMPORT_H */
