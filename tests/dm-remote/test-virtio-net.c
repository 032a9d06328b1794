/*
 * virtio-net with user-mode networking (libslirp), driven in-process the
 * way Linux's virtio_net drives it: feature negotiation, frames out
 * reaching slirp and its answers coming back (ARP, DHCP, a hostfwd
 * connection), the checksum the guest leaves to the device, receive
 * buffers spread over several buffers (MRG_RXBUF), the bounded queue
 * while the guest gives no buffers, the control queue, and a hostile
 * driver's chains.  The split rings are in the rig's fake guest RAM;
 * slirp's sockets are real, on the loop the rig runs.
 *
 * "test-virtio-net tap": the tap back end instead, in a network
 * namespace of the process's own (removed with it; skipped where one
 * cannot be made): frames both ways through the kernel, the checksum
 * offloads of its virtio header, and the tap left unread while the
 * guest gives no buffers, read again when it does.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "model-rig.h"
#include "pci.h"
#include "../../dm-remote/virtio/virtio-pci.h"

#define BAR4        (VUP_PCI_BAR0_REGION_INDEX + DM_VIRTIO_BAR)
#define QSIZE       16
#define RX 0
#define TX 1
/* queues=2: rx0 tx0 rx1 tx1, the control queue 4 (2 without MQ). */
#define NQ_MAX 5
/* Queue q's rings, then the buffers: rx 2 KiB each, tx, control; the
 * second pair's buffers 32 KiB after the first's. */
#define Q_DESC(q)   (RIG_RAM_BASE + (q) * 0x1000)
#define Q_AVAIL(q)  (Q_DESC(q) + 0x400)
#define Q_USED(q)   (Q_DESC(q) + 0x800)
#define RXBUF_Q(q, i) (RIG_RAM_BASE + 0x10000 + ((q) / 2) * 0x8000 + \
                       (i) * 0x800)
#define TXBUF_Q(q, i) (RIG_RAM_BASE + 0x20000 + ((q) / 2) * 0x8000 + \
                       (i) * 0x800)
#define RXBUF(i)    RXBUF_Q(RX, i)
#define TXBUF(i)    TXBUF_Q(TX, i)
#define CTRLBUF     (RIG_RAM_BASE + 0x30000)
#define CTRLACK     (RIG_RAM_BASE + 0x31000)
#define HDR_LEN     12

/* Feature bits (virtio 1.2 5.1.3). */
#define F_CSUM          0
#define F_GUEST_CSUM    1
#define F_MTU           3
#define F_MAC           5
#define F_GUEST_TSO4    7
#define F_HOST_TSO4     11
#define F_MRG_RXBUF     15
#define F_STATUS        16
#define F_CTRL_VQ       17
#define F_CTRL_RX       18
#define F_CTRL_MAC_ADDR 23
#define F_GUEST_ANNOUNCE 21
#define F_MQ            22
#define ALL_FEATURES    ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << F_CSUM) | \
                         (1ULL << F_GUEST_CSUM) | (1ULL << F_MTU) |          \
                         (1ULL << F_MAC) | (1ULL << F_MRG_RXBUF) |           \
                         (1ULL << F_STATUS) | (1ULL << F_CTRL_VQ) |          \
                         (1ULL << F_CTRL_RX) | (1ULL << F_CTRL_MAC_ADDR))

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

typedef struct Net {
    Rig *rig;
    uint16_t avail[NQ_MAX];     /* the driver's avail index per queue */
    uint16_t seen_used[NQ_MAX]; /* used entries the test has read */
    unsigned next_desc[NQ_MAX];
    unsigned tx_slot;
    unsigned nq;                /* the queues the card has */
    unsigned ctrl_q;            /* the control queue, as the features say */
    int skip_q;                 /* a queue driver_init leaves off, or -1 */
} Net;

/* ---- The driver ---- */

static uint32_t rd(Net *k, uint64_t off, unsigned size)
{
    return rig_read(k->rig, BAR4, off, size);
}

static void wr(Net *k, uint64_t off, uint32_t v, unsigned size)
{
    rig_write(k->rig, BAR4, off, v, size);
}

static void *at(Net *k, uint64_t addr)
{
    return rig_ram(k->rig, addr);
}

static Net *net_new(const char *extra)
{
    Net *k = calloc(1, sizeof(*k));
    char spec[256];

    snprintf(spec, sizeof(spec), "virtio-net,queue_size=%d%s", QSIZE, extra);
    k->rig = rig_new(spec);
    k->skip_q = -1;
    return k;
}

static void net_free(Net *k)
{
    rig_free(k->rig);
    free(k);
}

static uint64_t offered(Net *k)
{
    uint64_t f;

    wr(k, 0x00, 0, 4);
    f = rd(k, 0x04, 4);
    wr(k, 0x00, 1, 4);
    return f | (uint64_t)rd(k, 0x04, 4) << 32;
}

/*
 * Reset, negotiate @want, set up the queues of the layout the features
 * choose (rx/tx and control, or with MQ every pair's): what was offered.
 */
static uint64_t driver_init(Net *k, uint64_t want)
{
    uint64_t f;
    unsigned nq;

    wr(k, 0x14, 0, 1);
    assert_int_equal(rd(k, 0x14, 1), 0);
    wr(k, 0x14, 1 | 2, 1);
    f = offered(k);
    want &= f;
    wr(k, 0x08, 0, 4);
    wr(k, 0x0c, (uint32_t)want, 4);
    wr(k, 0x08, 1, 4);
    wr(k, 0x0c, want >> 32, 4);
    wr(k, 0x14, 1 | 2 | 8, 1);
    assert_true(rd(k, 0x14, 1) & 8);
    k->nq = rd(k, 0x12, 2);
    assert_true(k->nq == 3 || k->nq == NQ_MAX);
    nq = want & (1ULL << F_MQ) ? k->nq : 3;
    k->ctrl_q = nq - 1;
    for (unsigned q = 0; q < nq; q++) {
        if ((int)q == k->skip_q) {
            continue;
        }
        memset(at(k, Q_DESC(q)), 0, 0x1000);
        wr(k, 0x16, q, 2);
        assert_int_equal(rd(k, 0x18, 2), QSIZE);
        wr(k, 0x20, (uint32_t)Q_DESC(q), 4);
        wr(k, 0x24, 0, 4);
        wr(k, 0x28, (uint32_t)Q_AVAIL(q), 4);
        wr(k, 0x2c, 0, 4);
        wr(k, 0x30, (uint32_t)Q_USED(q), 4);
        wr(k, 0x34, 0, 4);
        wr(k, 0x1c, 1, 2);
        k->avail[q] = k->seen_used[q] = 0;
        k->next_desc[q] = 0;
    }
    wr(k, 0x14, 1 | 2 | 8 | 4, 1);
    return f;
}

