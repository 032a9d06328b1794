/*
 * The virtio 1.x modern PCI transport.
 *
 * Runs in the event loop's thread, as every model callback.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pci.h"
#include "virtio-pci.h"

#define PCI_VENDOR_ID_REDHAT_QUMRANET 0x1af4
#define PCI_CAP_ID_VNDR         0x09
#define VIRTIO_NO_VECTOR        DM_VIRTIO_NO_VECTOR

/* virtio_pci_cap cfg_type */
#define VIRTIO_PCI_CAP_COMMON   1
#define VIRTIO_PCI_CAP_NOTIFY   2
#define VIRTIO_PCI_CAP_ISR      3
#define VIRTIO_PCI_CAP_DEVICE   4
#define VIRTIO_PCI_CAP_PCI_CFG  5

/* struct virtio_pci_cap, and virtio_pci_cfg_cap's pci_cfg_data after it */
#define CAP_BAR         4
#define CAP_OFFSET      8
#define CAP_LENGTH      12
#define CAP_CFG_DATA    16
#define CAP_CFG_SIZE    20

/* struct virtio_pci_common_cfg */
#define CC_DFSELECT     0x00
#define CC_DF           0x04
#define CC_GFSELECT     0x08
#define CC_GF           0x0c
#define CC_MSIX         0x10
#define CC_NUMQ         0x12
#define CC_STATUS       0x14
#define CC_CFGGEN       0x15
#define CC_Q_SELECT     0x16
#define CC_Q_SIZE       0x18
#define CC_Q_MSIX       0x1a
#define CC_Q_ENABLE     0x1c
#define CC_Q_NOFF       0x1e
#define CC_Q_DESCLO     0x20
#define CC_Q_DESCHI     0x24
#define CC_Q_AVAILLO    0x28
#define CC_Q_AVAILHI    0x2c
#define CC_Q_USEDLO     0x30
#define CC_Q_USEDHI     0x34
#define CC_SIZE         0x38

#define ISR_QUEUE       1
#define ISR_CONFIG      2

static unsigned msix_vectors(const DmVirtio *v)
{
    return v->max_queues + 1;           /* the table's size, fixed */
}

bool dm_virtio_ready(const DmVirtio *v)
{
    return (v->status & VIRTIO_STATUS_DRIVER_OK) &&
           !(v->status & VIRTIO_STATUS_NEEDS_RESET);
}

/* Serving, but not yet in step with this client (see synced_link). */
static bool stale(DmVirtio *v)
{
    return dm_virtio_ready(v) && v->synced_link != dm_dma_link_id(v->dev);
}

bool dm_virtio_parked(const DmVirtio *v)
{
    for (unsigned i = 0; i < v->num_queues; i++) {
        if (!v->vq[i].threaded && v->vq[i].parked) {
            return true;
        }
    }
    return false;
}

/* Interrupt on @vector, or the INTx line with @isr_bit. */
static void virtio_irq(DmVirtio *v, uint16_t vector, uint8_t isr_bit)
{
    if (dm_irq_uses_messages(v->dev)) {
        if (vector != VIRTIO_NO_VECTOR) {
            dm_irq_raise(v->dev, vector);
        }
        return;
    }
    v->isr |= isr_bit;
    dm_irq_raise(v->dev, 0);
}

void dm_virtio_notify(DmVirtio *v, unsigned q)
{
    DmVirtq *vq;
    VupDmVqIrq cond;

    if (q >= v->num_queues) {
        return;
    }
    vq = &v->vq[q];
    /* MSI-X by messages: the client reads used_event, not us. */
    if (dm_irq_uses_messages(v->dev) && vq->msix_vector != VIRTIO_NO_VECTOR &&
        dm_virtq_notify_cond(vq, &cond) &&
        dm_irq_raise_cond(v->dev, vq->msix_vector, &cond)) {
        dm_virtq_notify_cond_sent(vq);
        return;
    }
    if (dm_virtq_should_notify(vq)) {
        virtio_irq(v, vq->msix_vector, ISR_QUEUE);
    }
}

bool dm_virtio_notify_thread(DmVirtio *v, unsigned q)
{
    DmVirtq *vq = &v->vq[q];

    if (!dm_virtq_should_notify(vq)) {
        return false;
    }
    return vq->msix_vector == VIRTIO_NO_VECTOR ||
           !dm_irq_raise_direct(v->dev, vq->msix_vector);
}

void dm_virtio_queue_irq(DmVirtio *v, unsigned q)
{
    if (q < v->num_queues) {
        virtio_irq(v, v->vq[q].msix_vector, ISR_QUEUE);
    }
}

