/*
 * The model's mappable regions: VFIO_REGION_INFO_FLAG_MMAP.
 *
 * On one host a model may pass, with a region's GET_REGION_INFO, a
 * memfd holding the region's memory and say which parts of it may be
 * mapped (all of it, or the areas of a sparse-mmap capability).  The
 * device maps them into its BAR (dm-proxy-pci.c) so that guest accesses
 * there are plain memory accesses: no trap into the proxy, no message.
 *
 * The model is not trusted: a mapping it could shrink under us would
 * turn a guest access into SIGBUS for the whole of QEMU, an area outside
 * the region would map the model's memory over someone else's, and a
 * descriptor that is not memory could be anything.  So every area is
 * checked (inside the region, page-aligned, not overlapping another),
 * the descriptor must be a regular file (a memfd) sealed against
 * shrinking and large enough for every area, and on any doubt the whole
 * region is refused with a warning: it stays trapped, which is correct,
 * only slower.
 *
 * Main loop, with the BQL.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "hw/remote-dm/dm-proxy.h"
#include "trace.h"

/* Capabilities we walk in one reply: more is a model playing games. */
#define DM_PROXY_MAX_REGION_CAPS 16
/* The reply we ask for: header, sparse capability, its areas, and more. */
#define DM_PROXY_REGION_INFO_ARGSZ 4096

static void G_GNUC_PRINTF(3, 4) dm_proxy_mmap_refuse(DMProxy *p,
                                                     uint32_t region,
                                                     const char *fmt, ...)
{
    g_autofree char *why = NULL;
    va_list ap;

    va_start(ap, fmt);
    why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    warn_report("dm-proxy %s: region %u: not mapping what the model "
                "offers (%s): its accesses stay trapped", p->id, region, why);
}

int dm_proxy_region_cap_areas(const VupMsg *m, const VupRegionInfo *info,
                              uint16_t id, VupSparseMmapArea *areas,
                              unsigned max, const char **why)
{
    uint32_t off = info->cap_offset;
    int found = 0;

    if (!(info->flags & VUP_REGION_INFO_FLAG_CAPS) || !off) {
        return 0;
    }
    for (unsigned i = 0; off; i++) {
        VupInfoCapHeader h;
        VupRegionInfoCapSparseMmap sp;

        /* Forward only: a chain that goes back could loop. */
        if (i == DM_PROXY_MAX_REGION_CAPS || off < sizeof(*info) ||
            off > m->payload_len || m->payload_len - off < sizeof(h)) {
            *why = "a capability outside the reply";
            return -1;
        }
        memcpy(&h, m->payload + off, sizeof(h));
        if (h.next && h.next <= off) {
            *why = "a capability chain that goes back";
            return -1;
        }
        if (h.id == id) {
            if (found || h.version != 1 ||
                m->payload_len - off < sizeof(sp)) {
                *why = "a second or malformed capability of areas";
                return -1;
            }
            memcpy(&sp, m->payload + off, sizeof(sp));
            if (sp.nr_areas == 0 || sp.nr_areas > max) {
                *why = "a capability of no areas, or too many";
                return -1;
            }
            if ((m->payload_len - off - sizeof(sp)) / sizeof(areas[0]) <
                sp.nr_areas) {
                *why = "areas past the reply";
                return -1;
            }
            memcpy(areas, m->payload + off + sizeof(sp),
                   sp.nr_areas * sizeof(areas[0]));
            found = sp.nr_areas;
        }
        off = h.next;
    }
    return found;
}

bool dm_proxy_mmap_areas_ok(const VupSparseMmapArea *areas, unsigned n,
                            uint64_t rsize, const char **why)
{
    uint64_t page = qemu_real_host_page_size();

    for (unsigned i = 0; i < n; i++) {
        const VupSparseMmapArea *a = &areas[i];

        if (!a->size || a->offset >= rsize || a->size > rsize - a->offset) {
            *why = "an area outside the region";
            return false;
        }
        if (!QEMU_IS_ALIGNED(a->offset, page) ||
            !QEMU_IS_ALIGNED(a->size, page)) {
            *why = "an area not aligned to the host's pages";
            return false;
        }
        for (unsigned j = 0; j < i; j++) {
            if (a->offset < areas[j].offset + areas[j].size &&
                areas[j].offset < a->offset + a->size) {
                *why = "areas that overlap";
                return false;
            }
        }
    }
    return true;
}

/*
 * Is @fd memory we may map for @areas (@n) from @base: a regular file
 * (a memfd) that nobody can shrink, holding every area?
 */
static bool dm_proxy_mmap_fd_ok(int fd, uint64_t base,
                                const VupSparseMmapArea *areas, unsigned n,
                                const char **why)
{
    struct stat st;
    int seals;

    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        *why = "a descriptor that is not a memory file";
        return false;
    }
    seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
        *why = "a memory file not sealed against shrinking";
        return false;
    }
    if (!QEMU_IS_ALIGNED(base, qemu_real_host_page_size())) {
        *why = "a region offset not aligned to the host's pages";
        return false;
    }
    for (unsigned i = 0; i < n; i++) {
        if (base > UINT64_MAX - areas[i].offset - areas[i].size ||
            base + areas[i].offset + areas[i].size > (uint64_t)st.st_size) {
            *why = "a memory file smaller than its areas";
            return false;
        }
    }
    return true;
}

/*
 * Ask the model for @region's mapping; with a sound one, its descriptor
 * (a dup, ours), the file offset of the region in *@base and the areas
 * in @areas (*@n); else -1, said why when the model offered one.
 */
