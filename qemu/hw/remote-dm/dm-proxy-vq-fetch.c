/*
 * DM_VQ_FETCH (vup/dm-ext.h, docs/protocol.md): a model that reaches
 * guest memory by messages (TCP) asks for the chains of a split
 * virtqueue in one exchange instead of a DMA_READ per index, descriptor
 * and buffer.  Here the proxy walks the ring in guest memory and
 * answers with each chain's buffers and the bytes of its readable ones.
 * The walk itself is plain C in dm-vq-walk.c (fuzzed as is); here it
 * reads guest memory as the device does.
 *
 * DM_VQ_IRQ, the other half: the model asks for an interrupt only if
 * the driver wants it, which is read here in guest memory (used_event)
 * instead of by one more round trip from the model.
 *
 * DM_VQ_RINGS and DM_VQ_KICK (dm_vq_push): the model tells where a
 * queue's rings are, and a kick of its doorbell goes with the chains
 * the same walk finds, from the trapping thread: the model need not
 * fetch them.  That thread holds p->lock and may hold no BQL, so that
 * walk reads RAM only (anything else: no push, a plain kick).
  *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "hw/pci/pci_device.h"
#include "system/dma.h"
#include "hw/remote-dm/dm-proxy.h"
#include "vup/dm-ext.h"
#include "dm-vq-walk.h"
#include "trace.h"

/* Guest memory as the device sees it, for dm-vq-walk.c. */
static bool walk_read(void *opaque, uint64_t addr, void *buf, uint64_t len)
{
    return dm_proxy_pci_dma_read(opaque, addr, buf, len) == MEMTX_OK;
}

static bool walk_is_ram(void *opaque, uint64_t addr, uint64_t len,
                        bool write)
{
    return dm_proxy_pci_dma_is_ram(opaque, addr, len, write);
}

static const DmVqWalkOps walk_ops = {
    .read = walk_read,
    .is_ram = walk_is_ram,
};

/* In the trapping thread: RAM only, never a device's MMIO. */
static bool push_read(void *opaque, uint64_t addr, void *buf, uint64_t len)
{
    return dm_proxy_pci_dma_is_ram(opaque, addr, len, false) &&
           dm_proxy_pci_dma_read(opaque, addr, buf, len) == MEMTX_OK;
}

static const DmVqWalkOps push_ops = {
    .read = push_read,
    .is_ram = walk_is_ram,
};

/* A push's bytes at most: a kick must not hold the vCPU long. */
#define DM_PROXY_PUSH_MAX       (128 * KiB)

/* The doorbell whose rings are @desc/@avail, or NULL; p->lock held. */
static DMProxyDoorbell *ring_doorbell(DMProxy *p, uint64_t desc,
                                      uint64_t avail)
{
    for (unsigned i = 0; i < p->ndoorbells; i++) {
        DMProxyVqRing *r = &p->doorbells[i].ring;

        if (r->valid && r->desc == desc && r->avail == avail) {
            return &p->doorbells[i];
        }
    }
    return NULL;
}

