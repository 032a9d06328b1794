/*
 * Mappable areas: one sealed memfd per region that has any.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mapped.h"
#include "vup/dm-ext.h"

uint64_t dm_mapped_page_size(void)
{
    long ps = sysconf(_SC_PAGESIZE);

    return ps > 0 ? (uint64_t)ps : 4096;
}

/*
 * The region's memfd and our mapping of it, made at its first area.  The
 * seals keep its size: a client that mapped it never finds its pages
 * gone (a shrunk memfd turns their accesses into SIGBUS).
 */
static int region_open(DmMappedRegion *r, unsigned region, uint64_t size)
{
    char name[32];
    void *mem;
    int fd;

    snprintf(name, sizeof(name), "dm-region%u", region);
    fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {
        return -errno;
    }
    if (ftruncate(fd, size) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
        int err = -errno;

        close(fd);
        return err;
    }
    mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mem == MAP_FAILED) {
        int err = -errno;

        close(fd);
        return err;
    }
    *r = (DmMappedRegion) { .fd = fd, .mem = mem, .size = size };
    return 0;
}

void *dm_mapped_add(DmMapped *t, unsigned region, uint64_t region_size,
                    uint64_t offset, uint64_t size, int *err)
{
    uint64_t page = dm_mapped_page_size();
    DmMappedRegion *r;
    unsigned pos;
    int ret;

    *err = -EINVAL;
    if (region >= VUP_PCI_NUM_REGIONS || !size || offset % page ||
        size % page || offset > region_size || size > region_size - offset ||
        dm_mapped_overlaps(t, region, offset, size)) {
        return NULL;
    }
    if (t->count == DM_MAX_MAPPED_AREAS) {
        *err = -ENOSPC;
        return NULL;
    }
    r = &t->regions[region];
    if (!r->mem) {
        ret = region_open(r, region, region_size);
        if (ret < 0) {
            *err = ret;
            return NULL;
        }
    }
    /* Kept in (region, offset) order: the client gets them sorted. */
    for (pos = 0; pos < t->count; pos++) {
        const DmMappedArea *a = &t->areas[pos];

        if (a->region > region || (a->region == region && a->offset > offset)) {
            break;
        }
    }
    memmove(&t->areas[pos + 1], &t->areas[pos],
            (t->count - pos) * sizeof(t->areas[0]));
    t->areas[pos] = (DmMappedArea) {
        .region = region, .offset = offset, .size = size,
    };
    t->count++;
    *err = 0;
    return r->mem + offset;
}

void dm_mapped_free(DmMapped *t)
{
    for (unsigned i = 0; i < VUP_PCI_NUM_REGIONS; i++) {
        DmMappedRegion *r = &t->regions[i];

        if (r->mem) {
            munmap(r->mem, r->size);
            close(r->fd);
        }
        *r = (DmMappedRegion) { .fd = -1 };
    }
    t->count = 0;
}

uint8_t *dm_mapped_lookup(DmMapped *t, unsigned region, uint64_t offset,
                          uint64_t len, uint64_t *n)
{
    for (unsigned i = 0; i < t->count; i++) {
        const DmMappedArea *a = &t->areas[i];

        if (a->region != region || a->offset + a->size <= offset) {
            continue;
        }
        if (a->offset <= offset) {
            *n = a->offset + a->size - offset < len ?
                 a->offset + a->size - offset : len;
            return t->regions[region].mem + offset;
        }
        /* The first area past @offset (they are sorted). */
        *n = a->offset - offset < len ? a->offset - offset : len;
        return NULL;
    }
    *n = len;
    return NULL;
}

bool dm_mapped_overlaps(DmMapped *t, unsigned region, uint64_t offset,
                        uint64_t len)
{
    for (unsigned i = 0; i < t->count; i++) {
        const DmMappedArea *a = &t->areas[i];

        if (a->region == region && offset < a->offset + a->size &&
            a->offset < offset + len) {
            return true;
        }
    }
    return false;
}

