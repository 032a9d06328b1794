/*
 * virtio-blk, one set of test bodies, four back ends:
 *   local          QEMU's own -device virtio-blk-pci,disable-legacy=on on a
 *                  raw -drive: the reference
 *   proxy-shared   our dm-proxy-pci -> dm-remote virtio-blk over UNIX,
 *                  guest RAM in a shared memfd (the model reaches the rings
 *                  and buffers directly)
 *   proxy-tcp      dm-proxy-pci -> dm-remote virtio-blk over TCP loopback:
 *                  guest memory by messages, chains taken by ring fetches
 *                  (dm_vq_fetch: the proxy walks the ring, the model
 *                  checks the result) and completions by posted writes
 *   proxy-tcp-plain  the same with vq-fetch=off: a DMA message per ring
 *                  and buffer access, as with upstream's client
 *   upstream-shared  upstream's vfio-user-pci client -> dm-remote
 *                  virtio-blk over UNIX, shared memfd RAM
 * The driver is libqos' virtio 1.0 PCI driver (modern-only: it finds the
 * common, notify, ISR and device capabilities in one BAR) with MSI-X off,
 * so completions are seen through the used ring and the ISR.  Every check
 * runs against every back end, except the one marked remote-only, where
 * virtio 1.2 leaves the device a choice and QEMU's makes another one.
 *
 * Not here: upstream's vfio-user-pci with private guest RAM (DMA as
 * messages).  Its client runs the server's DMA requests in a main-loop
 * bottom half (hw/vfio-user/proxy.c, vfio_user_process: req_bh), which
 * needs the BQL, while a vCPU waiting for the reply to a BAR read holds
 * the BQL (vfio_user_send_wait); the model reads the rings (DMA) while
 * it handles the DRIVER_OK write or a kick and answers the next BAR read
 * after that, so each such read stalls for x-msg-timeout (5 s) and then
 * fails.  Upstream's client needs servers that answer region accesses
 * while their own DMA requests are outstanding.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "libqos/libqos-malloc.h"
#include "libqos/malloc-pc.h"
#include "libqos/pci-pc.h"
#include "libqos/virtio.h"
#include "libqos/virtio-pci.h"
#include "hw/pci/pci_regs.h"
#include "standard-headers/linux/virtio_blk.h"
#include "standard-headers/linux/virtio_config.h"
#include "standard-headers/linux/virtio_ring.h"

#include "dm-qtest-util.h"

#define BLK_SLOT        4
#define SECTOR          512
#define IMAGE_SECTORS   2048            /* a 1 MiB image */
#define SERIAL          "dm-twin-0001"
#define STATUS_NONE     0xff            /* not written by the device yet */

/* Device status bits virtio 1.2 section 2.1 defines beyond Linux's. */
#define STATUS_NEEDS_RESET 0x40

typedef enum BlkBackend {
    BLK_LOCAL,
    BLK_PROXY_SHARED,
    BLK_PROXY_TCP,
    BLK_PROXY_TCP_PLAIN,
    BLK_UPSTREAM_SHARED,
} BlkBackend;

typedef struct BlkTest {
    BlkBackend backend;
    bool readonly;
    bool no_ioeventfd;          /* the proxy's ioeventfd=off */
} BlkTest;

typedef struct Blk {
    BlkBackend backend;
    bool readonly;
    bool no_ioeventfd;
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *bus;
    QVirtioPCIDevice *dev;
    QVirtQueue *vq;
    DmRemote *remote;
    char *dir;
    char *image;
    uint64_t features;          /* what the driver accepted */
    bool quiet;                 /* next request: no interrupt wanted */
} Blk;

typedef struct BlkReqHdr {
    uint32_t type;
    uint32_t ioprio;
    uint64_t sector;
} QEMU_PACKED BlkReqHdr;

/* The image's initial bytes: every sector tells its own number. */
static uint8_t image_byte(uint64_t off)
{
    return (off / SECTOR) * 13 + (off % SECTOR) * 7 + 1;
}

static void image_create(Blk *b)
{
    g_autofree uint8_t *buf = g_malloc(IMAGE_SECTORS * SECTOR);
    g_autoptr(GError) err = NULL;

    b->dir = g_dir_make_tmp("dm-blk-XXXXXX", &err);
    g_assert_no_error(err);
    b->image = g_build_filename(b->dir, "disk.img", NULL);
    for (uint64_t i = 0; i < IMAGE_SECTORS * SECTOR; i++) {
        buf[i] = image_byte(i);
    }
    g_file_set_contents(b->image, (char *)buf, IMAGE_SECTORS * SECTOR, &err);
    g_assert_no_error(err);
}

/* @len bytes of the image file at sector @sector, as the host sees them. */
static void image_read(Blk *b, uint64_t sector, void *buf, size_t len)
{
    int fd = open(b->image, O_RDONLY);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, buf, len, sector * SECTOR), ==, len);
    close(fd);
}

/* ---- Set-up ---- */