bool dm_virtio_in_step(DmVirtio *v)
{
    return !v->recovering && !dm_virtio_parked(v) && !stale(v);
}

void dm_virtio_config_changed(DmVirtio *v)
{
    v->config_generation++;
    if (v->status & VIRTIO_STATUS_DRIVER_OK) {
        virtio_irq(v, v->config_msix_vector, ISR_CONFIG);
    }
}

void dm_virtio_broken(DmVirtio *v, const char *why)
{
    if (v->status & VIRTIO_STATUS_NEEDS_RESET) {
        return;
    }
    if (dm_dma_link_lost(v->dev)) {
        /* What failed was the link: wait for the next client. */
        dm_warn("virtio: %s, but link %llu is lost: waiting for the client",
                why, (unsigned long long)dm_dma_link_id(v->dev));
        for (unsigned i = 0; i < v->num_queues; i++) {
            /* A thread's queue: its own memory is shared, and it ends
             * before the client goes (quiesce); the next client's
             * catch-up parks it then. */
            if (v->vq[i].enabled && !v->vq[i].threaded) {
                dm_virtq_park(&v->vq[i], why);
            }
        }
        return;
    }
    dm_warn("virtio: %s: the device needs a reset (link %llu, in step with "
            "%llu)", why, (unsigned long long)dm_dma_link_id(v->dev),
            (unsigned long long)v->synced_link);
    v->status |= VIRTIO_STATUS_NEEDS_RESET;
    /* Where each ring stood: what a guest that hangs then is waiting for. */
    for (unsigned i = 0; i < v->num_queues; i++) {
        dm_virtq_dump(&v->vq[i], i);
    }
    if (v->status & VIRTIO_STATUS_DRIVER_OK) {
        virtio_irq(v, v->config_msix_vector, ISR_CONFIG);
    }
}

void dm_virtio_reset(DmVirtio *v)
{
    uint8_t old_status = v->status;

    dm_device_quiesce(v->dev);
    if (v->ops->reset) {
        v->ops->reset(v->opaque);
    }
    v->guest_features = 0;
    v->device_feature_select = v->driver_feature_select = 0;
    v->status = 0;
    v->isr = 0;
    v->config_msix_vector = VIRTIO_NO_VECTOR;
    v->queue_select = 0;
    v->recovering = false;
    v->synced_link = dm_dma_link_id(v->dev);
    for (unsigned i = 0; i < v->num_queues; i++) {
        dm_virtq_reset(&v->vq[i], v->dev, v->vq[i].max_size,
                       &v->journals[i]);
    }
    dm_irq_lower(v->dev, 0);
    if (old_status) {
        dm_device_state_changed(v->dev);
    }
}

/* ---- Common configuration ---- */

static DmVirtq *selected(DmVirtio *v)
{
    return v->queue_select < v->num_queues ? &v->vq[v->queue_select] : NULL;
}

static uint64_t common_read(DmVirtio *v, uint64_t off)
{
    DmVirtq *q = selected(v);

    switch (off) {
    case CC_DFSELECT:
        return v->device_feature_select;
    case CC_DF:
        return v->device_feature_select < 2 ?
               (uint32_t)(v->host_features >> (32 * v->device_feature_select))
               : 0;
    case CC_GFSELECT:
        return v->driver_feature_select;
    case CC_GF:
        return v->driver_feature_select < 2 ?
               (uint32_t)(v->guest_features >> (32 * v->driver_feature_select))
               : 0;
    case CC_MSIX:
        return v->config_msix_vector;
    case CC_NUMQ:
        return v->num_queues;
    case CC_STATUS:
        return v->status;
    case CC_CFGGEN:
        return v->config_generation;
    case CC_Q_SELECT:
        return v->queue_select;
    }
    if (!q) {
        return 0;               /* a queue that does not exist: size 0 */
    }
    switch (off) {
    case CC_Q_SIZE:
        return q->size;
    case CC_Q_MSIX:
        return q->msix_vector;
    case CC_Q_ENABLE:
        return q->enabled;
    case CC_Q_NOFF:
        return v->queue_select;
    case CC_Q_DESCLO:
        return (uint32_t)q->desc;
    case CC_Q_DESCHI:
        return q->desc >> 32;
    case CC_Q_AVAILLO:
        return (uint32_t)q->avail;
    case CC_Q_AVAILHI:
        return q->avail >> 32;
    case CC_Q_USEDLO:
        return (uint32_t)q->used;
    case CC_Q_USEDHI:
        return q->used >> 32;
    }
    return 0;
}

