/*
 * Mappable areas of a device's regions: page-aligned ranges that are
 * plain memory, which a client on the same host may mmap instead of
 * trapping each access (a framebuffer, a shared ring).  Each region with
 * areas is backed by one memfd of the region's size (offset 0 of the fd
 * is offset 0 of the region), sealed so that nobody can shrink it under
 * a mapping; the model reads and writes it through a pointer.  Accesses
 * that come as messages (TCP, or a client that did not map) go to the
 * same memory, so the model sees one truth either way.
 *
 * This file alone owns the memfds and the model's mappings of them; the
 * session passes the fds to the client (GET_REGION_INFO).  All of it
 * runs in the event loop's thread.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_MAPPED_H
#define DM_MAPPED_H

#include <stdbool.h>
#include <stdint.h>

#include "vup/proto.h"

/* Areas per device, all regions together (a sparse-mmap capability each). */
#define DM_MAX_MAPPED_AREAS 8

/*
 * Told after a client's dirty pages landed in an area (dm_dirty_pages):
 * [@offset, +@size) of the region changed.
 */
typedef void DmMappedWrittenFn(void *opaque, unsigned region,
                               uint64_t offset, uint64_t size);

typedef struct DmMappedArea {
    unsigned region;
    uint64_t offset;            /* in the region, page-aligned */
    uint64_t size;              /* a multiple of the page size */
    /*
     * Written by the guest alone (dm_mapped_set_guest_only): a client
     * that cannot map it may keep a copy and send its dirty pages.
     */
    bool guest_only;
    DmMappedWrittenFn *written; /* may be NULL */
    void *written_opaque;
} DmMappedArea;

/* The memory behind one region's areas. */
typedef struct DmMappedRegion {
    int fd;                     /* the memfd, or -1 */
    uint8_t *mem;               /* its mapping, the region's size */
    uint64_t size;
} DmMappedRegion;

typedef struct DmMapped {
    DmMappedRegion regions[VUP_PCI_NUM_REGIONS];
    DmMappedArea areas[DM_MAX_MAPPED_AREAS];
    unsigned count;
} DmMapped;

/* The page size areas are aligned to: the host's. */
uint64_t dm_mapped_page_size(void);

/*
 * Make [@offset, +@size) of @region (@region_size bytes) mappable: the
 * area's memory (zeroed), or NULL with -errno in *@err: -EINVAL (not
 * page-aligned, empty, outside the region, overlapping another area),
 * -ENOSPC, or the memfd's failure.
 */
void *dm_mapped_add(DmMapped *t, unsigned region, uint64_t region_size,
                    uint64_t offset, uint64_t size, int *err);

/* Unmap and close everything (the device goes). */
void dm_mapped_free(DmMapped *t);

/*
 * Where an access at @offset of @region goes, for up to @len bytes: the
 * host memory of the area that holds @offset, with *@n the bytes of the
 * access inside it; or NULL when @offset is not in an area, with *@n the
 * bytes before the next area starts (the region's callbacks take those).
 */
uint8_t *dm_mapped_lookup(DmMapped *t, unsigned region, uint64_t offset,
                          uint64_t len, uint64_t *n);

/* Does [@offset, +@len) of @region touch an area? */
bool dm_mapped_overlaps(DmMapped *t, unsigned region, uint64_t offset,
                        uint64_t len);

/*
 * The areas of @region, in offset order: how many there are; the first
 * @max of them in @ret (may be NULL with @max 0).  *@fd (may be NULL):
 * the region's memfd, -1 without areas.
 */
unsigned dm_mapped_areas_of(DmMapped *t, unsigned region,
                            const DmMappedArea **ret, unsigned max, int *fd);

/*
 * The area of @region that starts at @offset is written by the guest
 * alone, never by the model: a client may keep it (dm_dirty_pages) and
 * @fn(@opaque, ...) is told of what its pages changed.  0, or -EINVAL
 * when no area starts there.
 */
int dm_mapped_set_guest_only(DmMapped *t, unsigned region, uint64_t offset,
                             DmMappedWrittenFn *fn, void *opaque);

/* Does @region have guest-only areas?  The first @max in @ret. */
unsigned dm_mapped_guest_only_of(DmMapped *t, unsigned region,
                                 const DmMappedArea **ret, unsigned max);

/*
 * A client's VUP_CMD_DM_DIRTY_PAGES (@len bytes of @payload): checked
 * whole (the region, the page size, the count, each run page-aligned
 * inside one guest-only area, the bytes exactly what the runs say),
 * then applied and each run told to its area's hook.  0, or -EINVAL
 * with nothing applied.
 */
int dm_mapped_apply_dirty(DmMapped *t, const uint8_t *payload, size_t len);

#endif /* DM_MAPPED_H */
