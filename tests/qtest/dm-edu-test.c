/*
 * edu, one test body, five back ends:
 *   local          QEMU's built-in -device edu
 *   remote-shared  upstream vfio-user-pci -> dm-remote edu, guest RAM in a
 *                  shared memfd: the model reaches it directly
 *   remote-msg     the same with private RAM: the model's DMA travels as
 *                  DMA_READ/DMA_WRITE messages
 *   proxy-shared   our dm-proxy-pci -> dm-remote edu, shared memfd RAM
 *   proxy-msg      the same with private RAM (DMA as messages)
 *   proxy-tcp      dm-proxy-pci -> dm-remote edu over TCP loopback: no
 *                  descriptors, so DMA and interrupts travel as messages
 *   proxy-tls      the same over TLS: a tls-creds-x509 object in QEMU,
 *                  --tls-creds in dm-remote, certificates of both ends
 *                  verified (made by tests/net/make-certs.sh)
 *   proxy-qemu-server  dm-proxy-pci -> QEMU's own x-vfio-user-server
 *                  (libvfio-user) hosting QEMU's edu, shared RAM
 * Every check is the same for all of them.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "libqtest.h"
#include "libqos/libqos-malloc.h"
#include "libqos/malloc-pc.h"
#include "libqos/pci-pc.h"
#include "hw/pci/pci_regs.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"

#include "dm-qtest-util.h"

#define EDU_SLOT        4
#define EDU_GSI         11      /* every PIRQ routed here, see edu_start */
#define DMA_BUF         0x40000

typedef enum EduBackend {
    EDU_LOCAL,
    EDU_REMOTE_SHARED,
    EDU_REMOTE_MSG,
    EDU_PROXY_SHARED,
    EDU_PROXY_MSG,
    EDU_PROXY_QEMU_SERVER,
    EDU_PROXY_TCP,
    EDU_PROXY_TLS,
} EduBackend;

typedef struct Edu {
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar bar;
    DmRemote *remote;
    uint64_t scratch;           /* guest RAM the poll loops read */
    char *cmdline;              /* QEMU's, for a migration target */
} Edu;

/* No BIOS ran: route PIIX3's four PIRQs to one ISA IRQ ourselves. */
static void edu_route_intx(Edu *e)
{
    QPCIDevice *piix = qpci_device_find(e->bus, QPCI_DEVFN(1, 0));

    g_assert_nonnull(piix);
    for (int i = 0; i < 4; i++) {
        qpci_config_writeb(piix, 0x60 + i, EDU_GSI);
    }
    g_free(piix);
}

/* Extra dm-proxy-pci properties, for the fault tests. */
static const char *proxy_opts = "";
/* The dm-remote model: "edu-msix" for the MSI-X tests. */
static const char *edu_model = "edu";
/* Extra QEMU arguments, for the VM clock's TCG run. */
static const char *machine_opts = "";

static void edu_start(Edu *e, EduBackend b)
{
    g_autofree char *device = NULL;
    const char *memory = "-m 256M";

    if (b == EDU_PROXY_TLS) {
        const char *certs = g_getenv("DM_TLS_DIR");
        g_autofree char *creds = NULL;
        const char *args[] = { "--tls-creds", NULL, NULL };

        g_assert_nonnull(certs);
        creds = g_build_filename(certs, "server", NULL);
        args[1] = creds;
        e->remote = dm_remote_start_tcp(edu_model, args);
        device = g_strdup_printf("-object tls-creds-x509,id=tls0,"
                                 "endpoint=client,dir=%s/client "
                                 "-device dm-proxy-pci,addr=%02x.0,"
                                 "server=%s,tls-creds=tls0%s", certs,
                                 EDU_SLOT, e->remote->connect, proxy_opts);
    } else if (b == EDU_LOCAL) {
        device = g_strdup_printf("-device edu,addr=%02x.0", EDU_SLOT);
    } else if (b == EDU_PROXY_TCP) {
        e->remote = dm_remote_start_tcp(edu_model, NULL);
        device = g_strdup_printf("-device dm-proxy-pci,addr=%02x.0,"
                                 "server=%s%s", EDU_SLOT, e->remote->connect,
                                 proxy_opts);
    } else if (b == EDU_PROXY_SHARED || b == EDU_PROXY_MSG ||
               b == EDU_PROXY_QEMU_SERVER) {
        e->remote = b == EDU_PROXY_QEMU_SERVER ?
                    dm_qemu_server_start("edu") :
                    dm_remote_start(edu_model, NULL);
        device = g_strdup_printf("-device dm-proxy-pci,addr=%02x.0,"
                                 "server=unix:%s%s", EDU_SLOT,
                                 e->remote->socket_path, proxy_opts);
    } else {
        e->remote = dm_remote_start(edu_model, NULL);
        device = g_strdup_printf("-device '{\"driver\":\"vfio-user-pci\","
                                 "\"addr\":\"%02x.0\",\"socket\":{\"type\":"
                                 "\"unix\",\"path\":\"%s\"}}'", EDU_SLOT,
                                 e->remote->socket_path);
    }
    if (b == EDU_REMOTE_SHARED || b == EDU_PROXY_SHARED ||
        b == EDU_PROXY_QEMU_SERVER || b == EDU_PROXY_TCP) {
        memory = "-m 256M -object memory-backend-memfd,id=ram,size=256M,"
                 "share=on -machine memory-backend=ram";
    }
    e->cmdline = g_strdup_printf("-machine pc %s %s %s", memory, device,
                                 machine_opts);
    e->qts = qtest_init(e->cmdline);
    pc_alloc_init(&e->alloc, e->qts, 0);
    e->bus = qpci_new_pc(e->qts, &e->alloc);
    e->dev = qpci_device_find(e->bus, QPCI_DEVFN(EDU_SLOT, 0));
    g_assert_nonnull(e->dev);
    qpci_device_enable(e->dev);
    e->bar = qpci_iomap(e->dev, 0, NULL);
    e->scratch = guest_alloc(&e->alloc, 4096);

    edu_route_intx(e);
    qtest_irq_intercept_in(e->qts, "ioapic");
}