/* FEATURES_OK only for a subset of ours that includes VERSION_1. */
static bool features_ok(DmVirtio *v)
{
    return !(v->guest_features & ~v->host_features) &&
           dm_virtio_has(v, VIRTIO_F_VERSION_1);
}

static void set_status(DmVirtio *v, uint8_t val)
{
    uint8_t old = v->status;

    if (val == 0) {
        dm_virtio_reset(v);
        return;
    }
    if (old == 0 && v->ops->driver_starting) {
        v->ops->driver_starting(v->opaque);
    }
    if ((val & VIRTIO_STATUS_FEATURES_OK) &&
        !(old & VIRTIO_STATUS_FEATURES_OK) && !features_ok(v)) {
        val &= ~VIRTIO_STATUS_FEATURES_OK;     /* the driver reads it back */
    }
    /* NEEDS_RESET is the device's to set and only a reset clears it. */
    v->status = (val & ~VIRTIO_STATUS_NEEDS_RESET) |
                (old & VIRTIO_STATUS_NEEDS_RESET);
    if ((v->status & VIRTIO_STATUS_FEATURES_OK) &&
        !(old & VIRTIO_STATUS_FEATURES_OK)) {
        for (unsigned i = 0; i < v->num_queues; i++) {
            v->vq[i].event_idx = dm_virtio_has(v, VIRTIO_F_EVENT_IDX);
            v->vq[i].indirect = dm_virtio_has(v, VIRTIO_F_INDIRECT_DESC);
        }
        if (v->ops->features_ok) {
            v->ops->features_ok(v->opaque);
        }
    }
    if (v->status != old) {
        dm_device_state_changed(v->dev);
    }
    if (dm_virtio_ready(v) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
        v->synced_link = dm_dma_link_id(v->dev);
        /* Buffers made available before DRIVER_OK are served now. */
        for (unsigned i = 0; i < v->num_queues; i++) {
            if (v->vq[i].enabled) {
                v->ops->queue_notify(v->opaque, i);
            }
        }
    }
}

/* Set the low or high half of a queue address, while it is disabled. */
static void set_half(uint64_t *addr, uint64_t off, uint64_t val)
{
    if (off & 4) {
        *addr = (*addr & 0xffffffffULL) | (val << 32);
    } else {
        *addr = (*addr & ~0xffffffffULL) | (uint32_t)val;
    }
}

static void enable_queue(DmVirtio *v, DmVirtq *q)
{
    /* The spec's alignments: descriptors 16, available 2, used 4. */
    if ((q->desc & 15) || (q->avail & 1) || (q->used & 3)) {
        dm_virtio_broken(v, "a queue's rings are misaligned");
        return;
    }
    dm_virtq_start(q);
    dm_device_state_changed(v->dev);
}

static void common_write(DmVirtio *v, uint64_t off, uint64_t val)
{
    DmVirtq *q = selected(v);

    switch (off) {
    case CC_DFSELECT:
        v->device_feature_select = val;
        return;
    case CC_GFSELECT:
        v->driver_feature_select = val;
        return;
    case CC_GF:
        /* Features are settled once FEATURES_OK is set. */
        if (v->driver_feature_select < 2 &&
            !(v->status & VIRTIO_STATUS_FEATURES_OK)) {
            unsigned shift = 32 * v->driver_feature_select;

            v->guest_features &= ~(0xffffffffULL << shift);
            v->guest_features |= (uint64_t)(uint32_t)val << shift;
        }
        return;
    case CC_MSIX:
        v->config_msix_vector = val < msix_vectors(v) ? val
                                                      : VIRTIO_NO_VECTOR;
        if (v->status & VIRTIO_STATUS_DRIVER_OK) {
            dm_device_state_changed(v->dev);
        }
        return;
    case CC_STATUS:
        set_status(v, val);
        return;
    case CC_Q_SELECT:
        v->queue_select = val;
        return;
    }
    if (!q) {
        return;
    }
    switch (off) {
    case CC_Q_MSIX:
        q->msix_vector = val < msix_vectors(v) ? val : VIRTIO_NO_VECTOR;
        if (v->status & VIRTIO_STATUS_DRIVER_OK) {
            dm_device_state_changed(v->dev);
        }
        return;
    case CC_Q_ENABLE:
        if (val == 1 && !q->enabled) {
            enable_queue(v, q);
        }
        return;
    }
    if (q->enabled) {
        return;                 /* a live queue's set-up stays */
    }
    switch (off) {
    case CC_Q_SIZE:
        /* Split rings: a power of two no larger than ours. */
        if (val && val <= q->max_size && !(val & (val - 1))) {
            q->size = val;
        }
        return;
    case CC_Q_DESCLO:
    case CC_Q_DESCHI:
        set_half(&q->desc, off, val);
        return;
    case CC_Q_AVAILLO:
    case CC_Q_AVAILHI:
        set_half(&q->avail, off, val);
        return;
    case CC_Q_USEDLO:
    case CC_Q_USEDHI:
        set_half(&q->used, off, val);
        return;
    }
}

