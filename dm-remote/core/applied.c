/*
 * Which of its client's messages a device has applied (see applied.h).
 *
 * Runs in the event loop's thread, as the session does.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "applied.h"
#include "log.h"

/* "DMAPPLD1": a record of this layout, not zeros or another file. */
#define DM_APPLIED_MAGIC 0x31444c5050414d44ull

typedef struct DmAppliedRecord {
    uint64_t magic;
    uint64_t client;            /* whose; 0: nobody's */
    uint16_t last_id;           /* its last message kept */
    uint16_t reserved[3];
} DmAppliedRecord;

static DmAppliedRecord *record(DmApplied *a, const char *state_file)
{
    char *path = NULL;
    int ret;

    if (a->opened) {
        return a->mem.mem;
    }
    if (state_file) {
        path = dm_persist_path(state_file, "applied");
        if (!path) {
            return NULL;
        }
    }
    ret = dm_persist_open(&a->mem, path, sizeof(DmAppliedRecord));
    if (ret < 0) {
        dm_error("%s: %s", path, strerror(-ret));
        free(path);
        return NULL;
    }
    free(path);
    a->opened = true;
    return a->mem.mem;
}

int dm_applied_begin(DmApplied *a, const char *state_file, bool behind,
                     uint64_t client, uint16_t msg_id, VupDmApplied *ret)
{
    DmAppliedRecord *r = record(a, state_file);

    memset(ret, 0, sizeof(*ret));
    ret->client = client;
    if (!r) {
        return -ENOMEM;
    }
    if (r->magic == DM_APPLIED_MAGIC && r->client == client) {
        ret->flags = VUP_DM_APPLIED_F_KNOWN;
        ret->last_id = r->last_id;
        if (!behind) {
            r->last_id = msg_id;
        }
    } else {
        /*
         * Someone else's record, or none: from here on it is this
         * client's.  The id first: a kill between the two stores leaves
         * the old client's name on it, which nobody asks for.
         */
        r->magic = DM_APPLIED_MAGIC;
        r->last_id = msg_id;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        r->client = client;
    }
    a->client = client;
    a->last_seen = msg_id;
    return 0;
}

void dm_applied_note(DmApplied *a, bool behind, uint64_t client,
                     uint16_t msg_id)
{
    DmAppliedRecord *r = a->mem.mem;

    if (!client || client != a->client || !r) {
        return;
    }
    a->last_seen = msg_id;
    if (!behind) {
        r->last_id = msg_id;
    }
}

void dm_applied_kept(DmApplied *a)
{
    DmAppliedRecord *r = a->mem.mem;

    if (a->client && r && r->client == a->client) {
        r->last_id = a->last_seen;
    }
}

void dm_applied_close(DmApplied *a)
{
    if (a->opened) {
        dm_persist_close(&a->mem);
    }
    memset(a, 0, sizeof(*a));
}
