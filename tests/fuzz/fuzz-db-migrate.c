/*
 * libFuzzer target: the orchestrator's database opened from a damaged
 * file (orchestrator/db.c: orch_db_open, its schema migration steps and
 * their checks), as dm-orchestrator --db opens it at start-up.
 *
 * Properties checked:
 *  - the file is refused with an error, or opened at the current schema
 *    version (ORCH_DB_VERSION), and with no broken foreign key when it
 *    was migrated: never a half-migrated database;
 *  - a database the open refused is left at the version it had (the
 *    migration is one transaction).
 *
 * Input: the bytes of the database file (no WAL beside it).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "log.h"

static char dir[] = "/tmp/fuzz-db-XXXXXX";
static char path[sizeof(dir) + 16];

static void remove_files(void)
{
    static const char *const sidecars[] = { "", "-wal", "-shm", "-journal" };

    for (size_t i = 0; i < sizeof(sidecars) / sizeof(sidecars[0]); i++) {
        char p[sizeof(path) + 16];

        snprintf(p, sizeof(p), "%s%s", path, sidecars[i]);
        unlink(p);
    }
}

static void remove_dir(void)
{
    remove_files();
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (!mkdtemp(dir)) {
        abort();
    }
    snprintf(path, sizeof(path), "%s/db.sqlite", dir);
    atexit(remove_dir);
    orch_log_level = -1;        /* quiet: millions of runs */
    return 0;
}

/* The schema version in the file as it is, -1 if SQLite cannot say. */
static long file_version(void)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long v = -1;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    GError *err = NULL;
    sqlite3 *db;
    FILE *f;
    long before;

    remove_files();
    f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        abort();
    }
    before = file_version();
    db = orch_db_open(path, &err);
    if (db) {
        /*
         * Foreign keys are checked after a migration only: a file that
         * already says the current version is taken as it is (a damaged
         * one with dangling rows too; see docs/testing.md).
         */
        if (orch_db_int(db, -1, "PRAGMA user_version", "") !=
            ORCH_DB_VERSION ||
            (before != ORCH_DB_VERSION &&
             orch_db_int(db, 1, "SELECT count(*) FROM "
                         "pragma_foreign_key_check", "") != 0)) {
            fprintf(stderr, "opened, but at version %ld or with a broken "
                    "foreign key\n",
                    (long)orch_db_int(db, -1, "PRAGMA user_version", ""));
            abort();
        }
        sqlite3_close(db);
    } else {
        long after;

        if (!err || !err->message || !*err->message) {
            fprintf(stderr, "refused without a message\n");
            abort();
        }
        after = file_version();
        /* A file SQLite cannot read either way says nothing. */
        if (before >= 0 && after >= 0 && after != before) {
            fprintf(stderr, "refused (%s), but moved from version %ld to "
                    "%ld\n", err->message, before, after);
            abort();
        }
        g_error_free(err);
    }
    return 0;
}