/* ---- BAR4 ---- */

static uint64_t bar_read(void *opaque, uint64_t addr, unsigned size)
{
    DmVirtio *v = opaque;
    uint64_t val = 0;

    if (addr < DM_VIRTIO_ISR_OFF) {
        return addr < CC_SIZE ? common_read(v, addr) : 0;
    }
    if (addr == DM_VIRTIO_ISR_OFF) {
        val = v->isr;           /* read to clear, and the line drops */
        v->isr = 0;
        dm_irq_lower(v->dev, 0);
        return val;
    }
    if (addr >= DM_VIRTIO_DEVICE_OFF && addr < DM_VIRTIO_NOTIFY_OFF) {
        uint32_t off = addr - DM_VIRTIO_DEVICE_OFF;

        if (off < v->config_size && size <= v->config_size - off &&
            v->ops->config_read) {
            v->ops->config_read(v->opaque, off, &val, size);
        }
        return le64toh(val);
    }
    return 0;
}

static bool recover(DmVirtio *v);
static bool catch_up(DmVirtio *v);

/* Can every enabled queue's used ring be read (the client's windows)? */
static bool rings_reachable(DmVirtio *v)
{
    for (unsigned i = 0; i < v->num_queues; i++) {
        uint16_t idx;

        if (v->vq[i].enabled &&
            dm_dma_read(v->dev, v->vq[i].used + 2, &idx, sizeof(idx)) < 0) {
            return false;
        }
    }
    return true;
}

/* The driver notified queue @q (virtio 1.2 4.1.4.4). */
static void queue_kick(DmVirtio *v, uint64_t q)
{
    if (v->recovering && !recover(v)) {
        return;                 /* guest memory not back yet */
    }
    /* A new client, or one after a lost link: in step first. */
    if (!catch_up(v)) {
        return;
    }
    if (q < v->num_queues && v->vq[q].enabled && dm_virtio_ready(v)) {
        v->ops->queue_notify(v->opaque, q);
    }
}

/* A queue's doorbell rang: by eventfd, or by a write to its address. */
static void doorbell(void *opaque)
{
    DmVirtioKick *k = opaque;

    queue_kick(k->v, k->q);
}

static void bar_write(void *opaque, uint64_t addr, uint64_t val,
                      unsigned size)
{
    DmVirtio *v = opaque;

    if (addr < DM_VIRTIO_ISR_OFF) {
        if (addr < CC_SIZE) {
            common_write(v, addr, val);
        }
    } else if (addr >= DM_VIRTIO_DEVICE_OFF && addr < DM_VIRTIO_NOTIFY_OFF) {
        uint32_t off = addr - DM_VIRTIO_DEVICE_OFF;
        uint64_t le = htole64(val);

        if (off < v->config_size && size <= v->config_size - off &&
            v->ops->config_write) {
            v->ops->config_write(v->opaque, off, &le, size);
        }
    } else if (addr >= DM_VIRTIO_NOTIFY_OFF) {
        /*
         * A queue's own address is its doorbell's (see set-up) and does
         * not come here; the PCI_CFG window and stray offsets do.
         */
        queue_kick(v, (addr - DM_VIRTIO_NOTIFY_OFF) / DM_VIRTIO_NOTIFY_MULT);
    }
}

/* Registers of 1, 2 or 4 bytes; a 64-bit access comes as two halves. */
static const DmRegionOps virtio_bar_ops = {
    .read = bar_read,
    .write = bar_write,
    .valid = { .min_access_size = 1, .max_access_size = 8 },
    .impl = { .max_access_size = 4 },
};

/*
 * VIRTIO_PCI_CAP_PCI_CFG (virtio 1.2 4.1.4.9): a window into the BARs
 * through config space, for drivers that cannot reach a BAR (SeaBIOS,
 * when the firmware put the BAR above 4 GiB).  A read or write of
 * pci_cfg_data becomes one of cap.length bytes at cap.offset of cap.bar.
 * A window that is no valid access (another BAR, a length other than 1,
 * 2 or 4, an unaligned or out-of-range offset) is ignored, as the spec
 * says.
 */
