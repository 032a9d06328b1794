/*
 * dm-orchestrator: the store on SQLite (store.h).  One table of keys
 * with their revisions and one row holding the store's revision, so
 * that SQLite means what etcd means: a transaction that writes bumps the
 * revision once and stamps what it wrote with it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <string.h>

#include "db.h"
#include "error.h"
#include "log.h"
#include "store-impl.h"

typedef struct StoreSqlite {
    OrchStore base;
    sqlite3 *db;
    /* One connection, several threads: one statement sequence at a time. */
    GMutex lock;
} StoreSqlite;

static const char store_schema[] =
    "CREATE TABLE IF NOT EXISTS kv ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL,"
    "  create_rev INTEGER NOT NULL,"
    "  mod_rev INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS kv_revision ("
    "  id INTEGER PRIMARY KEY CHECK (id = 0),"
    "  revision INTEGER NOT NULL);"
    /* etcd's first revision is 1, an empty store's. */
    "INSERT OR IGNORE INTO kv_revision VALUES (0, 1);";

static bool sq_exec(StoreSqlite *s, const char *sql, GError **errp)
{
    char *msg = NULL;

    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL, "store: %s",
                    msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return false;
    }
    return true;
}

static void sq_rollback(StoreSqlite *s)
{
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static gint64 sq_revision(StoreSqlite *s)
{
    return orch_db_int(s->db, -1, "SELECT revision FROM kv_revision", "");
}

static OrchKv *sq_kv(sqlite3_stmt *st)
{
    return orch_kv_new((const char *)sqlite3_column_text(st, 0),
                       (const char *)sqlite3_column_text(st, 1),
                       sqlite3_column_bytes(st, 1),
                       sqlite3_column_int64(st, 2),
                       sqlite3_column_int64(st, 3));
}

static bool sq_get(OrchStore *base, const char *key, OrchKv **ret,
                   gint64 *rev, GError **errp)
{
    StoreSqlite *s = (StoreSqlite *)base;
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&s->lock);
    g_autoptr(sqlite3_stmt) st = NULL;
    int rc;

    /* The key and the revision from one snapshot. */
    if (!sq_exec(s, "BEGIN", errp)) {
        return false;
    }
    st = orch_db_stmt(s->db, "SELECT key, value, create_rev, mod_rev"
                      " FROM kv WHERE key = ?", "s", key);
    rc = st ? sqlite3_step(st) : SQLITE_ERROR;
    if (rc == SQLITE_ROW) {
        *ret = sq_kv(st);
    } else if (rc != SQLITE_DONE) {
        sq_rollback(s);
        orch_error_internal(errp, EIO);
        return false;
    }
    if (rev) {
        *rev = sq_revision(s);
    }
    return sq_exec(s, "COMMIT", errp);
}

static GPtrArray *sq_range(OrchStore *base, const char *prefix,
                           const char *from, gint64 limit, bool last,
                           gint64 *rev, GError **errp)
{
    StoreSqlite *s = (StoreSqlite *)base;
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&s->lock);
    g_autoptr(sqlite3_stmt) st = NULL;
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(
        (GDestroyNotify)orch_kv_free);
    g_autofree char *end = orch_store_prefix_end(prefix);
    int rc;

    if (!sq_exec(s, "BEGIN", errp)) {
        return NULL;
    }
    /*
     * TEXT compares as memcmp (BINARY), the order etcd keeps keys in.
     * No end: every key from the prefix on.  LIMIT -1: none.
     */
    st = orch_db_stmt(s->db, last
                      ? "SELECT key, value, create_rev, mod_rev FROM kv"
                        " WHERE key >= ? AND (?2 IS NULL OR key < ?2)"
                        " ORDER BY key DESC LIMIT ?3"
                      : "SELECT key, value, create_rev, mod_rev FROM kv"
                        " WHERE key >= ? AND (?2 IS NULL OR key < ?2)"
                        " ORDER BY key LIMIT ?3", "ssi",
                      from ? from : prefix, end, limit ? limit : -1);
    while (st && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        g_ptr_array_add(out, sq_kv(st));
    }
    if (!st || rc != SQLITE_DONE) {
        sq_rollback(s);
        orch_error_internal(errp, EIO);
        return NULL;
    }
    if (rev) {
        *rev = sq_revision(s);
    }
    if (!sq_exec(s, "COMMIT", errp)) {
        return NULL;
    }
    if (last) {
        /* Read from the end; answered in key order. */
        for (guint i = 0; i < out->len / 2; i++) {
            gpointer tmp = out->pdata[i];

            out->pdata[i] = out->pdata[out->len - 1 - i];
            out->pdata[out->len - 1 - i] = tmp;
        }
    }
    return g_steal_pointer(&out);
}