static bool needs_reset(Net *k)
{
    return rd(k, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET;
}

static void desc(Net *k, unsigned q, unsigned i, uint64_t addr, uint32_t len,
                 uint16_t flags, uint16_t next)
{
    struct { uint64_t a; uint32_t l; uint16_t f, n; } d = {
        htole64(addr), htole32(len), htole16(flags), htole16(next),
    };

    memcpy(at(k, Q_DESC(q) + 16 * i), &d, sizeof(d));
}

/* Make head @head of queue @q available; kick it if @kick. */
static void offer(Net *k, unsigned q, uint16_t head, bool kick)
{
    uint16_t h = htole16(head), idx;

    memcpy(at(k, Q_AVAIL(q) + 4 + 2 * (k->avail[q] % QSIZE)), &h, 2);
    idx = htole16(++k->avail[q]);
    memcpy(at(k, Q_AVAIL(q) + 2), &idx, 2);
    if (kick) {
        wr(k, 0x3000 + 4 * q, q, 2);
    }
}

static uint16_t used_idx(Net *k, unsigned q)
{
    return le16toh(*(uint16_t *)at(k, Q_USED(q) + 2));
}

/* The used entry @i of queue @q: its head, and the bytes written. */
static uint32_t used_elem(Net *k, unsigned q, uint16_t i, uint32_t *len)
{
    uint32_t *e = at(k, Q_USED(q) + 4 + 8 * (i % QSIZE));

    *len = le32toh(e[1]);
    return le32toh(e[0]);
}

static void run_until_used(Net *k, unsigned q, uint16_t want)
{
    for (int i = 0; i < 500 && (uint16_t)(used_idx(k, q) - want) > 0x8000;
         i++) {
        rig_run_for(k->rig, 10);
    }
}

/* @n receive buffers of @len bytes each on receive queue @q, one kick. */
static void rx_offer_q(Net *k, unsigned q, unsigned n, uint32_t len)
{
    for (unsigned i = 0; i < n; i++) {
        unsigned d = k->next_desc[q]++ % QSIZE;

        desc(k, q, d, RXBUF_Q(q, d), len, 2, 0);
        offer(k, q, d, false);
    }
    wr(k, 0x3000 + 4 * q, q, 2);
}

/* @n receive buffers of @len bytes each (heads 0..n-1), one kick. */
static void rx_offer(Net *k, unsigned n, uint32_t len)
{
    rx_offer_q(k, RX, n, len);
}

/* A frame out on transmit queue @q: waits for it. */
static void tx_frame_q(Net *k, unsigned q, const void *frame, size_t len,
                       const uint8_t *h)
{
    unsigned d = k->tx_slot++ % QSIZE;
    uint8_t *buf = at(k, TXBUF_Q(q, d));

    memset(buf, 0, HDR_LEN);
    if (h) {
        memcpy(buf, h, HDR_LEN);
    }
    memcpy(buf + HDR_LEN, frame, len);
    desc(k, q, d, TXBUF_Q(q, d), HDR_LEN + len, 0, 0);
    offer(k, q, d, true);
    run_until_used(k, q, k->avail[q]);
    assert_int_equal(used_idx(k, q), k->avail[q]);
}

/* A frame out, with header @h (NULL: none of its flags): waits for it. */
static void tx_frame(Net *k, const void *frame, size_t len,
                     const uint8_t *h)
{
    tx_frame_q(k, TX, frame, len, h);
}

/*
 * The next frame the guest received, reassembled from its buffers (its
 * header's num_buffers of them): its length, 0 if none came; *hdr gets
 * the header.
 */
static size_t rx_next_q(Net *k, unsigned q, uint8_t *frame, size_t max,
                        uint8_t *hdr, bool wait)
{
    uint16_t nbuf;
    size_t n = 0;
    uint32_t len, head;

    if (wait) {
        run_until_used(k, q, k->seen_used[q] + 1);
    }
    if (used_idx(k, q) == k->seen_used[q]) {
        return 0;
    }
    head = used_elem(k, q, k->seen_used[q], &len);
    assert_true(len >= HDR_LEN);
    memcpy(hdr, at(k, RXBUF_Q(q, head)), HDR_LEN);
    memcpy(&nbuf, hdr + 10, 2);
    nbuf = le16toh(nbuf);
    assert_true(nbuf >= 1);
    assert_true((uint16_t)(used_idx(k, q) - k->seen_used[q]) >= nbuf);
    for (uint16_t b = 0; b < nbuf; b++) {
        size_t off = b ? 0 : HDR_LEN;

        head = used_elem(k, q, k->seen_used[q]++, &len);
        assert_true(n + len - off <= max);
        memcpy(frame + n, (uint8_t *)at(k, RXBUF_Q(q, head)) + off,
               len - off);
        n += len - off;
    }
    return n;
}

static size_t rx_next(Net *k, uint8_t *frame, size_t max, uint8_t *hdr,
                      bool wait)
{
    return rx_next_q(k, RX, frame, max, hdr, wait);
}

static void sh(const char *cmd)
{
    assert_int_equal(system(cmd), 0);
}

/* ---- Frames ---- */

static uint16_t csum_add(const uint8_t *p, size_t len, uint32_t sum)
{
    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    }
    if (len & 1) {
        sum += (uint32_t)p[len - 1] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static size_t arp_request(uint8_t *f, const uint8_t *sha, const char *spa,
                          const char *tpa)
{
    struct in_addr s, t;

    inet_aton(spa, &s);
    inet_aton(tpa, &t);
    memset(f, 0, 42);
    memcpy(f, bcast, 6);
    memcpy(f + 6, sha, 6);
    put16(f + 12, 0x0806);
    put16(f + 14, 1);
    put16(f + 16, 0x0800);
    f[18] = 6;
    f[19] = 4;
    put16(f + 20, 1);
    memcpy(f + 22, sha, 6);
    memcpy(f + 28, &s, 4);
    memcpy(f + 38, &t, 4);
    return 42;
}

/* An ARP reply or request from the guest side: its opcode, or 0. */
static int arp_op(const uint8_t *f, size_t len)
{
    if (len < 42 || f[12] != 0x08 || f[13] != 0x06) {
        return 0;
    }
    return f[20] << 8 | f[21];
}

/*
 * A DHCPDISCOVER of @xid, broadcast.  @udp_csum: 0 (none), 1 (right),
 * 2 (the pseudo-header's sum only: the device finishes it), 3 (wrong).
 */
static size_t dhcp_discover(uint8_t *f, uint32_t xid, int udp_csum)
{
    uint8_t *ip = f + 14, *udp = ip + 20, *bootp = udp + 8;
    size_t blen = 240 + 4, ulen = 8 + blen, iplen = 20 + ulen;
    uint8_t pseudo[12] = { 0, 0, 0, 0, 255, 255, 255, 255, 0, 17 };
    uint16_t sum;

    memset(f, 0, 14 + iplen);
    memcpy(f, bcast, 6);
    memcpy(f + 6, guest_mac, 6);
    put16(f + 12, 0x0800);
    ip[0] = 0x45;
    put16(ip + 2, iplen);
    ip[8] = 64;
    ip[9] = 17;
    memset(ip + 16, 0xff, 4);
    put16(ip + 10, ~csum_add(ip, 20, 0));
    put16(udp, 68);
    put16(udp + 2, 67);
    put16(udp + 4, ulen);
    bootp[0] = 1;
    bootp[1] = 1;
    bootp[2] = 6;
    memcpy(bootp + 4, &xid, 4);
    put16(bootp + 10, 0x8000);
    memcpy(bootp + 28, guest_mac, 6);
    memcpy(bootp + 236, "\x63\x82\x53\x63", 4);
    memcpy(bootp + 240, "\x35\x01\x01\xff", 4);    /* DISCOVER, end */
    put16(pseudo + 10, ulen);
    sum = csum_add(pseudo, 12, 0);
    if (udp_csum == 1) {
        put16(udp + 6, ~csum_add(udp, ulen, sum));
    } else if (udp_csum == 2) {
        put16(udp + 6, sum);
    } else if (udp_csum == 3) {
        put16(udp + 6, 0x1234);
    }
    return 14 + iplen;
}

/* A DHCP answer's xid and yiaddr, if @f is one. */
static bool dhcp_answer(const uint8_t *f, size_t len, uint32_t *xid,
                        char *yiaddr)
{
    const uint8_t *udp = f + 34, *bootp = udp + 8;

    if (len < 34 + 8 + 240 || f[12] != 0x08 || f[13] != 0x00 ||
        f[23] != 17 || (udp[2] << 8 | udp[3]) != 68 || bootp[0] != 2) {
        return false;
    }
    memcpy(xid, bootp + 4, 4);
    inet_ntop(AF_INET, bootp + 16, yiaddr, 16);
    return true;
}

/* ---- Tests ---- */

static void test_identity_features(void **unused)
{
    Net *k = net_new(",mac=02:00:00:aa:bb:cc");
    DmPci *pci = dm_device_pci(&k->rig->dev);
    uint64_t f;
    uint8_t mac[6];

    assert_int_equal(dm_pci_get_word(pci, 0x00), 0x1af4);
    assert_int_equal(dm_pci_get_word(pci, 0x02), 0x1041);
    assert_int_equal(dm_pci_get_word(pci, 0x0a), 0x0200);
    f = offered(k);
    assert_int_equal(f & ALL_FEATURES, ALL_FEATURES);
    /* No segmentation offloads: every frame fits the MTU. */
    assert_false(f & (1ULL << F_GUEST_TSO4));
    assert_false(f & (1ULL << F_HOST_TSO4));
    /* queues=1 (the default): one pair, no MQ. */
    assert_false(f & (1ULL << F_MQ));
    assert_int_equal(rd(k, 0x12, 2), 3);
    assert_int_equal(rd(k, 0x2008, 2), 1);          /* max_virtqueue_pairs */
    for (int i = 0; i < 6; i++) {
        mac[i] = rd(k, 0x2000 + i, 1);
    }
    assert_memory_equal(mac, "\x02\x00\x00\xaa\xbb\xcc", 6);
    assert_int_equal(rd(k, 0x2006, 2), 1);          /* LINK_UP */
    assert_int_equal(rd(k, 0x200a, 2), 1500);       /* mtu */
    /* A driver may take less: three queues all the same. */
    driver_init(k, 1ULL << VIRTIO_F_VERSION_1);
    assert_false(needs_reset(k));
    net_free(k);
}

/* The forms of hostfwd= and subnet= a user writes, QEMU's included. */
static void test_good_properties(void **unused)
{
    static const char *good[] = {
        ",hostfwd=tcp:8080-:80",
        ",hostfwd=tcp::8080-:80+udp::5353-10.0.2.15:53",
        ",hostfwd=tcp:127.0.0.1:2222-10.0.2.20:22",
        ",hostfwd=:8080-:80",
        ",subnet=192.168.0.0/16",
        ",restrict=on,subnet=10.1.0.0/27",
        ",tap=tap0",
        ",net=tap,tap=tap0,mac=02:00:00:00:00:01",
        ",queues=1",
        ",queues=8",
    };

    for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char err[256], spec[128];
        char *name;
        DmPropList list;
        const DmModel *m = dm_model_find("virtio-net");

        snprintf(spec, sizeof(spec), "virtio-net%s", good[i]);
        assert_int_equal(dm_props_split(spec, &name, &list, err,
                                        sizeof(err)), 0);
        if (dm_props_apply(m->props, &list, NULL, err, sizeof(err)) < 0) {
            fail_msg("%s: %s", good[i], err);
        }
        dm_props_free(&list);
        free(name);
    }
}

static void test_bad_properties(void **unused)
{
    static const char *bad[] = {
        ",mac=01:00:00:00:00:01",           /* multicast */
        ",mac=52:54:00:12:34",
        ",subnet=10.0.2.0/30",
        ",subnet=10.0.2.1/24",              /* host bits */
        ",hostfwd=tcp:8080",
        ",hostfwd=tcp::8080-:80+",
        ",hostfwd=sctp::1-:2",
        ",net=bridge",
        ",queues=0",
        ",queues=9",
    };

    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256], spec[128];
        char *name;
        DmPropList list;
        const DmModel *m = dm_model_find("virtio-net");

        snprintf(spec, sizeof(spec), "virtio-net%s", bad[i]);
        assert_int_equal(dm_props_split(spec, &name, &list, err,
                                        sizeof(err)), 0);
        assert_true(dm_props_apply(m->props, &list, NULL, err,
                                   sizeof(err)) < 0);
        dm_props_free(&list);
        free(name);
    }
}

