/*
 * The model API: what a device model declares and what it may call.
 * A model is one file: a DmModel with its state size and properties,
 * register callbacks per region, and DM_MODEL_REGISTER.  It never sees
 * the protocol or the session; docs/writing-a-model.md walks through
 * edu as the example.
 *
 * Everything here runs in the event loop's thread (see loop.h), except
 * what "I/O threads" below allows a model's own threads.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_MODEL_H
#define DM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vup/dm-ext.h"
#include "vup/proto.h"
#include "doorbell.h"
#include "loop.h"
#include "mapped.h"
#include "props.h"
#include "state.h"
#include "vmclock.h"
#include "work.h"

typedef struct DmDevice DmDevice;
typedef struct DmPci DmPci;

/*
 * Register access of a region, like QEMU's MemoryRegionOps.  An access
 * whose size is outside valid (0: any) reads as all ones and is dropped
 * on write; an access wider than impl.max_access_size (0: 8) reaches
 * the callbacks as aligned pieces.
 */
typedef struct DmRegionOps {
    uint64_t (*read)(void *opaque, uint64_t addr, unsigned size);
    void (*write)(void *opaque, uint64_t addr, uint64_t val, unsigned size);
    struct {
        unsigned min_access_size;
        unsigned max_access_size;
    } valid;
    struct {
        unsigned max_access_size;
    } impl;
} DmRegionOps;

typedef enum DmBus {
    DM_BUS_PCI,                 /* config space, BARs, INTx/MSI/MSI-X */
    DM_BUS_PLATFORM,            /* vfio "platform": region 0, IRQ line 0 */
} DmBus;

typedef struct DmModel {
    const char *name;
    const char *description;
    DmBus bus;
    /* Bytes of state, zeroed and given to the model as dev->state. */
    size_t state_size;
    /* Properties, stored into the state before realize (DM_PROP_END). */
    const DmProp *props;
    /*
     * Fill in regions, IRQs and (PCI) config space through dev->pci;
     * -errno on failure, with one log line saying why.
     */
    int (*realize)(DmDevice *dev);
    /* Back to power-on state (DEVICE_RESET). */
    void (*reset)(DmDevice *dev);
    /*
     * Optional: return only when I/O the model started itself (not
     * through dm_work_submit, which the framework drains first) is done.
     * Called before a DMA unmap, a reset, a client's loss or hand-over.
     */
    void (*quiesce)(DmDevice *dev);
    /*
     * Optional: the client is taking [iova, iova + size) away (DMA_UNMAP,
     * or everything when it goes): drop pointers into it, such as cached
     * ring addresses.  Runs after quiesce, before the unmap.
     */
    void (*dma_unmapped)(DmDevice *dev, uint64_t iova, uint64_t size);
    /*
     * Optional: the client (re)wired the device's interrupts, as a
     * client does when it connects or comes back: a model restarted
     * with its state (or one whose client was away) may catch up on
     * requests and interrupts now.
     */
    void (*irqs_changed)(DmDevice *dev);
    /*
     * Optional: write the device's state (dm_state_put_*), and read it
     * back in the same order (dm_state_get_*), checking every value as
     * if a guest had written it; a file from an older state_version may
     * come.  With both, "dm-remote serve --state-file" keeps the state
     * across a restart.
     */
    uint32_t state_version;
    void (*save)(DmDevice *dev, DmStateOut *out);
    void (*load)(DmDevice *dev, DmStateIn *in, uint32_t version);
    /*
     * Optional: log what a person debugging a stuck guest needs (queue
     * indexes, requests in flight), one dm_info line per item; called
     * on SIGUSR1 ("kill -USR1 PID": the process goes on serving).
     */
    void (*dump)(DmDevice *dev);
    /*
     * Optional: dm_device_vm_stopped changed.  A model that writes guest
     * memory of its own accord (a network card's received frames) holds
     * it while stopped and catches up here when the VM runs again.
     */
    void (*vm_stopped_changed)(DmDevice *dev);
    /*
     * Optional: the VM's management sets something of the device that
     * is not the guest's (VUP_DM_CONTROL_* of vup/dm-ext.h, from QMP's
     * set_link through the fork): 0, -ENOTSUP for a control the model
     * does not have, -EINVAL for a value it does not take.
     */
    int (*control)(DmDevice *dev, uint32_t type, uint64_t value);
    /* Free what realize took; the state itself is freed for the model. */
    void (*unrealize)(DmDevice *dev);
} DmModel;

/* Models register themselves: DM_MODEL_REGISTER(dm_model_edu); */
void dm_model_register(const DmModel *model);
#define DM_MODEL_REGISTER(m)                                            \
    static void __attribute__((constructor)) dm_model_register_##m(void) \
    {                                                                   \
        dm_model_register(&(m));                                        \
    }

