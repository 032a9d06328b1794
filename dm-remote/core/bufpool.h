/*
 * Data buffers kept for the next request: a model that copies each
 * request's data (a disk over TCP: no guest memory to map) would
 * otherwise allocate and free a buffer a request.  glibc serves a
 * large one (128 KiB and up, at first) with a fresh mmap() and gives it
 * back with munmap(): each request then faults in and zeroes every page
 * of its data, which made 1 MiB writes over TCP 5x slower in some runs
 * than in others (docs/performance.md, "The sequential transfers' two
 * modes").  Buffers here are 4 KiB aligned (O_DIRECT takes them), sized
 * in powers of two from 4 KiB, and kept up to a total; thread safe.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_BUFPOOL_H
#define DM_BUFPOOL_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

#define DM_BUFPOOL_ALIGN        4096
/* Kept: 4 KiB to 4 MiB, one list each; larger ones are never kept. */
#define DM_BUFPOOL_CLASSES      11

typedef struct DmBufPool {
    GMutex lock;
    void *free[DM_BUFPOOL_CLASSES];     /* each buffer's first word: next */
    size_t kept;                        /* bytes on the lists */
    size_t max_kept;
    uint64_t allocated;                 /* buffers allocated, ever */
    uint64_t reused;                    /* gets served from the lists */
} DmBufPool;

/* Keep at most @max_kept bytes of free buffers. */
void dm_bufpool_init(DmBufPool *pool, size_t max_kept);

/* Free every kept buffer (none may be out). */
void dm_bufpool_destroy(DmBufPool *pool);

/*
 * A buffer of at least @len bytes (0 counts as 1), aligned to
 * DM_BUFPOOL_ALIGN, its contents undefined; its size in @ret_cap, to
 * give back with it.  NULL when out of memory.
 */
void *dm_bufpool_get(DmBufPool *pool, size_t len, size_t *ret_cap);

/*
 * Give back @buf of size @cap from dm_bufpool_get: kept if there is
 * room, else freed.  @cap 0: a buffer from malloc(), freed.  NULL: none.
 */
void dm_bufpool_put(DmBufPool *pool, void *buf, size_t cap);

#endif /* DM_BUFPOOL_H */