/* ARP for the gateway and the DNS server: slirp answers each. */
static void test_arp(void **unused)
{
    Net *k = net_new("");
    uint8_t f[2048], h[HDR_LEN];
    size_t n;

    driver_init(k, ALL_FEATURES);
    rx_offer(k, 8, 2048);
    tx_frame(k, f, arp_request(f, guest_mac, "10.0.2.15", "10.0.2.2"),
             NULL);
    n = rx_next(k, f, sizeof(f), h, true);
    assert_int_equal(arp_op(f, n), 2);
    assert_memory_equal(f, guest_mac, 6);               /* to us */
    assert_memory_equal(f + 28, "\x0a\x00\x02\x02", 4);  /* 10.0.2.2 is */
    assert_memory_equal(f + 32, guest_mac, 6);
    /* GUEST_CSUM: slirp's frames are whole, the guest need not check. */
    assert_int_equal(h[0], 2);                          /* DATA_VALID */
    assert_int_equal(h[1], 0);                          /* GSO_NONE */
    assert_int_equal(h[10], 1);                         /* num_buffers */
    /* Without GUEST_CSUM nothing is claimed. */
    driver_init(k, 1ULL << VIRTIO_F_VERSION_1);
    rx_offer(k, 8, 2048);
    tx_frame(k, f, arp_request(f, guest_mac, "10.0.2.15", "10.0.2.3"),
             NULL);
    n = rx_next(k, f, sizeof(f), h, true);
    assert_int_equal(arp_op(f, n), 2);
    assert_memory_equal(f + 28, "\x0a\x00\x02\x03", 4);
    assert_int_equal(h[0], 0);
    assert_int_equal(h[10], 1);
    net_free(k);
}

/* DHCP offers 10.0.2.15, or what subnet= makes the first address. */
static void test_dhcp(void **unused)
{
    Net *k = net_new(",subnet=192.168.77.0/24");
    uint8_t f[2048], h[HDR_LEN];
    uint32_t xid;
    char yiaddr[16];
    size_t n;

    driver_init(k, ALL_FEATURES);
    rx_offer(k, 8, 2048);
    tx_frame(k, f, dhcp_discover(f, 0x11223344, 1), NULL);
    n = rx_next(k, f, sizeof(f), h, true);
    assert_true(dhcp_answer(f, n, &xid, yiaddr));
    assert_int_equal(xid, 0x11223344);
    assert_string_equal(yiaddr, "192.168.77.15");
    net_free(k);
}

/*
 * CSUM: a frame whose UDP checksum the guest left to the device (only
 * the pseudo-header summed) is answered, so it reached slirp whole:
 * slirp drops one with a wrong checksum, which the same run shows.
 */
static void test_csum_offload(void **unused)
{
    Net *k = net_new("");
    uint8_t f[2048], h[HDR_LEN] = { 1 /* NEEDS_CSUM */ };
    uint32_t xid;
    char yiaddr[16];
    size_t n;

    put16(h + 6, 0);
    h[6] = 34;                  /* csum_start: the UDP header (le16) */
    h[8] = 6;                   /* csum_offset: its checksum */
    driver_init(k, ALL_FEATURES);
    rx_offer(k, 8, 2048);
    tx_frame(k, f, dhcp_discover(f, 1, 3), NULL);      /* wrong: dropped */
    tx_frame(k, f, dhcp_discover(f, 2, 2), h);         /* finished by us */
    n = rx_next(k, f, sizeof(f), h, true);
    assert_true(dhcp_answer(f, n, &xid, yiaddr));
    assert_int_equal(xid, 2);
    assert_int_equal(rx_next(k, f, sizeof(f), h, false), 0);
    /* A checksum to finish outside the frame: dropped, not broken. */
    h[0] = 1;
    h[6] = 0xf0;
    h[7] = 0x0f;
    tx_frame(k, f, dhcp_discover(f, 3, 2), h);
    assert_false(needs_reset(k));
    assert_int_equal(rx_next(k, f, sizeof(f), h, false), 0);
    net_free(k);
}

/* MRG_RXBUF: a frame larger than one buffer takes several, given together. */
static void test_mergeable(void **unused)
{
    Net *k = net_new("");
    uint8_t f[2048], h[HDR_LEN];
    uint32_t xid, len;
    char yiaddr[16];
    size_t n;

    driver_init(k, ALL_FEATURES);
    rx_offer(k, 16, 128);
    tx_frame(k, f, dhcp_discover(f, 7, 1), NULL);
    run_until_used(k, RX, 1);
    /* ~590 bytes in 128-byte buffers: the index moved past all at once. */
    assert_true(used_idx(k, RX) >= 5);
    used_elem(k, RX, 0, &len);
    assert_int_equal(len, 128);
    n = rx_next(k, f, sizeof(f), h, false);
    assert_true(h[10] >= 5);
    assert_int_equal(used_idx(k, RX), h[10]);
    assert_true(dhcp_answer(f, n, &xid, yiaddr));
    assert_int_equal(xid, 7);
    assert_false(needs_reset(k));
    net_free(k);
}

/*
 * Without MRG_RXBUF a frame larger than the buffer is dropped (the buffer
 * comes back empty), and the next one that fits arrives.
 */
static void test_too_small_buffers(void **unused)
{
    Net *k = net_new("");
    uint8_t f[2048], h[HDR_LEN];
    uint32_t len;
    size_t n;

    driver_init(k, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << F_MAC));
    rx_offer(k, 1, 128);
    tx_frame(k, f, dhcp_discover(f, 7, 1), NULL);
    run_until_used(k, RX, 1);
    assert_int_equal(used_idx(k, RX), 1);
    used_elem(k, RX, 0, &len);
    assert_int_equal(len, 0);
    k->seen_used[RX] = 1;
    rx_offer(k, 1, 128);
    tx_frame(k, f, arp_request(f, guest_mac, "10.0.2.15", "10.0.2.2"),
             NULL);
    n = rx_next(k, f, sizeof(f), h, true);
    assert_int_equal(arp_op(f, n), 2);
    assert_false(needs_reset(k));
    net_free(k);
}

/*
 * No receive buffers: frames wait in the bounded queue (rx_queue=4), the
 * ones beyond are dropped; buffers given later get the four that waited,
 * in order, and nothing more.
 */
static void test_rx_queue_bounded(void **unused)
{
    Net *k = net_new(",rx_queue=4");
    uint8_t f[2048], h[HDR_LEN], mac[6];
    size_t n;

    driver_init(k, ALL_FEATURES);
    memcpy(mac, guest_mac, 6);
    for (uint8_t i = 0; i < 10; i++) {
        mac[5] = i;             /* each answer goes to the asker's MAC */
        tx_frame(k, f, arp_request(f, mac, "10.0.2.15", "10.0.2.2"), NULL);
    }
    rig_run_for(k->rig, 20);
    assert_int_equal(used_idx(k, RX), 0);
    rx_offer(k, 16, 2048);
    for (uint8_t i = 0; i < 4; i++) {
        n = rx_next(k, f, sizeof(f), h, true);
        assert_int_equal(arp_op(f, n), 2);
        assert_int_equal(f[5], i);
    }
    rig_run_for(k->rig, 20);
    assert_int_equal(used_idx(k, RX), 4);
    /* The queue works on: one more asked, one more answered. */
    mac[5] = 42;
    tx_frame(k, f, arp_request(f, mac, "10.0.2.15", "10.0.2.2"), NULL);
    n = rx_next(k, f, sizeof(f), h, true);
    assert_int_equal(f[5], 42);
    net_free(k);
}