/* The registered models, by name, and in name order. */
const DmModel *dm_model_find(const char *name);
void dm_model_list(void (*cb)(const DmModel *m, void *opaque), void *opaque);
/* @model's property @name, or NULL. */
const DmProp *dm_model_find_prop(const DmModel *model, const char *name);

/* ---- Setup, from realize ---- */

void dm_device_init_region(DmDevice *dev, unsigned index, uint64_t size,
                           const DmRegionOps *ops, void *opaque);
/*
 * A doorbell at [@offset, +@size) of region @index (after its
 * dm_device_init_region): a write there, of any value, calls @fn(@opaque)
 * instead of the region's write callback.  @size 1, 2, 4 or 8, or 0 for
 * a write of any width at @offset (a virtio notify: Linux writes 16 bits,
 * others 32).  The client may ring it through an eventfd instead of a
 * message (GET_REGION_IO_FDS, on one host): @fn runs from the loop then,
 * after every message the client sent before.  0 or -errno.
 */
int dm_device_add_doorbell(DmDevice *dev, unsigned index, uint64_t offset,
                           uint32_t size, DmDoorbellFn *fn, void *opaque);
/*
 * Make [@offset, +@size) of region @index (after its
 * dm_device_init_region) plain memory, which a client on the same host
 * maps into its guest (GET_REGION_INFO passes a memfd of the region):
 * guest accesses there reach no callback and send no message.  @offset
 * and @size are multiples of the page size (4096), inside the region,
 * overlapping no other area and no doorbell; a region may have several
 * (up to DM_MAX_MAPPED_AREAS in all), the rest of it stays registers.
 * Returns the area's memory, zeroed, @size bytes the model reads and
 * writes as it likes until unrealize; NULL on failure (logged).
 *
 * Accesses that come as messages (over TCP, or from a client that did
 * not map) read and write the same memory, so the model sees one truth
 * either way; nothing tells it of a guest's access, it looks when it
 * wants to (a framebuffer's scan-out).  The memory is not part of saved
 * state: a model that must keep it puts it in its save callback.
 */
void *dm_device_add_mappable(DmDevice *dev, unsigned index, uint64_t offset,
                             uint64_t size);
/*
 * Declare the mappable area at @offset of region @index (as added) the
 * guest's alone: the model reads it and never writes it (a
 * framebuffer).  A client that cannot map it (over TCP) may then keep
 * it in its own memory and send the pages the guest dirtied, at a
 * bounded rate (dm_dirty_pages, docs/protocol.md): after each run of
 * pages lands in the area, from the loop, @fn(@opaque, @index, offset,
 * size) (may be NULL).  Without this call such a client traps every
 * access, which is right for memory the model writes too.  0 or -errno.
 */
int dm_device_mappable_guest_only(DmDevice *dev, unsigned index,
                                  uint64_t offset, DmMappedWrittenFn *fn,
                                  void *opaque);
/* Where a platform device sits unless the client says otherwise. */
void dm_device_set_isa_defaults(DmDevice *dev, unsigned index,
                                uint32_t iobase, uint32_t irq);
int dm_device_init_irq(DmDevice *dev, unsigned index, uint32_t count,
                       uint32_t info_flags);
DmLoop *dm_device_loop(DmDevice *dev);
/*
 * How many vCPUs the client's VM has, as it said when it connected
 * (dm_vcpus); 0 without a client or when it did not say.
 */
unsigned dm_device_client_vcpus(DmDevice *dev);
/*
 * The accelerator the client's VM runs on ("kvm", "tcg": dm_accel), as it
 * said when it connected; "" without a client or when it did not say.
 */
const char *dm_device_client_accel(DmDevice *dev);
/* The model's state (DmModel.state_size bytes) and, on PCI, config space. */
void *dm_device_state(DmDevice *dev);
DmPci *dm_device_pci(DmDevice *dev);

/* ---- Interrupts ---- */

/*
 * Raise interrupt @vector: through MSI-X or MSI when the client wired
 * them, else by raising the INTx (or platform) line, which stays high
 * until dm_irq_lower.  Lowering is a no-op for message interrupts.
 */
void dm_irq_raise(DmDevice *dev, unsigned vector);
void dm_irq_lower(DmDevice *dev, unsigned vector);
/*
 * Raise MSI-X or MSI @vector only if the driver still wants it, which
 * the client decides from guest memory when the message reaches it
 * (@cond: a virtqueue's used_event, vup/dm-ext.h's VupDmVqIrq): where
 * memory is reached by messages this saves a round trip per interrupt.
 * false, and nothing sent, when the vector is not wired to messages or
 * is masked, or the client cannot: then decide and raise as usual.
 */
bool dm_irq_raise_cond(DmDevice *dev, unsigned vector,
                       const VupDmVqIrq *cond);
