/*
 * DM_VQ_FETCH (vup/dm-ext.h, docs/protocol.md): a model that reaches
 * guest memory by messages (TCP) asks for the chains of a split
 * virtqueue in one exchange instead of a DMA_READ per index, descriptor
 * and buffer.  Here the proxy walks the ring in guest memory and
 * answers with each chain's buffers and the bytes of its readable ones.
 *
 * The ring is the guest's: every index, length and address is checked,
 * every loop is bounded by the ring's size, and the walk stops quietly
 * at the first chain that breaks a rule (the model walks that one
 * itself with DMA_READ and puts its device in NEEDS_RESET).  Nothing
 * here is trusted by the model either: it checks the reply again.
 *
 * DM_VQ_IRQ, the other half: the model asks for an interrupt only if
 * the driver wants it, which is read here in guest memory (used_event)
 * instead of by one more round trip from the model.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/pci/pci_device.h"
#include "system/dma.h"
#include "hw/remote-dm/dm-proxy.h"
#include "vup/dm-ext.h"
#include "trace.h"

#define VRING_DESC_F_NEXT       1
#define VRING_DESC_F_WRITE      2
#define VRING_DESC_F_INDIRECT   4

/* Buffers of one chain we walk, whatever the model allows. */
#define DM_VQ_FETCH_MAX_SEGS    1024

typedef struct VqDesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
} VqDesc;

typedef struct VqWalk {
    PCIDevice *pdev;
    const VupDmVqFetch *req;
    VupDmVqSeg *segs;           /* req->max_segs of them */
    unsigned nsegs, nout;
    uint64_t readable;
} VqWalk;

static bool read_desc(VqWalk *w, uint64_t table, unsigned i, VqDesc *d)
{
    if (pci_dma_read(w->pdev, table + (uint64_t)i * 16, d, sizeof(*d)) !=
        MEMTX_OK) {
        return false;
    }
    d->addr = le64_to_cpu(d->addr);
    d->len = le32_to_cpu(d->len);
    d->flags = le16_to_cpu(d->flags);
    d->next = le16_to_cpu(d->next);
    return true;
}

/* One buffer: readable ones first, in RAM, not wrapping. */
static bool add_seg(VqWalk *w, const VqDesc *d)
{
    bool write = d->flags & VRING_DESC_F_WRITE;

    if (w->nsegs >= w->req->max_segs ||
        (d->len && d->addr + d->len - 1 < d->addr) ||
        (!write && w->nsegs > w->nout) ||
        !dm_proxy_pci_dma_is_ram(w->pdev, d->addr, d->len, write)) {
        return false;
    }
    w->segs[w->nsegs++] = (VupDmVqSeg) {
        .addr = cpu_to_le64(d->addr),
        .len = cpu_to_le32(d->len),
        .flags = cpu_to_le32(write ? VUP_DM_VQ_SEG_F_WRITE : 0),
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
        d->len % 16 || n > w->req->max_segs) {
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
        .head = cpu_to_le16(head),
        .nsegs = cpu_to_le16(w->nsegs),
        .nout = cpu_to_le16(w->nout),
        .data_len = cpu_to_le32(with_data ? w->readable : 0),
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
        uint32_t len = le32_to_cpu(w->segs[i].len);
        guint at = out->len;

        g_byte_array_set_size(out, at + len);
        if (pci_dma_read(w->pdev, le64_to_cpu(w->segs[i].addr),
                         out->data + at, len) != MEMTX_OK) {
            g_byte_array_set_size(out, start);      /* not this chain */
            return false;
        }
    }
    g_byte_array_append(out, zeros, (8 - w->readable % 8) % 8);
    return true;
}

