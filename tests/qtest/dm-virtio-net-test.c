/*
 * virtio-net, one set of test bodies, three back ends, each on user-mode
 * networking (slirp: 10.0.2.0/24, the gateway 10.0.2.2 answers ARP):
 *   local          QEMU's own -device virtio-net-pci,disable-legacy=on on
 *                  -netdev user: the reference
 *   proxy-shared   our dm-proxy-pci -> dm-remote virtio-net,net=user over
 *                  UNIX, guest RAM in a shared memfd
 *   proxy-tcp      the same over TCP loopback (guest memory by messages)
 * The driver is libqos' virtio 1.0 PCI driver with MSI-X off.  The
 * bodies: the features both cards offer and the configuration; a frame
 * out (an ARP request) and its answer in; the control queue; QMP's
 * set_link, which reaches the remote card through the dm_controls
 * extension (the fork's net/net.c hook, dm-proxy-control.c); and broken
 * transmit chains (a loop, a next index out of the table), after which
 * both cards need a reset and work again once reset.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "libqos/libqos-malloc.h"
#include "libqos/malloc-pc.h"
#include "libqos/pci-pc.h"
#include "libqos/virtio.h"
#include "libqos/virtio-pci.h"
#include "standard-headers/linux/virtio_net.h"
#include "standard-headers/linux/virtio_config.h"
#include "standard-headers/linux/virtio_pci.h"
#include "standard-headers/linux/virtio_ring.h"

#include "dm-qtest-util.h"

#define NET_SLOT        4
#define HDR_LEN         12              /* virtio 1.x: num_buffers always */
#define BUF_LEN         2048
#define NRX             8
#define RX              0
#define TX              1
#define CTRL            2

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

typedef enum NetBackend {
    NET_LOCAL,
    NET_PROXY_SHARED,
    NET_PROXY_TCP,
} NetBackend;

typedef struct Net {
    NetBackend backend;
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *bus;
    QVirtioPCIDevice *dev;
    QVirtQueue *vq[3];
    DmRemote *remote;
    uint64_t rxbuf[NRX];
    uint64_t features;
} Net;

/*
 * What a driver of either card takes: the set the bodies use.  Not in it:
 * CSUM and GUEST_CSUM, which QEMU's card offers only on a back end with
 * virtio headers (a tap), and ours also on slirp (it finishes the
 * guest's checksums itself): a difference, not a fault.
 */
#define WANT ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MAC) | \
              (1ull << VIRTIO_NET_F_STATUS) | (1ull << VIRTIO_NET_F_CTRL_VQ) | \
              (1ull << VIRTIO_NET_F_CTRL_RX) | \
              (1ull << VIRTIO_NET_F_MRG_RXBUF))

static void net_qemu_start(Net *n)
{
    g_autofree char *device = NULL;
    g_autofree char *cmd = NULL;
    const char *memory = "-m 256M";

    if (n->backend == NET_LOCAL) {
        device = g_strdup_printf("-netdev user,id=n0 -device virtio-net-pci,"
                                 "id=net0,disable-legacy=on,addr=%02x.0,"
                                 "netdev=n0,mac=52:54:00:12:34:56",
                                 NET_SLOT);
    } else {
        const char *model = "virtio-net,net=user,mac=52:54:00:12:34:56";

        n->remote = n->backend == NET_PROXY_TCP ?
                    dm_remote_start_tcp(model, NULL) :
                    dm_remote_start(model, NULL);
        device = g_strdup_printf("-device dm-proxy-pci,id=net0,addr=%02x.0,"
                                 "server=%s", NET_SLOT, n->remote->connect);
        memory = "-m 256M -object memory-backend-memfd,id=ram,size=256M,"
                 "share=on -machine memory-backend=ram";
    }
    cmd = g_strdup_printf("-machine pc %s %s", memory, device);
    n->qts = qtest_init(cmd);
    pc_alloc_init(&n->alloc, n->qts, 0);
    n->bus = qpci_new_pc(n->qts, &n->alloc);
}