static void blk_qemu_start(Blk *b)
{
    g_autofree char *device = NULL;
    g_autofree char *cmd = NULL;
    const char *ro = b->readonly ? ",readonly=on" : "";
    const char *memory = "-m 256M";

    if (b->backend == BLK_LOCAL) {
        /* discard=unmap: QEMU punches the hole, as the model does. */
        device = g_strdup_printf("-drive if=none,id=drv0,file=%s,format=raw,"
                                 "discard=unmap%s "
                                 "-device virtio-blk-pci,disable-legacy=on,"
                                 "addr=%02x.0,drive=drv0,serial=%s",
                                 b->image, ro, BLK_SLOT, SERIAL);
    } else {
        g_autofree char *model = g_strdup_printf("virtio-blk,file=%s,"
                                                 "serial=%s%s", b->image,
                                                 SERIAL, ro);

        if (b->backend == BLK_PROXY_TCP ||
            b->backend == BLK_PROXY_TCP_PLAIN) {
            b->remote = dm_remote_start_tcp(model, NULL);
        } else {
            b->remote = dm_remote_start(model, NULL);
        }
        if (b->backend == BLK_UPSTREAM_SHARED) {
            device = g_strdup_printf("-device '{\"driver\":\"vfio-user-pci\","
                                     "\"addr\":\"%02x.0\",\"socket\":{"
                                     "\"type\":\"unix\",\"path\":\"%s\"}}'",
                                     BLK_SLOT, b->remote->socket_path);
        } else {
            device = g_strdup_printf("-device dm-proxy-pci,addr=%02x.0,"
                                     "server=%s%s%s", BLK_SLOT,
                                     b->remote->connect,
                                     b->no_ioeventfd ? ",ioeventfd=off"
                                                     : ",ioeventfd=on",
                                     b->backend == BLK_PROXY_TCP_PLAIN ?
                                     ",vq-fetch=off" : "");
        }
    }
    if (b->backend != BLK_LOCAL) {
        memory = "-m 256M -object memory-backend-memfd,id=ram,size=256M,"
                 "share=on -machine memory-backend=ram";
    }
    cmd = g_strdup_printf("-machine pc %s %s", memory, device);
    b->qts = qtest_init(cmd);
    pc_alloc_init(&b->alloc, b->qts, 0);
    b->bus = qpci_new_pc(b->qts, &b->alloc);
}

/*
 * Take the device to DRIVER_OK with one request queue, accepting what
 * it offers of the features the bodies use.
 */
