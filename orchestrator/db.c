/*
 * dm-orchestrator: the database.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "error.h"
#include "log.h"

/*
 * Schema steps: step N takes user_version N to N + 1.  Append; never edit
 * a step that has shipped.
 */
static const char *const db_steps[ORCH_DB_VERSION] = {
    /* 0 -> 1: identifiers, VMs, devices and placements */
    "CREATE TABLE platforms ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  role TEXT NOT NULL CHECK (role IN ('client', 'server')),"
    "  address TEXT NOT NULL,"
    "  capacity INTEGER NOT NULL DEFAULT 0 CHECK (capacity >= 0),"
    "  hypervisor TEXT);"
    "CREATE TABLE platform_models ("
    "  platform_id INTEGER NOT NULL REFERENCES platforms(id)"
    "    ON DELETE CASCADE,"
    "  model TEXT NOT NULL,"
    "  PRIMARY KEY (platform_id, model));"
    "CREATE TABLE vms ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  uuid TEXT NOT NULL UNIQUE,"
    "  memory TEXT NOT NULL,"
    "  kernel TEXT, initrd TEXT, append TEXT,"
    "  state TEXT NOT NULL DEFAULT 'defined' CHECK (state IN"
    "    ('defined', 'running', 'suspended', 'stopped', 'migrating')),"
    "  client_id INTEGER REFERENCES platforms(id),"
    "  hypervisor TEXT);"
    "CREATE TABLE devices ("
    "  id INTEGER PRIMARY KEY,"
    "  vm_id INTEGER NOT NULL REFERENCES vms(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  model TEXT NOT NULL,"
    "  bus TEXT NOT NULL CHECK (bus IN ('pci', 'isa')),"
    "  server_id INTEGER REFERENCES platforms(id),"
    "  restart TEXT NOT NULL CHECK (restart IN ('never', 'on-failure')),"
    "  UNIQUE (vm_id, name));"
    "CREATE TABLE placements ("
    "  id INTEGER PRIMARY KEY,"
    "  device_id INTEGER NOT NULL UNIQUE REFERENCES devices(id)"
    "    ON DELETE CASCADE,"
    "  server_id INTEGER NOT NULL REFERENCES platforms(id),"
    "  instance TEXT NOT NULL UNIQUE,"
    "  address TEXT NOT NULL,"
    "  token TEXT NOT NULL,"
    "  console TEXT,"
    "  state TEXT NOT NULL);",
    /* 1 -> 2: extra QEMU arguments and a log of what happened to VMs */
    "ALTER TABLE vms ADD COLUMN extra_args TEXT NOT NULL DEFAULT '[]';"
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY,"
    "  time TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),"
    "  vm TEXT NOT NULL,"
    "  message TEXT NOT NULL);",
    /*
     * 2 -> 3: state 'saved' and the file it was saved to.  SQLite cannot
     * alter a CHECK: the table is rebuilt (sqlite.org/lang_altertable.html,
     * "other kinds of table schema changes"), which is why the steps run
     * with foreign keys off (a DROP would cascade to the devices).
     */
    "CREATE TABLE vms_new ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  uuid TEXT NOT NULL UNIQUE,"
    "  memory TEXT NOT NULL,"
    "  kernel TEXT, initrd TEXT, append TEXT,"
    "  state TEXT NOT NULL DEFAULT 'defined' CHECK (state IN"
    "    ('defined', 'running', 'suspended', 'stopped', 'migrating',"
    "     'saved')),"
    "  client_id INTEGER REFERENCES platforms(id),"
    "  hypervisor TEXT,"
    "  extra_args TEXT NOT NULL DEFAULT '[]',"
    "  saved_file TEXT);"
    "INSERT INTO vms_new (id, name, uuid, memory, kernel, initrd, append,"
    "  state, client_id, hypervisor, extra_args)"
    "  SELECT id, name, uuid, memory, kernel, initrd, append, state,"
    "  client_id, hypervisor, extra_args FROM vms;"
    "DROP TABLE vms;"
    "ALTER TABLE vms_new RENAME TO vms;",
    /*
     * 3 -> 4: owner servers (patent Fig. 6).  A device may be reached
     * through the router of a server platform; its placement then holds
     * the route made on that owner and the router's address, which is
     * what QEMU connects to.
     */
    "ALTER TABLE devices ADD COLUMN via_id INTEGER"
    "  REFERENCES platforms(id);"
    "ALTER TABLE placements ADD COLUMN route_id TEXT;"
    "ALTER TABLE placements ADD COLUMN route_address TEXT;"
    "CREATE UNIQUE INDEX placements_route ON placements(route_id);",
    /*
     * 4 -> 5: device-model sessions over TLS.  A server platform whose
     * launcher runs its TCP models with TLS, or a client platform whose
     * launcher gives its QEMUs the credentials for them (their health's
     * "model_tls" at `platform add`).
     */
    "ALTER TABLE platforms ADD COLUMN model_tls INTEGER NOT NULL DEFAULT 0"
    "  CHECK (model_tls IN (0, 1));",
    /*
     * 5 -> 6: models as their launchers declare them (catalogue.c): a
     * server's models with their bus and properties, and whether a
     * device is the console (its model has a "console" property).  Rows
     * from before are given what the orchestrator's own list said then;
     * reconciliation refreshes them from the launchers.
     */
    "ALTER TABLE platform_models ADD COLUMN bus TEXT NOT NULL"
    "  DEFAULT 'pci' CHECK (bus IN ('pci', 'isa'));"
    "ALTER TABLE platform_models ADD COLUMN props TEXT NOT NULL"
    "  DEFAULT '[]';"
    "UPDATE platform_models SET bus = 'isa', props ="
    "  '[{\"name\":\"console\",\"type\":\"string\"}]'"
    "  WHERE model = 'uart16550';"
    "ALTER TABLE devices ADD COLUMN console INTEGER NOT NULL DEFAULT 0"
    "  CHECK (console IN (0, 1));"
    "UPDATE devices SET console = 1 WHERE model = 'uart16550';",
    /*
     * 6 -> 7: a device's model properties (a disk's image: file=), as a
     * JSON object of strings, checked against the catalogue; the device
     * a VM boots from (its firmware's first boot device), or NULL.
     */
    "ALTER TABLE devices ADD COLUMN props TEXT NOT NULL DEFAULT '{}';"
    "ALTER TABLE vms ADD COLUMN boot TEXT;",
};