/* A control command: its ack (0xee if none was written). */
static uint8_t ctrl(Net *k, uint8_t cls, uint8_t cmd, const void *data,
                    size_t len)
{
    uint8_t *b = at(k, CTRLBUF);

    b[0] = cls;
    b[1] = cmd;
    memcpy(b + 2, data, len);
    *(uint8_t *)at(k, CTRLACK) = 0xee;
    desc(k, k->ctrl_q, 0, CTRLBUF, 2 + len, 1, 1);
    desc(k, k->ctrl_q, 1, CTRLACK, 1, 2, 0);
    offer(k, k->ctrl_q, 0, true);
    run_until_used(k, k->ctrl_q, k->avail[k->ctrl_q]);
    return *(uint8_t *)at(k, CTRLACK);
}

static void test_ctrl(void **unused)
{
    Net *k = net_new("");
    uint8_t table[4 + 6 + 4 + 12] = { 1, 0, 0, 0 };
    uint8_t on = 1;
    uint32_t len;

    driver_init(k, ALL_FEATURES);
    assert_int_equal(ctrl(k, 0, 0, &on, 1), 0);         /* PROMISC */
    assert_int_equal(ctrl(k, 0, 1, &on, 1), 0);         /* ALLMULTI */
    assert_int_equal(ctrl(k, 0, 0, &on, 0), 1);         /* no value */
    table[10] = 2;                                      /* 1 + 2 MACs */
    assert_int_equal(ctrl(k, 1, 0, table, sizeof(table)), 0);
    table[10] = 3;                                      /* one missing */
    assert_int_equal(ctrl(k, 1, 0, table, sizeof(table)), 1);
    table[0] = 0xff;
    table[3] = 0xff;                                    /* 4 G entries */
    assert_int_equal(ctrl(k, 1, 0, table, sizeof(table)), 1);
    assert_int_equal(ctrl(k, 1, 1, "\x02\x11\x22\x33\x44\x55", 6), 0);
    assert_int_equal(rd(k, 0x2000, 1), 0x02);
    assert_int_equal(rd(k, 0x2005, 1), 0x55);
    /* A multicast address is no card's. */
    assert_int_equal(ctrl(k, 1, 1, "\x03\x11\x22\x33\x44\x66", 6), 1);
    assert_int_equal(rd(k, 0x2005, 1), 0x55);
    assert_int_equal(ctrl(k, 9, 0, &on, 1), 1);         /* unknown */
    used_elem(k, k->ctrl_q, 0, &len);
    assert_int_equal(len, 1);
    assert_false(needs_reset(k));
    /* Without CTRL_RX its commands are refused. */
    driver_init(k, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << F_CTRL_VQ));
    assert_int_equal(ctrl(k, 0, 0, &on, 1), 1);
    net_free(k);
}

/* After each broken chain: NEEDS_RESET, then a reset and it works. */
static void assert_broken_then_recovers(Net *k)
{
    uint8_t f[2048], h[HDR_LEN];

    assert_true(needs_reset(k));
    driver_init(k, ALL_FEATURES);
    assert_false(needs_reset(k));
    rx_offer(k, 4, 2048);
    tx_frame(k, f, arp_request(f, guest_mac, "10.0.2.15", "10.0.2.2"),
             NULL);
    assert_int_equal(arp_op(f, rx_next(k, f, sizeof(f), h, true)), 2);
}

static void test_malformed(void **unused)
{
    Net *k = net_new("");
    uint8_t f[64];

    /* A transmit chain shorter than the header. */
    driver_init(k, ALL_FEATURES);
    desc(k, TX, 0, TXBUF(0), 6, 0, 0);
    offer(k, TX, 0, true);
    rig_run_for(k->rig, 5);
    assert_broken_then_recovers(k);

    /* A transmit chain that loops. */
    driver_init(k, ALL_FEATURES);
    desc(k, TX, 0, TXBUF(0), 12, 1, 1);
    desc(k, TX, 1, TXBUF(1), 42, 1, 0);
    offer(k, TX, 0, true);
    rig_run_for(k->rig, 5);
    assert_broken_then_recovers(k);

    /* A head past the queue. */
    driver_init(k, ALL_FEATURES);
    offer(k, TX, QSIZE + 3, true);
    rig_run_for(k->rig, 5);
    assert_broken_then_recovers(k);

    /* A readable receive buffer, found when a frame arrives. */
    driver_init(k, ALL_FEATURES);
    desc(k, RX, 0, RXBUF(0), 2048, 0, 0);
    offer(k, RX, 0, true);
    k->tx_slot = 1;
    tx_frame(k, f, arp_request(f, guest_mac, "10.0.2.15", "10.0.2.2"),
             NULL);
    rig_run_for(k->rig, 5);
    assert_broken_then_recovers(k);

    /* A receive buffer outside guest memory. */
    driver_init(k, ALL_FEATURES);
    desc(k, RX, 0, 0x7000000000ULL, 2048, 2, 0);
    offer(k, RX, 0, true);
    tx_frame(k, f, arp_request(f, guest_mac, "10.0.2.15", "10.0.2.2"),
             NULL);
    rig_run_for(k->rig, 5);
    assert_broken_then_recovers(k);

    /* A control command with no room for its ack. */
    driver_init(k, ALL_FEATURES);
    desc(k, k->ctrl_q, 0, CTRLBUF, 3, 0, 0);
    offer(k, k->ctrl_q, 0, true);
    rig_run_for(k->rig, 5);
    assert_broken_then_recovers(k);

    /* Oversized and undersized frames are dropped, the device goes on. */
    driver_init(k, ALL_FEATURES);
    desc(k, TX, 0, TXBUF(0), HDR_LEN + 4000, 0, 0);
    offer(k, TX, 0, true);
    desc(k, TX, 1, TXBUF(1), HDR_LEN + 3, 0, 0);
    offer(k, TX, 1, true);
    run_until_used(k, TX, 2);
    assert_int_equal(used_idx(k, TX), 2);
    assert_false(needs_reset(k));
    net_free(k);
}

static int free_port(void);

/* A card whose driver is set up, forwarding a free port of ours (*port). */
static Net *net_forwarding(int *port)
{
    char extra[96];
    Net *k;

    *port = free_port();
    snprintf(extra, sizeof(extra), ",hostfwd=tcp:127.0.0.1:%d-:80", *port);
    k = net_new(extra);
    driver_init(k, ALL_FEATURES);
    rx_offer(k, 8, 2048);
    return k;
}

/* Connect to @port without waiting: slirp answers with an ARP. */
static int knock(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons(port) };
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

    assert_true(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0 ||
                errno == EINPROGRESS);
    return s;
}

/*
 * Frames that come while the client is away (its memory gone: here a
 * hostfwd connection's ARP) wait without touching the rings, and reach
 * the guest once the client is back; the device is never broken by it.
 */
static void test_client_away(void **unused)
{
    int port, s;
    Net *k = net_forwarding(&port);
    uint8_t f[2048], h[HDR_LEN];

    rig_detach(k->rig);
    s = knock(port);
    rig_run_for(k->rig, 100);
    assert_int_equal(used_idx(k, RX), 0);
    assert_false(needs_reset(k));
    rig_reattach(k->rig);
    assert_int_equal(arp_op(f, rx_next(k, f, sizeof(f), h, true)), 1);
    assert_false(needs_reset(k));
    close(s);
    net_free(k);
}

/*
 * The VM stopped (a migration's last pass may have been taken): a frame
 * for the guest waits, written into no buffer, until the VM runs again;
 * then it comes.
 */
static void test_vm_stopped(void **unused)
{
    int port, s;
    Net *k = net_forwarding(&port);
    uint8_t f[2048], h[HDR_LEN];

    dm_device_set_vm_stopped(&k->rig->dev, true);
    s = knock(port);
    rig_run_for(k->rig, 100);
    assert_int_equal(used_idx(k, RX), 0);
    dm_device_set_vm_stopped(&k->rig->dev, false);
    assert_int_equal(arp_op(f, rx_next(k, f, sizeof(f), h, true)), 1);
    assert_false(needs_reset(k));
    close(s);
    net_free(k);
}

/*
 * QMP's set_link, as the fork sends it (VUP_DM_CONTROL_LINK): the status
 * and a configuration interrupt follow; while down, a frame out is taken
 * and dropped (no answer to it), and one sent up again is answered.
 */
