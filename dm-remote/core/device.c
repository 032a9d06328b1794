/*
 * Device plumbing shared by every model: regions, reset, DMA and work
 * (interrupts are irq.c's).
 *
 * Runs in the event loop's thread.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "dma.h"
#include "log.h"
#include "pci.h"
#include "work.h"

int dm_device_realize(DmDevice *dev, const DmModel *model, DmLoop *loop,
                      const DmModelArgs *args)
{
    static const DmPropList no_props;
    char err[256];
    int ret;

    memset(dev, 0, sizeof(*dev));
    pthread_mutex_init(&dev->irqs.lock, NULL);
    dev->model = model;
    dev->loop = loop;
    dev->args = args;
    /* Armed by state.c (dm_device_state_changed), which sets its callback. */
    dm_timer_init(&dev->state_timer, loop, NULL, NULL);
    dm_vm_clock_init(&dev->vm_clock, loop);
    dev->state = calloc(1, model->state_size ? model->state_size : 1);
    if (model->bus == DM_BUS_PCI) {
        dev->pci = calloc(1, sizeof(*dev->pci));
        dev->is_pci = true;
    }
    if (!dev->state || (dev->is_pci && !dev->pci)) {
        dm_device_unrealize(dev);
        return -ENOMEM;
    }
    ret = dm_props_apply(model->props, args ? &args->props : &no_props,
                         dev->state, err, sizeof(err));
    if (ret < 0) {
        dm_error("%s: %s", model->name, err);
        /* The model's realize never ran: nor does its unrealize. */
        free(dev->state);
        dev->state = NULL;
        dm_device_unrealize(dev);
        return ret;
    }
    ret = model->realize(dev);
    if (ret < 0) {
        dm_device_unrealize(dev);
        return ret;
    }
    if (dev->pci) {
        ret = dm_irq_fill_pci(&dev->irqs);
        if (ret < 0) {
            dm_device_unrealize(dev);
            return ret;
        }
        dm_pci_finalize(dev->pci);
        /* 4096 bytes for a PCI Express model: the client sees it here. */
        dev->regions[VUP_PCI_CONFIG_REGION_INDEX].size =
            dm_pci_config_size(dev->pci);
        if (dev->num_regions < VUP_PCI_NUM_REGIONS) {
            dev->num_regions = VUP_PCI_NUM_REGIONS;
        }
    }
    return 0;
}

/* Worker threads of a device's pool: enough to overlap a few I/Os. */
#define DM_WORK_THREADS 4

int dm_work_submit(DmDevice *dev, DmWork *w, DmWorkFn *fn, DmWorkDone *done,
                   void *opaque)
{
    if (!dev->work) {
        dev->work = dm_work_pool_new(dev->loop, DM_WORK_THREADS);
        if (!dev->work) {
            return -errno;
        }
    }
    w->fn = fn;
    w->done = done;
    w->opaque = opaque;
    return dm_work_pool_submit(dev->work, w);
}

void dm_device_quiesce(DmDevice *dev)
{
    if (dev->work) {
        dm_work_pool_drain(dev->work);
    }
    if (dev->model && dev->model->quiesce && dev->state) {
        dev->model->quiesce(dev);
    }
}

void dm_device_attach(DmDevice *dev, const DmLinkOps *link, void *opaque)
{
    dev->link = link;
    dev->link_opaque = opaque;
    dev->link_id = ++dev->links;
    /* Vectors wired to messages go out through the link. */
    dev->irqs.send = link->send_irq;
    dev->irqs.in_band = link->irq_in_band;
    dev->irqs.send_opaque = opaque;
    /* Eventfds of this client's own: never those an old one may hold. */
    dm_doorbells_open(&dev->doorbells, dev->loop, link->busy, opaque);
}

void dm_device_dma_mapping(DmDevice *dev)
{
    dm_device_quiesce(dev);
}

void dm_device_dma_unmapping(DmDevice *dev, uint64_t iova, uint64_t size)
{
    dm_device_quiesce(dev);
    if (dev->model && dev->model->dma_unmapped && dev->state) {
        dev->model->dma_unmapped(dev, iova, size);
    }
}

void dm_device_detach(DmDevice *dev)
{
    dm_device_dma_unmapping(dev, 0, UINT64_MAX);
    dm_doorbells_close(&dev->doorbells);
    dm_irq_release_all(&dev->irqs);
    dev->link = NULL;
    dev->link_opaque = NULL;
    dev->link_id = 0;
    dev->irqs.send = NULL;
    dev->irqs.in_band = NULL;
    dev->irqs.send_opaque = NULL;
}

