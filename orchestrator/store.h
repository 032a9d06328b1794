/*
 * dm-orchestrator: the store, one interface on two back ends (SQLite in
 * store-sqlite.c, etcd in store-etcd.c).
 *
 * The design (docs/scale-out.md says it at length):
 *
 * - The model is etcd's own: keys (strings, "/dm/..." by convention)
 *   holding values (JSON documents, as text), each with the revision
 *   that created it and the revision of its last change.  The store has
 *   one revision counter; every transaction that writes bumps it once
 *   and stamps the keys it wrote with it.  SQLite implements the same
 *   with one table of (key, value, create_rev, mod_rev) and a row holding
 *   the counter, so the two back ends share one meaning, not two
 *   approximations of it.
 *
 * - Why documents under keys rather than typed functions per object on
 *   each back end: the races the orchestrator must win (placing a model,
 *   claiming a port, moving a VM, creating a name) are all "what I read
 *   is still so, then write these keys", which is exactly one
 *   compare-and-swap transaction on revisions.  Typed functions would
 *   have to be written twice (SQL and etcd) and kept equal by hand; the
 *   key layout is written once, above the store, and both back ends are
 *   tested by one suite (tests/orchestrator/test-store.c).  Queries
 *   SQLite did with joins (the least-loaded server) become a range over a
 *   prefix and a count in C: at the scale (16 servers, a
 *   thousand VMs) a few thousand small keys.
 *
 * - Names are keys: creating a VM is a transaction conditioned on its key
 *   being absent (create_rev == 0), so two orchestrators cannot create
 *   the same name.  A claim (a port on a server, a model's slot on a
 *   server) is a key of its own, created under the same condition, in
 *   the transaction that records what holds it.
 *
 * - A transaction (OrchTxn) is: compares (a key's mod_rev equals N, or
 *   the key is absent), then puts and deletes.  All compares hold and
 *   every write is applied, or a compare fails and nothing is: the call
 *   returns false with ORCH_ERROR_CONFLICT (409), which the caller
 *   answers or retries after reading again.  It is never half-applied.
 *   A failure of the store itself is ORCH_ERROR_UNAVAILABLE (503, etcd
 *   unreachable within the deadline) or ORCH_ERROR_INTERNAL (500).
 *
 * - Reads: one key (orch_store_get), or every key under a prefix in key
 *   order (orch_store_list), each with its revisions, and the store's
 *   revision at the read, so a caller can condition a write on what it
 *   read: on a key's mod_rev, or on nothing under a prefix written since
 *   (a new placement on a server counted as having room).  store-view.h
 *   does that bookkeeping for a request: reads remembered, writes kept,
 *   one conditioned commit.
 *
 * - Leases (etcd only for now: the leader key of several orchestrators,
 *   launchers' registrations) are in etcd.h; a single orchestrator on
 *   SQLite needs none.
 *
 * What is done of the move (docs/scale-out.md): dm-orchestrator opens
 * the store in its database's file, store-import.c fills it from the
 * tables at the first start, and the events live on it
 * (store-events.h).  The other modules (placement.c, vm.c, ...) still
 * run SQL on db.c; the documents they move onto are store-load.h (a
 * server's load, a placement's claim), store-platforms.h,
 * store-placements.h, store-vms.h and store-routes.h, and a request's
 * view is request.h's orch_request_view: tested, but not used by the
 * handlers yet.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_STORE_H
#define ORCH_STORE_H

#include <stdbool.h>
#include <glib.h>

#include "etcd-watch.h"

/* The root of the orchestrator's keys (docs/scale-out.md's layout). */
#define ORCH_STORE_ROOT "/dm/"

/* One key as read: its value and its two revisions. */
typedef struct OrchKv {
    char *key;
    char *value;                /* NUL-terminated; a JSON document */
    gint64 create_rev;
    gint64 mod_rev;
} OrchKv;

/* A new OrchKv: copies of @key and the @len bytes of @value. */
OrchKv *orch_kv_new(const char *key, const char *value, gsize len,
                    gint64 create_rev, gint64 mod_rev);
void orch_kv_free(OrchKv *kv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrchKv, orch_kv_free)

typedef struct OrchStore OrchStore;
typedef struct OrchTxn OrchTxn;

/*
 * Open the store named by @spec: "sqlite:PATH" (created if absent) or
 * "etcd:URL[,URL...]" (http:// or https://, tried in turn), with, for
 * etcd over TLS, @ca (a PEM file, NULL for the system's) and a client
 * certificate @cert and key @key (both NULL for none).  NULL with a
 * reason.
 */
OrchStore *orch_store_open(const char *spec, const char *ca,
                           const char *cert, const char *key,
                           GError **errp);
void orch_store_close(OrchStore *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrchStore, orch_store_close)

/* "sqlite" or "etcd". */
const char *orch_store_kind(OrchStore *s);

/*
 * The key @key: true with *@ret (NULL if absent); false with a reason
 * if the store failed.  @rev, if not NULL, gets the store's revision.
 */
bool orch_store_get(OrchStore *s, const char *key, OrchKv **ret,
                    gint64 *rev, GError **errp);
/*
 * Every key beginning with @prefix, in key order, as a GPtrArray of
 * OrchKv (freed with it); NULL with a reason.  @rev as above.
 */
GPtrArray *orch_store_list(OrchStore *s, const char *prefix, gint64 *rev,
                           GError **errp);

/*
 * Part of a prefix, for what grows without bound (the events): at most
 * @limit keys under @prefix (0: no limit), in key order, from the first
 * key not below @from (NULL: the prefix's first), or, if @last, the
 * last @limit keys under @prefix (@from is then ignored).  NULL with a
 * reason.  @rev as above.
 */
GPtrArray *orch_store_range(OrchStore *s, const char *prefix,
                            const char *from, gint64 limit, bool last,
                            gint64 *rev, GError **errp);

/* A transaction: compares, then writes, applied together or not at all. */
OrchTxn *orch_txn_new(void);
void orch_txn_free(OrchTxn *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrchTxn, orch_txn_free)
/* Holds if @key's mod_rev is @mod_rev; 0 means "@key is absent". */
void orch_txn_if_rev(OrchTxn *t, const char *key, gint64 mod_rev);
/*
 * Holds if no key under @prefix was written after revision @rev (one
 * added after it fails it too; one deleted does not: compare each key
 * read with orch_txn_if_rev for that).
 */
void orch_txn_if_prefix_since(OrchTxn *t, const char *prefix, gint64 rev);
void orch_txn_put(OrchTxn *t, const char *key, const char *value);
void orch_txn_delete(OrchTxn *t, const char *key);
/*
 * Run @t.  True if every compare held and every write was applied
 * (@rev, if not NULL, gets the revision the writes carry); false with
 * ORCH_ERROR_CONFLICT if a compare failed (nothing written), or another
 * code if the store failed.
 */
bool orch_store_txn(OrchStore *s, OrchTxn *t, gint64 *rev, GError **errp);

/*
 * Watch every key under @prefix from revision @start_rev (0: from now),
 * @func(@opaque) called on @ctx as etcd-watch.h says, from a thread of
 * its own.  On etcd only: on SQLite, NULL with no error (a local file,
 * its readers poll).  NULL with a reason if the watch cannot start.
 */
DmEtcdWatch *orch_store_watch(OrchStore *s, const char *prefix,
                              gint64 start_rev, GMainContext *ctx,
                              DmEtcdWatchFunc func, gpointer opaque,
                              GError **errp);

#endif /* ORCH_STORE_H */