static void pci_cfg_access(void *opaque, bool write, uint32_t offset,
                           uint32_t len)
{
    DmVirtio *v = opaque;
    uint8_t *cap = dm_device_pci(v->dev)->config + v->pci_cfg_cap;
    uint32_t off, length, data;

    (void)offset;
    (void)len;
    memcpy(&off, cap + CAP_OFFSET, 4);
    memcpy(&length, cap + CAP_LENGTH, 4);
    off = le32toh(off);
    length = le32toh(length);
    if (cap[CAP_BAR] != DM_VIRTIO_BAR ||
        (length != 1 && length != 2 && length != 4) || off % length ||
        off >= DM_VIRTIO_BAR_SIZE) {
        return;
    }
    if (write) {
        memcpy(&data, cap + CAP_CFG_DATA, 4);
        data = le32toh(data);
        if (length < 4) {
            data &= (1u << (length * 8)) - 1;
        }
        bar_write(v, off, data, length);
    } else {
        data = htole32((uint32_t)bar_read(v, off, length));
        memcpy(cap + CAP_CFG_DATA, &data, 4);
    }
}

/* BAR1 holds the MSI-X table and PBA, which the client emulates. */
static const DmRegionOps virtio_msix_bar_ops;

/* ---- Surviving a restart ---- */

/*
 * Recover every enabled queue from its journal and guest memory: true
 * when done (or broken), false while guest memory cannot be reached.
 */
static bool recover(DmVirtio *v)
{
    char why[160];

    for (unsigned i = 0; i < v->num_queues; i++) {
        int ret;

        if (!v->vq[i].enabled) {
            continue;
        }
        ret = dm_virtq_recover(&v->vq[i], why, sizeof(why));
        if (ret == -EAGAIN) {
            return false;
        }
        if (ret < 0) {
            v->recovering = false;
            dm_virtio_broken(v, why);
            return true;
        }
    }
    v->recovering = false;
    for (unsigned i = 0; i < v->num_queues; i++) {
        if (v->vq[i].nresubmit) {
            dm_info("virtio: queue %u: %u requests in flight at the restart "
                    "run again", i, v->vq[i].nresubmit);
        }
    }
    return true;
}

void dm_virtio_irqs_changed(DmVirtio *v)
{
    /*
     * A VM timer 1 ns ahead: the VM clock must move to reach it, so it
     * fires at once if the VM runs, else when it runs again.
     */
    dm_vm_timer_mod(&v->resume_timer, 1);
}

/*
 * In step with the client: after a lost link or for a new client, each
 * queue resynced with guest memory and what was left half done finished
 * (DmVirtioOps.resume).  False while a queue stays parked (no link).
 */
static bool catch_up(DmVirtio *v)
{
    if (!dm_virtio_parked(v) && !stale(v)) {
        return true;
    }
    /*
     * Only once the client's windows are there: a kick or a resume may
     * come before its set-up's replay (its DMA_MAPs), and a ring that
     * cannot be read then is no fault of the guest's.  The kick after
     * the replay, or the resume its interrupt wiring brings, comes back.
     */
    if (!rings_reachable(v)) {
        return false;
    }
    if (stale(v)) {
        /* Another client: what the last one got is to be checked. */
        for (unsigned i = 0; i < v->num_queues; i++) {
            v->vq[i].parked |= v->vq[i].enabled;
        }
        v->synced_link = dm_dma_link_id(v->dev);
    }
    if (dm_virtio_parked(v)) {
        char why[160];

        /* A session was lost: what it left half done is finished first. */
        if (v->ops->resume) {
            v->ops->resume(v->opaque);
        }
        for (unsigned i = 0; i < v->num_queues && dm_virtio_ready(v); i++) {
            if (v->vq[i].parked &&
                dm_virtq_resync(&v->vq[i], why, sizeof(why)) == -EIO) {
                dm_virtio_broken(v, why);
            }
        }
        if (dm_virtio_parked(v)) {
            return false;       /* the link went again: the next client */
        }
        dm_info("virtio: in step with the client: the queues go on");
    }
    return true;
}