static void edu_stop(Edu *e)
{
    g_free(e->dev);
    qpci_free_pc(e->bus);
    alloc_destroy(&e->alloc);
    qtest_quit(e->qts);
    if (e->remote) {
        dm_remote_stop(e->remote);
    }
    g_free(e->cmdline);
}

static uint32_t edu_readl(Edu *e, uint64_t off)
{
    return qpci_io_readl(e->dev, e->bar, off);
}

static void edu_writel(Edu *e, uint64_t off, uint32_t val)
{
    qpci_io_writel(e->dev, e->bar, off, val);
}

static void edu_writeq(Edu *e, uint64_t off, uint64_t val)
{
    qpci_io_writeq(e->dev, e->bar, off, val);
}

/*
 * The INTx line as the interrupt controller sees it.  The guest RAM read
 * lets QEMU's main loop run (a remote model's eventfd is handled there)
 * without touching the BAR, which for vfio-pci would end the interrupt.
 */
static bool edu_irq(Edu *e)
{
    qtest_readb(e->qts, e->scratch);
    return qtest_get_irq(e->qts, EDU_GSI);
}

/*
 * Is the line low, as a guest's handler would find it?  With a remote
 * model, an interrupt signalled just before the level dropped may still
 * be in flight; the next BAR access ends it (VFIO's EOI), so poll with
 * one that has no side effect.
 */
static bool edu_irq_low(Edu *e)
{
    edu_readl(e, 0x00);
    return !edu_irq(e);
}

static void test_registers(const void *data)
{
    Edu e = { 0 };

    edu_start(&e, GPOINTER_TO_INT(data));
    g_assert_cmphex(qpci_config_readw(e.dev, PCI_VENDOR_ID), ==, 0x1234);
    g_assert_cmphex(qpci_config_readw(e.dev, PCI_DEVICE_ID), ==, 0x11e8);
    g_assert_cmphex(qpci_config_readb(e.dev, PCI_REVISION_ID), ==, 0x10);
    g_assert_cmphex(edu_readl(&e, 0x00), ==, 0x010000ed);

    /* Liveness: the register reads back the inverse. */
    edu_writel(&e, 0x04, 0x12345678);
    g_assert_cmphex(edu_readl(&e, 0x04), ==, 0xedcba987);
    edu_writel(&e, 0x04, 0);
    g_assert_cmphex(edu_readl(&e, 0x04), ==, 0xffffffff);

    /* Identification is read-only; unknown offsets read all-ones. */
    edu_writel(&e, 0x00, 0);
    g_assert_cmphex(edu_readl(&e, 0x00), ==, 0x010000ed);
    g_assert_cmphex(edu_readl(&e, 0x40), ==, 0xffffffff);
    edu_stop(&e);
}

static void test_factorial(const void *data)
{
    Edu e = { 0 };

    edu_start(&e, GPOINTER_TO_INT(data));
    edu_writel(&e, 0x08, 10);
    DM_WAIT_UNTIL(!(edu_readl(&e, 0x20) & 0x01));
    g_assert_cmphex(edu_readl(&e, 0x20) & 0x01, ==, 0);
    g_assert_cmpuint(edu_readl(&e, 0x08), ==, 3628800);

    /* With status bit 0x80 the end of the computation raises IRQ 0x1. */
    edu_writel(&e, 0x20, 0x80);
    edu_writel(&e, 0x08, 5);
    DM_WAIT_UNTIL(edu_irq(&e));
    g_assert_true(edu_irq(&e));
    g_assert_cmpuint(edu_readl(&e, 0x08), ==, 120);
    g_assert_cmphex(edu_readl(&e, 0x24), ==, 0x1);
    edu_writel(&e, 0x64, 0x1);
    DM_WAIT_UNTIL(edu_irq_low(&e));
    g_assert_true(edu_irq_low(&e));
    g_assert_cmphex(edu_readl(&e, 0x24), ==, 0);
    edu_stop(&e);
}

