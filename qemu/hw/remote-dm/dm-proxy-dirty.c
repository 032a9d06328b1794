/*
 * Dirty pages (dm_dirty_pages, docs/protocol.md): a framebuffer across
 * hosts without a message per guest write.
 *
 * Over TCP the model's mappable memory cannot be mapped, and each guest
 * write to it would be a REGION_WRITE.  For the areas the model declares
 * the guest's alone (the model never writes them: a framebuffer), we
 * keep the memory here instead: RAM over the trapped BAR, so that guest
 * reads and writes are plain memory accesses, with QEMU's dirty-memory
 * log on (DIRTY_MEMORY_VGA, as hw/display does).  A timer, dirty-fps
 * times a second, takes the pages written since the last tick and sends
 * them in DM_DIRTY_PAGES messages (runs of pages, each message bounded),
 * each waiting for its reply: one in flight, so a slow model or link
 * makes the ticks later and the runs larger, never a queue.  A tick that
 * runs out of its time, or a send that fails, leaves the rest dirty for
 * the next one: the model's copy may lag, never stay wrong.
 *
 * The RAM is registered for migration like any device RAM, so a migrated
 * guest reads its own screen back; the model has its copy anyway, and a
 * (re)connection or a standby's activation sends everything once.
 *
 * Main loop, with the BQL.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/units.h"
#include "exec/target_page.h"
#include "migration/vmstate.h"
#include "system/memory.h"
#include "hw/remote-dm/dm-proxy.h"
#include "vup/dm-ext.h"
#include "trace.h"

#define DM_PROXY_DIRTY_PAGE         VUP_DM_DIRTY_PAGE_SIZE
/* Bytes of pages per message, and runs: a message stays small. */
#define DM_PROXY_DIRTY_DATA_MAX     (1 * MiB)
#define DM_PROXY_DIRTY_RUNS_MAX     256
#define DM_PROXY_DIRTY_HDR_MAX      (sizeof(VupDmDirtyPages) + \
                                     DM_PROXY_DIRTY_RUNS_MAX * \
                                     sizeof(VupDmDirtyRun))
/* The reply we ask for: header, capabilities and their areas. */
#define DM_PROXY_DIRTY_INFO_ARGSZ   4096

/* One message being filled: its runs, and its data at d->buf + HDR_MAX. */
typedef struct DMProxyDirtyMsg {
    VupDmDirtyRun runs[DM_PROXY_DIRTY_RUNS_MAX];
    unsigned nruns;
    size_t len;                 /* data bytes */
    size_t max;                 /* data bytes a message may carry */
    uint64_t sent_end;          /* region offset: all before it has left */
} DMProxyDirtyMsg;

/*
 * Ask the model which areas of @region are the guest's: how many in
 * @areas (up to @max), 0 when none or on any doubt (warned).
 */
static unsigned dm_proxy_dirty_query(DMProxy *p, uint32_t region,
                                     uint64_t rsize, VupSparseMmapArea *areas,
                                     unsigned max)
{
    VupRegionInfo req = { .argsz = DM_PROXY_DIRTY_INFO_ARGSZ,
                          .index = region };
    const char *why = NULL;
    VupRegionInfo info;
    VupMsg m;
    int n;

    if (dm_proxy_call(p, VUP_CMD_DEVICE_GET_REGION_INFO, &req, sizeof(req),
                      NULL, 0, &m) < 0) {
        return 0;
    }
    memcpy(&info, m.payload, sizeof(info));
    n = dm_proxy_region_cap_areas(&m, &info, VUP_REGION_INFO_CAP_DM_DIRTY,
                                  areas, max, &why);
    if (n > 0 && (info.index != region || info.size != rsize)) {
        why = "the answer of another region, or another size";
        n = -1;
    }
    if (n > 0 && !dm_proxy_mmap_areas_ok(areas, n, rsize, &why)) {
        n = -1;
    }
    for (int i = 0; i < n; i++) {
        if (!QEMU_IS_ALIGNED(areas[i].offset, DM_PROXY_DIRTY_PAGE) ||
            !QEMU_IS_ALIGNED(areas[i].size, DM_PROXY_DIRTY_PAGE) ||
            !QEMU_IS_ALIGNED(areas[i].offset, qemu_target_page_size()) ||
            !QEMU_IS_ALIGNED(areas[i].size, qemu_target_page_size())) {
            why = "an area not aligned to the pages";
            n = -1;
        }
    }
    if (n < 0) {
        warn_report("dm-proxy %s: region %u: not keeping the model's "
                    "memory here (%s): its accesses stay trapped", p->id,
                    region, why);
    }
    vup_msg_clear(&m);          /* and a memfd, over UNIX with mmap=off */
    return MAX(n, 0);
}

