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
 * since: store-events.h).  Likewise the platforms and VMs with all
 * theirs, from @db's kv table once its "/dm/moved" lists "vms" (their
 * tables are no longer written since).  In transactions of at most ORCH_IMPORT_BATCH
 * writes (etcd's --max-txn-ops is 128 by default), each conditioned on
 * ROOT "schema" being absent, which the last one writes: CONFLICT if
 * the store was imported into already (nothing written), and an import
 * cut short is done again whole.
 */
#define ORCH_IMPORT_BATCH 100
bool orch_store_import(sqlite3 *db, OrchStore *s, const char *root,
                       GError **errp);

/*
 * The modules whose keys the store holds, ROOT "moved" {"modules": [...]}
 * (docs/scale-out.md: the keys of a module not moved yet are a snapshot
 * of the import, stale since).  Each of @moved (NULL-terminated) not in
 * it has its part brought up to date from @db's tables, then is added.
 * Known: "events" (the table's rows after the store's last event: the
 * table is append-only and the store keeps its ids); "platforms" and
 * "vms" (with devices, placements, routes, instances' and UUIDs' claims
 * and loads), one catch-up for both: those tables copied again whole (a
 * document the store holds the same is not written again) and each key
 * of those modules the tables do not give deleted, for a store filled
 * while an older orchestrator went on writing the tables.  With no @db (a
 * store on etcd), a module not listed is added as the keys hold it (an
 * --import-into is taken as the last word of its database).  A module named
 * here for the first time, and written meanwhile by another orchestrator,
 * is a CONFLICT (nothing written).
 */
/*
 * A store no database is imported into (etcd with no SQLite file): ROOT
 * "schema" written if absent, the empty store of this schema.  Another
 * orchestrator writing it first is as good.
 */
bool orch_store_create(OrchStore *s, const char *root, GError **errp);

bool orch_store_import_moved(sqlite3 *db, OrchStore *s, const char *root,
                             const char *const *moved, GError **errp);

#endif /* ORCH_STORE_IMPORT_H */