static void test_intx(const void *data)
{
    Edu e = { 0 };

    edu_start(&e, GPOINTER_TO_INT(data));
    g_assert_false(edu_irq(&e));
    edu_writel(&e, 0x60, 0x1234);
    DM_WAIT_UNTIL(edu_irq(&e));
    g_assert_true(edu_irq(&e));
    g_assert_cmphex(edu_readl(&e, 0x24), ==, 0x1234);

    /* Acknowledging part of it keeps the line up. */
    edu_writel(&e, 0x64, 0x1000);
    g_assert_cmphex(edu_readl(&e, 0x24), ==, 0x0234);
    DM_WAIT_UNTIL(edu_irq(&e));
    g_assert_true(edu_irq(&e));

    edu_writel(&e, 0x64, 0x0234);
    DM_WAIT_UNTIL(edu_irq_low(&e));
    g_assert_true(edu_irq_low(&e));
    g_assert_cmphex(edu_readl(&e, 0x24), ==, 0);
    edu_stop(&e);
}

static void test_msi(const void *data)
{
    Edu e = { 0 };
    uint8_t cap;
    uint16_t ctrl;
    uint64_t msg;

    edu_start(&e, GPOINTER_TO_INT(data));
    msg = guest_alloc(&e.alloc, 4);
    qtest_writel(e.qts, msg, 0);

    /* Point the MSI message at guest RAM, where the test can see it. */
    cap = qpci_find_capability(e.dev, PCI_CAP_ID_MSI, 0);
    g_assert_cmpuint(cap, !=, 0);
    ctrl = qpci_config_readw(e.dev, cap + PCI_MSI_FLAGS);
    g_assert_true(ctrl & PCI_MSI_FLAGS_64BIT);
    qpci_config_writel(e.dev, cap + PCI_MSI_ADDRESS_LO, msg);
    qpci_config_writel(e.dev, cap + PCI_MSI_ADDRESS_HI, 0);
    qpci_config_writew(e.dev, cap + PCI_MSI_DATA_64, 0x5a5a);
    qpci_config_writew(e.dev, cap + PCI_MSI_FLAGS, ctrl | PCI_MSI_FLAGS_ENABLE);

    edu_writel(&e, 0x60, 0x8);
    DM_WAIT_UNTIL(qtest_readl(e.qts, msg) == 0x5a5a);
    g_assert_cmphex(qtest_readl(e.qts, msg), ==, 0x5a5a);
    g_assert_cmphex(edu_readl(&e, 0x24), ==, 0x8);
    g_assert_false(edu_irq(&e));        /* MSI, not INTx */

    /* Each raise is one more message. */
    qtest_writel(e.qts, msg, 0);
    edu_writel(&e, 0x60, 0x10);
    DM_WAIT_UNTIL(qtest_readl(e.qts, msg) == 0x5a5a);
    g_assert_cmphex(qtest_readl(e.qts, msg), ==, 0x5a5a);
    edu_writel(&e, 0x64, 0x18);
    g_assert_cmphex(edu_readl(&e, 0x24), ==, 0);
    edu_stop(&e);
}

static void edu_dma(Edu *e, uint64_t src, uint64_t dst, uint32_t len,
                    uint32_t cmd)
{
    edu_writeq(e, 0x80, src);
    edu_writeq(e, 0x88, dst);
    edu_writeq(e, 0x90, len);
    edu_writeq(e, 0x98, cmd);
    /* QEMU's edu waits on the virtual clock, a remote one on its own. */
    qtest_clock_step(e->qts, 200 * 1000 * 1000);
    DM_WAIT_UNTIL(!(qpci_io_readq(e->dev, e->bar, 0x98) & 1));
    g_assert_cmphex(qpci_io_readq(e->dev, e->bar, 0x98) & 1, ==, 0);
}

static void test_dma(const void *data)
{
    Edu e = { 0 };
    const uint32_t len = 3000;
    g_autofree uint8_t *pattern = g_malloc(len);
    g_autofree uint8_t *back = g_malloc0(len);
    uint64_t src, dst;

    edu_start(&e, GPOINTER_TO_INT(data));
    src = guest_alloc(&e.alloc, len);
    dst = guest_alloc(&e.alloc, len);
    for (uint32_t i = 0; i < len; i++) {
        pattern[i] = i * 7 + 3;
    }
    qtest_memwrite(e.qts, src, pattern, len);
    qtest_memset(e.qts, dst, 0, len);

    /* RAM -> device buffer, no interrupt. */
    edu_dma(&e, src, DMA_BUF + 0x100, len, 0x1);
    g_assert_false(edu_irq(&e));

    /* Device buffer -> RAM, with interrupt 0x100. */
    edu_dma(&e, DMA_BUF + 0x100, dst, len, 0x1 | 0x2 | 0x4);
    qtest_memread(e.qts, dst, back, len);
    g_assert_cmpmem(back, len, pattern, len);
    DM_WAIT_UNTIL(edu_irq(&e));
    g_assert_true(edu_irq(&e));
    g_assert_cmphex(edu_readl(&e, 0x24), ==, 0x100);
    edu_writel(&e, 0x64, 0x100);
    DM_WAIT_UNTIL(edu_irq_low(&e));
    g_assert_true(edu_irq_low(&e));

    edu_stop(&e);
}

