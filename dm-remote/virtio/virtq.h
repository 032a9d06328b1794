/*
 * Split virtqueues (virtio 1.2 section 2.7), on the device side, for
 * any virtio model: take the next chain the driver made available,
 * give it back used.  Every value in guest memory is the guest's and is
 * checked: a ring that breaks a rule makes dm_virtq_pop() fail, and the
 * transport puts the device in DEVICE_NEEDS_RESET.
 *
 * Guest memory is reached through the model API's DMA calls, so the
 * same code serves shared memory (one host) and DMA messages (TCP).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_VIRTQ_H
#define DM_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"

#define DM_VIRTQ_MAX_SIZE 1024
/* Segments in one chain, indirect tables included (Linux: seg_max + 2). */
#define DM_VIRTQ_MAX_SEGS 130

typedef struct DmVirtq {
    DmDevice *dev;
    uint16_t size;              /* 0: the queue does not exist */
    uint16_t max_size;
    bool enabled;
    uint16_t msix_vector;       /* 0xffff: none */
    uint64_t desc, avail, used; /* guest addresses */
    uint16_t last_avail;        /* next entry of avail to take */
    uint16_t used_idx;          /* next entry of used to fill */
    uint16_t signalled_used;    /* used_idx at the last interrupt */
    bool signalled_valid;
    bool event_idx;             /* VIRTIO_F_RING_EVENT_IDX negotiated */
    bool indirect;              /* VIRTIO_F_INDIRECT_DESC negotiated */
} DmVirtq;

/* One buffer of a chain: guest address, length, written by the device? */
typedef struct DmVirtqSeg {
    uint64_t addr;
    uint32_t len;
    bool write;
} DmVirtqSeg;

/* A chain taken from the queue: its head and its buffers, in order. */
typedef struct DmVirtqElem {
    uint16_t head;
    unsigned nsegs;
    unsigned nout;              /* the first nout segments are readable */
    DmVirtqSeg segs[DM_VIRTQ_MAX_SEGS];
} DmVirtqElem;

/* Back to the state after reset (size max_size, disabled). */
void dm_virtq_reset(DmVirtq *q, DmDevice *dev, uint16_t max_size);

/*
 * Take the next available chain into @e: 1, 0 if none is available, or
 * -EIO with a reason in @why (a broken ring: the device must need reset).
 */
int dm_virtq_pop(DmVirtq *q, DmVirtqElem *e, char *why, size_t whylen);

/* Give @e back with @written bytes written into its buffers: 0 or -EIO. */
int dm_virtq_push(DmVirtq *q, const DmVirtqElem *e, uint32_t written);

/* After pushes: should the driver get an interrupt (EVENT_IDX aware)? */
bool dm_virtq_should_notify(DmVirtq *q);

/*
 * Copy between a chain's buffers and @buf: the readable ones from
 * @offset (dm_virtq_read), or the writable ones (dm_virtq_write).  The
 * bytes copied, or -errno.
 */
int64_t dm_virtq_read(DmDevice *dev, const DmVirtqElem *e, uint64_t offset,
                      void *buf, uint64_t len);
int64_t dm_virtq_write(DmDevice *dev, const DmVirtqElem *e, uint64_t offset,
                       const void *buf, uint64_t len);
/* Total bytes of the readable, and of the writable, buffers. */
uint64_t dm_virtq_out_len(const DmVirtqElem *e);
uint64_t dm_virtq_in_len(const DmVirtqElem *e);

#endif /* DM_VIRTQ_H */
