/*
 * DM_VQ_FETCH's ring walk (dm-vq-walk.h): the chains of a split
 * virtqueue after last_avail, each with its buffers and the bytes of its
 * readable ones.
 *
 * The ring is the guest's: every index, length and address is checked,
 * every loop is bounded by the ring's size, and the walk stops at the
 * first chain that breaks a rule (the model walks that one itself with
 * DMA_READ and puts its device in NEEDS_RESET).  Nothing here is trusted
 * by the model either: it checks the reply again.
 *
 * Plain C on purpose (no QEMU header; not even qemu/osdep.h): the fuzz
 * build compiles it too.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "dm-vq-walk.h"

#define VRING_DESC_F_NEXT       1
#define VRING_DESC_F_WRITE      2
#define VRING_DESC_F_INDIRECT   4

typedef struct VqDesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
} VqDesc;

typedef struct VqWalk {
    const DmVqWalkOps *ops;
    void *opaque;
    const VupDmVqFetch *req;
    uint32_t max_segs;
    VupDmVqSeg *segs;           /* max_segs of them */
    unsigned nsegs, nout;
    uint64_t readable;
} VqWalk;

static bool read_desc(VqWalk *w, uint64_t table, unsigned i, VqDesc *d)
{
    if (!w->ops->read(w->opaque, table + (uint64_t)i * 16, d, sizeof(*d))) {
        return false;
    }
    d->addr = le64toh(d->addr);
    d->len = le32toh(d->len);
    d->flags = le16toh(d->flags);
    d->next = le16toh(d->next);
    return true;
}

/* One buffer: readable ones first, in RAM, not wrapping. */
static bool add_seg(VqWalk *w, const VqDesc *d)
{
    bool write = d->flags & VRING_DESC_F_WRITE;

    if (w->nsegs >= w->max_segs ||
        (d->len && d->addr + d->len - 1 < d->addr) ||
        (!write && w->nsegs > w->nout) ||
        !w->ops->is_ram(w->opaque, d->addr, d->len, write)) {
        return false;
    }
    w->segs[w->nsegs++] = (VupDmVqSeg) {
        .addr = htole64(d->addr),
        .len = htole32(d->len),
        .flags = htole32(write ? VUP_DM_VQ_SEG_F_WRITE : 0),
    };
    if (!write) {
        w->nout++;
        w->readable += d->len;
    }
    return true;
}

static bool walk_indirect(VqWalk *w, const VqDesc *d)
{
    unsigned n = d->len / 16, i = 0, steps = 0;
    VqDesc id;

    if (!(w->req->flags & VUP_DM_VQ_FETCH_F_INDIRECT) || d->len == 0 ||
        d->len % 16 || n > w->max_segs) {
        return false;
    }
    for (;;) {
        if (!read_desc(w, d->addr, i, &id) ||
            (id.flags & VRING_DESC_F_INDIRECT) || !add_seg(w, &id)) {
            return false;
        }
        if (!(id.flags & VRING_DESC_F_NEXT)) {
            return true;
        }
        if (id.next >= n || ++steps >= n) {
            return false;
        }
        i = id.next;
    }
}

/* The chain at @head into w->segs: false if it breaks any rule. */
static bool walk_chain(VqWalk *w, uint16_t head)
{
    const VupDmVqFetch *req = w->req;
    unsigned steps = 0;
    uint16_t i = head;
    VqDesc d;

    w->nsegs = w->nout = 0;
    w->readable = 0;
    for (;;) {
        if (!read_desc(w, req->desc, i, &d)) {
            return false;
        }
        if (d.flags & VRING_DESC_F_INDIRECT) {
            return w->nsegs == 0 && !(d.flags & VRING_DESC_F_NEXT) &&
                   walk_indirect(w, &d);
        }
        if (!add_seg(w, &d)) {
            return false;
        }
        if (!(d.flags & VRING_DESC_F_NEXT)) {
            return true;
        }
        if (d.next >= req->size || ++steps >= req->size) {
            return false;
        }
        i = d.next;
    }
}

