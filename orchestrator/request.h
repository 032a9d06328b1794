/*
 * dm-orchestrator: an API request as the handlers see it (request.c):
 * its replies, body fields, undo list and database section.
 *
 * A request is parsed by server.c, handed to one handler inside one
 * section with its store view (below), and answered with the handler's JSON or {"error": "..."}.
 * Only the handlers use this: the modules below them report GErrors
 * (error.h), which a handler answers with orch_fail_error().
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_REQUEST_H
#define ORCH_REQUEST_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <sqlite3.h>

#include "store-view.h"
#include "undo.h"

typedef struct OrchRequest {
    const char *method;
    char **seg;                 /* path segments after "/v1" */
    guint nseg;
    JsonObject *body;           /* NULL when the request had none */
    GHashTable *query;          /* the URI's parameters, or NULL */
    sqlite3 *db;
    guint status;               /* of the reply; 200 unless set */
    JsonNode *reply;
    char *error;                /* set by orch_fail() */
    OrchUndo undo;              /* launcher DELETEs to run on failure */
    /* The worker's database section (request.c), see server.h. */
    bool db_held;               /* this request holds the section */
    OrchStoreView *view;        /* its reads and writes on the store */
    GSList *claims;             /* placements committed early, to release */
    /* Its writes made again on a conflict (orch_request_redo). */
    bool (*redo)(struct OrchRequest *r, gpointer data, GError **errp);
    gpointer redo_data;
    GDestroyNotify redo_free;
} OrchRequest;

typedef int (*OrchHandler)(OrchRequest *r);

/*
 * Replies and body fields.  The first failure is the answer (later ones
 * are its consequences); the return value is a -errno for the handler
 * to return.
 */
int orch_fail(OrchRequest *r, guint status, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
/*
 * Fail @r with @err from a module below the handlers (error.h): its code
 * is the status (ORCH_ERROR, DM_JSON_HTTP_ERROR; 500 for another domain),
 * its message the answer's "error".  @err is not taken.
 */
int orch_fail_error(OrchRequest *r, const GError *err);
void orch_reply(OrchRequest *r, guint status, JsonNode *node);
void orch_reply_object(OrchRequest *r, guint status, JsonObject *o);
int orch_body_str(OrchRequest *r, JsonObject *o, const char *key,
                  bool required, const char **ret);
int orch_body_int(OrchRequest *r, JsonObject *o, const char *key,
                  bool required, gint64 *ret);
int orch_check_name(OrchRequest *r, const char *what, const char *name);
int orch_require_body(OrchRequest *r);

/*
 * The worker threads' requests run one at a time: a request holds the
 * section (a lock; its reads and writes are in its store view, below)
 * while it runs, except during a launcher call made with nothing written
 * in its view yet (a start's claims are committed before, by
 * orch_request_claim_now), so that a mute launcher delays only the
 * requests that wait for it.  Requests on one VM are serialised by
 * server.c.  @db is kept for the handlers' parameters; no SQL runs in
 * the section any more (docs/scale-out.md, step 3).
 */
int orch_db_section_begin(OrchRequest *r, sqlite3 *db);
/* Commit the view (@commit and no error) or drop it; let the next in. */
int orch_db_section_end(OrchRequest *r, bool commit);
/* Around a launcher call, on whichever thread: no-ops outside a section. */
void orch_db_pause(void);
/* Always true now (it could fail while the section began a transaction). */
bool orch_db_resume(void);

/*
 * The request's optimistic transaction on the store (store-view.h), the
 * shape its database section takes as the modules move onto the store
 * (docs/scale-out.md, "How the modules move").  Its reads are remembered
 * and its writes kept until the section ends: then, still inside the
 * section, the view is committed.  If anything it read changed
 * meanwhile, the request fails with 409 and nothing of the view is
 * written; its events are dropped and its undo list runs
 * (orch_request_finish), as for any failure.
 *
 * The store the views read, set once by main() before any request (NULL:
 * none, orch_request_view answers NULL).
 */
void orch_request_set_store(OrchStore *s);
/* @r's view, made at its first use; NULL if there is no store. */
OrchStoreView *orch_request_view(OrchRequest *r);
/*
 * End a worker's request whose handler returned @ret: commit its section
 * (its view) and forget its undo lists if it succeeded, else
 * fail it (500 unless it failed already), drop its view, run its undo
 * list and release the claims it committed.
 * True if it committed.
 */
bool orch_request_finish(OrchRequest *r, int ret);
/*
 * Past a launcher change that cannot be undone (a QEMU stopped or
 * paused, a migration's source quit), a conflict at the commit (another
 * writer changed what the request read meanwhile) must not answer 409
 * with the change made and unrecorded: @redo (@data, freed with @free)
 * then makes the request's writes again in a fresh view, on fresh
 * reads, and that view is committed, up to ORCH_REQUEST_REDOS times.
 * Its events and its answer are those of the first try.
 */
#define ORCH_REQUEST_REDOS 5
void orch_request_redo(OrchRequest *r,
                       bool (*redo)(OrchRequest *r, gpointer data,
                                    GError **errp),
                       gpointer data, GDestroyNotify free);

/*
 * After a handler: if one of its records' reads failed (the store
 * unreachable, records-bind.h), its answer becomes 503 with the store's
 * words, whatever it decided on what read as absent, and nothing of it
 * is committed.  Before one: orch_request_reads_begin() forgets an older
 * failure of the thread.
 */
void orch_request_reads_begin(void);
void orch_request_check_reads(OrchRequest *r);

/*
 * A start's claim on the store (docs/scale-out.md, "Concurrent starts"):
 * commit what @r wrote so far in its view, before its first
 * launcher call, so that a start served while this one waits for its
 * launcher (the section is paused then) sees the slot taken.  The
 * request goes on with a new view (orch_request_view).  0, or -EBUSY
 * with @r failed (409) and nothing of the view written if what it read
 * changed meanwhile.
 */
int orch_request_commit_now(OrchRequest *r);
/*
 * If @r fails after the commit above, release device @dev of VM @vm's
 * placement under @root (store-placements.h: the document, its
 * instance's name, its route and its slot), if it is still the one
 * named @instance, in a view of its own: the undo of that commit.  A
 * release the store refuses is logged; reconciliation frees what a start
 * cut short left.
 */
void orch_request_claimed(OrchRequest *r, const char *root, const char *vm,
                          const char *dev, const char *instance);
/*
 * Both of the above for the request whose section this thread runs,
 * after orch_rec_placement_claim (records-set.h) claimed device @dev of
 * VM @vm's slot in its view as @instance: the claim is committed now, so
 * that the store's load counts it while the launcher is called.  True if there
 * is no such request or it wrote nothing in the store; false with
 * @errp (409 if what the view read changed) and the request failed.
 */
bool orch_request_claim_now(const char *root, const char *vm,
                            const char *dev, const char *instance,
                            GError **errp);

#endif /* ORCH_REQUEST_H */
