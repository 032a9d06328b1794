/*
 * libFuzzer target: the split-ring walker (dm-remote/virtio/virtq.c) on
 * a guest memory the input fills, as virtio-blk drives it: pop a chain,
 * read its readable buffers, write its writable ones, push it, ask
 * whether to notify.  The client's ring fetches (DM_VQ_FETCH replies,
 * memory by messages) come from the input too, and a restart replays
 * the journal against the same memory.
 *
 * Input:
 *   bytes 0-15   the set-up: flags (0: EVENT_IDX, 1: INDIRECT_DESC,
 *                2: ring fetches, 3: a restart half way, 4: kicks
 *                off), the queue size (1 << byte 1 % 11), then at 3, 5
 *                and 7 the three rings' offsets in guest memory (16-bit,
 *                little-endian)
 *   bytes 16-17  n: then n bytes of guest memory (the rest is zero)
 *   the rest     fetch replies, each a 16-bit length and its bytes
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "virtq.h"

#define GUEST_BASE 0x100000ULL
#define GUEST_SIZE 0x10000

typedef struct Guest {
    uint8_t *ram;
    const uint8_t *fetch;       /* the replies left */
    size_t fetch_len;
} Guest;

static uint16_t le16(const uint8_t *p)
{
    return p[0] | p[1] << 8;
}

static int guest_dma(void *opaque, uint64_t addr, void *buf, uint64_t len,
                     bool write)
{
    Guest *g = opaque;

    if (addr < GUEST_BASE || len > GUEST_SIZE ||
        addr - GUEST_BASE > GUEST_SIZE - len) {
        return -EFAULT;
    }
    if (write) {
        memcpy(g->ram + (addr - GUEST_BASE), buf, len);
    } else {
        memcpy(buf, g->ram + (addr - GUEST_BASE), len);
    }
    return 0;
}

static int guest_dma_iov(void *opaque, uint64_t addr, uint64_t len,
                         bool write, struct iovec *iov, unsigned max_iov)
{
    return -ENOTSUP;
}

static void guest_send_irq(void *opaque, unsigned index, unsigned sub)
{
}

/* The client's answer to DM_VQ_FETCH: the next reply of the input. */
static int guest_vq_fetch(void *opaque, const VupDmVqFetch *req,
                          void **reply, size_t *len)
{
    Guest *g = opaque;
    size_t n;

    if (g->fetch_len < 2) {
        return -ENOTSUP;        /* as a client without dm_vq_fetch */
    }
    n = le16(g->fetch);
    g->fetch += 2;
    g->fetch_len -= 2;
    if (n > g->fetch_len) {
        n = g->fetch_len;
    }
    *reply = malloc(n ? n : 1);
    memcpy(*reply, g->fetch, n);
    *len = n;
    g->fetch += n;
    g->fetch_len -= n;
    return 0;
}

static const DmLinkOps ops = {
    .dma = guest_dma,
    .dma_iov = guest_dma_iov,
    .send_irq = guest_send_irq,
};

static const DmLinkOps ops_fetch = {
    .dma = guest_dma,
    .dma_iov = guest_dma_iov,
    .send_irq = guest_send_irq,
    .vq_fetch = guest_vq_fetch,
};

/* As the transport sets a queue up from the driver's registers. */
static void setup(DmVirtq *q, DmDevice *dev, const uint8_t *h,
                  DmVirtqJournal *j)
{
    /* A power of 2 up to the maximum: the transport takes no other. */
    uint16_t size = 1u << (h[1] % 11);

    dm_virtq_reset(q, dev, DM_VIRTQ_MAX_SIZE, j);
    q->size = size;
    q->desc = GUEST_BASE + le16(h + 3);
    q->avail = GUEST_BASE + le16(h + 5);
    q->used = GUEST_BASE + le16(h + 7);
    q->event_idx = h[0] & 1;
    q->indirect = h[0] & 2;
}

/* What virtio-blk does with a chain: its bytes in and out. */
static void serve(DmVirtq *q, DmDevice *dev, DmVirtqElem *e)
{
    static uint8_t buf[1 << 16];
    uint64_t out = dm_virtq_out_len(e), in = dm_virtq_in_len(e);
    int64_t n;

    n = dm_virtq_read(dev, e, 0, buf, out < sizeof(buf) ? out : sizeof(buf));
    if (out > 16) {
        dm_virtq_read(dev, e, out - 16, buf, 16);
    }
    n = dm_virtq_write(dev, e, 0, buf, in < sizeof(buf) ? in : sizeof(buf));
    dm_virtq_push(q, e, n > 0 ? n : 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static DmVirtqJournal journal;
    static DmVirtqElem e;
    DmDevice dev;
    DmVirtq q = { 0 };
    Guest g;
    char why[160];
    size_t memlen;
    const uint8_t *h = data;
    VupDmVqIrq cond;

    if (size < 18) {
        return -1;
    }
    memlen = le16(data + 16);
    data += 18;
    size -= 18;
    if (memlen > size) {
        memlen = size;
    }
    g.ram = calloc(1, GUEST_SIZE);
    memcpy(g.ram, data, memlen);
    g.fetch = data + memlen;
    g.fetch_len = size - memlen;

    memset(&dev, 0, sizeof(dev));
    dev.link = (h[0] & 4) ? &ops_fetch : &ops;
    dev.link_opaque = &g;

    setup(&q, &dev, h, &journal);
    dm_virtq_start(&q);
    if (h[0] & 16) {
        dm_virtq_set_kicks(&q, false);
    }
    for (unsigned round = 0; round < 2; round++) {
        for (unsigned i = 0; i < 2 * DM_VIRTQ_MAX_SIZE; i++) {
            int ret = dm_virtq_pop(&q, &e, why, sizeof(why));

            if (ret <= 0) {
                break;          /* none left, or the device needs reset */
            }
            /* Half of them stay in flight across a restart. */
            if (!(h[0] & 8) || round || (i & 1)) {
                serve(&q, &dev, &e);
            }
            if (!dm_virtq_notify_cond(&q, &cond)) {
                dm_virtq_should_notify(&q);
            } else {
                dm_virtq_notify_cond_sent(&q);
            }
        }
        dm_virtq_set_kicks(&q, true);
        if (!(h[0] & 8)) {
            break;
        }
        /* A restart: the same queue set up again, the journal kept. */
        setup(&q, &dev, h, &journal);
        q.enabled = true;
        if (dm_virtq_recover(&q, why, sizeof(why)) < 0) {
            break;
        }
    }
    dm_virtq_reset(&q, &dev, DM_VIRTQ_MAX_SIZE, &journal);
    free(g.ram);
    return 0;
}
