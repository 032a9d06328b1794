/*
 * The virtio 1.x modern PCI transport (virtio 1.2 section 4.1), for any
 * virtio model: the four vendor capabilities in BAR4 (common config at
 * 0x0000, ISR 0x1000, device config 0x2000, notify 0x3000 with a 4-byte
 * stride per queue), MSI-X in BAR1 (a vector per queue plus config,
 * INTx and the ISR as the fallback), feature negotiation, the status
 * state machine and reset, split virtqueues.
 *
 * A model embeds a DmVirtio in its state, calls dm_virtio_pci_init()
 * from realize and gets its queue kicks, config accesses and resets
 * through DmVirtioOps.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_VIRTIO_PCI_H
#define DM_VIRTIO_PCI_H

#include "virtq.h"

#define DM_VIRTIO_MAX_QUEUES 64

/* Feature bits (virtio 1.2 section 6). */
#define VIRTIO_F_INDIRECT_DESC  28
#define VIRTIO_F_EVENT_IDX      29
#define VIRTIO_F_VERSION_1      32

/* Device status (section 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE   1
#define VIRTIO_STATUS_DRIVER        2
#define VIRTIO_STATUS_DRIVER_OK     4
#define VIRTIO_STATUS_FEATURES_OK   8
#define VIRTIO_STATUS_NEEDS_RESET   64
#define VIRTIO_STATUS_FAILED        128

/* BAR4 layout. */
#define DM_VIRTIO_COMMON_OFF    0x0000
#define DM_VIRTIO_ISR_OFF       0x1000
#define DM_VIRTIO_DEVICE_OFF    0x2000
#define DM_VIRTIO_NOTIFY_OFF    0x3000
#define DM_VIRTIO_NOTIFY_MULT   4
#define DM_VIRTIO_BAR           4
#define DM_VIRTIO_BAR_SIZE      0x4000
#define DM_VIRTIO_MSIX_BAR      1
/* An MSI-X vector register's "none" (config_msix_vector, a queue's). */
#define DM_VIRTIO_NO_VECTOR     0xffff

typedef struct DmVirtioOps {
    /* Device-specific config (BAR4 0x2000): little-endian bytes. */
    void (*config_read)(void *opaque, uint32_t offset, void *buf,
                        unsigned len);
    void (*config_write)(void *opaque, uint32_t offset, const void *buf,
                         unsigned len);
    /* The driver kicked queue @q (it is enabled, the driver is ready). */
    void (*queue_notify)(void *opaque, unsigned q);
    /*
     * The device is reset (status 0, DEVICE_RESET, or the framework's
     * reset): forget requests; the transport has quiesced the device.
     */
    void (*reset)(void *opaque);
    /*
     * Optional: the driver starts (its first status write after a
     * reset): the last moment to size the device to its client, e.g.
     * with dm_virtio_set_num_queues.
     */
    void (*driver_starting)(void *opaque);
    /*
     * Optional: the driver's features are accepted (FEATURES_OK): the
     * moment to set up what depends on them (a tap's offloads).
     */
    void (*features_ok)(void *opaque);
    /*
     * Optional: a client took the device over (the fork reconnecting, a
     * migration target's activation) while the driver runs: before the
     * queues are served again, resync each parked one (dm_virtq_resync)
     * and finish what the lost link left half done, each request once.
     * Without it, a parked queue is resynced and simply goes on.
     */
    void (*resume)(void *opaque);
} DmVirtioOps;

typedef struct DmVirtio DmVirtio;

/* A queue's doorbell: its notify address, rung by eventfd or by write. */
typedef struct DmVirtioKick {
    DmVirtio *v;
    unsigned q;
} DmVirtioKick;

struct DmVirtio {
    DmDevice *dev;
    const DmVirtioOps *ops;
    void *opaque;
    uint64_t host_features;
    uint64_t guest_features;
    uint32_t device_feature_select, driver_feature_select;
    uint8_t status;
    uint8_t isr;
    uint8_t config_generation;
    uint16_t config_msix_vector;
    uint16_t queue_select;
    unsigned num_queues;        /* what the driver sees */
    unsigned max_queues;        /* what init set up (MSI-X, journals) */
    uint32_t config_size;
    /* Restored DRIVER_OK from a state file: the rings wait for memory. */
    bool recovering;
    /* Catching up after the client (re)wired us, once the VM runs. */
    DmVmTimer resume_timer;
    /*
     * The client (dm_dma_link_id) the rings were last in step with: a
     * new one may lack posted writes an old one lost, and the queues
     * wait for the resume that checks (DmVirtioOps.resume).
     */
    uint64_t synced_link;
    uint8_t pci_cfg_cap;        /* offset of the PCI_CFG capability */
    DmVirtqJournal *journals;   /* num_queues, in crash-proof memory */
    /* max_queues of each, allocated by init: 64 in place were 140 KB. */
    DmVirtq *vq;
    DmVirtioKick *kicks;
};

