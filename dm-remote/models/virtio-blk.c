/*
 * virtio-blk: a disk whose image is on the server, on the virtio-pci
 * transport (virtio 1.2 section 5.2).
 *
 *   dm-remote serve --model virtio-blk,file=IMAGE[,readonly=on]
 *                   [,serial=S][,queues=N|0][,queue_size=N][,nbd_timeout=S]
 *                   [,cache=none|writeback][,poll_us=N][,iothread=on]
 *                   [,irq_delay_us=auto|N][,inline_writes=off]
 *
 * IMAGE is a raw file or a block device (blk-file.c, locked against a
 * second writer; cache=none opens it with O_DIRECT, past the host's page
 * cache, cache=writeback, the default, through it), or an NBD export, nbd+unix:///EXPORT?socket=PATH or
 * nbd://HOST:PORT/EXPORT (blk-nbd.c, through libnbd: qcow2 and the other
 * formats of qemu-storage-daemon or qemu-nbd).  This file only chooses
 * the back end by that prefix (blk-backend.h).
 *
 * Requests IN, OUT, FLUSH, GET_ID, DISCARD, WRITE_ZEROES; anything else
 * is UNSUPP, a sector range past the end IOERR.  Back-end I/O never
 * blocks the event loop (files on an io_uring or the model API's worker
 * threads, NBD asynchronous on the loop), so it keeps serving register
 * accesses and other queues while requests are in flight.  A kick's
 * chains are taken between the back end's plug and unplug: one system
 * call submits them all.  Where guest memory is shared (one host) and the
 * back end takes iovecs (files), data goes straight between the image
 * and the guest's buffers (dm_dma_iov); else (across hosts, NBD) it is
 * copied through a buffer per request.  Pointers into guest memory live
 * only while their request is in flight, and the framework quiesces (the
 * back end's drain) before it unmaps guest memory.
 *
 * poll_us=N: after a kick's chains are taken, keep looking at the ring
 * for up to N microseconds for more (with kicks suppressed meanwhile),
 * where guest memory is shared; a zero-delay loop timer does the looking,
 * so the loop serves its other descriptors between two looks.  The status
 * of a FLUSH is written only after the back end's flush (fdatasync,
 * NBD_CMD_FLUSH) returned.  DISCARD and WRITE_ZEROES are offered when
 * the back end can do them; a back end that refuses writes makes the
 * disk read-only (VIRTIO_BLK_F_RO).
 *
 * iothread=on: each queue on a thread of its own (BlkIoThread below,
 * docs/dm-remote.md), where its rings are in shared memory and the back end
 * can give a queue its own io_uring: the thread watches the queue's
 * doorbell eventfd, its ring's completions and a stop eventfd, walks the
 * ring, submits, answers and raises MSI-X through its eventfd itself.
 * The hard parts: the table of DMA windows must not change under a
 * thread (the framework quiesces before DMA_MAP and DMA_UNMAP, and our
 * quiesce stops and joins every thread, each draining its ring first);
 * reset, the client's loss, a VM's stop and the end quiesce too; a queue
 * is the thread's alone while it runs (the loop pokes its doorbell for a
 * kick by message, and hands nothing else to it), and what only the loop
 * may do (an INTx or masked interrupt, NEEDS_RESET) comes back through an
 * eventfd.  A queue gets a thread again (a timer, or the next kick on
 * the loop) once nothing of it is in flight on the loop and it is in
 * step with the client: a parked queue (a lost link) never has one.  A
 * queue is disabled only by a reset (quiesced first); the state saved
 * (dm_virtio_save) is the queues' set-up, which no thread writes, and
 * the crash journal of a queue is its thread's, as its ring is.
 *
 * Every field of a request is the guest's: its layout, its sector range
 * and its size are checked; a request the device cannot even answer (no
 * room for the status byte) breaks the device (DEVICE_NEEDS_RESET).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <glib.h>

#include "bufpool.h"
#include "log.h"
#include "model.h"
#include "blk-backend.h"
#include "../virtio/virtio-pci.h"

#define VIRTIO_ID_BLOCK         2
#define PCI_CLASS_STORAGE_SCSI  0x0100

/* Feature bits (section 5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX       1
#define VIRTIO_BLK_F_SEG_MAX        2
#define VIRTIO_BLK_F_RO             5
#define VIRTIO_BLK_F_BLK_SIZE       6
#define VIRTIO_BLK_F_FLUSH          9
#define VIRTIO_BLK_F_TOPOLOGY       10
#define VIRTIO_BLK_F_MQ             12
#define VIRTIO_BLK_F_DISCARD        13
#define VIRTIO_BLK_F_WRITE_ZEROES   14

/* Request types and status. */
#define VIRTIO_BLK_T_IN             0
#define VIRTIO_BLK_T_OUT            1
#define VIRTIO_BLK_T_FLUSH          4
#define VIRTIO_BLK_T_GET_ID         8
#define VIRTIO_BLK_T_DISCARD        11
#define VIRTIO_BLK_T_WRITE_ZEROES   13
#define VIRTIO_BLK_S_OK             0
#define VIRTIO_BLK_S_IOERR          1
#define VIRTIO_BLK_S_UNSUPP         2

#define SECTOR_SIZE         512
#define ID_BYTES            20
#define SEG_MAX             126
#define SIZE_MAX_BYTES      (1u << 20)
/* The most one request may carry, and all requests in flight together. */
#define REQ_MAX_BYTES       (4u << 20)
#define INFLIGHT_MAX_BYTES  (64u << 20)
#define DISCARD_MAX_SECTORS (1u << 22)
#define WRITE_ZEROES_FLAG_UNMAP 1
/* queues=0: one per vCPU of the client's VM, up to this many. */
#define AUTO_MAX_QUEUES     4
/* irq_delay_us: its largest value, and auto's where holding pays. */
#define IRQ_DELAY_MAX_US    100000
#define IRQ_DELAY_AUTO_US   50
/* auto's hold doubles while holding pays, up to this many times that. */
#define IRQ_DELAY_AUTO_GROW 4
/* Pieces of guest memory one request's data may map to (zero-copy). */
#define REQ_MAX_IOV         256
/* Copies of requests' data kept for the next ones (bufpool.h), bytes. */
#define BUF_KEEP_BYTES      (16u << 20)
/*
 * Past this many bytes of reads' data kept with answers not known
 * applied (unacked, below), a round trip makes them known: else a
 * stream of 1 MiB reads, whose kicks bring their chains and no reply,
 * keeps a whole ring of them (256 MiB).
 */
#define UNACKED_MAX_BYTES   (16u << 20)

typedef struct VirtioBlkConfig {
    uint64_t capacity;
    uint32_t size_max;
    uint32_t seg_max;
    uint16_t cylinders;
    uint8_t heads;
    uint8_t sectors;
    uint32_t blk_size;
    uint8_t physical_block_exp;
    uint8_t alignment_offset;
    uint16_t min_io_size;
    uint32_t opt_io_size;
    uint8_t writeback;
    uint8_t unused0;
    uint16_t num_queues;
    uint32_t max_discard_sectors;
    uint32_t max_discard_seg;
    uint32_t discard_sector_alignment;
    uint32_t max_write_zeroes_sectors;
    uint32_t max_write_zeroes_seg;
    uint8_t write_zeroes_may_unmap;
    uint8_t unused1[3];
} __attribute__((packed)) VirtioBlkConfig;
_Static_assert(sizeof(VirtioBlkConfig) == 60, "virtio_blk_config layout");

typedef struct VirtioBlk VirtioBlk;

typedef struct BlkReq {
    BlkIo io;                   /* first: its completion finds us */
    VirtioBlk *b;
    unsigned queue;
    uint32_t type;
    uint64_t sector;
    uint32_t range_flags;       /* WRITE_ZEROES */
    uint8_t *buf;               /* a copy of the data, or NULL */
    size_t buf_cap;             /* from b->bufs: its size; 0: malloc's */
    uint64_t len;               /* data bytes (IN, OUT), range bytes */
    unsigned iovcnt;            /* zero-copy: the data in guest memory */
    struct iovec iov[REQ_MAX_IOV];
    /* Its answer, kept until the client is known to have it (below). */
    uint8_t status;
    uint32_t written;           /* data bytes written into the chain */
    uint16_t used_at;           /* the used ring's index it went at */
    DmVirtqElem elem;
} BlkReq;

/*
 * A lost link (the fork reconnecting) must neither lose a request nor
 * run one twice: a read run again after another request wrote its
 * sectors would answer other data.  So, per queue, requests wait here:
 *   retake:  taken off the ring, not started (its header or data could
 *            not be read): started when the client is back;
 *   parked:  done by the back end, its answer not written (the link
 *            went): written when the client is back;
 *   unacked: answered with posted writes the client may not have
 *            applied yet: written again at their used slots if the
 *            guest's used index says they never landed, dropped once a
 *            reply proves they did (the queue's acked_used).
 */
typedef struct BlkIoThread BlkIoThread;

typedef struct BlkQueue {
    GQueue retake, parked, unacked;
    uint64_t unacked_bytes;     /* the data copies unacked requests hold */
    /* Requests in flight, their bytes; no more taken past the budget. */
    unsigned inflight;
    uint64_t inflight_bytes;
    bool throttled;
    /* Where its requests go: the back end, or its I/O thread's clone. */
    BlkBackend *be;
    /* iothread=on: the thread serving it now, or NULL (the loop does). */
    BlkIoThread *io;
    bool threaded_once;         /* said so in the log (once) */
} BlkQueue;