void dm_device_unrealize(DmDevice *dev)
{
    dm_device_quiesce(dev);
    if (dm_timer_pending(&dev->state_timer)) {
        dm_timer_del(&dev->state_timer);        /* a set-up write waiting */
    }
    dm_work_pool_free(dev->work);
    dev->work = NULL;
    dm_doorbells_close(&dev->doorbells);
    if (dev->model && dev->model->unrealize && dev->state) {
        dev->model->unrealize(dev);
    }
    free(dev->state);
    dev->state = NULL;
    dm_irq_free(&dev->irqs);
    dm_mapped_free(&dev->mapped);
    free(dev->pci);
    dev->pci = NULL;
    dm_persist_close(&dev->persist);
    dm_applied_close(&dev->applied);
}

void *dm_device_persistent(DmDevice *dev, size_t size)
{
    const char *state_file = dev->args ? dev->args->state_file : NULL;
    char *path = state_file ? dm_persist_path(state_file, "mem") : NULL;
    int ret;

    if (dev->persist.mem || (state_file && !path)) {
        free(path);
        return NULL;            /* once per device */
    }
    ret = dm_persist_open(&dev->persist, path, size);
    if (ret < 0) {
        dm_error("%s: %s: %s", dev->model->name, path, strerror(-ret));
    }
    free(path);
    return ret < 0 ? NULL : dev->persist.mem;
}

void dm_device_irqs_changed(DmDevice *dev)
{
    if (dev->model && dev->model->irqs_changed && dev->state) {
        dev->model->irqs_changed(dev);
    }
}

void dm_device_dump(DmDevice *dev)
{
    dm_info("state of %s: %s, %u requests of work in flight, doorbell "
            "kicks %llu by eventfd and %llu by write", dev->model->name,
            dev->link ? "a client attached" : "no client",
            dev->work ? dm_work_pool_in_flight(dev->work) : 0,
            (unsigned long long)dev->doorbells.kicks_fd,
            (unsigned long long)dev->doorbells.kicks_write);
    dm_irq_dump(&dev->irqs);
    if (dev->model->dump && dev->state) {
        dev->model->dump(dev);
    }
}

void dm_device_reset(DmDevice *dev)
{
    dm_device_quiesce(dev);
    if (dev->pci) {
        dm_pci_reset(dev->pci);
    }
    dm_irq_reset(&dev->irqs);
    if (dev->model->reset) {
        dev->model->reset(dev);
    }
}

void dm_device_init_region(DmDevice *dev, unsigned index, uint64_t size,
                           const DmRegionOps *ops, void *opaque)
{
    dev->regions[index] = (DmRegion) { .size = size, .ops = ops,
                                       .opaque = opaque };
    if (index + 1 > dev->num_regions) {
        dev->num_regions = index + 1;
    }
}

int dm_device_add_doorbell(DmDevice *dev, unsigned index, uint64_t offset,
                           uint32_t size, DmDoorbellFn *fn, void *opaque)
{
    const DmRegion *r = index < dev->num_regions ? &dev->regions[index]
                                                 : NULL;

    /* A write into a mapping never comes as a message: no doorbell. */
    if (!r || offset >= r->size || (size && size > r->size - offset) ||
        (dev->pci && index == VUP_PCI_CONFIG_REGION_INDEX) ||
        dm_mapped_overlaps(&dev->mapped, index, offset, size ? size : 1)) {
        return -EINVAL;
    }
    return dm_doorbell_add(&dev->doorbells, index, offset, size, fn, opaque);
}

void *dm_device_add_mappable(DmDevice *dev, unsigned index, uint64_t offset,
                             uint64_t size)
{
    const DmRegion *r = index < dev->num_regions ? &dev->regions[index]
                                                 : NULL;
    void *mem;
    int err = -EINVAL;

    for (unsigned i = 0; r && i < dev->doorbells.count; i++) {
        const DmDoorbell *b = &dev->doorbells.bells[i];

        if (b->region == index && b->offset < offset + size &&
            offset < b->offset + (b->size ? b->size : 1)) {
            r = NULL;           /* a doorbell there would never ring */
        }
    }
    mem = r && !(dev->pci && index == VUP_PCI_CONFIG_REGION_INDEX) ?
          dm_mapped_add(&dev->mapped, index, r->size, offset, size, &err) :
          NULL;
    if (!mem) {
        dm_error("%s: region %u: no mappable area at 0x%llx, 0x%llx bytes: "
                 "%s", dev->model->name, index, (unsigned long long)offset,
                 (unsigned long long)size, strerror(-err));
    }
    return mem;
}