unsigned dm_mapped_areas_of(DmMapped *t, unsigned region,
                            const DmMappedArea **ret, unsigned max, int *fd)
{
    unsigned n = 0;

    for (unsigned i = 0; i < t->count; i++) {
        if (t->areas[i].region == region) {
            if (n < max) {
                ret[n] = &t->areas[i];
            }
            n++;
        }
    }
    if (fd) {
        *fd = n && region < VUP_PCI_NUM_REGIONS ? t->regions[region].fd : -1;
    }
    return n;
}

int dm_mapped_set_guest_only(DmMapped *t, unsigned region, uint64_t offset,
                             DmMappedWrittenFn *fn, void *opaque)
{
    for (unsigned i = 0; i < t->count; i++) {
        DmMappedArea *a = &t->areas[i];

        if (a->region == region && a->offset == offset) {
            a->guest_only = true;
            a->written = fn;
            a->written_opaque = opaque;
            return 0;
        }
    }
    return -EINVAL;
}

unsigned dm_mapped_guest_only_of(DmMapped *t, unsigned region,
                                 const DmMappedArea **ret, unsigned max)
{
    unsigned n = 0;

    for (unsigned i = 0; i < t->count; i++) {
        if (t->areas[i].region == region && t->areas[i].guest_only) {
            if (n < max) {
                ret[n] = &t->areas[i];
            }
            n++;
        }
    }
    return n;
}

/* The guest-only area of @region that holds all of [@off, +@size). */
static const DmMappedArea *guest_only_area(DmMapped *t, unsigned region,
                                           uint64_t off, uint64_t size)
{
    for (unsigned i = 0; i < t->count; i++) {
        const DmMappedArea *a = &t->areas[i];

        if (a->region == region && a->guest_only && off >= a->offset &&
            size <= a->size && off - a->offset <= a->size - size) {
            return a;
        }
    }
    return NULL;
}

int dm_mapped_apply_dirty(DmMapped *t, const uint8_t *payload, size_t len)
{
    VupDmDirtyPages h;
    const uint8_t *data;
    uint64_t total = 0;

    if (len < sizeof(h)) {
        return -EINVAL;
    }
    memcpy(&h, payload, sizeof(h));
    if (h.region >= VUP_PCI_NUM_REGIONS || h.reserved ||
        h.page_size != VUP_DM_DIRTY_PAGE_SIZE ||
        h.page_size % dm_mapped_page_size() ||
        h.nruns == 0 || h.nruns > VUP_DM_DIRTY_MAX_RUNS ||
        (len - sizeof(h)) / sizeof(VupDmDirtyRun) < h.nruns) {
        return -EINVAL;
    }
    /* Every run first: a bad one leaves the memory as it was. */
    for (uint32_t i = 0; i < h.nruns; i++) {
        VupDmDirtyRun r;

        memcpy(&r, payload + sizeof(h) + i * sizeof(r), sizeof(r));
        if (!r.size || r.offset % h.page_size || r.size % h.page_size ||
            !guest_only_area(t, h.region, r.offset, r.size)) {
            return -EINVAL;
        }
        total += r.size;        /* each below 2^32 pages: no overflow */
    }
    data = payload + sizeof(h) + (size_t)h.nruns * sizeof(VupDmDirtyRun);
    if (total != len - (size_t)(data - payload)) {
        return -EINVAL;
    }
    for (uint32_t i = 0; i < h.nruns; i++) {
        const DmMappedArea *a;
        VupDmDirtyRun r;

        memcpy(&r, payload + sizeof(h) + i * sizeof(r), sizeof(r));
        a = guest_only_area(t, h.region, r.offset, r.size);
        memcpy(t->regions[h.region].mem + r.offset, data, r.size);
        data += r.size;
        if (a->written) {
            a->written(a->written_opaque, h.region, r.offset, r.size);
        }
    }
    return 0;
}
