/*
 * virtio-blk with guest memory reached by messages and a client that
 * fetches chains (DM_VQ_FETCH, dm-remote/virtio/virtq.c): the requests
 * complete from what the fetch brought, the model falls back to its own
 * walk where the client gives up, and a reply that breaks the protocol
 * puts the device in NEEDS_RESET, never the process in a crash.  The
 * client here walks the test driver's direct chains and can be told to
 * lie.  The same walk makes the chains a client pushes with its kick
 * (DM_VQ_KICK, dm_vq_push): taken once (a chain fetched and also pushed
 * runs once), a push of other rings or a client without pushes leaves
 * the model fetching, and a push that breaks the rules breaks the
 * device, never the process.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "blk-driver.h"
#include "model-rig.h"

#define IMG_SECTORS 64
#define LEN         512

/* How the fake client answers. */
typedef enum Lie {
    HONEST,
    NO_DATA,            /* chains without their bytes: the model reads */
    GIVE_UP,            /* no chain although one is available */
    HEAD_OUT_OF_RANGE,
    NO_SEGS,
    NOUT_WRONG,
    DATA_SHORT,         /* data_len not the readable total */
    TRUNCATED,          /* the reply ends inside the chain */
    TOO_MANY_CHAINS,    /* more chains than the index allows */
    INDEX_JUMP,         /* the available index moved by more than size */
    SAME_HEAD_TWICE,
} Lie;

static Lie lie;
/* What the fetch says the data bytes are (unlike the fake RAM's). */
#define FETCH_BYTE  0xa5
#define RAM_BYTE    0x3c
/* ... and what a push says they are. */
#define PUSH_BYTE   0x5e

static uint8_t fill = FETCH_BYTE;

static void append(uint8_t **buf, size_t *len, const void *p, size_t n)
{
    *buf = realloc(*buf, *len + n);
    memcpy(*buf + *len, p, n);
    *len += n;
}

/* The used index in guest memory when the model last fetched. */
static uint16_t used_at_fetch;

static int fake_fetch(FakeLink *l, const VupDmVqFetch *req, void **reply,
                      size_t *len)
{
    const uint8_t *ram = l->ram;
    uint16_t idx, avail, n;
    VupDmVqFetchReply h = { 0 };
    uint8_t *out = NULL;
    size_t olen = 0;

    memcpy(&idx, ram + (req->avail + 2 - RIG_RAM_BASE), 2);
    idx = le16toh(idx);
    memcpy(&used_at_fetch, ram + (USED + 2 - RIG_RAM_BASE), 2);
    used_at_fetch = le16toh(used_at_fetch);
    avail = idx - req->last_avail;
    n = avail < req->max_chains ? avail : req->max_chains;
    if (lie == GIVE_UP) {
        n = 0;
    }
    h.avail_idx = htole16(lie == INDEX_JUMP ? req->last_avail + QSIZE + 1
                                            : idx);
    h.nchains = htole16(lie == TOO_MANY_CHAINS ? n + 1 :
                        lie == SAME_HEAD_TWICE && n ? 2 : n);
    append(&out, &olen, &h, sizeof(h));
    for (unsigned c = 0; c < n + (lie == SAME_HEAD_TWICE && n ? 1u : 0u);
         c++) {
        VupDmVqSeg segs[8];
        uint8_t data[16 + LEN + 8];
        uint16_t head, i;
        unsigned ns = 0, nout = 0;
        uint32_t dlen = 0;
        VupDmVqChain ch = { 0 };

        memcpy(&head, ram + (req->avail + 4 - RIG_RAM_BASE) +
               2 * ((req->last_avail + (c % n)) % req->size), 2);
        head = le16toh(head);
        for (i = head; ns < 8; ns++) {
            uint64_t a;
            uint32_t dl;
            uint16_t fl, nx;
            const uint8_t *d = ram + (req->desc - RIG_RAM_BASE) + 16 * i;

            memcpy(&a, d, 8);
            memcpy(&dl, d + 8, 4);
            memcpy(&fl, d + 12, 2);
            memcpy(&nx, d + 14, 2);
            segs[ns] = (VupDmVqSeg) { a, dl, (fl & 2) ? 1 : 0 };
            if (!(fl & 2)) {
                /* The header from RAM, the data as the fetch says. */
                if (nout == 0) {
                    memcpy(data, ram + (a - RIG_RAM_BASE), dl);
                } else {
                    memset(data + dlen, fill, dl);
                }
                nout++;
                dlen += dl;
            }
            if (!(fl & 1)) {
                ns++;
                break;
            }
            i = nx;
        }
        ch.head = htole16(lie == HEAD_OUT_OF_RANGE ? QSIZE : head);
        ch.nsegs = htole16(lie == NO_SEGS ? 0 : ns);
        ch.nout = htole16(lie == NOUT_WRONG ? nout + 1 : nout);
        ch.data_len = htole32(lie == NO_DATA ? 0 :
                              lie == DATA_SHORT ? dlen - 1 : dlen);
        append(&out, &olen, &ch, sizeof(ch));
        if (lie == TRUNCATED) {
            break;
        }
        append(&out, &olen, segs, ns * sizeof(segs[0]));
        if (lie != NO_DATA) {
            size_t pad = (8 - dlen % 8) % 8;

            memset(data + dlen, 0, pad);
            append(&out, &olen, data, dlen + pad);
        }
    }
    *reply = out;
    *len = olen;
    return 0;
}

