/*
 * dm-proxy-pci: a PCI device whose config space and BARs are served by a
 * remote device model over vfio-user.
 *
 *   -device dm-proxy-pci,server=unix:PATH[,timeout=MS]
 *
 * BAR accesses trap into dm_proxy_pci_bar_read/write, which send a
 * REGION_READ / REGION_WRITE and (for reads) wait for the reply in the
 * trapping thread; writes are posted (NO_REPLY): the server handles
 * messages in order, so a later read still sees every earlier write.
 * The standard header, the BARs and the MSI capability are emulated here,
 * as QEMU's PCI core needs them; other config bytes are the model's.
 * A model with 4096 bytes of config space and a PCI Express capability
 * makes the device a PCI Express endpoint on a PCI Express bus (q35):
 * the capability is emulated here too, the extended space is the model's.
 * On a conventional bus (i440fx) the device stays conventional.
 * INTx and MSI arrive on eventfds; guest RAM is offered to the model as
 * fds when it is shareable (memfd) and otherwise reached by the model
 * with DMA_READ / DMA_WRITE, answered here.  The model's doorbells
 * (GET_REGION_IO_FDS: a virtio queue's notify address) are rung through
 * its eventfds on one host, and sent at once over TCP; ioeventfd=off
 * leaves them posted writes like any other (dm-proxy-doorbell.c).
 * A region the model lets us map (its memory in a memfd, one host) is
 * mapped into the BAR over the trapped region, so that guest accesses
 * there are memory accesses; mmap=off keeps them trapped
 * (dm-proxy-mmap.c).  Where it cannot be mapped (TCP, mmap=off), the
 * areas the model declares the guest's are kept here in RAM and their
 * dirty pages sent dirty-fps times a second (dm-proxy-dirty.c); with
 * dirty-fps=0, or a model without the extension, they stay trapped.
 *
 * Threads: BAR callbacks run without the big QEMU lock (it is taken only
 * to lower INTx); everything else runs in the main loop with it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/bitmap.h"
#include "qemu/units.h"
#include "qemu/event_notifier.h"
#include "qemu/lockable.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/range.h"
#include "exec/cpu-common.h"
#include "hw/pci/msi.h"
#include "hw/pci/msix.h"
#include "system/kvm.h"
#include "hw/pci/pci_device.h"
#include "hw/pci/pcie.h"
#include "hw/qdev-properties.h"
#include "migration/vmstate.h"
#include "system/kvm.h"
#include "system/memory.h"
#include "system/system.h"
#include "system/tcg.h"
#include "hw/core/cpu.h"
#ifdef CONFIG_TCG
#include "exec/translation-block.h"
#endif
#include "qom/object.h"
#include "hw/remote-dm/dm-proxy.h"
#include "vup/dm-ext.h"
#include "trace.h"

#define TYPE_DM_PROXY_PCI "dm-proxy-pci"
OBJECT_DECLARE_SIMPLE_TYPE(DMProxyPCIState, DM_PROXY_PCI)

#define DM_PROXY_NUM_BARS   6
#define DM_PROXY_MSI_MAX    32
#define DM_PROXY_MSIX_MAX   64
/*
 * The largest BARs we map for a model: the whole I/O port space, 2 GiB
 * below 4 GiB (a 32-bit BAR's size must fit its 32 bits), 64 GiB above.
 */
#define DM_PROXY_BAR_IO_MAX     (64 * KiB)
#define DM_PROXY_BAR_MEM32_MAX  (2 * GiB)
#define DM_PROXY_BAR_MEM64_MAX  (64 * GiB)
QEMU_BUILD_BUG_ON(DM_PROXY_MSIX_MAX < DM_PROXY_MSI_MAX);

typedef struct DMProxyBar {
    DMProxyPCIState *s;
    int index;
    uint64_t size;
    MemoryRegion mr;
    /* The model's memory mapped over the trapped region (mmap=on). */
    DMProxyMmapArea mmap[DM_PROXY_MAX_MMAP_AREAS];
    unsigned nmmap;
    /* Or kept here, its dirty pages sent (TCP, mmap=off). */
    DMProxyDirty dirty;
} DMProxyBar;

typedef struct DMProxyMsiVector {
    DMProxyPCIState *s;
    unsigned vector;
    EventNotifier notifier;     /* the model signals it */
    int virq;                   /* KVM: its MSI route, or -1 */
    bool irqfd;                 /* KVM injects it, not the main loop */
} DMProxyMsiVector;

/* A window of guest memory offered to the model, kept for replay. */
typedef struct DMProxyDmaMap {
    uint64_t iova;
    uint64_t size;
    MemoryRegion *mr;
    uint64_t mr_offset;
    bool readonly;
} DMProxyDmaMap;

struct DMProxyPCIState {
    PCIDevice parent_obj;

    int32_t bootindex;          /* -1: none */
    char *server;
    DMProxyIds ids;
    uint32_t timeout_ms;
    uint32_t hold_ms;           /* a lost model: an access waits for it */
    uint32_t poll_us;
    char *irq_hold;             /* irq-hold-us: "auto" (NULL) or N */
    bool vq_fetch;              /* offer dm_vq_fetch (TCP's fast path) */
    bool vq_push;               /* and dm_vq_push: chains with the kick */
    bool posted_writes;
    bool ioeventfd;             /* ask the model for its doorbells */
    bool mmap;                  /* map what the model lets us map */
    uint32_t dirty_fps;         /* else keep it, send dirty pages; 0 off */

    DMProxy proxy;
    bool proxy_up;
    DMProxyBar bars[DM_PROXY_NUM_BARS];
    uint8_t msi_cap;
    uint8_t msi_cap_size;
    uint8_t exp_cap;            /* PCI Express: emulated, 0 if not */
    uint8_t exp_cap_size;

    DMProxyLine intx;

    DMProxyMsiVector msi[DM_PROXY_MSI_MAX];
    unsigned msi_wired;         /* vectors wired to the model */

    uint8_t msix_cap;
    unsigned msix_vectors;
    int msix_table_bar;
    int msix_pba_bar;
    DMProxyMsiVector msix[DM_PROXY_MSIX_MAX];
    unsigned msix_wired;
    bool irqfd;                 /* property: KVM irqfds for MSI-X */
    bool irqfd_on;              /* vector notifiers set */

    MemoryListener listener;
    bool listener_on;
    GArray *dma_maps;           /* of DMProxyDmaMap */
};

static const char *dm_id(DMProxyPCIState *s)
{
    return s->proxy.id;
}

/* ---- Interrupts (main loop) ---- */

/* Into the guest (main loop, big lock), by eventfd or by message. */
static void dm_proxy_pci_vector_inject(DMProxyMsiVector *v, bool msix)
{
    trace_dm_proxy_pci_msi(dm_id(v->s), v->vector);
    if (msix) {
        /* QEMU's MSI-X emulation honours masks and sets pending bits. */
        msix_notify(PCI_DEVICE(v->s), v->vector);
    } else {
        msi_notify(PCI_DEVICE(v->s), v->vector);
    }
}

static void dm_proxy_pci_msi_event(EventNotifier *e)
{
    DMProxyMsiVector *v = container_of(e, DMProxyMsiVector, notifier);

    if (event_notifier_test_and_clear(&v->notifier)) {
        dm_proxy_pci_vector_inject(v, false);
    }
}

static void dm_proxy_pci_msix_event(EventNotifier *e)
{
    DMProxyMsiVector *v = container_of(e, DMProxyMsiVector, notifier);

    if (event_notifier_test_and_clear(&v->notifier)) {
        dm_proxy_pci_vector_inject(v, true);
    }
}

/* Send @n eventfds of @vec to IRQ @index, in batches the server takes. */
static int dm_proxy_pci_wire_vectors(DMProxyPCIState *s, unsigned index,
                                     DMProxyMsiVector *vec, unsigned n)
{
    unsigned batch = MAX(s->proxy.caps.max_msg_fds, 1);
    int fds[DM_PROXY_MSIX_MAX];         /* >= DM_PROXY_MSI_MAX */
    int ret = 0;

    for (unsigned i = 0; i < n; i++) {
        fds[i] = event_notifier_get_fd(&vec[i].notifier);
    }
    for (unsigned i = 0; i < n && ret == 0; i += batch) {
        ret = dm_proxy_set_irqs(&s->proxy, index, i, MIN(batch, n - i),
                                fds + i);
    }
    return ret;
}

/*
 * ---- MSI-X through KVM irqfds ----
 *
 * Under KVM the eventfd a vector's model signals is handed to KVM as an
 * irqfd on the vector's MSI route, as vfio-pci does: the interrupt goes
 * from the model into the guest without QEMU.  QEMU's MSI-X emulation
 * tells us when the guest masks a vector (release): the irqfd comes off
 * and the main loop's handler takes the eventfd again, so msix_notify()
 * keeps the pending bit; unmasking (use) puts it back with the route's
 * current message.  Without KVM (TCG) the main loop's handler is the
 * path: the eventfd wakes it, msix_notify() injects.
 */