/* Features, the three queues, DRIVER_OK, receive buffers. */
static void net_driver_init(Net *n)
{
    QVirtioDevice *vdev = &n->dev->vdev;

    qvirtio_start_device(vdev);
    n->features = qvirtio_get_features(vdev) & WANT;
    qvirtio_set_features(vdev, n->features);
    for (int q = 0; q < 3; q++) {
        n->vq[q] = qvirtqueue_setup(vdev, &n->alloc, q);
    }
    qvirtio_set_driver_ok(vdev);
    /* Receive buffers, device-writable, one descriptor each. */
    for (int i = 0; i < NRX; i++) {
        uint32_t head;

        n->rxbuf[i] = guest_alloc(&n->alloc, BUF_LEN);
        head = qvirtqueue_add(n->qts, n->vq[RX], n->rxbuf[i], BUF_LEN, true,
                              false);
        qvirtqueue_kick(n->qts, vdev, n->vq[RX], head);
    }
}

static void net_start(Net *n, NetBackend backend)
{
    QPCIAddress addr = { .devfn = QPCI_DEVFN(NET_SLOT, 0) };

    n->backend = backend;
    net_qemu_start(n);
    n->dev = virtio_pci_new(n->bus, &addr);
    g_assert_nonnull(n->dev);
    g_assert_cmpint(n->dev->vdev.device_type, ==, VIRTIO_ID_NET);
    qvirtio_pci_device_enable(n->dev);
    net_driver_init(n);
}

static void net_stop(Net *n)
{
    for (int q = 0; q < 3; q++) {
        qvirtqueue_cleanup(n->dev->vdev.bus, n->vq[q], &n->alloc);
    }
    qvirtio_pci_destructor(&n->dev->obj);
    g_free(n->dev);
    qpci_free_pc(n->bus);
    alloc_destroy(&n->alloc);
    qtest_quit(n->qts);
    if (n->remote) {
        dm_remote_stop(n->remote);
    }
}

static uint8_t net_isr(Net *n)
{
    return qpci_io_readb(n->dev->pdev, n->dev->bar, n->dev->isr_cfg_offset);
}

/* The device's chain @head back on queue @q within 10 s; its length. */
static bool net_used(Net *n, int q, uint32_t *len)
{
    uint32_t id = ~0u;
    bool got = false;

    DM_WAIT_UNTIL(got = qvirtqueue_get_buf(n->qts, n->vq[q], &id, len));
    return got;
}

/* An ARP request from the guest for @tpa (10.0.2.x), sent and used. */
static void send_arp(Net *n, uint8_t tpa)
{
    uint8_t buf[HDR_LEN + 42] = { 0 };
    uint8_t *f = buf + HDR_LEN;
    uint64_t addr = guest_alloc(&n->alloc, sizeof(buf));
    uint32_t head, len;

    memset(f, 0xff, 6);                         /* broadcast */
    memcpy(f + 6, guest_mac, 6);
    f[12] = 0x08; f[13] = 0x06;                 /* ARP */
    f[14] = 0; f[15] = 1;                       /* Ethernet */
    f[16] = 0x08; f[17] = 0;                    /* IPv4 */
    f[18] = 6; f[19] = 4;
    f[20] = 0; f[21] = 1;                       /* request */
    memcpy(f + 22, guest_mac, 6);
    memcpy(f + 28, "\x0a\x00\x02\x0f", 4);      /* 10.0.2.15 */
    memcpy(f + 38, "\x0a\x00\x02", 3);
    f[41] = tpa;
    qtest_memwrite(n->qts, addr, buf, sizeof(buf));
    head = qvirtqueue_add(n->qts, n->vq[TX], addr, sizeof(buf), false,
                          false);
    qvirtqueue_kick(n->qts, &n->dev->vdev, n->vq[TX], head);
    g_assert_true(net_used(n, TX, &len));
}