static Blk *blk_new_push(bool shared, bool push)
{
    Blk *r = calloc(1, sizeof(*r));
    uint8_t sector[512] = { 0 };
    char spec[256];
    int fd;

    strcpy(r->img, "/tmp/dm-test-vqfetch-XXXXXX");
    fd = mkstemp(r->img);
    assert_true(fd >= 0);
    for (int s = 0; s < IMG_SECTORS; s++) {
        assert_int_equal(write(fd, sector, sizeof(sector)), sizeof(sector));
    }
    close(fd);
    snprintf(spec, sizeof(spec), "virtio-blk,file=%s,queue_size=%d", r->img,
             QSIZE);
    r->rig = rig_new(spec);
    r->dev = &r->rig->dev;
    r->rig->link.vq_fetch = fake_fetch;
    r->rig->link.shared = shared;
    r->rig->link.vq_push = push;
    driver_init(r, 1ULL << VIRTIO_F_VERSION_1);
    return r;
}

static Blk *blk_new(bool shared)
{
    return blk_new_push(shared, false);
}

static void blk_free(Blk *r)
{
    rig_free(r->rig);
    unlink(r->img);
    free(r);
}

/* Sector @s of the image, its first byte. */
static uint8_t image_byte(Blk *r, unsigned s)
{
    uint8_t b;
    int fd = open(r->img, O_RDONLY);

    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &b, 1, s * 512ULL), 1);
    close(fd);
    return b;
}

/* Write sector @s from DATA (which holds RAM_BYTE): its status. */
static uint8_t write_sector(Blk *r, unsigned s)
{
    memset(at(r, DATA), RAM_BYTE, LEN);
    return request(r, BLK_T_OUT, s, LEN, false);
}

/* The write's bytes came with the fetch: one exchange, not the RAM's. */
static void test_fetch_brings_the_data(void **unused)
{
    Blk *r = blk_new(false);

    lie = HONEST;
    assert_int_equal(write_sector(r, 3), 0);
    assert_int_equal(image_byte(r, 3), FETCH_BYTE);
    assert_true(r->rig->link.vq_fetches >= 1);
    /* A read comes back through the writable buffer as before. */
    memset(at(r, DATA), 0, LEN);
    assert_int_equal(request(r, BLK_T_IN, 3, LEN, true), 0);
    assert_int_equal(((uint8_t *)at(r, DATA))[LEN - 1], FETCH_BYTE);
    blk_free(r);
}

