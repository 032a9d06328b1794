/*
 * Memory that outlives a crash of the process: a model's journal of
 * requests in flight (virtio's rings), so that a model killed and started
 * again completes or repeats them instead of losing them.
 *
 * With "dm-remote serve --state-file=PATH" the area is a shared mapping
 * of PATH.mem: stores reach the page cache as they are made, so a
 * SIGKILL loses none of them.  Without a state file it is plain memory.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_PERSIST_H
#define DM_PERSIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct DmPersist {
    void *mem;
    size_t size;
    bool mapped;                /* a file mapping, else calloc'd */
} DmPersist;

/*
 * Map @size bytes of @path (NULL: plain memory), keeping what an earlier
 * process left there when its size matches, zeroed otherwise.  0 or
 * -errno.
 */
int dm_persist_open(DmPersist *p, const char *path, size_t size);
void dm_persist_close(DmPersist *p);

/* The file beside @state_file (PATH.@suffix: "mem"), to be freed. */
char *dm_persist_path(const char *state_file, const char *suffix);

#endif /* DM_PERSIST_H */