void dm_proxy_vq_fetch(DMProxy *p, PCIDevice *pdev, VupMsg *m)
{
    VupDmVqFetch req;
    VupDmVqFetchReply h = { 0 };
    g_autoptr(GByteArray) out = NULL;
    g_autofree VupDmVqSeg *segs = NULL;
    uint64_t limit = p->caps.max_data_xfer_size, data = 0;
    uint16_t idx, avail, n = 0;
    VqWalk w;

    memcpy(&req, m->payload, sizeof(req));
    if (req.size == 0 || req.size > 32768 || (req.size & (req.size - 1)) ||
        req.max_chains == 0 || req.max_segs == 0 ||
        (req.flags & ~VUP_DM_VQ_FETCH_F_INDIRECT)) {
        dm_proxy_reply_error(p, m, EINVAL);
        return;
    }
    req.max_segs = MIN(req.max_segs, DM_VQ_FETCH_MAX_SEGS);
    if (pci_dma_read(pdev, req.avail + 2, &idx, sizeof(idx)) != MEMTX_OK) {
        dm_proxy_reply_error(p, m, EFAULT);
        return;
    }
    idx = le16_to_cpu(idx);
    /* Acquire: the chains were written before the index. */
    smp_rmb();
    avail = idx - req.last_avail;
    segs = g_new(VupDmVqSeg, req.max_segs);
    w = (VqWalk) { .pdev = pdev, .req = &req, .segs = segs };
    out = g_byte_array_sized_new(4096);
    g_byte_array_append(out, (const guint8 *)&h, sizeof(h));
    for (; avail <= req.size && n < MIN(avail, req.max_chains); n++) {
        uint16_t head;
        uint64_t need;
        bool with_data;

        if (pci_dma_read(pdev, req.avail + 4 +
                         2 * ((uint16_t)(req.last_avail + n) % req.size),
                         &head, sizeof(head)) != MEMTX_OK) {
            break;
        }
        head = le16_to_cpu(head);
        if (head >= req.size || !walk_chain(&w, head)) {
            break;
        }
        /* Its bytes too while they fit; the model reads the rest. */
        with_data = data + w.readable <= req.max_data;
        need = sizeof(VupDmVqChain) + w.nsegs * sizeof(VupDmVqSeg) +
               (with_data ? ROUND_UP(w.readable, 8) : 0);
        if (out->len + need > limit) {
            with_data = false;
            need = sizeof(VupDmVqChain) + w.nsegs * sizeof(VupDmVqSeg);
            if (out->len + need > limit) {
                break;
            }
        }
        if (!append_chain(&w, head, with_data, out)) {
            break;
        }
        data += with_data ? w.readable : 0;
    }
    h.avail_idx = cpu_to_le16(idx);
    h.nchains = cpu_to_le16(n);
    memcpy(out->data, &h, sizeof(h));
    trace_dm_proxy_vq_fetch(p->id, req.last_avail, idx, n, out->len);
    dm_proxy_reply(p, m, out->data, out->len);
}

/* virtio 1.2 2.7.7.2: has new_used passed event since old_used? */
static bool vring_need_event(uint16_t event, uint16_t new_used,
                             uint16_t old_used)
{
    return (uint16_t)(new_used - event - 1) <
           (uint16_t)(new_used - old_used);
}

void dm_proxy_vq_irq(DMProxy *p, PCIDevice *pdev, VupMsg *m)
{
    VupDmVqIrq c;
    uint16_t v;
    bool want = true;
    uint64_t at;

    memcpy(&c, m->payload, sizeof(c));
    at = c.flags & VUP_DM_VQ_IRQ_F_EVENT_IDX ? c.avail + 4 + 2ULL * c.size
                                               : c.avail;
    /*
     * The used index (a posted write before this message) before the
     * driver's word: the driver orders them the other way round.
     */
    smp_mb();
    if (c.size && c.size <= 32768 &&
        pci_dma_read(pdev, at, &v, sizeof(v)) == MEMTX_OK) {
        v = le16_to_cpu(v);
        want = c.flags & VUP_DM_VQ_IRQ_F_EVENT_IDX ?
               vring_need_event(v, c.new_used, c.old_used) :
               !(v & 1 /* VRING_AVAIL_F_NO_INTERRUPT */);
    }
    trace_dm_proxy_vq_irq(p->id, c.index, c.sub, want);
    if (want) {
        dm_proxy_irq_deliver(p, c.index, c.sub);
    }
}