static void dm_proxy_pci_irqfd_off(DMProxyMsiVector *v)
{
    if (v->irqfd) {
        kvm_irqchip_remove_irqfd_notifier_gsi(kvm_state, &v->notifier,
                                              v->virq);
        v->irqfd = false;
        event_notifier_set_handler(&v->notifier, dm_proxy_pci_msix_event);
    }
}

static int dm_proxy_pci_msix_use(PCIDevice *pdev, unsigned int nr,
                                 MSIMessage msg)
{
    DMProxyPCIState *s = DM_PROXY_PCI(pdev);
    DMProxyMsiVector *v = &s->msix[nr];

    if (nr >= s->msix_wired) {
        return 0;               /* not handed to the model */
    }
    if (v->virq >= 0) {
        kvm_irqchip_update_msi_route(kvm_state, v->virq, msg, pdev);
        kvm_irqchip_commit_routes(kvm_state);
    } else {
        KVMRouteChange c = kvm_irqchip_begin_route_changes(kvm_state);

        v->virq = kvm_irqchip_add_msi_route(&c, nr, pdev);
        kvm_irqchip_commit_route_changes(&c);
        if (v->virq < 0) {
            return 0;           /* the main loop's path, as under TCG */
        }
    }
    if (!v->irqfd) {
        event_notifier_set_handler(&v->notifier, NULL);
        if (kvm_irqchip_add_irqfd_notifier_gsi(kvm_state, &v->notifier, NULL,
                                               v->virq) < 0) {
            event_notifier_set_handler(&v->notifier, dm_proxy_pci_msix_event);
            return 0;
        }
        v->irqfd = true;
        trace_dm_proxy_pci_irqfd(dm_id(s), nr, v->virq);
    }
    return 0;
}

static void dm_proxy_pci_msix_release(PCIDevice *pdev, unsigned int nr)
{
    DMProxyPCIState *s = DM_PROXY_PCI(pdev);

    if (nr < s->msix_wired) {
        dm_proxy_pci_irqfd_off(&s->msix[nr]);
    }
}

/* MSI-X was enabled and its vectors wired: route them through KVM. */
static void dm_proxy_pci_irqfd_start(DMProxyPCIState *s)
{
    if (s->irqfd && kvm_msi_via_irqfd_enabled() && s->msix_wired) {
        /* Calls use() for every vector the guest has unmasked. */
        msix_set_vector_notifiers(PCI_DEVICE(s), dm_proxy_pci_msix_use,
                                  dm_proxy_pci_msix_release, NULL);
        s->irqfd_on = true;
    }
}

static void dm_proxy_pci_irqfd_stop(DMProxyPCIState *s)
{
    if (s->irqfd_on) {
        msix_unset_vector_notifiers(PCI_DEVICE(s));
        s->irqfd_on = false;
    }
}

static void dm_proxy_pci_release_vectors(DMProxyMsiVector *vec,
                                         unsigned *wired)
{
    for (unsigned i = 0; i < *wired; i++) {
        dm_proxy_pci_irqfd_off(&vec[i]);
        if (vec[i].virq >= 0) {
            kvm_irqchip_release_virq(kvm_state, vec[i].virq);
            vec[i].virq = -1;
        }
        event_notifier_set_handler(&vec[i].notifier, NULL);
        event_notifier_cleanup(&vec[i].notifier);
    }
    *wired = 0;
}

/* Create @n eventfds for IRQ @index and hand them to the model. */
static void dm_proxy_pci_enable_vectors(DMProxyPCIState *s, unsigned index,
                                        DMProxyMsiVector *vec,
                                        unsigned *wired, unsigned n,
                                        EventNotifierHandler *handler)
{
    dm_proxy_pci_release_vectors(vec, wired);
    for (unsigned i = 0; i < n; i++) {
        vec[i].s = s;
        vec[i].vector = i;
        vec[i].virq = -1;
        vec[i].irqfd = false;
        if (event_notifier_init(&vec[i].notifier, 0) < 0) {
            error_report("dm-proxy %s: no eventfd for vector %u", dm_id(s),
                         i);
            break;
        }
        event_notifier_set_handler(&vec[i].notifier, handler);
        *wired = i + 1;
    }
    if (dm_proxy_pci_wire_vectors(s, index, vec, *wired) < 0) {
        error_report("dm-proxy %s: the model did not take its %s vectors",
                     dm_id(s), index == VUP_PCI_MSI_IRQ_INDEX ? "MSI"
                                                             : "MSI-X");
    }
}

static void dm_proxy_pci_disable_vectors(DMProxyPCIState *s, unsigned index,
                                         DMProxyMsiVector *vec,
                                         unsigned *wired)
{
    dm_proxy_set_irqs(&s->proxy, index, 0, 0, NULL);
    dm_proxy_pci_release_vectors(vec, wired);
}

static void dm_proxy_pci_msi_release(DMProxyPCIState *s)
{
    dm_proxy_pci_irqfd_stop(s);
    dm_proxy_pci_release_vectors(s->msi, &s->msi_wired);
    dm_proxy_pci_release_vectors(s->msix, &s->msix_wired);
}

static void dm_proxy_pci_msi_enable(DMProxyPCIState *s)
{
    dm_proxy_pci_enable_vectors(s, VUP_PCI_MSI_IRQ_INDEX, s->msi,
                                &s->msi_wired,
                                MIN(msi_nr_vectors_allocated(PCI_DEVICE(s)),
                                    DM_PROXY_MSI_MAX),
                                dm_proxy_pci_msi_event);
}

static void dm_proxy_pci_msi_disable(DMProxyPCIState *s)
{
    dm_proxy_pci_disable_vectors(s, VUP_PCI_MSI_IRQ_INDEX, s->msi,
                                 &s->msi_wired);
}

static void dm_proxy_pci_msix_enable(DMProxyPCIState *s)
{
    dm_proxy_pci_irqfd_stop(s);
    dm_proxy_pci_enable_vectors(s, VUP_PCI_MSIX_IRQ_INDEX, s->msix,
                                &s->msix_wired, s->msix_vectors,
                                dm_proxy_pci_msix_event);
    dm_proxy_pci_irqfd_start(s);
}

static void dm_proxy_pci_msix_disable(DMProxyPCIState *s)
{
    dm_proxy_pci_irqfd_stop(s);
    dm_proxy_pci_disable_vectors(s, VUP_PCI_MSIX_IRQ_INDEX, s->msix,
                                 &s->msix_wired);
}

/* ---- BARs (any thread, without the big QEMU lock) ---- */

static uint64_t dm_proxy_pci_bar_read(void *opaque, hwaddr addr,
                                      unsigned size)
{
    DMProxyBar *b = opaque;
    DMProxyPCIState *s = b->s;
    uint64_t val = dm_proxy_region_read(&s->proxy, b->index, addr, size);

    trace_dm_proxy_pci_bar_read(dm_id(s), b->index, addr, size, val);
    dm_proxy_line_eoi(&s->intx);
    return val;
}

static void dm_proxy_pci_bar_write(void *opaque, hwaddr addr, uint64_t val,
                                   unsigned size)
{
    DMProxyBar *b = opaque;
    DMProxyPCIState *s = b->s;

    trace_dm_proxy_pci_bar_write(dm_id(s), b->index, addr, size, val);
    /*
     * A posted write may still wait in the batch when the guest reads a
     * mapped area, which no message orders after it: with memory
     * mapped, writes wait for their reply (upstream's vfio-user client
     * turns posted writes off for the same reason).
     */
    dm_proxy_region_write(&s->proxy, b->index, addr, val, size,
                          s->posted_writes &&
                          !qatomic_read(&s->proxy.mapped));
    dm_proxy_line_eoi(&s->intx);
}

static const MemoryRegionOps dm_proxy_pci_bar_ops = {
    .read = dm_proxy_pci_bar_read,
    .write = dm_proxy_pci_bar_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = { .min_access_size = 1, .max_access_size = 8 },
    .impl = { .min_access_size = 1, .max_access_size = 8 },
};

/* ---- Doorbells (main loop) ---- */

/* Unregister the doorbells from the memory core and forget them. */
static void dm_proxy_pci_doorbells_off(DMProxyPCIState *s)
{
    DMProxy *p = &s->proxy;

    for (unsigned i = 0; i < p->ndoorbells; i++) {
        DMProxyDoorbell *d = &p->doorbells[i];

        if (d->registered) {
            memory_region_del_eventfd(&s->bars[d->region].mr, d->offset,
                                      d->size, d->datamatch, d->data,
                                      &d->notifier);
            d->registered = false;
        }
    }
    dm_proxy_doorbells_clear(p);
}

/*
 * Ask the model for the doorbells of each BAR (again, after a
 * reconnection: the eventfds are the session's).  Under TCG the BAR's
 * write callback rings them (dm-proxy-doorbell.c says why); under KVM
 * the memory core registers them with the kernel, so a kick makes no
 * exit at all, and posted writes then go out at once, ahead of it.
 */
