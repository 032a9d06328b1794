/*
 * Split virtqueues, device side.
 *
 * Layout in guest memory (little-endian): the descriptor table (16
 * bytes each: addr u64, len u32, flags u16, next u16); the available
 * ring (flags u16, idx u16, ring[size] u16, used_event u16); the used
 * ring (flags u16, idx u16, ring[size] {id u32, len u32}, avail_event
 * u16).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtq.h"
#include "log.h"

#define VRING_DESC_F_NEXT       1
#define VRING_DESC_F_WRITE      2
#define VRING_DESC_F_INDIRECT   4
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY  1

typedef struct VirtqDesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
} VirtqDesc;
_Static_assert(sizeof(VirtqDesc) == 16, "descriptor layout");

static void journal_clear(DmVirtqJournal *j)
{
    memset(j, 0, sizeof(*j));
}

/* Drop the chains fetched and not popped; their elements' data too. */
static void fetch_drop(DmVirtq *q)
{
    q->fetch.from_push = false;
    free(q->fetch.buf);
    q->fetch.buf = NULL;
    q->fetch.len = q->fetch.pos = 0;
    q->fetch.left = 0;
    q->fetch.gen++;
}

void dm_virtq_reset(DmVirtq *q, DmDevice *dev, uint16_t max_size,
                    DmVirtqJournal *journal)
{
    uint64_t gen, bell_offset;
    unsigned bell_region;
    bool has_bell, lazy;

    fetch_drop(q);
    gen = q->fetch.gen;
    has_bell = q->has_bell;
    bell_region = q->bell_region;
    bell_offset = q->bell_offset;
    lazy = q->lazy_recheck;
    memset(q, 0, sizeof(*q));
    q->lazy_recheck = lazy;
    q->fetch.gen = gen;
    q->has_bell = has_bell;
    q->bell_region = bell_region;
    q->bell_offset = bell_offset;
    q->dev = dev;
    q->journal = journal;
    q->max_size = max_size;
    q->size = max_size;
    q->msix_vector = 0xffff;
}

void dm_virtq_set_doorbell(DmVirtq *q, unsigned region, uint64_t offset)
{
    q->has_bell = true;
    q->bell_region = region;
    q->bell_offset = offset;
}

void dm_virtq_set_lazy_recheck(DmVirtq *q, bool lazy)
{
    q->lazy_recheck = lazy;
}

bool dm_virtq_recheck_due(DmVirtq *q)
{
    bool due = q->fetch.recheck;

    q->fetch.recheck = false;
    return due && q->enabled && !q->parked;
}

void dm_virtq_start(DmVirtq *q)
{
    q->enabled = true;
    q->last_avail = q->used_idx = q->acked_used = 0;
    q->parked = false;
    q->signalled_valid = false;
    q->nresubmit = q->resubmit_pos = 0;
    fetch_drop(q);
    q->fetch.event_due = false;
    q->fetch.cookie = 0;        /* new rings: pushes of the old dropped */
    q->fetch.from_push = q->fetch.recheck = false;
    journal_clear(q->journal);
}

/* Order the journal's stores against the guest's, even across a kill. */
#define JOURNAL_BARRIER() __atomic_thread_fence(__ATOMIC_SEQ_CST)

static int read_u16(DmVirtq *q, uint64_t addr, uint16_t *v)
{
    uint16_t le;
    int ret = dm_dma_read(q->dev, addr, &le, sizeof(le));

    *v = le16toh(le);
    return ret;
}

static int write_u16(DmVirtq *q, uint64_t addr, uint16_t v)
{
    uint16_t le = htole16(v);

    return dm_dma_write(q->dev, addr, &le, sizeof(le));
}

int dm_virtq_confirm(DmVirtq *q)
{
    uint16_t acked = q->used_idx, idx;

    if (acked == q->acked_used) {
        return 0;
    }
    if (read_u16(q, q->used + 2, &idx) < 0) {
        return dm_dma_link_lost(q->dev) ? -ENOTCONN : -EIO;
    }
    q->acked_used = acked;
    return 0;
}

static int read_desc(DmVirtq *q, uint64_t table, unsigned i, VirtqDesc *d)
{
    int ret = dm_dma_read(q->dev, table + (uint64_t)i * 16, d, sizeof(*d));

    d->addr = le64toh(d->addr);
    d->len = le32toh(d->len);
    d->flags = le16toh(d->flags);
    d->next = le16toh(d->next);
    return ret;
}

#define BROKEN(...) do { snprintf(why, whylen, __VA_ARGS__); return -EIO; } \
    while (0)