/*
 * The next frame in, within 10 s (@wait) or what is there now: true with
 * the frame in @f (after the header), or false.
 */
static bool recv_frame(Net *n, uint8_t *f, size_t max, bool wait)
{
    uint32_t id = ~0u, len = 0;
    uint8_t buf[BUF_LEN];
    bool got = false;

    if (wait) {
        DM_WAIT_UNTIL(got = qvirtqueue_get_buf(n->qts, n->vq[RX], &id,
                                               &len));
    } else {
        got = qvirtqueue_get_buf(n->qts, n->vq[RX], &id, &len);
    }
    if (!got) {
        return false;
    }
    g_assert_cmpuint(id, <, NRX);
    g_assert_cmpuint(len, >, HDR_LEN);
    g_assert_cmpuint(len, <=, BUF_LEN);
    qtest_memread(n->qts, n->rxbuf[id], buf, len);
    /* One buffer per frame (MRG_RXBUF: num_buffers = 1). */
    g_assert_cmpuint(buf[10] | buf[11] << 8, ==, 1);
    memcpy(f, buf + HDR_LEN, MIN(max, len - HDR_LEN));
    return true;
}

/* The gateway's answer to send_arp(n, 2). */
static void expect_arp_reply(Net *n)
{
    uint8_t f[BUF_LEN];

    g_assert_true(recv_frame(n, f, sizeof(f), true));
    g_assert_cmpmem(f, 6, guest_mac, 6);                /* to us */
    g_assert_cmpint(f[12] << 8 | f[13], ==, 0x0806);
    g_assert_cmpint(f[20] << 8 | f[21], ==, 2);          /* reply */
    g_assert_cmpmem(f + 28, 4, "\x0a\x00\x02\x02", 4);   /* 10.0.2.2 is */
    g_assert_cmpmem(f + 32, 6, guest_mac, 6);
}

/* ---- Bodies ---- */

static void test_features_config(const void *data)
{
    Net n = { 0 };
    QVirtioDevice *vdev;

    net_start(&n, GPOINTER_TO_INT(data));
    vdev = &n.dev->vdev;
    /* Both cards offer all of the set, and keep it. */
    g_assert_cmphex(n.features, ==, WANT);
    g_assert_cmphex(vdev->bus->get_guest_features(vdev), ==, WANT);
    for (int i = 0; i < 6; i++) {
        g_assert_cmpint(qvirtio_config_readb(vdev, i), ==, guest_mac[i]);
    }
    g_assert_cmpint(qvirtio_config_readw(vdev, 6), ==, VIRTIO_NET_S_LINK_UP);
    net_stop(&n);
}

static void test_frame_out_and_in(const void *data)
{
    Net n = { 0 };

    net_start(&n, GPOINTER_TO_INT(data));
    send_arp(&n, 2);
    expect_arp_reply(&n);
    net_stop(&n);
}

/* One control command: its ack (0 OK, 1 ERR). */
static uint8_t ctrl(Net *n, uint8_t cls, uint8_t cmd, uint8_t arg)
{
    uint8_t req[3] = { cls, cmd, arg }, ack = 0xee;
    uint64_t addr = guest_alloc(&n->alloc, 4);
    uint32_t head, len;

    qtest_memwrite(n->qts, addr, req, sizeof(req));
    qtest_memwrite(n->qts, addr + 3, &ack, 1);
    head = qvirtqueue_add(n->qts, n->vq[CTRL], addr, 3, false, true);
    qvirtqueue_add(n->qts, n->vq[CTRL], addr + 3, 1, true, false);
    qvirtqueue_kick(n->qts, &n->dev->vdev, n->vq[CTRL], head);
    g_assert_true(net_used(n, CTRL, &len));
    qtest_memread(n->qts, addr + 3, &ack, 1);
    return ack;
}