static void dm_proxy_pci_doorbells_on(DMProxyPCIState *s)
{
    DMProxy *p = &s->proxy;
    bool in_kernel = false;

    dm_proxy_pci_doorbells_off(s);
    if (!s->ioeventfd) {
        return;
    }
    for (int i = 0; i < DM_PROXY_NUM_BARS; i++) {
        if (s->bars[i].size) {
            dm_proxy_doorbells_fetch(p, i, s->bars[i].size);
        }
    }
    if (!kvm_enabled()) {
        return;
    }
    for (unsigned i = 0; i < p->ndoorbells; i++) {
        DMProxyDoorbell *d = &p->doorbells[i];

        /* Size 0 (any width) as virtio-pci's: KVM has it (4.4 and up). */
        if (d->has_fd) {
            memory_region_add_eventfd(&s->bars[d->region].mr, d->offset,
                                      d->size, d->datamatch, d->data,
                                      &d->notifier);
            d->registered = in_kernel = true;
        }
    }
    WITH_QEMU_LOCK_GUARD(&p->lock) {
        p->post_now = in_kernel;
    }
}

/* ---- Mappable regions (main loop) ---- */

/*
 * Does [@off, +@size) of BAR @bar hold what must trap: the MSI-X table
 * or PBA (emulated here) or a doorbell (rung here)?
 */
static bool dm_proxy_pci_mmap_clashes(DMProxyPCIState *s, int bar,
                                      uint64_t off, uint64_t size)
{
    const uint8_t *c = PCI_DEVICE(s)->config;
    DMProxy *p = &s->proxy;

    if (s->msix_cap) {
        uint32_t table = pci_get_long(c + s->msix_cap + PCI_MSIX_TABLE);
        uint32_t pba = pci_get_long(c + s->msix_cap + PCI_MSIX_PBA);

        if ((s->msix_table_bar == bar &&
             ranges_overlap(off, size, table & ~PCI_MSIX_FLAGS_BIRMASK,
                            s->msix_vectors * PCI_MSIX_ENTRY_SIZE)) ||
            (s->msix_pba_bar == bar &&
             ranges_overlap(off, size, pba & ~PCI_MSIX_FLAGS_BIRMASK,
                            QEMU_ALIGN_UP(s->msix_vectors, 64) / 8))) {
            return true;
        }
    }
    for (unsigned i = 0; i < p->ndoorbells; i++) {
        DMProxyDoorbell *d = &p->doorbells[i];

        if (d->region == bar &&
            ranges_overlap(off, size, d->offset, d->size ? d->size : 1)) {
            return true;
        }
    }
    return false;
}

/* What query-remote-devices shows: the bytes mapped and enabled. */
static void dm_proxy_pci_mmap_count(DMProxyPCIState *s)
{
    uint64_t mapped = 0;

    for (int i = 0; i < DM_PROXY_NUM_BARS; i++) {
        for (unsigned j = 0; j < s->bars[i].nmmap; j++) {
            DMProxyMmapArea *a = &s->bars[i].mmap[j];

            mapped += a->mr_on && a->mr.enabled ? a->size : 0;
        }
    }
    qatomic_set(&s->proxy.mapped, mapped);
}

static bool dm_proxy_pci_dirty_clashes(void *opaque, uint64_t offset,
                                       uint64_t size)
{
    DMProxyBar *b = opaque;

    return dm_proxy_pci_mmap_clashes(b->s, b->index, offset, size);
}

/*
 * Map what the model lets us map of each BAR (after MSI-X and the
 * doorbells, which must stay trapped): a RAM device per area, over the
 * trapped region.  They live as long as the device; a reconnection maps
 * the new model's memory in their place (dm_proxy_pci_mmap_replay).
 * What is not mapped (TCP, mmap=off) may be kept here instead, the
 * areas the guest alone writes (dm-proxy-dirty.c).
 */
static void dm_proxy_pci_mmap_on(DMProxyPCIState *s)
{
    DMProxy *p = &s->proxy;

    for (int i = 0; i < DM_PROXY_NUM_BARS; i++) {
        DMProxyBar *b = &s->bars[i];

        if (!b->size) {
            continue;
        }
        if (!s->mmap || !p->fds_ok) {
            /* No descriptors over TCP: kept here, or trapped. */
            dm_proxy_dirty_start(&b->dirty, p, OBJECT(s), &b->mr, i,
                                 b->size, s->dirty_fps,
                                 dm_proxy_pci_dirty_clashes, b);
            continue;
        }
        b->nmmap = dm_proxy_mmap_map(p, i, b->size, b->mmap,
                                     DM_PROXY_MAX_MMAP_AREAS);
        for (unsigned j = 0; j < b->nmmap; j++) {
            if (dm_proxy_pci_mmap_clashes(s, i, b->mmap[j].offset,
                                          b->mmap[j].size)) {
                warn_report("dm-proxy %s: BAR%d: the model's mappable area "
                            "at 0x%" PRIx64 " covers its MSI-X table or a "
                            "doorbell: its accesses stay trapped",
                            dm_id(s), i, b->mmap[j].offset);
                dm_proxy_mmap_unmap(b->mmap, b->nmmap);
                b->nmmap = 0;
            }
        }
        for (unsigned j = 0; j < b->nmmap; j++) {
            DMProxyMmapArea *a = &b->mmap[j];
            g_autofree char *name = g_strdup_printf("dm-proxy-bar%d-mmap%u",
                                                    i, j);

            memory_region_init_ram_device_ptr(&a->mr, OBJECT(s), name,
                                              a->size, a->ptr);
            /* Plain memory: TCG needs no lock around it either. */
            memory_region_enable_lockless_io(&a->mr);
            memory_region_add_subregion_overlap(&b->mr, a->offset, &a->mr,
                                                1);
            a->mr_on = true;
        }
    }
    dm_proxy_pci_mmap_count(s);
}

/* The model is gone: trap its areas (accesses fail as the rest do). */
static void dm_proxy_pci_mmap_lost(DMProxyPCIState *s)
{
    for (int i = 0; i < DM_PROXY_NUM_BARS; i++) {
        for (unsigned j = 0; j < s->bars[i].nmmap; j++) {
            memory_region_set_enabled(&s->bars[i].mmap[j].mr, false);
        }
    }
    dm_proxy_pci_mmap_count(s);
}

/*
 * Connected again (or a standby activated): the model's memory in place
 * of what was mapped; a BAR whose areas the model no longer offers the
 * same way stays trapped.
 */
static void dm_proxy_pci_mmap_replay(DMProxyPCIState *s)
{
    for (int i = 0; i < DM_PROXY_NUM_BARS; i++) {
        DMProxyBar *b = &s->bars[i];
        bool ok;

        dm_proxy_dirty_resync(&b->dirty);
        if (!b->nmmap) {
            continue;
        }
        ok = dm_proxy_mmap_remap(&s->proxy, i, b->size, b->mmap, b->nmmap);
        for (unsigned j = 0; j < b->nmmap; j++) {
            memory_region_set_enabled(&b->mmap[j].mr, ok);
        }
    }
    dm_proxy_pci_mmap_count(s);
}

static void dm_proxy_pci_mmap_off(DMProxyPCIState *s)
{
    for (int i = 0; i < DM_PROXY_NUM_BARS; i++) {
        DMProxyBar *b = &s->bars[i];

        dm_proxy_dirty_stop(&b->dirty, &b->mr);
        for (unsigned j = 0; j < b->nmmap; j++) {
            if (b->mmap[j].mr_on) {
                memory_region_del_subregion(&b->mr, &b->mmap[j].mr);
                b->mmap[j].mr_on = false;
            }
        }
        /* The regions themselves go with the device (QOM children). */
        dm_proxy_mmap_unmap(b->mmap, b->nmmap);
        b->nmmap = 0;
    }
    qatomic_set(&s->proxy.mapped, 0);
}

/* ---- Config space (main loop) ---- */

static int dm_proxy_pci_config_rw(DMProxyPCIState *s, bool write,
                                  uint32_t addr, void *buf, uint32_t len)
{
    struct QEMU_PACKED {
        VupRegionAccess req;
        uint8_t data[PCI_CONFIG_SPACE_SIZE];
    } msg = {
        .req = { .offset = addr, .region = VUP_PCI_CONFIG_REGION_INDEX,
                 .count = len },
    };
    VupMsg m;
    int ret;

    assert(len <= sizeof(msg.data));
    if (write) {
        memcpy(msg.data, buf, len);
        return dm_proxy_call(&s->proxy, VUP_CMD_REGION_WRITE, &msg,
                             sizeof(msg.req) + len, NULL, 0, NULL);
    }
    ret = dm_proxy_call(&s->proxy, VUP_CMD_REGION_READ, &msg.req,
                        sizeof(msg.req), NULL, 0, &m);
    if (ret == 0) {
        if (m.payload_len == sizeof(msg.req) + len) {
            memcpy(buf, m.payload + sizeof(msg.req), len);
        } else {
            ret = -EINVAL;
        }
        vup_msg_clear(&m);
    }
    return ret;
}

/*
 * Bytes emulated here: the standard header, the MSI, MSI-X and PCI
 * Express caps.  The extended space (PCI Express) is the model's.
 */