int dm_device_mappable_guest_only(DmDevice *dev, unsigned index,
                                  uint64_t offset, DmMappedWrittenFn *fn,
                                  void *opaque)
{
    int ret = dm_mapped_set_guest_only(&dev->mapped, index, offset, fn,
                                       opaque);

    if (ret < 0) {
        dm_error("%s: region %u: no mappable area at 0x%llx to declare "
                 "the guest's", dev->model->name, index,
                 (unsigned long long)offset);
    }
    return ret;
}

void dm_device_region_read(DmDevice *dev, unsigned region, uint64_t offset,
                           void *buf, uint32_t len)
{
    uint8_t *p = buf;

    /* Piece by piece: an area's memory, or the callbacks between areas. */
    while (len > 0) {
        uint64_t n;
        uint8_t *mem = dm_mapped_lookup(&dev->mapped, region, offset, len,
                                        &n);

        if (mem) {
            memcpy(p, mem, n);
        } else {
            dm_region_read(&dev->regions[region], offset, p, n);
        }
        p += n;
        offset += n;
        len -= n;
    }
}

void dm_device_region_write(DmDevice *dev, unsigned region, uint64_t offset,
                            const void *buf, uint32_t len)
{
    const uint8_t *p = buf;

    if (dm_doorbells_write(&dev->doorbells, region, offset, len)) {
        return;
    }
    while (len > 0) {
        uint64_t n;
        uint8_t *mem = dm_mapped_lookup(&dev->mapped, region, offset, len,
                                        &n);

        if (mem) {
            memcpy(mem, p, n);
        } else {
            dm_region_write(&dev->regions[region], offset, p, n);
        }
        p += n;
        offset += n;
        len -= n;
    }
}

void dm_device_set_isa_defaults(DmDevice *dev, unsigned index,
                                uint32_t iobase, uint32_t irq)
{
    DmRegion *r = &dev->regions[index];

    r->isa_defaults = true;
    r->isa_iobase = iobase;
    r->isa_irq = irq;
}

DmLoop *dm_device_loop(DmDevice *dev)
{
    return dev->loop;
}

void *dm_device_state(DmDevice *dev)
{
    return dev->state;
}

DmVmClock *dm_device_vm_clock(DmDevice *dev)
{
    return &dev->vm_clock;
}

DmPci *dm_device_pci(DmDevice *dev)
{
    return dev->pci;
}

/* Does an access of @len bytes pass @ops' valid sizes? */
static bool access_valid(const DmRegionOps *ops, uint32_t len)
{
    return ops && (!ops->valid.min_access_size ||
                   len >= ops->valid.min_access_size) &&
           (!ops->valid.max_access_size || len <= ops->valid.max_access_size);
}

/*
 * Largest of 8, 4, 2, 1 that is aligned at @off, fits in @left and in
 * what the callbacks take.
 */
static unsigned piece_size(const DmRegionOps *ops, uint64_t off,
                           uint32_t left)
{
    unsigned size = ops->impl.max_access_size ? ops->impl.max_access_size
                                              : 8;

    while (size > left || (off & (size - 1))) {
        size >>= 1;
    }
    return size;
}

void dm_region_read(DmRegion *r, uint64_t offset, void *buf, uint32_t len)
{
    uint8_t *p = buf;

    if (!access_valid(r->ops, len) || !r->ops->read) {
        memset(buf, 0xff, len);
        return;
    }
    while (len > 0) {
        unsigned size = piece_size(r->ops, offset, len);
        uint64_t v = r->ops->read(r->opaque, offset, size);

        for (unsigned i = 0; i < size; i++) {
            p[i] = v >> (8 * i);        /* little-endian device */
        }
        p += size;
        offset += size;
        len -= size;
    }
}

void dm_region_write(DmRegion *r, uint64_t offset, const void *buf,
                     uint32_t len)
{
    const uint8_t *p = buf;

    if (!access_valid(r->ops, len) || !r->ops->write) {
        return;
    }
    while (len > 0) {
        unsigned size = piece_size(r->ops, offset, len);
        uint64_t v = 0;

        for (unsigned i = 0; i < size; i++) {
            v |= (uint64_t)p[i] << (8 * i);
        }
        r->ops->write(r->opaque, offset, v, size);
        p += size;
        offset += size;
        len -= size;
    }
}

/* ---- DMA, through the link ---- */

/* Is this thread a model's I/O thread (dm_io_thread_enter)? */
static __thread bool on_io_thread;
/* It met memory that is not shared: the loop must take over (model.h). */
static __thread bool io_thread_unshared;

void dm_io_thread_enter(void)
{
    on_io_thread = true;
}

/* Pieces of shared memory one DMA of an I/O thread may span. */
#define IO_THREAD_DMA_IOV 16