/*
 * A DMA read failed: the link's fault (-ENOTCONN, the queue parks until
 * the next client) or the guest's (a bad address: broken, with a reason).
 */
#define DMA_FAILED(...) do { \
        if (dm_dma_link_lost(q->dev)) { \
            return -ENOTCONN; \
        } \
        BROKEN(__VA_ARGS__); \
    } while (0)

void dm_virtq_park(DmVirtq *q, const char *why)
{
    if (q->parked) {
        return;
    }
    /* Rare, and the one trace of why a queue stopped: always logged. */
    dm_warn("virtq: the queue with its used ring at 0x%llx parks: %s "
            "(last_avail %u, used %u, %u known applied; link %llu%s)",
            (unsigned long long)q->used, why, q->last_avail, q->used_idx,
            q->acked_used, (unsigned long long)dm_dma_link_id(q->dev),
            dm_dma_link_lost(q->dev) ? ", lost" : "");
    q->parked = true;
}

/* Add one buffer to @e, keeping readable ones before writable ones. */
static int add_seg(DmVirtqElem *e, const VirtqDesc *d, char *why,
                   size_t whylen)
{
    bool write = d->flags & VRING_DESC_F_WRITE;

    if (e->nsegs == DM_VIRTQ_MAX_SEGS) {
        BROKEN("a chain of more than %d buffers", DM_VIRTQ_MAX_SEGS);
    }
    if (d->len && d->addr + d->len - 1 < d->addr) {
        BROKEN("a buffer wraps around the address space");
    }
    if (!write && e->nsegs > e->nout) {
        BROKEN("a readable buffer after a writable one");
    }
    e->segs[e->nsegs++] = (DmVirtqSeg) { d->addr, d->len, write };
    if (!write) {
        e->nout++;
    }
    return 0;
}

/* Walk the indirect table of @d into @e. */
static int walk_indirect(DmVirtq *q, const VirtqDesc *d, DmVirtqElem *e,
                         char *why, size_t whylen)
{
    unsigned n = d->len / 16, i = 0, steps = 0;
    VirtqDesc id;

    if (!q->indirect) {
        BROKEN("an indirect descriptor without INDIRECT_DESC");
    }
    if (d->len == 0 || d->len % 16 || n > DM_VIRTQ_MAX_SEGS) {
        BROKEN("an indirect table of %u bytes", d->len);
    }
    for (;;) {
        if (read_desc(q, d->addr, i, &id) < 0) {
            DMA_FAILED("an indirect table outside guest memory (0x%llx)",
                       (unsigned long long)d->addr);
        }
        if (id.flags & VRING_DESC_F_INDIRECT) {
            BROKEN("an indirect descriptor inside an indirect table");
        }
        if (add_seg(e, &id, why, whylen) < 0) {
            return -EIO;
        }
        if (!(id.flags & VRING_DESC_F_NEXT)) {
            return 0;
        }
        if (id.next >= n || ++steps >= n) {
            BROKEN("an indirect chain that %s",
                   id.next >= n ? "leaves its table" : "loops");
        }
        i = id.next;
    }
}

/* The chain at @head into @e: 0, -ENOTCONN, or -EIO with a reason. */
static int read_chain(DmVirtq *q, uint16_t head, DmVirtqElem *e, char *why,
                      size_t whylen)
{
    unsigned steps = 0;
    uint16_t i;
    VirtqDesc d;
    int ret;

    e->head = head;
    e->nsegs = 0;
    e->nout = 0;
    for (i = head;; i = d.next) {
        if (read_desc(q, q->desc, i, &d) < 0) {
            DMA_FAILED("the descriptor table is outside guest memory");
        }
        if (d.flags & VRING_DESC_F_INDIRECT) {
            if (e->nsegs || (d.flags & VRING_DESC_F_NEXT)) {
                BROKEN("an indirect descriptor inside a chain");
            }
            ret = walk_indirect(q, &d, e, why, whylen);
            if (ret < 0) {
                return ret;
            }
            break;
        }
        if (add_seg(e, &d, why, whylen) < 0) {
            return -EIO;
        }
        if (!(d.flags & VRING_DESC_F_NEXT)) {
            break;
        }
        if (d.next >= q->size || ++steps >= q->size) {
            BROKEN("a chain that %s", d.next >= q->size ? "leaves the table"
                                                         : "loops");
        }
    }
    return 0;
}

/* A head the driver made available: in range, not in flight. */
static int check_head(DmVirtq *q, uint16_t head, char *why, size_t whylen)
{
    if (head >= q->size) {
        BROKEN("head %u on a queue of %u", head, q->size);
    }
    if (q->journal->popped[head]) {
        BROKEN("head %u made available again while in flight", head);
    }
    return 0;
}