static void resume(void *opaque)
{
    DmVirtio *v = opaque;

    if (!dm_virtio_ready(v) || (v->recovering && !recover(v)) ||
        !catch_up(v)) {
        return;
    }
    /*
     * Whatever the driver made available while we were away (its kicks
     * went nowhere), and an interrupt per queue for completions whose
     * interrupt went nowhere: a spurious one costs the driver a look.
     */
    for (unsigned i = 0; i < v->num_queues && dm_virtio_ready(v); i++) {
        if (v->vq[i].enabled) {
            v->ops->queue_notify(v->opaque, i);
            virtio_irq(v, v->vq[i].msix_vector, ISR_QUEUE);
        }
    }
}

void dm_virtio_save(DmVirtio *v, DmStateOut *out)
{
    dm_state_put_u64(out, v->num_queues);
    dm_state_put_u64(out, v->guest_features);
    dm_state_put_u64(out, v->status);
    dm_state_put_u64(out, v->isr);
    dm_state_put_u64(out, v->config_generation);
    dm_state_put_u64(out, v->config_msix_vector);
    dm_state_put_u64(out, v->queue_select);
    for (unsigned i = 0; i < v->num_queues; i++) {
        const DmVirtq *q = &v->vq[i];

        dm_state_put_u64(out, q->size);
        dm_state_put_u64(out, q->enabled);
        dm_state_put_u64(out, q->msix_vector);
        dm_state_put_u64(out, q->desc);
        dm_state_put_u64(out, q->avail);
        dm_state_put_u64(out, q->used);
    }
}

/* A saved MSI-X vector: one of ours, or none. */
static bool vector_valid(const DmVirtio *v, uint64_t vector)
{
    return vector < msix_vectors(v) || vector == VIRTIO_NO_VECTOR;
}

void dm_virtio_load(DmVirtio *v, DmStateIn *in)
{
    uint64_t features, status, vector, queues;

    queues = dm_state_get_u64(in);
    if (queues == 0 || queues > v->max_queues) {
        dm_state_fail(in);      /* started with fewer queues= */
        return;
    }
    v->num_queues = queues;
    features = dm_state_get_u64(in);
    status = dm_state_get_u64(in);
    v->isr = dm_state_get_u64(in) & (ISR_QUEUE | ISR_CONFIG);
    v->config_generation = dm_state_get_u64(in);
    vector = dm_state_get_u64(in);
    v->queue_select = dm_state_get_u64(in);
    if ((features & ~v->host_features) || status > 0xff ||
        !vector_valid(v, vector)) {
        dm_state_fail(in);
        return;
    }
    v->guest_features = features;
    v->status = status;
    v->config_msix_vector = vector;
    for (unsigned i = 0; i < v->num_queues; i++) {
        DmVirtq *q = &v->vq[i];
        uint64_t size = dm_state_get_u64(in);
        uint64_t enabled = dm_state_get_u64(in);

        vector = dm_state_get_u64(in);
        q->desc = dm_state_get_u64(in);
        q->avail = dm_state_get_u64(in);
        q->used = dm_state_get_u64(in);
        if (!size || size > q->max_size || (size & (size - 1)) ||
            enabled > 1 ||
            !vector_valid(v, vector) ||
            (enabled && ((q->desc & 15) || (q->avail & 1) ||
                         (q->used & 3)))) {
            dm_state_fail(in);
            return;
        }
        q->size = size;
        q->enabled = enabled;
        q->msix_vector = vector;
        q->event_idx = dm_virtio_has(v, VIRTIO_F_EVENT_IDX);
        q->indirect = dm_virtio_has(v, VIRTIO_F_INDIRECT_DESC);
    }
    /* The rings are read back when the client's memory is. */
    v->recovering = dm_virtio_ready(v);
}

void dm_virtio_dump(DmVirtio *v)
{
    dm_info("virtio: status 0x%x%s, features 0x%llx, %u queues, isr 0x%x, "
            "config vector %u%s; link %llu%s, in step with %llu",
            v->status, dm_virtio_ready(v) ? " (ready)" : "",
            (unsigned long long)v->guest_features, v->num_queues, v->isr,
            v->config_msix_vector, v->recovering ? ", recovering" : "",
            (unsigned long long)dm_dma_link_id(v->dev),
            dm_dma_link_lost(v->dev) ? " (lost)" : "",
            (unsigned long long)v->synced_link);
    for (unsigned i = 0; i < v->num_queues; i++) {
        dm_virtq_dump(&v->vq[i], i);
    }
}

int dm_virtio_set_num_queues(DmVirtio *v, unsigned n)
{
    if (v->status != 0 || n == 0 || n > v->max_queues) {
        return -EINVAL;
    }
    v->num_queues = n;
    if (v->queue_select >= n) {
        v->queue_select = 0;
    }
    return 0;
}