static bool dm_proxy_pci_config_local(DMProxyPCIState *s, uint32_t addr,
                                      int len)
{
    return ranges_overlap(addr, len, 0, PCI_CONFIG_HEADER_SIZE) ||
           (s->msi_cap &&
            ranges_overlap(addr, len, s->msi_cap, s->msi_cap_size)) ||
           (s->msix_cap &&
            ranges_overlap(addr, len, s->msix_cap, PCI_CAP_MSIX_SIZEOF)) ||
           (s->exp_cap &&
            ranges_overlap(addr, len, s->exp_cap, s->exp_cap_size));
}

static uint32_t dm_proxy_pci_config_read(PCIDevice *pdev, uint32_t addr,
                                         int len)
{
    DMProxyPCIState *s = DM_PROXY_PCI(pdev);
    uint32_t val = 0;

    if (dm_proxy_pci_config_local(s, addr, len)) {
        return pci_default_read_config(pdev, addr, len);
    }
    if (dm_proxy_pci_config_rw(s, false, addr, &val, len) < 0) {
        val = MAKE_64BIT_MASK(0, len * 8);
    }
    val = le32_to_cpu(val);
    trace_dm_proxy_pci_config_read(dm_id(s), addr, len, val);
    return val;
}

static void dm_proxy_pci_config_write(PCIDevice *pdev, uint32_t addr,
                                      uint32_t val, int len)
{
    DMProxyPCIState *s = DM_PROXY_PCI(pdev);
    bool msi_was = msi_enabled(pdev);
    bool msix_was = msix_enabled(pdev);
    uint32_t le = cpu_to_le32(val);

    trace_dm_proxy_pci_config_write(dm_id(s), addr, len, val);
    pci_default_write_config(pdev, addr, val, len);
    /*
     * Every write reaches the model too, BARs included: a model may map
     * its BARs by their address (QEMU's x-vfio-user-server does).
     */
    dm_proxy_pci_config_rw(s, true, addr, &le, len);
    if (msi_enabled(pdev) && !msi_was) {
        dm_proxy_pci_msi_enable(s);
    } else if (!msi_enabled(pdev) && msi_was) {
        dm_proxy_pci_msi_disable(s);
    }
    if (msix_enabled(pdev) && !msix_was) {
        dm_proxy_pci_msix_enable(s);
    } else if (!msix_enabled(pdev) && msix_was) {
        dm_proxy_pci_msix_disable(s);
    }
}

/* ---- Guest memory for the model (main loop) ---- */

static bool dm_proxy_pci_dma_section(MemoryRegionSection *sec)
{
    return memory_region_is_ram(sec->mr) &&
           !memory_region_is_ram_device(sec->mr) &&
           int128_nz(sec->size);
}

static int dm_proxy_pci_dma_map(DMProxyPCIState *s, const DMProxyDmaMap *d)
{
    /* Over TCP no descriptor travels: the model uses DMA messages. */
    int fd = s->proxy.fds_ok ? memory_region_get_fd(d->mr) : -1;
    VupDmaMap map = {
        .argsz = sizeof(map),
        .flags = VUP_DMA_MAP_FLAG_READ |
                 (d->readonly ? 0 : VUP_DMA_MAP_FLAG_WRITE),
        .address = d->iova,
        .size = d->size,
    };

    if (fd >= 0) {
        void *host = (uint8_t *)memory_region_get_ram_ptr(d->mr) +
                     d->mr_offset;

        map.offset = qemu_ram_block_host_offset(d->mr->ram_block, host);
    }
    trace_dm_proxy_pci_dma_map(dm_id(s), d->iova, d->size, fd);
    return dm_proxy_call(&s->proxy, VUP_CMD_DMA_MAP, &map, sizeof(map),
                         fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0, NULL);
}

static void dm_proxy_pci_region_add(MemoryListener *l,
                                    MemoryRegionSection *sec)
{
    DMProxyPCIState *s = container_of(l, DMProxyPCIState, listener);
    DMProxyDmaMap d;
    int ret;

    if (!dm_proxy_pci_dma_section(sec)) {
        return;
    }
    d = (DMProxyDmaMap) {
        .iova = sec->offset_within_address_space,
        .size = int128_get64(sec->size),
        .mr = sec->mr,
        .mr_offset = sec->offset_within_region,
        .readonly = sec->readonly || memory_region_is_rom(sec->mr),
    };
    ret = dm_proxy_pci_dma_map(s, &d);
    if (ret < 0 && ret != -ENOTCONN) {
        warn_report("dm-proxy %s: the model refused DMA window 0x%" PRIx64
                    "+0x%" PRIx64 ": %s", dm_id(s), d.iova, d.size,
                    strerror(-ret));
    }
    /* Kept even if refused or disconnected: a reconnection replays it. */
    g_array_append_val(s->dma_maps, d);
}

static void dm_proxy_pci_region_del(MemoryListener *l,
                                    MemoryRegionSection *sec)
{
    DMProxyPCIState *s = container_of(l, DMProxyPCIState, listener);
    uint64_t iova = sec->offset_within_address_space;
    uint64_t size = int128_get64(sec->size);
    VupDmaUnmap unmap = { .argsz = sizeof(unmap), .address = iova,
                          .size = size };

    if (!dm_proxy_pci_dma_section(sec)) {
        return;
    }
    for (guint i = 0; i < s->dma_maps->len; i++) {
        DMProxyDmaMap *d = &g_array_index(s->dma_maps, DMProxyDmaMap, i);

        if (d->iova == iova && d->size == size) {
            g_array_remove_index_fast(s->dma_maps, i);
            break;
        }
    }
    trace_dm_proxy_pci_dma_unmap(dm_id(s), iova, size);
    dm_proxy_call(&s->proxy, VUP_CMD_DMA_UNMAP, &unmap, sizeof(unmap), NULL,
                  0, NULL);
}

/*
 * Is [addr, addr + len) guest RAM (or ROM) for the device?  A model's
 * DMA is served with p->lock held (by the call that read it, or by the
 * main loop's fd handler).  DMA that reached MMIO could land on this
 * device's own BAR, whose access takes p->lock again (a deadlock), or
 * on another device's, which needs the BQL a lockless vCPU does not
 * hold: so only RAM is served, from any thread.
 */
bool dm_proxy_pci_dma_is_ram(PCIDevice *pdev, uint64_t addr, uint64_t len,
                             bool is_write)
{
    AddressSpace *as = pci_get_address_space(pdev);

    RCU_READ_LOCK_GUARD();
    while (len > 0) {
        hwaddr xlat, l = len;
        MemoryRegion *mr = address_space_translate(as, addr, &xlat, &l,
                                                   is_write,
                                                   MEMTXATTRS_UNSPECIFIED);

        if (!l || !memory_access_is_direct(mr, is_write,
                                           MEMTXATTRS_UNSPECIFIED)) {
            return false;
        }
        addr += l;
        len -= l;
    }
    return true;
}

MemTxResult dm_proxy_pci_dma_read(PCIDevice *pdev, uint64_t addr, void *buf,
                                  uint64_t len)
{
    MemTxAttrs attrs = MEMTXATTRS_UNSPECIFIED;
    MemTxResult r;
    uint16_t w;
    uint32_t l;
    uint64_t q;

    /* An aligned field in one load (see dm-proxy.h). */
    if ((len != 2 && len != 4 && len != 8) || (addr & (len - 1))) {
        return pci_dma_read(pdev, addr, buf, len);
    }
    switch (len) {
    case 2:
        r = lduw_le_pci_dma(pdev, addr, &w, attrs);
        q = w;
        break;
    case 4:
        r = ldl_le_pci_dma(pdev, addr, &l, attrs);
        q = l;
        break;
    default:
        r = ldq_le_pci_dma(pdev, addr, &q, attrs);
        break;
    }
    stn_le_p(buf, len, q);
    return r;
}