static void blk_driver_init(Blk *b)
{
    QVirtioDevice *vdev = &b->dev->vdev;
    uint64_t offered = qvirtio_get_features(vdev);
    uint64_t want = (1ull << VIRTIO_F_VERSION_1) |
                    (1ull << VIRTIO_RING_F_EVENT_IDX) |
                    (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
                    (1ull << VIRTIO_BLK_F_FLUSH) |
                    (1ull << VIRTIO_BLK_F_BLK_SIZE) |
                    (1ull << VIRTIO_BLK_F_SEG_MAX) |
                    (1ull << VIRTIO_BLK_F_RO) |
                    (1ull << VIRTIO_BLK_F_DISCARD) |
                    (1ull << VIRTIO_BLK_F_WRITE_ZEROES);

    qvirtio_start_device(vdev);         /* reset, ACKNOWLEDGE, DRIVER */
    b->features = offered & want;
    /* Sets FEATURES_OK and checks that the device kept it. */
    qvirtio_set_features(vdev, b->features);
    g_assert_cmphex(vdev->bus->get_guest_features(vdev), ==, b->features);
    b->vq = qvirtqueue_setup(vdev, &b->alloc, 0);
    qvirtio_set_driver_ok(vdev);
}

static void blk_start(Blk *b, const BlkTest *t)
{
    QPCIAddress addr = { .devfn = QPCI_DEVFN(BLK_SLOT, 0) };

    b->backend = t->backend;
    b->readonly = t->readonly;
    b->no_ioeventfd = t->no_ioeventfd;
    image_create(b);
    blk_qemu_start(b);
    b->dev = virtio_pci_new(b->bus, &addr);
    g_assert_nonnull(b->dev);
    g_assert_cmpint(b->dev->vdev.device_type, ==, VIRTIO_ID_BLOCK);
    /*
     * Modern-only: device ID 0x1040 + 2, and libqos took its virtio 1.0
     * driver (its legacy one would use BAR0); both devices put the
     * virtio structures in BAR4.
     */
    g_assert_cmpint(b->dev->bar_idx, ==, 4);
    g_assert_cmphex(qpci_config_readw(b->dev->pdev, PCI_DEVICE_ID), ==,
                    0x1042);
    qvirtio_pci_device_enable(b->dev);
    blk_driver_init(b);
}

static void blk_stop(Blk *b)
{
    qvirtqueue_cleanup(b->dev->vdev.bus, b->vq, &b->alloc);
    qvirtio_pci_destructor(&b->dev->obj);
    g_free(b->dev);
    qpci_free_pc(b->bus);
    alloc_destroy(&b->alloc);
    qtest_quit(b->qts);
    if (b->remote) {
        dm_remote_stop(b->remote);
    }
    unlink(b->image);
    rmdir(b->dir);
    g_free(b->image);
    g_free(b->dir);
}

/* ---- Requests ---- */

static uint8_t blk_status(Blk *b)
{
    return b->dev->vdev.bus->get_status(&b->dev->vdev);
}

static uint8_t blk_isr(Blk *b)
{
    return qpci_io_readb(b->dev->pdev, b->dev->bar, b->dev->isr_cfg_offset);
}

static uint16_t used_idx(Blk *b)
{
    uint16_t idx;

    qtest_memread(b->qts, b->vq->used + 2, &idx, sizeof(idx));
    return le16_to_cpu(idx);
}

/* Read the ISR (which clears it) until @bit is seen, bounded. */
static bool wait_isr(Blk *b, uint8_t bit)
{
    bool seen = false;

    DM_WAIT_UNTIL(seen || (seen = blk_isr(b) & bit));
    return seen;
}

/*
 * The driver's side of the event index: interrupt me when the next
 * used entry is written.  Without it, a device that honours EVENT_IDX
 * would (rightly) stay silent after the first completion.  With
 * b->quiet, used_event points far ahead: no interrupt wanted.
 */
static void arm_used_event(Blk *b)
{
    if (b->vq->event) {
        qvirtqueue_set_used_event(b->qts, b->vq, b->vq->last_used_idx +
                                  (b->quiet ? 0x8000 : 0));
    }
}

/* Wait for the completion of @head: its used length, interrupt checked. */
static uint32_t blk_wait(Blk *b, uint32_t head)
{
    uint32_t id = ~0u, len = 0;

    DM_WAIT_UNTIL(used_idx(b) != b->vq->last_used_idx);
    g_assert_true(qvirtqueue_get_buf(b->qts, b->vq, &id, &len));
    g_assert_cmpuint(id, ==, head);
    if (b->quiet) {
        /*
         * Both devices decide on the interrupt when they write the used
         * index (QEMU under the BQL, the model before it reads its next
         * message): by now the ISR tells.
         */
        g_assert_cmphex(blk_isr(b) & 1, ==, 0);
        b->quiet = false;
        return len;
    }
    /* The queue interrupt (MSI-X is off: the ISR's bit 0). */
    g_assert_true(wait_isr(b, 1));
    return len;
}

/*
 * One request: header, @len bytes of data (@in: the device writes them)
 * split over @nsegs buffers, status.  Through an indirect table when
 * @indirect.  Returns the status byte; *@used the used length.
 */
static uint8_t blk_request_full(Blk *b, uint32_t type, uint64_t sector,
                                void *data, uint32_t len, bool in,
                                unsigned nsegs, bool indirect,
                                uint32_t *used)
{
    BlkReqHdr hdr = {
        .type = cpu_to_le32(type),
        .sector = cpu_to_le64(sector),
    };
    uint64_t ghdr = guest_alloc(&b->alloc, sizeof(hdr));
    uint64_t gdata = len ? guest_alloc(&b->alloc, len) : 0;
    uint64_t gstatus = guest_alloc(&b->alloc, 1);
    QVRingIndirectDesc *table = NULL;
    uint32_t head, seg = nsegs ? len / nsegs : 0, got;
    uint8_t status;

    g_assert_true(!nsegs || len % nsegs == 0);
    qtest_memwrite(b->qts, ghdr, &hdr, sizeof(hdr));
    if (len && !in) {
        qtest_memwrite(b->qts, gdata, data, len);
    } else if (len) {
        qtest_memset(b->qts, gdata, 0xa5, len);
    }
    qtest_writeb(b->qts, gstatus, STATUS_NONE);

    if (indirect) {
        g_assert_true(b->vq->indirect);
        table = qvring_indirect_desc_setup(b->qts, &b->dev->vdev, &b->alloc,
                                           2 + nsegs);
        qvring_indirect_desc_add(&b->dev->vdev, b->qts, table, ghdr,
                                 sizeof(hdr), false);
        for (unsigned i = 0; i < nsegs; i++) {
            qvring_indirect_desc_add(&b->dev->vdev, b->qts, table,
                                     gdata + i * seg, seg, in);
        }
        qvring_indirect_desc_add(&b->dev->vdev, b->qts, table, gstatus, 1,
                                 true);
        head = qvirtqueue_add_indirect(b->qts, b->vq, table);
    } else {
        head = qvirtqueue_add(b->qts, b->vq, ghdr, sizeof(hdr), false, true);
        for (unsigned i = 0; i < nsegs; i++) {
            qvirtqueue_add(b->qts, b->vq, gdata + i * seg, seg, in, true);
        }
        qvirtqueue_add(b->qts, b->vq, gstatus, 1, true, false);
    }
    arm_used_event(b);
    qvirtqueue_kick(b->qts, &b->dev->vdev, b->vq, head);
    got = blk_wait(b, head);
    if (used) {
        *used = got;
    }
    status = qtest_readb(b->qts, gstatus);
    if (len && in) {
        qtest_memread(b->qts, gdata, data, len);
    }
    if (table) {
        guest_free(&b->alloc, table->desc);
        g_free(table);
    }
    guest_free(&b->alloc, ghdr);
    if (gdata) {
        guest_free(&b->alloc, gdata);
    }
    guest_free(&b->alloc, gstatus);
    return status;
}

static uint8_t blk_request(Blk *b, uint32_t type, uint64_t sector,
                           void *data, uint32_t len, bool in)
{
    return blk_request_full(b, type, sector, data, len, in, len ? 1 : 0,
                            false, NULL);
}

/* DISCARD or WRITE_ZEROES of one range. */
static uint8_t blk_range(Blk *b, uint32_t type, uint64_t sector,
                         uint32_t num, uint32_t flags)
{
    struct virtio_blk_discard_write_zeroes r = {
        .sector = cpu_to_le64(sector),
        .num_sectors = cpu_to_le32(num),
        .flags = cpu_to_le32(flags),
    };

    return blk_request(b, type, 0, &r, sizeof(r), false);
}

static void fill(uint8_t *buf, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = seed + i * 3;
    }
}