/* @head is taken: in the journal first, then past it in the ring. */
static void taken(DmVirtq *q, uint16_t head)
{
    q->journal->popped[head] = ++q->journal->seq;
    JOURNAL_BARRIER();
    q->last_avail++;
}

/* ---- Chains fetched in one exchange (memory by messages) ---- */

/* Chains asked for per exchange, and their readable bytes at most. */
#define FETCH_MAX_CHAINS    64
#define FETCH_MAX_DATA      (2u << 20)
/* pop_fetched: no fetch here, take the chain with DMA reads. */
#define POP_WALK            2

/* Readable bytes a pushed kick carries at most (the client may send less). */
#define PUSH_MAX_DATA       (64u << 10)

/* A cookie for new rings: never 0, unique in the process. */
static uint32_t new_cookie(void)
{
    static uint32_t next;
    uint32_t c;

    do {
        c = __atomic_add_fetch(&next, 1, __ATOMIC_RELAXED);
    } while (c == 0);
    return c;
}

/*
 * Tell this link's client where the rings are, once, for chains pushed
 * with the kick (dm_vq_push); posted, so it costs the fetch that
 * follows nothing.  A client without it (or shared memory) says so and
 * is not asked again on this link.
 */
static void push_register(DmVirtq *q)
{
    VupDmVqRings r;
    uint64_t link = dm_dma_link_id(q->dev);

    if (!q->has_bell || q->threaded ||
        (q->fetch.cookie && q->fetch.push_link == link)) {
        return;
    }
    if (!q->fetch.cookie) {
        q->fetch.cookie = new_cookie();
    }
    q->fetch.push_link = link;
    q->fetch.push_told = false;
    r = (VupDmVqRings) {
        .region = q->bell_region,
        .cookie = q->fetch.cookie,
        .offset = q->bell_offset,
        .desc = q->desc,
        .avail = q->avail,
        .size = q->size,
        .last_avail = q->last_avail,
        .max_chains = q->size < FETCH_MAX_CHAINS ? q->size
                                                  : FETCH_MAX_CHAINS,
        .flags = q->indirect ? VUP_DM_VQ_RINGS_F_INDIRECT : 0,
        .max_segs = DM_VIRTQ_MAX_SEGS,
        .max_data = PUSH_MAX_DATA,
    };
    q->fetch.push_told = dm_dma_vq_rings(q->dev, &r) == 0;
}

/*
 * Step over one chain of a fetch reply's layout at *@pos of @buf: false
 * if it does not fit (the peer's fault).
 */
static bool skip_chain(const uint8_t *buf, size_t len, size_t *pos)
{
    VupDmVqChain c;
    uint64_t need;

    if (len - *pos < sizeof(c)) {
        return false;
    }
    memcpy(&c, buf + *pos, sizeof(c));
    need = sizeof(c) + (uint64_t)le16toh(c.nsegs) * sizeof(VupDmVqSeg) +
           (((uint64_t)le32toh(c.data_len) + 7) & ~7ULL);
    if (le16toh(c.nsegs) > DM_VIRTQ_MAX_SEGS || need > len - *pos) {
        return false;
    }
    *pos += need;
    return true;
}

/*
 * The chains that came with this kick (DM_VQ_KICK), if any are ours and
 * new: into the fetch buffer, as a fetch's reply would be.  Those taken
 * already (by a fetch that overtook the push) are stepped over; a push
 * that starts past last_avail (a gap: a push we dropped) or of other
 * rings is not taken, and the caller fetches.  1 taken, 0 not, -EIO.
 */