/* Start a 64-byte DMA into the device's buffer (cmd bit 0: running). */
static void edu_dma_start(Edu *e)
{
    uint64_t src = guest_alloc(&e->alloc, 64);

    edu_writeq(e, 0x80, src);
    edu_writeq(e, 0x88, DMA_BUF);
    edu_writeq(e, 0x90, 64);
    edu_writeq(e, 0x98, 0x1);
}

static bool edu_dma_running(Edu *e)
{
    return qpci_io_readq(e->dev, e->bar, 0x98) & 1;
}

/*
 * The model times edu's DMA (100 ms) on the VM's clock, as QEMU's edu
 * does: it stands still while the VM is stopped.  Under -accel qtest the
 * virtual clock moves only with clock_step: the model follows it.
 */
static void test_vm_clock_stepped(const void *data)
{
    Edu e = { 0 };

    edu_start(&e, GPOINTER_TO_INT(data));
    qtest_qmp_assert_success(e.qts, "{'execute': 'stop'}");
    edu_dma_start(&e);
    g_usleep(300 * 1000);
    g_assert_true(edu_dma_running(&e));         /* a paused VM's clock */

    qtest_qmp_assert_success(e.qts, "{'execute': 'cont'}");
    qtest_clock_step(e.qts, 90 * 1000 * 1000);
    g_usleep(300 * 1000);
    g_assert_true(edu_dma_running(&e));         /* 90 ms: not yet */
    qtest_clock_step(e.qts, 20 * 1000 * 1000);
    DM_WAIT_UNTIL(!edu_dma_running(&e));
    g_assert_false(edu_dma_running(&e));
    edu_stop(&e);
}

/*
 * The same with a VM whose clock runs with the host's (TCG; the guest
 * only halts: its BIOS is 64 KiB of HLT).  Stopped, the DMA waits;
 * running again, it completes.
 */
static void test_vm_clock_tcg(const void *data)
{
    g_autofree char *dir = g_dir_make_tmp("dm-edu-XXXXXX", NULL);
    g_autofree char *bios = g_build_filename(dir, "hlt.bin", NULL);
    g_autofree char *opts = NULL;
    g_autofree char *rom = g_malloc(64 * 1024);
    Edu e = { 0 };

    memset(rom, 0xf4, 64 * 1024);
    g_assert_true(g_file_set_contents(bios, rom, 64 * 1024, NULL));
    opts = g_strdup_printf("-accel tcg -bios %s", bios);
    machine_opts = opts;
    edu_start(&e, GPOINTER_TO_INT(data));
    machine_opts = "";

    qtest_qmp_assert_success(e.qts, "{'execute': 'stop'}");
    edu_dma_start(&e);
    g_usleep(300 * 1000);
    g_assert_true(edu_dma_running(&e));         /* a paused VM's clock */
    qtest_qmp_assert_success(e.qts, "{'execute': 'cont'}");
    DM_WAIT_UNTIL(!edu_dma_running(&e));
    g_assert_false(edu_dma_running(&e));
    edu_stop(&e);
    unlink(bios);
    rmdir(dir);
}

/* Interrupts and DMA work: the proxy's setup reached the model. */
static void check_edu_works(Edu *e)
{
    const uint32_t len = 64;
    uint8_t in[64], out[64];
    uint64_t src = guest_alloc(&e->alloc, len);
    uint64_t dst = guest_alloc(&e->alloc, len);

    g_assert_cmphex(edu_readl(e, 0x00), ==, 0x010000ed);
    edu_writel(e, 0x60, 0x1);
    DM_WAIT_UNTIL(edu_irq(e));
    g_assert_true(edu_irq(e));
    edu_writel(e, 0x64, 0x1);
    DM_WAIT_UNTIL(edu_irq_low(e));
    g_assert_true(edu_irq_low(e));

    for (uint32_t i = 0; i < len; i++) {
        in[i] = 0xa0 + i;
    }
    qtest_memwrite(e->qts, src, in, len);
    edu_dma(e, src, DMA_BUF, len, 0x1);
    edu_dma(e, DMA_BUF, dst, len, 0x1 | 0x2);
    qtest_memread(e->qts, dst, out, len);
    g_assert_cmpmem(in, len, out, len);
}

/*
 * The model dies: QEMU survives, reads give all-ones and writes are
 * dropped; a new model on the same address is found again, with the
 * DMA windows and interrupt wiring replayed.
 */
/* query-remote-devices' entry for our one proxy. */
static QDict *remote_device_info(Edu *e)
{
    QDict *rsp = qtest_qmp(e->qts, "{'execute': 'query-remote-devices'}");
    QList *list = qdict_get_qlist(rsp, "return");
    QDict *info;

    g_assert_cmpuint(qlist_size(list), ==, 1);
    info = qobject_to(QDict, qlist_peek(list));
    qobject_ref(info);
    qobject_unref(rsp);
    return info;
}

/* Buckets and bounds of a proxy's latency histogram (qapi: 1 us .. ~1 s). */
#define LAT_BUCKETS     22

/* The round trips' histogram: buckets, count and sum, from @info. */
typedef struct Latency {
    uint64_t requests;
    uint64_t buckets[LAT_BUCKETS];
    uint64_t count;
    uint64_t sum_ns;
} Latency;