/*
 * An I/O thread's DMA: a copy into the shared windows, never a message
 * (the session's stream is the loop's).  The link's dma_iov only reads
 * the table of windows, which no DMA_MAP or DMA_UNMAP changes while an
 * I/O thread runs (they quiesce it first).
 */
static int dma_shared(DmDevice *dev, uint64_t addr, void *buf, uint64_t len,
                      bool write)
{
    struct iovec iov[IO_THREAD_DMA_IOV];
    uint8_t *p = buf;
    int n;

    if (!dev->link) {
        return -ENOTCONN;
    }
    if (!len) {
        return 0;
    }
    n = dev->link->dma_iov(dev->link_opaque, addr, len, write, iov,
                           IO_THREAD_DMA_IOV);
    if (n == -ENOTSUP || n == -ENOBUFS) {
        io_thread_unshared = true;      /* messages: the loop's to send */
        return -ENOTSUP;
    }
    if (n < 0) {
        return n;
    }
    for (int i = 0; i < n; i++) {
        /* A ring's index in one access, never torn (dm_dma_copy). */
        if (write) {
            dm_dma_copy(iov[i].iov_base, p, iov[i].iov_len);
        } else {
            dm_dma_copy(p, iov[i].iov_base, iov[i].iov_len);
        }
        p += iov[i].iov_len;
    }
    return 0;
}

int dm_dma_read(DmDevice *dev, uint64_t addr, void *buf, uint64_t len)
{
    if (on_io_thread) {
        return dma_shared(dev, addr, buf, len, false);
    }
    return dev->link ? dev->link->dma(dev->link_opaque, addr, buf, len, false)
                     : -ENOTCONN;
}

int dm_dma_write(DmDevice *dev, uint64_t addr, const void *buf, uint64_t len)
{
    if (on_io_thread) {
        return dma_shared(dev, addr, (void *)buf, len, true);
    }
    return dev->link ? dev->link->dma(dev->link_opaque, addr, (void *)buf,
                                      len, true)
                     : -ENOTCONN;
}

bool dm_dma_link_lost(DmDevice *dev)
{
    /*
     * An I/O thread's shared memory stays mapped until the loop has
     * joined the thread (a client's loss unmaps after quiesce): a failure
     * there is the address's; one that needed a message is no fault of
     * the guest's either, and "lost" makes the model leave the request
     * for the loop, as it would for a lost link.
     */
    if (on_io_thread) {
        return io_thread_unshared;
    }
    return !dev->link || (dev->link->lost && dev->link->lost(dev->link_opaque));
}

bool dm_irq_raise_direct(DmDevice *dev, unsigned vector)
{
    return dev->is_pci && dm_irq_signal_direct(&dev->irqs, vector);
}

int dm_device_doorbell_take(DmDevice *dev, unsigned index, uint64_t offset)
{
    return dev->link ? dm_doorbell_take(&dev->doorbells, index, offset) : -1;
}

void dm_device_doorbell_give_back(DmDevice *dev, unsigned index,
                                  uint64_t offset)
{
    dm_doorbell_give_back(&dev->doorbells, index, offset);
}

uint64_t dm_dma_link_id(DmDevice *dev)
{
    return dev->link_id;
}

bool dm_dma_posted(DmDevice *dev, uint64_t addr)
{
    return !on_io_thread && dev->link && dev->link->posted &&
           dev->link->posted(dev->link_opaque, addr);
}

int dm_dma_iov(DmDevice *dev, uint64_t addr, uint64_t len, bool write,
               struct iovec *iov, unsigned max_iov)
{
    int ret = dev->link ? dev->link->dma_iov(dev->link_opaque, addr, len,
                                             write, iov, max_iov)
                        : -ENOTCONN;

    if (on_io_thread && ret == -ENOTSUP) {
        io_thread_unshared = true;
    }
    return ret;
}

unsigned dm_device_client_vcpus(DmDevice *dev)
{
    return dev->link && dev->link->client_vcpus ?
           dev->link->client_vcpus(dev->link_opaque) : 0;
}

const char *dm_device_client_accel(DmDevice *dev)
{
    return dev->link && dev->link->client_accel ?
           dev->link->client_accel(dev->link_opaque) : "";
}

int dm_dma_vq_fetch(DmDevice *dev, const VupDmVqFetch *req, void **reply,
                    size_t *len)
{
    if (!dev->link) {
        return -ENOTCONN;
    }
    if (!dev->link->vq_fetch) {
        return -ENOTSUP;
    }
    return dev->link->vq_fetch(dev->link_opaque, req, reply, len);
}

