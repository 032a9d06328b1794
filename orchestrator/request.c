/*
 * dm-orchestrator: replies, body fields and the database section of a
 * request.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdarg.h>

#include <vup/address.h>

#include "db.h"
#include "error.h"
#include "json-http.h"
#include "log.h"
#include "records-bind.h"
#include "request.h"
#include "store-events.h"
#include "store-import.h"
#include "store-placements.h"

/* The -errno that goes with an HTTP status, for callers that care. */
static int request_errno(guint status)
{
    switch (status) {
    case 404:
        return -ENOENT;
    case 409:
        return -EBUSY;
    case 502:
        return -EHOSTUNREACH;
    default:
        return -EINVAL;
    }
}

int orch_fail_error(OrchRequest *r, const GError *err)
{
    guint status = ORCH_ERROR_INTERNAL;

    g_return_val_if_fail(err, -EINVAL);
    /* Both domains' codes are the HTTP status to answer with. */
    if (err->domain == ORCH_ERROR || err->domain == DM_JSON_HTTP_ERROR) {
        status = err->code;
    }
    return orch_fail(r, status, "%s", err->message);
}

int orch_fail(OrchRequest *r, guint status, const char *fmt, ...)
{
    va_list ap;

    /* The first failure is the cause; later ones are consequences. */
    if (!r->error) {
        va_start(ap, fmt);
        r->error = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        /*
         * A name from the path or the query may be any bytes once
         * percent-decoded; JSON takes UTF-8 only, and json-glib wrote an
         * empty object instead of the message.
         */
        if (!g_utf8_validate(r->error, -1, NULL)) {
            char *valid = g_utf8_make_valid(r->error, -1);

            g_free(r->error);
            r->error = valid;
        }
        r->status = status;
    }
    return request_errno(status);
}

void orch_reply(OrchRequest *r, guint status, JsonNode *node)
{
    if (r->reply) {
        json_node_unref(r->reply);
    }
    r->status = status;
    r->reply = node;
}

void orch_reply_object(OrchRequest *r, guint status, JsonObject *o)
{
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    json_node_take_object(node, o);
    orch_reply(r, status, node);
}

int orch_require_body(OrchRequest *r)
{
    if (!r->body) {
        return orch_fail(r, 400, "a JSON object is required as the body");
    }
    return 0;
}

/*
 * Member @key of @o, a value of @type (@what names it for the error):
 * 0 with *@ret_node NULL when absent or null (400 if @required).
 */
static int body_member(OrchRequest *r, JsonObject *o, const char *key,
                       bool required, GType type, const char *what,
                       JsonNode **ret_node)
{
    g_autoptr(GError) err = NULL;

    if (!dm_json_member(o, key, required, type, what, ret_node, &err)) {
        return orch_fail(r, err->code, "%s", err->message);
    }
    return 0;
}

int orch_body_str(OrchRequest *r, JsonObject *o, const char *key,
                  bool required, const char **ret)
{
    JsonNode *n;
    int err = body_member(r, o, key, required, G_TYPE_STRING, "a string",
                          &n);

    if (err == 0) {
        *ret = n ? json_node_get_string(n) : NULL;
    }
    return err;
}

/* An absent member leaves *@ret as it was: its default. */
int orch_body_int(OrchRequest *r, JsonObject *o, const char *key,
                  bool required, gint64 *ret)
{
    JsonNode *n;
    int err = body_member(r, o, key, required, G_TYPE_INT64, "an integer",
                          &n);

    if (err == 0 && n) {
        *ret = json_node_get_int(n);
    }
    return err;
}

/*
 * Names end up in file names, QEMU option values and URL paths: keep them
 * to a safe alphabet.
 */
int orch_check_name(OrchRequest *r, const char *what, const char *name)
{
    /* The project's one rule (libvup), as the launchers and QEMU check. */
    if (!vup_name_valid(name)) {
        return orch_fail(r, 400, "bad %s name '%s' (1 to 64 of A-Z a-z 0-9 "
                         ". _ -, not . or ..)", what, name);
    }
    return 0;
}

/*
 * The worker's database section.  Worker threads only; the main thread's
 * read-only requests use their own connection and never hold it.
 */
static GMutex request_db_lock;
/* The request whose section this thread runs, if any. */
static __thread OrchRequest *request_current;

typedef struct OrchDbUndo {
    char *sql;
    char *key;
} OrchDbUndo;

/* The store the requests' views read, if any. */
static OrchStore *request_store;

void orch_request_set_store(OrchStore *s)
{
    request_store = s;
}

OrchStoreView *orch_request_view(OrchRequest *r)
{
    if (!r->view && request_store) {
        r->view = orch_view_new(request_store);
    }
    return r->view;
}