static int take_push(DmVirtq *q, char *why, size_t whylen)
{
    VupDmVqFetchReply h;
    const void *buf;
    size_t len, pos = sizeof(h);
    uint16_t first, avail, n, skip;
    uint8_t *copy;

    if (q->threaded || !q->fetch.cookie ||
        !dm_dma_vq_pushed(q->dev, q->fetch.cookie, &first, &buf, &len)) {
        return 0;
    }
    if (len < sizeof(h)) {
        BROKEN("the client pushed %zu bytes of chains", len);
    }
    memcpy(&h, buf, sizeof(h));
    n = le16toh(h.nchains);
    avail = (uint16_t)(le16toh(h.avail_idx) - first);
    if (avail > q->size || n > avail || n > q->size) {
        BROKEN("the client pushed %u chains from entry %u with the "
               "available index at %u on a queue of %u", n, first,
               le16toh(h.avail_idx), q->size);
    }
    skip = q->last_avail - first;
    if (skip >= n) {
        return 0;               /* all taken already, or a gap: fetch */
    }
    for (uint16_t i = 0; i < skip; i++) {
        if (!skip_chain(buf, len, &pos)) {
            BROKEN("the client's push ends inside chain %u of %u", i, n);
        }
    }
    copy = malloc(len);
    if (!copy) {
        return 0;
    }
    memcpy(copy, buf, len);
    fetch_drop(q);
    q->fetch.buf = copy;
    q->fetch.len = len;
    q->fetch.pos = pos;
    q->fetch.left = n - skip;
    q->fetch.active = true;
    /*
     * It saw every chain: past them, tell the driver where to kick now
     * (posted, before any answer goes), and look for more only after an
     * answer (dm_virtq_set_lazy_recheck).
     */
    q->fetch.from_push = q->lazy_recheck && n == avail;
    if (q->fetch.from_push && q->event_idx && !q->no_kicks) {
        write_u16(q, q->used + 4 + 8 * q->size, le16toh(h.avail_idx));
    }
    return 1;
}

int dm_virtq_recheck_remote(DmVirtq *q)
{
    VupDmVqRecheck r = {
        .region = q->bell_region,
        .cookie = q->fetch.cookie,
        .offset = q->bell_offset,
        .last_avail = q->last_avail,
    };

    if (!q->fetch.cookie || !q->fetch.push_told || q->threaded ||
        dm_dma_link_id(q->dev) != q->fetch.push_link) {
        return -ENOTSUP;
    }
    if (q->event_idx && !q->no_kicks) {
        /* Where the driver kicks next, before the client looks. */
        write_u16(q, q->used + 4 + 8 * q->size, q->last_avail);
    }
    return dm_dma_vq_recheck(q->dev, &r);
}

/*
 * Ask the client for the chains after last_avail: 0, POP_WALK,
 * -ENOTCONN (the link is gone), -EIO.
 */
static int fetch_more(DmVirtq *q, char *why, size_t whylen)
{
    VupDmVqFetch req = {
        .desc = q->desc,
        .avail = q->avail,
        .size = q->size,
        .last_avail = q->last_avail,
        .max_chains = q->size < FETCH_MAX_CHAINS ? q->size
                                                  : FETCH_MAX_CHAINS,
        .flags = q->indirect ? VUP_DM_VQ_FETCH_F_INDIRECT : 0,
        .max_segs = DM_VIRTQ_MAX_SEGS,
        .max_data = FETCH_MAX_DATA,
    };
    VupDmVqFetchReply h;
    void *buf = NULL;
    size_t len = 0;
    uint16_t avail, acked;
    int ret;

    fetch_drop(q);
    acked = q->used_idx;
    if (q->fetch.event_due) {
        /* Posted, so ordered before the fetch that looks again. */
        q->fetch.event_due = false;
        write_u16(q, q->used + 4 + 8 * q->size, q->last_avail);
    }
    push_register(q);
    ret = dm_dma_vq_fetch(q->dev, &req, &buf, &len);
    q->fetch.active = ret == 0;
    if (ret < 0) {
        if (dm_dma_link_lost(q->dev)) {
            return -ENOTCONN;
        }
        /* Shared memory, a client without it, or its error: walk. */
        return POP_WALK;
    }
    /* Its reply came after our writes before it: they landed. */
    q->acked_used = acked;
    if (len < sizeof(h)) {
        free(buf);
        BROKEN("the client's fetch reply is %zu bytes", len);
    }
    memcpy(&h, buf, sizeof(h));
    avail = (uint16_t)(le16toh(h.avail_idx) - q->last_avail);
    if (avail > q->size) {
        free(buf);
        BROKEN("the available index moved by %u on a queue of %u", avail,
               q->size);
    }
    if (le16toh(h.nchains) > avail || le16toh(h.nchains) > req.max_chains) {
        free(buf);
        BROKEN("the client fetched %u chains of %u available",
               le16toh(h.nchains), avail);
    }
    if (h.nchains == 0) {
        free(buf);
        /* Nothing new, or a chain the client would not walk: we do. */
        return avail ? POP_WALK : 0;
    }
    q->fetch.buf = buf;
    q->fetch.len = len;
    q->fetch.pos = sizeof(h);
    q->fetch.left = le16toh(h.nchains);
    if (q->fetch.push_told) {
        /*
         * Chains no push brought (too big for one, made available
         * unkicked, or the client lost our rings: a doorbell it learnt
         * after them): tell the rings again before the next fetch.
         */
        q->fetch.push_link = 0;
    }
    return 0;
}

