/*
 * virtio-net: a network card whose network is on the server, on the
 * virtio-pci transport (virtio 1.2 section 5.1).
 *
 *   dm-remote serve --model virtio-net,net=user[,hostfwd=RULE[+RULE...]]
 *                   [,restrict=on][,subnet=CIDR][,mac=MAC][,rx_queue=N]
 *                   [,queue_size=N][,queues=N]
 *   dm-remote serve --model virtio-net,tap=IFNAME[,mac=MAC]...
 *
 * net=user (the default): libslirp in this process (net-slirp.c, through
 * net-backend.h): the guest's traffic leaves from the server's address.
 * tap=IFNAME (net=tap): a tap device on the server (net-tap.c), with the
 * kernel's virtio header: the checksums the guest leaves to the device
 * go to the kernel as they are, and the kernel may leave checksums to
 * the guest once its driver takes GUEST_CSUM.
 *
 * Queues: receive 0, transmit 1, control 2; with queues=N (N > 1, MQ
 * offered, max_virtqueue_pairs N): receive 2i and transmit 2i + 1 for
 * each pair i, control 2N once the driver took MQ (2 otherwise, the
 * spec's layout of one pair).  The driver enables pairs with the control
 * queue's VQ_PAIRS_SET (1 after a reset); every enabled transmit queue
 * is served, and a frame for the guest goes to the receive queue of its
 * flow (a hash of its IP addresses, protocol and TCP or UDP ports,
 * modulo the pairs in use; a frame that is not IP to pair 0), so one
 * flow keeps its order.  Frames wait in one queue for the whole card, in order, each
 * for the buffers of its pair.  Features: MAC, STATUS (the
 * link is up), MTU (1500), MRG_RXBUF (a frame may take several receive
 * buffers: they are given back together, under one move of the used
 * index), CTRL_VQ with CTRL_RX, CTRL_MAC_ADDR and GUEST_ANNOUNCE (receive
 * modes and the MAC table are answered OK: we do not filter, a tap's
 * bridge and slirp send the guest its own frames and broadcasts; an
 * announce asked after a restart is acked), CSUM (the guest may
 * leave a checksum to us: for slirp, which needs it whole, it is finished
 * here; a tap takes it as it is) and GUEST_CSUM (frames from slirp carry
 * complete checksums: marked DATA_VALID, the guest need not check them
 * again; a tap's header says for each).
 * Segmentation offloads (GUEST_TSO4/6, HOST_TSO4/6) on a tap only: its
 * kernel cuts the guest's 64 KiB TCP frames and hands it joined ones;
 * slirp takes frames of the MTU at most.
 *
 * The link (STATUS): the VM's management sets it down and up (QMP's
 * set_link through the fork: the control VUP_DM_CONTROL_LINK); the
 * driver hears of it by a configuration interrupt.  While it is down,
 * frames either way are dropped and counted, as on a card whose cable is
 * out; what waited for the guest before still goes to it.  A model
 * restarted from its state file shows the driver a link flap once the
 * client is back (down until the driver has read the status, then up
 * with ANNOUNCE if it took GUEST_ANNOUNCE: Linux then sends gratuitous
 * ARPs and acks on the control queue); frames flow meanwhile.
 *
 * Receive never drops silently: while the guest gives no buffers, frames
 * wait in a queue of rx_queue frames; beyond it they are dropped and
 * counted, and the count is logged at each power of two (a tap is not
 * read meanwhile: the kernel's queue holds, and counts, what comes).
 * Frames go to the guest once per loop turn (a zero-delay timer), one
 * interrupt for them all; they also wait while the client is away.  A
 * transmit kick takes at most TX_BUDGET frames before the loop serves
 * its other work; a zero-delay timer takes the rest.  With --state-file
 * the card survives a kill (net_save); the frame counts are logged at
 * exit.
 *
 * Every ring value is the guest's: virtq.c checks the rings, this file
 * each chain's layout; a chain that breaks the rules (a header that does
 * not fit, a readable receive buffer) makes the device need a reset.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "model.h"
#include "net-backend.h"
#include "../virtio/virtio-pci.h"

#define VIRTIO_ID_NET           1
#define PCI_CLASS_NETWORK_ETHERNET 0x0200

/* Feature bits (section 5.1.3). */
#define VIRTIO_NET_F_CSUM           0
#define VIRTIO_NET_F_GUEST_CSUM     1
#define VIRTIO_NET_F_MTU            3
#define VIRTIO_NET_F_MAC            5
#define VIRTIO_NET_F_GUEST_TSO4     7
#define VIRTIO_NET_F_GUEST_TSO6     8
#define VIRTIO_NET_F_HOST_TSO4      11
#define VIRTIO_NET_F_HOST_TSO6      12
#define VIRTIO_NET_F_MRG_RXBUF      15
#define VIRTIO_NET_F_STATUS         16
#define VIRTIO_NET_F_CTRL_VQ        17
#define VIRTIO_NET_F_CTRL_RX        18
#define VIRTIO_NET_F_GUEST_ANNOUNCE 21
#define VIRTIO_NET_F_MQ             22
#define VIRTIO_NET_F_CTRL_MAC_ADDR  23

#define VIRTIO_NET_S_LINK_UP        1
#define VIRTIO_NET_S_ANNOUNCE       2

/* The header before every frame (VERSION_1: always with num_buffers). */
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_NONE     0
#define VIRTIO_NET_HDR_GSO_TCPV4    1
#define VIRTIO_NET_HDR_GSO_TCPV6    4
typedef struct VirtioNetHdr {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;
} __attribute__((packed)) VirtioNetHdr;
_Static_assert(sizeof(VirtioNetHdr) == 12, "virtio_net_hdr_v1 layout");
#define HDR_LEN sizeof(VirtioNetHdr)

/* Control queue (section 5.1.6.5). */
#define CTRL_RX                 0
#define CTRL_RX_PROMISC         0
#define CTRL_RX_ALLMULTI        1
#define CTRL_MAC                1
#define CTRL_MAC_TABLE_SET      0
#define CTRL_MAC_ADDR_SET       1
#define CTRL_ANNOUNCE           3
#define CTRL_ANNOUNCE_ACK       0
#define CTRL_MQ                 4
#define CTRL_MQ_VQ_PAIRS_SET    0
#define CTRL_OK                 0
#define CTRL_ERR                1
/* The longest command we read: two MAC tables of this many entries. */
#define CTRL_MAC_MAX            256
#define CTRL_DATA_MAX           (8 + 2 * 6 * CTRL_MAC_MAX)

#define MTU             1500
#define ETH_HLEN        14
/* The largest frame either way without segmentation offloads (slirp):
 * MTU + VLAN; with them (a tap's TSO), a 64 KiB packet and its headers. */