/* Send what @msg holds (if anything): 0 or -errno. */
static int dm_proxy_dirty_flush(DMProxyDirty *d, DMProxyDirtyMsg *msg)
{
    VupDmDirtyPages h = {
        .region = d->region,
        .nruns = msg->nruns,
        .page_size = DM_PROXY_DIRTY_PAGE,
    };
    size_t hlen = sizeof(h) + msg->nruns * sizeof(VupDmDirtyRun);
    /* Header and runs right before the data: one buffer, no copy. */
    uint8_t *start = d->buf + DM_PROXY_DIRTY_HDR_MAX - hlen;
    int ret;

    if (!msg->nruns) {
        return 0;
    }
    memcpy(start, &h, sizeof(h));
    memcpy(start + sizeof(h), msg->runs, hlen - sizeof(h));
    /*
     * The round trip without the BQL, as a trapping vCPU makes its calls:
     * over a slow link the vCPUs and the rest of the main loop's users
     * must not wait for it.  Nothing of ours changes meanwhile: only the
     * main loop (this thread) starts, stops or unplugs the device.
     */
    bql_unlock();
    ret = dm_proxy_call(d->proxy, VUP_CMD_DM_DIRTY_PAGES, start,
                        hlen + msg->len, NULL, 0, NULL);
    bql_lock();
    trace_dm_proxy_dirty_send(d->proxy->id, d->region, msg->nruns, msg->len,
                              ret);
    if (ret < 0) {
        return ret;             /* the caller puts the runs back */
    }
    d->bytes += msg->len;
    msg->sent_end = msg->runs[msg->nruns - 1].offset +
                    msg->runs[msg->nruns - 1].size;
    msg->nruns = 0;
    msg->len = 0;
    return ret;
}

/*
 * Add [@off, +@len) of @a (dirty, page-aligned) to @msg, sending full
 * messages on the way: 0 or -errno (what was not sent is then lost from
 * @msg: the caller marks it dirty again).
 */