static bool db_exec(sqlite3 *db, const char *sql, GError **errp)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL, "%s",
                    msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return false;
    }
    return true;
}

/* Bring the schema from its user_version to ours, one transaction. */
static bool db_migrate(sqlite3 *db, GError **errp)
{
    gint64 version, from;

    if (!db_exec(db, "BEGIN IMMEDIATE", errp)) {
        return false;
    }
    version = orch_db_int(db, -1, "PRAGMA user_version", "");
    if (version < 0 || version > ORCH_DB_VERSION) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL, "schema version %"
                    G_GINT64_FORMAT " is newer than ours (%d)", version,
                    ORCH_DB_VERSION);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return false;
    }
    for (from = version; version < ORCH_DB_VERSION; version++) {
        g_autofree char *bump = NULL;

        bump = g_strdup_printf("PRAGMA user_version = %" G_GINT64_FORMAT,
                               version + 1);
        if (!db_exec(db, db_steps[version], errp) ||
            !db_exec(db, bump, errp)) {
            g_prefix_error(errp, "migrating the schema to version %"
                           G_GINT64_FORMAT ": ", version + 1);
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return false;
        }
        orch_info("database schema migrated to version %" G_GINT64_FORMAT,
                  version + 1);
    }
    if (from < version &&
        orch_db_int(db, 0, "SELECT count(*) FROM pragma_foreign_key_check",
                    "") > 0) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL,
                    "the migrated schema breaks a foreign key");
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return false;
    }
    return db_exec(db, "COMMIT", errp);
}

/*
 * The database holds the models' tokens: owner only.  SQLite gives its
 * -wal, -shm and -journal files the mode of the database file, so making
 * that one 0600 (a database from before this check too) covers them.
 */
bool orch_db_make_private(const char *path, GError **errp)
{
    static const char *const sidecars[] = { "-wal", "-shm", "-journal" };
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    size_t i;

    if (fd < 0 || fchmod(fd, 0600) < 0) {
        int err = errno;

        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL, "%s: %s", path,
                    g_strerror(err));
        if (fd >= 0) {
            close(fd);
        }
        return false;
    }
    close(fd);
    /* Left by an earlier run, perhaps with a laxer mode. */
    for (i = 0; i < G_N_ELEMENTS(sidecars); i++) {
        g_autofree char *side = g_strconcat(path, sidecars[i], NULL);

        if (chmod(side, 0600) < 0 && errno != ENOENT) {
            g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL, "%s: %s",
                        side, g_strerror(errno));
            return false;
        }
    }
    return true;
}