/* Does dm_irq_raise send messages (MSI-X, MSI) rather than a line? */
bool dm_irq_uses_messages(DmDevice *dev);

/* ---- DMA into the client's memory ---- */

/*
 * Copy between the client's memory and @buf: 0 or -errno (-EFAULT when
 * the range is not mapped by the client, -ENOTCONN without a client).
 * Works whether memory is shared (a memcpy) or not (messages).
 */
int dm_dma_read(DmDevice *dev, uint64_t addr, void *buf, uint64_t len);
int dm_dma_write(DmDevice *dev, uint64_t addr, const void *buf,
                 uint64_t len);

/*
 * After a DMA call failed: was it the link, not the address?  True when
 * there is no client, or its session's stream failed (a timeout, a
 * reset, a closed socket): the guest did nothing wrong, and the device
 * should wait for the next client (the fork reconnecting) instead of
 * failing the request.  False: the address is the guest's fault.
 */
bool dm_dma_link_lost(DmDevice *dev);

/*
 * Is a DMA write to @addr posted (sent without waiting for the client
 * to apply it)?  Then a write that returned 0 may still be lost with
 * the link, until a later round trip (a read's reply) proves it landed.
 */
bool dm_dma_posted(DmDevice *dev, uint64_t addr);

/*
 * Which client drives the device: a number that changes whenever one
 * takes it (a reconnection, a migration target's activation), 0 for
 * none.  A device that remembers what it wrote to one client's memory
 * compares it to know when that memory must be looked at again.
 */
uint64_t dm_dma_link_id(DmDevice *dev);

/*
 * Zero-copy: the host addresses of [addr, addr + len) in the client's
 * shared memory, as up to @max_iov pieces.  The number of pieces, or
 * -ENOTSUP (not shared, e.g. across hosts: copy with dm_dma_read/write),
 * -EFAULT (not mapped, or not @write-able / readable), -ENOBUFS (more
 * than @max_iov pieces), -ENOTCONN.  The pieces stay valid until the
 * model's dma_unmapped callback says otherwise.
 */
int dm_dma_iov(DmDevice *dev, uint64_t addr, uint64_t len, bool write,
               struct iovec *iov, unsigned max_iov);

/*
 * Where guest memory is reached by messages (TCP) and the client offers
 * it: take chains of a split virtqueue in one exchange (VUP_CMD_DM_VQ_
 * FETCH in vup/dm-ext.h; virtq.c is its user).  The raw reply payload
 * in @reply (malloc()ed, the caller frees it), which the caller checks
 * field by field.  -ENOTSUP when memory is shared (walk it directly) or
 * the client does not serve it, -ENOTCONN, or the reply's -errno.
 */
int dm_dma_vq_fetch(DmDevice *dev, const VupDmVqFetch *req, void **reply,
                    size_t *len);

/*
 * Chains pushed with the kick (dm_vq_push, vup/dm-ext.h): tell the
 * client where a queue's rings are and which doorbell kicks it (@r, its
 * cookie not 0), posted.  0, or -ENOTSUP where the client does not push
 * (shared memory, no dm_vq_push), -ENOTCONN.
 */
int dm_dma_vq_rings(DmDevice *dev, const VupDmVqRings *r);
/*
 * Ask the client to look at a queue's available index and ring its
 * doorbell if chains came (DM_VQ_RECHECK, posted): 0, or -ENOTSUP
 * (no dm_vq_push, shared memory), -ENOTCONN: then look yourself.
 */
int dm_dma_vq_recheck(DmDevice *dev, const VupDmVqRecheck *r);
/*
 * While the handler of a doorbell rung by a DM_VQ_KICK runs (the loop's
 * thread only): the chains that came with it, if @cookie is the one the
 * push names.  The ring entry of its first chain and the bytes after
 * the kick's header (a DM_VQ_FETCH reply's, unchecked), valid until the
 * handler returns.  Each push is given once.
 */
bool dm_dma_vq_pushed(DmDevice *dev, uint32_t cookie, uint16_t *first,
                      const void **buf, size_t *len);

/* ---- Events for the VM's management ---- */

/*
 * Something the VM's management hears of from a local device (a QMP
 * event): @type is a VUP_DM_EVENT_* of vup/dm-ext.h, @value its datum.
 * Sent to a client that takes them (dm_events, the fork turns it into
 * the QMP event); dropped otherwise, as an event nobody listens to is.
 */
void dm_device_event(DmDevice *dev, uint32_t type, int64_t value);

/* ---- Time (see vmclock.h) ---- */

/*
 * The device's VM clock: guest time, stopped while the VM is paused.
 * Models time what the guest sees with VM timers on it:
 *   dm_vm_timer_init(&s->timer, dm_device_vm_clock(dev), cb, s);
 *   dm_vm_timer_mod(&s->timer, delay_ns);
 * and dm_vm_timer_destroy() them in unrealize.  The loop's host timers
 * (loop.h) stay for what the host times: retries, timeouts.
 */