static int dm_proxy_dirty_add(DMProxyDirty *d, DMProxyDirtyMsg *msg,
                              DMProxyDirtyArea *a, uint64_t off,
                              uint64_t len)
{
    uint8_t *ram = memory_region_get_ram_ptr(&a->mr);

    while (len) {
        uint64_t n = MIN(len, msg->max - msg->len);
        int ret;

        if (!n || msg->nruns == DM_PROXY_DIRTY_RUNS_MAX) {
            ret = dm_proxy_dirty_flush(d, msg);
            if (ret < 0) {
                return ret;
            }
            continue;
        }
        memcpy(d->buf + DM_PROXY_DIRTY_HDR_MAX + msg->len, ram + off, n);
        msg->runs[msg->nruns++] = (VupDmDirtyRun) {
            .offset = a->offset + off, .size = n,
        };
        msg->len += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* The pages of @snap from @from on were not sent: dirty again. */
static void dm_proxy_dirty_put_back(DMProxyDirtyArea *a,
                                    DirtyBitmapSnapshot *snap, uint64_t from)
{
    for (uint64_t off = from; off < a->size; off += DM_PROXY_DIRTY_PAGE) {
        if (memory_region_snapshot_get_dirty(&a->mr, snap, off,
                                             DM_PROXY_DIRTY_PAGE)) {
            memory_region_set_dirty(&a->mr, off, DM_PROXY_DIRTY_PAGE);
        }
    }
}

/*
 * Send the pages dirtied since the last tick.  The bits are taken and
 * cleared first, then the pages read: a guest write meanwhile dirties
 * its page again, for the next tick.  Past @deadline, or on a failure,
 * the pages not sent yet are marked dirty again.
 */
static void dm_proxy_dirty_sync(DMProxyDirty *d, int64_t deadline)
{
    g_autofree DMProxyDirtyMsg *msg = NULL;
    int ret = 0;

    /* A model reconnected with smaller messages: wait, bits kept. */
    if (d->proxy->caps.max_data_xfer_size < DM_PROXY_DIRTY_HDR_MAX +
                                            DM_PROXY_DIRTY_PAGE) {
        return;
    }
    msg = g_new0(DMProxyDirtyMsg, 1);
    msg->max = MIN(DM_PROXY_DIRTY_DATA_MAX,
                   d->proxy->caps.max_data_xfer_size - DM_PROXY_DIRTY_HDR_MAX);
    msg->max = QEMU_ALIGN_DOWN(msg->max, DM_PROXY_DIRTY_PAGE);
    for (unsigned i = 0; i < d->n && ret == 0; i++) {
        DMProxyDirtyArea *a = &d->areas[i];
        g_autofree DirtyBitmapSnapshot *snap = NULL;
        uint64_t off = 0;

        msg->sent_end = a->offset;
        snap = memory_region_snapshot_and_clear_dirty(&a->mr, 0, a->size,
                                                      DIRTY_MEMORY_VGA);
        while (off < a->size) {
            uint64_t start;

            if (!memory_region_snapshot_get_dirty(&a->mr, snap, off,
                                                  DM_PROXY_DIRTY_PAGE)) {
                off += DM_PROXY_DIRTY_PAGE;
                continue;
            }
            start = off;
            while (off < a->size &&
                   memory_region_snapshot_get_dirty(&a->mr, snap, off,
                                                    DM_PROXY_DIRTY_PAGE)) {
                off += DM_PROXY_DIRTY_PAGE;
            }
            ret = dm_proxy_dirty_add(d, msg, a, start, off - start);
            if (ret == 0 &&
                qemu_clock_get_ns(QEMU_CLOCK_REALTIME) > deadline) {
                ret = -ETIME;   /* the rest waits for the next tick */
            }
            if (ret < 0) {
                break;
            }
        }
        if (ret == 0 || ret == -ETIME) {
            int err = dm_proxy_dirty_flush(d, msg);

            if (err < 0) {
                ret = err;
            } else if (ret == -ETIME) {
                dm_proxy_dirty_put_back(a, snap, off);
            }
        }
        if (ret < 0 && ret != -ETIME) {
            /* What did not leave, in @msg or not taken yet: dirty again. */
            dm_proxy_dirty_put_back(a, snap, msg->sent_end - a->offset);
            msg->nruns = 0;
            msg->len = 0;
        }
    }
    if (ret < 0 && ret != -ETIME && !d->warned) {
        warn_report("dm-proxy %s: region %u: sending dirty pages failed "
                    "(%s): sent again later", d->proxy->id, d->region,
                    strerror(-ret));
        d->warned = true;
    }
}

static void dm_proxy_dirty_tick(void *opaque)
{
    DMProxyDirty *d = opaque;
    int64_t period = NANOSECONDS_PER_SECOND / d->fps;
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);

    /* Disconnected or standing by: the bits wait (a resync follows). */
    if (dm_proxy_connected(d->proxy) && !d->proxy->standby &&
        !d->proxy->released && d->proxy->caps.dm_dirty_pages) {
        dm_proxy_dirty_sync(d, now + period / 2);
    }
    /* A period after this tick's end: a slow link lowers the rate. */
    timer_mod(d->timer, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) + period);
}