sqlite3 *orch_db_open(const char *path, GError **errp)
{
    sqlite3 *db = NULL;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
                        SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL, "%s: %s", path,
                    db ? sqlite3_errmsg(db) : "no memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 10000);
    /* Off while migrating: a step may rebuild a referenced table. */
    if (!db_exec(db, "PRAGMA foreign_keys = OFF", errp) ||
        !db_exec(db, "PRAGMA journal_mode = WAL", errp) ||
        !db_migrate(db, errp) ||
        !db_exec(db, "PRAGMA foreign_keys = ON", errp)) {
        g_prefix_error(errp, "%s: ", path);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static sqlite3_stmt *db_vstmt(sqlite3 *db, const char *sql,
                              const char *fmt, va_list ap)
{
    sqlite3_stmt *st = NULL;
    int i;

    /* No database (the store on etcd): a thread reading the tables reads
     * nothing, as from an empty file, rather than crash. */
    if (!db) {
        orch_warn("SQL with no database: %s", sql);
        return NULL;
    }
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        orch_warn("SQL error: %s in: %s", sqlite3_errmsg(db), sql);
        return NULL;
    }
    for (i = 0; fmt[i]; i++) {
        if (fmt[i] == 's') {
            sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1,
                              SQLITE_TRANSIENT);
        } else {
            sqlite3_bind_int64(st, i + 1, va_arg(ap, gint64));
        }
    }
    return st;
}

sqlite3_stmt *orch_db_stmt(sqlite3 *db, const char *sql, const char *fmt,
                           ...)
{
    sqlite3_stmt *st;
    va_list ap;

    va_start(ap, fmt);
    st = db_vstmt(db, sql, fmt, ap);
    va_end(ap);
    return st;
}

bool orch_db_run(sqlite3 *db, GError **errp, const char *sql,
                 const char *fmt, ...)
{
    g_autoptr(sqlite3_stmt) st = NULL;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    st = db_vstmt(db, sql, fmt, ap);
    va_end(ap);
    if (!st) {
        orch_error_internal(errp, EIO);
        return false;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
        return true;
    }
    orch_warn("SQL error: %s in: %s", sqlite3_errmsg(db), sql);
    orch_error_internal(errp, EIO);
    return false;
}

gint64 orch_db_int(sqlite3 *db, gint64 dflt, const char *sql,
                   const char *fmt, ...)
{
    g_autoptr(sqlite3_stmt) st = NULL;
    va_list ap;

    va_start(ap, fmt);
    st = db_vstmt(db, sql, fmt, ap);
    va_end(ap);
    if (!st || sqlite3_step(st) != SQLITE_ROW ||
        sqlite3_column_type(st, 0) == SQLITE_NULL) {
        return dflt;
    }
    return sqlite3_column_int64(st, 0);
}

char *orch_db_str(sqlite3 *db, const char *sql, const char *fmt, ...)
{
    g_autoptr(sqlite3_stmt) st = NULL;
    va_list ap;

    va_start(ap, fmt);
    st = db_vstmt(db, sql, fmt, ap);
    va_end(ap);
    if (!st || sqlite3_step(st) != SQLITE_ROW) {
        return NULL;
    }
    return g_strdup((const char *)sqlite3_column_text(st, 0));
}

JsonObject *orch_db_row(sqlite3_stmt *st)
{
    JsonObject *o = json_object_new();
    int i, n = sqlite3_column_count(st);

    for (i = 0; i < n; i++) {
        const char *name = sqlite3_column_name(st, i);
        const char *text;

        switch (sqlite3_column_type(st, i)) {
        case SQLITE_NULL:
            json_object_set_null_member(o, g_str_has_prefix(name, "j:") ?
                                        name + 2 : name);
            break;
        case SQLITE_INTEGER:
            json_object_set_int_member(o, name,
                                       sqlite3_column_int64(st, i));
            break;
        default:
            text = (const char *)sqlite3_column_text(st, i);
            if (g_str_has_prefix(name, "j:")) {
                JsonNode *node = json_from_string(text, NULL);

                json_object_set_member(o, name + 2,
                                       node ? node : json_node_new(
                                           JSON_NODE_NULL));
            } else {
                json_object_set_string_member(o, name, text);
            }
        }
    }
    return o;
}

JsonArray *orch_db_rows(sqlite3_stmt *st)
{
    JsonArray *a = json_array_new();

    while (st && sqlite3_step(st) == SQLITE_ROW) {
        json_array_add_object_element(a, orch_db_row(st));
    }
    return a;
}
