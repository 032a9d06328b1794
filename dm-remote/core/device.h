/*
 * A device as the server sees it: regions, interrupts, DMA and, for PCI
 * devices, a config space.  Models fill it in and describe their
 * registers; the protocol is not their business.
 *
 * All of it runs in the event loop's thread (see loop.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_DEVICE_H
#define DM_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "applied.h"
#include "doorbell.h"
#include "irq.h"
#include "mapped.h"
#include "persist.h"
#include "model.h"

/*
 * The device's link to its client, set by whoever serves it (the
 * session): the device never calls into the session, it calls these.
 */
typedef struct DmLinkOps {
    /* Copy to (@write) or from the client's memory: 0 or -errno. */
    int (*dma)(void *opaque, uint64_t addr, void *buf, uint64_t len,
               bool write);
    /* As dm_dma_iov. */
    int (*dma_iov)(void *opaque, uint64_t addr, uint64_t len, bool write,
                   struct iovec *iov, unsigned max_iov);
    /* Signal vector @sub of @index with a message (no eventfd). */
    void (*send_irq)(void *opaque, unsigned index, unsigned sub);
    /*
     * Optional: must an interrupt wired to an eventfd go as a message
     * now, behind what was sent before it (posted DMA writes)?
     */
    bool (*irq_in_band)(void *opaque);
    /*
     * Optional: has the client sent messages not served yet?  A doorbell
     * rung by eventfd waits for them (see doorbell.h).
     */
    bool (*busy)(void *opaque);
    /* As dm_irq_raise_cond, for a vector ready for messages; NULL: no. */
    bool (*send_irq_cond)(void *opaque, unsigned index, unsigned sub,
                          const VupDmVqIrq *cond);
    /* As dm_device_client_vcpus; NULL: 0. */
    unsigned (*client_vcpus)(void *opaque);
    /* As dm_device_client_accel; NULL: "". */
    const char *(*client_accel)(void *opaque);
    /* As dm_device_event; NULL: the event is dropped. */
    void (*send_event)(void *opaque, uint32_t type, int64_t value);
    /* As dm_dma_vq_fetch; NULL: -ENOTSUP. */
    int (*vq_fetch)(void *opaque, const VupDmVqFetch *req, void **reply,
                    size_t *len);
    /* As dm_dma_vq_recheck; NULL: -ENOTSUP. */
    int (*vq_recheck)(void *opaque, const VupDmVqRecheck *r);
    /* As dm_dma_vq_rings; NULL: -ENOTSUP. */
    int (*vq_rings)(void *opaque, const VupDmVqRings *r);
    /* As dm_dma_link_lost, for a link that exists; NULL: never. */
    bool (*lost)(void *opaque);
    /* As dm_dma_posted; NULL: no write is posted. */
    bool (*posted)(void *opaque, uint64_t addr);
} DmLinkOps;

typedef struct DmRegion {
    uint64_t size;              /* 0: the region does not exist */
    const DmRegionOps *ops;
    void *opaque;
    bool isa_defaults;          /* advertise isa_iobase / isa_irq */
    uint32_t isa_iobase;
    uint32_t isa_irq;
} DmRegion;

#define DM_MAX_REGIONS  VUP_PCI_NUM_REGIONS

/* What the command line gives a model: its "prop=value" list. */
typedef struct DmModelArgs {
    DmPropList props;
    const char *state_file;     /* --state-file, or NULL */
} DmModelArgs;

