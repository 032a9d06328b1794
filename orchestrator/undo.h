/*
 * dm-orchestrator: the launcher DELETEs that undo a failed request's
 * launches (undo.c).  Running the list calls launchers: it blocks.
 *
 * A module that starts something on a launcher (an instance, a route, a
 * QEMU) adds its DELETE to the list it is given, usually the request's:
 * server.c runs that when the request fails and clears it when it
 * succeeds.  A module may also run a list of its own at once, to delete
 * something for good (a stopped VM's instances, reconciliation).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_UNDO_H
#define ORCH_UNDO_H

#include <glib.h>

typedef struct OrchUndo {
    GSList *items;              /* newest first */
} OrchUndo;

/* Ask that @address's @path be DELETEd when @u is run. */
void orch_undo_add(OrchUndo *u, const char *address, const char *path);
/* DELETE them, newest first (failures are logged), and empty @u. */
void orch_undo_run(OrchUndo *u);
/* Forget them: what they would delete stays. */
void orch_undo_clear(OrchUndo *u);

#endif /* ORCH_UNDO_H */