void dm_virtio_pci_cleanup(DmVirtio *v)
{
    if (v->dev) {
        dm_vm_timer_destroy(&v->resume_timer);
        for (unsigned i = 0; i < v->max_queues; i++) {
            dm_virtq_reset(&v->vq[i], v->dev, v->vq[i].max_size,
                           v->vq[i].journal);
        }
    }
    free(v->vq);
    free(v->kicks);
    v->vq = NULL;
    v->kicks = NULL;
    v->dev = NULL;
}

/* ---- Set-up ---- */

/* The PCI_CFG window: cap.bar, cap.offset, cap.length and the data are
 * the driver's to write. */
static int add_pci_cfg_cap(DmVirtio *v, DmPci *pci)
{
    int pos = dm_pci_add_capability(pci, PCI_CAP_ID_VNDR, CAP_CFG_SIZE);

    if (pos < 0) {
        return pos;
    }
    pci->config[pos + 2] = CAP_CFG_SIZE;
    pci->config[pos + 3] = VIRTIO_PCI_CAP_PCI_CFG;
    pci->wmask[pos + CAP_BAR] = 0xff;
    memset(pci->wmask + pos + CAP_OFFSET, 0xff, CAP_CFG_SIZE - CAP_OFFSET);
    v->pci_cfg_cap = pos;
    dm_pci_set_config_hook(pci, pos + CAP_CFG_DATA, 4, pci_cfg_access, v);
    return 0;
}

/* A virtio_pci_cap of @type for [@offset, +@length) of BAR4. */
static int add_cap(DmPci *pci, uint8_t type, uint32_t offset,
                   uint32_t length, bool notify)
{
    int pos = dm_pci_add_capability(pci, PCI_CAP_ID_VNDR, notify ? 20 : 16);

    if (pos < 0) {
        return pos;
    }
    pci->config[pos + 2] = notify ? 20 : 16;   /* cap_len */
    pci->config[pos + 3] = type;
    pci->config[pos + 4] = DM_VIRTIO_BAR;
    memcpy(pci->config + pos + 8, &(uint32_t){ htole32(offset) }, 4);
    memcpy(pci->config + pos + 12, &(uint32_t){ htole32(length) }, 4);
    if (notify) {
        memcpy(pci->config + pos + 16,
               &(uint32_t){ htole32(DM_VIRTIO_NOTIFY_MULT) }, 4);
    }
    return 0;
}

