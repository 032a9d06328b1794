/*
 * libFuzzer target: the fork's side of DM_VQ_FETCH, the ring walk it
 * does for a model (qemu/hw/remote-dm/dm-vq-walk.c, the same file QEMU
 * builds), on a guest memory and a request the input gives, as a
 * hostile guest's ring and a hostile model's request would be.
 *
 * Input:
 *   byte 0       flags: 0 the request asks for INDIRECT, 1 an unknown
 *                request flag too, 2 the first page of guest memory is
 *                read-only (writable buffers there are refused), 3 raw
 *                ring addresses (bytes 2-5 as the low half of a 64-bit
 *                address outside guest memory), 4 the walk of a push
 *                (dm_vq_walk_push, DM_VQ_KICK's: whole chains only)
 *   byte 1       the ring's size: 1 << (byte % 16), or the byte itself
 *                when it is 0xff or above 0xf0 (sizes the walk refuses)
 *   bytes 2-5    the descriptor table's and the available ring's offsets
 *                in guest memory (16-bit, little-endian)
 *   bytes 6-7    last_avail; 8-9 max_chains; 10-11 max_segs;
 *                12-15 max_data; 16-19 the reply's limit (% 1 MiB)
 *   bytes 20-21  n: then n bytes of guest memory (the rest is zero)
 *
 * Checked on every reply: it is exactly the protocol's layout
 * (vup/dm-ext.h), no longer than the limit, each chain's head is the
 * available ring's entry, its buffers in guest memory (the writable ones
 * in writable memory), readable before writable, no more than asked, and
 * its data, when sent, the bytes of its readable buffers; a push's
 * chains always carry all their readable bytes.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dm-vq-walk.h"

#define GUEST_BASE 0x100000ULL
#define GUEST_SIZE 0x10000
#define RO_SIZE    0x1000

typedef struct Guest {
    uint8_t ram[GUEST_SIZE];
    bool ro_page;
} Guest;

static uint16_t le16(const uint8_t *p)
{
    return p[0] | p[1] << 8;
}

static uint32_t le32(const uint8_t *p)
{
    return le16(p) | (uint32_t)le16(p + 2) << 16;
}

static bool in_guest(uint64_t addr, uint64_t len)
{
    return addr >= GUEST_BASE && len <= GUEST_SIZE &&
           addr - GUEST_BASE <= GUEST_SIZE - len;
}

static bool guest_read(void *opaque, uint64_t addr, void *buf, uint64_t len)
{
    Guest *g = opaque;

    if (!in_guest(addr, len)) {
        return false;
    }
    memcpy(buf, g->ram + (addr - GUEST_BASE), len);
    return true;
}

static bool guest_is_ram(void *opaque, uint64_t addr, uint64_t len,
                         bool write)
{
    Guest *g = opaque;

    return in_guest(addr, len) &&
           !(write && g->ro_page && addr - GUEST_BASE < RO_SIZE);
}

static const DmVqWalkOps ops = {
    .read = guest_read,
    .is_ram = guest_is_ram,
};

#define CHECK(c) do { if (!(c)) { abort(); } } while (0)

static bool request_valid(const VupDmVqFetch *r)
{
    return r->size && r->size <= 32768 && !(r->size & (r->size - 1)) &&
           r->max_chains && r->max_segs &&
           !(r->flags & ~VUP_DM_VQ_FETCH_F_INDIRECT);
}

/* The reply @o to @r against guest memory @g: its layout and meaning. */
static void check_reply(Guest *g, const VupDmVqFetch *r, bool push,
                        uint64_t limit,
                        const GByteArray *o, uint16_t avail_idx)
{
    VupDmVqFetchReply h;
    uint16_t ring_idx, avail = avail_idx - r->last_avail;
    uint32_t max_segs = r->max_segs < DM_VQ_WALK_MAX_SEGS ?
                        r->max_segs : DM_VQ_WALK_MAX_SEGS;
    uint64_t at = sizeof(h), data = 0;

    CHECK(o->len >= sizeof(h));
    CHECK(o->len <= (limit > sizeof(h) ? limit : sizeof(h)));
    memcpy(&h, o->data, sizeof(h));
    CHECK(guest_read(g, r->avail + 2, &ring_idx, 2));
    CHECK(le16toh(h.avail_idx) == le16toh(ring_idx) &&
          avail_idx == le16toh(ring_idx));
    CHECK(h.reserved == 0);
    if (avail > r->size) {
        CHECK(h.nchains == 0);   /* an index that moved too far: nothing */
    }
    CHECK(le16toh(h.nchains) <= r->max_chains &&
          le16toh(h.nchains) <= avail);
    for (unsigned i = 0; i < le16toh(h.nchains); i++) {
        VupDmVqChain c;
        uint16_t head;
        uint64_t readable = 0;
        unsigned nsegs, nout;

        CHECK(o->len - at >= sizeof(c));
        memcpy(&c, o->data + at, sizeof(c));
        at += sizeof(c);
        nsegs = le16toh(c.nsegs);
        nout = le16toh(c.nout);
        CHECK(guest_read(g, r->avail + 4 +
                         2 * ((uint16_t)(r->last_avail + i) % r->size),
                         &head, 2));
        CHECK(le16toh(c.head) == le16toh(head) && le16toh(head) < r->size);
        CHECK(nsegs >= 1 && nsegs <= max_segs && nout <= nsegs);
        CHECK(o->len - at >= (uint64_t)nsegs * sizeof(VupDmVqSeg));
        for (unsigned s = 0; s < nsegs; s++) {
            VupDmVqSeg seg;
            bool write;

            memcpy(&seg, o->data + at + s * sizeof(seg), sizeof(seg));
            write = le32toh(seg.flags) & VUP_DM_VQ_SEG_F_WRITE;
            CHECK(le32toh(seg.flags) == (write ? VUP_DM_VQ_SEG_F_WRITE : 0));
            CHECK(write == (s >= nout));
            CHECK(guest_is_ram(g, le64toh(seg.addr), le32toh(seg.len),
                               write));
            if (!write) {
                readable += le32toh(seg.len);
            }
        }
        if (push) {
            CHECK(le32toh(c.data_len) == readable);
        }
        if (c.data_len) {
            uint64_t pad = (8 - readable % 8) % 8, off = 0;

            CHECK(le32toh(c.data_len) == readable);
            CHECK(o->len - at - (uint64_t)nsegs * sizeof(VupDmVqSeg) >=
                  readable + pad);
            for (unsigned s = 0; s < nout; s++) {
                VupDmVqSeg seg;

                memcpy(&seg, o->data + at + s * sizeof(seg), sizeof(seg));
                CHECK(!memcmp(o->data + at + nsegs * sizeof(seg) + off,
                              g->ram + (le64toh(seg.addr) - GUEST_BASE),
                              le32toh(seg.len)));
                off += le32toh(seg.len);
            }
            data += readable;
            at += readable + pad;
        }
        at += (uint64_t)nsegs * sizeof(VupDmVqSeg);
    }
    CHECK(at == o->len);        /* nothing after the last chain */
    CHECK(data <= r->max_data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static Guest g;
    VupDmVqFetch r = { 0 };
    GByteArray *o = NULL;
    uint64_t limit;
    uint16_t idx = 0;
    size_t n;
    bool push;
    int ret;

    if (size < 22) {
        return 0;
    }
    memset(g.ram, 0, sizeof(g.ram));
    g.ro_page = data[0] & 4;
    push = data[0] & 16;
    r.flags = (data[0] & 1 ? VUP_DM_VQ_FETCH_F_INDIRECT : 0) |
              (data[0] & 2 ? 0x8000 : 0);
    r.size = data[1] >= 0xf0 ? data[1] : 1u << (data[1] % 16);
    if (data[0] & 8) {
        r.desc = 0x100000000ULL | le16(data + 2);
        r.avail = 0x100000000ULL | le16(data + 4);
    } else {
        r.desc = GUEST_BASE + le16(data + 2);
        r.avail = GUEST_BASE + le16(data + 4);
    }
    r.last_avail = le16(data + 6);
    r.max_chains = le16(data + 8);
    r.max_segs = le16(data + 10);
    r.max_data = le32(data + 12);
    limit = le32(data + 16) % (1u << 20);
    n = le16(data + 20);
    data += 22;
    size -= 22;
    n = n < size ? n : size;
    n = n < GUEST_SIZE ? n : GUEST_SIZE;
    memcpy(g.ram, data, n);

    ret = push ? dm_vq_walk_push(&ops, &g, &r, limit, &o, &idx)
               : dm_vq_walk_fetch(&ops, &g, &r, limit, &o, &idx);
    if (!request_valid(&r)) {
        CHECK(ret == -EINVAL && !o);
        return 0;
    }
    if (!in_guest(r.avail + 2, 2)) {
        CHECK(ret == -EFAULT && !o);
        return 0;
    }
    CHECK(ret == 0 && o);
    check_reply(&g, &r, push, limit, o, idx);
    g_byte_array_unref(o);
    return 0;
}