static void test_link(void **unused)
{
    Net *k = net_new("");
    DmDevice *dev = &k->rig->dev;
    uint8_t f[2048], h[HDR_LEN], gen;

    driver_init(k, ALL_FEATURES);
    rx_offer(k, 8, 2048);
    rd(k, 0x1000, 1);                                   /* ISR cleared */
    gen = rd(k, 0x15, 1);
    assert_int_equal(dm_device_control(dev, VUP_DM_CONTROL_LINK, 0), 0);
    assert_int_equal(rd(k, 0x2006, 2), 0);              /* not LINK_UP */
    assert_int_equal(rd(k, 0x1000, 1) & 2, 2);          /* ISR config */
    assert_int_not_equal(rd(k, 0x15, 1), gen);
    tx_frame(k, f, arp_request(f, guest_mac, "10.0.2.15", "10.0.2.2"),
             NULL);
    rig_run_for(k->rig, 100);
    assert_int_equal(rx_next(k, f, sizeof(f), h, false), 0);
    /* Down again: nothing changes, nothing is signalled. */
    assert_int_equal(dm_device_control(dev, VUP_DM_CONTROL_LINK, 0), 0);
    assert_int_equal(rd(k, 0x1000, 1) & 2, 0);
    assert_int_equal(dm_device_control(dev, VUP_DM_CONTROL_LINK, 1), 0);
    assert_int_equal(rd(k, 0x2006, 2), 1);
    assert_int_equal(rd(k, 0x1000, 1) & 2, 2);
    tx_frame(k, f, arp_request(f, guest_mac, "10.0.2.15", "10.0.2.2"),
             NULL);
    assert_int_equal(arp_op(f, rx_next(k, f, sizeof(f), h, true)), 2);
    /* Values and controls it does not take. */
    assert_int_equal(dm_device_control(dev, VUP_DM_CONTROL_LINK, 2),
                     -EINVAL);
    assert_int_equal(dm_device_control(dev, 99, 0), -ENOTSUP);
    assert_int_equal(rd(k, 0x2006, 2), 1);
    assert_false(needs_reset(k));
    net_free(k);
}

static int free_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);
    int s = socket(AF_INET, SOCK_STREAM, 0), port;

    assert_true(s >= 0);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &alen), 0);
    port = ntohs(a.sin_port);
    close(s);
    return port;
}

/*
 * hostfwd: a connection to the forwarded port on the host comes to the
 * guest as slirp's ARP for 10.0.2.15, then, answered, a SYN to the
 * guest's port: slirp's listening socket was polled by the loop.
 */
static void test_hostfwd(void **unused)
{
    int port = free_port(), s;
    char extra[96];
    Net *k;
    uint8_t f[2048], h[HDR_LEN], reply[42];
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    size_t n;

    snprintf(extra, sizeof(extra), ",hostfwd=tcp:127.0.0.1:%d-:80", port);
    k = net_new(extra);
    driver_init(k, ALL_FEATURES);
    rx_offer(k, 8, 2048);
    s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    a.sin_port = htons(port);
    assert_true(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0 ||
                errno == EINPROGRESS);
    n = rx_next(k, f, sizeof(f), h, true);
    assert_int_equal(arp_op(f, n), 1);
    assert_memory_equal(f + 38, "\x0a\x00\x02\x0f", 4);  /* who has .15 */
    /* We do. */
    memcpy(reply, f, 42);
    memcpy(reply, f + 6, 6);
    memcpy(reply + 6, guest_mac, 6);
    put16(reply + 20, 2);
    memcpy(reply + 22, guest_mac, 6);
    memcpy(reply + 28, f + 38, 4);
    memcpy(reply + 32, f + 22, 10);
    tx_frame(k, reply, 42, NULL);
    n = rx_next(k, f, sizeof(f), h, true);
    assert_true(n >= 54);
    assert_int_equal(f[12] << 8 | f[13], 0x0800);
    assert_int_equal(f[23], 6);                         /* TCP */
    assert_int_equal(f[36] << 8 | f[37], 80);           /* to port 80 */
    assert_int_equal(f[47] & 0x12, 0x02);               /* SYN */
    close(s);
    net_free(k);
}

/* ---- A restart from the state file (--state-file) ---- */

static void copy_file(const char *from, const char *to)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "cp %s %s", from, to);
    sh(cmd);
}

/*
 * A model killed with a frame made available (not kicked) and receive
 * buffers offered: B, started from copies of A's state, journal and
 * guest RAM, is set up as A was (DRIVER_OK, the MAC the driver set) and,
 * once the client is back, sends the frame and gives its answer.  The
 * driver sees a link flap: down with a configuration interrupt when the
 * client is back, up again with another once it has read the status,
 * with ANNOUNCE (it took GUEST_ANNOUNCE) until its control queue acks.
 */
static void test_restart(void **unused)
{
    char dir[] = "/tmp/dm-test-vnet-XXXXXX", a[64], b[64], am[80], bm[80];
    char spec[160], err[256];
    static uint8_t ram[RIG_RAM_SIZE];
    uint8_t f[2048], h[HDR_LEN];
    unsigned d;
    Net *k = calloc(1, sizeof(*k));
    Rig *rb;
    size_t n;

    assert_non_null(mkdtemp(dir));
    snprintf(a, sizeof(a), "%s/a.state", dir);
    snprintf(b, sizeof(b), "%s/b.state", dir);
    snprintf(am, sizeof(am), "%s.mem", a);
    snprintf(bm, sizeof(bm), "%s.mem", b);
    snprintf(spec, sizeof(spec), "virtio-net,queue_size=%d", QSIZE);
    k->skip_q = -1;
    k->rig = rig_new_state(spec, a);
    driver_init(k, ALL_FEATURES | (1ULL << F_GUEST_ANNOUNCE));
    assert_int_equal(rd(k, 0x2006, 2), 1);              /* LINK_UP */
    /* No announce asked: an ack is refused. */
    assert_int_equal(ctrl(k, 3, 0, "", 0), 1);
    assert_int_equal(ctrl(k, 1, 1, "\x02\x11\x22\x33\x44\x55", 6), 0);
    rx_offer(k, 8, 2048);
    tx_frame(k, f, arp_request(f, guest_mac, "10.0.2.15", "10.0.2.2"),
             NULL);
    assert_int_equal(arp_op(f, rx_next(k, f, sizeof(f), h, true)), 2);
    /* A frame made available, no kick: then the kill. */
    d = k->tx_slot++ % QSIZE;
    memset(at(k, TXBUF(d)), 0, HDR_LEN);
    arp_request(at(k, TXBUF(d)) + HDR_LEN, guest_mac, "10.0.2.15",
                "10.0.2.3");
    desc(k, TX, d, TXBUF(d), HDR_LEN + 42, 0, 0);
    offer(k, TX, d, false);
    copy_file(a, b);
    copy_file(am, bm);
    memcpy(ram, k->rig->link.ram, RIG_RAM_SIZE);
    rig_free(k->rig);

    rb = rig_new_state(spec, b);
    assert_int_equal(dm_device_load_file(&rb->dev, b, err, sizeof(err)), 0);
    memcpy(rb->link.ram, ram, RIG_RAM_SIZE);
    k->rig = rb;
    assert_int_equal(rd(k, 0x14, 1), 1 | 2 | 8 | 4);    /* DRIVER_OK */
    assert_int_equal(rd(k, 0x2000, 1), 0x02);           /* the MAC set */
    assert_int_equal(rd(k, 0x2005, 1), 0x55);
    rd(k, 0x1000, 1);                                   /* ISR cleared */
    dm_device_irqs_changed(&rb->dev);                   /* the client */
    assert_int_equal(rd(k, 0x1000, 1) & 2, 2);          /* ISR config */
    assert_int_equal(rd(k, 0x2006, 2), 0);              /* down */
    rig_run_for(k->rig, 10);
    assert_int_equal(rd(k, 0x1000, 1) & 2, 2);          /* told again */
    assert_int_equal(rd(k, 0x2006, 2), 1 | 2);          /* up, ANNOUNCE */
    assert_int_equal(ctrl(k, 3, 0, "", 0), 0);          /* the ack */
    assert_int_equal(rd(k, 0x2006, 2), 1);
    assert_int_equal(ctrl(k, 3, 0, "", 0), 1);          /* once */
    run_until_used(k, TX, k->avail[TX]);
    assert_int_equal(used_idx(k, TX), k->avail[TX]);
    n = rx_next(k, f, sizeof(f), h, true);
    assert_int_equal(arp_op(f, n), 2);
    assert_memory_equal(f + 28, "\x0a\x00\x02\x03", 4);
    assert_false(needs_reset(k));
    net_free(k);
    snprintf(spec, sizeof(spec), "rm -rf %s", dir);
    sh(spec);
}

/* ---- UDP, for the tap back end and restrict= ---- */

#define TAP "dmtap0"

/* A UDP datagram from @sip:@sport to @dip:@dport; @csum as dhcp_discover. */
static size_t udp_frame(uint8_t *f, const uint8_t *dmac, const char *sip,
                        const char *dip, uint16_t sport, uint16_t dport,
                        const char *payload, int csum)
{
    uint8_t *ip = f + 14, *udp = ip + 20;
    size_t plen = strlen(payload), ulen = 8 + plen, iplen = 20 + ulen;
    uint8_t pseudo[12] = { 0 };
    uint16_t sum;

    memset(f, 0, 14 + iplen);
    memcpy(f, dmac, 6);
    memcpy(f + 6, guest_mac, 6);
    put16(f + 12, 0x0800);
    ip[0] = 0x45;
    put16(ip + 2, iplen);
    ip[8] = 64;
    ip[9] = 17;
    inet_pton(AF_INET, sip, ip + 12);
    inet_pton(AF_INET, dip, ip + 16);
    put16(ip + 10, ~csum_add(ip, 20, 0));
    put16(udp, sport);
    put16(udp + 2, dport);
    put16(udp + 4, ulen);
    memcpy(udp + 8, payload, plen);
    memcpy(pseudo, ip + 12, 8);
    pseudo[9] = 17;
    put16(pseudo + 10, ulen);
    sum = csum_add(pseudo, 12, 0);
    put16(udp + 6, csum == 2 ? sum : (uint16_t)~csum_add(udp, ulen, sum));
    return 14 + iplen;
}

