/*
 * dm-orchestrator: the events on the store (store.h), the first module
 * moved off SQL (docs/scale-out.md, "How the modules move").
 *
 * Each event is a document {id, time, vm, message} under
 * /dm/events/ID, ID zero-padded so that key order is the events' order
 * (the layout store-import.c writes).  An event is appended by a
 * transaction conditioned on its key being absent: two orchestrators on
 * one etcd that pick the same id lose no event, the second takes the
 * next one.
 *
 * A request's events are kept until its database section ends and
 * written only if it commits (orch_events_defer, orch_events_flush):
 * what a failed request did not do is not in the log, as when the
 * events were rows of its SQLite transaction.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_STORE_EVENTS_H
#define ORCH_STORE_EVENTS_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "store.h"

/*
 * The events go to @s (not taken; it must outlive them) from now on.
 * Once, at start-up, before any thread appends one.
 */
bool orch_events_open(OrchStore *s, GError **errp);
void orch_events_close(void);

/*
 * Append an event about @vm ("-": none), now or, while this thread
 * defers, at its flush.  A store that fails loses the event (warned).
 */
void orch_events_add(const char *vm, const char *message);

/* This thread's events wait for orch_events_flush (a transaction's). */
void orch_events_defer(void);
/* Write them if @keep, else drop them; then stop deferring. */
void orch_events_flush(bool keep);

/*
 * Events oldest first, as JSON objects {id, time, vm, message}: after
 * event @since, the first @limit; with @since < 0, the last @limit.
 * Only @vm's if not NULL.  NULL with a reason if the store failed.
 */
JsonArray *orch_events_read(gint64 since, gint64 limit, const char *vm,
                            GError **errp);
/* The newest event's id (0: none); -1 if the store failed. */
gint64 orch_events_last_id(void);

/*
 * Watch the events' keys (store.h's orch_store_watch) from the revision
 * after the store's current one: whatever is appended after this call
 * is seen, by any writer.  NULL with no error on SQLite (no watch: poll
 * orch_events_read); NULL with a reason if the store failed.
 */
DmEtcdWatch *orch_events_watch(GMainContext *ctx, DmEtcdWatchFunc func,
                               gpointer opaque, GError **errp);

#endif /* ORCH_STORE_EVENTS_H */
