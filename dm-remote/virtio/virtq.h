/*
 * Split virtqueues (virtio 1.2 section 2.7), on the device side, for
 * any virtio model: take the next chain the driver made available,
 * give it back used.  Every value in guest memory is the guest's and is
 * checked: a ring that breaks a rule makes dm_virtq_pop() fail, and the
 * transport puts the device in DEVICE_NEEDS_RESET.
 *
 * Guest memory is reached through the model API's DMA calls, so the
 * same code serves shared memory (one host) and DMA messages (TCP).
 * With messages, and a client that offers it, chains are taken in one
 * exchange (dm_dma_vq_fetch) instead of one message per descriptor; the
 * client's answer is checked as if the guest had written it.
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

/*
 * A queue's journal of chains in flight, in memory that outlives a crash
 * (dm_device_persistent): a model started again after a SIGKILL learns
 * from it which chains to run again and where the rings stand, instead
 * of guessing (the scheme of vhost-user's inflight tracking).
 */
typedef struct DmVirtqJournal {
    uint16_t used_idx;          /* the used index after our last push */
    uint16_t last_head;         /* the head of the push under way */
    uint16_t batch;             /* its chains, if more than one (0: 1) */
    uint16_t reserved;
    uint64_t seq;               /* pops so far */
    uint64_t popped[DM_VIRTQ_MAX_SIZE];  /* per head: its pop's seq, 0 */
    /*
     * Per used slot (index % size), the head we pushed there last: where
     * the used ring is written by posted messages (TCP), the pushes the
     * kill cut off before the client applied them are the heads of the
     * slots between the guest's used index and ours, to run again.
     */
    uint16_t used_head[DM_VIRTQ_MAX_SIZE];
} DmVirtqJournal;

typedef struct DmVirtq {
    DmDevice *dev;
    DmVirtqJournal *journal;    /* never NULL once set up */
    uint16_t size;              /* 0: the queue does not exist */
    uint16_t max_size;
    bool enabled;
    uint16_t msix_vector;       /* 0xffff: none */
    uint64_t desc, avail, used; /* guest addresses */
    uint16_t last_avail;        /* next entry of avail to take */
    uint16_t used_idx;          /* next entry of used to fill */
    /*
     * used_idx as far as the client is known to have applied it: where
     * writes are posted, a reply that came after them says so.
     */
    uint16_t acked_used;
    /*
     * The link went (a DMA failed with dm_dma_link_lost): nothing more
     * is taken or pushed until dm_virtq_resync with the next client.
     */
    bool parked;
    /*
     * Served by a model's I/O thread (set and cleared on the loop, the
     * thread not running): the transport on the loop leaves the queue's
     * state alone, its parked bit included, until the model joined it.
     */
    bool threaded;
    uint16_t signalled_used;    /* used_idx at the last interrupt */
    bool signalled_valid;
    bool event_idx;             /* VIRTIO_F_RING_EVENT_IDX negotiated */
    bool indirect;              /* VIRTIO_F_INDIRECT_DESC negotiated */
    bool no_kicks;              /* the device polls: kicks suppressed */
    /* After a restart: the heads in flight then, to pop again first. */
    uint16_t resubmit[DM_VIRTQ_MAX_SIZE];
    uint16_t nresubmit, resubmit_pos;
    /*
     * Where guest memory is reached by messages: chains taken in one
     * exchange with the client (dm_dma_vq_fetch), popped one by one.
     */
    struct {
        uint8_t *buf;           /* the client's reply, or NULL */
        size_t len, pos;        /* its size, the next chain's offset */
        unsigned left;          /* chains in it not popped yet */
        uint64_t gen;           /* changes whenever buf goes */
        bool active;            /* the last pop came from a fetch */
        bool event_due;         /* avail_event to write before the next */
        /*
         * Chains pushed with the kick (dm_vq_push): the rings were told
         * to the client of link push_link with this cookie (0: none yet).
         */
        uint32_t cookie;
        uint64_t push_link;
        bool push_told;         /* and the client took the message */
        bool from_push;         /* buf is a push that saw every chain */
        bool recheck;           /* dm_virtq_recheck_due's answer */
    } fetch;
    /* The queue's doorbell, told to the client with the rings. */
    bool has_bell;
    unsigned bell_region;
    uint64_t bell_offset;
    bool lazy_recheck;          /* dm_virtq_set_lazy_recheck */
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
    /*
     * The readable bytes, when a fetch brought them: valid while the
     * queue's fetch.gen is fetch_gen (dm_virtq_read falls back to DMA).
     */
    const DmVirtq *fetch_q;
    uint64_t fetch_gen;
    const uint8_t *out_data;
} DmVirtqElem;

/*
 * Back to the state after reset (size max_size, disabled), keeping
 * @journal as it is (a restarted process reads it before enabling).
 * Also from the model's unrealize, to free what a fetch left.
 */
void dm_virtq_reset(DmVirtq *q, DmDevice *dev, uint16_t max_size,
                    DmVirtqJournal *journal);
/*
 * The queue's doorbell (@offset of @region): a client that pushes chains
 * with the kick (dm_vq_push) learns the rings behind it.  Kept by reset.
 */