#define FRAME_MAX       (MTU + ETH_HLEN + 4)
#define FRAME_MAX_TSO   (65536 + ETH_HLEN + 4)
/* Pair p's queues; the control queue is n->ctrl_q. */
#define QUEUE_RX(p)     (2 * (p))
#define QUEUE_TX(p)     (2 * (p) + 1)
#define PAIRS_MAX       8
#define TX_BUDGET       256
/* Receive buffers one frame may take (MRG_RXBUF): a 64 KiB frame takes
 * 43 of Linux's smallest; tinier buffers drop it. */
#define RX_MAX_BUFS     64
/* A restart's flap: how long the link stays down for a driver that does
 * not read the status its configuration interrupt points at. */
#define FLAP_MAX_NS     (5 * 1000000000LL)

typedef struct VirtioNetConfig {
    uint8_t mac[6];
    uint16_t status;
    uint16_t max_virtqueue_pairs;
    uint16_t mtu;
} __attribute__((packed)) VirtioNetConfig;
_Static_assert(sizeof(VirtioNetConfig) == 12, "virtio_net_config layout");

typedef struct NetFrame {
    struct NetFrame *next;
    VirtioNetHdr hdr;           /* the back end's (vnet_hdr), or zero */
    size_t len;
    /* The header as the guest gets it, right before the data: one write. */
    uint8_t head[HDR_LEN];
    uint8_t data[];
} NetFrame;
_Static_assert(offsetof(NetFrame, data) == offsetof(NetFrame, head) + HDR_LEN,
               "the header right before the data");

typedef struct VirtioNet {
    DmDevice *dev;
    DmVirtio virtio;
    VirtioNetConfig config;
    const NetBackendOps *ops;
    NetBackend *be;
    bool vnet_hdr;              /* frames carry the virtio header */
    /* Frames for the guest, waiting for its receive buffers. */
    NetFrame *rxq_head, **rxq_tail;
    unsigned rxq_len;
    uint64_t rx_dropped;        /* the queue was full */
    uint64_t rx_too_big;        /* larger than the guest's buffers */
    uint64_t tx_dropped;        /* bad frames from the guest */
    uint64_t link_dropped;      /* either way while the link was down */
    bool link_down;             /* the management's set_link */
    /*
     * A restart from the state file shows the driver a link flap (its
     * peers' view of us may be stale: connections went quiet, slirp's
     * are gone): FLAP_PENDING until the client is back, FLAP_DOWN (the
     * status says down, frames still go) until the driver reads the
     * status, then up again with ANNOUNCE if it took GUEST_ANNOUNCE.
     */
    enum { FLAP_NONE, FLAP_PENDING, FLAP_DOWN } flap;
    bool announce;              /* VIRTIO_NET_S_ANNOUNCE, until acked */
    DmTimer flap_timer;         /* up again: after the read, or at most */
    /* Frames each way, and of them those a tap's kernel cuts or joined. */
    uint64_t rx_frames, rx_gso, tx_frames, tx_gso;
    /* The same, per queue pair. */
    uint64_t rx_frames_pair[PAIRS_MAX], tx_frames_pair[PAIRS_MAX];
    /*
     * Queue pairs: queues= (max_pairs), those the driver enabled with
     * VQ_PAIRS_SET (pairs: 1 after a reset), the control queue's index
     * (2 * max_pairs once the driver took MQ, else 2).
     */
    unsigned max_pairs, pairs, ctrl_q;
    uint32_t tx_more;           /* pairs whose transmit budget ran out */
    uint32_t rx_notify;         /* pairs given frames since the last irq */
    /* MRG_RXBUF: buffers taken for the frame at the queue's head. */
    DmVirtqElem rx_elem[RX_MAX_BUFS];
    unsigned rx_nelems;
    unsigned rx_pair;           /* the pair those buffers are of */
    uint64_t rx_room;
    DmVirtqElem tx_elem, ctrl_elem;
    size_t frame_max;           /* FRAME_MAX, or FRAME_MAX_TSO (tap) */
    uint8_t *txbuf;             /* HDR_LEN + frame_max */
    uint8_t ctrlbuf[2 + CTRL_DATA_MAX];
    DmTimer tx_timer;           /* more to transmit after the budget */
    DmTimer rx_timer;           /* the frames of this loop turn, together */
    bool promisc, allmulti;
    bool client_gone;           /* its memory went: rings untouchable */
    /* properties */
    const char *net;
    const char *tap;
    const char *hostfwd;
    const char *subnet;
    bool restricted;
    const char *mac;
    uint64_t rx_queue;
    uint64_t queue_size;
    uint64_t queues;
} VirtioNet;

/* The pairs whose queues the driver's layout has: all of them with MQ. */
static unsigned net_layout_pairs(VirtioNet *n)
{
    return dm_virtio_has(&n->virtio, VIRTIO_NET_F_MQ) ? n->max_pairs : 1;
}

/* The control queue's index follows the features (virtio 1.2 5.1.2). */
static void net_update_layout(VirtioNet *n)
{
    n->ctrl_q = 2 * net_layout_pairs(n);
}

/* ---- The link's status ---- */

/* The status field from the link's state, the flap and the announce. */
static void net_update_status(VirtioNet *n)
{
    uint16_t st = 0;

    if (!n->link_down && n->flap != FLAP_DOWN) {
        st = VIRTIO_NET_S_LINK_UP | (n->announce ? VIRTIO_NET_S_ANNOUNCE : 0);
    }
    n->config.status = htole16(st);
}

/* The flap ends: up again, announced if the driver can ack it. */
static void flap_end(VirtioNet *n)
{
    n->flap = FLAP_NONE;
    dm_timer_del(&n->flap_timer);
    /* Linux then sends gratuitous ARPs (netdev_notify_peers). */
    n->announce = dm_virtio_has(&n->virtio, VIRTIO_NET_F_GUEST_ANNOUNCE);
    net_update_status(n);
    dm_info("virtio-net: link up again after the restart%s",
            n->announce ? ", announce asked" : "");
    dm_virtio_config_changed(&n->virtio);
}

static void flap_timer_cb(void *opaque)
{
    VirtioNet *n = opaque;

    if (n->flap == FLAP_DOWN) {
        flap_end(n);
    }
}

/*
 * The client is back after a restart: the link goes down, and the
 * driver is told.  Only for a driver that follows the status (STATUS
 * taken, DRIVER_OK); for another the card just carries on.
 */
static void flap_start(VirtioNet *n)
{
    if (n->flap != FLAP_PENDING) {
        return;
    }
    /*
     * The driver's configuration vector first: the client rewires INTx,
     * then MSI-X, each a call here; raised before, the interrupt would
     * go to a line the driver does not listen to.
     */
    if (n->virtio.config_msix_vector != DM_VIRTIO_NO_VECTOR &&
        !dm_irq_uses_messages(n->dev)) {
        return;
    }
    n->flap = FLAP_NONE;
    if (n->link_down || !dm_virtio_ready(&n->virtio) ||
        !dm_virtio_has(&n->virtio, VIRTIO_NET_F_STATUS)) {
        return;
    }
    n->flap = FLAP_DOWN;
    net_update_status(n);
    dm_info("virtio-net: link down until the driver has seen it (a "
            "restart)");
    dm_virtio_config_changed(&n->virtio);
    dm_timer_mod(&n->flap_timer, FLAP_MAX_NS);
}