/*
 * While the tables are still written (docs/scale-out.md, "The next step",
 * steps 1 and 2), a view refused after the SQL COMMIT leaves the store's
 * twins behind the tables, which the handlers read through the store:
 * copy the tables again at once, as a start does.  Called after the
 * COMMIT, in the section, so no other writer runs meanwhile.
 */
static void request_twins_resync(OrchRequest *r)
{
    g_autoptr(GError) err = NULL;

    if (!orch_rec_bound_store() || !r->db) {
        return;
    }
    orch_warn("the store's twins missed a committed write: copied again "
              "from the tables");
    if (!orch_store_import_twins(r->db, orch_rec_bound_store(),
                                 orch_rec_bound_root(), &err)) {
        orch_warn("the store's twins: %s", err->message);
    }
}

/* Commit @r's view, if it has one: 0, or -EBUSY with @r failed (409). */
static int request_view_commit(OrchRequest *r)
{
    g_autoptr(OrchStoreView) v = g_steal_pointer(&r->view);
    g_autoptr(GError) err = NULL;

    /* A view that only read has nothing to commit (step 2's reads). */
    if (!v || !orch_view_dirty(v) || orch_view_commit(v, NULL, &err)) {
        return 0;
    }
    orch_fail(r, err->domain == ORCH_ERROR ? err->code : 500,
              "the store: %s", err->message);
    request_twins_resync(r);
    return -EBUSY;
}

/* A placement committed early (orch_request_claimed). */
typedef struct RequestClaim {
    char *root, *vm, *dev, *instance;
} RequestClaim;

static void request_claim_free(gpointer p)
{
    RequestClaim *c = p;

    g_free(c->root);
    g_free(c->vm);
    g_free(c->dev);
    g_free(c->instance);
    g_free(c);
}

void orch_request_claimed(OrchRequest *r, const char *root, const char *vm,
                          const char *dev, const char *instance)
{
    RequestClaim *c = g_new0(RequestClaim, 1);

    c->root = g_strdup(root);
    c->vm = g_strdup(vm);
    c->dev = g_strdup(dev);
    c->instance = g_strdup(instance);
    r->claims = g_slist_prepend(r->claims, c);
}

/* Release claim @c if it is still its instance's, in a view of its own. */
static void request_claim_release(RequestClaim *c)
{
    g_autoptr(OrchStoreView) v = orch_view_new(request_store);
    g_autoptr(JsonObject) p = NULL;
    g_autoptr(GError) err = NULL;

    if (!orch_placement_read(v, c->root, c->vm, c->dev, &p, &err)) {
        goto fail;
    }
    if (!p || g_strcmp0(json_object_get_string_member_with_default(
                            p, "instance", NULL), c->instance) != 0) {
        return;
    }
    if (orch_placement_release(v, c->root, c->vm, c->dev, &err) &&
        orch_view_commit(v, NULL, &err)) {
        return;
    }
fail:
    orch_warn("undo: placement of %s/%s not released: %s", c->vm, c->dev,
              err->message);
}

static void request_claims_run(OrchRequest *r)
{
    GSList *l;

    for (l = r->claims; l && request_store; l = l->next) {
        request_claim_release(l->data);
    }
    g_slist_free_full(g_steal_pointer(&r->claims), request_claim_free);
}

static int request_db_begin(OrchRequest *r)
{
    if (sqlite3_exec(r->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
        SQLITE_OK) {
        return orch_fail(r, 503, "database busy: %s", sqlite3_errmsg(r->db));
    }
    r->db_changes = sqlite3_total_changes(r->db);
    return 0;
}

int orch_db_section_begin(OrchRequest *r, sqlite3 *db)
{
    g_mutex_lock(&request_db_lock);
    r->db = db;
    r->db_held = true;
    request_current = r;
    /* The tables' writes' twins go into its view (records-set.h). */
    orch_rec_twin_bind(&r->view);
    /* Its events are written with its commit (store-events.h). */
    orch_events_defer();
    if (request_db_begin(r) < 0) {
        orch_db_section_end(r, false);
        return -EBUSY;
    }
    return 0;
}

int orch_db_section_end(OrchRequest *r, bool commit)
{
    int ret = 0;

    if (!r->db_held) {
        /*
         * Paused at its end: nothing pending in SQL.  Its view (inside
         * the section, as below) and its events as @commit says.
         */
        if (request_current == r) {
            request_current = NULL;
            orch_rec_twin_bind(NULL);
        }
        if (commit && r->view) {
            g_mutex_lock(&request_db_lock);
            ret = request_view_commit(r);
            orch_events_flush(ret == 0);
            g_mutex_unlock(&request_db_lock);
            return ret;
        }
        g_clear_pointer(&r->view, orch_view_free);
        orch_events_flush(commit);
        return 0;
    }
    if (!sqlite3_get_autocommit(r->db) &&
        (!commit ||
         sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)) {
        ret = commit ? -EIO : 0;
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
    }
    /*
     * Still in the section, after the COMMIT: the store's writer waits for
     * no one (on SQLite it needs the write lock the section held).
     */
    if (commit && ret == 0) {
        ret = request_view_commit(r);
    } else {
        g_clear_pointer(&r->view, orch_view_free);
    }
    orch_events_flush(commit && ret == 0);
    r->db_held = false;
    request_current = NULL;
    orch_rec_twin_bind(NULL);
    g_mutex_unlock(&request_db_lock);
    return ret;
}

/* A statement mid-way through its rows would be stepped by another. */
static bool request_db_stepping(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;

    while ((st = sqlite3_next_stmt(db, st))) {
        if (sqlite3_stmt_busy(st)) {
            return true;
        }
    }
    return false;
}

int orch_request_commit_now(OrchRequest *r)
{
    bool in_txn = r->db_held && !sqlite3_get_autocommit(r->db);
    int ret;

    /* The SQL first, as at the section's end: the store may need its lock. */
    if (in_txn && sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL) !=
        SQLITE_OK) {
        return orch_fail(r, 500, "database: %s", sqlite3_errmsg(r->db));
    }
    ret = request_view_commit(r);
    if (in_txn && request_db_begin(r) < 0) {
        return -EBUSY;
    }
    return ret;
}