/*
 * A queue's I/O thread (iothread=on).  While it runs, the queue is its
 * alone: the ring (DmVirtq), the BlkQueue, its requests and its ring of
 * the back end (a clone); the loop only pokes it (kick_fd) or stops it
 * (stop_fd) and joins it before it touches the queue again.  What only
 * the loop may do (an interrupt the thread cannot send, the device's
 * NEEDS_RESET) comes back through the device's handoff eventfd.
 */
struct BlkIoThread {
    VirtioBlk *b;
    unsigned q;
    pthread_t tid;
    BlkBackend *be;             /* its ring of the back end */
    int kick_fd;                /* the queue's doorbell, taken off the loop */
    int stop_fd;                /* written by the loop: drain and end */
    int64_t poll_until;         /* poll_us: polling the ring until, or 0 */
    /* Chains may wait unkicked (kicks were off): at start; at the end. */
    bool look;
    /* For the loop (handoff): an interrupt to raise; the thread ended. */
    bool irq_due;               /* atomic */
    bool exited;                /* atomic */
    bool broken;                /* the ring broke: why, for the loop */
    char why[160];
};

struct VirtioBlk {
    DmDevice *dev;
    DmVirtio virtio;
    VirtioBlkConfig config;
    const BlkBackendOps *ops;
    BlkBackend *be;             /* NULL until open */
    BlkBackendInfo info;
    uint64_t sectors;
    /* iothread=on: the threads' hand-offs to the loop; their (re)start */
    int handoff_fd;
    DmTimer thread_timer;
    /* poll_us: the queues being polled, until when, by one timer */
    uint32_t polling;
    uint32_t recheck;           /* to look at once more, polling over */
    /* Queues owed a look after a push's chains (dm_virtq_recheck_due). */
    uint32_t push_recheck;
    int64_t poll_until[DM_VIRTIO_MAX_QUEUES];
    /*
     * irq_delay_us: the queues whose interrupt is held, until when, and
     * the available index taken up to when it began; whether holding paid
     * last time (else interrupts go at once, and one in irq_every, from
     * IRQ_PROBE, is held again to see; 0: IRQ_PROBE).
     */
    uint32_t irq_held;
    uint32_t irq_holding;
    int64_t irq_until[DM_VIRTIO_MAX_QUEUES];
    uint16_t irq_from[DM_VIRTIO_MAX_QUEUES];
    uint16_t irq_probe[DM_VIRTIO_MAX_QUEUES];
    uint16_t irq_every[DM_VIRTIO_MAX_QUEUES];
    /* auto's hold grown by holds that paid, or 0: its base */
    int64_t irq_grown[DM_VIRTIO_MAX_QUEUES];
    DmTimer irq_timer;
    DmTimer poll_timer;
    BlkQueue lq[DM_VIRTIO_MAX_QUEUES];  /* see BlkQueue */
    DmBufPool bufs;             /* requests' copies of their data */
    /* properties */
    const char *file;
    bool readonly;
    const char *serial;
    uint64_t queues;
    uint64_t queue_size;
    uint64_t nbd_timeout;
    uint64_t lock_wait;         /* s: a lock another process holds */
    const char *cache;
    uint64_t poll_us;
    const char *irq_delay_us;   /* "auto" or N */
    int64_t irq_delay;          /* N, or -1: auto (blk_irq_delay_us) */
    int64_t inline_slow_ns;     /* BlkBackendOpts's (DM_BLK_INLINE_SLOW_US) */
    uint64_t unacked_max;       /* UNACKED_MAX_BYTES (DM_BLK_UNACKED_MAX_KB) */
    int64_t irq_delay_auto;     /* auto's N where it holds */
    bool irq_auto_told;         /* the log said so */
    bool inline_writes;
    bool iothread;
};

static unsigned blk_process(VirtioBlk *b, unsigned q);
static void blk_threads_stop(VirtioBlk *b);

/* ---- Completion, on the loop (or the queue's I/O thread) ---- */

/*
 * Queue @q broke a rule: the device needs a reset.  Its I/O thread
 * stops taking requests and leaves the device's status to the loop.
 */
static void blk_broken(VirtioBlk *b, unsigned q, const char *why)
{
    BlkIoThread *io = b->lq[q].io;

    if (io) {
        if (!io->broken) {
            io->broken = true;
            snprintf(io->why, sizeof(io->why), "%s", why);
        }
        return;
    }
    dm_virtio_broken(&b->virtio, why);
}

/*
 * Is queue @q to be served (the driver ready, its thread not broken)?
 * Not on the loop while the VM is stopped: a chain taken then would be
 * answered into guest memory after a migration's last pass, which the
 * stop's quiesce came before (a target saw a used index 4 behind ours);
 * blk_vm_stopped_changed catches up when it runs.  A thread is not
 * started while it is stopped (blk_thread_start).
 */
static bool blk_ready(VirtioBlk *b, unsigned q)
{
    BlkIoThread *io = b->lq[q].io;

    /* A thread runs only while the driver is ready (reset joins it). */
    return io ? !io->broken : dm_virtio_ready(&b->virtio) &&
                              !dm_device_vm_stopped(b->dev);
}

/*
 * The look for chains a push may have missed: by the client, posted
 * (it kicks if any came), else ours from the loop's next turn.
 */
static void blk_recheck(VirtioBlk *b, unsigned q)
{
    if (dm_virtq_recheck_remote(&b->virtio.vq[q]) == 0) {
        return;
    }
    b->push_recheck |= 1u << q;
    dm_timer_mod(&b->poll_timer, 0);
}

/*
 * Every IRQ_PROBE-th interrupt is held to see whether holding pays; after
 * each probe that did not, half as often, down to one in IRQ_PROBE_MAX
 * (a driver with one request at a time loses a hold's time to each).
 */
#define IRQ_PROBE 16
#define IRQ_PROBE_MAX 256

/* The longest auto's hold grows to. */
static int64_t blk_irq_auto_max(VirtioBlk *b)
{
    return b->irq_delay_auto * IRQ_DELAY_AUTO_GROW;
}

static unsigned blk_irq_every(VirtioBlk *b, unsigned q)
{
    return b->irq_every[q] ? b->irq_every[q] : IRQ_PROBE;
}

/*
 * Hold this interrupt of queue @q?  While holding pays, and now and then
 * to find out.  It pays when the driver made new requests while it waited
 * for the answer held: it has others in flight, whose answers will share
 * interrupts.  A driver waiting for this answer alone (one request at a
 * time, or the parts of one big request, taken together) would only wait
 * longer.
 */
static bool blk_irq_hold(VirtioBlk *b, unsigned q)
{
    if (b->irq_holding & (1u << q)) {
        return true;
    }
    if (++b->irq_probe[q] < blk_irq_every(b, q)) {
        return false;
    }
    b->irq_probe[q] = 0;
    return true;
}

/* Raise queue @q's held interrupt, and learn whether holding paid. */
static void blk_irq_release(VirtioBlk *b, unsigned q)
{
    bool took = b->virtio.vq[q].last_avail != b->irq_from[q];
    unsigned every = blk_irq_every(b, q);

    b->irq_held &= ~(1u << q);
    if (took) {
        b->irq_holding |= 1u << q;
        b->irq_every[q] = IRQ_PROBE;
        /*
         * auto: a driver that keeps making requests during holds is one
         * whose vCPU is busy with them; the longer the hold, the fewer
         * interrupts it takes (docs/performance.md).
         */
        if (b->irq_delay < 0) {
            b->irq_grown[q] = MIN(MAX(b->irq_grown[q],
                                      b->irq_delay_auto) * 2,
                                  blk_irq_auto_max(b));
        }
    } else if (b->irq_holding & (1u << q)) {
        b->irq_holding &= ~(1u << q);       /* it paid until now */
        b->irq_grown[q] = 0;
    } else if (every < IRQ_PROBE_MAX) {
        b->irq_every[q] = every * 2;        /* a probe that did not */
    }
    dm_virtio_notify(&b->virtio, q);
}

/* Every held interrupt raised now (before a quiesce's end, an unmap). */
static void blk_irq_flush(VirtioBlk *b)
{
    for (unsigned q = 0; q < b->virtio.num_queues; q++) {
        if (b->irq_held & (1u << q)) {
            blk_irq_release(b, q);
        }
    }
    dm_timer_del(&b->irq_timer);
}

/* The held interrupts that are due; the timer again for the others. */
static void blk_irq_timer(void *opaque)
{
    VirtioBlk *b = opaque;
    int64_t now = dm_clock_ns(), next = INT64_MAX;

    for (unsigned q = 0; q < b->virtio.num_queues; q++) {
        if (!(b->irq_held & (1u << q))) {
            continue;
        }
        if (now >= b->irq_until[q]) {
            blk_irq_release(b, q);
        } else if (b->irq_until[q] < next) {
            next = b->irq_until[q];
        }
    }
    if (next != INT64_MAX) {
        dm_timer_mod(&b->irq_timer, next - now);
    }
}

/* Is queue @q's ring in shared memory (polling it costs no message)? */
static bool blk_ring_shared(VirtioBlk *b, unsigned q)
{
    struct iovec iov;

    return dm_dma_iov(b->dev, b->virtio.vq[q].avail, 4, false, &iov, 1) == 1;
}

/*
 * irq_delay_us for queue @q: as set, or for auto IRQ_DELAY_AUTO_US where
 * it was measured to pay (docs/performance.md): a TCG guest, whose vCPU
 * and QEMU's main loop each take every interrupt's cost, with its rings
 * in shared memory.  Over TCP, where an interrupt is a message, holding
 * cost writes more than it saved; under KVM an interrupt is an irqfd.
 */