/* Whether every compare of @t holds; -1 if the database failed. */
static int sq_compares_hold(StoreSqlite *s, OrchTxn *t)
{
    guint i;

    for (i = 0; i < t->cmps->len; i++) {
        OrchTxnCmp *c = &g_array_index(t->cmps, OrchTxnCmp, i);
        g_autofree char *end = c->prefix ? orch_store_prefix_end(c->key)
                                         : NULL;
        gint64 n;

        if (!c->prefix) {
            n = orch_db_int(s->db, -1, "SELECT mod_rev FROM kv"
                            " WHERE key = ?", "s", c->key);
            if ((n < 0 ? 0 : n) != c->mod_rev) {
                return 0;
            }
            continue;
        }
        n = end ? orch_db_int(s->db, -1, "SELECT count(*) FROM kv WHERE"
                              " key >= ? AND key < ? AND mod_rev > ?",
                              "ssi", c->key, end, c->mod_rev)
                : orch_db_int(s->db, -1, "SELECT count(*) FROM kv WHERE"
                              " key >= ? AND mod_rev > ?", "si", c->key,
                              c->mod_rev);
        if (n < 0) {
            return -1;
        }
        if (n > 0) {
            return 0;
        }
    }
    return 1;
}

static bool sq_txn(OrchStore *base, OrchTxn *t, gint64 *rev, GError **errp)
{
    StoreSqlite *s = (StoreSqlite *)base;
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&s->lock);
    gint64 next;
    bool changed = false;
    guint i;

    /* IMMEDIATE: the write lock before the compares, or they could go stale. */
    if (!sq_exec(s, "BEGIN IMMEDIATE", errp)) {
        g_clear_error(errp);
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_UNAVAILABLE,
                    "store: the database is busy");
        return false;
    }
    next = sq_revision(s) + 1;
    if (next <= 1) {
        sq_rollback(s);
        orch_error_internal(errp, EIO);
        return false;
    }
    switch (sq_compares_hold(s, t)) {
    case 1:
        break;
    case 0:
        sq_rollback(s);
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_CONFLICT,
                    "changed meanwhile; read again and retry");
        return false;
    default:
        sq_rollback(s);
        orch_error_internal(errp, EIO);
        return false;
    }
    for (i = 0; i < t->ops->len; i++) {
        OrchTxnOp *op = &g_array_index(t->ops, OrchTxnOp, i);
        bool ok;

        if (op->kind == ORCH_TXN_PUT) {
            ok = orch_db_run(s->db, errp,
                             "INSERT INTO kv VALUES (?1, ?2, ?3, ?3)"
                             " ON CONFLICT (key) DO UPDATE SET"
                             " value = ?2, mod_rev = ?3", "ssi", op->key,
                             op->value, next);
            changed = true;
        } else {
            ok = orch_db_run(s->db, errp, "DELETE FROM kv WHERE key = ?",
                             "s", op->key);
            changed |= ok && sqlite3_changes(s->db) > 0;
        }
        if (!ok) {
            sq_rollback(s);
            return false;
        }
    }
    /* As etcd: a transaction that changed nothing keeps the revision. */
    if (changed && !orch_db_run(s->db, errp, "UPDATE kv_revision"
                                " SET revision = ?", "i", next)) {
        sq_rollback(s);
        return false;
    }
    if (!sq_exec(s, "COMMIT", errp)) {
        sq_rollback(s);
        return false;
    }
    if (rev) {
        *rev = changed ? next : next - 1;
    }
    return true;
}

static void sq_close(OrchStore *base)
{
    StoreSqlite *s = (StoreSqlite *)base;

    sqlite3_close(s->db);
    g_mutex_clear(&s->lock);
    g_free(s);
}

static const OrchStoreOps store_sqlite_ops = {
    .kind = "sqlite",
    .get = sq_get,
    .range = sq_range,
    .txn = sq_txn,
    .close = sq_close,
};

OrchStore *orch_store_sqlite_open(const char *path, GError **errp)
{
    StoreSqlite *s;
    sqlite3 *db = NULL;

    /* It will hold the models' tokens, as the database does. */
    if (!orch_db_make_private(path, errp)) {
        return NULL;
    }
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
                        SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_INTERNAL, "%s: %s", path,
                    db ? sqlite3_errmsg(db) : "no memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 10000);
    s = g_new0(StoreSqlite, 1);
    s->base.ops = &store_sqlite_ops;
    s->db = db;
    g_mutex_init(&s->lock);
    if (!sq_exec(s, "PRAGMA journal_mode = WAL", errp) ||
        !sq_exec(s, store_schema, errp)) {
        g_prefix_error(errp, "%s: ", path);
        sq_close(&s->base);
        return NULL;
    }
    return &s->base;
}