/* Append @w's chain (and its readable bytes if @with_data) to @out. */
static bool append_chain(VqWalk *w, uint16_t head, bool with_data,
                         GByteArray *out)
{
    VupDmVqChain c = {
        .head = htole16(head),
        .nsegs = htole16(w->nsegs),
        .nout = htole16(w->nout),
        .data_len = htole32(with_data ? w->readable : 0),
    };
    static const uint8_t zeros[8];
    guint start = out->len;

    g_byte_array_append(out, (const guint8 *)&c, sizeof(c));
    g_byte_array_append(out, (const guint8 *)w->segs,
                        w->nsegs * sizeof(VupDmVqSeg));
    if (!with_data) {
        return true;
    }
    for (unsigned i = 0; i < w->nout; i++) {
        uint32_t len = le32toh(w->segs[i].len);
        guint at = out->len;

        g_byte_array_set_size(out, at + len);
        if (!w->ops->read(w->opaque, le64toh(w->segs[i].addr),
                          out->data + at, len)) {
            g_byte_array_set_size(out, start);      /* not this chain */
            return false;
        }
    }
    g_byte_array_append(out, zeros, (8 - w->readable % 8) % 8);
    return true;
}

static int walk_chains(const DmVqWalkOps *ops, void *opaque,
                       const VupDmVqFetch *req, uint64_t limit, bool whole,
                       GByteArray **out, uint16_t *avail_idx)
{
    VupDmVqFetchReply h = { 0 };
    g_autofree VupDmVqSeg *segs = NULL;
    GByteArray *o;
    uint64_t data = 0;
    uint16_t idx, avail, n = 0;
    VqWalk w;

    if (req->size == 0 || req->size > 32768 ||
        (req->size & (req->size - 1)) || req->max_chains == 0 ||
        req->max_segs == 0 || (req->flags & ~VUP_DM_VQ_FETCH_F_INDIRECT)) {
        return -EINVAL;
    }
    if (!ops->read(opaque, req->avail + 2, &idx, sizeof(idx))) {
        return -EFAULT;
    }
    idx = le16toh(idx);
    /* Acquire: the chains were written before the index. */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    avail = idx - req->last_avail;
    w = (VqWalk) {
        .ops = ops, .opaque = opaque, .req = req,
        .max_segs = MIN(req->max_segs, DM_VQ_WALK_MAX_SEGS),
    };
    segs = g_new(VupDmVqSeg, w.max_segs);
    w.segs = segs;
    o = g_byte_array_sized_new(4096);
    g_byte_array_append(o, (const guint8 *)&h, sizeof(h));
    for (; avail <= req->size && n < MIN(avail, req->max_chains); n++) {
        uint16_t head;
        uint64_t need;
        bool with_data;

        if (!ops->read(opaque, req->avail + 4 +
                       2 * ((uint16_t)(req->last_avail + n) % req->size),
                       &head, sizeof(head))) {
            break;
        }
        head = le16toh(head);
        if (head >= req->size || !walk_chain(&w, head)) {
            break;
        }
        /* Its bytes too while they fit; the model reads the rest. */
        with_data = data + w.readable <= req->max_data;
        need = sizeof(VupDmVqChain) + w.nsegs * sizeof(VupDmVqSeg) +
               (with_data ? (w.readable + 7) / 8 * 8 : 0);
        if (whole && (!with_data || o->len + need > limit)) {
            break;              /* a push carries whole chains only */
        }
        if (o->len + need > limit) {
            with_data = false;
            need = sizeof(VupDmVqChain) + w.nsegs * sizeof(VupDmVqSeg);
            if (o->len + need > limit) {
                break;
            }
        }
        if (!append_chain(&w, head, with_data, o)) {
            break;
        }
        data += with_data ? w.readable : 0;
    }
    h.avail_idx = htole16(idx);
    h.nchains = htole16(n);
    memcpy(o->data, &h, sizeof(h));
    *out = o;
    *avail_idx = idx;
    return 0;
}

int dm_vq_walk_fetch(const DmVqWalkOps *ops, void *opaque,
                     const VupDmVqFetch *req, uint64_t limit,
                     GByteArray **out, uint16_t *avail_idx)
{
    return walk_chains(ops, opaque, req, limit, false, out, avail_idx);
}

int dm_vq_walk_push(const DmVqWalkOps *ops, void *opaque,
                    const VupDmVqFetch *req, uint64_t limit,
                    GByteArray **out, uint16_t *avail_idx)
{
    return walk_chains(ops, opaque, req, limit, true, out, avail_idx);
}
