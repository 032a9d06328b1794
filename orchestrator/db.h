/*
 * dm-orchestrator: the SQLite database of platforms, VMs, devices and
 * placements.  Prepared statements only; the schema is versioned with
 * PRAGMA user_version and migrated forward at open.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_DB_H
#define ORCH_DB_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <sqlite3.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3_stmt, sqlite3_finalize)

/* The newest schema version. */
#define ORCH_DB_VERSION 7

/*
 * Create the database file @path 0600 if absent, and make it and its
 * side files 0600 if not: it holds tokens.  Before any connection is
 * opened (closing a file descriptor drops SQLite's locks on it).
 */
bool orch_db_make_private(const char *path, GError **errp);
/* Open (creating or migrating) the database; NULL with a reason. */
sqlite3 *orch_db_open(const char *path, GError **errp);

/*
 * Prepare @sql and bind its parameters from @fmt: 's' a string (NULL
 * binds NULL), 'i' a gint64.  NULL (logged) on failure.
 */
sqlite3_stmt *orch_db_stmt(sqlite3 *db, const char *sql, const char *fmt,
                           ...);
/*
 * Run a statement that returns no rows; false (logged) with an
 * ORCH_ERROR_INTERNAL if it fails (a broken constraint too: check first).
 */
bool orch_db_run(sqlite3 *db, GError **errp, const char *sql,
                 const char *fmt, ...);
/* The first column of the first row as an integer, or @dflt. */
gint64 orch_db_int(sqlite3 *db, gint64 dflt, const char *sql,
                   const char *fmt, ...);
/* The first column of the first row as a string (NULL when none). */
char *orch_db_str(sqlite3 *db, const char *sql, const char *fmt, ...);

/*
 * The current row as a JSON object keyed by column name.  A column named
 * "j:NAME" holds JSON text and becomes member NAME parsed.
 */
JsonObject *orch_db_row(sqlite3_stmt *st);
/* All remaining rows as an array of such objects. */
JsonArray *orch_db_rows(sqlite3_stmt *st);

#endif /* ORCH_DB_H */