/* The next fetched chain into @e: 1, 0 (none), POP_WALK or -EIO. */
static int pop_fetched(DmVirtq *q, DmVirtqElem *e, char *why, size_t whylen)
{
    VupDmVqChain c;
    uint64_t readable = 0, pad;
    size_t pos;
    int ret;

    if (!q->fetch.left && q->fetch.from_push) {
        /* A push's chains taken: the next look comes after an answer. */
        q->fetch.from_push = false;
        q->fetch.recheck = true;
        return 0;
    }
    if (!q->fetch.left) {
        ret = take_push(q, why, whylen);
        if (ret == 0) {
            ret = fetch_more(q, why, whylen);
        }
        if (ret < 0 || ret == POP_WALK) {
            return ret;
        }
        if (!q->fetch.left) {
            return 0;
        }
    }
    pos = q->fetch.pos;
    if (q->fetch.len - pos < sizeof(c)) {
        BROKEN("the client's fetch reply ends inside a chain");
    }
    memcpy(&c, q->fetch.buf + pos, sizeof(c));
    c.head = le16toh(c.head);
    c.nsegs = le16toh(c.nsegs);
    c.nout = le16toh(c.nout);
    c.data_len = le32toh(c.data_len);
    pos += sizeof(c);
    if (check_head(q, c.head, why, whylen) < 0) {
        return -EIO;
    }
    if (c.nsegs == 0 || c.nsegs > DM_VIRTQ_MAX_SEGS || c.nout > c.nsegs ||
        (q->fetch.len - pos) / sizeof(VupDmVqSeg) < c.nsegs) {
        BROKEN("the client fetched a chain of %u buffers (%u readable)",
               c.nsegs, c.nout);
    }
    e->head = c.head;
    e->nsegs = e->nout = 0;
    for (unsigned i = 0; i < c.nsegs; i++) {
        VupDmVqSeg sg;
        VirtqDesc d;

        memcpy(&sg, q->fetch.buf + pos, sizeof(sg));
        pos += sizeof(sg);
        d.addr = le64toh(sg.addr);
        d.len = le32toh(sg.len);
        d.flags = (le32toh(sg.flags) & VUP_DM_VQ_SEG_F_WRITE) ?
                  VRING_DESC_F_WRITE : 0;
        if (add_seg(e, &d, why, whylen) < 0) {
            return -EIO;
        }
        readable += d.flags ? 0 : d.len;
    }
    if (e->nout != c.nout) {
        BROKEN("the client fetched %u readable buffers and said %u",
               e->nout, c.nout);
    }
    pad = ((uint64_t)c.data_len + 7) & ~7ULL;
    if ((c.data_len && c.data_len != readable) ||
        q->fetch.len - pos < pad) {
        BROKEN("the client fetched %u bytes of a chain's %llu", c.data_len,
               (unsigned long long)readable);
    }
    e->fetch_q = q;
    e->fetch_gen = q->fetch.gen;
    e->out_data = c.data_len ? q->fetch.buf + pos : NULL;
    q->fetch.pos = pos + pad;
    q->fetch.left--;
    taken(q, c.head);
    q->fetch.event_due = q->event_idx;
    return 1;
}

/* dm_virtq_pop, where -ENOTCONN says the link went (nothing taken). */
static int pop(DmVirtq *q, DmVirtqElem *e, char *why, size_t whylen)
{
    uint16_t avail_idx, head, acked = q->used_idx;
    int ret;

    if (q->resubmit_pos >= q->nresubmit) {
        ret = pop_fetched(q, e, why, whylen);
        if (ret != POP_WALK) {
            return ret;
        }
    }
    if (q->resubmit_pos < q->nresubmit) {
        /* In flight when the process died: the journal still has it. */
        ret = read_chain(q, q->resubmit[q->resubmit_pos], e, why, whylen);
        if (ret < 0) {
            return ret;
        }
        q->resubmit_pos++;
        return 1;
    }
    if (read_u16(q, q->avail + 2, &avail_idx) < 0) {
        DMA_FAILED("the available ring is outside guest memory");
    }
    q->acked_used = acked;
    if (avail_idx == q->last_avail) {
        return 0;
    }
    if ((uint16_t)(avail_idx - q->last_avail) > q->size) {
        BROKEN("the available index moved by %u on a queue of %u",
               (uint16_t)(avail_idx - q->last_avail), q->size);
    }
    if (read_u16(q, q->avail + 4 + 2 * (q->last_avail % q->size), &head) < 0) {
        DMA_FAILED("the available ring is outside guest memory");
    }
    if (check_head(q, head, why, whylen) < 0) {
        return -EIO;
    }
    ret = read_chain(q, head, e, why, whylen);
    if (ret < 0) {
        return ret;
    }
    taken(q, head);
    if (q->event_idx && !q->no_kicks) {
        /*
         * avail_event: tell the driver which index to kick us at.  Then a
         * full barrier before the next pop reads the available index: a
         * driver that read the old avail_event did not kick, and we must
         * see what it added, not a value our store overtook (a store may
         * pass a later load on x86).
         */
        write_u16(q, q->used + 4 + 8 * q->size, q->last_avail);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    }
    return 1;
}

