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

/* Commit @r's view, if it has one: 0, or -EBUSY with @r failed (409). */
/* @r's writes made again in a fresh view and committed (a redo). */
static bool request_redo(OrchRequest *r, GError **errp)
{
    for (int i = 0; i < ORCH_REQUEST_REDOS; i++) {
        OrchStoreView *v = NULL;
        OrchStoreView **was = orch_rec_twin_unbind();
        bool ok;

        g_clear_error(errp);
        orch_rec_twin_bind(&v);
        ok = r->redo(r, r->redo_data, errp);
        orch_rec_twin_bind(was);
        ok = ok && (!v || !orch_view_dirty(v) ||
                    orch_view_commit(v, NULL, errp));
        g_clear_pointer(&v, orch_view_free);
        if (ok) {
            orch_info("%s: written again after a conflict (try %d)",
                      r->seg && r->nseg ? r->seg[r->nseg - 1] : "request",
                      i + 1);
            return true;
        }
        if (!g_error_matches(*errp, ORCH_ERROR, ORCH_ERROR_CONFLICT)) {
            return false;
        }
    }
    return false;
}

static int request_view_commit(OrchRequest *r)
{
    g_autoptr(OrchStoreView) v = g_steal_pointer(&r->view);
    g_autoptr(GError) err = NULL;

    /* A view that only read has nothing to commit (step 2's reads). */
    if (!v || !orch_view_dirty(v) || orch_view_commit(v, NULL, &err)) {
        return 0;
    }
    if (r->redo && g_error_matches(err, ORCH_ERROR, ORCH_ERROR_CONFLICT) &&
        request_redo(r, &err)) {
        return 0;
    }
    orch_fail(r, err->domain == ORCH_ERROR ? err->code : 500,
              "the store: %s", err->message);
    return -EBUSY;
}

void orch_request_redo(OrchRequest *r,
                       bool (*redo)(OrchRequest *r, gpointer data,
                                    GError **errp),
                       gpointer data, GDestroyNotify free)
{
    if (r->redo_free) {
        r->redo_free(r->redo_data);
    }
    r->redo = redo;
    r->redo_data = data;
    r->redo_free = free;
}

static void request_redo_clear(OrchRequest *r)
{
    orch_request_redo(r, NULL, NULL, NULL);
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

/*
 * The section is the lock alone: no table of the request's is written
 * any more (docs/scale-out.md, step 3), so there is no SQL transaction
 * to hold; the view holds the request's reads and writes, committed at
 * its end while the lock is held.
 */
int orch_db_section_begin(OrchRequest *r, sqlite3 *db)
{
    g_mutex_lock(&request_db_lock);
    r->db = db;
    r->db_held = true;
    request_current = r;
    /* Its records' reads and writes go through its view (records-bind.h). */
    orch_rec_twin_bind(&r->view);
    /* Its events are written with its commit (store-events.h). */
    orch_events_defer();
    return 0;
}

int orch_db_section_end(OrchRequest *r, bool commit)
{
    int ret = 0;
    bool held = r->db_held;

    if (request_current == r) {
        request_current = NULL;
        orch_rec_twin_bind(NULL);
    }
    if (!held && commit && r->view) {
        /* Paused at its end: the commit in the section all the same. */
        g_mutex_lock(&request_db_lock);
        held = true;
    }
    if (commit) {
        ret = request_view_commit(r);
    } else {
        g_clear_pointer(&r->view, orch_view_free);
    }
    orch_events_flush(commit && ret == 0);
    if (held) {
        r->db_held = false;
        g_mutex_unlock(&request_db_lock);
    }
    return ret;
}

int orch_request_commit_now(OrchRequest *r)
{
    return request_view_commit(r);
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
    /*
     * Writes not committed yet stay atomic with the rest: keep it, unless
     * the request committed claims already (a start: its later writes,
     * the launchers' answers, stay in its view, whose commit checks what
     * it read, and a failure releases the claims).
     */
    if (r->view && orch_view_dirty(r->view) && !r->claims) {
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
    return true;
}

void orch_request_reads_begin(void)
{
    g_free(orch_rec_read_error_take());
}

void orch_request_check_reads(OrchRequest *r)
{
    g_autofree char *why = orch_rec_read_error_take();

    if (!why) {
        return;
    }
    g_free(r->error);
    r->error = g_strdup_printf("the store could not be read: %s", why);
    if (!g_utf8_validate(r->error, -1, NULL)) {
        char *valid = g_utf8_make_valid(r->error, -1);

        g_free(r->error);
        r->error = valid;
    }
    r->status = 503;
}

bool orch_request_finish(OrchRequest *r, int ret)
{
    if (ret == 0 && !r->error && orch_db_section_end(r, true) == 0) {
        orch_undo_clear(&r->undo);
        g_slist_free_full(g_steal_pointer(&r->claims), request_claim_free);
        request_redo_clear(r);
        return true;
    }
    request_redo_clear(r);
    if (!r->error) {
        orch_fail(r, 500, "internal error (%s)", ret < 0 ?
                  g_strerror(-ret) : "no cause given");
    }
    /* A conflict on the view ended the section already: a no-op then. */
    orch_db_section_end(r, false);
    orch_undo_run(&r->undo);
    /* In the section's lock, as every commit of a worker's view. */
    g_mutex_lock(&request_db_lock);
    request_claims_run(r);
    g_mutex_unlock(&request_db_lock);
    return false;
}