/* DMA_READ / DMA_WRITE from the model, in the thread that read them. */
static void dm_proxy_pci_request(void *opaque, DMProxy *p, VupMsg *m)
{
    DMProxyPCIState *s = opaque;
    bool is_write = m->hdr.command == VUP_CMD_DMA_WRITE;
    VupDmaAccess a;
    MemTxResult r;

    if (m->hdr.command == VUP_CMD_DM_VQ_FETCH) {
        if (!p->caps.dm_vq_fetch) {
            dm_proxy_reply_error(p, m, EINVAL);
            return;
        }
        dm_proxy_vq_fetch(p, PCI_DEVICE(s), m);
        return;
    }
    if (m->hdr.command == VUP_CMD_DM_VQ_IRQ) {
        if (p->caps.dm_vq_fetch) {
            dm_proxy_vq_irq(p, PCI_DEVICE(s), m);
        }
        return;
    }
    if (m->hdr.command == VUP_CMD_DM_VQ_RINGS) {
        dm_proxy_vq_rings(p, m);        /* posted: nothing to answer */
        return;
    }
    if (m->hdr.command == VUP_CMD_DM_VQ_RECHECK) {
        dm_proxy_vq_recheck(p, PCI_DEVICE(s), m);       /* posted too */
        return;
    }
    memcpy(&a, m->payload, sizeof(a));
    if (a.count > p->caps.max_data_xfer_size) {
        dm_proxy_reply_error(p, m, E2BIG);
        return;
    }
    if (!dm_proxy_pci_dma_is_ram(PCI_DEVICE(s), a.address, a.count,
                                 is_write)) {
        warn_report_once("dm-proxy %s: DMA to 0x%" PRIx64 " (not RAM) "
                         "is refused", dm_id(s), (uint64_t)a.address);
        dm_proxy_reply_error(p, m, EFAULT);
        return;
    }
    if (!is_write) {
        g_autofree uint8_t *buf = g_malloc(sizeof(a) + a.count);

        trace_dm_proxy_pci_dma_rw(dm_id(s), "read", a.address, a.count);
        memcpy(buf, &a, sizeof(a));
        r = dm_proxy_pci_dma_read(PCI_DEVICE(s), a.address, buf + sizeof(a),
                                  a.count);
        if (r == MEMTX_OK) {
            dm_proxy_reply(p, m, buf, sizeof(a) + a.count);
        } else {
            dm_proxy_reply_error(p, m, EFAULT);
        }
    } else {
        VupDmaWriteReply reply = { .address = a.address, .count = a.count };

        trace_dm_proxy_pci_dma_rw(dm_id(s), "write", a.address, a.count);
        if (m->payload_len != sizeof(a) + a.count) {
            dm_proxy_reply_error(p, m, EINVAL);
            return;
        }
        r = pci_dma_write(PCI_DEVICE(s), a.address, m->payload + sizeof(a),
                          a.count);
        if (r == MEMTX_OK) {
            dm_proxy_reply(p, m, &reply, sizeof(reply));
        } else {
            dm_proxy_reply_error(p, m, EFAULT);
        }
    }
}

/* ---- Faults (main loop) ---- */

static void dm_proxy_pci_lost(void *opaque, DMProxy *p)
{
    DMProxyPCIState *s = opaque;

    dm_proxy_line_drop(&s->intx);
    /* Their eventfds were the lost session's: asked again on return. */
    dm_proxy_pci_doorbells_off(s);
    dm_proxy_pci_mmap_lost(s);
}

static bool dm_proxy_pci_replay(void *opaque, DMProxy *p, Error **errp)
{
    DMProxyPCIState *s = opaque;

    for (guint i = 0; i < s->dma_maps->len; i++) {
        dm_proxy_pci_dma_map(s, &g_array_index(s->dma_maps, DMProxyDmaMap,
                                               i));
    }
    if ((s->intx.wired && dm_proxy_line_wire(&s->intx) < 0) ||
        (s->msi_wired &&
         dm_proxy_pci_wire_vectors(s, VUP_PCI_MSI_IRQ_INDEX, s->msi,
                                   s->msi_wired) < 0) ||
        (s->msix_wired &&
         dm_proxy_pci_wire_vectors(s, VUP_PCI_MSIX_IRQ_INDEX, s->msix,
                                   s->msix_wired) < 0)) {
        error_setg(errp, "the model did not take our interrupts");
        return false;
    }
    dm_proxy_pci_doorbells_on(s);
    dm_proxy_pci_mmap_replay(s);
    /*
     * A kick the guest made while the model was going (into the lost
     * session's eventfd, or as a write that failed) is gone: ring each
     * doorbell once, so that the model looks at its rings again.  A
     * kick too many costs it a look; one too few hung a guest.
     */
    for (unsigned i = 0; i < s->proxy.ndoorbells; i++) {
        if (s->proxy.doorbells[i].has_fd) {
            event_notifier_set(&s->proxy.doorbells[i].notifier);
        }
    }
    return true;
}

/*
 * A vector's interrupt told by message (main loop, big lock): into the
 * guest at once, as its eventfd's handler would do, rather than through
 * the eventfd (a write, a round of the main loop and a read per
 * interrupt).  Under KVM an irqfd holds the eventfd: signal it, KVM
 * injects.
 */
static void dm_proxy_pci_vector_fire(DMProxyMsiVector *v, bool msix)
{
    if (v->irqfd) {
        event_notifier_set(&v->notifier);
        return;
    }
    dm_proxy_pci_vector_inject(v, msix);
}

/* An interrupt told by message. */
static void dm_proxy_pci_irq(void *opaque, unsigned index, unsigned sub)
{
    DMProxyPCIState *s = opaque;

    if (index == VUP_PCI_INTX_IRQ_INDEX) {
        dm_proxy_line_fire(&s->intx);
    } else if (index == VUP_PCI_MSI_IRQ_INDEX && sub < s->msi_wired) {
        dm_proxy_pci_vector_fire(&s->msi[sub], false);
    } else if (index == VUP_PCI_MSIX_IRQ_INDEX && sub < s->msix_wired) {
        dm_proxy_pci_vector_fire(&s->msix[sub], true);
    }
}

/* The model may have written any window it holds by descriptor. */
static void dm_proxy_pci_stopped(void *opaque, DMProxy *p)
{
    DMProxyPCIState *s = opaque;

    if (!p->fds_ok) {
        return;                 /* by messages only: logged as they came */
    }
    for (guint i = 0; i < s->dma_maps->len; i++) {
        DMProxyDmaMap *d = &g_array_index(s->dma_maps, DMProxyDmaMap, i);

        if (!d->readonly && memory_region_get_fd(d->mr) >= 0) {
            memory_region_set_dirty(d->mr, d->mr_offset, d->size);
        }
    }
}

static bool dm_proxy_pci_vq_push(void *opaque, DMProxy *p,
                                 DMProxyDoorbell *d, GByteArray *out)
{
    return dm_proxy_vq_push(p, PCI_DEVICE(opaque), d, out);
}

static const DMProxyOps dm_proxy_pci_ops = {
    .request = dm_proxy_pci_request,
    .vq_fetch = true,
    .vq_push = dm_proxy_pci_vq_push,
    .dirty_pages = true,
    .replay = dm_proxy_pci_replay,
    .lost = dm_proxy_pci_lost,
    .irq = dm_proxy_pci_irq,
    .stopped = dm_proxy_pci_stopped,
};

/* vq-push=off: ring fetches, kicks without chains. */
static const DMProxyOps dm_proxy_pci_no_push_ops = {
    .request = dm_proxy_pci_request,
    .vq_fetch = true,
    .dirty_pages = true,
    .replay = dm_proxy_pci_replay,
    .lost = dm_proxy_pci_lost,
    .irq = dm_proxy_pci_irq,
    .stopped = dm_proxy_pci_stopped,
};

/* vq-fetch=off: plain DMA messages, as upstream clients send them. */
static const DMProxyOps dm_proxy_pci_plain_dma_ops = {
    .request = dm_proxy_pci_request,
    .dirty_pages = true,
    .replay = dm_proxy_pci_replay,
    .lost = dm_proxy_pci_lost,
    .irq = dm_proxy_pci_irq,
    .stopped = dm_proxy_pci_stopped,
};

/* ---- Realize ---- */

static bool dm_proxy_pci_query(DMProxyPCIState *s, uint16_t cmd,
                               void *info, size_t len, Error **errp)
{
    VupMsg m;
    int ret = dm_proxy_call(&s->proxy, cmd, info, len, NULL, 0, &m);

    if (ret < 0) {
        error_setg(errp, "%s failed: %s", vup_command_name(cmd),
                   strerror(-ret));
        return false;
    }
    memcpy(info, m.payload, len);       /* checked: min_reply == len */
    vup_msg_clear(&m);
    return true;
}

/*
 * Walk the model's capability list once and check it: every pointer lies
 * past the standard header and inside the 256 bytes, and no capability
 * is visited twice (a loop).  Then find @id there; 0 if absent.
 */
static bool dm_proxy_pci_check_caps(const uint8_t *config, Error **errp)
{
    DECLARE_BITMAP(seen, PCI_CONFIG_SPACE_SIZE / 4) = { 0 };
    uint8_t pos = config[PCI_CAPABILITY_LIST] & ~3;

    while (pos) {
        if (pos < PCI_CONFIG_HEADER_SIZE) {
            error_setg(errp, "the model's capability list points into the "
                       "standard header (0x%x)", pos);
            return false;
        }
        if (test_and_set_bit(pos / 4, seen)) {
            error_setg(errp, "the model's capability list loops (at 0x%x)",
                       pos);
            return false;
        }
        /* pos <= 0xfc: the id and next bytes are inside config[]. */
        pos = config[pos + PCI_CAP_LIST_NEXT] & ~3;
    }
    return true;
}

static uint8_t dm_proxy_pci_find_cap(const uint8_t *config, uint8_t id)
{
    uint8_t pos = config[PCI_CAPABILITY_LIST] & ~3;

    /* The list was checked: it ends, and inside the config space. */
    while (pos) {
        if (config[pos] == id) {
            return pos;
        }
        pos = config[pos + PCI_CAP_LIST_NEXT] & ~3;
    }
    return 0;
}

/*
 * msi_init()/msix_init() link their capabilities into QEMU's own list;
 * the guest must see the model's list (its other capabilities, such as
 * virtio's vendor ones, are read from the model): the head and the next
 * pointers of the emulated capabilities are the model's.  The list was
 * checked (dm_proxy_pci_check_caps).
 */