/* ---- Receive: frames from the back end into the guest's buffers ---- */

static void rx_count_drop(uint64_t *counter, const char *why)
{
    (*counter)++;
    if (!(*counter & (*counter - 1))) {
        dm_warn("virtio-net: %llu frames dropped so far: %s",
                (unsigned long long)*counter, why);
    }
}

/*
 * May the rings be touched now?  Frames come from the back end whether
 * or not a client is there: not while its memory is gone (the client
 * went away, or a restarted model waits for it), when the rings stay as
 * they are and frames wait in the queue.
 */
static bool net_rings_usable(VirtioNet *n)
{
    return dm_virtio_ready(&n->virtio) && !n->virtio.recovering &&
           !n->client_gone && !dm_device_vm_stopped(n->dev);
}

/* Take a receive buffer into rx_elem[rx_nelems]: 1, 0 (none), -1. */
static int rx_take(VirtioNet *n)
{
    DmVirtq *q = &n->virtio.vq[QUEUE_RX(n->rx_pair)];
    DmVirtqElem *e = &n->rx_elem[n->rx_nelems];
    char why[128];
    int ret = dm_virtq_pop(q, e, why, sizeof(why));

    if (ret == 0 && dm_virtq_set_kicks(q, true)) {
        /* Buffers came while kicks were off: look once more. */
        ret = dm_virtq_pop(q, e, why, sizeof(why));
    }
    if (ret < 0) {
        dm_virtio_broken(&n->virtio, why);
        return -1;
    }
    if (ret == 0) {
        return 0;
    }
    if (e->nout || dm_virtq_in_len(e) < (n->rx_nelems ? 1 : HDR_LEN)) {
        dm_virtio_broken(&n->virtio, "a receive buffer that is readable "
                         "or too short for the header");
        return -1;
    }
    n->rx_room += dm_virtq_in_len(e);
    n->rx_nelems++;
    return 1;
}

/* Give back the buffers taken: @f written into them, or nothing. */
static int rx_give(VirtioNet *n, NetFrame *f)
{
    const DmVirtqElem *elems[RX_MAX_BUFS];
    uint32_t written[RX_MAX_BUFS];
    uint64_t off = 0;
    VirtioNetHdr h = {
        .flags = dm_virtio_has(&n->virtio, VIRTIO_NET_F_GUEST_CSUM) ?
                 VIRTIO_NET_HDR_F_DATA_VALID : 0,
        .gso_type = VIRTIO_NET_HDR_GSO_NONE,
    };

    if (f && n->vnet_hdr) {
        h = f->hdr;             /* checked by net_receive */
    }
    h.num_buffers = htole16(n->rx_nelems);

    for (unsigned i = 0; i < n->rx_nelems; i++) {
        const DmVirtqElem *e = &n->rx_elem[i];
        uint64_t room = dm_virtq_in_len(e), hdr = 0, take;

        elems[i] = e;
        written[i] = 0;
        if (!f) {
            continue;
        }
        if (i == 0) {
            memcpy(f->head, &h, HDR_LEN);
            hdr = HDR_LEN;
        }
        take = f->len - off < room - hdr ? f->len - off : room - hdr;
        if (dm_virtq_write(n->dev, e, 0, f->data + off - hdr, hdr + take) !=
            (int64_t)(hdr + take)) {
            return -1;
        }
        off += take;
        written[i] = hdr + take;
    }
    if (dm_virtq_push_batch(&n->virtio.vq[QUEUE_RX(n->rx_pair)], elems,
                            written, n->rx_nelems) < 0) {
        return -1;
    }
    n->rx_notify |= 1u << n->rx_pair;
    if (f) {
        n->rx_frames++;
        n->rx_frames_pair[n->rx_pair]++;
        n->rx_gso += h.gso_type != VIRTIO_NET_HDR_GSO_NONE;
    }
    n->rx_nelems = 0;
    n->rx_room = 0;
    return 0;
}

/*
 * A frame's flow: a hash of its IP addresses, protocol and, for TCP and
 * UDP (not a fragment), its ports; 0 for a frame that is not IP (or
 * has a bad IPv4 header length).  Every field
 * is read only within @len.
 */
static uint32_t flow_hash(const uint8_t *d, size_t len)
{
    size_t off = ETH_HLEN, l4 = 0, addr = 0, alen = 0;
    uint16_t type = d[12] << 8 | d[13];
    uint8_t proto = 0;
    uint32_t h = 2166136261u;           /* FNV-1a */

    if (type == 0x8100 && len >= ETH_HLEN + 4) {
        type = d[16] << 8 | d[17];      /* one VLAN tag */
        off += 4;
    }
    if (type == 0x0800 && len >= off + 20) {
        size_t ihl = (d[off] & 0xf) * 4;
        bool frag = ((d[off + 6] & 0x3f) | d[off + 7]) != 0;

        if (ihl < 20 || len < off + ihl) {
            return 0;
        }
        proto = d[off + 9];
        addr = off + 12;
        alen = 8;
        l4 = frag ? 0 : off + ihl;
    } else if (type == 0x86dd && len >= off + 40) {
        proto = d[off + 6];             /* no extension headers followed */
        addr = off + 8;
        alen = 32;
        l4 = off + 40;
    } else {
        return 0;
    }
    for (size_t i = 0; i < alen; i++) {
        h = (h ^ d[addr + i]) * 16777619u;
    }
    h = (h ^ proto) * 16777619u;
    if (l4 && (proto == 6 || proto == 17) && len >= l4 + 4) {
        for (size_t i = 0; i < 4; i++) {
            h = (h ^ d[l4 + i]) * 16777619u;
        }
    }
    return h;
}

/*
 * The pair whose receive queue gets @f: its flow's among those in use,
 * pair 0 when that queue is not set up (a driver may enable fewer).
 */
static unsigned rx_pick(VirtioNet *n, const NetFrame *f)
{
    unsigned p = 0;

    if (n->pairs > 1) {
        p = flow_hash(f->data, f->len) % n->pairs;
    }
    if (!n->virtio.vq[QUEUE_RX(p)].enabled) {
        p = 0;
    }
    return p;
}

/*
 * The frame at the queue's head into the guest's buffers: true when it
 * is done with (written, or dropped as larger than the buffers), false
 * while buffers are missing (or the device broke).
 */
static bool rx_one(VirtioNet *n, NetFrame *f)
{
    bool mergeable = dm_virtio_has(&n->virtio, VIRTIO_NET_F_MRG_RXBUF);
    uint64_t need = HDR_LEN + f->len;
    int ret;

    if (n->rx_nelems == 0) {
        n->rx_pair = rx_pick(n, f);
    }
    if (!n->virtio.vq[QUEUE_RX(n->rx_pair)].enabled) {
        return false;           /* pair 0's queue, not set up yet */
    }
    while (n->rx_room < need &&
           (n->rx_nelems == 0 || (mergeable && n->rx_nelems < RX_MAX_BUFS))) {
        ret = rx_take(n);
        if (ret <= 0) {
            return false;       /* kept: the next buffers complete them */
        }
    }
    if (n->rx_room < need) {
        /* Given back empty: the driver drops them as too short. */
        rx_count_drop(&n->rx_too_big, "larger than the guest's buffers");
        f = NULL;
    }
    if (rx_give(n, f) < 0) {
        dm_virtio_broken(&n->virtio, "a receive buffer outside guest "
                         "memory");
        return false;
    }
    return true;
}