int dm_virtq_pop(DmVirtq *q, DmVirtqElem *e, char *why, size_t whylen)
{
    int ret;

    e->out_data = NULL;
    e->fetch_q = NULL;
    if (!q->enabled || !q->size || q->parked) {
        return 0;
    }
    ret = pop(q, e, why, whylen);
    if (ret == -ENOTCONN) {
        /* Nothing was taken: the next client's resume takes it. */
        dm_virtq_park(q, "a ring read failed with the link");
        return 0;
    }
    return ret;
}

/* A push's write failed: the link (-ENOTCONN, the queue parks) or -EIO. */
static int push_failed(DmVirtq *q)
{
    if (dm_dma_link_lost(q->dev)) {
        dm_virtq_park(q, "a used ring write failed with the link");
        return -ENOTCONN;
    }
    return -EIO;
}

int dm_virtq_push(DmVirtq *q, const DmVirtqElem *e, uint32_t written)
{
    return dm_virtq_push_batch(q, &e, &written, 1);
}

int dm_virtq_push_batch(DmVirtq *q, const DmVirtqElem *const *e,
                        const uint32_t *written, unsigned n)
{
    DmVirtqJournal *j = q->journal;
    uint16_t used_idx = q->used_idx + n;

    if (n == 0) {
        return 0;
    }
    if (n > q->size) {
        return -EIO;
    }
    if (q->parked) {
        return -ENOTCONN;       /* behind pushes still to redo */
    }
    /*
     * A kill anywhere in here leaves the journal telling: before the
     * index is written the chains are still in flight; after, the
     * guest's index is n past the journal's, and the used ring we wrote
     * names them (last_head too, when n is 1).
     */
    j->last_head = e[n - 1]->head;
    j->batch = n > 1 ? n : 0;
    for (unsigned i = 0; i < n; i++) {
        j->used_head[(uint16_t)(q->used_idx + i) % q->size] = e[i]->head;
    }
    JOURNAL_BARRIER();
    for (unsigned i = 0; i < n; i++) {
        uint32_t elem[2] = { htole32(e[i]->head), htole32(written[i]) };
        uint64_t slot = q->used + 4 +
                        8 * (uint64_t)((uint16_t)(q->used_idx + i) % q->size);

        if (dm_dma_write(q->dev, slot, elem, sizeof(elem)) < 0) {
            return push_failed(q);
        }
    }
    /* The entries before the index: the driver may read them at once. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    if (write_u16(q, q->used + 2, used_idx) < 0) {
        return push_failed(q);
    }
    q->used_idx = used_idx;
    if (!dm_dma_posted(q->dev, q->used + 2)) {
        q->acked_used = used_idx;       /* applied when the call returned */
    }
    JOURNAL_BARRIER();
    for (unsigned i = 0; i < n; i++) {
        if (e[i]->head < DM_VIRTQ_MAX_SIZE) {
            j->popped[e[i]->head] = 0;
        }
    }
    j->used_idx = q->used_idx;
    j->batch = 0;
    return 0;
}

static int by_seq(const void *a, const void *b, void *journal)
{
    const DmVirtqJournal *j = journal;
    uint64_t sa = j->popped[*(const uint16_t *)a];
    uint64_t sb = j->popped[*(const uint16_t *)b];

    return sa < sb ? -1 : sa > sb;
}