unsigned dm_proxy_dirty_start(DMProxyDirty *d, DMProxy *p, Object *owner,
                              MemoryRegion *container, uint32_t region,
                              uint64_t size, uint32_t fps,
                              bool (*clashes)(void *opaque, uint64_t offset,
                                              uint64_t size),
                              void *opaque)
{
    VupSparseMmapArea sp[DM_PROXY_MAX_MMAP_AREAS];
    unsigned n;

    memset(d, 0, sizeof(*d));
    if (!fps || !p->caps.dm_dirty_pages ||
        p->caps.max_data_xfer_size < DM_PROXY_DIRTY_HDR_MAX +
                                     DM_PROXY_DIRTY_PAGE) {
        return 0;               /* off, an older model, tiny messages */
    }
    n = dm_proxy_dirty_query(p, region, size, sp, DM_PROXY_MAX_MMAP_AREAS);
    for (unsigned i = 0; i < n; i++) {
        if (clashes(opaque, sp[i].offset, sp[i].size)) {
            warn_report("dm-proxy %s: region %u: the model's area at 0x%"
                        PRIx64 " covers its MSI-X table or a doorbell: its "
                        "accesses stay trapped", p->id, region,
                        sp[i].offset);
            return 0;
        }
    }
    d->proxy = p;
    d->region = region;
    d->fps = fps;
    for (unsigned i = 0; i < n; i++) {
        DMProxyDirtyArea *a = &d->areas[i];
        g_autofree char *name = g_strdup_printf("dm-proxy-region%u-dirty%u",
                                                region, i);
        Error *err = NULL;

        a->offset = sp[i].offset;
        a->size = sp[i].size;
        /* Registered for migration: the guest's screen moves with it. */
        if (!memory_region_init_ram(&a->mr, owner, name, a->size, &err)) {
            warn_reportf_err(err, "dm-proxy %s: region %u: ", p->id, region);
            break;
        }
        memory_region_set_log(&a->mr, true, DIRTY_MEMORY_VGA);
        memory_region_add_subregion_overlap(container, a->offset, &a->mr, 1);
        a->mr_on = true;
        d->n = i + 1;
        trace_dm_proxy_dirty_area(p->id, region, a->offset, a->size, fps);
    }
    if (!d->n) {
        return 0;
    }
    d->buf = g_malloc(DM_PROXY_DIRTY_HDR_MAX + DM_PROXY_DIRTY_DATA_MAX);
    d->timer = timer_new_ns(QEMU_CLOCK_REALTIME, dm_proxy_dirty_tick, d);
    dm_proxy_dirty_resync(d);
    timer_mod(d->timer, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) +
                        NANOSECONDS_PER_SECOND / fps);
    return d->n;
}

void dm_proxy_dirty_resync(DMProxyDirty *d)
{
    /* The model may be a new one, or hold an older screen: all of it. */
    for (unsigned i = 0; i < d->n; i++) {
        memory_region_set_dirty(&d->areas[i].mr, 0, d->areas[i].size);
    }
    d->warned = false;
}

void dm_proxy_dirty_stop(DMProxyDirty *d, MemoryRegion *container)
{
    if (d->timer) {
        timer_free(d->timer);
        d->timer = NULL;
    }
    for (unsigned i = 0; i < d->n; i++) {
        DMProxyDirtyArea *a = &d->areas[i];

        if (a->mr_on) {
            memory_region_set_log(&a->mr, false, DIRTY_MEMORY_VGA);
            memory_region_del_subregion(container, &a->mr);
            vmstate_unregister_ram(&a->mr, DEVICE(a->mr.owner));
            a->mr_on = false;
        }
    }
    /* The regions themselves go with the device (QOM children). */
    d->n = 0;
    g_clear_pointer(&d->buf, g_free);
}