static uint64_t blk_irq_delay_us(VirtioBlk *b, unsigned q)
{
    if (b->irq_delay >= 0) {
        return b->irq_delay;
    }
    if (strcmp(dm_device_client_accel(b->dev), "tcg") ||
        !blk_ring_shared(b, q)) {
        return 0;
    }
    if (!b->irq_auto_told) {
        b->irq_auto_told = true;
        dm_info("virtio-blk: interrupts held %lld us, up to %lld while "
                "holding pays (irq_delay_us=auto: a TCG guest, rings in "
                "shared memory)", (long long)b->irq_delay_auto,
                (long long)blk_irq_auto_max(b));
    }
    return b->irq_delay_auto;
}

/* irq_delay_us: "auto", or 0..IRQ_DELAY_MAX_US into @us (may be NULL). */
static int parse_irq_delay(const char *val, int64_t *us, char *err,
                           size_t errlen)
{
    unsigned long long n;
    char *end;

    if (!strcmp(val, "auto")) {
        n = -1;
    } else {
        errno = 0;
        n = strtoull(val, &end, 10);
        if (errno || end == val || *end || val[0] == '-' ||
            n > IRQ_DELAY_MAX_US) {
            snprintf(err, errlen, "irq_delay_us '%s' is not auto or "
                     "0..%d", val, IRQ_DELAY_MAX_US);
            return -EINVAL;
        }
    }
    if (us) {
        *us = (int64_t)n;
    }
    return 0;
}

/*
 * A test's hook: a number of @unit, 0..@max, from the environment's
 * @name into @ret when it is set (else @ret stays).  0, or -EINVAL, said.
 */
static int env_num(const char *name, int64_t max, const char *unit,
                   int64_t *ret)
{
    const char *val = getenv(name);
    char *end;
    long long n;

    if (!val) {
        return 0;
    }
    errno = 0;
    n = strtoll(val, &end, 10);
    if (errno || end == val || *end || n < 0 || n > max) {
        dm_error("virtio-blk: %s=%s is not 0..%lld %s", name, val,
                 (long long)max, unit);
        return -EINVAL;
    }
    *ret = n;
    return 0;
}

static int check_irq_delay(const char *val, char *err, size_t errlen)
{
    return parse_irq_delay(val, NULL, err, errlen);
}

/* Used buffers were added to queue @q: an interrupt if the driver wants. */
static void blk_notify(VirtioBlk *b, unsigned q)
{
    BlkIoThread *io = b->lq[q].io;
    uint64_t one = 1, delay_us;

    if (!io) {
        if (b->irq_held & (1u << q)) {
            return;             /* it goes with the one held */
        }
        delay_us = blk_irq_delay_us(b, q);
        if (delay_us && blk_irq_hold(b, q)) {
            if (b->irq_grown[q]) {
                delay_us = b->irq_grown[q];     /* auto, holding paid */
            }
            /*
             * Held: the answers that come meanwhile share one interrupt
             * (a guest at depth takes fewer; the loop's timer raises it).
             */
            b->irq_held |= 1u << q;
            b->irq_until[q] = dm_clock_ns() + (int64_t)delay_us * 1000;
            b->irq_from[q] = b->virtio.vq[q].last_avail;
            if (!dm_timer_pending(&b->irq_timer)) {
                dm_timer_mod(&b->irq_timer, (int64_t)delay_us * 1000);
            }
            return;
        }
        dm_virtio_notify(&b->virtio, q);
        return;
    }
    if (dm_virtio_notify_thread(&b->virtio, q)) {
        __atomic_store_n(&io->irq_due, true, __ATOMIC_RELEASE);
        if (write(b->handoff_fd, &one, sizeof(one)) != sizeof(one)) {
            dm_warn("virtio-blk: queue %u: cannot hand an interrupt to the "
                    "loop: %m", q);
        }
    }
}

/* A queue's share of the bytes in flight: the whole for one queue. */
static uint64_t blk_budget(VirtioBlk *b)
{
    uint64_t share = INFLIGHT_MAX_BYTES / (b->virtio.num_queues ?
                                           b->virtio.num_queues : 1);

    return share > 2 * REQ_MAX_BYTES ? share : 2 * REQ_MAX_BYTES;
}

/* Its copy of the data back to the pool (none: nothing). */
static void blk_req_drop_buf(BlkReq *r)
{
    dm_bufpool_put(&r->b->bufs, r->buf, r->buf_cap);
    r->buf = NULL;
    r->buf_cap = 0;
}

static void blk_req_free(BlkReq *r)
{
    blk_req_drop_buf(r);
    free(r);
}

static void blk_req_free_cb(gpointer r)
{
    blk_req_free(r);
}

/* Every request a lost link left waiting: gone (a reset, the end). */
static void blk_forget_all(VirtioBlk *b)
{
    for (unsigned q = 0; q < DM_VIRTIO_MAX_QUEUES; q++) {
        g_queue_clear_full(&b->lq[q].retake, blk_req_free_cb);
        g_queue_clear_full(&b->lq[q].parked, blk_req_free_cb);
        g_queue_clear_full(&b->lq[q].unacked, blk_req_free_cb);
        b->lq[q].unacked_bytes = 0;
    }
}

/* The unacked list of @lq, with the bytes its requests hold. */
static void unacked_add(BlkQueue *lq, BlkReq *r)
{
    g_queue_push_tail(&lq->unacked, r);
    lq->unacked_bytes += r->buf_cap;
}

static BlkReq *unacked_take(BlkQueue *lq, bool newest)
{
    BlkReq *r = newest ? g_queue_pop_tail(&lq->unacked)
                       : g_queue_pop_head(&lq->unacked);

    lq->unacked_bytes -= r ? r->buf_cap : 0;
    return r;
}

/* Drop the answers of queue @q the client is known to have applied. */
static void blk_drop_acked(VirtioBlk *b, unsigned q)
{
    DmVirtq *vq = &b->virtio.vq[q];
    BlkQueue *lq = &b->lq[q];
    BlkReq *r;

    /* Below acked_used: further from used_idx than it is. */
    while ((r = g_queue_peek_head(&lq->unacked)) &&
           ((uint16_t)(vq->used_idx - r->used_at) >
                (uint16_t)(vq->used_idx - vq->acked_used) ||
            g_queue_get_length(&lq->unacked) > vq->size)) {
        blk_req_free(unacked_take(lq, false));
    }
}

/* The same, first making them all known applied if they hold too much. */
static void blk_forget_acked(VirtioBlk *b, unsigned q)
{
    blk_drop_acked(b, q);
    if (b->lq[q].unacked_bytes > b->unacked_max &&
        dm_virtq_confirm(&b->virtio.vq[q]) == 0) {
        blk_drop_acked(b, q);
    }
}

/*
 * Write @r's answer: its data (IN where copied, GET_ID's), the status (the last
 * writable byte), the used ring.  0, -ENOTCONN (the link went: nothing
 * counts as done, all of it is written again later), or -EIO.
 */
static int blk_answer(VirtioBlk *b, BlkReq *r)
{
    uint64_t in = dm_virtq_in_len(&r->elem);

    if (r->status == VIRTIO_BLK_S_OK && r->buf && r->written &&
        dm_virtq_write(b->dev, &r->elem, 0, r->buf, r->written) < 0) {
        if (dm_dma_link_lost(b->dev)) {
            return -ENOTCONN;
        }
        /* The guest's data buffer is no memory of its: an I/O error. */
        r->status = VIRTIO_BLK_S_IOERR;
        r->written = 0;
    }
    if (dm_virtq_write(b->dev, &r->elem, in - 1, &r->status, 1) < 0) {
        return dm_dma_link_lost(b->dev) ? -ENOTCONN : -EIO;
    }
    return dm_virtq_push(&b->virtio.vq[r->queue], &r->elem, r->written + 1);
}

/*
 * Answer @r (its status and written set) and take it over: kept while
 * the client may not have the answer, parked when the link is lost.
 */
static void blk_finish(VirtioBlk *b, BlkReq *r)
{
    unsigned q = r->queue;
    DmVirtq *vq = &b->virtio.vq[q];
    int ret;

    /* Behind answers still to write: after them, in order. */
    if (vq->parked || !g_queue_is_empty(&b->lq[q].parked)) {
        g_queue_push_tail(&b->lq[q].parked, r);
        return;
    }
    r->used_at = vq->used_idx;
    ret = blk_answer(b, r);
    if (ret == -ENOTCONN) {
        dm_virtq_park(vq, "an answer could not be written: the link is "
                      "lost");
        g_queue_push_tail(&b->lq[q].parked, r);
        return;
    }
    if (ret < 0) {
        blk_broken(b, q, "a used ring outside guest memory");
        blk_req_free(r);
        return;
    }
    unacked_add(&b->lq[q], r);
    blk_forget_acked(b, q);
    blk_notify(b, q);
    /*
     * Chains pushed with the kick were taken without a look for more
     * (virtq.h): that look now, the answer gone, from the loop's next
     * turn (not inside a blk_process that may be running).
     */
    if (!b->lq[q].io && dm_virtq_recheck_due(vq)) {
        blk_recheck(b, q);
    }
}