static void latency_get(Edu *e, Latency *l)
{
    QDict *info = remote_device_info(e);
    QDict *lat = qdict_get_qdict(info, "latency");
    const QListEntry *entry;
    uint64_t sum = 0;
    int i = 0;

    g_assert_nonnull(lat);
    l->requests = qdict_get_int(info, "requests");
    QLIST_FOREACH_ENTRY(qdict_get_qlist(lat, "buckets"), entry) {
        g_assert_cmpint(i, <, LAT_BUCKETS);
        l->buckets[i] = qnum_get_uint(qobject_to(QNum, entry->value));
        sum += l->buckets[i++];
    }
    g_assert_cmpint(i, ==, LAT_BUCKETS);
    l->count = qdict_get_int(lat, "count");
    l->sum_ns = qdict_get_int(lat, "sum-ns");
    g_assert_cmpuint(l->count, ==, sum);
    qobject_unref(info);
}

/*
 * query-remote-devices' latency histogram counts each round trip once:
 * N reads add N to it and to requests; M posted writes add M requests
 * and no round trip (they wait for no reply).
 */
static void test_latency(const void *data)
{
    enum { N = 64, M = 16 };
    Edu e = { 0 };
    Latency a, b, c;

    edu_start(&e, GPOINTER_TO_INT(data));
    /* The first access may post the VM clock: the counts start after. */
    g_assert_cmphex(edu_readl(&e, 0x00), ==, 0x010000ed);
    latency_get(&e, &a);
    g_assert_cmpuint(a.count, >, 0);                /* set-up, that read */
    g_assert_cmpuint(a.sum_ns, >, 0);
    for (int i = 0; i < N; i++) {
        g_assert_cmphex(edu_readl(&e, 0x00), ==, 0x010000ed);
    }
    latency_get(&e, &b);
    g_assert_cmpuint(b.requests - a.requests, ==, N);
    g_assert_cmpuint(b.count - a.count, ==, N);
    g_assert_cmpuint(b.sum_ns, >, a.sum_ns);

    /* edu maps nothing, so its writes are posted. */
    {
        QDict *info = remote_device_info(&e);

        g_assert_cmpint(qdict_get_int(info, "mapped"), ==, 0);
        qobject_unref(info);
    }
    for (int i = 0; i < M; i++) {
        edu_writel(&e, 0x04, i);
    }
    latency_get(&e, &c);
    g_assert_cmpuint(c.requests - b.requests, ==, M);
    g_assert_cmpuint(c.count, ==, b.count);
    g_assert_cmphex(edu_readl(&e, 0x04), ==, ~(uint32_t)(M - 1));
    edu_stop(&e);
}

static void test_fault_kill_restart(const void *data)
{
    Edu e = { 0 };
    QDict *info, *ev;
    EduBackend b = GPOINTER_TO_INT(data);

    edu_start(&e, b);
    check_edu_works(&e);
    info = remote_device_info(&e);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "connected");
    g_assert_cmpstr(qdict_get_str(info, "type"), ==, "dm-proxy-pci");
    g_assert_cmpuint(qdict_get_int(info, "requests"), >, 0);
    g_assert_cmpuint(qdict_get_int(info, "reconnects"), ==, 0);
    qobject_unref(info);
    dm_remote_kill(e.remote);

    g_assert_cmphex(edu_readl(&e, 0x00), ==, 0xffffffff);
    edu_writel(&e, 0x04, 0x1234);
    g_assert_cmphex(edu_readl(&e, 0x04), ==, 0xffffffff);
    ev = qtest_qmp_eventwait_ref(e.qts, "REMOTE_DEVICE_DISCONNECTED");
    if (b == EDU_PROXY_SHARED) {
        g_assert_cmpstr(qdict_get_str(qdict_get_qdict(ev, "data"), "reason"),
                        ==, "connection closed");
    }
    qobject_unref(ev);
    info = remote_device_info(&e);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "disconnected");
    g_assert_cmpuint(qdict_get_int(info, "errors"), >, 0);
    qobject_unref(info);

    dm_remote_restart(e.remote);
    qtest_qmp_eventwait(e.qts, "REMOTE_DEVICE_RECONNECTED");
    DM_WAIT_UNTIL(edu_readl(&e, 0x00) == 0x010000ed);
    check_edu_works(&e);
    info = remote_device_info(&e);
    g_assert_cmpstr(qdict_get_str(info, "state"), ==, "connected");
    g_assert_cmpuint(qdict_get_int(info, "reconnects"), ==, 1);
    qobject_unref(info);
    edu_stop(&e);
}

/* Poll @qts's @query until its "status" is @status (bounded). */
static bool qmp_status_is(QTestState *qts, const char *query,
                          const char *status)
{
    g_autofree char *cmd = g_strdup_printf("{'execute': '%s'}", query);
    QDict *rsp = qtest_qmp(qts, cmd);
    QDict *ret = qdict_get_qdict(rsp, "return");
    bool is = ret && qdict_haskey(ret, "status") &&
              g_str_equal(qdict_get_str(ret, "status"), status);

    qobject_unref(rsp);
    return is;
}