int dm_dma_vq_rings(DmDevice *dev, const VupDmVqRings *r)
{
    if (!dev->link) {
        return -ENOTCONN;
    }
    if (!dev->link->vq_rings) {
        return -ENOTSUP;
    }
    return dev->link->vq_rings(dev->link_opaque, r);
}

int dm_dma_vq_recheck(DmDevice *dev, const VupDmVqRecheck *r)
{
    if (!dev->link) {
        return -ENOTCONN;
    }
    if (!dev->link->vq_recheck) {
        return -ENOTSUP;
    }
    return dev->link->vq_recheck(dev->link_opaque, r);
}

bool dm_dma_vq_pushed(DmDevice *dev, uint32_t cookie, uint16_t *first,
                      const void **buf, size_t *len)
{
    if (!dev->push.set || dev->push.cookie != cookie) {
        return false;
    }
    dev->push.set = false;
    *first = dev->push.first;
    *buf = dev->push.buf;
    *len = dev->push.len;
    return true;
}

bool dm_device_push_kick(DmDevice *dev, unsigned region, uint64_t offset,
                         uint32_t cookie, uint16_t first, const void *buf,
                         size_t len)
{
    bool rang;

    dev->push.set = true;
    dev->push.cookie = cookie;
    dev->push.first = first;
    dev->push.buf = buf;
    dev->push.len = len;
    rang = dm_doorbells_ring(&dev->doorbells, region, offset);
    /* Not taken (another queue's, a queue not ready): gone with the kick. */
    dev->push.set = false;
    dev->push.buf = NULL;
    return rang;
}

/* ---- Interrupts, for models (the table is irq.c's) ---- */

int dm_device_init_irq(DmDevice *dev, unsigned index, uint32_t count,
                       uint32_t info_flags)
{
    return dm_irq_init_index(&dev->irqs, index, count, info_flags);
}

bool dm_irq_uses_messages(DmDevice *dev)
{
    return dev->is_pci && (dm_irq_msg_wired(&dev->irqs, VUP_PCI_MSIX_IRQ_INDEX) ||
                           dm_irq_msg_wired(&dev->irqs, VUP_PCI_MSI_IRQ_INDEX));
}

void dm_irq_raise(DmDevice *dev, unsigned vector)
{
    if (dev->is_pci && dm_irq_msg_wired(&dev->irqs, VUP_PCI_MSIX_IRQ_INDEX)) {
        dm_irq_signal(&dev->irqs, VUP_PCI_MSIX_IRQ_INDEX, vector);
    } else if (dev->is_pci &&
               dm_irq_msg_wired(&dev->irqs, VUP_PCI_MSI_IRQ_INDEX)) {
        dm_irq_signal(&dev->irqs, VUP_PCI_MSI_IRQ_INDEX, vector);
    } else {
        /* INTx for PCI, line 0 of a platform device: the same index. */
        dm_irq_set_level(&dev->irqs, 0, 0, true);
    }
}

bool dm_irq_raise_cond(DmDevice *dev, unsigned vector,
                       const VupDmVqIrq *cond)
{
    unsigned index = VUP_PCI_MSIX_IRQ_INDEX;

    if (!dev->is_pci || !dev->link || !dev->link->send_irq_cond) {
        return false;
    }
    if (!dm_irq_msg_wired(&dev->irqs, index)) {
        index = VUP_PCI_MSI_IRQ_INDEX;
    }
    if (!dm_irq_message_ready(&dev->irqs, index, vector)) {
        return false;
    }
    return dev->link->send_irq_cond(dev->link_opaque, index, vector, cond);
}

bool dm_device_vm_stopped(DmDevice *dev)
{
    return dev->vm_stopped;
}

void dm_device_set_vm_stopped(DmDevice *dev, bool stopped)
{
    if (dev->vm_stopped == stopped) {
        return;
    }
    dev->vm_stopped = stopped;
    if (dev->model && dev->model->vm_stopped_changed && dev->state) {
        dev->model->vm_stopped_changed(dev);
    }
}

int dm_device_control(DmDevice *dev, uint32_t type, uint64_t value)
{
    if (!dev->model || !dev->model->control || !dev->state) {
        return -ENOTSUP;
    }
    return dev->model->control(dev, type, value);
}

void dm_device_event(DmDevice *dev, uint32_t type, int64_t value)
{
    if (dev->link && dev->link->send_event) {
        dev->link->send_event(dev->link_opaque, type, value);
    }
}

void dm_irq_lower(DmDevice *dev, unsigned vector)
{
    if (!dm_irq_uses_messages(dev)) {
        dm_irq_set_level(&dev->irqs, 0, 0, false);
    }
}
