/*
 * The client's DMA windows (DMA_MAP / DMA_UNMAP), per session.
 *
 * A window whose fd came with DMA_MAP is mmap()ed and reached directly;
 * one without an fd is reached with DMA_READ / DMA_WRITE messages.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_DMA_H
#define DM_DMA_H

#include <stdint.h>

#include "vup/proto.h"

#define DM_DMA_MAX_MAPS 1024

typedef struct DmDmaRegion {
    uint64_t iova;
    uint64_t size;
    uint32_t prot;              /* VUP_DMA_MAP_FLAG_READ | _WRITE */
    int fd;                     /* -1: reach it with messages */
    void *host;                 /* mmap()ed window, or NULL */
} DmDmaRegion;

typedef struct DmDmaTable {
    DmDmaRegion *regions;
    unsigned n;
} DmDmaTable;

/*
 * Add a window.  On success the table owns @fd (which may be -1).
 * Errors: -EINVAL (bad size, flags or overflow, or a window that does
 * not lie inside @fd's file: offset + size above its st_size), -EEXIST
 * (overlap), -ENOSPC (too many), or fstat()'s or mmap()'s -errno.
 */
int dm_dma_map(DmDmaTable *t, const VupDmaMap *req, int fd);

/* Remove exactly the window [iova, iova + size); -ENOENT if none. */
int dm_dma_unmap(DmDmaTable *t, uint64_t iova, uint64_t size);

void dm_dma_unmap_all(DmDmaTable *t);

/* The window holding @addr, or NULL. */
const DmDmaRegion *dm_dma_find(const DmDmaTable *t, uint64_t addr);

/*
 * Copy @len bytes between guest memory mapped here and ours: an aligned
 * field of 2, 4 or 8 bytes in one access, never torn, as a guest's vCPU
 * writes it (a ring's index); other sizes as memcpy does.
 */
void dm_dma_copy(void *dst, const void *src, uint64_t len);

#endif /* DM_DMA_H */