/*
 * Migration with the model left where it is: a target QEMU connects to
 * the same model as a standby while the source drives it, the source lets
 * go when the migration is done, the target takes over.  The model's
 * state (registers, a finished computation) is intact on the target, and
 * interrupts and DMA work there.
 */
static void test_migrate(const void *data)
{
    EduBackend b = GPOINTER_TO_INT(data);
    g_autofree char *uri = NULL;
    g_autofree char *target_cmd = NULL;
    Edu e = { 0 }, t = { 0 };

    edu_start(&e, b);
    uri = g_strdup_printf("unix:%s/migrate.sock", e.remote->dir);
    edu_writel(&e, 0x04, 0x12345678);
    edu_writel(&e, 0x08, 5);
    DM_WAIT_UNTIL(!(edu_readl(&e, 0x20) & 0x1));
    g_assert_cmpuint(edu_readl(&e, 0x08), ==, 120);

    target_cmd = g_strdup_printf("%s -incoming defer", e.cmdline);
    t.qts = qtest_init(target_cmd);
    qtest_qmp_assert_success(t.qts, "{'execute': 'migrate-incoming',"
                             " 'arguments': {'uri': %s}}", uri);
    qtest_qmp_assert_success(e.qts, "{'execute': 'migrate',"
                             " 'arguments': {'uri': %s}}", uri);
    DM_WAIT_UNTIL(qmp_status_is(e.qts, "query-migrate", "completed"));
    g_assert_true(qmp_status_is(e.qts, "query-migrate", "completed"));
    DM_WAIT_UNTIL(qmp_status_is(t.qts, "query-status", "running"));
    g_assert_true(qmp_status_is(t.qts, "query-status", "running"));

    /* The target: same guest RAM and PCI set-up, the same model. */
    pc_alloc_init(&t.alloc, t.qts, 0);
    t.bus = qpci_new_pc(t.qts, &t.alloc);
    t.dev = qpci_device_find(t.bus, QPCI_DEVFN(EDU_SLOT, 0));
    g_assert_nonnull(t.dev);
    t.bar = e.bar;
    t.scratch = e.scratch;
    qtest_irq_intercept_in(t.qts, "ioapic");
    g_assert_cmphex(edu_readl(&t, 0x04), ==, ~0x12345678u);
    g_assert_cmpuint(edu_readl(&t, 0x08), ==, 120);
    check_edu_works(&t);

    qtest_quit(e.qts);          /* the source, after a migration */
    e.qts = t.qts;
    g_free(e.dev);
    qpci_free_pc(e.bus);
    alloc_destroy(&e.alloc);
    e.dev = t.dev;
    e.bus = t.bus;
    e.alloc = t.alloc;
    edu_stop(&e);
}

/*
 * The model stops answering: the access times out instead of hanging
 * the vCPU; when the model answers again the device comes back.
 */
static void test_fault_timeout(const void *data)
{
    Edu e = { 0 };
    Latency before, after;
    uint64_t slow = 0;

    proxy_opts = ",timeout=300";
    edu_start(&e, GPOINTER_TO_INT(data));
    proxy_opts = "";
    check_edu_works(&e);

    latency_get(&e, &before);
    dm_remote_pause(e.remote, true);
    g_assert_cmphex(edu_readl(&e, 0x00), ==, 0xffffffff);
    g_assert_cmphex(edu_readl(&e, 0x00), ==, 0xffffffff);
    /*
     * The read that timed out waited its 300 ms: a round trip in a bucket
     * of 2^19 us or more.  The second was refused at once, unsent.  (Read
     * before the model runs again: the reconnection's set-up counts too.)
     */
    latency_get(&e, &after);
    dm_remote_pause(e.remote, false);
    g_assert_cmpuint(after.count - before.count, ==, 1);
    for (int i = 19; i < LAT_BUCKETS; i++) {
        slow += after.buckets[i] - before.buckets[i];
    }
    g_assert_cmpuint(slow, ==, 1);
    g_assert_cmpuint(after.sum_ns - before.sum_ns, >=, 300 * 1000 * 1000);

    DM_WAIT_UNTIL(edu_readl(&e, 0x00) == 0x010000ed);
    check_edu_works(&e);
    edu_stop(&e);
}

/*
 * MSI-X, against dm-remote's "edu-msix" (QEMU's edu has no MSI-X): an
 * unmasked vector delivers its message; a masked one sets its pending
 * bit and delivers when unmasked.
 */