/*
 * Set up the PCI identity (vendor 0x1af4, device 0x1040 + @virtio_id),
 * BARs, capabilities, MSI-X with @num_queues + 1 vectors, INTx, the
 * regions and IRQ indexes.  @features: the device's own bits
 * (VERSION_1, INDIRECT_DESC and EVENT_IDX are added).  0 or -errno.
 */
int dm_virtio_pci_init(DmVirtio *v, DmDevice *dev, uint16_t virtio_id,
                       uint16_t class_code, uint64_t features,
                       unsigned num_queues, uint16_t queue_size,
                       uint32_t config_size, const DmVirtioOps *ops,
                       void *opaque);

/*
 * Show the driver @n queues of the max_queues set up, while it has not
 * started (status 0): 0 or -EINVAL.  The state saved keeps the count.
 */
int dm_virtio_set_num_queues(DmVirtio *v, unsigned n);

/* Did the driver accept feature @bit? */
static inline bool dm_virtio_has(const DmVirtio *v, unsigned bit)
{
    return v->guest_features & (1ULL << bit);
}

/* Is the driver ready for requests (DRIVER_OK, not NEEDS_RESET)? */
bool dm_virtio_ready(const DmVirtio *v);

/* Is a queue parked (the link was lost), waiting for the next client? */
bool dm_virtio_parked(const DmVirtio *v);

/* Used buffers were added to queue @q: interrupt the driver if it wants. */
void dm_virtio_notify(DmVirtio *v, unsigned q);

/*
 * A queue served by an I/O thread (model.h) after used buffers were
 * added: dm_virtio_notify's question (EVENT_IDX aware) and, if the
 * driver wants an interrupt, MSI-X through its eventfd.  True when the
 * interrupt is still due and only the loop can raise it (INTx, a vector
 * by messages or masked): dm_virtio_queue_irq there.
 */
bool dm_virtio_notify_thread(DmVirtio *v, unsigned q);
/* On the loop: interrupt the driver for queue @q (asked already). */
void dm_virtio_queue_irq(DmVirtio *v, unsigned q);
/*
 * In step with the client (no queue parked, no restart or new client to
 * catch up with): a queue may go to an I/O thread.
 */
bool dm_virtio_in_step(DmVirtio *v);

/* The device-specific config changed: generation, config interrupt. */
void dm_virtio_config_changed(DmVirtio *v);

/*
 * The driver broke a rule (a bad ring, a bad request layout): log @why,
 * set DEVICE_NEEDS_RESET and tell the driver; nothing more is served
 * until it resets the device.  Unless the link to guest memory is lost
 * (dm_dma_link_lost): no fault of the guest's, the queues park instead.
 */
void dm_virtio_broken(DmVirtio *v, const char *why);

/* The framework's reset (DEVICE_RESET): as a driver's write of 0. */
void dm_virtio_reset(DmVirtio *v);

/*
 * Surviving a restart (the model's save, load and irqs_changed call
 * these).  The transport's set-up is saved whenever the driver changes
 * it (dm_device_state_changed), the queues keep a journal of chains in
 * flight in crash-proof memory; a process started again with the state
 * recovers each ring from the journal and guest memory once the client
 * is back, runs again what was in flight, serves what was made
 * available meanwhile and interrupts the driver once per queue, so
 * nothing is lost and nothing is completed twice.
 */
void dm_virtio_save(DmVirtio *v, DmStateOut *out);
/* Check and take a saved set-up; a bad one fails @in. */
void dm_virtio_load(DmVirtio *v, DmStateIn *in);
/*
 * The client (re)wired interrupts: recover if needed and catch up, once
 * the VM runs (a VM being restored has no rings in its memory yet).
 */
void dm_virtio_irqs_changed(DmVirtio *v);

/* SIGUSR1: the status, features and every queue, logged. */
void dm_virtio_dump(DmVirtio *v);

/* Free what dm_virtio_pci_init took (from the model's unrealize). */
void dm_virtio_pci_cleanup(DmVirtio *v);

#endif /* DM_VIRTIO_PCI_H */