static void dm_proxy_pci_mirror_cap_list(DMProxyPCIState *s,
                                         const uint8_t *config)
{
    uint8_t *c = PCI_DEVICE(s)->config;

    if (!(config[PCI_STATUS] & PCI_STATUS_CAP_LIST)) {
        return;
    }
    c[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
    c[PCI_CAPABILITY_LIST] = config[PCI_CAPABILITY_LIST] & ~3;
    if (s->msi_cap) {
        c[s->msi_cap + PCI_CAP_LIST_NEXT] =
            config[s->msi_cap + PCI_CAP_LIST_NEXT] & ~3;
    }
    if (s->msix_cap) {
        c[s->msix_cap + PCI_CAP_LIST_NEXT] =
            config[s->msix_cap + PCI_CAP_LIST_NEXT] & ~3;
    }
    if (s->exp_cap) {
        c[s->exp_cap + PCI_CAP_LIST_NEXT] =
            config[s->exp_cap + PCI_CAP_LIST_NEXT] & ~3;
    }
}

/* A capability of @size bytes at @pos must end inside the 256 bytes. */
static bool dm_proxy_pci_cap_fits(uint8_t pos, unsigned size,
                                  const char *name, Error **errp)
{
    if (pos + size > PCI_CONFIG_SPACE_SIZE) {
        error_setg(errp, "the model's %s capability at 0x%x (%u bytes) "
                   "ends past the config space", name, pos, size);
        return false;
    }
    return true;
}

/* ---- PCI Express (realize) ---- */

/*
 * Walk the model's extended capability list (from 0x100) once and check
 * it, as dm_proxy_pci_check_caps does the conventional one: a header
 * lies in 0x100..0xffc (a pointer's low two bits are masked, as the
 * guest masks them: dword aligned), no header is visited twice (a loop;
 * this also bounds the walk to 960 headers).  The caps' bodies are read
 * from the model like any other config bytes: no size to check.
 */
static bool dm_proxy_pci_check_ext_caps(const uint8_t *config, Error **errp)
{
    DECLARE_BITMAP(seen, PCIE_CONFIG_SPACE_SIZE / 4) = { 0 };
    uint16_t pos = PCI_CONFIG_SPACE_SIZE;

    if (!pci_get_long((uint8_t *)config + pos)) {
        return true;                    /* an empty list */
    }
    while (pos) {
        if (pos < PCI_CONFIG_SPACE_SIZE) {
            error_setg(errp, "the model's extended capability list points "
                       "into the conventional config space (0x%x)", pos);
            return false;
        }
        if (test_and_set_bit(pos / 4, seen)) {
            error_setg(errp, "the model's extended capability list loops "
                       "(at 0x%x)", pos);
            return false;
        }
        /* pos <= 0xffc: the header is inside config[]. */
        pos = PCI_EXT_CAP_NEXT(pci_get_long((uint8_t *)config + pos));
    }
    return true;
}

/*
 * QEMU's own walks of the extended list (pcie_find_capability: the PCI
 * core looks for ARI right after realize; migration compares headers)
 * see the model's checked list: its headers are copied here, read-only.
 * The guest's reads of the extended space still go to the model.
 */
static void dm_proxy_pci_mirror_ext_caps(PCIDevice *pdev,
                                         const uint8_t *config)
{
    uint16_t pos = PCI_CONFIG_SPACE_SIZE;

    do {
        uint32_t header = pci_get_long((uint8_t *)config + pos);
        uint16_t next = PCI_EXT_CAP_NEXT(header);

        /* Id and version as the model's, the next pointer as walked. */
        pci_set_long(pdev->config + pos,
                     (header & 0x000fffff) |
                     (uint32_t)next << PCI_EXT_CAP_NEXT_SHIFT);
        pci_set_long(pdev->wmask + pos, 0);
        pci_set_long(pdev->w1cmask + pos, 0);
        pci_set_long(pdev->cmask + pos, 0xffffffff);
        pos = next;
    } while (pos);
}

/*
 * Decide what the device is.  A PCI Express endpoint when the model has
 * 4096 bytes of config space and a PCI Express capability (an
 * endpoint's, version 1 or 2) and the bus is PCI Express: then read and
 * check the extended space.  Otherwise conventional, even for a PCI
 * Express model on a conventional bus, whose capability the guest then
 * reads from the model as it is (as vfio-pci does).
 */
static bool dm_proxy_pci_setup_express(DMProxyPCIState *s, uint64_t cfg_size,
                                       uint8_t *config, Error **errp)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    uint8_t cap = dm_proxy_pci_find_cap(config, PCI_CAP_ID_EXP);
    uint16_t flags;
    unsigned version, type;

    if (!cap || cfg_size < PCIE_CONFIG_SPACE_SIZE ||
        !pci_bus_is_express(pci_get_bus(pdev))) {
        /* From now on pci_is_express() is false, the config 256 bytes. */
        pdev->cap_present &= ~QEMU_PCI_CAP_EXPRESS;
        return true;
    }
    if (!dm_proxy_pci_cap_fits(cap, PCI_EXP_FLAGS + 2, "PCI Express",
                               errp)) {
        return false;
    }
    flags = pci_get_word(config + cap + PCI_EXP_FLAGS);
    version = flags & PCI_EXP_FLAGS_VERS;
    type = (flags & PCI_EXP_FLAGS_TYPE) >> PCI_EXP_FLAGS_TYPE_SHIFT;
    if ((version != 1 && version != 2) ||
        (type != PCI_EXP_TYPE_ENDPOINT && type != PCI_EXP_TYPE_LEG_END &&
         type != PCI_EXP_TYPE_RC_END)) {
        error_setg(errp, "the model's PCI Express capability (version %u, "
                   "type %u) is not an endpoint's of version 1 or 2",
                   version, type);
        return false;
    }
    s->exp_cap_size = version == 1 ? PCI_EXP_VER1_SIZEOF
                                   : PCI_EXP_VER2_SIZEOF;
    if (!dm_proxy_pci_cap_fits(cap, s->exp_cap_size, "PCI Express", errp)) {
        return false;
    }
    /* The extended space, 256 bytes a call as the conventional one. */
    for (unsigned off = PCI_CONFIG_SPACE_SIZE; off < PCIE_CONFIG_SPACE_SIZE;
         off += PCI_CONFIG_SPACE_SIZE) {
        if (dm_proxy_pci_config_rw(s, false, off, config + off,
                                   PCI_CONFIG_SPACE_SIZE) < 0) {
            error_setg(errp, "cannot read the model's extended config "
                       "space");
            return false;
        }
    }
    if (!dm_proxy_pci_check_ext_caps(config, errp)) {
        return false;
    }
    s->exp_cap = cap;
    return true;
}

/* After MSI and MSI-X: the PCI Express capability where the model has it. */
static bool dm_proxy_pci_init_express(DMProxyPCIState *s,
                                      const uint8_t *config, Error **errp)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    uint8_t cap = s->exp_cap;
    int ret;

    if (!cap) {
        return true;
    }
    /* An endpoint, or a root complex integrated one on q35's pcie.0. */
    ret = s->exp_cap_size == PCI_EXP_VER1_SIZEOF ?
          pcie_endpoint_cap_v1_init(pdev, cap) :
          pcie_endpoint_cap_init(pdev, cap);
    if (ret < 0) {
        s->exp_cap = 0;
        error_setg(errp, "the model's PCI Express capability at 0x%x "
                   "overlaps another one", cap);
        return false;
    }
    dm_proxy_pci_mirror_ext_caps(pdev, config);
    return true;
}

static bool dm_proxy_pci_setup_bars(DMProxyPCIState *s,
                                    const uint8_t *config, Error **errp)
{
    for (int i = 0; i < DM_PROXY_NUM_BARS; i++) {
        DMProxyBar *b = &s->bars[i];
        VupRegionInfo ri = { .argsz = sizeof(ri), .index = i };
        uint32_t reg = pci_get_long((uint8_t *)config + PCI_BASE_ADDRESS_0 +
                                    4 * i);
        uint8_t type;
        uint64_t max;
        g_autofree char *name = NULL;

        if (!dm_proxy_pci_query(s, VUP_CMD_DEVICE_GET_REGION_INFO, &ri,
                                sizeof(ri), errp)) {
            return false;
        }
        if (!ri.size) {
            continue;
        }
        if (reg & PCI_BASE_ADDRESS_SPACE_IO) {
            type = PCI_BASE_ADDRESS_SPACE_IO;
            max = DM_PROXY_BAR_IO_MAX;
        } else {
            type = reg & (PCI_BASE_ADDRESS_MEM_TYPE_64 |
                          PCI_BASE_ADDRESS_MEM_PREFETCH);
            max = type & PCI_BASE_ADDRESS_MEM_TYPE_64 ?
                  DM_PROXY_BAR_MEM64_MAX : DM_PROXY_BAR_MEM32_MAX;
            if ((type & PCI_BASE_ADDRESS_MEM_TYPE_64) &&
                i == DM_PROXY_NUM_BARS - 1) {
                error_setg(errp, "the model's BAR%d is 64-bit but has no "
                           "upper half", i);
                return false;
            }
        }
        if (!is_power_of_2(ri.size) || ri.size < 4 || ri.size > max) {
            error_setg(errp, "the model's %s BAR%d size 0x%" PRIx64 " is "
                       "not a power of two between 4 and 0x%" PRIx64,
                       type & PCI_BASE_ADDRESS_SPACE_IO ? "I/O" :
                       type & PCI_BASE_ADDRESS_MEM_TYPE_64 ? "64-bit" :
                       "32-bit", i, (uint64_t)ri.size, max);
            return false;
        }
        b->s = s;
        b->index = i;
        b->size = ri.size;
        name = g_strdup_printf("dm-proxy-bar%d", i);
        memory_region_init_io(&b->mr, OBJECT(s), &dm_proxy_pci_bar_ops, b,
                              name, ri.size);
        /* The trapping vCPU waits for the model without the BQL. */
        memory_region_enable_lockless_io(&b->mr);
        pci_register_bar(PCI_DEVICE(s), i, type, &b->mr);
        if (type & PCI_BASE_ADDRESS_MEM_TYPE_64) {
            i++;                /* the upper half is not a BAR of its own */
        }
    }
    return true;
}