/* Is the UDP checksum of IPv4 frame @f right? */
static bool udp_csum_ok(const uint8_t *f)
{
    const uint8_t *ip = f + 14, *udp = ip + 20;
    size_t ulen = udp[4] << 8 | udp[5];
    uint8_t pseudo[12] = { 0 };

    memcpy(pseudo, ip + 12, 8);
    pseudo[9] = 17;
    put16(pseudo + 10, ulen);
    return csum_add(udp, ulen, csum_add(pseudo, 12, 0)) == 0xffff;
}

static int udp_socket(const char *addr, uint16_t port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

    inet_pton(AF_INET, addr, &a.sin_addr);
    assert_true(s >= 0);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    return s;
}

static void udp_send(int s, const char *addr, uint16_t port, const char *msg)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

    inet_pton(AF_INET, addr, &a.sin_addr);
    assert_int_equal(sendto(s, msg, strlen(msg), 0, (struct sockaddr *)&a,
                            sizeof(a)), (ssize_t)strlen(msg));
}

/* ---- Several queue pairs (queues=N, MQ) ---- */

#define ALL_MQ  (ALL_FEATURES | (1ULL << F_MQ))
#define MQ_RX1  2
#define MQ_TX1  3

static uint8_t pairs_set(Net *k, uint16_t pairs)
{
    uint16_t le = htole16(pairs);

    return ctrl(k, 4, 0, &le, 2);               /* MQ, VQ_PAIRS_SET */
}

/* queues=2: MQ offered, two pairs, the control queue last; and 1..N. */
static void test_mq_negotiate(void **unused)
{
    Net *k = net_new(",queues=2");
    uint8_t f[2048], h[HDR_LEN];
    uint64_t off = offered(k);

    assert_true(off & (1ULL << F_MQ));
    assert_int_equal(off & ALL_FEATURES, ALL_FEATURES);
    assert_int_equal(rd(k, 0x12, 2), 5);
    assert_int_equal(rd(k, 0x2008, 2), 2);      /* max_virtqueue_pairs */
    driver_init(k, ALL_MQ);
    assert_int_equal(k->ctrl_q, 4);
    /* Out of range, short, long: ERR, and nothing changes. */
    assert_int_equal(pairs_set(k, 0), 1);
    assert_int_equal(pairs_set(k, 3), 1);
    assert_int_equal(pairs_set(k, 0x8000), 1);
    assert_int_equal(pairs_set(k, 0xffff), 1);
    assert_int_equal(ctrl(k, 4, 0, "\x02", 1), 1);
    assert_int_equal(ctrl(k, 4, 0, "\x02\x00\x00", 3), 1);
    assert_int_equal(ctrl(k, 4, 1, "\x02\x00", 2), 1);  /* RSS: none */
    assert_int_equal(pairs_set(k, 2), 0);
    assert_int_equal(pairs_set(k, 1), 0);
    assert_int_equal(pairs_set(k, 2), 0);
    assert_false(needs_reset(k));
    /* A frame out on the second pair's transmit queue is answered. */
    rx_offer_q(k, RX, 8, 2048);
    rx_offer_q(k, MQ_RX1, 8, 2048);
    tx_frame_q(k, MQ_TX1, f, arp_request(f, guest_mac, "10.0.2.15",
                                         "10.0.2.2"), NULL);
    /* Not IP: on the first pair's receive queue. */
    assert_int_equal(arp_op(f, rx_next_q(k, RX, f, sizeof(f), h, true)), 2);
    assert_int_equal(used_idx(k, MQ_RX1), 0);
    /* A kick of a queue past the layout, or of the queue left: nothing. */
    wr(k, 0x3000 + 4 * 5, 5, 2);
    rig_run_for(k->rig, 10);
    assert_false(needs_reset(k));
    net_free(k);

    /* A driver without MQ: one pair, the control queue 2, as queues=1. */
    k = net_new(",queues=2");
    driver_init(k, ALL_FEATURES);
    assert_int_equal(k->ctrl_q, 2);
    assert_int_equal(pairs_set(k, 1), 1);       /* MQ not taken */
    assert_int_equal(ctrl(k, 1, 1, "\x02\x11\x22\x33\x44\x55", 6), 0);
    rx_offer(k, 8, 2048);
    tx_frame(k, f, arp_request(f, guest_mac, "10.0.2.15", "10.0.2.2"), NULL);
    assert_int_equal(arp_op(f, rx_next(k, f, sizeof(f), h, true)), 2);
    assert_false(needs_reset(k));
    net_free(k);
}

/*
 * UDP flows from the guest to a socket on the server's loopback, their
 * answers back: each flow's on one receive queue, the flows spread over
 * both pairs in use; with one pair in use, or the second receive queue
 * not set up, all on the first.  @rounds: datagrams per flow.
 */
#define MQ_FLOWS 16

/* Answer ARP request @req (for 10.0.2.15) on the first transmit queue. */
static void arp_answer(Net *k, const uint8_t *req)
{
    uint8_t f[64];

    arp_request(f, guest_mac, "10.0.2.15", "10.0.2.2");
    memcpy(f, req + 6, 6);                      /* to the asker */
    put16(f + 20, 2);                           /* reply */
    memcpy(f + 32, req + 22, 10);               /* its MAC and address */
    tx_frame(k, f, 42, NULL);
}
static void mq_flows(Net *k, int s, const uint8_t *slirp_mac, uint16_t port,
                     unsigned rounds, unsigned on_q[MQ_FLOWS])
{
    uint8_t f[2048], h[HDR_LEN];
    struct sockaddr_in from;
    socklen_t flen;
    char msg[32], want[32];

    for (unsigned i = 0; i < MQ_FLOWS; i++) {
        on_q[i] = ~0u;
    }
    for (unsigned r = 0; r < rounds; r++) {
        for (unsigned i = 0; i < MQ_FLOWS; i++) {
            unsigned got = 0;
            ssize_t n = -1;

            snprintf(want, sizeof(want), "flow-%u", i);
            tx_frame_q(k, i & 1 ? MQ_TX1 : TX, f,
                       udp_frame(f, slirp_mac, "10.0.2.15", "10.0.2.2",
                                 7000 + i, port, want, 1), NULL);
            for (int t = 0; t < 50 && n < 0; t++) {
                rig_run_for(k->rig, 10);
                flen = sizeof(from);
                n = recvfrom(s, msg, sizeof(msg), 0,
                             (struct sockaddr *)&from, &flen);
            }
            /* (from slirp's own port for the flow, not the guest's) */
            assert_int_equal(n, strlen(want));
            assert_memory_equal(msg, want, n);
            assert_int_equal(sendto(s, "back", 4, 0, (struct sockaddr *)&from,
                                    flen), 4);
            /* The answer: on one of the two receive queues. */
            for (int t = 0; t < 100 && !got; t++) {
                rig_run_for(k->rig, 10);
                for (unsigned q = RX; q <= MQ_RX1 && !got; q += MQ_RX1) {
                    size_t len = rx_next_q(k, q, f, sizeof(f), h, false);

                    if (len) {
                        rx_offer_q(k, q, 1, 2048);      /* given back */
                    }
                    if (arp_op(f, len) == 1) {
                        /* A restarted slirp asks who we are. */
                        arp_answer(k, f);
                        continue;
                    }
                    if (len) {
                        assert_int_equal(f[23], 17);
                        assert_int_equal(f[36] << 8 | f[37], 7000 + i);
                        assert_true(on_q[i] == ~0u || on_q[i] == q);
                        on_q[i] = q;
                        got = 1;
                    }
                }
            }
            assert_true(got);
        }
    }
}

static unsigned mq_count(const unsigned on_q[MQ_FLOWS], unsigned q)
{
    unsigned c = 0;

    for (unsigned i = 0; i < MQ_FLOWS; i++) {
        c += on_q[i] == q;
    }
    return c;
}