/* Does the device read back the image's initial bytes at @sector? */
static void check_initial(Blk *b, uint64_t sector, uint32_t n)
{
    g_autofree uint8_t *buf = g_malloc(n * SECTOR);

    g_assert_cmpuint(blk_request(b, VIRTIO_BLK_T_IN, sector, buf,
                                 n * SECTOR, true), ==, VIRTIO_BLK_S_OK);
    for (uint32_t i = 0; i < n * SECTOR; i++) {
        g_assert_cmphex(buf[i], ==, image_byte(sector * SECTOR + i));
    }
}

/* ---- Bodies ---- */

/*
 * Feature negotiation: a modern device offers VERSION_1, the two ring
 * features and the block features the tests use; the driver's subset
 * is kept with FEATURES_OK (blk_driver_init); the configuration space
 * tells the image's size.
 */
static void test_features(const void *data)
{
    const BlkTest *t = data;
    Blk b = { 0 };
    QVirtioDevice *vdev;
    uint64_t offered;

    blk_start(&b, t);
    vdev = &b.dev->vdev;
    offered = qvirtio_get_features(vdev);
    g_assert_true(offered & (1ull << VIRTIO_F_VERSION_1));
    g_assert_true(offered & (1ull << VIRTIO_RING_F_EVENT_IDX));
    g_assert_true(offered & (1ull << VIRTIO_RING_F_INDIRECT_DESC));
    g_assert_true(offered & (1ull << VIRTIO_BLK_F_FLUSH));
    g_assert_true(offered & (1ull << VIRTIO_BLK_F_BLK_SIZE));
    g_assert_true(offered & (1ull << VIRTIO_BLK_F_SEG_MAX));
    g_assert_cmpint(!!(offered & (1ull << VIRTIO_BLK_F_RO)), ==, t->readonly);
    if (!t->readonly) {
        g_assert_true(offered & (1ull << VIRTIO_BLK_F_DISCARD));
        g_assert_true(offered & (1ull << VIRTIO_BLK_F_WRITE_ZEROES));
    }
    g_assert_true(b.vq->event);
    g_assert_true(b.vq->indirect);

    g_assert_cmpuint(qvirtio_config_readq(vdev, offsetof(struct
                     virtio_blk_config, capacity)), ==, IMAGE_SECTORS);
    g_assert_cmpuint(qvirtio_config_readl(vdev, offsetof(struct
                     virtio_blk_config, blk_size)), ==, SECTOR);
    g_assert_cmpuint(qvirtio_config_readl(vdev, offsetof(struct
                     virtio_blk_config, seg_max)), >=, 2);
    if (!t->readonly) {
        g_assert_cmpuint(qvirtio_config_readl(vdev, offsetof(struct
                         virtio_blk_config, max_discard_seg)), >=, 1);
        g_assert_cmpuint(qvirtio_config_readl(vdev, offsetof(struct
                         virtio_blk_config, max_write_zeroes_seg)), >=, 1);
    }

    /* The queue works after the negotiation. */
    check_initial(&b, 0, 1);
    /*
     * EVENT_IDX: with used_event far ahead the completion comes without
     * an interrupt (virtio 1.2 2.7.10); armed again, with one.
     */
    b.quiet = true;
    check_initial(&b, 1, 1);
    check_initial(&b, 2, 1);

    if (t->backend != BLK_LOCAL) {
        /*
         * Remote-only: a driver accepting a feature the device did not
         * offer (bit 55 is reserved) gets no FEATURES_OK (virtio 1.2
         * 3.1.1 forbids the driver to; the device "MUST fail to set
         * FEATURES_OK" for a subset it cannot take).  QEMU masks the
         * bit silently instead (virtio_set_features()).
         */
        qvirtio_reset(vdev);
        qvirtio_set_acknowledge(vdev);
        qvirtio_set_driver(vdev);
        vdev->bus->set_features(vdev, b.features | (1ull << 55));
        vdev->bus->set_status(vdev, vdev->bus->get_status(vdev) |
                              VIRTIO_CONFIG_S_FEATURES_OK);
        g_assert_false(blk_status(&b) & VIRTIO_CONFIG_S_FEATURES_OK);
        qvirtqueue_cleanup(vdev->bus, b.vq, &b.alloc);
        blk_driver_init(&b);
        check_initial(&b, 0, 1);
    }
    blk_stop(&b);
}