/* Interrupt the driver for each receive queue given frames. */
static void rx_notify(VirtioNet *n)
{
    for (unsigned p = 0; n->rx_notify; p++) {
        if (n->rx_notify & (1u << p)) {
            n->rx_notify &= ~(1u << p);
            dm_virtio_notify(&n->virtio, QUEUE_RX(p));
        }
    }
}

static void rx_flush(VirtioNet *n)
{
    while (n->rxq_head && net_rings_usable(n)) {
        NetFrame *f = n->rxq_head;

        if (!rx_one(n, f)) {
            break;
        }
        n->rxq_head = f->next;
        if (!n->rxq_head) {
            n->rxq_tail = &n->rxq_head;
        }
        n->rxq_len--;
        free(f);
    }
    rx_notify(n);
    if (n->rxq_len < n->rx_queue && n->be && n->ops->resume) {
        n->ops->resume(n->be);
    }
}

static void rxq_clear(VirtioNet *n)
{
    while (n->rxq_head) {
        NetFrame *f = n->rxq_head;

        n->rxq_head = f->next;
        free(f);
    }
    n->rxq_tail = &n->rxq_head;
    n->rxq_len = 0;
    n->rx_nelems = 0;
    n->rx_room = 0;
    n->rx_pair = 0;
    n->rx_notify = 0;
}

static bool finish_csum(uint8_t *frame, size_t len, const VirtioNetHdr *h);

/*
 * A tap's header, for the guest: false if the frame cannot go (an
 * offload it did not take).  A checksum left to a guest that did not
 * take GUEST_CSUM (the offloads change at FEATURES_OK) is finished here.
 */
static bool rx_check_hdr(VirtioNet *n, VirtioNetHdr *h, uint8_t *frame,
                         size_t len)
{
    bool gso = h->gso_type != VIRTIO_NET_HDR_GSO_NONE;

    if (gso && !(h->gso_type == VIRTIO_NET_HDR_GSO_TCPV4 &&
                 dm_virtio_has(&n->virtio, VIRTIO_NET_F_GUEST_TSO4)) &&
        !(h->gso_type == VIRTIO_NET_HDR_GSO_TCPV6 &&
          dm_virtio_has(&n->virtio, VIRTIO_NET_F_GUEST_TSO6))) {
        return false;
    }
    if (!dm_virtio_has(&n->virtio, VIRTIO_NET_F_GUEST_CSUM)) {
        if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
            !finish_csum(frame, len, h)) {
            return false;
        }
        h->flags = 0;
    }
    h->flags &= VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID;
    if (!gso) {
        h->hdr_len = h->gso_size = 0;
    }
    return true;
}

/*
 * A frame from the back end: queued (bounded), then given if we can.
 * True while the queue has room for more.
 */
static bool net_receive(void *opaque, const uint8_t *buf, size_t len)
{
    VirtioNet *n = opaque;
    size_t skip = n->vnet_hdr ? HDR_LEN : 0;
    NetFrame *f;

    if (n->link_down) {
        n->link_dropped++;
        return true;            /* not a full queue: keep reading */
    }
    if (len < skip + ETH_HLEN || len - skip > n->frame_max) {
        rx_count_drop(&n->rx_too_big, "frames of a size no card takes");
        return n->rxq_len < n->rx_queue;
    }
    if (n->rxq_len >= n->rx_queue) {
        rx_count_drop(&n->rx_dropped, "the guest gave no receive buffers "
                      "and the queue was full");
        return false;
    }
    f = malloc(sizeof(*f) + len - skip);
    if (!f) {
        rx_count_drop(&n->rx_dropped, "out of memory");
        return false;
    }
    f->next = NULL;
    f->len = len - skip;
    memset(&f->hdr, 0, sizeof(f->hdr));
    memcpy(f->data, buf + skip, f->len);
    if (skip) {
        memcpy(&f->hdr, buf, HDR_LEN);
        if (!rx_check_hdr(n, &f->hdr, f->data, f->len)) {
            rx_count_drop(&n->rx_too_big, "frames with offloads the guest "
                          "did not take");
            free(f);
            return n->rxq_len < n->rx_queue;
        }
    }
    *n->rxq_tail = f;
    n->rxq_tail = &f->next;
    n->rxq_len++;
    /*
     * Given to the guest once this turn of the loop has read what its
     * sockets or tap had (a timer of zero delay runs after them): one
     * interrupt, and over TCP one ring fetch, for the lot.
     */
    if (!dm_timer_pending(&n->rx_timer)) {
        dm_timer_mod(&n->rx_timer, 0);
    }
    return n->rxq_len < n->rx_queue;
}

/* ---- Transmit: the guest's frames to the back end ---- */

/*
 * NEEDS_CSUM: the guest summed the pseudo-header into the checksum field
 * and left the rest to us: the ones' complement sum from csum_start to
 * the end, stored at csum_start + csum_offset.  False if it points
 * outside the frame.
 */