static void test_mq_flows(void **unused)
{
    Net *k = net_new(",queues=2");
    int s = udp_socket("127.0.0.1", 0);
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    uint8_t f[2048], h[HDR_LEN], slirp_mac[6];
    unsigned on_q[MQ_FLOWS];
    uint16_t port;

    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &alen), 0);
    port = ntohs(a.sin_port);
    driver_init(k, ALL_MQ);
    rx_offer_q(k, RX, 15, 2048);
    rx_offer_q(k, MQ_RX1, 16, 2048);
    tx_frame(k, f, arp_request(f, guest_mac, "10.0.2.15", "10.0.2.2"), NULL);
    assert_int_equal(arp_op(f, rx_next(k, f, sizeof(f), h, true)), 2);
    rx_offer_q(k, RX, 1, 2048);
    memcpy(slirp_mac, f + 22, 6);
    /* One pair in use (after a reset): every answer on the first. */
    mq_flows(k, s, slirp_mac, port, 1, on_q);
    assert_int_equal(mq_count(on_q, RX), MQ_FLOWS);
    /*
     * Two: each flow on one queue, the 16 flows on both (all on one
     * has odds of 2^-15 with a fair hash: the server's port is random).
     */
    assert_int_equal(pairs_set(k, 2), 0);
    mq_flows(k, s, slirp_mac, port, 2, on_q);
    assert_int_equal(mq_count(on_q, RX) + mq_count(on_q, MQ_RX1), MQ_FLOWS);
    assert_true(mq_count(on_q, RX) > 0);
    assert_true(mq_count(on_q, MQ_RX1) > 0);
    assert_false(needs_reset(k));
    net_free(k);

    /* The second receive queue never set up: all on the first. */
    k = net_new(",queues=2");
    k->skip_q = MQ_RX1;
    driver_init(k, ALL_MQ);
    assert_int_equal(pairs_set(k, 2), 0);
    rx_offer_q(k, RX, 15, 2048);
    tx_frame(k, f, arp_request(f, guest_mac, "10.0.2.15", "10.0.2.2"), NULL);
    assert_int_equal(arp_op(f, rx_next(k, f, sizeof(f), h, true)), 2);
    rx_offer_q(k, RX, 1, 2048);
    mq_flows(k, s, slirp_mac, port, 1, on_q);
    assert_int_equal(mq_count(on_q, RX), MQ_FLOWS);
    assert_false(needs_reset(k));
    close(s);
    net_free(k);
}

/*
 * Receive buffers taken on the second pair for a frame (MRG_RXBUF: one
 * of 64 bytes, the frame waiting for more) when the driver goes back to
 * one pair: that buffer comes back empty before the ack, the frame then
 * on the first pair, whole.  The flow that goes to the second pair is
 * found first on another card with the same addresses and ports.
 */
static void test_mq_pairs_shrink(void **unused)
{
    Net *k = net_new(",queues=2");
    int s = udp_socket("127.0.0.1", 0);
    struct sockaddr_in a, from;
    socklen_t alen = sizeof(a), flen = sizeof(from);
    uint8_t f[2048], h[HDR_LEN], slirp_mac[6];
    unsigned on_q[MQ_FLOWS], flow = MQ_FLOWS, d;
    char msg[32], want[32];
    ssize_t n = -1;
    uint32_t len;

    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &alen), 0);
    driver_init(k, ALL_MQ);
    rx_offer_q(k, RX, 15, 2048);
    rx_offer_q(k, MQ_RX1, 16, 2048);
    tx_frame(k, f, arp_request(f, guest_mac, "10.0.2.15", "10.0.2.2"), NULL);
    assert_int_equal(arp_op(f, rx_next(k, f, sizeof(f), h, true)), 2);
    rx_offer_q(k, RX, 1, 2048);
    memcpy(slirp_mac, f + 22, 6);
    assert_int_equal(pairs_set(k, 2), 0);
    mq_flows(k, s, slirp_mac, ntohs(a.sin_port), 1, on_q);
    for (unsigned i = 0; i < MQ_FLOWS && flow == MQ_FLOWS; i++) {
        flow = on_q[i] == MQ_RX1 ? i : flow;
    }
    assert_true(flow < MQ_FLOWS);
    net_free(k);

    k = net_new(",queues=2");
    driver_init(k, ALL_MQ);
    rx_offer_q(k, RX, 15, 2048);
    tx_frame(k, f, arp_request(f, guest_mac, "10.0.2.15", "10.0.2.2"), NULL);
    assert_int_equal(arp_op(f, rx_next(k, f, sizeof(f), h, true)), 2);
    assert_int_equal(pairs_set(k, 2), 0);
    d = k->next_desc[MQ_RX1]++;
    desc(k, MQ_RX1, d, RXBUF_Q(MQ_RX1, d), 64, 2, 0);
    offer(k, MQ_RX1, d, true);
    snprintf(want, sizeof(want), "flow-%u", flow);
    tx_frame(k, f, udp_frame(f, slirp_mac, "10.0.2.15", "10.0.2.2",
                             7000 + flow, ntohs(a.sin_port), want, 1), NULL);
    for (int t = 0; t < 50 && n < 0; t++) {
        rig_run_for(k->rig, 10);
        n = recvfrom(s, msg, sizeof(msg), 0, (struct sockaddr *)&from, &flen);
    }
    assert_int_equal(n, strlen(want));
    /* 42 + 12 bytes of header and more than 64: it waits for buffers. */
    assert_int_equal(sendto(s, "a longer answer than 64 bytes, with its "
                            "headers", 47, 0, (struct sockaddr *)&from, flen),
                     47);
    rig_run_for(k->rig, 50);
    assert_int_equal(used_idx(k, MQ_RX1), 0);
    assert_int_equal(used_idx(k, RX), k->seen_used[RX]);
    assert_int_equal(pairs_set(k, 1), 0);
    assert_int_equal(used_idx(k, MQ_RX1), 1);           /* with the command */
    assert_int_equal(used_elem(k, MQ_RX1, 0, &len), d);
    assert_int_equal(len, 0);                           /* empty */
    n = rx_next_q(k, RX, f, sizeof(f), h, true);
    assert_int_equal(n, 42 + 47);
    assert_int_equal(f[36] << 8 | f[37], 7000 + flow);
    assert_memory_equal(f + 42, "a longer answer", 15);
    assert_false(needs_reset(k));
    close(s);
    net_free(k);
}

/*
 * queues=2 across a kill: the pairs the driver enabled and the control
 * queue's place come back from the state file; a model started with
 * another queues= refuses the file.
 */
static void test_restart_mq(void **unused)
{
    char dir[] = "/tmp/dm-test-vnet-XXXXXX", a[64], b[64], am[80], bm[80];
    char spec[160], err[256];
    static uint8_t ram[RIG_RAM_SIZE];
    uint8_t f[2048], h[HDR_LEN], slirp_mac[6];
    unsigned on_q[MQ_FLOWS];
    int s = udp_socket("127.0.0.1", 0);
    struct sockaddr_in sa;
    socklen_t alen = sizeof(sa);
    Net *k = calloc(1, sizeof(*k));
    Rig *rb;

    assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &alen), 0);
    assert_non_null(mkdtemp(dir));
    snprintf(a, sizeof(a), "%s/a.state", dir);
    snprintf(b, sizeof(b), "%s/b.state", dir);
    snprintf(am, sizeof(am), "%s.mem", a);
    snprintf(bm, sizeof(bm), "%s.mem", b);
    snprintf(spec, sizeof(spec), "virtio-net,queue_size=%d,queues=2", QSIZE);
    k->skip_q = -1;
    k->rig = rig_new_state(spec, a);
    driver_init(k, ALL_MQ);
    assert_int_equal(pairs_set(k, 2), 0);
    rx_offer_q(k, RX, 15, 2048);
    rx_offer_q(k, MQ_RX1, 16, 2048);
    tx_frame(k, f, arp_request(f, guest_mac, "10.0.2.15", "10.0.2.2"), NULL);
    assert_int_equal(arp_op(f, rx_next(k, f, sizeof(f), h, true)), 2);
    rx_offer_q(k, RX, 1, 2048);
    memcpy(slirp_mac, f + 22, 6);
    copy_file(a, b);
    copy_file(am, bm);
    memcpy(ram, k->rig->link.ram, RIG_RAM_SIZE);
    rig_free(k->rig);

    /* Another queues=: refused, whichever way. */
    rb = rig_new_state("virtio-net,queue_size=16", b);
    assert_true(dm_device_load_file(&rb->dev, b, err, sizeof(err)) < 0);
    rig_free(rb);
    rb = rig_new_state("virtio-net,queue_size=16,queues=3", b);
    assert_true(dm_device_load_file(&rb->dev, b, err, sizeof(err)) < 0);
    rig_free(rb);
    copy_file(a, b);
    copy_file(am, bm);

    rb = rig_new_state(spec, b);
    assert_int_equal(dm_device_load_file(&rb->dev, b, err, sizeof(err)), 0);
    memcpy(rb->link.ram, ram, RIG_RAM_SIZE);
    k->rig = rb;
    assert_int_equal(rd(k, 0x14, 1), 1 | 2 | 8 | 4);    /* DRIVER_OK */
    dm_device_irqs_changed(&rb->dev);                   /* the client */
    rig_run_for(k->rig, 10);
    /* Still two pairs: the flows on both receive queues. */
    mq_flows(k, s, slirp_mac, ntohs(sa.sin_port), 1, on_q);
    assert_true(mq_count(on_q, RX) > 0);
    assert_true(mq_count(on_q, MQ_RX1) > 0);
    /* The control queue still the last. */
    assert_int_equal(pairs_set(k, 3), 1);
    assert_int_equal(pairs_set(k, 1), 0);
    assert_false(needs_reset(k));
    close(s);
    net_free(k);
    snprintf(spec, sizeof(spec), "rm -rf %s", dir);
    sh(spec);
}