int dm_virtq_recover(DmVirtq *q, char *why, size_t whylen)
{
    DmVirtqJournal *j = q->journal;
    uint16_t guest_used, n = 0;

    if (read_u16(q, q->used + 2, &guest_used) < 0) {
        return -EAGAIN;         /* no client, or its memory not mapped yet */
    }
    if (guest_used == (uint16_t)(j->used_idx + 1)) {
        /* Killed between the index and the journal: that one is done. */
        if (j->last_head < DM_VIRTQ_MAX_SIZE) {
            j->popped[j->last_head] = 0;
        }
        j->used_idx = guest_used;
    } else if (j->batch > 1 && j->batch <= q->size &&
               guest_used == (uint16_t)(j->used_idx + j->batch)) {
        /* The same for a batch: the used ring says which were done. */
        for (uint16_t i = 0; i < j->batch; i++) {
            uint32_t head;
            uint64_t slot = q->used + 4 +
                            8 * (uint64_t)((uint16_t)(j->used_idx + i) %
                                           q->size);

            if (dm_dma_read(q->dev, slot, &head, sizeof(head)) < 0) {
                return -EAGAIN;
            }
            head = le32toh(head);
            if (head >= q->size) {
                BROKEN("the used ring names head %u on a queue of %u", head,
                       q->size);
            }
            j->popped[head] = 0;
        }
        j->used_idx = guest_used;
        j->batch = 0;
    } else if ((uint16_t)(j->used_idx - guest_used) <= q->size &&
               guest_used != j->used_idx) {
        /*
         * Pushes by posted writes (TCP) that died with the process or
         * its link before the client applied them: the guest never saw
         * those chains used, so they are in flight again, to run again.
         */
        for (uint16_t i = guest_used; i != j->used_idx; i++) {
            uint16_t head = j->used_head[i % q->size];

            if (head >= q->size || j->popped[head]) {
                BROKEN("the used index is %u in guest memory but %u in the "
                       "journal, whose push of head %u cannot be run again",
                       guest_used, j->used_idx, head);
            }
            j->popped[head] = ++j->seq;
        }
        JOURNAL_BARRIER();
        j->used_idx = guest_used;
    } else if (guest_used != j->used_idx) {
        BROKEN("the used index is %u in guest memory but %u in the journal",
               guest_used, j->used_idx);
    }
    for (unsigned h = 0; h < DM_VIRTQ_MAX_SIZE; h++) {
        if (!j->popped[h]) {
            continue;
        }
        if (h >= q->size) {
            BROKEN("the journal has head %u on a queue of %u", h, q->size);
        }
        q->resubmit[n++] = h;
    }
    qsort_r(q->resubmit, n, sizeof(q->resubmit[0]), by_seq, j);
    q->nresubmit = n;
    q->resubmit_pos = 0;
    q->used_idx = q->acked_used = guest_used;
    /* Every chain taken is either used or in flight. */
    q->last_avail = guest_used + n;
    q->signalled_valid = false;
    /* A process that died polling left the driver's kicks off. */
    dm_virtq_set_kicks(q, true);
    return 0;
}

int dm_virtq_resync(DmVirtq *q, char *why, size_t whylen)
{
    uint16_t guest_used, lost;

    if (!q->enabled || !q->size) {
        q->parked = false;
        return 0;
    }
    if (read_u16(q, q->used + 2, &guest_used) < 0) {
        DMA_FAILED("the used ring is outside guest memory");
    }
    /* The guest's index lies between what was acknowledged and ours. */
    lost = q->used_idx - guest_used;
    if ((uint16_t)(guest_used - q->acked_used) >
        (uint16_t)(q->used_idx - q->acked_used)) {
        BROKEN("the used index is %u in guest memory, ours %u (%u known "
               "applied)", guest_used, q->used_idx, q->acked_used);
    }
    /*
     * Pushes that never landed go again, at the same slots: the
     * journal's index steps back with ours (their heads are the model's
     * to push again, in the same order).
     */
    q->used_idx = q->acked_used = guest_used;
    q->journal->used_idx = guest_used;
    q->journal->batch = 0;
    q->signalled_valid = false;
    /* The ring as this client sees it: a fetch of the old one is stale. */
    fetch_drop(q);
    q->fetch.event_due = false;
    q->parked = false;
    /* Kicks on: a write lost with the link may have left them off. */
    dm_virtq_set_kicks(q, true);
    return lost;
}

bool dm_virtq_set_kicks(DmVirtq *q, bool on)
{
    uint16_t avail_idx;

    q->no_kicks = !on;
    if (q->event_idx) {
        if (on) {
            write_u16(q, q->used + 4 + 8 * q->size, q->last_avail);
        }
    } else {
        write_u16(q, q->used, on ? 0 : VRING_USED_F_NO_NOTIFY);
    }
    if (!on) {
        return false;
    }
    /* As in pop: our store before our load of the driver's index. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return read_u16(q, q->avail + 2, &avail_idx) == 0 &&
           avail_idx != q->last_avail;
}

bool dm_virtq_should_notify(DmVirtq *q)
{
    uint16_t flags, event, old = q->signalled_used;
    bool valid = q->signalled_valid;

    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!q->event_idx) {
        return read_u16(q, q->avail, &flags) < 0 ||
               !(flags & VRING_AVAIL_F_NO_INTERRUPT);
    }
    q->signalled_used = q->used_idx;
    q->signalled_valid = true;
    if (!valid || read_u16(q, q->avail + 4 + 2 * q->size, &event) < 0) {
        return true;
    }
    /* vring_need_event: did used_idx pass used_event since last time? */
    return (uint16_t)(q->used_idx - event - 1) <
           (uint16_t)(q->used_idx - old);
}