static bool finish_csum(uint8_t *frame, size_t len, const VirtioNetHdr *h)
{
    size_t start = le16toh(h->csum_start), off = le16toh(h->csum_offset);
    uint32_t sum = 0;
    uint16_t csum;

    if (start >= len || off > len - start || len - start - off < 2) {
        return false;
    }
    for (size_t i = start; i + 1 < len; i += 2) {
        sum += (uint32_t)frame[i] << 8 | frame[i + 1];
    }
    if ((len - start) & 1) {
        sum += (uint32_t)frame[len - 1] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    csum = ~sum;
    frame[start + off] = csum >> 8;
    frame[start + off + 1] = csum & 0xff;
    return true;
}

/* One chain's frame to the back end: false if the device broke. */
static bool tx_one(VirtioNet *n, const DmVirtqElem *e, unsigned pair)
{
    uint64_t out = dm_virtq_out_len(e);
    VirtioNetHdr h;
    uint8_t *frame = n->txbuf + HDR_LEN;
    size_t len;
    bool gso_ok;

    if (out < HDR_LEN) {
        dm_virtio_broken(&n->virtio, "a transmit chain shorter than its "
                         "header");
        return false;
    }
    if (n->link_down) {
        n->link_dropped++;      /* taken, as a card sends into no cable */
        return true;
    }
    if (out > HDR_LEN + n->frame_max || out < HDR_LEN + ETH_HLEN) {
        rx_count_drop(&n->tx_dropped, "the guest sent frames of a size no "
                      "card takes");
        return true;
    }
    if (dm_virtq_read(n->dev, e, 0, n->txbuf, out) != (int64_t)out) {
        dm_virtio_broken(&n->virtio, "a transmit buffer outside guest "
                         "memory");
        return false;
    }
    memcpy(&h, n->txbuf, HDR_LEN);
    len = out - HDR_LEN;
    /* TSO: the kernel cuts the frame (a tap only: it is never offered
     * otherwise), and checks the header's sizes itself. */
    gso_ok = h.gso_type == VIRTIO_NET_HDR_GSO_NONE ||
             (h.gso_type == VIRTIO_NET_HDR_GSO_TCPV4 &&
              dm_virtio_has(&n->virtio, VIRTIO_NET_F_HOST_TSO4)) ||
             (h.gso_type == VIRTIO_NET_HDR_GSO_TCPV6 &&
              dm_virtio_has(&n->virtio, VIRTIO_NET_F_HOST_TSO6));
    if (!gso_ok || (h.gso_type != VIRTIO_NET_HDR_GSO_NONE &&
                    !(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))) {
        rx_count_drop(&n->tx_dropped, "the guest sent segmentation "
                      "offloads it was not offered, or without a checksum "
                      "to finish");
        return true;
    }
    if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
        !dm_virtio_has(&n->virtio, VIRTIO_NET_F_CSUM)) {
        h.flags &= ~VIRTIO_NET_HDR_F_NEEDS_CSUM;    /* not offered: ignored */
    }
    if (n->vnet_hdr) {
        /* The kernel finishes the checksum, from the header as checked. */
        size_t start = le16toh(h.csum_start), off = le16toh(h.csum_offset);

        if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
            (start >= len || off > len - start || len - start - off < 2)) {
            rx_count_drop(&n->tx_dropped, "the guest asked for a checksum "
                          "outside its frame");
            return true;
        }
        h = (VirtioNetHdr) {
            .flags = h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM,
            .gso_type = h.gso_type,
            .hdr_len = h.gso_type ? h.hdr_len : 0,
            .gso_size = h.gso_type ? h.gso_size : 0,
            .csum_start = h.csum_start,
            .csum_offset = h.csum_offset,
        };
        memcpy(n->txbuf, &h, HDR_LEN);
        frame = n->txbuf;
        len += HDR_LEN;
    } else if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
               !finish_csum(frame, len, &h)) {
        rx_count_drop(&n->tx_dropped, "the guest asked for a checksum "
                      "outside its frame");
        return true;
    }
    if (n->ops->send(n->be, frame, len) < 0) {
        rx_count_drop(&n->tx_dropped, "the back end refused frames");
    } else {
        n->tx_frames++;
        n->tx_frames_pair[pair]++;
        n->tx_gso += h.gso_type != VIRTIO_NET_HDR_GSO_NONE;
    }
    return true;
}

static void tx_process(VirtioNet *n, unsigned pair)
{
    DmVirtq *q = &n->virtio.vq[QUEUE_TX(pair)];
    unsigned done = 0;
    char why[128];

    while (net_rings_usable(n) && q->enabled) {
        int ret;

        if (done == TX_BUDGET) {
            /* The rest after the loop's other work. */
            n->tx_more |= 1u << pair;
            dm_timer_mod(&n->tx_timer, 0);
            break;
        }
        ret = dm_virtq_pop(q, &n->tx_elem, why, sizeof(why));
        if (ret < 0) {
            dm_virtio_broken(&n->virtio, why);
        }
        if (ret <= 0) {
            break;
        }
        if (!tx_one(n, &n->tx_elem, pair)) {
            break;
        }
        if (dm_virtq_push(q, &n->tx_elem, 0) < 0) {
            dm_virtio_broken(&n->virtio, "a used ring outside guest memory");
            break;
        }
        done++;
    }
    if (done) {
        dm_virtio_notify(&n->virtio, QUEUE_TX(pair));
    }
}

static void tx_timer_cb(void *opaque)
{
    VirtioNet *n = opaque;
    uint32_t more = n->tx_more;

    n->tx_more = 0;
    for (unsigned p = 0; p < net_layout_pairs(n); p++) {
        if (more & (1u << p)) {
            tx_process(n, p);
        }
    }
}

/* Every transmit queue again (the link is back, the VM runs again). */
static void tx_all(VirtioNet *n)
{
    n->tx_more = (1u << n->max_pairs) - 1;
    dm_timer_mod(&n->tx_timer, 0);
}

static void rx_timer_cb(void *opaque)
{
    rx_flush(opaque);
}

/* ---- Control queue ---- */

static uint8_t ctrl_mac_table(VirtioNet *n, const uint8_t *d, uint64_t len)
{
    uint64_t off = 0;

    /* Unicast then multicast: each a le32 count and that many MACs. */
    for (int t = 0; t < 2; t++) {
        uint32_t entries;

        if (len - off < 4) {
            return CTRL_ERR;
        }
        memcpy(&entries, d + off, 4);
        entries = le32toh(entries);
        off += 4;
        if (entries > (len - off) / 6) {
            return CTRL_ERR;
        }
        off += 6ULL * entries;
    }
    /* Nothing to filter: slirp sends only to us and to everyone. */
    return off == len ? CTRL_OK : CTRL_ERR;
}

/*
 * VQ_PAIRS_SET: from the ack on, frames go to the first @pairs receive
 * queues only.  Buffers taken for the waiting frame from a queue that
 * leaves go back empty first (the driver drops them as too short).
 */
static int net_set_pairs(VirtioNet *n, unsigned pairs)
{
    if (n->rx_nelems && n->rx_pair >= pairs) {
        if (rx_give(n, NULL) < 0) {
            dm_virtio_broken(&n->virtio, "a receive buffer outside guest "
                             "memory");
            return -1;
        }
        rx_notify(n);
    }
    if (n->pairs != pairs) {
        dm_info("virtio-net: %u queue pairs of %u in use", pairs,
                n->max_pairs);
    }
    n->pairs = pairs;
    dm_device_state_changed(n->dev);
    /* Frames waiting for a queue that left go to one that is in use. */
    dm_timer_mod(&n->rx_timer, 0);
    return 0;
}