/* MSI-X: QEMU emulates the table and PBA inside the model's BARs. */
static bool dm_proxy_pci_setup_msix(DMProxyPCIState *s, const uint8_t *config,
                                    Error **errp)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    uint8_t cap = dm_proxy_pci_find_cap(config, PCI_CAP_ID_MSIX);
    uint32_t table, pba;
    unsigned n;

    if (!cap) {
        return true;
    }
    if (!dm_proxy_pci_cap_fits(cap, PCI_CAP_MSIX_SIZEOF, "MSI-X", errp)) {
        return false;
    }
    n = (pci_get_word((uint8_t *)config + cap + PCI_MSIX_FLAGS) &
         PCI_MSIX_FLAGS_QSIZE) + 1;
    table = pci_get_long((uint8_t *)config + cap + PCI_MSIX_TABLE);
    pba = pci_get_long((uint8_t *)config + cap + PCI_MSIX_PBA);
    s->msix_table_bar = table & PCI_MSIX_FLAGS_BIRMASK;
    s->msix_pba_bar = pba & PCI_MSIX_FLAGS_BIRMASK;
    if (n > DM_PROXY_MSIX_MAX || s->msix_table_bar >= DM_PROXY_NUM_BARS ||
        s->msix_pba_bar >= DM_PROXY_NUM_BARS ||
        !s->bars[s->msix_table_bar].size || !s->bars[s->msix_pba_bar].size) {
        error_setg(errp, "the model's MSI-X capability is not usable "
                   "(%u vectors, table in BAR%d, PBA in BAR%d)", n,
                   s->msix_table_bar, s->msix_pba_bar);
        return false;
    }
    /* Table and PBA must lie inside their BARs (overflow-safe: u64). */
    if ((uint64_t)(table & ~PCI_MSIX_FLAGS_BIRMASK) + n * PCI_MSIX_ENTRY_SIZE >
            s->bars[s->msix_table_bar].size ||
        (uint64_t)(pba & ~PCI_MSIX_FLAGS_BIRMASK) + QEMU_ALIGN_UP(n, 64) / 8 >
            s->bars[s->msix_pba_bar].size) {
        error_setg(errp, "the model's MSI-X table (0x%x) or PBA (0x%x) "
                   "does not fit in its BAR", table & ~PCI_MSIX_FLAGS_BIRMASK,
                   pba & ~PCI_MSIX_FLAGS_BIRMASK);
        return false;
    }
    if (msix_init(pdev, n, &s->bars[s->msix_table_bar].mr,
                  s->msix_table_bar, table & ~PCI_MSIX_FLAGS_BIRMASK,
                  &s->bars[s->msix_pba_bar].mr, s->msix_pba_bar,
                  pba & ~PCI_MSIX_FLAGS_BIRMASK, cap, errp) < 0) {
        return false;
    }
    s->msix_cap = cap;
    s->msix_vectors = n;
    for (unsigned i = 0; i < n; i++) {
        msix_vector_use(pdev, i);
    }
    return true;
}

/*
 * Under TCG a VM with one vCPU runs its code without CF_PARALLEL, and
 * then a locked instruction is a plain load and store: no barrier on the
 * host.  Linux's smp_mb() is such an instruction (lock; addl), and a
 * virtio driver relies on it between publishing its available index and
 * reading the device's avail_event (or the used ring's NO_NOTIFY flag):
 * without it the host lets the load pass the store, and a device that
 * reads the ring from another process (ours, in shared memory) or
 * thread can miss the request while the driver skips the kick.  The
 * device then waits for a kick that never comes.  QEMU's own
 * tcg_gen_mb() keeps fences for the same reason (I/O threads); locked
 * instructions need CF_PARALLEL.  Set it for every vCPU (checked in
 * later lookups: translations made without it are not reused).
 */
static void dm_proxy_pci_order_vcpus(void)
{
#ifdef CONFIG_TCG
    CPUState *cpu;

    if (tcg_enabled()) {
        CPU_FOREACH(cpu) {
            tcg_cflags_set(cpu, CF_PARALLEL);
        }
    }
#endif
}

static void dm_proxy_pci_realize(PCIDevice *pdev, Error **errp)
{
    DMProxyPCIState *s = DM_PROXY_PCI(pdev);
    DeviceState *dev = DEVICE(pdev);
    VupDeviceInfo info = { .argsz = sizeof(info) };
    VupRegionInfo cfg = { .argsz = sizeof(cfg),
                          .index = VUP_PCI_CONFIG_REGION_INDEX };
    /* The model's config space; its extended part only for PCI Express. */
    uint8_t config[PCIE_CONFIG_SPACE_SIZE] = { 0 };
    uint8_t *c = pdev->config;
    uint8_t msi_cap;
    int64_t irq_hold_us;

    if (s->dirty_fps > DM_PROXY_DIRTY_FPS_MAX) {
        error_setg(errp, "'dirty-fps' must be 0 (off) to %u",
                   DM_PROXY_DIRTY_FPS_MAX);
        return;
    }
    if (!dm_proxy_irq_hold_parse(s->irq_hold, &irq_hold_us, errp)) {
        return;
    }
    dm_proxy_pci_order_vcpus();
    s->dma_maps = g_array_new(false, true, sizeof(DMProxyDmaMap));
    if (!dm_proxy_init(&s->proxy, TYPE_DM_PROXY_PCI,
                       dev->id ? dev->id : TYPE_DM_PROXY_PCI,
                       s->server, s->timeout_ms, s->poll_us, &s->ids,
                       !s->vq_fetch ? &dm_proxy_pci_plain_dma_ops :
                       s->vq_push ? &dm_proxy_pci_ops
                                  : &dm_proxy_pci_no_push_ops,
                       s, errp)) {
        return;
    }
    s->proxy_up = true;
    s->proxy.hold_ms = s->hold_ms;
    dm_proxy_irq_hold_init(&s->proxy, irq_hold_us);
    if (!dm_proxy_pci_query(s, VUP_CMD_DEVICE_GET_INFO, &info, sizeof(info),
                            errp)) {
        return;
    }
    if (!(info.flags & VUP_DEVICE_FLAG_PCI) ||
        info.num_regions <= VUP_PCI_CONFIG_REGION_INDEX) {
        error_setg(errp, "the model at %s is not a PCI device "
                   "(dm-proxy-isa serves platform devices)", s->server);
        return;
    }
    if (!dm_proxy_pci_query(s, VUP_CMD_DEVICE_GET_REGION_INFO, &cfg,
                            sizeof(cfg), errp)) {
        return;
    }
    if (cfg.size < PCI_CONFIG_SPACE_SIZE ||
        dm_proxy_pci_config_rw(s, false, 0, config,
                               PCI_CONFIG_SPACE_SIZE) < 0) {
        error_setg(errp, "cannot read the model's config space");
        return;
    }

    /* Identity from the model; the rest of the header is emulated here. */
    pci_set_word(c + PCI_VENDOR_ID, pci_get_word(config + PCI_VENDOR_ID));
    pci_set_word(c + PCI_DEVICE_ID, pci_get_word(config + PCI_DEVICE_ID));
    c[PCI_REVISION_ID] = config[PCI_REVISION_ID];
    memcpy(c + PCI_CLASS_PROG, config + PCI_CLASS_PROG, 3);
    pci_set_long(c + PCI_SUBSYSTEM_VENDOR_ID,
                 pci_get_long(config + PCI_SUBSYSTEM_VENDOR_ID));
    c[PCI_INTERRUPT_PIN] = config[PCI_INTERRUPT_PIN];

    if (!dm_proxy_pci_setup_bars(s, config, errp)) {
        return;
    }

    if (!dm_proxy_pci_check_caps(config, errp) ||
        !dm_proxy_pci_setup_express(s, cfg.size, config, errp)) {
        return;
    }
    msi_cap = dm_proxy_pci_find_cap(config, PCI_CAP_ID_MSI);
    if (msi_cap) {
        uint16_t flags;
        unsigned nvec, size;

        /* The flags word first, then the size it implies. */
        if (!dm_proxy_pci_cap_fits(msi_cap, PCI_MSI_FLAGS + 2, "MSI",
                                   errp)) {
            return;
        }
        flags = pci_get_word(config + msi_cap + PCI_MSI_FLAGS);
        nvec = 1u << ((flags & PCI_MSI_FLAGS_QMASK) >> 1);
        size = (flags & PCI_MSI_FLAGS_64BIT ? 14 : 10) +
               (flags & PCI_MSI_FLAGS_MASKBIT ? 10 : 0);
        if (!dm_proxy_pci_cap_fits(msi_cap, size, "MSI", errp) ||
            msi_init(pdev, msi_cap, MIN(nvec, DM_PROXY_MSI_MAX),
                     flags & PCI_MSI_FLAGS_64BIT,
                     flags & PCI_MSI_FLAGS_MASKBIT, errp) < 0) {
            return;
        }
        s->msi_cap = msi_cap;
        s->msi_cap_size = size;
    }

    if (!dm_proxy_pci_setup_msix(s, config, errp) ||
        !dm_proxy_pci_init_express(s, config, errp)) {
        return;
    }
    /* A standby's are asked at its activation (the replay). */
    dm_proxy_pci_doorbells_on(s);
    /* A standby maps the same memory as the source: the model's. */
    dm_proxy_pci_mmap_on(s);
    dm_proxy_pci_mirror_cap_list(s, config);

    if (c[PCI_INTERRUPT_PIN] &&
        !dm_proxy_line_init(&s->intx, &s->proxy, VUP_PCI_INTX_IRQ_INDEX,
                            pci_allocate_irq(pdev), errp)) {
        return;
    }

    s->listener = (MemoryListener) {
        .name = "dm-proxy-pci",
        .region_add = dm_proxy_pci_region_add,
        .region_del = dm_proxy_pci_region_del,
    };
    memory_listener_register(&s->listener,
                             pci_device_iommu_address_space(pdev));
    s->listener_on = true;
}

