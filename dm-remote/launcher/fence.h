/*
 * The launcher's fencing (docs/scale-out.md): orchestrators that lead in
 * turn send their leadership's token (the leader key's revision in etcd,
 * which only grows) as the X-DM-Fence header of their requests.  The
 * launcher keeps the highest token it has seen, in its state directory
 * so that a restart does not forget it, and refuses a request carrying
 * an older one: an old leader that was stopped past its lease and wakes
 * up cannot start a second copy of a VM.  A request without the header
 * (one orchestrator on SQLite, dmctl's callers) is not fenced.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_FENCE_H
#define DM_FENCE_H

#include <stdbool.h>
#include <glib.h>
#include <libsoup/soup.h>

#define DM_FENCE_HEADER "X-DM-Fence"

typedef struct DmFence {
    gint64 highest;             /* 0: none seen */
    char *path;                 /* STATE_DIR/fence */
} DmFence;

/* Read the highest token seen from @state_dir (none if absent). */
void dm_fence_init(DmFence *f, const char *state_dir);
void dm_fence_clear(DmFence *f);

/*
 * Check @msg's token: true to go on (no header, or a token not older
 * than the highest, which it becomes); false once @msg is answered (400
 * for a malformed token, 409 for an older one, 500 if the new highest
 * could not be saved).
 */
bool dm_fence_check(DmFence *f, SoupServerMessage *msg);

#endif /* DM_FENCE_H */