static void test_ctrl(const void *data)
{
    Net n = { 0 };

    net_start(&n, GPOINTER_TO_INT(data));
    g_assert_cmpint(ctrl(&n, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC,
                         1), ==, VIRTIO_NET_OK);
    g_assert_cmpint(ctrl(&n, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC,
                         0), ==, VIRTIO_NET_OK);
    g_assert_cmpint(ctrl(&n, 0x7e, 0, 0), ==, VIRTIO_NET_ERR);
    /* The card still works. */
    send_arp(&n, 2);
    expect_arp_reply(&n);
    net_stop(&n);
}

static void set_link(Net *n, const char *name, bool up, const char *err)
{
    QDict *r = qtest_qmp(n->qts, "{'execute': 'set_link', 'arguments': "
                         "{'name': %s, 'up': %i}}", name, up);

    if (err) {
        g_assert_true(qdict_haskey(r, "error"));
        g_assert_cmpstr(qdict_get_str(qdict_get_qdict(r, "error"), "class"),
                        ==, err);
    } else {
        g_assert_true(qdict_haskey(r, "return"));
    }
    qobject_unref(r);
}

/*
 * set_link off: the status loses LINK_UP and the driver is told (ISR's
 * configuration bit); a frame out is taken and nothing answers it; on
 * again, the same frame is answered.  A name nobody has: DeviceNotFound.
 */
static void test_set_link(const void *data)
{
    Net n = { 0 };
    QVirtioDevice *vdev;
    uint8_t f[BUF_LEN];
    bool seen = false;

    net_start(&n, GPOINTER_TO_INT(data));
    vdev = &n.dev->vdev;
    net_isr(&n);                                        /* cleared */
    set_link(&n, "net0", false, NULL);
    g_assert_cmpint(qvirtio_config_readw(vdev, 6), ==, 0);
    DM_WAIT_UNTIL(seen || (seen = net_isr(&n) & VIRTIO_PCI_ISR_CONFIG));
    g_assert_true(seen);
    send_arp(&n, 2);
    g_usleep(200 * 1000);       /* an answer would be back long before */
    g_assert_false(recv_frame(&n, f, sizeof(f), false));
    set_link(&n, "net0", true, NULL);
    g_assert_cmpint(qvirtio_config_readw(vdev, 6), ==, VIRTIO_NET_S_LINK_UP);
    seen = false;
    DM_WAIT_UNTIL(seen || (seen = net_isr(&n) & VIRTIO_PCI_ISR_CONFIG));
    g_assert_true(seen);
    send_arp(&n, 2);
    expect_arp_reply(&n);
    set_link(&n, "nosuch", false, "DeviceNotFound");
    net_stop(&n);
}

/* Device status bits virtio 1.2 section 2.1 defines beyond Linux's. */
#define STATUS_NEEDS_RESET 0x40

/*
 * A broken transmit chain: both cards need a reset (status and a
 * configuration interrupt), nothing else; after one the card works.
 */
static void check_needs_reset_then_reset(Net *n)
{
    QVirtioDevice *vdev = &n->dev->vdev;
    bool seen = false;

    DM_WAIT_UNTIL(vdev->bus->get_status(vdev) & STATUS_NEEDS_RESET);
    g_assert_true(vdev->bus->get_status(vdev) & STATUS_NEEDS_RESET);
    g_assert_true(vdev->bus->get_status(vdev) & VIRTIO_CONFIG_S_DRIVER_OK);
    DM_WAIT_UNTIL(seen || (seen = net_isr(n) & VIRTIO_PCI_ISR_CONFIG));
    g_assert_true(seen);
    qvirtio_reset(vdev);                /* asserts status 0 */
    for (int q = 0; q < 3; q++) {
        qvirtqueue_cleanup(vdev->bus, n->vq[q], &n->alloc);
    }
    net_driver_init(n);
    g_assert_false(vdev->bus->get_status(vdev) & STATUS_NEEDS_RESET);
    send_arp(n, 2);
    expect_arp_reply(n);
}