void dm_virtq_set_doorbell(DmVirtq *q, unsigned region, uint64_t offset);
/*
 * After the chains of a push that saw every chain the driver had made
 * available, dm_virtq_pop does not ask the client for more at once (a
 * round trip before the requests even start) but says none: the model
 * promises to ask dm_virtq_recheck_due once it has answered a request
 * of the queue, and to take the queue's chains again if it says so.
 * Only a look that late can miss nothing: a driver that made a chain
 * available while the push was on its way may have read an old
 * avail_event and not kicked.  Kept by reset.
 */
void dm_virtq_set_lazy_recheck(DmVirtq *q, bool lazy);
/* Is a look at the ring owed (see above)?  Cleared by asking. */
bool dm_virtq_recheck_due(DmVirtq *q);
/*
 * That look, by the client (DM_VQ_RECHECK, posted): it kicks the queue
 * if chains came.  0, or <0 when it cannot (take the chains yourself).
 */
int dm_virtq_recheck_remote(DmVirtq *q);
/* The queue is enabled: start from index 0 with an empty journal. */
void dm_virtq_start(DmVirtq *q);

/*
 * After a restart, on an enabled queue whose set-up was restored: read
 * the used index from guest memory, settle the journal's push that was
 * under way, and make the chains still in flight pop again first.
 * 0, -EAGAIN while guest memory cannot be reached (no client yet), or
 * -EIO with a reason in @why (a guest or journal that breaks the rules).
 */
int dm_virtq_recover(DmVirtq *q, char *why, size_t whylen);

/*
 * Take the next available chain into @e: 1, 0 if none is available (or
 * the link to guest memory is gone: then the queue is parked and nothing
 * was taken), or -EIO with a reason in @why (a broken ring: the device
 * must need reset).
 */
int dm_virtq_pop(DmVirtq *q, DmVirtqElem *e, char *why, size_t whylen);

/*
 * Give @e back with @written bytes written into its buffers: 0, -EIO (a
 * used ring outside guest memory), or -ENOTCONN: the link is gone (or
 * the queue is parked), @e is still in flight, to push again after
 * dm_virtq_resync.
 */
int dm_virtq_push(DmVirtq *q, const DmVirtqElem *e, uint32_t written);
/*
 * Learn now that the client applied every answer we posted (a round
 * trip: the reply to a read of the used index comes after them on the
 * stream), so acked_used reaches used_idx.  For a model keeping answers
 * it may have to write again until they are known applied, when they
 * pile up.  0, or -ENOTCONN (the link is gone) or -EIO.
 */
int dm_virtq_confirm(DmVirtq *q);

/*
 * Give @n chains back at once: the driver sees them together, under one
 * move of the used index (a network card's frame spread over several
 * receive buffers, VIRTIO_NET_F_MRG_RXBUF, must not be seen in part).
 * 0 or -EIO.
 */
int dm_virtq_push_batch(DmVirtq *q, const DmVirtqElem *const *e,
                        const uint32_t *written, unsigned n);

/*
 * A new client took the device over after the link was lost (the fork
 * reconnecting): read the used index in guest memory and step ours back
 * to it.  Posted pushes that never reached the client are the chains
 * between the two: the model pushes them again, in the order it pushed
 * them, with what it wrote into them.  Returns how many (0 if none), or
 * -ENOTCONN (still no link: the queue stays parked), or -EIO with a
 * reason (an index the device never wrote).  The queue is unparked.
 */
int dm_virtq_resync(DmVirtq *q, char *why, size_t whylen);

/*
 * Park @q (see DmVirtq.parked) because of @why, logged with where the
 * rings stand and the link's id: nothing is taken or pushed until
 * dm_virtq_resync.  Already parked: nothing.
 */
void dm_virtq_park(DmVirtq *q, const char *why);

/*
 * Kicks, off while the device polls the ring anyway (without EVENT_IDX
 * the used ring's NO_NOTIFY flag; with it, avail_event stays where it
 * is, so the driver kicks once at most), and on again before it stops
 * polling: then true if chains came meanwhile, which the device must
 * take (their kick may have been suppressed).
 */
bool dm_virtq_set_kicks(DmVirtq *q, bool on);

/* After pushes: should the driver get an interrupt (EVENT_IDX aware)? */
bool dm_virtq_should_notify(DmVirtq *q);
/*
 * Where the last chains came by a ring fetch (memory by messages): the
 * question dm_virtq_should_notify answers, for the client to answer
 * (dm_irq_raise_cond) without a round trip; false if it cannot be asked
 * (then call dm_virtq_should_notify).  Once it went out,
 * dm_virtq_notify_cond_sent.
 */
bool dm_virtq_notify_cond(DmVirtq *q, VupDmVqIrq *c);
void dm_virtq_notify_cond_sent(DmVirtq *q);

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

/*
 * SIGUSR1: log queue @n's indexes, ours beside the ones in guest memory
 * (flags, avail and used indexes, both event indexes), in one line.
 */
void dm_virtq_dump(DmVirtq *q, unsigned n);

#endif /* DM_VIRTQ_H */