static uint8_t ctrl_command(VirtioNet *n, uint8_t cls, uint8_t cmd,
                            const uint8_t *d, uint64_t len)
{
    if (cls == CTRL_RX && dm_virtio_has(&n->virtio, VIRTIO_NET_F_CTRL_RX) &&
        (cmd == CTRL_RX_PROMISC || cmd == CTRL_RX_ALLMULTI)) {
        if (len != 1) {
            return CTRL_ERR;
        }
        *(cmd == CTRL_RX_PROMISC ? &n->promisc : &n->allmulti) = d[0] != 0;
        dm_device_state_changed(n->dev);
        return CTRL_OK;
    }
    if (cls == CTRL_MAC && cmd == CTRL_MAC_TABLE_SET &&
        dm_virtio_has(&n->virtio, VIRTIO_NET_F_CTRL_RX)) {
        return ctrl_mac_table(n, d, len);
    }
    if (cls == CTRL_ANNOUNCE && cmd == CTRL_ANNOUNCE_ACK &&
        dm_virtio_has(&n->virtio, VIRTIO_NET_F_GUEST_ANNOUNCE)) {
        /* Only an announce asked is acked (as QEMU's card answers). */
        if (len != 0 || !n->announce) {
            return CTRL_ERR;
        }
        n->announce = false;
        net_update_status(n);
        dm_info("virtio-net: the driver announced itself");
        return CTRL_OK;
    }
    if (cls == CTRL_MQ && cmd == CTRL_MQ_VQ_PAIRS_SET &&
        dm_virtio_has(&n->virtio, VIRTIO_NET_F_MQ)) {
        uint16_t pairs;

        if (len != 2) {
            return CTRL_ERR;
        }
        memcpy(&pairs, d, 2);
        pairs = le16toh(pairs);
        if (pairs < 1 || pairs > n->max_pairs) {
            return CTRL_ERR;
        }
        return net_set_pairs(n, pairs) < 0 ? CTRL_ERR : CTRL_OK;
    }
    if (cls == CTRL_MAC && cmd == CTRL_MAC_ADDR_SET &&
        dm_virtio_has(&n->virtio, VIRTIO_NET_F_CTRL_MAC_ADDR)) {
        if (len != 6) {
            return CTRL_ERR;
        }
        if (d[0] & 1) {
            return CTRL_ERR;    /* a multicast address */
        }
        memcpy(n->config.mac, d, 6);
        dm_device_state_changed(n->dev);
        return CTRL_OK;
    }
    return CTRL_ERR;
}

static void ctrl_process(VirtioNet *n)
{
    DmVirtq *q = &n->virtio.vq[n->ctrl_q];
    DmVirtqElem *e = &n->ctrl_elem;
    uint8_t *buf = n->ctrlbuf;
    unsigned done = 0;
    char why[128];

    while (dm_virtio_ready(&n->virtio) && q->enabled) {
        uint64_t out, in;
        uint8_t ack;
        int ret = dm_virtq_pop(q, e, why, sizeof(why));

        if (ret < 0) {
            dm_virtio_broken(&n->virtio, why);
        }
        if (ret <= 0) {
            break;
        }
        out = dm_virtq_out_len(e);
        in = dm_virtq_in_len(e);
        if (out < 2 || in < 1) {
            dm_virtio_broken(&n->virtio, "a control command without its "
                             "class and command, or room for the ack");
            break;
        }
        if (out > sizeof(n->ctrlbuf)) {
            ack = CTRL_ERR;
        } else if (dm_virtq_read(n->dev, e, 0, buf, out) != (int64_t)out) {
            dm_virtio_broken(&n->virtio, "a control command outside guest "
                             "memory");
            break;
        } else {
            ack = ctrl_command(n, buf[0], buf[1], buf + 2, out - 2);
        }
        if (!dm_virtio_ready(&n->virtio)) {
            break;              /* the command broke the device */
        }
        if (dm_virtq_write(n->dev, e, in - 1, &ack, 1) != 1 ||
            dm_virtq_push(q, e, 1) < 0) {
            dm_virtio_broken(&n->virtio, "a control ack outside guest "
                             "memory");
            break;
        }
        done++;
    }
    if (done) {
        dm_virtio_notify(&n->virtio, n->ctrl_q);
    }
}

/* ---- Transport callbacks ---- */

static void net_queue_notify(void *opaque, unsigned q)
{
    VirtioNet *n = opaque;

    /* Queues past the layout the driver's features chose: nothing. */
    if (q == n->ctrl_q) {
        ctrl_process(n);
    } else if (q < 2 * net_layout_pairs(n)) {
        if (q & 1) {
            tx_process(n, q / 2);
        } else {
            rx_flush(n);
        }
    }
}

static void net_config_read(void *opaque, uint32_t offset, void *buf,
                            unsigned len)
{
    VirtioNet *n = opaque;

    memcpy(buf, (uint8_t *)&n->config + offset, len);
    /* The driver saw the link down: up again after this read's reply. */
    if (n->flap == FLAP_DOWN &&
        offset < offsetof(VirtioNetConfig, status) + 2 &&
        offset + len > offsetof(VirtioNetConfig, status)) {
        dm_timer_mod(&n->flap_timer, 0);
    }
}

/* The rings are gone: buffers taken are forgotten, frames waiting too. */
static void net_set_offloads(VirtioNet *n, unsigned offloads)
{
    if (n->be && n->ops->set_offloads) {
        n->ops->set_offloads(n->be, offloads);
    }
}

/* What the kernel may leave to the guest: what its driver took. */
static void net_features_ok(void *opaque)
{
    VirtioNet *n = opaque;
    unsigned o = 0;

    net_update_layout(n);

    if (dm_virtio_has(&n->virtio, VIRTIO_NET_F_GUEST_CSUM)) {
        o |= NET_OFFLOAD_CSUM;
        /* Segments only with their checksum left to the guest. */
        o |= dm_virtio_has(&n->virtio, VIRTIO_NET_F_GUEST_TSO4) ?
             NET_OFFLOAD_TSO4 : 0;
        o |= dm_virtio_has(&n->virtio, VIRTIO_NET_F_GUEST_TSO6) ?
             NET_OFFLOAD_TSO6 : 0;
    }
    net_set_offloads(n, o);
}

static void net_virtio_reset(void *opaque)
{
    VirtioNet *n = opaque;

    net_set_offloads(n, 0);
    rxq_clear(n);
    n->pairs = 1;
    n->tx_more = 0;
    net_update_layout(n);       /* the features are gone: 2 */
    dm_timer_del(&n->tx_timer);
    dm_timer_del(&n->rx_timer);
    n->promisc = n->allmulti = false;
    n->flap = FLAP_NONE;
    n->announce = false;
    dm_timer_del(&n->flap_timer);
    net_update_status(n);
}

static const DmVirtioOps net_virtio_ops = {
    .config_read = net_config_read,
    .queue_notify = net_queue_notify,
    .reset = net_virtio_reset,
    .features_ok = net_features_ok,
};

/* ---- Model ---- */

static int parse_mac(const char *val, uint8_t mac[6])
{
    unsigned b[6];
    char end;

    if (sscanf(val, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
               &b[4], &b[5], &end) != 6) {
        return -EINVAL;
    }
    for (int i = 0; i < 6; i++) {
        mac[i] = b[i];
    }
    return (mac[0] & 1) ? -EINVAL : 0;      /* a multicast address */
}

static int check_mac(const char *val, char *err, size_t errlen)
{
    uint8_t mac[6];

    if (strlen(val) != 17 || parse_mac(val, mac) < 0) {
        snprintf(err, errlen, "mac '%s' is not a unicast xx:xx:xx:xx:xx:xx",
                 val);
        return -EINVAL;
    }
    return 0;
}

static int check_net(const char *val, char *err, size_t errlen)
{
    if (strcmp(val, "user") && strcmp(val, "tap")) {
        snprintf(err, errlen, "net '%s' is not user or tap", val);
        return -EINVAL;
    }
    return 0;
}