struct DmDevice {
    const DmModel *model;
    bool is_pci;                /* else a vfio "platform" device */
    DmRegion regions[DM_MAX_REGIONS];
    unsigned num_regions;
    DmIrqTable irqs;            /* irq.c's alone */
    DmDoorbells doorbells;      /* doorbell.c's alone */
    DmMapped mapped;            /* mapped.c's alone */
    DmPci *pci;
    DmLoop *loop;
    const DmLinkOps *link;      /* the connected client, or NULL */
    void *link_opaque;
    uint64_t link_id;           /* dm_dma_link_id: ++ at each attach */
    uint64_t links;             /* attaches so far */
    const DmModelArgs *args;
    void *state;                /* the model's own */
    DmWorkPool *work;           /* made at the first dm_work_submit */
    DmVmClock vm_clock;
    bool vm_stopped;            /* see dm_device_vm_stopped */
    DmPersist persist;          /* dm_device_persistent's */
    DmApplied applied;          /* applied.c's alone */
    bool state_write_failed;    /* said once */
    /* dm_device_state_changed's writes: a token bucket (state.c). */
    DmTimer state_timer;        /* no token left: the change waits */
    unsigned state_tokens;
    int64_t state_refill_ns;    /* CLOCK_MONOTONIC */
    uint64_t state_writes;      /* how many (tests) */
    bool saving_setup;          /* see dm_device_saving_setup */
    /* The chains of the DM_VQ_KICK being handled (dm_dma_vq_pushed). */
    struct {
        bool set;
        uint32_t cookie;
        uint16_t first;
        const void *buf;
        size_t len;
    } push;
};

int dm_device_realize(DmDevice *dev, const DmModel *model, DmLoop *loop,
                      const DmModelArgs *args);
void dm_device_unrealize(DmDevice *dev);
void dm_device_reset(DmDevice *dev);
/* The session: a client's reports made the VM stopped, or running. */
void dm_device_set_vm_stopped(DmDevice *dev, bool stopped);
/* The client's management sets a control (VUP_CMD_DM_CONTROL): the
 * model's answer, or -ENOTSUP when it has none. */
int dm_device_control(DmDevice *dev, uint32_t type, uint64_t value);
/*
 * A DM_VQ_KICK: ring the doorbell at @offset of @region with the push
 * (@cookie, @first, @buf of @len bytes) readable through
 * dm_dma_vq_pushed meanwhile.  false if there is no such doorbell.
 */
bool dm_device_push_kick(DmDevice *dev, unsigned region, uint64_t offset,
                         uint32_t cookie, uint16_t first, const void *buf,
                         size_t len);

/*
 * Save the model's state to @path (atomically) or load it from there:
 * 0 or -errno with a reason in @err (state.c).
 */
int dm_device_save_file(DmDevice *dev, const char *path, char *err,
                        size_t errlen);
int dm_device_load_file(DmDevice *dev, const char *path, char *err,
                        size_t errlen);
/* dm_device_save_file without the quiesce: what is in flight stays so. */
int dm_device_write_state(DmDevice *dev, const char *path, char *err,
                          size_t errlen);
/* A set-up change waits for its write: the state file is behind it. */
bool dm_device_state_behind(const DmDevice *dev);

/*
 * SIGUSR1: log the device's client, interrupts, doorbells and work in
 * flight, then the model's own dump.
 */
void dm_device_dump(DmDevice *dev);

/* The client (re)wired interrupts: the model's irqs_changed. */
void dm_device_irqs_changed(DmDevice *dev);

/* A client now drives the device through @link. */
void dm_device_attach(DmDevice *dev, const DmLinkOps *link, void *opaque);
/*
 * The client let go: quiesce, tell the model its memory is gone, drop
 * every interrupt wire; the device keeps its state for the next client.
 */
void dm_device_detach(DmDevice *dev);
/*
 * The client adds a window (DMA_MAP): quiesce first, so that no model's
 * I/O thread reads the table of windows while it changes.
 */
void dm_device_dma_mapping(DmDevice *dev);
/* The client takes [iova, iova + size) away: quiesce and tell the model. */
void dm_device_dma_unmapping(DmDevice *dev, uint64_t iova, uint64_t size);

/*
 * A client's read or write of @region (not PCI config space), bounds
 * checked: a mappable area's memory, a doorbell's handler, or the
 * region's callbacks.
 */
void dm_device_region_read(DmDevice *dev, unsigned region, uint64_t offset,
                           void *buf, uint32_t len);
void dm_device_region_write(DmDevice *dev, unsigned region, uint64_t offset,
                            const void *buf, uint32_t len);

/* Region access with 1, 2, 4 or 8 byte pieces; bounds already checked. */
void dm_region_read(DmRegion *r, uint64_t offset, void *buf, uint32_t len);
void dm_region_write(DmRegion *r, uint64_t offset, const void *buf,
                     uint32_t len);

#endif /* DM_DEVICE_H */
