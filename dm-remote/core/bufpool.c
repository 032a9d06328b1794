/*
 * Data buffers kept for the next request (bufpool.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdint.h>
#include <stdlib.h>

#include "bufpool.h"

#define MIN_SHIFT 12                    /* 4 KiB, the first class */

/* The class of a buffer of @cap bytes, or -1 if none keeps it. */
static int class_of(size_t cap)
{
    for (int c = 0; c < DM_BUFPOOL_CLASSES; c++) {
        if (cap == (size_t)1 << (MIN_SHIFT + c)) {
            return c;
        }
    }
    return -1;
}

void dm_bufpool_init(DmBufPool *pool, size_t max_kept)
{
    *pool = (DmBufPool) { .max_kept = max_kept };
    g_mutex_init(&pool->lock);
}

void dm_bufpool_destroy(DmBufPool *pool)
{
    for (int c = 0; c < DM_BUFPOOL_CLASSES; c++) {
        while (pool->free[c]) {
            void *next = *(void **)pool->free[c];

            free(pool->free[c]);
            pool->free[c] = next;
        }
    }
    pool->kept = 0;
    g_mutex_clear(&pool->lock);
}

void *dm_bufpool_get(DmBufPool *pool, size_t len, size_t *ret_cap)
{
    size_t cap = (size_t)1 << MIN_SHIFT;
    void *buf = NULL;
    int c;

    if (len > (size_t)1 << (MIN_SHIFT + DM_BUFPOOL_CLASSES - 1)) {
        /* Past the classes: its own size, never kept. */
        if (len > SIZE_MAX - DM_BUFPOOL_ALIGN) {
            return NULL;
        }
        cap = (len + DM_BUFPOOL_ALIGN - 1) & ~(size_t)(DM_BUFPOOL_ALIGN - 1);
    }
    while (cap < len) {
        cap <<= 1;
    }
    c = class_of(cap);
    if (c >= 0) {
        g_mutex_lock(&pool->lock);
        buf = pool->free[c];
        if (buf) {
            pool->free[c] = *(void **)buf;
            pool->kept -= cap;
            pool->reused++;
        }
        g_mutex_unlock(&pool->lock);
    }
    if (!buf) {
        if (posix_memalign(&buf, DM_BUFPOOL_ALIGN, cap)) {
            return NULL;
        }
        g_mutex_lock(&pool->lock);
        pool->allocated++;
        g_mutex_unlock(&pool->lock);
    }
    *ret_cap = cap;
    return buf;
}

void dm_bufpool_put(DmBufPool *pool, void *buf, size_t cap)
{
    int c = class_of(cap);

    if (!buf) {
        return;
    }
    if (c >= 0) {
        g_mutex_lock(&pool->lock);
        if (pool->kept + cap <= pool->max_kept) {
            *(void **)buf = pool->free[c];
            pool->free[c] = buf;
            pool->kept += cap;
            buf = NULL;
        }
        g_mutex_unlock(&pool->lock);
    }
    free(buf);
}