static void blk_req_done(BlkIo *io)
{
    BlkReq *r = (BlkReq *)io;
    VirtioBlk *b = r->b;
    unsigned q = r->queue;
    BlkQueue *lq = &b->lq[q];
    uint64_t len = r->len;

    r->status = io->err ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
    r->written = 0;
    if (io->err) {
        dm_warn("virtio-blk: request %u at sector %llu: %s", r->type,
                (unsigned long long)r->sector, strerror(-io->err));
    } else if (r->type == VIRTIO_BLK_T_IN) {
        /* Read into guest memory itself, or to copy there (blk_answer). */
        r->written = r->len;
    }
    if (r->type != VIRTIO_BLK_T_IN) {
        blk_req_drop_buf(r);    /* a write's data: in the image now */
    }
    lq->inflight--;
    lq->inflight_bytes -= len;
    /* A reset meanwhile (status 0 quiesces first) drops the answer. */
    if (b->virtio.vq[q].enabled) {
        blk_finish(b, r);
    } else {
        blk_req_free(r);
    }
    if (lq->throttled && lq->inflight_bytes < blk_budget(b) / 2) {
        lq->throttled = false;
        blk_process(b, q);
    }
    /* The loop's last request of the queue: its thread may take it now. */
    if (b->iothread && !lq->io && !lq->inflight &&
        !dm_timer_pending(&b->thread_timer)) {
        dm_timer_mod(&b->thread_timer, 0);
    }
}

/* ---- The back end ---- */

/* Hand @r to the back end: 0, or -errno and it will not complete. */
static int blk_submit(VirtioBlk *b, BlkReq *r)
{
    static const BlkIoType types[] = {
        [VIRTIO_BLK_T_IN] = BLK_IO_READ,
        [VIRTIO_BLK_T_OUT] = BLK_IO_WRITE,
        [VIRTIO_BLK_T_FLUSH] = BLK_IO_FLUSH,
        [VIRTIO_BLK_T_DISCARD] = BLK_IO_DISCARD,
        [VIRTIO_BLK_T_WRITE_ZEROES] = BLK_IO_WRITE_ZEROES,
    };

    r->io = (BlkIo) {
        .type = types[r->type],
        .buf = r->buf,
        .iov = r->iovcnt ? r->iov : NULL,
        .iovcnt = r->iovcnt,
        .off = r->sector * SECTOR_SIZE,
        .len = r->type == VIRTIO_BLK_T_FLUSH ? 0 : r->len,
        .unmap = r->range_flags & WRITE_ZEROES_FLAG_UNMAP,
        .done = blk_req_done,
    };
    return b->ops->submit(b->lq[r->queue].be, &r->io);
}

/* ---- Requests, on the loop ---- */

static bool in_range(VirtioBlk *b, uint64_t sector, uint64_t bytes)
{
    uint64_t n = bytes / SECTOR_SIZE;

    return bytes % SECTOR_SIZE == 0 && sector <= b->sectors &&
           n <= b->sectors - sector;
}

/*
 * Zero-copy: @len bytes at @skip of the chain's segments [first, last)
 * as host pointers into r->iov.  1; 0 when they must be copied (memory
 * not shared, too many pieces); -1 when they are not guest memory.
 */
static int blk_map(VirtioBlk *b, BlkReq *r, unsigned first, unsigned last,
                   uint64_t skip, uint64_t len, bool to_guest)
{
    unsigned n = 0;

    for (unsigned i = first; i < last && len; i++) {
        const DmVirtqSeg *seg = &r->elem.segs[i];
        uint64_t take;
        int ret;

        if (skip >= seg->len) {
            skip -= seg->len;
            continue;
        }
        take = seg->len - skip < len ? seg->len - skip : len;
        ret = dm_dma_iov(b->dev, seg->addr + skip, take, to_guest,
                         r->iov + n, REQ_MAX_IOV - n);
        if (ret == -ENOTSUP || ret == -ENOBUFS) {
            return 0;
        }
        if (ret < 0) {
            return -1;
        }
        n += ret;
        len -= take;
        skip = 0;
    }
    if (len) {
        return -1;
    }
    r->iovcnt = n;
    return 1;
}

/* The data of IN or OUT: mapped (zero-copy) or copied: 0 or -1. */
static int blk_data(VirtioBlk *b, BlkReq *r)
{
    bool in = r->type == VIRTIO_BLK_T_IN;
    int ret = 0;

    if (r->len && b->info.can_iov) {
        /* Past the header (OUT), or up to the status byte (IN). */
        ret = in ? blk_map(b, r, r->elem.nout, r->elem.nsegs, 0, r->len,
                           true)
                 : blk_map(b, r, 0, r->elem.nout, 16, r->len, false);
    }
    if (ret) {
        return ret > 0 ? 0 : -1;
    }
    r->buf = dm_bufpool_get(&b->bufs, r->len, &r->buf_cap);
    if (!r->buf) {
        return -1;
    }
    if (!in && dm_virtq_read(b->dev, &r->elem, 16, r->buf, r->len) !=
                   (int64_t)r->len) {
        return -1;
    }
    return 0;
}

/* Answer at once, or set @r up for the back end: the status, or -1. */
static int blk_prepare(VirtioBlk *b, BlkReq *r, uint64_t out, uint64_t in)
{
    struct {
        uint64_t sector;
        uint32_t num_sectors;
        uint32_t flags;
    } range;

    switch (r->type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT:
        r->len = r->type == VIRTIO_BLK_T_IN ? in - 1 : out - 16;
        if (r->type == VIRTIO_BLK_T_OUT && b->readonly) {
            return VIRTIO_BLK_S_IOERR;
        }
        if (!in_range(b, r->sector, r->len) || r->len > REQ_MAX_BYTES) {
            return VIRTIO_BLK_S_IOERR;
        }
        return blk_data(b, r) < 0 ? VIRTIO_BLK_S_IOERR : -1;
    case VIRTIO_BLK_T_FLUSH:
        return -1;
    case VIRTIO_BLK_T_GET_ID: {
        uint64_t n = in - 1 < ID_BYTES ? in - 1 : ID_BYTES;

        /* Written with the status (blk_answer), as a read's data is. */
        r->buf = calloc(1, ID_BYTES);
        r->buf_cap = 0;
        if (!r->buf) {
            return VIRTIO_BLK_S_IOERR;
        }
        strncpy((char *)r->buf, b->serial ? b->serial : "", ID_BYTES);
        r->written = n;
        return VIRTIO_BLK_S_OK;
    }
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        /* One range (max_*_seg = 1), where the back end can. */
        if (!(r->type == VIRTIO_BLK_T_DISCARD ? b->info.can_discard
                                              : b->info.can_write_zeroes)) {
            return VIRTIO_BLK_S_UNSUPP;
        }
        if (b->readonly) {
            return VIRTIO_BLK_S_IOERR;
        }
        if (out != 16 + sizeof(range) ||
            dm_virtq_read(b->dev, &r->elem, 16, &range, sizeof(range)) !=
                sizeof(range)) {
            return VIRTIO_BLK_S_UNSUPP;
        }
        r->sector = le64toh(range.sector);
        r->range_flags = le32toh(range.flags);
        r->len = (uint64_t)le32toh(range.num_sectors) * SECTOR_SIZE;
        if (le32toh(range.num_sectors) > DISCARD_MAX_SECTORS ||
            !in_range(b, r->sector, r->len)) {
            return VIRTIO_BLK_S_IOERR;
        }
        /* Unknown flags, or UNMAP on a DISCARD: UNSUPP (5.2.6.2). */
        if ((r->range_flags & ~(uint32_t)WRITE_ZEROES_FLAG_UNMAP) ||
            (r->type == VIRTIO_BLK_T_DISCARD && r->range_flags)) {
            return VIRTIO_BLK_S_UNSUPP;
        }
        return -1;
    }
    return VIRTIO_BLK_S_UNSUPP;
}

/*
 * Start @r, a chain taken off its queue: read its header, answer it at
 * once or hand it to the back end.  False when the link went before it
 * could start (it waits on the queue's retake list, the queue parked).
 */
static bool blk_start(VirtioBlk *b, BlkReq *r)
{
    struct {
        uint32_t type;
        uint32_t reserved;
        uint64_t sector;
    } hdr;
    uint64_t out = dm_virtq_out_len(&r->elem);
    uint64_t in = dm_virtq_in_len(&r->elem);
    int status;

    /* A header to read and a status byte to write, or no answer at all. */
    if (out < sizeof(hdr) || in < 1 ||
        dm_virtq_read(b->dev, &r->elem, 0, &hdr, sizeof(hdr)) !=
            sizeof(hdr)) {
        if (out >= sizeof(hdr) && in >= 1 && dm_dma_link_lost(b->dev)) {
            goto lost;
        }
        blk_broken(b, r->queue, "a request without a header or room for "
                   "its status");
        blk_req_free(r);
        return true;
    }
    r->type = le32toh(hdr.type);
    r->sector = le64toh(hdr.sector);
    status = blk_prepare(b, r, out, in);
    if (dm_dma_link_lost(b->dev)) {
        /* What it read may be the link's failure: all again, later. */
        goto lost;
    }
    if (status < 0) {
        BlkQueue *lq = &b->lq[r->queue];

        lq->inflight++;
        lq->inflight_bytes += r->len;
        if (blk_submit(b, r) == 0) {
            lq->throttled = lq->inflight_bytes >= blk_budget(b);
            return true;
        }
        lq->inflight--;
        lq->inflight_bytes -= r->len;
        status = VIRTIO_BLK_S_IOERR;
    }
    r->status = status;
    if (status != VIRTIO_BLK_S_OK || r->type != VIRTIO_BLK_T_GET_ID) {
        r->written = 0;
    }
    blk_finish(b, r);
    return true;

lost:
    blk_req_drop_buf(r);
    r->iovcnt = 0;
    r->len = r->written = 0;
    dm_virtq_park(&b->virtio.vq[r->queue],
                  "a request could not start: the link is lost");
    g_queue_push_tail(&b->lq[r->queue].retake, r);
    return false;
}

