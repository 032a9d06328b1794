/*
 * dm-orchestrator: an optimistic transaction on the store (store.h), the
 * shape a request's database work takes when it cannot hold a lock
 * across its launcher calls (etcd has no long transactions).
 *
 * Reads go to the store and are remembered with the revision they saw;
 * writes are kept here, and later reads see them.  The commit is one
 * transaction: a compare for every key read (and, for every prefix
 * listed, "nothing under it written since"), then the writes.  If
 * anything read changed meanwhile, it is 409 and nothing is written; the
 * caller undoes what it did outside the store (its OrchUndo list) and
 * answers, or starts again.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_STORE_VIEW_H
#define ORCH_STORE_VIEW_H

#include "store.h"

typedef struct OrchStoreView OrchStoreView;

/* A view of @s (not taken: it must outlive the view). */
OrchStoreView *orch_view_new(OrchStore *s);
void orch_view_free(OrchStoreView *v);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrchStoreView, orch_view_free)

/*
 * @key's value as this view sees it (its own writes first): true with
 * *@value (a new string, NULL if absent), false if the store failed.
 */
bool orch_view_get(OrchStoreView *v, const char *key, char **value,
                   GError **errp);
/*
 * Every key under @prefix as this view sees it, in key order: OrchKv
 * whose revisions are the store's (0 for a key written here).  NULL if
 * the store failed.
 */
GPtrArray *orch_view_list(OrchStoreView *v, const char *prefix,
                          GError **errp);
/*
 * Whether this view wrote @key, with *@value what it wrote (NULL:
 * deleted; owned by the view).  Nothing is remembered: for a caller
 * that reads many keys from the store itself (orch_view_store) to
 * choose one, and conditions its commit only on the one it chose.
 */
bool orch_view_wrote(OrchStoreView *v, const char *key, const char **value);
/* The store @v reads. */
OrchStore *orch_view_store(OrchStoreView *v);
void orch_view_put(OrchStoreView *v, const char *key, const char *value);
void orch_view_delete(OrchStoreView *v, const char *key);
/*
 * Write what this view wrote if nothing it read has changed: true (with
 * the revision in *@rev if not NULL), or false with ORCH_ERROR_CONFLICT
 * and nothing written, or another code if the store failed.  Once only.
 */
bool orch_view_commit(OrchStoreView *v, gint64 *rev, GError **errp);
/*
 * Every commit of this process fenced (several orchestrators, one
 * leader: lead.h): @token() 0 commits as above, > 0 adds "@key's mod_rev
 * is @token" (the leader key unchanged since this orchestrator won it:
 * CONFLICT once another did), < 0 refuses the commit (UNAVAILABLE: it
 * does not lead).  A deposed leader's request still running so writes
 * nothing after its successor looked.  NULL @key: no fence.
 */
void orch_view_set_fence(const char *key, gint64 (*token)(void));
/* Whether @v holds a write (a put or a delete) to commit. */
bool orch_view_dirty(OrchStoreView *v);

#endif /* ORCH_STORE_VIEW_H */