bool dm_virtq_notify_cond(DmVirtq *q, VupDmVqIrq *c)
{
    if (!q->fetch.active || (q->event_idx && !q->signalled_valid)) {
        return false;
    }
    *c = (VupDmVqIrq) {
        .avail = q->avail,
        .size = q->size,
        .old_used = q->signalled_used,
        .new_used = q->used_idx,
        .flags = q->event_idx ? VUP_DM_VQ_IRQ_F_EVENT_IDX : 0,
    };
    return true;
}

void dm_virtq_notify_cond_sent(DmVirtq *q)
{
    q->signalled_used = q->used_idx;
}

uint64_t dm_virtq_out_len(const DmVirtqElem *e)
{
    uint64_t n = 0;

    for (unsigned i = 0; i < e->nout; i++) {
        n += e->segs[i].len;
    }
    return n;
}

uint64_t dm_virtq_in_len(const DmVirtqElem *e)
{
    uint64_t n = 0;

    for (unsigned i = e->nout; i < e->nsegs; i++) {
        n += e->segs[i].len;
    }
    return n;
}

/* Copy @len bytes at @offset of the segments [first, last) to/from @buf. */
static int64_t copy(DmDevice *dev, const DmVirtqElem *e, unsigned first,
                    unsigned last, uint64_t offset, void *buf, uint64_t len,
                    bool to_guest)
{
    uint8_t *p = buf;
    uint64_t done = 0;

    for (unsigned i = first; i < last && done < len; i++) {
        const DmVirtqSeg *s = &e->segs[i];
        uint64_t n;
        int ret;

        if (offset >= s->len) {
            offset -= s->len;
            continue;
        }
        n = s->len - offset;
        n = n < len - done ? n : len - done;
        ret = to_guest ? dm_dma_write(dev, s->addr + offset, p + done, n)
                       : dm_dma_read(dev, s->addr + offset, p + done, n);
        if (ret < 0) {
            return ret;
        }
        done += n;
        offset = 0;
    }
    return done;
}

int64_t dm_virtq_read(DmDevice *dev, const DmVirtqElem *e, uint64_t offset,
                      void *buf, uint64_t len)
{
    if (e->out_data && e->fetch_q->fetch.gen == e->fetch_gen) {
        uint64_t total = dm_virtq_out_len(e);

        if (offset >= total) {
            return 0;
        }
        len = len < total - offset ? len : total - offset;
        memcpy(buf, e->out_data + offset, len);
        return len;
    }
    return copy(dev, e, 0, e->nout, offset, buf, len, false);
}

int64_t dm_virtq_write(DmDevice *dev, const DmVirtqElem *e, uint64_t offset,
                       const void *buf, uint64_t len)
{
    return copy(dev, e, e->nout, e->nsegs, offset, (void *)buf, len, true);
}

/* A ring field for the dump: its value, or -1 where it cannot be read. */
static int dump_u16(DmVirtq *q, uint64_t addr)
{
    uint16_t v;

    return read_u16(q, addr, &v) < 0 ? -1 : v;
}

void dm_virtq_dump(DmVirtq *q, unsigned n)
{
    if (!q->enabled) {
        dm_info("queue %u: not enabled", n);
        return;
    }
    dm_info("queue %u: size %u, vector %u; ours: last_avail %u, used %u "
            "(%u known applied), signalled %u%s%s%s%s; guest's: avail flags "
            "%d idx %d used_event %d, used flags %d idx %d avail_event %d; "
            "%u to run again", n, q->size, q->msix_vector, q->last_avail,
            q->used_idx, q->acked_used, q->signalled_used,
            q->signalled_valid ? "" : " (none yet)",
            q->event_idx ? ", event idx" : "",
            q->no_kicks ? ", kicks off (polling)" : "",
            q->parked ? ", parked (waits for a client)" : "",
            dump_u16(q, q->avail), dump_u16(q, q->avail + 2),
            dump_u16(q, q->avail + 4 + 2 * (uint64_t)q->size),
            dump_u16(q, q->used), dump_u16(q, q->used + 2),
            dump_u16(q, q->used + 4 + 8 * (uint64_t)q->size),
            q->nresubmit - q->resubmit_pos);
}