/* Take one chain off queue @q and start it: false when there is none. */
static bool blk_take(VirtioBlk *b, unsigned q)
{
    BlkReq *r = calloc(1, sizeof(*r));
    char why[128];
    int ret;

    if (!r) {
        return false;
    }
    ret = dm_virtq_pop(&b->virtio.vq[q], &r->elem, why, sizeof(why));
    if (ret <= 0) {
        if (ret < 0) {
            blk_broken(b, q, why);
        }
        free(r);
        return false;
    }
    r->b = b;
    r->queue = q;
    return blk_start(b, r);
}

/*
 * The client is back after a lost link (DmVirtioOps.resume): per parked
 * queue, the answers that never landed are written again at their used
 * slots, then those the link kept from being written, then the requests
 * that could not start are started.  Each request runs once: its
 * answer is what the back end said the first time.
 */
static void blk_resume(void *opaque)
{
    VirtioBlk *b = opaque;

    for (unsigned q = 0; q < b->virtio.num_queues; q++) {
        DmVirtq *vq = &b->virtio.vq[q];
        BlkQueue *lq = &b->lq[q];
        GQueue todo = G_QUEUE_INIT;
        char why[160];
        int lost;

        if (!vq->parked || !dm_virtio_ready(&b->virtio)) {
            continue;
        }
        lost = dm_virtq_resync(vq, why, sizeof(why));
        if (lost == -ENOTCONN) {
            continue;
        }
        if (lost < 0 || (unsigned)lost > g_queue_get_length(&lq->unacked)) {
            dm_virtio_broken(&b->virtio, lost < 0 ? why :
                             "answers lost with the link are not known");
            continue;
        }
        if (lost || !g_queue_is_empty(&lq->parked) ||
            !g_queue_is_empty(&lq->retake)) {
            dm_info("virtio-blk: queue %u, after a lost link: %d answers "
                    "lost written again, %u answers and %u requests that "
                    "waited", q, lost, g_queue_get_length(&lq->parked),
                    g_queue_get_length(&lq->retake));
        }
        /* The last @lost answers, then the parked ones, in order. */
        for (int i = 0; i < lost; i++) {
            g_queue_push_head(&todo, unacked_take(lq, true));
        }
        if (lost && ((BlkReq *)g_queue_peek_head(&todo))->used_at !=
                    vq->used_idx) {
            dm_virtio_broken(&b->virtio, "answers lost with the link are "
                             "not where the used ring stands");
            g_queue_clear_full(&todo, blk_req_free_cb);
            continue;
        }
        while (!g_queue_is_empty(&lq->parked)) {
            g_queue_push_tail(&todo, g_queue_pop_head(&lq->parked));
        }
        blk_forget_acked(b, q);
        while (!g_queue_is_empty(&todo)) {
            blk_finish(b, g_queue_pop_head(&todo));
        }
        if (vq->parked) {
            continue;           /* gone again: the next client */
        }
        while (!g_queue_is_empty(&lq->retake) && !vq->parked) {
            blk_start(b, g_queue_pop_head(&lq->retake));
        }
    }
}

/* ---- Polling (poll_us) ---- */

/* Poll @q from now on, kicks off (the timer looks at once, then again). */
static void blk_poll_start(VirtioBlk *b, unsigned q)
{
    b->poll_until[q] = dm_clock_ns() + (int64_t)b->poll_us * 1000;
    if (!(b->polling & (1u << q))) {
        if (!blk_ring_shared(b, q)) {
            return;
        }
        b->polling |= 1u << q;
        dm_virtq_set_kicks(&b->virtio.vq[q], false);
    }
    if (!dm_timer_pending(&b->poll_timer)) {
        dm_timer_mod(&b->poll_timer, 0);
    }
}

/* Kicks on again; chains that came meanwhile are taken (and poll on). */
static void blk_poll_stop(VirtioBlk *b, unsigned q)
{
    b->polling &= ~(1u << q);
    if (dm_virtq_set_kicks(&b->virtio.vq[q], true)) {
        blk_process(b, q);
    }
}

/*
 * One look at each polled queue.  A timer of zero delay, not a loop in
 * here: the loop polls its descriptors (timeout 0) between two looks, so
 * register accesses, completions and other devices are served while a
 * queue is polled, and the polling ends poll_us after the last chain.
 */
static void blk_poll(void *opaque)
{
    VirtioBlk *b = opaque;
    int64_t now = dm_clock_ns();

    for (unsigned q = 0; q < b->virtio.num_queues; q++) {
        if (b->push_recheck & (1u << q)) {
            b->push_recheck &= ~(1u << q);
            if (dm_virtio_ready(&b->virtio) && b->virtio.vq[q].enabled &&
                !b->lq[q].io) {
                blk_process(b, q);
            }
        }
        if (b->recheck & (1u << q)) {
            b->recheck &= ~(1u << q);
            if (dm_virtio_ready(&b->virtio) && b->virtio.vq[q].enabled &&
                blk_ring_shared(b, q)) {
                blk_process(b, q);
            }
        }
        if (!(b->polling & (1u << q))) {
            continue;
        }
        if (!dm_virtio_ready(&b->virtio) || !b->virtio.vq[q].enabled) {
            b->polling &= ~(1u << q);
        } else if (!blk_process(b, q) && now >= b->poll_until[q]) {
            blk_poll_stop(b, q);
        }
    }
    if (b->polling || b->recheck || b->push_recheck) {
        dm_timer_mod(&b->poll_timer, 0);
    }
}

/*
 * Stop polling every queue: at a reset (the rings are gone), or before
 * guest memory is unmapped (@kicks_on: the rings stay, kicks on again;
 * chains that came unkicked meanwhile are taken from the timer, once the
 * unmap is over, if the ring is still there; a client that went away
 * catches up when it comes back, dm_virtio_irqs_changed).
 */
static void blk_poll_cancel(VirtioBlk *b, bool kicks_on)
{
    b->recheck = 0;
    for (unsigned q = 0; kicks_on && q < b->virtio.num_queues; q++) {
        if ((b->polling & (1u << q)) &&
            dm_virtq_set_kicks(&b->virtio.vq[q], true)) {
            b->recheck |= 1u << q;
        }
    }
    b->polling = 0;
    /* Held interrupts: raised now while the rings are there, or gone. */
    if (kicks_on) {
        blk_irq_flush(b);
    } else {
        b->push_recheck = 0;    /* the rings are gone */
        b->irq_held = 0;
        dm_timer_del(&b->irq_timer);
        b->irq_holding = 0;     /* and what holding taught */
        memset(b->irq_probe, 0, sizeof(b->irq_probe));
        memset(b->irq_every, 0, sizeof(b->irq_every));
        memset(b->irq_grown, 0, sizeof(b->irq_grown));
    }
    dm_timer_del(&b->poll_timer);
    if (b->recheck || b->push_recheck) {
        dm_timer_mod(&b->poll_timer, 0);
    }
}

/* Take queue @q's chains, submitted together: how many. */
static unsigned blk_process(VirtioBlk *b, unsigned q)
{
    BlkQueue *lq = &b->lq[q];
    BlkBackend *be = lq->be;
    bool plug = be && b->ops->plug;
    unsigned n = 0;

    if (plug) {
        b->ops->plug(be);
    }
    while (blk_ready(b, q) && !lq->throttled && blk_take(b, q)) {
        n++;
    }
    if (plug) {
        b->ops->unplug(be);
    }
    /*
     * A push's chains all answered already (at once, or failed to
     * start): no answer is left to bring the look they owe, so now.
     */
    if (!lq->io && !lq->inflight &&
        dm_virtq_recheck_due(&b->virtio.vq[q])) {
        blk_recheck(b, q);
    }
    /* An I/O thread polls in its own loop (blk_thread_run). */
    if (n && b->poll_us && !lq->throttled && !lq->io) {
        blk_poll_start(b, q);
    }
    return n;
}

/* ---- I/O threads (iothread=on) ---- */

/* The notify address of queue @q: its doorbell in BAR4. */
#define BLK_NOTIFY_REGION   (VUP_PCI_BAR0_REGION_INDEX + DM_VIRTIO_BAR)
#define BLK_NOTIFY_OFF(q)   (DM_VIRTIO_NOTIFY_OFF + (q) * DM_VIRTIO_NOTIFY_MULT)

static void eventfd_drain(int fd)
{
    uint64_t n;

    if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN) {
        dm_warn("virtio-blk: an I/O thread's eventfd: %m");
    }
}

/* poll_us on the thread: kicks off while the ring is looked at anyway. */
static void blk_thread_poll(BlkIoThread *io, unsigned took)
{
    VirtioBlk *b = io->b;
    DmVirtq *vq = &b->virtio.vq[io->q];
    int64_t now;

    if (!b->poll_us || io->broken) {
        return;
    }
    now = dm_clock_ns();
    if (took) {
        if (!io->poll_until) {
            dm_virtq_set_kicks(vq, false);
        }
        io->poll_until = now + (int64_t)b->poll_us * 1000;
    } else if (io->poll_until && now >= io->poll_until) {
        io->poll_until = 0;
        /* Chains that came while kicks were off: taken, and poll on. */
        if (dm_virtq_set_kicks(vq, true)) {
            blk_thread_poll(io, blk_process(b, io->q));
        }
    }
}

/*
 * The thread: the queue's doorbell, its ring's completions and the
 * loop's stop, in one poll(); a kick's chains are taken and submitted
 * at once, completions answered and the driver interrupted from here.
 */