void dm_proxy_vq_fetch(DMProxy *p, PCIDevice *pdev, VupMsg *m)
{
    VupDmVqFetch req;
    VupDmVqFetchReply h;
    g_autoptr(GByteArray) out = NULL;
    uint16_t idx;
    int ret;

    memcpy(&req, m->payload, sizeof(req));
    ret = dm_vq_walk_fetch(&walk_ops, pdev, &req, p->caps.max_data_xfer_size,
                           &out, &idx);
    if (ret < 0) {
        dm_proxy_reply_error(p, m, -ret);
        return;
    }
    memcpy(&h, out->data, sizeof(h));
    trace_dm_proxy_vq_fetch(p->id, req.last_avail, idx,
                            le16_to_cpu(h.nchains), out->len);
    if (p->caps.dm_vq_push) {
        DMProxyDoorbell *d = ring_doorbell(p, req.desc, req.avail);
        uint16_t end = req.last_avail + le16_to_cpu(h.nchains);

        /* The model has these: the next push starts after them. */
        if (d && (uint16_t)(end - d->ring.pushed) <= d->ring.size) {
            d->ring.pushed = end;
        }
    }
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
        dm_proxy_pci_dma_read(pdev, at, &v, sizeof(v)) == MEMTX_OK) {
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

void dm_proxy_vq_rings(DMProxy *p, VupMsg *m)
{
    VupDmVqRings r;
    DMProxyDoorbell *d = NULL;
    bool ok;

    memcpy(&r, m->payload, sizeof(r));
    for (unsigned i = 0; i < p->ndoorbells && !d; i++) {
        if (p->doorbells[i].region == r.region &&
            p->doorbells[i].offset == r.offset) {
            d = &p->doorbells[i];
        }
    }
    ok = p->caps.dm_vq_push && d && !d->has_fd && r.cookie && r.size &&
         r.size <= 32768 && !(r.size & (r.size - 1)) && r.max_chains &&
         r.max_segs && !(r.flags & ~VUP_DM_VQ_RINGS_F_INDIRECT);
    trace_dm_proxy_vq_rings(p->id, r.region, r.offset, r.size, r.cookie, ok);
    if (!d) {
        return;
    }
    if (!ok) {
        d->ring.valid = false;  /* forgotten, or rings we would not walk */
        return;
    }
    d->ring = (DMProxyVqRing) {
        .valid = true,
        .cookie = r.cookie,
        .desc = r.desc,
        .avail = r.avail,
        .size = r.size,
        .pushed = r.last_avail,
        .max_chains = r.max_chains,
        .flags = r.flags,
        .max_segs = r.max_segs,
        .max_data = r.max_data,
    };
}

bool dm_proxy_vq_push(DMProxy *p, PCIDevice *pdev, DMProxyDoorbell *d,
                      GByteArray *out)
{
    DMProxyVqRing *r = &d->ring;
    VupDmVqFetch req = {
        .desc = r->desc,
        .avail = r->avail,
        .size = r->size,
        .last_avail = r->pushed,
        .max_chains = r->max_chains,
        .flags = r->flags & VUP_DM_VQ_RINGS_F_INDIRECT ?
                 VUP_DM_VQ_FETCH_F_INDIRECT : 0,
        .max_segs = r->max_segs,
        .max_data = r->max_data,
    };
    VupDmVqKick k = {
        .region = d->region,
        .cookie = r->cookie,
        .offset = d->offset,
        .first = r->pushed,
    };
    g_autoptr(GByteArray) chains = NULL;
    VupDmVqFetchReply h;
    uint64_t limit = MIN(p->caps.max_data_xfer_size, DM_PROXY_PUSH_MAX);
    uint16_t idx, n;

    if (limit <= sizeof(k) + sizeof(h) ||
        dm_vq_walk_push(&push_ops, pdev, &req, limit - sizeof(k), &chains,
                        &idx) < 0) {
        return false;
    }
    memcpy(&h, chains->data, sizeof(h));
    n = le16_to_cpu(h.nchains);
    trace_dm_proxy_vq_push(p->id, r->pushed, idx, n, chains->len);
    if (n == 0) {
        return false;           /* nothing new, or nothing we would push */
    }
    g_byte_array_append(out, (const guint8 *)&k, sizeof(k));
    g_byte_array_append(out, chains->data, chains->len);
    r->pushed += n;
    return true;
}

/*
 * DM_VQ_RECHECK: the model's look for chains made available unkicked,
 * done here on its behalf.  Its avail_event write came before on the
 * stream and is applied: a barrier, then the index; if chains came, the
 * doorbell rings as the guest would have rung it.  p->lock held.
 */
void dm_proxy_vq_recheck(DMProxy *p, PCIDevice *pdev, VupMsg *m)
{
    VupDmVqRecheck c;
    DMProxyDoorbell *d = NULL;
    struct QEMU_PACKED {
        VupRegionAccess req;
        uint64_t data;
    } kick;
    uint16_t idx = 0;

    memcpy(&c, m->payload, sizeof(c));
    if (!p->caps.dm_vq_push || c.reserved || c.reserved2) {
        return;
    }
    for (unsigned i = 0; i < p->ndoorbells && !d; i++) {
        if (p->doorbells[i].region == c.region &&
            p->doorbells[i].offset == c.offset) {
            d = &p->doorbells[i];
        }
    }
    if (!d) {
        return;                 /* a model's mistake: no doorbell, no kick */
    }
    if (d->ring.valid && d->ring.cookie == c.cookie) {
        smp_mb();
        if (push_read(pdev, d->ring.avail + 2, &idx, sizeof(idx)) &&
            le16_to_cpu(idx) == c.last_avail) {
            trace_dm_proxy_vq_recheck(p->id, c.last_avail, c.last_avail);
            return;             /* nothing new: its kick will come */
        }
        /* From where the model stands: it drops what it has already. */
        d->ring.pushed = c.last_avail;
        {
            g_autoptr(GByteArray) out = g_byte_array_new();

            if (dm_proxy_vq_push(p, pdev, d, out)) {
                trace_dm_proxy_vq_recheck(p->id, c.last_avail,
                                          le16_to_cpu(idx));
                dm_proxy_post_locked(p, VUP_CMD_DM_VQ_KICK, out->data,
                                     out->len, true);
                return;
            }
        }
    }
    /* Rings we do not have, or no chain to push: a plain kick. */
    kick.req = (VupRegionAccess) {
        .offset = d->offset,
        .region = d->region,
        .count = d->size ? d->size : 2,
    };
    kick.data = cpu_to_le64(d->datamatch ? d->data : 0);
    trace_dm_proxy_vq_recheck(p->id, c.last_avail, 0xffff);
    dm_proxy_post_locked(p, VUP_CMD_REGION_WRITE, &kick,
                         sizeof(kick.req) + kick.req.count, true);
}
