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
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
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