static void *blk_thread_run(void *opaque)
{
    BlkIoThread *io = opaque;
    VirtioBlk *b = io->b;
    struct pollfd pfd[3] = {
        { .fd = io->stop_fd, .events = POLLIN },
        { .fd = b->ops->event_fd(io->be), .events = POLLIN },
        { .fd = io->kick_fd, .events = POLLIN },
    };
    uint64_t one = 1;

    dm_io_thread_enter();
    /* Chains the loop's polling let come without a kick. */
    if (io->look) {
        io->look = false;
        blk_thread_poll(io, blk_process(b, io->q));
    }
    /* parked: it met memory that is not shared (blk_thread_yielded). */
    while (!io->broken && !b->virtio.vq[io->q].parked) {
        int n = poll(pfd, 3, io->poll_until ? 0 : -1);
        unsigned took = 0;

        if (n < 0 && errno != EINTR) {
            dm_warn("virtio-blk: queue %u's I/O thread: poll: %m", io->q);
            break;
        }
        if (n > 0 && pfd[0].revents) {
            break;
        }
        if (n > 0 && pfd[1].revents) {
            b->ops->reap(io->be);
        }
        if (n > 0 && pfd[2].revents) {
            eventfd_drain(io->kick_fd);
            took = blk_process(b, io->q);
        } else if (io->poll_until) {
            took = blk_process(b, io->q);
        }
        blk_thread_poll(io, took);
    }
    /* Kicks on for the loop, then every request in flight answered. */
    if (io->poll_until) {
        io->poll_until = 0;
        io->look = dm_virtq_set_kicks(&b->virtio.vq[io->q], true);
    }
    if (b->ops->drain) {
        b->ops->drain(io->be);
    }
    __atomic_store_n(&io->exited, true, __ATOMIC_RELEASE);
    if (write(b->handoff_fd, &one, sizeof(one)) != sizeof(one)) {
        dm_warn("virtio-blk: queue %u's I/O thread: cannot tell the loop "
                "it ended: %m", io->q);
    }
    return NULL;
}

/*
 * Queue @q's thread met guest memory that is not shared (a buffer in a
 * window the client mapped without an fd: messages, which only the loop
 * sends) and left the rest to the loop, as a lost link leaves it to the
 * next client: nothing was taken that is not on the lists.  The loop
 * writes the answers it could not, in order, starts the requests it
 * could not, and looks at the ring again; a thread comes back once
 * nothing of the queue is in flight on the loop.
 */
static void blk_thread_yielded(VirtioBlk *b, unsigned q)
{
    BlkQueue *lq = &b->lq[q];
    GQueue todo = G_QUEUE_INIT;

    dm_debug("virtio-blk: queue %u: guest memory without an fd: back to the "
             "loop (%u answers, %u requests)", q,
             g_queue_get_length(&lq->parked), g_queue_get_length(&lq->retake));
    b->virtio.vq[q].parked = false;
    /* blk_finish keeps an answer behind the parked ones: off the list. */
    while (!g_queue_is_empty(&lq->parked)) {
        g_queue_push_tail(&todo, g_queue_pop_head(&lq->parked));
    }
    while (!g_queue_is_empty(&todo)) {
        blk_finish(b, g_queue_pop_head(&todo));
    }
    while (!g_queue_is_empty(&lq->retake) && !b->virtio.vq[q].parked) {
        blk_start(b, g_queue_pop_head(&lq->retake));
    }
    b->recheck |= 1u << q;
    dm_timer_mod(&b->poll_timer, 0);
}

/*
 * Join queue @q's thread (it ended, or was told to): the queue is the
 * loop's again, its doorbell too; what the thread left for the loop (an
 * interrupt, a broken ring) is done now.
 */
static void blk_thread_join(VirtioBlk *b, unsigned q)
{
    BlkQueue *lq = &b->lq[q];
    BlkIoThread *io = lq->io;

    pthread_join(io->tid, NULL);
    dm_device_doorbell_give_back(b->dev, BLK_NOTIFY_REGION,
                                 BLK_NOTIFY_OFF(q));
    b->ops->close(io->be);
    close(io->stop_fd);
    lq->be = b->be;
    lq->io = NULL;
    b->virtio.vq[q].threaded = false;
    if (__atomic_exchange_n(&io->irq_due, false, __ATOMIC_ACQUIRE)) {
        dm_virtio_queue_irq(&b->virtio, q);
    }
    if (io->broken) {
        dm_virtio_broken(&b->virtio, io->why);
    } else if (b->virtio.vq[q].parked) {
        blk_thread_yielded(b, q);
    } else if (io->look) {
        /* Unkicked chains: the loop looks (or the next thread). */
        b->recheck |= 1u << q;
        dm_timer_mod(&b->poll_timer, 0);
    }
    free(io);
}

/* Tell every thread to end, and join them (from quiesce). */
static void blk_threads_stop(VirtioBlk *b)
{
    uint64_t one = 1;

    for (unsigned q = 0; q < DM_VIRTIO_MAX_QUEUES; q++) {
        if (b->lq[q].io &&
            write(b->lq[q].io->stop_fd, &one, sizeof(one)) != sizeof(one)) {
            dm_error("virtio-blk: cannot stop queue %u's I/O thread: %m", q);
            abort();            /* guest memory may be about to go */
        }
    }
    for (unsigned q = 0; q < DM_VIRTIO_MAX_QUEUES; q++) {
        if (b->lq[q].io) {
            blk_thread_join(b, q);
        }
    }
    /* Those that may go on start again once the loop is back. */
    if (b->iothread && dm_virtio_ready(&b->virtio)) {
        dm_timer_mod(&b->thread_timer, 0);
    }
}

/* The loop's side of the hand-off: interrupts, threads that ended. */
static void blk_handoff(void *opaque, int fd, short revents)
{
    VirtioBlk *b = opaque;

    eventfd_drain(fd);
    for (unsigned q = 0; q < DM_VIRTIO_MAX_QUEUES; q++) {
        BlkIoThread *io = b->lq[q].io;

        if (!io) {
            continue;
        }
        if (__atomic_exchange_n(&io->irq_due, false, __ATOMIC_ACQUIRE)) {
            dm_virtio_queue_irq(&b->virtio, q);
        }
        if (__atomic_load_n(&io->exited, __ATOMIC_ACQUIRE)) {
            blk_thread_join(b, q);
        }
    }
}

/* Are queue @q's three rings in shared memory (no DMA by message)? */
static bool blk_rings_shared(VirtioBlk *b, unsigned q)
{
    DmVirtq *vq = &b->virtio.vq[q];
    struct iovec iov[4];

    return dm_dma_iov(b->dev, vq->desc, 16ULL * vq->size, false, iov, 4) > 0 &&
           dm_dma_iov(b->dev, vq->avail, 6 + 2ULL * vq->size, false, iov,
                      4) > 0 &&
           dm_dma_iov(b->dev, vq->used, 6 + 8ULL * vq->size, true, iov,
                      4) > 0;
}

/*
 * Give queue @q a thread, if it may have one now: the driver ready, the
 * queue in step with this client, nothing of it in flight on the loop,
 * guest memory all shared, its doorbell an eventfd.  On the loop.
 */
static void blk_thread_start(VirtioBlk *b, unsigned q)
{
    BlkQueue *lq = &b->lq[q];
    DmVirtq *vq = &b->virtio.vq[q];
    BlkIoThread *io;
    int ret;

    if (lq->io || !dm_virtio_ready(&b->virtio) || !vq->enabled ||
        dm_device_vm_stopped(b->dev) ||
        !dm_virtio_in_step(&b->virtio) || lq->inflight ||
        !g_queue_is_empty(&lq->retake) || !g_queue_is_empty(&lq->parked)) {
        return;
    }
    if (!blk_rings_shared(b, q)) {
        dm_debug("virtio-blk: queue %u stays on the loop: its rings are not "
                 "in shared memory", q);
        return;
    }
    io = calloc(1, sizeof(*io));
    if (!io) {
        return;
    }
    io->b = b;
    io->q = q;
    io->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    io->be = io->stop_fd >= 0 ? b->ops->clone(b->be) : NULL;
    if (!io->be) {
        goto fail;
    }
    io->kick_fd = dm_device_doorbell_take(b->dev, BLK_NOTIFY_REGION,
                                          BLK_NOTIFY_OFF(q));
    if (io->kick_fd < 0) {
        dm_debug("virtio-blk: queue %u stays on the loop: its doorbell is "
                 "no eventfd", q);
        b->ops->close(io->be);
        goto fail;
    }
    /* poll_us on the loop ends: the thread polls from now on. */
    io->look = b->recheck & (1u << q);
    if (b->polling & (1u << q)) {
        b->polling &= ~(1u << q);
        io->look |= dm_virtq_set_kicks(vq, true);
    }
    b->recheck &= ~(1u << q);
    lq->be = io->be;
    lq->io = io;
    vq->threaded = true;
    if (!lq->threaded_once) {
        lq->threaded_once = true;
        dm_info("virtio-blk: queue %u on an I/O thread of its own", q);
    }
    ret = pthread_create(&io->tid, NULL, blk_thread_run, io);
    if (ret) {
        dm_warn("virtio-blk: no I/O thread for queue %u: %s", q,
                strerror(ret));
        lq->io = NULL;
        lq->be = b->be;
        vq->threaded = false;
        dm_device_doorbell_give_back(b->dev, BLK_NOTIFY_REGION,
                                     BLK_NOTIFY_OFF(q));
        b->ops->close(io->be);
        goto fail;
    }
    return;

fail:
    if (io->stop_fd >= 0) {
        close(io->stop_fd);
    }
    free(io);
}