/* A transmit chain that loops: desc[h] -> desc[h+1] -> desc[h]. */
static void test_bad_tx_loop(const void *data)
{
    Net n = { 0 };
    uint64_t buf;
    uint32_t head;
    uint16_t next;

    net_start(&n, GPOINTER_TO_INT(data));
    buf = guest_alloc(&n.alloc, 64);
    head = qvirtqueue_add(n.qts, n.vq[TX], buf, 32, false, true);
    qvirtqueue_add(n.qts, n.vq[TX], buf + 32, 32, false, true);
    next = cpu_to_le16(head);
    qtest_memwrite(n.qts, n.vq[TX]->desc + 16 * (head + 1) + 14, &next,
                   sizeof(next));
    qvirtqueue_kick(n.qts, &n.dev->vdev, n.vq[TX], head);
    check_needs_reset_then_reset(&n);
    net_stop(&n);
}

/* A transmit chain whose next index leaves the descriptor table. */
static void test_bad_tx_next(const void *data)
{
    Net n = { 0 };
    uint64_t buf;
    uint32_t head;
    uint16_t next = cpu_to_le16(0x7fff);

    net_start(&n, GPOINTER_TO_INT(data));
    buf = guest_alloc(&n.alloc, 64);
    head = qvirtqueue_add(n.qts, n.vq[TX], buf, 64, false, true);
    qtest_memwrite(n.qts, n.vq[TX]->desc + 16 * head + 14, &next,
                   sizeof(next));
    qvirtqueue_kick(n.qts, &n.dev->vdev, n.vq[TX], head);
    check_needs_reset_then_reset(&n);
    net_stop(&n);
}

/* set_link on a remote device whose model has no link: a clear error. */
static void test_set_link_no_link(const void *data)
{
    DmRemote *r = dm_remote_start("edu", NULL);
    g_autofree char *cmd = g_strdup_printf("-machine pc -device dm-proxy-pci,"
                                           "id=edu0,server=%s", r->connect);
    QTestState *qts = qtest_init(cmd);
    QDict *resp = qtest_qmp(qts, "{'execute': 'set_link', 'arguments': "
                            "{'name': 'edu0', 'up': false}}");

    g_assert_true(qdict_haskey(resp, "error"));
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(resp, "error"),
                                          "desc"), "has no such control"));
    qobject_unref(resp);
    qtest_quit(qts);
    dm_remote_stop(r);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        NetBackend backend;
    } backends[] = {
        { "local", NET_LOCAL },
        { "proxy-shared", NET_PROXY_SHARED },
        { "proxy-tcp", NET_PROXY_TCP },
    };
    static const struct {
        const char *name;
        void (*fn)(const void *);
    } tests[] = {
        { "features-config", test_features_config },
        { "frame-out-and-in", test_frame_out_and_in },
        { "ctrl", test_ctrl },
        { "set-link", test_set_link },
        { "bad-tx-chain-loop", test_bad_tx_loop },
        { "bad-tx-chain-next", test_bad_tx_next },
    };

    g_test_init(&argc, &argv, NULL);
    for (size_t bi = 0; bi < G_N_ELEMENTS(backends); bi++) {
        for (size_t ti = 0; ti < G_N_ELEMENTS(tests); ti++) {
            g_autofree char *path = g_strdup_printf("/dm/virtio-net/%s/%s",
                                                    backends[bi].name,
                                                    tests[ti].name);

            qtest_add_data_func(path,
                                GINT_TO_POINTER(backends[bi].backend),
                                tests[ti].fn);
        }
    }
    qtest_add_data_func("/dm/virtio-net/proxy-shared/set-link-no-link",
                        NULL, test_set_link_no_link);
    return g_test_run();
}
