/*
 * Which of its client's messages a device has applied (the dm_applied
 * extension, vup/dm-ext.h).  A posted write has no answer: one still in
 * the socket when the model is killed, or the link cut, is lost, and the
 * driver that wrote it waits for good.  The client keeps what no reply
 * has confirmed and asks, when it is back, where the device stands.
 *
 * The record says the last message of the client whose effects the
 * device keeps: with --state-file, in PATH.applied (a shared mapping,
 * which a SIGKILL does not lose) and only as far as the state file has
 * them: while a set-up change waits for its write (state.c's token
 * bucket), the record stays behind it, so that a model started again
 * on that file is sent the change again.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_APPLIED_H
#define DM_APPLIED_H

#include <stdbool.h>
#include <stdint.h>

#include "vup/dm-ext.h"

#include "persist.h"

typedef struct DmApplied {
    DmPersist mem;              /* a DmAppliedRecord, made at first use */
    bool opened;
    uint64_t client;            /* whose messages are counted; 0: none */
    uint16_t last_seen;         /* applied, maybe not kept yet */
} DmApplied;

/*
 * DM_APPLIED from @client, in its message @msg_id: fill @ret (the last
 * message of @client the device keeps, if it knows @client) and count
 * its messages from now on.  @state_file: the device's (NULL: the
 * record lives as long as the process); @behind: a set-up change waits
 * for its write.  0 or -errno (the record cannot be made).
 */
int dm_applied_begin(DmApplied *a, const char *state_file, bool behind,
                     uint64_t client, uint16_t msg_id, VupDmApplied *ret);

/* @client, if it is the one counted, had message @msg_id applied. */
void dm_applied_note(DmApplied *a, bool behind, uint64_t client,
                     uint16_t msg_id);

/* The state file now holds everything applied. */
void dm_applied_kept(DmApplied *a);

void dm_applied_close(DmApplied *a);

#endif /* DM_APPLIED_H */