/*
 * Sectors written reach the image file (after FLUSH at the latest),
 * read back through plain, split and indirect chains; a range past the
 * end is IOERR, an unknown request UNSUPP.
 */
static void test_rw_flush(const void *data)
{
    Blk b = { 0 };
    const uint32_t len = 8 * SECTOR;
    g_autofree uint8_t *out = g_malloc(len);
    g_autofree uint8_t *in = g_malloc(len);
    g_autofree uint8_t *file = g_malloc(len);
    uint32_t used;

    blk_start(&b, data);
    check_initial(&b, 0, 4);
    check_initial(&b, IMAGE_SECTORS - 4, 4);

    fill(out, len, 0x11);
    g_assert_cmpuint(blk_request_full(&b, VIRTIO_BLK_T_OUT, 16, out, len,
                                      false, 1, false, &used), ==,
                     VIRTIO_BLK_S_OK);
    g_assert_cmpuint(used, ==, 1);              /* the status byte only */
    g_assert_cmpuint(blk_request(&b, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false),
                     ==, VIRTIO_BLK_S_OK);
    image_read(&b, 16, file, len);
    g_assert_cmpmem(file, len, out, len);
    /* Its neighbours are untouched. */
    check_initial(&b, 15, 1);
    check_initial(&b, 24, 1);

    g_assert_cmpuint(blk_request_full(&b, VIRTIO_BLK_T_IN, 16, in, len, true,
                                      1, false, &used), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(used, ==, len + 1);
    g_assert_cmpmem(in, len, out, len);

    /* A write in four buffers, read back in two through a table. */
    fill(out, len, 0x77);
    g_assert_cmpuint(blk_request_full(&b, VIRTIO_BLK_T_OUT, 100, out, len,
                                      false, 4, false, NULL), ==,
                     VIRTIO_BLK_S_OK);
    memset(in, 0, len);
    g_assert_cmpuint(blk_request_full(&b, VIRTIO_BLK_T_IN, 100, in, len, true,
                                      2, true, &used), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(used, ==, len + 1);
    g_assert_cmpmem(in, len, out, len);
    /* And written through a table. */
    fill(out, len, 0x3c);
    g_assert_cmpuint(blk_request_full(&b, VIRTIO_BLK_T_OUT, 200, out, len,
                                      false, 2, true, NULL), ==,
                     VIRTIO_BLK_S_OK);
    g_assert_cmpuint(blk_request(&b, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false),
                     ==, VIRTIO_BLK_S_OK);
    image_read(&b, 200, file, len);
    g_assert_cmpmem(file, len, out, len);

    /* The last sector is fine, one past it is not. */
    g_assert_cmpuint(blk_request(&b, VIRTIO_BLK_T_IN, IMAGE_SECTORS - 1, in,
                                 SECTOR, true), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(blk_request(&b, VIRTIO_BLK_T_IN, IMAGE_SECTORS, in,
                                 SECTOR, true), ==, VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(blk_request(&b, VIRTIO_BLK_T_OUT, IMAGE_SECTORS - 1, out,
                                 2 * SECTOR, false), ==, VIRTIO_BLK_S_IOERR);
    image_read(&b, IMAGE_SECTORS - 1, file, SECTOR);
    for (uint32_t i = 0; i < SECTOR; i++) {
        g_assert_cmphex(file[i], ==,
                        image_byte((IMAGE_SECTORS - 1) * SECTOR + i));
    }
    /* A request type nobody defined. */
    g_assert_cmpuint(blk_request(&b, 0x20, 0, in, SECTOR, true), ==,
                     VIRTIO_BLK_S_UNSUPP);
    /* The device still serves. */
    check_initial(&b, 300, 2);
    blk_stop(&b);
}

/* GET_ID answers the serial, NUL-terminated when shorter than 20. */
static void test_get_id(const void *data)
{
    Blk b = { 0 };
    char id[VIRTIO_BLK_ID_BYTES];
    uint32_t used;

    blk_start(&b, data);
    g_assert_cmpuint(blk_request_full(&b, VIRTIO_BLK_T_GET_ID, 0, id,
                                      sizeof(id), true, 1, false, &used), ==,
                     VIRTIO_BLK_S_OK);
    g_assert_cmpmem(id, strlen(SERIAL), SERIAL, strlen(SERIAL));
    g_assert_cmpint(id[strlen(SERIAL)], ==, 0);
    g_assert_cmpuint(used, >=, strlen(SERIAL) + 1 + 1);
    g_assert_cmpuint(used, <=, sizeof(id) + 1);
    blk_stop(&b);
}

/* Is the device's view of @n sectors at @sector all zeros? */
static void check_zeros(Blk *b, uint64_t sector, uint32_t n)
{
    g_autofree uint8_t *buf = g_malloc(n * SECTOR);
    g_autofree uint8_t *zero = g_malloc0(n * SECTOR);

    g_assert_cmpuint(blk_request(b, VIRTIO_BLK_T_IN, sector, buf, n * SECTOR,
                                 true), ==, VIRTIO_BLK_S_OK);
    g_assert_cmpmem(buf, n * SECTOR, zero, n * SECTOR);
    image_read(b, sector, buf, n * SECTOR);
    g_assert_cmpmem(buf, n * SECTOR, zero, n * SECTOR);
}

/*
 * WRITE_ZEROES (with and without UNMAP) leaves zeros, in the device and
 * in the file; DISCARD succeeds.  Neighbours keep their bytes; ranges
 * past the end are IOERR, unknown flags UNSUPP.
 */
static void test_discard_zeroes(const void *data)
{
    Blk b = { 0 };

    blk_start(&b, data);
    g_assert_cmpuint(blk_range(&b, VIRTIO_BLK_T_WRITE_ZEROES, 64, 16, 0), ==,
                     VIRTIO_BLK_S_OK);
    check_zeros(&b, 64, 16);
    check_initial(&b, 63, 1);
    check_initial(&b, 80, 1);
    g_assert_cmpuint(blk_range(&b, VIRTIO_BLK_T_WRITE_ZEROES, 128, 8,
                               VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP), ==,
                     VIRTIO_BLK_S_OK);
    check_zeros(&b, 128, 8);
    check_initial(&b, 136, 1);

    g_assert_cmpuint(blk_range(&b, VIRTIO_BLK_T_DISCARD, 256, 64, 0), ==,
                     VIRTIO_BLK_S_OK);
    /*
     * Virtio 1.2 5.2.6 does not say what a discarded range reads; both
     * back ends punch a hole in the file here (QEMU with discard=unmap,
     * the model always), so both read zeros.
     */
    check_zeros(&b, 256, 64);
    check_initial(&b, 255, 1);
    check_initial(&b, 320, 1);

    g_assert_cmpuint(blk_range(&b, VIRTIO_BLK_T_WRITE_ZEROES,
                               IMAGE_SECTORS - 4, 8, 0), ==,
                     VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(blk_range(&b, VIRTIO_BLK_T_DISCARD, IMAGE_SECTORS, 1, 0),
                     ==, VIRTIO_BLK_S_IOERR);
    check_initial(&b, IMAGE_SECTORS - 4, 4);
    g_assert_cmpuint(blk_range(&b, VIRTIO_BLK_T_WRITE_ZEROES, 512, 8, 0x80),
                     ==, VIRTIO_BLK_S_UNSUPP);
    /* UNMAP means nothing to a DISCARD: UNSUPP too (virtio 1.2 5.2.6.2). */
    g_assert_cmpuint(blk_range(&b, VIRTIO_BLK_T_DISCARD, 512, 8,
                               VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP), ==,
                     VIRTIO_BLK_S_UNSUPP);
    check_initial(&b, 512, 8);
    blk_stop(&b);
}

/*
 * After a broken ring: DEVICE_NEEDS_RESET with a config interrupt
 * (virtio 1.2 2.1.2, as QEMU's virtio_error() does for a VERSION_1
 * driver); a reset and a new initialisation bring the device back.
 */
static void check_needs_reset_then_reset(Blk *b)
{
    QVirtioDevice *vdev = &b->dev->vdev;

    DM_WAIT_UNTIL(blk_status(b) & STATUS_NEEDS_RESET);
    g_assert_cmphex(blk_status(b) & STATUS_NEEDS_RESET, ==,
                    STATUS_NEEDS_RESET);
    /* The driver's bits are still there. */
    g_assert_true(blk_status(b) & VIRTIO_CONFIG_S_DRIVER_OK);
    g_assert_true(wait_isr(b, 2));

    qvirtio_reset(vdev);                /* asserts status 0 */
    qvirtqueue_cleanup(vdev->bus, b->vq, &b->alloc);
    blk_driver_init(b);
    g_assert_cmphex(blk_status(b) & STATUS_NEEDS_RESET, ==, 0);
    check_initial(b, 0, 8);
    check_initial(b, 1000, 2);
}

/* A chain that loops: desc[h] -> desc[h+1] -> desc[h]. */
static void test_bad_chain_loop(const void *data)
{
    Blk b = { 0 };
    BlkReqHdr hdr = { .type = cpu_to_le32(VIRTIO_BLK_T_IN) };
    uint64_t ghdr;
    uint32_t head;
    uint16_t next;

    blk_start(&b, data);
    check_initial(&b, 0, 1);
    ghdr = guest_alloc(&b.alloc, sizeof(hdr));
    qtest_memwrite(b.qts, ghdr, &hdr, sizeof(hdr));
    head = qvirtqueue_add(b.qts, b.vq, ghdr, sizeof(hdr), false, true);
    qvirtqueue_add(b.qts, b.vq, ghdr, sizeof(hdr), false, true);
    next = cpu_to_le16(head);
    qtest_memwrite(b.qts, b.vq->desc + 16 * (head + 1) + 14, &next,
                   sizeof(next));
    qvirtqueue_kick(b.qts, &b.dev->vdev, b.vq, head);
    check_needs_reset_then_reset(&b);
    blk_stop(&b);
}

/*
 * A chain whose next index leaves the descriptor table (virtio 1.2
 * 2.7.5.2: the device must not follow it).
 */
static void test_bad_chain_next(const void *data)
{
    Blk b = { 0 };
    BlkReqHdr hdr = { .type = cpu_to_le32(VIRTIO_BLK_T_IN) };
    uint64_t ghdr;
    uint32_t head;
    uint16_t next = cpu_to_le16(0x7fff);

    blk_start(&b, data);
    ghdr = guest_alloc(&b.alloc, sizeof(hdr));
    qtest_memwrite(b.qts, ghdr, &hdr, sizeof(hdr));
    head = qvirtqueue_add(b.qts, b.vq, ghdr, sizeof(hdr), false, true);
    qtest_memwrite(b.qts, b.vq->desc + 16 * head + 14, &next, sizeof(next));
    qvirtqueue_kick(b.qts, &b.dev->vdev, b.vq, head);
    check_needs_reset_then_reset(&b);
    blk_stop(&b);
}

/*
 * An indirect descriptor whose table is not a whole number of
 * descriptors (virtio 1.2 2.7.5.3.1: the driver must not; both devices
 * refuse to walk it).
 */
static void test_bad_indirect(const void *data)
{
    Blk b = { 0 };
    uint64_t table;
    uint32_t head;
    uint16_t flags = cpu_to_le16(VRING_DESC_F_INDIRECT);

    blk_start(&b, data);
    table = guest_alloc(&b.alloc, 64);
    qtest_memset(b.qts, table, 0, 64);
    head = qvirtqueue_add(b.qts, b.vq, table, 40, false, false);
    qtest_memwrite(b.qts, b.vq->desc + 16 * head + 12, &flags,
                   sizeof(flags));
    qvirtqueue_kick(b.qts, &b.dev->vdev, b.vq, head);
    check_needs_reset_then_reset(&b);
    blk_stop(&b);
}

/*
 * Remote-only: a request header at an address outside guest memory
 * (448 GiB, past the 256 MiB of RAM).  The model cannot read it and
 * needs a reset.  QEMU's device does not: dma_memory_map() of an
 * unassigned address succeeds through address_space_map()'s bounce
 * buffer, so the header is read as whatever unassigned memory reads as
 * and the request goes on; virtio 1.2 leaves the device that choice.
 */
static void test_bad_address(const void *data)
{
    Blk b = { 0 };
    uint64_t gstatus;
    uint32_t head;

    blk_start(&b, data);
    gstatus = guest_alloc(&b.alloc, 1);
    head = qvirtqueue_add(b.qts, b.vq, 0x7000000000ull, 16, false, true);
    qvirtqueue_add(b.qts, b.vq, gstatus, 1, true, false);
    qvirtqueue_kick(b.qts, &b.dev->vdev, b.vq, head);
    check_needs_reset_then_reset(&b);
    blk_stop(&b);
}

/*
 * A read-only disk: F_RO offered (test_features), writes refused with
 * IOERR and the file untouched, reads and flushes served.
 */
static void test_readonly(const void *data)
{
    Blk b = { 0 };
    const uint32_t len = 4 * SECTOR;
    g_autofree uint8_t *out = g_malloc(len);

    blk_start(&b, data);
    g_assert_true(b.features & (1ull << VIRTIO_BLK_F_RO));
    fill(out, len, 0x42);
    g_assert_cmpuint(blk_request(&b, VIRTIO_BLK_T_OUT, 8, out, len, false),
                     ==, VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(blk_request(&b, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false),
                     ==, VIRTIO_BLK_S_OK);
    check_initial(&b, 8, 4);
    image_read(&b, 8, out, len);
    for (uint32_t i = 0; i < len; i++) {
        g_assert_cmphex(out[i], ==, image_byte(8 * SECTOR + i));
    }
    blk_stop(&b);
}

/* ---- Doorbells (GET_REGION_IO_FDS) ---- */

/* The proxy's counter @key in query-remote-devices. */
static uint64_t proxy_stat(Blk *b, const char *key)
{
    QDict *rsp = qtest_qmp(b->qts, "{'execute': 'query-remote-devices'}");
    QList *list = qdict_get_qlist(rsp, "return");
    QDict *dev = qobject_to(QDict, qlist_peek(list));
    uint64_t v;

    g_assert_nonnull(dev);
    v = qdict_get_int(dev, key);
    qobject_unref(rsp);
    return v;
}

/*
 * The queue's notify address is the model's doorbell: over UNIX the
 * proxy rings its eventfd (no message: the kicks count), over TCP it
 * knows the address but sends the kick as a message, with ioeventfd=off
 * it does not ask.  Requests are served each way.
 */
static void test_doorbell(const void *data)
{
    const BlkTest *t = data;
    bool by_fd = t->backend == BLK_PROXY_SHARED && !t->no_ioeventfd;
    uint8_t in[SECTOR];
    uint64_t kicks, doorbells;
    Blk b = { 0 };

    blk_start(&b, t);
    /* One per queue the model may show (queues=0: up to 4, by vCPUs). */
    doorbells = proxy_stat(&b, "doorbells");
    if (t->no_ioeventfd) {
        g_assert_cmpuint(doorbells, ==, 0);
    } else {
        g_assert_cmpuint(doorbells, >=, 1);
        g_assert_cmpuint(doorbells, <=, 4);
    }
    g_assert_cmpuint(proxy_stat(&b, "ioeventfds"), ==, by_fd ? doorbells : 0);
    kicks = proxy_stat(&b, "kicks");
    for (uint64_t sector = 0; sector < 3; sector++) {
        g_assert_cmpuint(blk_request(&b, VIRTIO_BLK_T_IN, sector, in, SECTOR,
                                     true), ==, VIRTIO_BLK_S_OK);
        for (uint32_t i = 0; i < SECTOR; i++) {
            g_assert_cmphex(in[i], ==, image_byte(sector * SECTOR + i));
        }
    }
    g_assert_cmpuint(proxy_stat(&b, "kicks"), ==, kicks + (by_fd ? 3 : 0));
    blk_stop(&b);
}

/*
 * A restarted model has new eventfds: the proxy drops the old ones when
 * it loses the model and asks again when it is back.
 */
static void test_doorbell_reconnect(const void *data)
{
    Blk b = { 0 };
    uint64_t n;

    blk_start(&b, data);
    n = proxy_stat(&b, "ioeventfds");
    g_assert_cmpuint(n, >=, 1);
    dm_remote_kill(b.remote);
    DM_WAIT_UNTIL(proxy_stat(&b, "ioeventfds") == 0);
    g_assert_cmpuint(proxy_stat(&b, "ioeventfds"), ==, 0);
    dm_remote_restart(b.remote);
    qtest_qmp_eventwait(b.qts, "REMOTE_DEVICE_RECONNECTED");
    g_assert_cmpuint(proxy_stat(&b, "doorbells"), ==, n);
    g_assert_cmpuint(proxy_stat(&b, "ioeventfds"), ==, n);
    /* The model is a fresh one: the driver starts it again, and uses it. */
    qvirtqueue_cleanup(b.dev->vdev.bus, b.vq, &b.alloc);
    blk_driver_init(&b);
    check_initial(&b, 0, 1);
    blk_stop(&b);
}

int main(int argc, char **argv)
{
    static const BlkTest doorbell_params[] = {
        { BLK_PROXY_SHARED },
        { BLK_PROXY_TCP },
        { BLK_PROXY_SHARED, false, true },
    };
    static const struct {
        const char *name;
        BlkBackend backend;
    } backends[] = {
        { "local", BLK_LOCAL },
        { "proxy-shared", BLK_PROXY_SHARED },
        { "proxy-tcp", BLK_PROXY_TCP },
        { "proxy-tcp-plain", BLK_PROXY_TCP_PLAIN },
        { "upstream-shared", BLK_UPSTREAM_SHARED },
    };
    static const struct {
        const char *name;
        void (*fn)(const void *);
        bool readonly;
        bool remote_only;
    } tests[] = {
        { "features", test_features },
        { "rw-flush", test_rw_flush },
        { "get-id", test_get_id },
        { "discard-write-zeroes", test_discard_zeroes },
        { "bad-chain-loop", test_bad_chain_loop },
        { "bad-chain-next", test_bad_chain_next },
        { "bad-indirect-size", test_bad_indirect },
        { "bad-address", test_bad_address, false, true },
        { "readonly/features", test_features, true },
        { "readonly/writes", test_readonly, true },
    };
    static BlkTest params[G_N_ELEMENTS(backends)][2];

    g_test_init(&argc, &argv, NULL);
    for (size_t bi = 0; bi < G_N_ELEMENTS(backends); bi++) {
        for (int ro = 0; ro < 2; ro++) {
            params[bi][ro] = (BlkTest) { backends[bi].backend, ro };
        }
        for (size_t ti = 0; ti < G_N_ELEMENTS(tests); ti++) {
            g_autofree char *path = NULL;

            if (tests[ti].remote_only && backends[bi].backend == BLK_LOCAL) {
                continue;
            }
            path = g_strdup_printf("/dm/virtio-blk/%s/%s", backends[bi].name,
                                   tests[ti].name);
            qtest_add_data_func(path, &params[bi][tests[ti].readonly],
                                tests[ti].fn);
        }
    }
    qtest_add_data_func("/dm/virtio-blk/proxy-shared/doorbell",
                        &doorbell_params[0], test_doorbell);
    qtest_add_data_func("/dm/virtio-blk/proxy-tcp/doorbell",
                        &doorbell_params[1], test_doorbell);
    qtest_add_data_func("/dm/virtio-blk/proxy-shared/doorbell-ioeventfd-off",
                        &doorbell_params[2], test_doorbell);
    qtest_add_data_func("/dm/virtio-blk/proxy-shared/doorbell-reconnect",
                        &doorbell_params[0], test_doorbell_reconnect);
    return g_test_run();
}