/* Without the bytes, or without the chain, the model reads guest memory. */
static void test_fallbacks_read_guest_memory(void **unused)
{
    Blk *r = blk_new(false);

    lie = NO_DATA;
    assert_int_equal(write_sector(r, 4), 0);
    assert_int_equal(image_byte(r, 4), RAM_BYTE);
    lie = GIVE_UP;
    assert_int_equal(write_sector(r, 5), 0);
    assert_int_equal(image_byte(r, 5), RAM_BYTE);
    lie = HONEST;
    assert_int_equal(write_sector(r, 6), 0);
    assert_int_equal(image_byte(r, 6), FETCH_BYTE);
    assert_false(rd(r, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
    blk_free(r);
}

/* Memory shared after all: no fetch, the ring is walked in place. */
static void test_shared_memory_walks(void **unused)
{
    Blk *r = blk_new(true);

    lie = HONEST;
    assert_int_equal(write_sector(r, 7), 0);
    assert_int_equal(image_byte(r, 7), RAM_BYTE);
    assert_int_equal(r->rig->link.vq_fetches, 0);
    blk_free(r);
}

/* Each lie breaks the device, which serves again after a reset. */
static void test_lies_need_reset(void **unused)
{
    static const Lie lies[] = {
        HEAD_OUT_OF_RANGE, NO_SEGS, NOUT_WRONG, DATA_SHORT, TRUNCATED,
        TOO_MANY_CHAINS, INDEX_JUMP, SAME_HEAD_TWICE,
    };

    for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
        Blk *r = blk_new(false);
        uint16_t head = 0, idx;

        lie = lies[i];
        /* The request of write_sector(), without waiting for its answer. */
        desc(r, 0, HDR, 16, 1, 1);
        desc(r, 1, DATA, LEN, 1, 2);
        desc(r, 2, STATUS, 1, 2, 0);
        put(r, AVAIL + 4 + 2 * (r->avail_idx % QSIZE), &head, 2);
        idx = htole16(++r->avail_idx);
        put(r, AVAIL + 2, &idx, 2);
        wr(r, 0x3000, 0, 2);
        for (int t = 0; t < 500 && !(rd(r, 0x14, 1) &
                                     VIRTIO_STATUS_NEEDS_RESET); t++) {
            rig_run_for(r->rig, 10);
        }
        if (!(rd(r, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET)) {
            fail_msg("lie %d did not break the device", lies[i]);
        }
        assert_int_equal(image_byte(r, 8), 0);
        lie = HONEST;
        r->avail_idx = 0;
        driver_init(r, 1ULL << VIRTIO_F_VERSION_1);
        assert_int_equal(write_sector(r, 9), 0);
        assert_int_equal(image_byte(r, 9), FETCH_BYTE);
        blk_free(r);
    }
}

/* ---- Chains pushed with the kick (dm_vq_push) ---- */

/*
 * Kick queue 0 with the chains the fake client walks from ring entry
 * @first (lying as `lie` says), named @cookie: what a DM_VQ_KICK does.
 */
static void push_kick(Blk *r, uint16_t first, uint32_t cookie)
{
    VupDmVqFetch req = {
        .desc = DESC, .avail = AVAIL, .size = QSIZE, .last_avail = first,
        .max_chains = QSIZE, .max_segs = 8, .max_data = 1 << 20,
    };
    void *buf;
    size_t len;

    fill = PUSH_BYTE;
    assert_int_equal(fake_fetch(&r->rig->link, &req, &buf, &len), 0);
    fill = FETCH_BYTE;
    assert_true(dm_device_push_kick(r->dev, BAR4, 0x3000, cookie, first,
                                    buf, len));
    free(buf);
}

/* A request of @type on sector @s, pushed: the used index it waited for. */
static uint16_t push_request(Blk *r, uint32_t type, unsigned s,
                             uint32_t cookie)
{
    uint16_t want;

    request_prepare(r, type, s, LEN, type == BLK_T_IN);
    want = offer_head0(r);
    push_kick(r, r->avail_idx - 1, cookie);
    wait_used_idx(r, want);
    return want;
}

/* Write sector @s from a push: the used index it waited for. */
static uint16_t push_write(Blk *r, unsigned s, uint32_t cookie)
{
    memset(at(r, DATA), RAM_BYTE, LEN);
    return push_request(r, BLK_T_OUT, s, cookie);
}

/*
 * The first fetch tells the rings (once per link); a kick with the
 * chain is served from the push: its bytes, and no fetch before its
 * answer (the look for more comes after it).
 */
static void test_push_served(void **unused)
{
    Blk *r = blk_new_push(false, true);
    unsigned fetches, told;
    uint32_t cookie;

    lie = HONEST;
    assert_int_equal(write_sector(r, 3), 0);
    assert_int_equal(image_byte(r, 3), FETCH_BYTE);
    assert_true(r->rig->link.rings_told >= 1);
    assert_int_equal(r->rig->link.rings.region, BAR4);
    assert_int_equal(r->rig->link.rings.offset, 0x3000);
    assert_int_equal(r->rig->link.rings.desc, DESC);
    assert_int_equal(r->rig->link.rings.avail, AVAIL);
    assert_int_equal(r->rig->link.rings.size, QSIZE);
    assert_int_not_equal(r->rig->link.rings.cookie, 0);

    fetches = r->rig->link.vq_fetches;
    assert_int_equal(used_idx(r), push_write(r, 4, r->rig->link.rings.cookie));
    assert_int_equal(*(uint8_t *)at(r, STATUS), 0);
    assert_int_equal(image_byte(r, 4), PUSH_BYTE);
    rig_run_for(r->rig, 50);
    assert_int_equal(r->rig->link.vq_fetches - fetches, 1);
    assert_int_equal(used_at_fetch, used_idx(r));
    /* A push's chain fetched nothing: the rings were not told again. */
    told = r->rig->link.rings_told;
    rig_run_for(r->rig, 50);
    assert_int_equal(r->rig->link.rings_told, told);
    /*
     * A plain kick again: fetched, and the rings told again (the client
     * may have lost them), under the same cookie.
     */
    cookie = r->rig->link.rings.cookie;
    assert_int_equal(write_sector(r, 5), 0);
    assert_int_equal(image_byte(r, 5), FETCH_BYTE);
    assert_true(r->rig->link.rings_told > told);
    assert_int_equal(r->rig->link.rings.cookie, cookie);
    assert_false(rd(r, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
    blk_free(r);
}

/*
 * A chain made available while the push was on its way, without a kick
 * (a driver that read an old avail_event): taken by the look after the
 * pushed chain's answer.
 */
static void test_push_then_unkicked_chain(void **unused)
{
    Blk *r = blk_new_push(false, true);
    struct { uint32_t type, reserved; uint64_t sector; } h = {
        htole32(BLK_T_OUT), 0, htole64(7),
    };
    uint16_t used, head = 3, idx;

    lie = HONEST;
    assert_int_equal(write_sector(r, 3), 0);
    used = used_idx(r);
    memset(at(r, DATA), RAM_BYTE, LEN);
    request_prepare(r, BLK_T_OUT, 4, LEN, false);
    offer_head0(r);
    push_kick(r, r->avail_idx - 1, r->rig->link.rings.cookie);
    /* Head 3: its own header, data and status. */
    put(r, HDR + 0x100, &h, sizeof(h));
    *(uint8_t *)at(r, STATUS + 0x10) = 0xee;
    desc(r, 3, HDR + 0x100, 16, 1, 4);
    desc(r, 4, DATA + 0x1000, LEN, 1, 5);
    desc(r, 5, STATUS + 0x10, 1, 2, 0);
    put(r, AVAIL + 4 + 2 * (r->avail_idx % QSIZE), &head, 2);
    idx = htole16(++r->avail_idx);
    put(r, AVAIL + 2, &idx, 2);
    wait_used_idx(r, used + 2);
    assert_int_equal(used_idx(r), (uint16_t)(used + 2));
    assert_int_equal(image_byte(r, 4), PUSH_BYTE);
    assert_int_equal(image_byte(r, 7), FETCH_BYTE);
    assert_int_equal(*(uint8_t *)at(r, STATUS + 0x10), 0);
    blk_free(r);
}

/*
 * A client that looks for us (DM_VQ_RECHECK): after the pushed chain's
 * answer the model asks it, posted, with avail_event written first,
 * instead of fetching; the client's kick then brings what came.
 */
static void test_push_recheck_by_client(void **unused)
{
    Blk *r = blk_new_push(false, true);
    unsigned fetches;
    uint16_t used, ev;
    uint32_t cookie;

    r->rig->link.vq_recheck = true;
    driver_init(r, (1ULL << VIRTIO_F_VERSION_1) |
                   (1ULL << VIRTIO_F_EVENT_IDX));
    lie = HONEST;
    assert_int_equal(write_sector(r, 3), 0);
    cookie = r->rig->link.rings.cookie;
    fetches = r->rig->link.vq_fetches;
    used = push_write(r, 4, cookie);
    rig_run_for(r->rig, 50);
    assert_int_equal(used_idx(r), used);
    assert_int_equal(image_byte(r, 4), PUSH_BYTE);
    assert_int_equal(r->rig->link.vq_fetches, fetches);
    assert_int_equal(r->rig->link.rechecks, 1);
    assert_int_equal(r->rig->link.recheck.cookie, cookie);
    assert_int_equal(r->rig->link.recheck.region, BAR4);
    assert_int_equal(r->rig->link.recheck.offset, 0x3000);
    assert_int_equal(r->rig->link.recheck.last_avail, r->avail_idx);
    memcpy(&ev, at(r, USED + 4 + 8 * QSIZE), 2);
    assert_int_equal(le16toh(ev), r->avail_idx);
    /* The client saw a chain come and kicks with it: served. */
    push_write(r, 5, cookie);
    assert_int_equal(image_byte(r, 5), PUSH_BYTE);
    assert_false(rd(r, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
    blk_free(r);
}

/*
 * A chain fetched and then pushed runs once: a push of it alone is
 * dropped, a push of it and a new one serves the new one only.
 */
static void test_push_dedupe(void **unused)
{
    Blk *r = blk_new_push(false, true);
    uint32_t cookie;
    uint16_t used, old;

    lie = HONEST;
    assert_int_equal(write_sector(r, 3), 0);
    cookie = r->rig->link.rings.cookie;
    used = used_idx(r);
    old = r->avail_idx - 1;
    /* The same entry again, pushed late: nothing runs twice. */
    push_kick(r, old, cookie);
    rig_run_for(r->rig, 50);
    assert_int_equal(used_idx(r), used);
    assert_int_equal(image_byte(r, 3), FETCH_BYTE);

    /* The old entry and a new one (sector 6) in one push. */
    memset(at(r, DATA), RAM_BYTE, LEN);
    request_prepare(r, BLK_T_OUT, 6, LEN, false);
    offer_head0(r);
    push_kick(r, old, cookie);
    wait_used_idx(r, used + 1);
    rig_run_for(r->rig, 50);
    assert_int_equal(used_idx(r), (uint16_t)(used + 1));
    assert_int_equal(image_byte(r, 6), PUSH_BYTE);
    assert_int_equal(image_byte(r, 3), FETCH_BYTE);
    assert_false(rd(r, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
    blk_free(r);
}

/*
 * A push of rings the queue no longer has (another cookie: rings told
 * before a reset) is not taken: the model fetches.  After the reset
 * the rings are told again, under a new cookie.
 */
static void test_push_other_rings_fetched(void **unused)
{
    Blk *r = blk_new_push(false, true);
    unsigned told;
    uint32_t old;

    lie = HONEST;
    assert_int_equal(write_sector(r, 3), 0);
    old = r->rig->link.rings.cookie;
    told = r->rig->link.rings_told;
    r->avail_idx = 0;
    driver_init(r, 1ULL << VIRTIO_F_VERSION_1);
    assert_int_equal(write_sector(r, 4), 0);
    assert_true(r->rig->link.rings_told > told);
    assert_int_not_equal(r->rig->link.rings.cookie, old);
    push_write(r, 5, old);
    assert_int_equal(*(uint8_t *)at(r, STATUS), 0);
    assert_int_equal(image_byte(r, 5), FETCH_BYTE);
    assert_false(rd(r, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
    blk_free(r);
}

/*
 * Reads answered by posted writes, with chains pushed and the look for
 * more the client's (DM_VQ_RECHECK): no reply comes to say the answers
 * landed, so the model keeps each read's data to write again.  Past the
 * bound on those bytes (DM_BLK_UNACKED_MAX_KB here 8, each read's copy
 * 4 KiB) one read of the used index makes them all known applied: one
 * round trip every third read, none under the default bound (16 MiB).
 */
static void test_unacked_reads_bounded(void **unused)
{
    for (int small = 0; small < 2; small++) {
        Blk *r;
        uint32_t cookie;

        if (small) {
            setenv("DM_BLK_UNACKED_MAX_KB", "8", 1);
        }
        r = blk_new_push(false, true);
        unsetenv("DM_BLK_UNACKED_MAX_KB");
        r->rig->link.vq_recheck = true;
        r->rig->link.posted = true;
        r->rig->link.used_idx_at = USED + 2;
        driver_init(r, (1ULL << VIRTIO_F_VERSION_1) |
                       (1ULL << VIRTIO_F_EVENT_IDX));
        lie = HONEST;
        assert_int_equal(write_sector(r, 3), 0);    /* the rings told */
        cookie = r->rig->link.rings.cookie;
        r->rig->link.used_idx_reads = 0;
        for (int i = 0; i < 12; i++) {
            push_request(r, BLK_T_IN, 3, cookie);
            assert_int_equal(*(uint8_t *)at(r, STATUS), 0);
            assert_int_equal(((uint8_t *)at(r, DATA))[LEN - 1], FETCH_BYTE);
        }
        if (small) {
            assert_in_range(r->rig->link.used_idx_reads, 3, 4);
        } else {
            assert_int_equal(r->rig->link.used_idx_reads, 0);
        }
        assert_false(rd(r, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
        blk_free(r);
    }
}

/* A client without pushes: asked once, then plain fetches throughout. */
static void test_no_push_client(void **unused)
{
    Blk *r = blk_new_push(false, false);

    lie = HONEST;
    assert_int_equal(write_sector(r, 3), 0);
    assert_int_equal(write_sector(r, 4), 0);
    assert_int_equal(image_byte(r, 4), FETCH_BYTE);
    assert_int_equal(r->rig->link.rings_told, 0);
    assert_int_equal(r->rig->link.rings_asked, 1);
    blk_free(r);
}

/* Each lie in a push breaks the device (not the process); a reset serves. */
static void test_push_lies_need_reset(void **unused)
{
    static const Lie lies[] = {
        HEAD_OUT_OF_RANGE, NO_SEGS, NOUT_WRONG, DATA_SHORT, TRUNCATED,
        TOO_MANY_CHAINS, INDEX_JUMP, SAME_HEAD_TWICE,
        HONEST,                 /* with a push of 4 bytes */
    };

    for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
        Blk *r = blk_new_push(false, true);
        uint32_t cookie;

        lie = HONEST;
        assert_int_equal(write_sector(r, 3), 0);
        cookie = r->rig->link.rings.cookie;
        memset(at(r, DATA), RAM_BYTE, LEN);
        request_prepare(r, BLK_T_OUT, 8, LEN, false);
        offer_head0(r);
        if (i == sizeof(lies) / sizeof(lies[0]) - 1) {
            static const uint8_t tiny[4];

            assert_true(dm_device_push_kick(r->dev, BAR4, 0x3000, cookie,
                                            r->avail_idx - 1, tiny, 4));
        } else {
            lie = lies[i];
            push_kick(r, r->avail_idx - 1, cookie);
        }
        for (int t = 0; t < 500 && !(rd(r, 0x14, 1) &
                                     VIRTIO_STATUS_NEEDS_RESET); t++) {
            rig_run_for(r->rig, 10);
        }
        if (!(rd(r, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET)) {
            fail_msg("push lie %d did not break the device", lies[i]);
        }
        assert_int_equal(image_byte(r, 8), 0);
        lie = HONEST;
        r->avail_idx = 0;
        driver_init(r, 1ULL << VIRTIO_F_VERSION_1);
        assert_int_equal(write_sector(r, 9), 0);
        assert_int_equal(image_byte(r, 9), FETCH_BYTE);
        blk_free(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fetch_brings_the_data),
        cmocka_unit_test(test_fallbacks_read_guest_memory),
        cmocka_unit_test(test_shared_memory_walks),
        cmocka_unit_test(test_lies_need_reset),
        cmocka_unit_test(test_push_served),
        cmocka_unit_test(test_push_then_unkicked_chain),
        cmocka_unit_test(test_push_recheck_by_client),
        cmocka_unit_test(test_unacked_reads_bounded),
        cmocka_unit_test(test_push_dedupe),
        cmocka_unit_test(test_push_other_rings_fetched),
        cmocka_unit_test(test_no_push_client),
        cmocka_unit_test(test_push_lies_need_reset),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