static void dm_proxy_pci_exit(PCIDevice *pdev)
{
    DMProxyPCIState *s = DM_PROXY_PCI(pdev);

    if (s->listener_on) {
        memory_listener_unregister(&s->listener);
        s->listener_on = false;
    }
    dm_proxy_pci_msi_release(s);
    if (s->msi_cap) {
        msi_uninit(pdev);
    }
    if (s->msix_cap) {
        msix_uninit(pdev, &s->bars[s->msix_table_bar].mr,
                    &s->bars[s->msix_pba_bar].mr);
        s->msix_cap = 0;
    }
    if (s->exp_cap) {
        if (s->exp_cap_size == PCI_EXP_VER1_SIZEOF) {
            pcie_cap_v1_exit(pdev);
        } else {
            pcie_cap_exit(pdev);
        }
        s->exp_cap = 0;
    }
    if (s->proxy_up) {
        dm_proxy_pci_doorbells_off(s);
    }
    dm_proxy_pci_mmap_off(s);
    if (s->intx.irq) {
        dm_proxy_line_cleanup(&s->intx);
        qemu_free_irq(s->intx.irq);
        s->intx.irq = NULL;
    }
    if (s->proxy_up) {
        dm_proxy_cleanup(&s->proxy);
        s->proxy_up = false;
    }
    if (s->dma_maps) {
        g_array_free(s->dma_maps, true);
        s->dma_maps = NULL;
    }
}

static void dm_proxy_pci_realize_or_clean(PCIDevice *pdev, Error **errp)
{
    ERRP_GUARD();

    dm_proxy_pci_realize(pdev, errp);
    if (*errp) {
        error_prepend(errp, "%s: ", TYPE_DM_PROXY_PCI);
        dm_proxy_pci_exit(pdev);
    }
}

static void dm_proxy_pci_reset(DeviceState *dev)
{
    DMProxyPCIState *s = DM_PROXY_PCI(dev);

    dm_proxy_line_drop(&s->intx);
    if (s->msi_wired) {
        dm_proxy_pci_msi_disable(s);
    }
    if (s->msix_wired) {
        dm_proxy_pci_msix_disable(s);
    }
    if (s->proxy_up) {
        dm_proxy_call(&s->proxy, VUP_CMD_DEVICE_RESET, NULL, 0, NULL, 0,
                      NULL);
    }
}

static int dm_proxy_pci_post_load(void *opaque, int version_id)
{
    DMProxyPCIState *s = opaque;

    /* The model lives on; rewire what the guest had enabled. */
    if (msi_enabled(PCI_DEVICE(s))) {
        dm_proxy_pci_msi_enable(s);
    }
    if (msix_enabled(PCI_DEVICE(s))) {
        dm_proxy_pci_msix_enable(s);
    }
    return 0;
}

static bool dm_proxy_pci_has_msix(void *opaque, int version_id)
{
    return DM_PROXY_PCI(opaque)->msix_cap != 0;
}

static const VMStateDescription vmstate_dm_proxy_pci = {
    .name = TYPE_DM_PROXY_PCI,
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = dm_proxy_pci_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_PCI_DEVICE(parent_obj, DMProxyPCIState),
        VMSTATE_MSIX_TEST(parent_obj, DMProxyPCIState,
                          dm_proxy_pci_has_msix),
        VMSTATE_END_OF_LIST()
    },
};

static const Property dm_proxy_pci_properties[] = {
    DEFINE_PROP_STRING("server", DMProxyPCIState, server),
    DEFINE_DM_PROXY_ID_PROPERTIES(DMProxyPCIState, ids),
    DEFINE_PROP_UINT32("timeout", DMProxyPCIState, timeout_ms, 5000),
    DEFINE_PROP_UINT32("hold", DMProxyPCIState, hold_ms, 5000),
    DEFINE_PROP_BOOL("posted-writes", DMProxyPCIState, posted_writes, true),
    /*
     * Off by default until a hang is understood: a guest under a write
     * load whose NBD-backed model is killed and restarted sometimes
     * stops with the model idle (guest-virtio-blk-crash-nbd, about one
     * run in two with doorbells, none in six without).
     */
    DEFINE_PROP_BOOL("ioeventfd", DMProxyPCIState, ioeventfd, true),
    /* Map the regions the model offers as memory (one host). */
    DEFINE_PROP_BOOL("mmap", DMProxyPCIState, mmap, true),
    DEFINE_PROP_UINT32("dirty-fps", DMProxyPCIState, dirty_fps,
                       DM_PROXY_DIRTY_FPS_DEFAULT),
    DEFINE_PROP_UINT32("poll-us", DMProxyPCIState, poll_us, 50),
    DEFINE_PROP_STRING("irq-hold-us", DMProxyPCIState, irq_hold),
    DEFINE_PROP_BOOL("vq-fetch", DMProxyPCIState, vq_fetch, true),
    DEFINE_PROP_BOOL("vq-push", DMProxyPCIState, vq_push, true),
    DEFINE_PROP_BOOL("irqfd", DMProxyPCIState, irqfd, true),
};

/* A hybrid device: the model and the bus decide (see realize). */
static void dm_proxy_pci_instance_init(Object *obj)
{
    DMProxyPCIState *s = DM_PROXY_PCI(obj);

    /* bootindex=N: the firmware boots from it (a disk) in that order. */
    device_add_bootindex_property(obj, &s->bootindex, "bootindex", NULL,
                                  DEVICE(obj));
    /* Set before the PCI core allocates the config: 4096 bytes. */
    PCI_DEVICE(obj)->cap_present |= QEMU_PCI_CAP_EXPRESS;
}

/* Read-only "express": did the device come up as PCI Express? */
static bool dm_proxy_pci_get_express(Object *obj, Error **errp)
{
    return DM_PROXY_PCI(obj)->exp_cap != 0;
}

static void dm_proxy_pci_class_init(ObjectClass *klass, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);

    k->realize = dm_proxy_pci_realize_or_clean;
    k->exit = dm_proxy_pci_exit;
    k->config_read = dm_proxy_pci_config_read;
    k->config_write = dm_proxy_pci_config_write;
    device_class_set_legacy_reset(dc, dm_proxy_pci_reset);
    dc->vmsd = &vmstate_dm_proxy_pci;
    device_class_set_props(dc, dm_proxy_pci_properties);
    object_class_property_add_bool(klass, "express", dm_proxy_pci_get_express,
                                   NULL);
    dc->desc = "PCI device served by a remote device model (vfio-user)";
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo dm_proxy_pci_info = {
    .name = TYPE_DM_PROXY_PCI,
    .parent = TYPE_PCI_DEVICE,
    .instance_size = sizeof(DMProxyPCIState),
    .instance_init = dm_proxy_pci_instance_init,
    .class_init = dm_proxy_pci_class_init,
    .interfaces = (const InterfaceInfo[]) {
        { INTERFACE_CONVENTIONAL_PCI_DEVICE },
        { INTERFACE_PCIE_DEVICE },
        { },
    },
};

static void dm_proxy_pci_register_types(void)
{
    type_register_static(&dm_proxy_pci_info);
}

type_init(dm_proxy_pci_register_types)
