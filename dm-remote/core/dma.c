/*
 * The client's DMA windows.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dma.h"

int dm_dma_map(DmDmaTable *t, const VupDmaMap *req, int fd)
{
    DmDmaRegion r = {
        .iova = req->address,
        .size = req->size,
        .prot = req->flags,
        .fd = fd,
    };
    DmDmaRegion *grown;

    if (req->size == 0 || req->address + req->size < req->address ||
        (req->flags & ~(VUP_DMA_MAP_FLAG_READ | VUP_DMA_MAP_FLAG_WRITE))) {
        return -EINVAL;
    }
    for (unsigned i = 0; i < t->n; i++) {
        const DmDmaRegion *o = &t->regions[i];

        if (r.iova < o->iova + o->size && o->iova < r.iova + r.size) {
            return -EEXIST;
        }
    }
    if (t->n >= DM_DMA_MAX_MAPS) {
        return -ENOSPC;
    }
    if (fd >= 0) {
        struct stat st;
        int prot = 0;

        /*
         * mmap() accepts a window past the end of the file, and the first
         * access there is a SIGBUS: the window must lie inside the file.
         */
        if (fstat(fd, &st) < 0) {
            return -errno;
        }
        if (!S_ISREG(st.st_mode) || st.st_size < 0 ||
            req->offset > (uint64_t)st.st_size ||
            req->size > (uint64_t)st.st_size - req->offset) {
            return -EINVAL;
        }
        prot |= (req->flags & VUP_DMA_MAP_FLAG_READ) ? PROT_READ : 0;
        prot |= (req->flags & VUP_DMA_MAP_FLAG_WRITE) ? PROT_WRITE : 0;
        r.host = mmap(NULL, req->size, prot ? prot : PROT_NONE, MAP_SHARED,
                      fd, req->offset);
        if (r.host == MAP_FAILED) {
            return -errno;
        }
    }
    grown = realloc(t->regions, (t->n + 1) * sizeof(*grown));
    if (!grown) {
        if (r.host) {
            munmap(r.host, r.size);
        }
        return -ENOMEM;
    }
    t->regions = grown;
    t->regions[t->n++] = r;
    return 0;
}

static void release(DmDmaRegion *r)
{
    if (r->host) {
        munmap(r->host, r->size);
    }
    if (r->fd >= 0) {
        close(r->fd);
    }
}

int dm_dma_unmap(DmDmaTable *t, uint64_t iova, uint64_t size)
{
    for (unsigned i = 0; i < t->n; i++) {
        if (t->regions[i].iova == iova && t->regions[i].size == size) {
            release(&t->regions[i]);
            t->regions[i] = t->regions[--t->n];
            return 0;
        }
    }
    return -ENOENT;
}

void dm_dma_unmap_all(DmDmaTable *t)
{
    for (unsigned i = 0; i < t->n; i++) {
        release(&t->regions[i]);
    }
    free(t->regions);
    t->regions = NULL;
    t->n = 0;
}

const DmDmaRegion *dm_dma_find(const DmDmaTable *t, uint64_t addr)
{
    for (unsigned i = 0; i < t->n; i++) {
        const DmDmaRegion *r = &t->regions[i];

        if (addr >= r->iova && addr - r->iova < r->size) {
            return r;
        }
    }
    return NULL;
}

/*
 * memcpy promises bytes, not accesses: glibc's for 2 bytes (2.36,
 * x86-64, its SSE2, AVX and EVEX variants alike) loads byte 0, then
 * bytes 0-1, and keeps byte 0 from the first load.  A guest's avail
 * index going from 0x00ff to 0x0100 in between read as 0x01ff: 255
 * chains that were not there, the ring taken for broken (NEEDS_RESET,
 * guest-virtio-blk-qd32 in CI; tests/dm-remote/test-ring-race.c).
 * One access per aligned field, as a driver's vCPU makes it.
 */
#define COPY_ONE(type, dst, src) \
    __atomic_store_n((type *)(dst), \
                     __atomic_load_n((const type *)(src), __ATOMIC_RELAXED), \
                     __ATOMIC_RELAXED)

void dm_dma_copy(void *dst, const void *src, uint64_t len)
{
    uintptr_t align = (uintptr_t)dst | (uintptr_t)src;

    if (len == 2 && !(align & 1)) {
        COPY_ONE(uint16_t, dst, src);
    } else if (len == 4 && !(align & 3)) {
        COPY_ONE(uint32_t, dst, src);
    } else if (len == 8 && !(align & 7)) {
        COPY_ONE(uint64_t, dst, src);
    } else {
        memcpy(dst, src, len);
    }
}
