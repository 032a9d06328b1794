/*
 * Asynchronous work for device models: a function run on a worker
 * thread (blocking I/O: a read of a backing file, a name lookup) whose
 * completion runs back on the event loop, where the model may touch its
 * state and the device again.  The framework can drain a device's work
 * (quiesce) before a DMA unmap, a reset or a hand-over.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_WORK_H
#define DM_WORK_H

#include "loop.h"

typedef struct DmWork DmWork;
typedef struct DmWorkPool DmWorkPool;

/* Runs on a worker thread: no device, loop or model-state calls. */
typedef void DmWorkFn(DmWork *w);
/* Runs on the loop once fn has returned. */
typedef void DmWorkDone(DmWork *w);

struct DmWork {
    DmWorkFn *fn;
    DmWorkDone *done;
    void *opaque;
    DmWorkPool *pool;           /* private to work.c */
    DmWork *next;
};

/*
 * A pool of up to @threads workers whose completions run on @loop.
 * NULL with errno set on failure.
 */
DmWorkPool *dm_work_pool_new(DmLoop *loop, unsigned threads);
/* Drains first. */
void dm_work_pool_free(DmWorkPool *pool);

/* Queue @w (owned by the caller until its done has run): 0 or -errno. */
int dm_work_pool_submit(DmWorkPool *pool, DmWork *w);
/* Work submitted whose done has not run yet. */
unsigned dm_work_pool_in_flight(const DmWorkPool *pool);
/*
 * Wait until nothing is in flight, running completions (which may queue
 * more work) as they come.  Blocks the loop: used by quiesce.
 */
void dm_work_pool_drain(DmWorkPool *pool);

#endif /* DM_WORK_H */