static void test_msix(const void *data)
{
    Edu e = { 0 };
    uint64_t msg, entry;

    edu_model = "edu-msix";
    edu_start(&e, GPOINTER_TO_INT(data));
    edu_model = "edu";
    msg = guest_alloc(&e.alloc, 4);
    qtest_writel(e.qts, msg, 0);

    qpci_msix_enable(e.dev);
    e.bar = e.dev->msix_table_bar;      /* BAR0 was mapped anew */
    entry = e.dev->msix_table_off;
    qpci_io_writel(e.dev, e.bar, entry + PCI_MSIX_ENTRY_LOWER_ADDR, msg);
    qpci_io_writel(e.dev, e.bar, entry + PCI_MSIX_ENTRY_UPPER_ADDR, 0);
    qpci_io_writel(e.dev, e.bar, entry + PCI_MSIX_ENTRY_DATA, 0x6b6b);
    qpci_io_writel(e.dev, e.bar, entry + PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
    g_assert_cmphex(edu_readl(&e, 0x00), ==, 0x010000ed);

    edu_writel(&e, 0x60, 0x1);
    DM_WAIT_UNTIL(qtest_readl(e.qts, msg) == 0x6b6b);
    g_assert_cmphex(qtest_readl(e.qts, msg), ==, 0x6b6b);
    g_assert_false(edu_irq(&e));        /* MSI-X, not INTx */
    edu_writel(&e, 0x64, 0x1);

    /* Masked: pending, no message; unmasking delivers it. */
    qtest_writel(e.qts, msg, 0);
    qpci_io_writel(e.dev, e.bar, entry + PCI_MSIX_ENTRY_VECTOR_CTRL,
                   PCI_MSIX_ENTRY_CTRL_MASKBIT);
    edu_writel(&e, 0x60, 0x2);
    DM_WAIT_UNTIL(qpci_msix_pending(e.dev, 0));
    g_assert_true(qpci_msix_pending(e.dev, 0));
    g_assert_cmphex(qtest_readl(e.qts, msg), ==, 0);
    qpci_io_writel(e.dev, e.bar, entry + PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
    DM_WAIT_UNTIL(qtest_readl(e.qts, msg) == 0x6b6b);
    g_assert_cmphex(qtest_readl(e.qts, msg), ==, 0x6b6b);
    edu_writel(&e, 0x64, 0x2);
    g_assert_cmphex(edu_readl(&e, 0x24), ==, 0);
    edu_stop(&e);
}

/*
 * A system reset reaches the model as DEVICE_RESET (our edu forgets its
 * liveness value; QEMU's edu has no reset, hence proxy-only), and the
 * device works afterwards.
 */
static void test_system_reset(const void *data)
{
    Edu e = { 0 };

    edu_start(&e, GPOINTER_TO_INT(data));
    edu_writel(&e, 0x04, 0x12345678);
    g_assert_cmphex(edu_readl(&e, 0x04), ==, 0xedcba987);

    qtest_system_reset(e.qts);
    /* The reset cleared BARs, command and PIRQ routing: set them again. */
    edu_route_intx(&e);
    qpci_device_enable(e.dev);
    e.bar = qpci_iomap(e.dev, 0, NULL);
    g_assert_cmphex(edu_readl(&e, 0x04), ==, 0);
    check_edu_works(&e);
    edu_stop(&e);
}

/*
 * Hot-plug and unplug: a dm-proxy-pci added to a running machine
 * connects and works; ejected (ACPI), it lets the model go and leaves
 * query-remote-devices, so that one plugged again is served.
 */
static void test_hotplug(const void *data)
{
    EduBackend b = GPOINTER_TO_INT(data);
    g_autofree char *server = NULL;
    Edu e = { 0 };

    e.remote = b == EDU_PROXY_TCP ? dm_remote_start_tcp(edu_model, NULL) :
                                    dm_remote_start(edu_model, NULL);
    server = b == EDU_PROXY_TCP ? g_strdup(e.remote->connect) :
             g_strdup_printf("unix:%s", e.remote->socket_path);
    e.cmdline = g_strdup("-machine pc -m 256M -object memory-backend-memfd,"
                         "id=ram,size=256M,share=on "
                         "-machine memory-backend=ram");
    e.qts = qtest_init(e.cmdline);
    pc_alloc_init(&e.alloc, e.qts, 0);
    e.bus = qpci_new_pc(e.qts, &e.alloc);

    for (uint32_t round = 1; round <= 2; round++) {
        g_autofree char *addr = g_strdup_printf("%02x.0", EDU_SLOT);
        QDict *rsp;

        qtest_qmp_device_add(e.qts, "dm-proxy-pci", "edu0",
                             "{'addr': %s, 'server': %s}", addr, server);
        e.dev = qpci_device_find(e.bus, QPCI_DEVFN(EDU_SLOT, 0));
        g_assert_nonnull(e.dev);
        qpci_device_enable(e.dev);
        e.bar = qpci_iomap(e.dev, 0, NULL);
        g_assert_cmphex(edu_readl(&e, 0x00), ==, 0x010000ed);
        edu_writel(&e, 0x04, round);
        g_assert_cmphex(edu_readl(&e, 0x04), ==, ~round);
        qpci_iounmap(e.dev, e.bar);
        g_free(e.dev);
        e.dev = NULL;

        qpci_unplug_acpi_device_test(e.qts, "edu0", EDU_SLOT);
        rsp = qtest_qmp(e.qts, "{'execute': 'query-remote-devices'}");
        g_assert_cmpuint(qlist_size(qdict_get_qlist(rsp, "return")), ==, 0);
        qobject_unref(rsp);
    }
    edu_stop(&e);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        EduBackend backend;
    } backends[] = {
        { "local", EDU_LOCAL },
        { "remote-shared", EDU_REMOTE_SHARED },
        { "remote-msg", EDU_REMOTE_MSG },
        { "proxy-shared", EDU_PROXY_SHARED },
        { "proxy-msg", EDU_PROXY_MSG },
        { "proxy-qemu-server", EDU_PROXY_QEMU_SERVER },
        { "proxy-tcp", EDU_PROXY_TCP },
        { "proxy-tls", EDU_PROXY_TLS },
    };
    static const struct {
        const char *name;
        void (*fn)(const void *);
    } tests[] = {
        { "registers", test_registers },
        { "factorial", test_factorial },
        { "intx", test_intx },
        { "msi", test_msi },
        { "dma", test_dma },
    };

    g_test_init(&argc, &argv, NULL);
    for (size_t b = 0; b < G_N_ELEMENTS(backends); b++) {
        for (size_t t = 0; t < G_N_ELEMENTS(tests); t++) {
            /*
             * QEMU's x-vfio-user-server does not signal again an INTx
             * line still high when it is unmasked: an interrupt that
             * meets a BAR access before the check is lost.  "intx" and
             * "dma" depend on that; "factorial" checks its INTx raise and
             * acknowledge, "msi" its MSI.
             */
            if (backends[b].backend == EDU_PROXY_QEMU_SERVER &&
                (tests[t].fn == test_intx || tests[t].fn == test_dma)) {
                continue;
            }
            g_autofree char *path = g_strdup_printf("/dm/edu/%s/%s",
                                                    backends[b].name,
                                                    tests[t].name);
            qtest_add_data_func(path, GINT_TO_POINTER(backends[b].backend),
                                tests[t].fn);
        }
    }
    qtest_add_data_func("/dm/edu/proxy-shared/msix",
                        GINT_TO_POINTER(EDU_PROXY_SHARED), test_msix);
    qtest_add_data_func("/dm/edu/proxy-tcp/msix",
                        GINT_TO_POINTER(EDU_PROXY_TCP), test_msix);
    qtest_add_data_func("/dm/edu/remote-shared/msix",
                        GINT_TO_POINTER(EDU_REMOTE_SHARED), test_msix);
    qtest_add_data_func("/dm/edu/proxy-shared/system-reset",
                        GINT_TO_POINTER(EDU_PROXY_SHARED), test_system_reset);
    qtest_add_data_func("/dm/edu/proxy-fault/kill-restart",
                        GINT_TO_POINTER(EDU_PROXY_SHARED),
                        test_fault_kill_restart);
    qtest_add_data_func("/dm/edu/proxy-fault/timeout",
                        GINT_TO_POINTER(EDU_PROXY_MSG), test_fault_timeout);
    qtest_add_data_func("/dm/edu/proxy-shared/latency",
                        GINT_TO_POINTER(EDU_PROXY_SHARED), test_latency);
    qtest_add_data_func("/dm/edu/proxy-tcp/latency",
                        GINT_TO_POINTER(EDU_PROXY_TCP), test_latency);
    qtest_add_data_func("/dm/edu/proxy-tcp/kill-restart",
                        GINT_TO_POINTER(EDU_PROXY_TCP),
                        test_fault_kill_restart);
    qtest_add_data_func("/dm/edu/proxy-tcp/timeout",
                        GINT_TO_POINTER(EDU_PROXY_TCP), test_fault_timeout);
    qtest_add_data_func("/dm/edu/proxy-shared/migrate",
                        GINT_TO_POINTER(EDU_PROXY_SHARED), test_migrate);
    qtest_add_data_func("/dm/edu/proxy-tcp/migrate",
                        GINT_TO_POINTER(EDU_PROXY_TCP), test_migrate);
    qtest_add_data_func("/dm/edu/proxy-tls/migrate",
                        GINT_TO_POINTER(EDU_PROXY_TLS), test_migrate);
    qtest_add_data_func("/dm/edu/proxy-tls/msix",
                        GINT_TO_POINTER(EDU_PROXY_TLS), test_msix);
    qtest_add_data_func("/dm/edu/proxy-shared/hotplug",
                        GINT_TO_POINTER(EDU_PROXY_SHARED), test_hotplug);
    qtest_add_data_func("/dm/edu/proxy-tcp/hotplug",
                        GINT_TO_POINTER(EDU_PROXY_TCP), test_hotplug);
    for (size_t b = 0; b < G_N_ELEMENTS(backends); b++) {
        EduBackend be = backends[b].backend;
        g_autofree char *stepped = NULL, *tcg = NULL;

        /* Not vfio-user-pci nor x-vfio-user-server: no dm_vm_clock. */
        if (be != EDU_LOCAL && be != EDU_PROXY_SHARED &&
            be != EDU_PROXY_TCP) {
            continue;
        }
        stepped = g_strdup_printf("/dm/edu/%s/vm-clock-stepped",
                                  backends[b].name);
        tcg = g_strdup_printf("/dm/edu/%s/vm-clock-tcg", backends[b].name);
        qtest_add_data_func(stepped, GINT_TO_POINTER(be),
                            test_vm_clock_stepped);
        qtest_add_data_func(tcg, GINT_TO_POINTER(be), test_vm_clock_tcg);
    }
    qtest_add_data_func("/dm/edu/proxy-tls/kill-restart",
                        GINT_TO_POINTER(EDU_PROXY_TLS),
                        test_fault_kill_restart);
    return g_test_run();
}