DmVmClock *dm_device_vm_clock(DmDevice *dev);

/* ---- Surviving a crash (dm-remote serve --state-file) ---- */

/*
 * The model's saved state changed in a way a restarted process must
 * find (the driver set the device up or reset it): written now when the
 * server keeps state.  Past 64 such writes, one a 100 ms at most, the
 * changes of a 100 ms going together: a guest that changes its set-up
 * in a loop does not make the server write and fsync its disk in a
 * loop.  For set-up, not for every request.
 */
void dm_device_state_changed(DmDevice *dev);
/*
 * In the model's save: true when the save is one of
 * dm_device_state_changed's, made while the device runs, false for a
 * clean stop's.  What the guest may consume meanwhile (received bytes
 * waiting in a FIFO) belongs only in the latter: restored from the
 * former, the guest could take it twice.
 */
bool dm_device_saving_setup(const DmDevice *dev);

/*
 * @size bytes that outlive a SIGKILL of the process when the server
 * keeps state (persist.h), for a journal of requests in flight; zeros on
 * a fresh start.  Once, from realize; NULL on failure.
 */
void *dm_device_persistent(DmDevice *dev, size_t size);

/* ---- Asynchronous work (see work.h) ---- */

/*
 * Run @fn(@w) on a worker thread, then @done(@w) on the loop.  @w stays
 * the caller's and must live until @done runs.  0 or -errno.
 */
int dm_work_submit(DmDevice *dev, DmWork *w, DmWorkFn *fn, DmWorkDone *done,
                   void *opaque);

/*
 * Wait for the device's requests in flight: its submitted work, then the
 * model's own quiesce.  The framework calls it before a reset, a DMA
 * unmap, a client's loss; a model calls it when its driver resets it.
 */
void dm_device_quiesce(DmDevice *dev);

/*
 * Has the client stopped its VM (a pause, a migration's last pass, a
 * save)?  From a client's report that its VM went from running to not
 * running, until it (or the client that takes over) says it runs again;
 * never for a client whose clock only steps (qtest) or that does not
 * report.  Guest memory written meanwhile may be lost to a migration:
 * write none of your own accord (vm_stopped_changed says when to go on).
 */
bool dm_device_vm_stopped(DmDevice *dev);

/* ---- I/O threads ---- */

/*
 * A model may serve a queue of requests on a thread of its own (virtio-
 * blk's iothread=on) while the queue's rings are in shared memory (one
 * host): the thread then calls nothing of this API but dm_dma_read,
 * dm_dma_write, dm_dma_iov, dm_dma_link_lost, dm_dma_posted and
 * dm_irq_raise_direct, after dm_io_thread_enter.  Rules the model keeps:
 *  - the model's quiesce stops and joins the thread: the framework
 *    quiesces before every DMA_MAP and DMA_UNMAP (the table of windows
 *    changes under no thread), a reset, a client's loss and a VM's stop;
 *  - the loop does not touch what the thread owns (its queue) until it
 *    has joined it; everything else (messages to the client, the
 *    device's status) the thread hands to the loop.
 */

/*
 * The calling thread is a model's I/O thread from now on: its DMA
 * reaches shared memory only, never sending a message (the session's
 * stream is the loop's).  A DMA into a window without memory of ours
 * fails with -ENOTSUP (dm_dma_iov as ever), and from then on
 * dm_dma_link_lost says true on this thread: the model leaves what it
 * could not finish (nothing was taken off a ring) to the loop, as for a
 * lost link, and ends the thread.  No other failure is the link's there.
 */
void dm_io_thread_enter(void);

/*
 * From an I/O thread: raise MSI-X (or MSI) @vector through the eventfd
 * the client wired it to: true.  False, with nothing done, where that
 * cannot be done from a thread (a vector by messages, masked, unwired,
 * INTx): the loop must raise it (dm_irq_raise).
 */
bool dm_irq_raise_direct(DmDevice *dev, unsigned vector);

/*
 * An I/O thread takes the eventfd of the doorbell at @offset of region
 * @index off the loop, to watch it itself: the fd, or -1 (no client, no
 * eventfd, no such doorbell, or taken already).  It stays the device's
 * (closed when the client goes); the loop watches it again after
 * dm_device_doorbell_give_back, which the model calls once the thread
 * is joined, before the client can go.  On the loop.
 */
int dm_device_doorbell_take(DmDevice *dev, unsigned index, uint64_t offset);
void dm_device_doorbell_give_back(DmDevice *dev, unsigned index,
                                  uint64_t offset);

#endif /* DM_MODEL_H */