static int dm_proxy_mmap_query(DMProxy *p, uint32_t region, uint64_t rsize,
                               VupSparseMmapArea *areas, unsigned max,
                               unsigned *n, uint64_t *base)
{
    VupRegionInfo req = { .argsz = DM_PROXY_REGION_INFO_ARGSZ,
                          .index = region };
    const char *why = NULL;
    VupRegionInfo info;
    VupMsg m;
    int ret, fd = -1;

    ret = dm_proxy_call(p, VUP_CMD_DEVICE_GET_REGION_INFO, &req,
                        sizeof(req), NULL, 0, &m);
    if (ret < 0) {
        trace_dm_proxy_mmap(p->id, region, 0, 0, ret);
        return -1;
    }
    memcpy(&info, m.payload, sizeof(info));
    if (!(info.flags & VUP_REGION_INFO_FLAG_MMAP)) {
        trace_dm_proxy_mmap(p->id, region, 0, 0, 0);
        vup_msg_clear(&m);
        return -1;              /* trapped, as the model wants */
    }
    ret = dm_proxy_region_cap_areas(&m, &info,
                                    VUP_REGION_INFO_CAP_SPARSE_MMAP, areas,
                                    max, &why);
    if (ret == 0) {
        /* No capability: the whole region. */
        areas[0] = (VupSparseMmapArea) { .offset = 0, .size = rsize };
        ret = 1;
    }
    if (ret > 0 && info.index != region) {
        why = "the answer of another region";
    } else if (ret > 0 && info.size != rsize) {
        why = "a region whose size changed";
    } else if (ret > 0 && (info.flags & (VUP_REGION_INFO_FLAG_READ |
                                        VUP_REGION_INFO_FLAG_WRITE)) !=
               (VUP_REGION_INFO_FLAG_READ | VUP_REGION_INFO_FLAG_WRITE)) {
        why = "a region that is not readable and writable";
    } else if (ret > 0 && m.nfds != 1) {
        why = m.nfds ? "more than one descriptor" : "no descriptor";
    } else if (ret > 0 && dm_proxy_mmap_areas_ok(areas, ret, rsize, &why) &&
               dm_proxy_mmap_fd_ok(m.fds[0], info.offset, areas, ret,
                                   &why)) {
        fd = fcntl(m.fds[0], F_DUPFD_CLOEXEC, 0);
        *n = ret;
        *base = info.offset;
    }
    if (fd < 0) {
        dm_proxy_mmap_refuse(p, region, "%s", why ? why : strerror(errno));
    }
    vup_msg_clear(&m);
    return fd;
}

unsigned dm_proxy_mmap_map(DMProxy *p, uint32_t region, uint64_t size,
                           DMProxyMmapArea *areas, unsigned max)
{
    VupSparseMmapArea sp[DM_PROXY_MAX_MMAP_AREAS];
    unsigned n = 0;
    uint64_t base = 0;
    int fd;

    max = MIN(max, DM_PROXY_MAX_MMAP_AREAS);
    fd = dm_proxy_mmap_query(p, region, size, sp, max, &n, &base);
    if (fd < 0) {
        return 0;
    }
    for (unsigned i = 0; i < n; i++) {
        void *ptr = mmap(NULL, sp[i].size, PROT_READ | PROT_WRITE,
                         MAP_SHARED, fd, base + sp[i].offset);

        if (ptr == MAP_FAILED) {
            dm_proxy_mmap_refuse(p, region, "mmap: %s", strerror(errno));
            dm_proxy_mmap_unmap(areas, i);
            n = 0;
            break;
        }
        areas[i] = (DMProxyMmapArea) {
            .offset = sp[i].offset, .size = sp[i].size, .ptr = ptr,
        };
        trace_dm_proxy_mmap(p->id, region, sp[i].offset, sp[i].size, 1);
    }
    close(fd);
    return n;
}

bool dm_proxy_mmap_remap(DMProxy *p, uint32_t region, uint64_t size,
                         DMProxyMmapArea *areas, unsigned n)
{
    VupSparseMmapArea sp[DM_PROXY_MAX_MMAP_AREAS];
    unsigned got = 0;
    uint64_t base = 0;
    bool ok = true;
    int fd;

    fd = dm_proxy_mmap_query(p, region, size, sp, DM_PROXY_MAX_MMAP_AREAS,
                             &got, &base);
    if (fd < 0) {
        return false;
    }
    /* The guest's memory map is made: the areas must be the same. */
    for (unsigned i = 0; i < n && ok; i++) {
        ok = got == n && sp[i].offset == areas[i].offset &&
             sp[i].size == areas[i].size;
    }
    if (!ok) {
        dm_proxy_mmap_refuse(p, region, "areas other than before");
        close(fd);
        return false;
    }
    for (unsigned i = 0; i < n; i++) {
        /* In place: the RAM device keeps its host address. */
        void *ptr = mmap(areas[i].ptr, areas[i].size, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_FIXED, fd, base + sp[i].offset);

        if (ptr == MAP_FAILED) {
            /*
             * The old mapping may be gone: put anonymous memory there,
             * never a hole, and let the caller keep the area trapped.
             */
            dm_proxy_mmap_refuse(p, region, "mmap: %s", strerror(errno));
            for (unsigned j = 0; j < n; j++) {
                mmap(areas[j].ptr, areas[j].size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
            }
            ok = false;
            break;
        }
        trace_dm_proxy_mmap(p->id, region, sp[i].offset, sp[i].size, 2);
    }
    close(fd);
    return ok;
}

void dm_proxy_mmap_unmap(DMProxyMmapArea *areas, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (areas[i].ptr) {
            munmap(areas[i].ptr, areas[i].size);
            areas[i].ptr = NULL;
        }
    }
}