/* ---- The tap back end (in a network namespace of our own) ---- */

/* The model on a new tap, up with 10.9.0.1/24 on the kernel's side. */
static Net *tap_new(const char *extra, uint64_t features)
{
    char spec[96];
    Net *k;

    snprintf(spec, sizeof(spec), ",tap=" TAP "%s", extra);
    k = net_new(spec);
    driver_init(k, features);
    sh("ip addr add 10.9.0.1/24 dev " TAP " && ip link set " TAP " up");
    return k;
}

/*
 * The kernel's ARP for the guest comes in; answered, the datagram it
 * held follows, its checksum left to the guest when the driver took
 * GUEST_CSUM (NEEDS_CSUM) and whole when it did not.  The tap's MAC
 * into @tap_mac.
 */
static void tap_arp_and_datagram(Net *k, bool guest_csum, uint8_t *tap_mac)
{
    uint8_t f[2048], h[HDR_LEN], reply[42];
    int s = udp_socket("10.9.0.1", 5000);
    size_t n = 0;

    rx_offer(k, 8, 2048);
    udp_send(s, "10.9.0.2", 6000, "to-the-guest");
    n = rx_next(k, f, sizeof(f), h, true);
    assert_int_equal(arp_op(f, n), 1);
    assert_memory_equal(f + 38, "\x0a\x09\x00\x02", 4);   /* who has .2 */
    memcpy(tap_mac, f + 6, 6);
    memcpy(reply, f + 6, 6);
    memcpy(reply + 6, guest_mac, 6);
    memcpy(reply + 12, f + 12, 8);
    put16(reply + 20, 2);
    memcpy(reply + 22, guest_mac, 6);
    memcpy(reply + 28, f + 38, 4);
    memcpy(reply + 32, f + 22, 10);
    tx_frame(k, reply, 42, NULL);
    n = rx_next(k, f, sizeof(f), h, true);
    assert_int_equal(f[12] << 8 | f[13], 0x0800);
    assert_int_equal(f[23], 17);
    assert_memory_equal(f + 42, "to-the-guest", 12);
    if (guest_csum) {
        assert_int_equal(h[0] & 1, 1);                  /* NEEDS_CSUM */
        assert_int_equal(le16toh(*(uint16_t *)(h + 6)), 34);
        assert_int_equal(le16toh(*(uint16_t *)(h + 8)), 6);
    } else {
        assert_int_equal(h[0] & 1, 0);
        assert_true(udp_csum_ok(f));
    }
    close(s);
}

static void test_tap_both_ways(void **unused)
{
    Net *k = tap_new("", ALL_FEATURES);
    uint8_t f[2048], tap_mac[6], h[HDR_LEN] = { 1 };
    char got[64] = "";
    int s;

    /* A tap offers TSO both ways (slirp does not: test_identity). */
    assert_int_equal(offered(k) & ((1ULL << F_GUEST_TSO4) |
                                   (1ULL << F_HOST_TSO4)),
                     (1ULL << F_GUEST_TSO4) | (1ULL << F_HOST_TSO4));
    tap_arp_and_datagram(k, true, tap_mac);
    /* Out: a datagram whose checksum the kernel finishes (it drops it
     * otherwise), and one whole. */
    s = udp_socket("10.9.0.1", 7000);
    h[6] = 34;
    h[8] = 6;
    tx_frame(k, f, udp_frame(f, tap_mac, "10.9.0.2", "10.9.0.1", 6000, 7000,
                             "partial", 2), h);
    tx_frame(k, f, udp_frame(f, tap_mac, "10.9.0.2", "10.9.0.1", 6000, 7000,
                             "whole", 1), NULL);
    for (int i = 0; i < 200 && recv(s, got, sizeof(got) - 1, 0) < 0; i++) {
        rig_run_for(k->rig, 10);
    }
    assert_string_equal(got, "partial");
    memset(got, 0, sizeof(got));
    for (int i = 0; i < 200 && recv(s, got, sizeof(got) - 1, 0) < 0; i++) {
        rig_run_for(k->rig, 10);
    }
    assert_string_equal(got, "whole");
    close(s);
    net_free(k);
}

/* A driver without GUEST_CSUM gets whole checksums from the kernel. */
static void test_tap_no_guest_csum(void **unused)
{
    Net *k = tap_new("", ALL_FEATURES & ~(1ULL << F_GUEST_CSUM));
    uint8_t tap_mac[6];

    tap_arp_and_datagram(k, false, tap_mac);
    net_free(k);
}

/*
 * No buffers: the card takes rx_queue=2 frames and stops reading the
 * tap; the kernel holds the rest; buffers given, all ten arrive.
 */
static void test_tap_backpressure(void **unused)
{
    Net *k = tap_new(",rx_queue=2", ALL_FEATURES);
    uint8_t f[2048], h[HDR_LEN], tap_mac[6];
    int s;

    tap_arp_and_datagram(k, true, tap_mac);
    s = udp_socket("10.9.0.1", 5001);
    for (int i = 0; i < 10; i++) {
        char msg[16];

        snprintf(msg, sizeof(msg), "dgram-%d", i);
        udp_send(s, "10.9.0.2", 6000, msg);
    }
    rig_run_for(k->rig, 50);
    rx_offer(k, 12, 2048);
    for (int i = 0; i < 10; i++) {
        char msg[16];
        size_t n = rx_next(k, f, sizeof(f), h, true);

        snprintf(msg, sizeof(msg), "dgram-%d", i);
        assert_true(n >= 42 + strlen(msg));
        assert_memory_equal(f + 42, msg, strlen(msg));
    }
    close(s);
    net_free(k);
}

/* ---- restrict=on (slirp; uses the UDP helpers above) ---- */

/*
 * A datagram from the guest to 10.0.2.2 (the server's loopback) reaches
 * a socket there, unless restrict=on, where the guest reaches nothing
 * outside; its DHCP still answers.
 */
static void udp_to_host(bool restricted)
{
    Net *k = net_new(restricted ? ",restrict=on" : "");
    uint8_t f[2048], h[HDR_LEN], slirp_mac[6];
    int s = udp_socket("127.0.0.1", 0), n = -1;
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    char got[32] = "", yiaddr[16];
    uint32_t xid;

    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &alen), 0);
    driver_init(k, ALL_FEATURES);
    rx_offer(k, 8, 2048);
    tx_frame(k, f, dhcp_discover(f, 9, 1), NULL);
    assert_true(dhcp_answer(f, rx_next(k, f, sizeof(f), h, true), &xid,
                            yiaddr));
    tx_frame(k, f, arp_request(f, guest_mac, "10.0.2.15", "10.0.2.2"),
             NULL);
    assert_int_equal(arp_op(f, rx_next(k, f, sizeof(f), h, true)), 2);
    memcpy(slirp_mac, f + 22, 6);
    tx_frame(k, f, udp_frame(f, slirp_mac, "10.0.2.15", "10.0.2.2", 6000,
                             ntohs(a.sin_port), "to-the-host", 1), NULL);
    for (int i = 0; i < 20 && n < 0; i++) {
        rig_run_for(k->rig, 10);
        n = recv(s, got, sizeof(got) - 1, 0);
    }
    if (restricted) {
        assert_true(n < 0);
    } else {
        assert_string_equal(got, "to-the-host");
    }
    close(s);
    net_free(k);
}

static void test_udp_to_host(void **unused)
{
    udp_to_host(false);
}

static void test_restrict(void **unused)
{
    udp_to_host(true);
}

static int tap_main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tap_both_ways),
        cmocka_unit_test(test_tap_no_guest_csum),
        cmocka_unit_test(test_tap_backpressure),
    };

    if (unshare(CLONE_NEWNET) < 0 || access("/dev/net/tun", R_OK | W_OK)) {
        printf("1..0 # SKIP no network namespace or tap here\n");
        return 0;
    }
    /* No IPv6 chatter (router solicitations) among the frames. */
    if (system("sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 "
               "net.ipv6.conf.default.disable_ipv6=1 2>/dev/null")) {
        /* A kernel without IPv6: nothing to quiet. */
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "tap")) {
        return tap_main();
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_features),
        cmocka_unit_test(test_good_properties),
        cmocka_unit_test(test_bad_properties),
        cmocka_unit_test(test_arp),
        cmocka_unit_test(test_dhcp),
        cmocka_unit_test(test_csum_offload),
        cmocka_unit_test(test_mergeable),
        cmocka_unit_test(test_too_small_buffers),
        cmocka_unit_test(test_rx_queue_bounded),
        cmocka_unit_test(test_ctrl),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_hostfwd),
        cmocka_unit_test(test_client_away),
        cmocka_unit_test(test_vm_stopped),
        cmocka_unit_test(test_link),
        cmocka_unit_test(test_udp_to_host),
        cmocka_unit_test(test_restrict),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_mq_negotiate),
        cmocka_unit_test(test_mq_flows),
        cmocka_unit_test(test_mq_pairs_shrink),
        cmocka_unit_test(test_restart_mq),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