/* The loop's moment to give the queues that may have one a thread. */
static void blk_threads_start(void *opaque)
{
    VirtioBlk *b = opaque;

    for (unsigned q = 0; q < b->virtio.num_queues; q++) {
        blk_thread_start(b, q);
    }
}

/* ---- Transport callbacks ---- */

static void blk_queue_notify(void *opaque, unsigned q)
{
    VirtioBlk *b = opaque;
    BlkIoThread *io = b->lq[q].io;
    uint64_t one = 1;

    /* A kick by message, or the transport's catch-up: the thread's. */
    if (io) {
        if (write(io->kick_fd, &one, sizeof(one)) != sizeof(one)) {
            dm_warn("virtio-blk: cannot kick queue %u's I/O thread: %m", q);
        }
        return;
    }
    blk_process(b, q);
    if (b->iothread && !dm_timer_pending(&b->thread_timer)) {
        dm_timer_mod(&b->thread_timer, 0);
    }
}

static void blk_config_read(void *opaque, uint32_t offset, void *buf,
                            unsigned len)
{
    VirtioBlk *b = opaque;

    memcpy(buf, (uint8_t *)&b->config + offset, len);
}

static void blk_virtio_reset(void *opaque)
{
    VirtioBlk *b = opaque;

    for (unsigned q = 0; q < DM_VIRTIO_MAX_QUEUES; q++) {
        b->lq[q].throttled = false;     /* drained: nothing in flight */
    }
    blk_poll_cancel(b, false);  /* the rings are gone */
    blk_forget_all(b);
}

/* Show the driver @n queues, in the transport and in our config. */
static void blk_set_queues(VirtioBlk *b, unsigned n)
{
    if (dm_virtio_set_num_queues(&b->virtio, n) == 0) {
        b->config.num_queues = htole16(n);
    }
}

/* queues=0: one per vCPU of the client's VM, as QEMU's own disk has. */
static void blk_driver_starting(void *opaque)
{
    VirtioBlk *b = opaque;
    unsigned vcpus = dm_device_client_vcpus(b->dev);

    if (!b->queues) {
        blk_set_queues(b, vcpus == 0 ? 1 : vcpus < AUTO_MAX_QUEUES
                                            ? vcpus : AUTO_MAX_QUEUES);
    }
}

static const DmVirtioOps blk_virtio_ops = {
    .config_read = blk_config_read,
    .queue_notify = blk_queue_notify,
    .reset = blk_virtio_reset,
    .driver_starting = blk_driver_starting,
    .resume = blk_resume,
};

/* ---- Model ---- */

/* Open the image through the back end its name chooses. */
static int blk_open(VirtioBlk *b)
{
    BlkBackendOpts opts = {
        .readonly = b->readonly,
        .timeout_s = b->nbd_timeout,
        .direct = !strcmp(b->cache, "none"),
        .lock_wait_s = b->lock_wait,
        .inline_writes = b->inline_writes,
        .inline_slow_ns = b->inline_slow_ns,
    };
    int ret;

    b->ops = blk_nbd_is_uri(b->file) ? &blk_nbd_ops : &blk_file_ops;
    ret = b->ops->open(b->dev, b->file, &opts, &b->be, &b->info);
    if (ret < 0) {
        b->be = NULL;
        return ret;
    }
    for (unsigned q = 0; q < DM_VIRTIO_MAX_QUEUES; q++) {
        b->lq[q].be = b->be;
    }
    if (b->info.readonly && !b->readonly) {
        dm_warn("virtio-blk: %s is read-only: so is the disk", b->file);
        b->readonly = true;
    }
    b->sectors = b->info.size / SECTOR_SIZE;
    return 0;
}