/* The back end net= and tap= choose: 0, or -EINVAL with the reason. */
static int net_choose(VirtioNet *n)
{
    bool tap = n->net ? !strcmp(n->net, "tap") : n->tap != NULL;

    if (tap && !n->tap) {
        dm_error("virtio-net: net=tap needs tap=IFNAME");
        return -EINVAL;
    }
    if (!tap && n->tap) {
        dm_error("virtio-net: tap= is for net=tap");
        return -EINVAL;
    }
    if (tap && (n->hostfwd || n->subnet || n->restricted)) {
        dm_error("virtio-net: hostfwd=, subnet= and restrict= are for "
                 "net=user");
        return -EINVAL;
    }
    n->ops = tap ? &net_tap_ops : &net_slirp_ops;
    return 0;
}

static int net_realize(DmDevice *dev)
{
    VirtioNet *n = dm_device_state(dev);
    NetBackendOpts opts = {
        .tap = n->tap,
        .hostfwd = n->hostfwd,
        .subnet = n->subnet,
        .restricted = n->restricted,
        .mtu = MTU,
    };
    uint64_t features;
    int ret;

    n->dev = dev;
    n->rxq_tail = &n->rxq_head;
    n->max_pairs = n->queues;
    n->pairs = 1;
    n->ctrl_q = 2;
    if ((n->queue_size & (n->queue_size - 1))) {
        dm_error("virtio-net: queue_size must be a power of two");
        return -EINVAL;
    }
    parse_mac(n->mac, n->config.mac);
    n->config.status = htole16(VIRTIO_NET_S_LINK_UP);
    n->config.max_virtqueue_pairs = htole16(n->max_pairs);
    n->config.mtu = htole16(MTU);
    dm_timer_init(&n->tx_timer, dm_device_loop(dev), tx_timer_cb, n);
    dm_timer_init(&n->rx_timer, dm_device_loop(dev), rx_timer_cb, n);
    dm_timer_init(&n->flap_timer, dm_device_loop(dev), flap_timer_cb, n);
    ret = net_choose(n);
    if (ret < 0) {
        return ret;
    }
    ret = n->ops->open(dev, &opts, net_receive, n, &n->be, &n->vnet_hdr);
    if (ret < 0) {
        n->be = NULL;
        return ret;
    }
    features = (1ULL << VIRTIO_NET_F_CSUM) |
               (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
               (1ULL << VIRTIO_NET_F_MTU) |
               (1ULL << VIRTIO_NET_F_MAC) |
               (1ULL << VIRTIO_NET_F_MRG_RXBUF) |
               (1ULL << VIRTIO_NET_F_STATUS) |
               (1ULL << VIRTIO_NET_F_CTRL_VQ) |
               (1ULL << VIRTIO_NET_F_CTRL_RX) |
               (1ULL << VIRTIO_NET_F_CTRL_MAC_ADDR) |
               (1ULL << VIRTIO_NET_F_GUEST_ANNOUNCE);
    if (n->max_pairs > 1) {
        features |= 1ULL << VIRTIO_NET_F_MQ;
    }
    n->frame_max = FRAME_MAX;
    if (n->vnet_hdr) {
        /* The kernel cuts and joins TCP segments both ways. */
        features |= (1ULL << VIRTIO_NET_F_GUEST_TSO4) |
                    (1ULL << VIRTIO_NET_F_GUEST_TSO6) |
                    (1ULL << VIRTIO_NET_F_HOST_TSO4) |
                    (1ULL << VIRTIO_NET_F_HOST_TSO6);
        n->frame_max = FRAME_MAX_TSO;
    }
    n->txbuf = malloc(HDR_LEN + n->frame_max);
    if (!n->txbuf) {
        n->ops->close(n->be);
        n->be = NULL;
        return -ENOMEM;
    }
    ret = dm_virtio_pci_init(&n->virtio, dev, VIRTIO_ID_NET,
                             PCI_CLASS_NETWORK_ETHERNET, features,
                             2 * n->max_pairs + 1, n->queue_size,
                             sizeof(n->config),
                             &net_virtio_ops, n);
    if (ret < 0) {
        n->ops->close(n->be);
        n->be = NULL;
        free(n->txbuf);
        n->txbuf = NULL;
    }
    return ret;
}

static void net_reset(DmDevice *dev)
{
    VirtioNet *n = dm_device_state(dev);

    dm_virtio_reset(&n->virtio);
}

/*
 * Crash survival: the transport's set-up, the MAC the driver set and the
 * receive modes; chains in flight are in the queues' journals (a
 * transmit frame in flight is sent again, receive buffers taken are
 * taken again).  The back end starts afresh: slirp's connections are
 * gone (the guest's TCP sees them reset), a tap is opened again by name.
 */
static void net_save(DmDevice *dev, DmStateOut *out)
{
    VirtioNet *n = dm_device_state(dev);

    dm_virtio_save(&n->virtio, out);
    dm_state_put(out, n->config.mac, 6);
    dm_state_put_u64(out, (n->promisc ? 1 : 0) | (n->allmulti ? 2 : 0) |
                          (n->link_down ? 4 : 0));
    dm_state_put_u64(out, n->pairs);            /* version 2 */
}

static void net_load(DmDevice *dev, DmStateIn *in, uint32_t version)
{
    VirtioNet *n = dm_device_state(dev);
    uint8_t mac[6];
    uint64_t modes, pairs = 1;

    dm_virtio_load(&n->virtio, in);
    dm_state_get(in, mac, 6);
    modes = dm_state_get_u64(in);
    if (version >= 2) {
        pairs = dm_state_get_u64(in);
    }
    /* A file of another queues= (its queue count) is refused. */
    if (!dm_state_ok(in) || (mac[0] & 1) || modes > 7 ||
        n->virtio.num_queues != 2 * n->max_pairs + 1 ||
        pairs < 1 || pairs > n->max_pairs ||
        (pairs > 1 && !dm_virtio_has(&n->virtio, VIRTIO_NET_F_MQ))) {
        dm_state_fail(in);
        return;
    }
    n->pairs = pairs;
    net_update_layout(n);
    if (pairs > 1) {
        dm_info("virtio-net: %u queue pairs of %u in use (from the state "
                "file)", n->pairs, n->max_pairs);
    }
    memcpy(n->config.mac, mac, 6);
    n->promisc = modes & 1;
    n->allmulti = modes & 2;
    n->link_down = modes & 4;
    net_update_status(n);
    if (dm_virtio_ready(&n->virtio)) {
        net_features_ok(n);     /* a tap's offloads, as the driver took */
        n->flap = FLAP_PENDING; /* shown once the client is back */
    }
}

/* The link's state in the configuration, and the driver told. */
static void net_set_link(VirtioNet *n, bool up)
{
    n->link_down = !up;
    /* The management's word ends a restart's flap. */
    n->flap = FLAP_NONE;
    dm_timer_del(&n->flap_timer);
    net_update_status(n);
    dm_virtio_config_changed(&n->virtio);
}

/* QMP's set_link, through the fork (VUP_DM_CONTROL_LINK). */
static int net_control(DmDevice *dev, uint32_t type, uint64_t value)
{
    VirtioNet *n = dm_device_state(dev);

    if (type != VUP_DM_CONTROL_LINK) {
        return -ENOTSUP;
    }
    if (value > 1) {
        return -EINVAL;
    }
    if (n->link_down == !value) {
        return 0;
    }
    dm_info("virtio-net: link %s", value ? "up" : "down");
    net_set_link(n, value);
    if (value) {
        /* What the guest queued meanwhile goes now, dropped. */
        tx_all(n);
    }
    return 0;
}

/* All of the client's memory goes: it went away, or hands over. */
static void net_dma_unmapped(DmDevice *dev, uint64_t iova, uint64_t size)
{
    VirtioNet *n = dm_device_state(dev);

    if (iova == 0 && size == UINT64_MAX) {
        n->client_gone = true;
    }
}

/*
 * The VM stopped (frames wait, as for a client gone: written now they
 * could miss a migration's last pass) or runs again: catch up.
 */
static void net_vm_stopped_changed(DmDevice *dev)
{
    VirtioNet *n = dm_device_state(dev);

    if (!dm_device_vm_stopped(dev)) {
        dm_timer_mod(&n->rx_timer, 0);
        tx_all(n);
    }
}

/* A client is (back) there: the transport catches up on every queue. */
static void net_irqs_changed(DmDevice *dev)
{
    VirtioNet *n = dm_device_state(dev);

    n->client_gone = false;
    dm_virtio_irqs_changed(&n->virtio);
    flap_start(n);
}

/* The counts, the queue and the buffers taken, then the rings. */
static void net_counts(VirtioNet *n)
{
    dm_info("virtio-net: %llu frames to the guest (%llu joined by the "
            "kernel), %llu from it (%llu to cut); dropped: %llu on a full "
            "queue, %llu too big, %llu bad from the guest, %llu while the "
            "link was down",
            (unsigned long long)n->rx_frames, (unsigned long long)n->rx_gso,
            (unsigned long long)n->tx_frames, (unsigned long long)n->tx_gso,
            (unsigned long long)n->rx_dropped,
            (unsigned long long)n->rx_too_big,
            (unsigned long long)n->tx_dropped,
            (unsigned long long)n->link_dropped);
}

/* Per pair, when there are several: which queues carried the frames. */
static void net_counts_pairs(VirtioNet *n)
{
    char buf[PAIRS_MAX * 48] = "";
    size_t len = 0;

    if (n->max_pairs == 1) {
        return;
    }
    for (unsigned p = 0; p < n->max_pairs; p++) {
        len += snprintf(buf + len, sizeof(buf) - len, "%s%u: %llu/%llu",
                        p ? ", " : "", p,
                        (unsigned long long)n->rx_frames_pair[p],
                        (unsigned long long)n->tx_frames_pair[p]);
    }
    dm_info("virtio-net: frames to/from the guest per queue pair: %s; "
            "%u pairs of %u in use", buf, n->pairs, n->max_pairs);
}

static void net_dump(DmDevice *dev)
{
    VirtioNet *n = dm_device_state(dev);

    net_counts(n);
    net_counts_pairs(n);
    dm_info("virtio-net: %u frames waiting for the guest (at most %llu), "
            "%u receive buffers taken for the first (%llu bytes)%s%s",
            n->rxq_len, (unsigned long long)n->rx_queue, n->rx_nelems,
            (unsigned long long)n->rx_room,
            n->client_gone ? ", client away" : "",
            dm_timer_pending(&n->tx_timer) ? ", transmit budget spent" : "");
    dm_virtio_dump(&n->virtio);
}

static void net_unrealize(DmDevice *dev)
{
    VirtioNet *n = dm_device_state(dev);

    net_counts(n);
    net_counts_pairs(n);
    dm_timer_del(&n->tx_timer);
    dm_timer_del(&n->rx_timer);
    dm_timer_del(&n->flap_timer);
    rxq_clear(n);
    if (n->be) {
        n->ops->close(n->be);
        n->be = NULL;
    }
    free(n->txbuf);
    n->txbuf = NULL;
    dm_virtio_pci_cleanup(&n->virtio);     /* the rings last */
}

static const DmProp net_props[] = {
    DM_PROP_STRING_CHECKED("net", VirtioNet, net, NULL, check_net,
                           "the back end: user (libslirp in the model, the "
                           "default) or tap (tap=)"),
    DM_PROP_STRING("tap", VirtioNet, tap, NULL,
                   "net=tap: the server's tap interface (made if it does "
                   "not exist, for as long as the model runs)"),
    DM_PROP_STRING_CHECKED("hostfwd", VirtioNet, hostfwd, NULL,
                           net_slirp_check_hostfwd,
                           "net=user: ports forwarded into the guest, "
                           "[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:"
                           "GUESTPORT, several joined by '+'"),
    DM_PROP_BOOLEAN("restrict", VirtioNet, restricted, "off",
                    "net=user: the guest reaches nothing outside "
                    "(hostfwd still reaches it)"),
    DM_PROP_STRING_CHECKED("subnet", VirtioNet, subnet, NULL,
                           net_slirp_check_subnet,
                           "net=user: the guest's network (default "
                           "10.0.2.0/24; gateway .2, DNS .3, DHCP from .15)"),
    DM_PROP_STRING_CHECKED("mac", VirtioNet, mac, "52:54:00:12:34:56",
                           check_mac, "the card's MAC address"),
    DM_PROP_UINT64("rx_queue", VirtioNet, rx_queue, "256", 1, 65536,
                   "frames that wait for the guest's receive buffers; "
                   "beyond, they are dropped and counted (in the log)"),
    DM_PROP_UINT64("queue_size", VirtioNet, queue_size, "256", 16, 1024,
                   "entries per queue, a power of two"),
    DM_PROP_UINT64("queues", VirtioNet, queues, "1", 1, PAIRS_MAX,
                   "receive/transmit queue pairs (more than 1: MQ; a "
                   "flow's frames stay on one receive queue)"),
    DM_PROP_END,
};

static const DmModel dm_model_virtio_net = {
    .name = "virtio-net",
    .description = "virtio 1.x network card on user-mode networking "
                   "(libslirp, net=user) or a tap (tap=)",
    .bus = DM_BUS_PCI,
    .state_size = sizeof(VirtioNet),
    .props = net_props,
    .realize = net_realize,
    .reset = net_reset,
    .dma_unmapped = net_dma_unmapped,
    .irqs_changed = net_irqs_changed,
    .vm_stopped_changed = net_vm_stopped_changed,
    .control = net_control,
    .dump = net_dump,
    .state_version = 2,
    .save = net_save,
    .load = net_load,
    .unrealize = net_unrealize,
};
DM_MODEL_REGISTER(dm_model_virtio_net)