int dm_virtio_pci_init(DmVirtio *v, DmDevice *dev, uint16_t virtio_id,
                       uint16_t class_code, uint64_t features,
                       unsigned num_queues, uint16_t queue_size,
                       uint32_t config_size, const DmVirtioOps *ops,
                       void *opaque)
{
    DmPci *pci = dm_device_pci(dev);
    int ret;

    if (!pci || num_queues == 0 || num_queues > DM_VIRTIO_MAX_QUEUES ||
        queue_size == 0 || queue_size > DM_VIRTQ_MAX_SIZE ||
        (queue_size & (queue_size - 1)) ||
        config_size > DM_VIRTIO_NOTIFY_OFF - DM_VIRTIO_DEVICE_OFF) {
        return -EINVAL;
    }
    /*
     * Only the queues set up: 64 in place (140 KB) cost a fuzzed session
     * a third of its time in page faults, and more in unmapping them.
     */
    memset(v, 0, sizeof(*v));
    v->vq = calloc(num_queues, sizeof(v->vq[0]));
    v->kicks = calloc(num_queues, sizeof(v->kicks[0]));
    if (!v->vq || !v->kicks) {
        return -ENOMEM;         /* dm_virtio_pci_cleanup frees */
    }
    /* What a killed process had in flight, if this is its restart. */
    v->journals = dm_device_persistent(dev, num_queues *
                                       sizeof(DmVirtqJournal));
    if (!v->journals) {
        return -ENOMEM;
    }
    v->dev = dev;
    dm_vm_timer_init(&v->resume_timer, dm_device_vm_clock(dev), resume, v);
    v->ops = ops;
    v->opaque = opaque;
    v->num_queues = v->max_queues = num_queues;
    v->config_size = config_size;
    v->host_features = features | (1ULL << VIRTIO_F_VERSION_1) |
                       (1ULL << VIRTIO_F_INDIRECT_DESC) |
                       (1ULL << VIRTIO_F_EVENT_IDX);
    for (unsigned i = 0; i < num_queues; i++) {
        dm_virtq_reset(&v->vq[i], dev, queue_size, &v->journals[i]);
    }
    v->config_msix_vector = VIRTIO_NO_VECTOR;

    /* Modern-only: revision 1, subsystem as the device (virtio 4.1.2). */
    dm_pci_init(pci, PCI_VENDOR_ID_REDHAT_QUMRANET, 0x1040 + virtio_id, 1,
                class_code);
    dm_pci_set_subsystem(pci, PCI_VENDOR_ID_REDHAT_QUMRANET, 0x40);
    dm_pci_set_interrupt_pin(pci, 1);
    ret = dm_pci_set_bar(pci, DM_VIRTIO_MSIX_BAR, 4096, DM_PCI_BAR_MEM32);
    if (ret >= 0) {
        ret = dm_pci_set_bar(pci, DM_VIRTIO_BAR, DM_VIRTIO_BAR_SIZE,
                             DM_PCI_BAR_MEM64 | DM_PCI_BAR_PREFETCH);
    }
    if (ret >= 0) {
        ret = dm_pci_msix_init(pci, num_queues + 1, DM_VIRTIO_MSIX_BAR, 0,
                               DM_VIRTIO_MSIX_BAR, 0x800);
    }
    if (ret >= 0) {
        ret = add_cap(pci, VIRTIO_PCI_CAP_COMMON, DM_VIRTIO_COMMON_OFF,
                      CC_SIZE, false);
    }
    if (ret >= 0) {
        ret = add_cap(pci, VIRTIO_PCI_CAP_ISR, DM_VIRTIO_ISR_OFF, 1, false);
    }
    if (ret >= 0 && config_size) {
        ret = add_cap(pci, VIRTIO_PCI_CAP_DEVICE, DM_VIRTIO_DEVICE_OFF,
                      config_size, false);
    }
    if (ret >= 0) {
        ret = add_cap(pci, VIRTIO_PCI_CAP_NOTIFY, DM_VIRTIO_NOTIFY_OFF,
                      num_queues * DM_VIRTIO_NOTIFY_MULT, true);
    }
    if (ret >= 0) {
        ret = add_pci_cfg_cap(v, pci);
    }
    if (ret < 0) {
        return ret;
    }
    dm_device_init_region(dev, VUP_PCI_BAR0_REGION_INDEX + DM_VIRTIO_MSIX_BAR,
                          4096, &virtio_msix_bar_ops, v);
    dm_device_init_region(dev, VUP_PCI_BAR0_REGION_INDEX + DM_VIRTIO_BAR,
                          DM_VIRTIO_BAR_SIZE, &virtio_bar_ops, v);
    /*
     * A doorbell per queue, of any width (size 0): Linux writes the queue
     * index in 16 bits, a driver with NOTIFICATION_DATA would write 32;
     * the value tells nothing we do not know.  QEMU's own virtio-pci
     * registers its ioeventfds the same way.  Every queue set up here
     * (max_queues) has one: the client learns them once per connection,
     * while the driver may be shown fewer later (dm_virtio_set_num_queues);
     * a kick of a queue it does not see is ignored.
     */
    for (unsigned i = 0; i < num_queues; i++) {
        v->kicks[i] = (DmVirtioKick) { .v = v, .q = i };
        ret = dm_device_add_doorbell(dev, VUP_PCI_BAR0_REGION_INDEX +
                                     DM_VIRTIO_BAR,
                                     DM_VIRTIO_NOTIFY_OFF +
                                     i * DM_VIRTIO_NOTIFY_MULT, 0, doorbell,
                                     &v->kicks[i]);
        if (ret < 0) {
            return ret;
        }
        dm_virtq_set_doorbell(&v->vq[i], VUP_PCI_BAR0_REGION_INDEX +
                              DM_VIRTIO_BAR, DM_VIRTIO_NOTIFY_OFF +
                              i * DM_VIRTIO_NOTIFY_MULT);
    }
    ret = dm_device_init_irq(dev, VUP_PCI_INTX_IRQ_INDEX, 1,
                             VUP_IRQ_INFO_EVENTFD | VUP_IRQ_INFO_MASKABLE |
                             VUP_IRQ_INFO_AUTOMASKED);
    if (ret == 0) {
        ret = dm_device_init_irq(dev, VUP_PCI_MSIX_IRQ_INDEX, num_queues + 1,
                                 VUP_IRQ_INFO_EVENTFD |
                                 VUP_IRQ_INFO_NORESIZE);
    }
    return ret;
}
