/*
 * dm-orchestrator: which store view a thread's records go through
 * (docs/scale-out.md, "The next step"): the view of the section it runs
 * (a request's, reconciliation's, a read-only view's), for the writes
 * (records-set.h) and, once orch_rec_read_store() is on, for the reads
 * (records.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_RECORDS_BIND_H
#define ORCH_RECORDS_BIND_H

#include <stdbool.h>

#include "store-view.h"

/*
 * The store and its root ("/dm/"), set once by main() before any
 * request (NULL: none; the records are the tables' alone).
 */
void orch_rec_twin_open(OrchStore *s, const char *root);
/*
 * This thread's view slot (NULL: none): a view is made in *@slot at the
 * first use, for the slot's owner to commit after its SQL COMMIT (or
 * never, for reads alone) or to free.
 */
void orch_rec_twin_bind(OrchStoreView **slot);
/*
 * Unbind this thread's slot and answer it, for orch_rec_twin_bind to put
 * back: what must read the tables themselves (store-import.c) reads
 * them so whoever calls it.
 */
OrchStoreView **orch_rec_twin_unbind(void);
/* The bound view answers records.h's reads too (set by main()). */
void orch_rec_read_store(bool on);

/*
 * A read that failed (the store unreachable) reads as absent to its
 * caller, and is noted for the thread: its request answers 503 rather
 * than act on what it did not see (orch_request_check_reads), and
 * reconciliation stops before it deletes what it found no record of.
 */
void orch_rec_read_failed(const char *why);
/* The first failure's words since the last take (NULL: none), cleared. */
char *orch_rec_read_error_take(void);
bool orch_rec_read_error_pending(void);

/* For records.c and records-set.c. */
OrchStore *orch_rec_bound_store(void);
const char *orch_rec_bound_root(void);
/* The bound slot's view, made if need be; NULL if no slot or no store. */
OrchStoreView *orch_rec_bound_view(void);
/* The same for reads: NULL also while step 2 is off. */
OrchStoreView *orch_rec_read_view(void);

#endif /* ORCH_RECORDS_BIND_H */