static int blk_realize(DmDevice *dev)
{
    VirtioBlk *b = dm_device_state(dev);
    uint64_t features;
    unsigned max_queues;
    int64_t slow_us, unacked_kb;
    char err[96];
    int ret;

    b->dev = dev;
    /* First: unrealize undoes these whatever failed below. */
    dm_bufpool_init(&b->bufs, BUF_KEEP_BYTES);
    dm_timer_init(&b->poll_timer, dm_device_loop(dev), blk_poll, b);
    dm_timer_init(&b->irq_timer, dm_device_loop(dev), blk_irq_timer, b);
    dm_timer_init(&b->thread_timer, dm_device_loop(dev), blk_threads_start,
                  b);
    b->handoff_fd = -1;
    if (!b->file) {
        dm_error("virtio-blk: file= is required");
        return -EINVAL;
    }
    if ((b->queue_size & (b->queue_size - 1))) {
        dm_error("virtio-blk: queue_size must be a power of two");
        return -EINVAL;
    }
    if (parse_irq_delay(b->irq_delay_us, &b->irq_delay, err,
                        sizeof(err)) < 0) {
        dm_error("virtio-blk: %s", err);   /* the property's check passed */
        return -EINVAL;
    }
    /*
     * The tests' hooks: auto's hold longer, every inline write slow, the
     * bound on unacked reads' data small.
     */
    b->irq_delay_auto = IRQ_DELAY_AUTO_US;
    slow_us = BLK_INLINE_SLOW_NS / 1000;
    unacked_kb = UNACKED_MAX_BYTES / 1024;
    if (env_num("DM_BLK_IRQ_DELAY_AUTO_US", IRQ_DELAY_MAX_US, "microseconds",
                &b->irq_delay_auto) < 0 ||
        env_num("DM_BLK_INLINE_SLOW_US", INT64_MAX / 1000, "microseconds",
                &slow_us) < 0 ||
        env_num("DM_BLK_UNACKED_MAX_KB", UNACKED_MAX_BYTES / 1024, "KiB",
                &unacked_kb) < 0) {
        return -EINVAL;
    }
    b->inline_slow_ns = slow_us * 1000;
    b->unacked_max = unacked_kb * 1024;
    if (!strcmp(b->cache, "none") && blk_nbd_is_uri(b->file)) {
        dm_error("virtio-blk: cache=none is for files and block devices "
                 "(an NBD server has its own cache setting)");
        return -EINVAL;
    }
    ret = blk_open(b);
    if (ret < 0) {
        return ret;
    }
    if (b->iothread) {
        /* A ring of a queue's own on the image, or no threads at all. */
        BlkBackend *clone = b->ops->clone ? b->ops->clone(b->be) : NULL;

        if (!clone) {
            dm_warn("virtio-blk: iothread=on needs a file or a block device "
                    "on io_uring: the loop serves every queue");
            b->iothread = false;
        } else {
            b->ops->close(clone);
        }
    }
    if (b->iothread) {
        b->handoff_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (b->handoff_fd < 0 ||
            dm_loop_add_fd(dm_device_loop(dev), b->handoff_fd, POLLIN,
                           blk_handoff, b) < 0) {
            dm_error("virtio-blk: iothread=on: no eventfd to hear the "
                     "threads: %m");
            return -EMFILE;
        }
    }
    features = (1ULL << VIRTIO_BLK_F_SIZE_MAX) |
               (1ULL << VIRTIO_BLK_F_SEG_MAX) |
               (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
               (1ULL << VIRTIO_BLK_F_FLUSH) |
               (1ULL << VIRTIO_BLK_F_TOPOLOGY);
    if (b->readonly) {
        features |= 1ULL << VIRTIO_BLK_F_RO;
    } else {
        if (b->info.can_discard) {
            features |= 1ULL << VIRTIO_BLK_F_DISCARD;
        }
        if (b->info.can_write_zeroes) {
            features |= 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
        }
    }
    max_queues = b->queues ? b->queues : AUTO_MAX_QUEUES;
    if (max_queues > 1) {
        features |= 1ULL << VIRTIO_BLK_F_MQ;
    }
    b->config = (VirtioBlkConfig) {
        .capacity = htole64(b->sectors),
        .size_max = htole32(SIZE_MAX_BYTES),
        .seg_max = htole32(SEG_MAX < b->queue_size - 2 ? SEG_MAX
                                                       : b->queue_size - 2),
        .blk_size = htole32(SECTOR_SIZE),
        .min_io_size = htole16(1),
        .opt_io_size = htole32(0),
        .num_queues = htole16(1),
        .max_discard_sectors = htole32(DISCARD_MAX_SECTORS),
        .max_discard_seg = htole32(1),
        .discard_sector_alignment = htole32(1),
        .max_write_zeroes_sectors = htole32(DISCARD_MAX_SECTORS),
        .max_write_zeroes_seg = htole32(1),
        .write_zeroes_may_unmap = 1,
    };
    ret = dm_virtio_pci_init(&b->virtio, dev, VIRTIO_ID_BLOCK,
                             PCI_CLASS_STORAGE_SCSI, features, max_queues,
                             b->queue_size, sizeof(b->config),
                             &blk_virtio_ops, b);
    if (ret == 0) {
        /* queues=0 shows one until a driver starts (blk_driver_starting). */
        blk_set_queues(b, b->queues ? b->queues : 1);
        /* Pushed chains start at once; the look for more after (blk_finish). */
        for (unsigned q = 0; q < max_queues; q++) {
            dm_virtq_set_lazy_recheck(&b->virtio.vq[q], true);
        }
    }
    return ret;
}

/*
 * The I/O threads end (each answers what it has in flight), then the
 * back end's own requests (NBD's; the framework drains the work).  Before
 * a DMA_MAP or DMA_UNMAP, a reset, the client's loss or hand-over, a
 * VM's stop and the end: the threads never see the windows change; a
 * timer gives them back their queues once the loop is back (the next
 * kick on the loop does too), if the queues may have them still.
 */
static void blk_quiesce(DmDevice *dev)
{
    VirtioBlk *b = dm_device_state(dev);

    blk_threads_stop(b);
    if (b->be && b->ops->drain) {
        b->ops->drain(b->be);
    }
    /* The drain's answers, and those before, signalled before the end. */
    blk_irq_flush(b);
}

/*
 * The VM runs again (after a pause, or on a migration's target): the
 * chains that waited are taken, the threads started again.
 */
static void blk_vm_stopped_changed(DmDevice *dev)
{
    VirtioBlk *b = dm_device_state(dev);

    /*
     * Not before the queues are in step with this client (a restored
     * VM may say it runs before its set-up is replayed): the
     * transport's catch-up at the resync takes them then.
     */
    if (dm_device_vm_stopped(dev) || !dm_virtio_ready(&b->virtio) ||
        !dm_virtio_in_step(&b->virtio)) {
        return;
    }
    for (unsigned q = 0; q < b->virtio.num_queues; q++) {
        if (b->virtio.vq[q].enabled && !b->lq[q].io) {
            blk_process(b, q);
        }
    }
    if (b->iothread) {
        dm_timer_mod(&b->thread_timer, 0);
    }
}

/* Guest memory goes (after quiesce): no more looks at its rings. */
static void blk_dma_unmapped(DmDevice *dev, uint64_t iova, uint64_t size)
{
    VirtioBlk *b = dm_device_state(dev);

    blk_poll_cancel(b, true);
}

static void blk_reset(DmDevice *dev)
{
    VirtioBlk *b = dm_device_state(dev);

    dm_virtio_reset(&b->virtio);
}

/*
 * Crash survival: the transport's set-up is the whole state (the disk's
 * bytes are in the image, requests in flight in the queues' journals).
 */
static void blk_save(DmDevice *dev, DmStateOut *out)
{
    VirtioBlk *b = dm_device_state(dev);

    dm_virtio_save(&b->virtio, out);
}

static void blk_load(DmDevice *dev, DmStateIn *in, uint32_t version)
{
    VirtioBlk *b = dm_device_state(dev);

    dm_virtio_load(&b->virtio, in);
    if (b->queues && b->virtio.num_queues != b->queues) {
        dm_state_fail(in);      /* started with another queues= */
        return;
    }
    b->config.num_queues = htole16(b->virtio.num_queues);
}

static void blk_irqs_changed(DmDevice *dev)
{
    VirtioBlk *b = dm_device_state(dev);

    dm_virtio_irqs_changed(&b->virtio);
}

static void blk_dump(DmDevice *dev)
{
    VirtioBlk *b = dm_device_state(dev);

    for (unsigned q = 0; q < b->virtio.num_queues; q++) {
        BlkQueue *lq = &b->lq[q];

        /* A thread's queue is read as it runs: a hint, not a snapshot. */
        dm_info("virtio-blk: queue %u: %u requests in flight (%llu bytes)"
                "%s, served by %s", q, lq->inflight,
                (unsigned long long)lq->inflight_bytes,
                lq->throttled ? ", throttled" : "",
                lq->io ? "its I/O thread" : "the loop");
    }
    dm_info("virtio-blk: polling 0x%x, to look at again 0x%x, interrupts "
            "held 0x%x (holding 0x%x)", b->polling, b->recheck, b->irq_held,
            b->irq_holding);
    dm_virtio_dump(&b->virtio);
    for (unsigned q = 0; q < b->virtio.num_queues; q++) {
        BlkQueue *lq = &b->lq[q];

        if (!g_queue_is_empty(&lq->retake) ||
            !g_queue_is_empty(&lq->parked) ||
            !g_queue_is_empty(&lq->unacked)) {
            dm_info("virtio-blk: queue %u after a lost link: %u to start, "
                    "%u answers to write, %u answers not known applied", q,
                    g_queue_get_length(&lq->retake),
                    g_queue_get_length(&lq->parked),
                    g_queue_get_length(&lq->unacked));
        }
    }
}

static void blk_unrealize(DmDevice *dev)
{
    VirtioBlk *b = dm_device_state(dev);

    blk_threads_stop(b);        /* quiesced already: none left */
    dm_timer_del(&b->thread_timer);
    blk_poll_cancel(b, false);
    blk_forget_all(b);
    if (b->handoff_fd >= 0) {
        dm_loop_del_fd(dm_device_loop(dev), b->handoff_fd);
        close(b->handoff_fd);
        b->handoff_fd = -1;
    }
    if (b->be) {
        b->ops->close(b->be);
        b->be = NULL;
    }
    dm_virtio_pci_cleanup(&b->virtio);     /* the rings last */
    dm_bufpool_destroy(&b->bufs);          /* every request is gone */
}

static int check_serial(const char *val, char *err, size_t errlen)
{
    if (strlen(val) > ID_BYTES) {
        snprintf(err, errlen, "serial '%s' is longer than %d bytes", val,
                 ID_BYTES);
        return -EINVAL;
    }
    return 0;
}

static int check_cache(const char *val, char *err, size_t errlen)
{
    if (strcmp(val, "none") && strcmp(val, "writeback")) {
        snprintf(err, errlen, "cache '%s' is not none or writeback", val);
        return -EINVAL;
    }
    return 0;
}

static const DmProp blk_props[] = {
    DM_PROP_FILENAME("file", VirtioBlk, file, true,
                     "the image: a raw file, a block device, or an NBD export "
                     "(nbd+unix:///EXPORT?socket=PATH, nbd://HOST:PORT/"
                     "EXPORT)"),
    DM_PROP_BOOLEAN("readonly", VirtioBlk, readonly, "off",
                    "offer the disk read-only (VIRTIO_BLK_F_RO)"),
    DM_PROP_STRING_CHECKED("serial", VirtioBlk, serial, NULL, check_serial,
                           "what GET_ID answers (up to 20 bytes)"),
    DM_PROP_UINT64("queues", VirtioBlk, queues, "0", 0, 16,
                   "request queues; 0: one per vCPU of the client's VM, "
                   "up to 4, as it says when it connects (1 if it does "
                   "not); VIRTIO_BLK_F_MQ when more than 1 may be"),
    DM_PROP_UINT64("queue_size", VirtioBlk, queue_size, "256", 16, 1024,
                   "entries per queue, a power of two"),
    DM_PROP_UINT64("lock_wait", VirtioBlk, lock_wait, "10", 0, 600,
                   "a file or block device locked by another process: "
                   "seconds to wait for its lock before giving up (a "
                   "model killed just now keeps it until the kernel is "
                   "done with its requests)"),
    DM_PROP_UINT64("nbd_timeout", VirtioBlk, nbd_timeout, "30", 1, 3600,
                   "NBD: seconds to connect, and that requests may wait "
                   "for the server before it is given up (IOERR)"),
    DM_PROP_STRING_CHECKED("cache", VirtioBlk, cache, "writeback",
                           check_cache,
                           "the host's page cache for a file or block "
                           "device: writeback (through it) or none "
                           "(O_DIRECT; unaligned requests are copied)"),
    DM_PROP_BOOLEAN("inline_writes", VirtioBlk, inline_writes, "on",
                    "cache=writeback on io_uring: a write of up to 64 KiB "
                    "is done at once (pwritev on the loop or the queue's "
                    "I/O thread) rather than through io_uring, which gives "
                    "ext4's buffered writes to a kernel worker; a write "
                    "slower than 1 ms sends the next second's through "
                    "io_uring again"),
    DM_PROP_UINT64("poll_us", VirtioBlk, poll_us, "0", 0, 1000000,
                   "microseconds to keep polling a queue for requests "
                   "after its last one, kicks off meanwhile (guest memory "
                   "shared only; 0: wait for kicks)"),
    DM_PROP_STRING_CHECKED("irq_delay_us", VirtioBlk, irq_delay_us, "auto",
                           check_irq_delay,
                           "microseconds (0..100000) to hold a queue's "
                           "interrupt after the answer that owes it, so that "
                           "answers coming meanwhile share it; held while "
                           "holding pays (the driver made new requests during "
                           "the last hold), else every 16th, to see (0: at "
                           "once; auto: 50 for a TCG guest whose rings are in "
                           "shared memory, doubling while holding pays up "
                           "to 200, else 0; the loop's queues, not "
                           "iothread's)"),
    DM_PROP_BOOLEAN("iothread", VirtioBlk, iothread, "off",
                    "serve each queue on a thread of its own (its doorbell, "
                    "ring, io_uring and MSI-X) where its rings are in "
                    "shared memory (one host, guest RAM in a memfd) and the "
                    "image is a file or a block device on io_uring; the "
                    "loop serves it otherwise"),
    DM_PROP_END,
};

static const DmModel dm_model_virtio_blk = {
    .name = "virtio-blk",
    .description = "virtio 1.x block device on a raw image or an NBD "
                   "export (file=)",
    .bus = DM_BUS_PCI,
    .state_size = sizeof(VirtioBlk),
    .props = blk_props,
    .realize = blk_realize,
    .reset = blk_reset,
    .quiesce = blk_quiesce,
    .vm_stopped_changed = blk_vm_stopped_changed,
    .dma_unmapped = blk_dma_unmapped,
    .irqs_changed = blk_irqs_changed,
    .dump = blk_dump,
    .state_version = 1,
    .save = blk_save,
    .load = blk_load,
    .unrealize = blk_unrealize,
};
DM_MODEL_REGISTER(dm_model_virtio_blk)