bool orch_request_claim_now(const char *root, const char *vm,
                            const char *dev, const char *instance,
                            GError **errp)
{
    OrchRequest *r = request_current;

    /* No store, or nothing written in it. */
    if (!r || !r->view) {
        return true;
    }
    if (orch_request_commit_now(r) < 0) {
        g_set_error(errp, ORCH_ERROR, r->status, "%s", r->error);
        return false;
    }
    orch_request_claimed(r, root, vm, dev, instance);
    return true;
}

void orch_db_pause(void)
{
    OrchRequest *r = request_current;

    if (!r || !r->db_held) {
        return;
    }
    /* Uncommitted writes stay atomic with the rest: keep the section. */
    if ((sqlite3_total_changes(r->db) != r->db_changes &&
         !r->commit_early) || request_db_stepping(r->db)) {
        return;
    }
    if (sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        orch_fail(r, 500, "database: %s", sqlite3_errmsg(r->db));
        return;
    }
    r->db_held = false;
    g_mutex_unlock(&request_db_lock);
}

bool orch_db_resume(void)
{
    OrchRequest *r = request_current;

    if (!r || r->db_held) {
        return true;
    }
    g_mutex_lock(&request_db_lock);
    r->db_held = true;
    return request_db_begin(r) == 0;
}

void orch_db_commit_early(OrchRequest *r, const char *sql, const char *key)
{
    OrchDbUndo *u = g_new0(OrchDbUndo, 1);

    u->sql = g_strdup(sql);
    u->key = g_strdup(key);
    r->db_undo = g_slist_prepend(r->db_undo, u);
    r->commit_early = true;
}

static void request_db_undo_free(gpointer p)
{
    OrchDbUndo *u = p;

    g_free(u->sql);
    g_free(u->key);
    g_free(u);
}

void orch_db_undo_clear(OrchRequest *r)
{
    g_slist_free_full(g_steal_pointer(&r->db_undo), request_db_undo_free);
}

bool orch_request_finish(OrchRequest *r, int ret)
{
    sqlite3 *db = r->db;

    if (ret == 0 && !r->error && orch_db_section_end(r, true) == 0) {
        orch_undo_clear(&r->undo);
        orch_db_undo_clear(r);
        g_slist_free_full(g_steal_pointer(&r->claims), request_claim_free);
        return true;
    }
    if (!r->error) {
        orch_fail(r, 500, "internal error (%s)", ret < 0 ?
                  g_strerror(-ret) : sqlite3_errmsg(db));
    }
    /* A conflict on the view ended the section already: a no-op then. */
    orch_db_section_end(r, false);
    orch_undo_run(&r->undo);
    orch_db_undo_run(r, db);
    /*
     * In the section's lock: no worker holds SQLite's write lock then,
     * which the store's commit on the same file would wait for.
     */
    g_mutex_lock(&request_db_lock);
    request_claims_run(r);
    g_mutex_unlock(&request_db_lock);
    return false;
}

void orch_db_undo_run(OrchRequest *r, sqlite3 *db)
{
    OrchRequest undo = { .db = db };
    GSList *l;

    if (r->db_undo && orch_db_section_begin(&undo, db) == 0) {
        for (l = r->db_undo; l; l = l->next) {
            OrchDbUndo *u = l->data;

            if (!orch_db_run(db, NULL, u->sql, "s", u->key)) {
                orch_warn("undo: %s, ignoring", sqlite3_errmsg(db));
            }
        }
        orch_db_section_end(&undo, true);
    }
    g_free(undo.error);
    orch_db_undo_clear(r);
}
