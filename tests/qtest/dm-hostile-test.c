/*
 * dm-proxy-pci against a hostile model: tests/hostile/hostile-server.py
 * ($DM_HOSTILE_SERVER) plays one misbehaviour per test.  A model that
 * lies about its config space, its BARs or its VERSION reply is refused
 * at device_add with a clear error (a PCI Express one with a bad extended
 * capability list too, on q35, where the proxy reads it); a model that DMAs into the device's
 * own BAR is refused and QEMU keeps answering; a model that floods a
 * call with stray messages cannot stretch the call past timeout=; a
 * model's bad mappable regions are refused one by one, trapped.
 *
 * A QEMU that deadlocks would hang the test: every test runs under an
 * alarm, a bound, not a measurement.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/prctl.h>
#include <sys/wait.h>
#include "libqtest.h"
#include "libqos/libqos-malloc.h"
#include "libqos/malloc-pc.h"
#include "libqos/pci-pc.h"
#include "hw/pci/pci_regs.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"

#include "dm-qtest-util.h"

#define SLOT        4
#define GOOD_VALUE  0xc0ffee00
/* Longer than any test needs by far: only a hang reaches it. */
#define HANG_BOUND_S 60

typedef struct Hostile {
    GPid pid;
    char *dir;
    char *socket_path;
    char *server;               /* unix:PATH, for the proxy */
    bool q35;                   /* the proxy goes behind a root port */
    QTestState *qts;
} Hostile;

static void die_with_parent(gpointer data)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
}

static void hang_bound(int sig)
{
    /* Async-signal-safe: say why, then fail the whole program. */
    static const char msg[] = "Bail out! QEMU stopped answering (hang)\n";

    if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0) {
        /* nothing more to do */
    }
    _exit(1);
}

/*
 * On @machine, "pc" or "q35"; q35's pcie.0 takes no hot-plug, so there
 * the proxy goes behind a PCI Express root port.
 */
static Hostile *hostile_start_on(const char *scenario, const char *machine)
{
    Hostile *h = g_new0(Hostile, 1);
    g_autoptr(GError) err = NULL;
    const char *script = g_getenv("DM_HOSTILE_SERVER");
    const char *argv[] = { "/usr/bin/python3", script, "--socket", NULL,
                           "--scenario", scenario, NULL };
    bool ok;

    g_assert_nonnull(script);
    h->dir = g_dir_make_tmp("dm-hostile-XXXXXX", &err);
    g_assert_no_error(err);
    h->socket_path = g_build_filename(h->dir, "hostile.sock", NULL);
    h->server = g_strdup_printf("unix:%s", h->socket_path);
    argv[3] = h->socket_path;
    ok = g_spawn_async(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                       die_with_parent, NULL, &h->pid, &err);
    g_assert_no_error(err);
    g_assert_true(ok);
    DM_WAIT_UNTIL(g_file_test(h->socket_path, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_test(h->socket_path, G_FILE_TEST_EXISTS));

    signal(SIGALRM, hang_bound);
    alarm(HANG_BOUND_S);
    h->q35 = !strcmp(machine, "q35");
    h->qts = qtest_initf("-machine %s -m 128M%s", machine,
                         h->q35 ? " -device pcie-root-port,id=rp,chassis=1"
                                : "");
    return h;
}

static Hostile *hostile_start(const char *scenario)
{
    return hostile_start_on(scenario, "pc");
}

static void hostile_stop(Hostile *h)
{
    qtest_quit(h->qts);
    alarm(0);
    kill(h->pid, SIGTERM);
    waitpid(h->pid, NULL, 0);
    g_spawn_close_pid(h->pid);
    unlink(h->socket_path);
    rmdir(h->dir);
    g_free(h->socket_path);
    g_free(h->server);
    g_free(h->dir);
    g_free(h);
}

/* device_add the proxy; the error's text, or NULL if it realized. */
static char *hostile_add(Hostile *h)
{
    g_autofree char *addr = g_strdup_printf("%02x.0", h->q35 ? 0 : SLOT);
    QDict *rsp = qtest_qmp(h->qts, "{'execute': 'device_add', 'arguments':"
                           " {'driver': 'dm-proxy-pci', 'id': 'hx',"
                           " 'bus': %s, 'addr': %s, 'server': %s,"
                           " 'timeout': 1000, 'ioeventfd': true}}",
                           h->q35 ? "rp" : "pci.0", addr, h->server);
    char *err = NULL;

    g_assert_nonnull(rsp);
    if (qdict_haskey(rsp, "error")) {
        err = g_strdup(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                     "desc"));
    }
    qobject_unref(rsp);
    return err;
}

/* The monitor still answers. */
static void assert_qmp_alive(Hostile *h)
{
    QDict *rsp = qtest_qmp(h->qts, "{'execute': 'query-status'}");

    g_assert_nonnull(rsp);
    g_assert_true(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);
}

typedef struct Refusal {
    const char *scenario;
    const char *error;          /* a part of the expected message */
    const char *machine;        /* NULL: pc */
} Refusal;

static void test_refused(const void *data)
{
    const Refusal *r = data;
    Hostile *h = hostile_start_on(r->scenario,
                                  r->machine ? r->machine : "pc");
    g_autofree char *err = hostile_add(h);

    g_test_message("%s: %s", r->scenario, err ? err : "(realized)");
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err, r->error));
    assert_qmp_alive(h);
    hostile_stop(h);
}

/* The proxy's counter @key in query-remote-devices. */
static int64_t proxy_stat(Hostile *h, const char *key)
{
    QDict *rsp = qtest_qmp(h->qts, "{'execute': 'query-remote-devices'}");
    QDict *info = qobject_to(QDict, qlist_peek(qdict_get_qlist(rsp,
                                                               "return")));
    int64_t v;

    g_assert_nonnull(info);
    v = qdict_get_int(info, key);
    qobject_unref(rsp);
    return v;
}

/* The control case: the server is good enough to be a device. */
static void test_good(const void *data)
{
    Hostile *h = hostile_start("good");
    g_autofree char *err = hostile_add(h);
    QGuestAllocator alloc;
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar bar;

    g_assert_null(err);
    pc_alloc_init(&alloc, h->qts, 0);
    bus = qpci_new_pc(h->qts, &alloc);
    dev = qpci_device_find(bus, QPCI_DEVFN(SLOT, 0));
    g_assert_nonnull(dev);
    g_assert_cmphex(qpci_config_readw(dev, PCI_VENDOR_ID), ==, 0x1b36);
    bar = qpci_iomap(dev, 0, NULL);
    qpci_device_enable(dev);
    g_assert_cmphex(qpci_io_readl(dev, bar, 0), ==, GOOD_VALUE);
    /* It refused GET_REGION_IO_FDS: kicks stay messages, no error. */
    g_assert_cmpint(proxy_stat(h, "doorbells"), ==, 0);
    g_assert_cmpint(proxy_stat(h, "errors"), ==, 0);
    g_free(dev);
    qpci_free_pc(bus);
    alloc_destroy(&alloc);
    hostile_stop(h);
}

/*
 * GET_REGION_IO_FDS: of the model's entries only the sound one is kept
 * (an eventfd, inside BAR0, a size of 1, 2, 4 or 8, no overlap); a
 * write there signals it, not a REGION_WRITE.  Writes to the addresses
 * of the entries refused stay messages.  (The good scenario refuses the
 * command, ENOSYS: no doorbell, and no error counted.)
 */
static void test_bad_io_fds(const void *data)
{
    Hostile *h = hostile_start("bad-io-fds");
    g_autofree char *err = hostile_add(h);
    QGuestAllocator alloc;
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar bar;

    g_assert_null(err);
    g_assert_cmpint(proxy_stat(h, "doorbells"), ==, 1);
    g_assert_cmpint(proxy_stat(h, "ioeventfds"), ==, 1);
    pc_alloc_init(&alloc, h->qts, 0);
    bus = qpci_new_pc(h->qts, &alloc);
    dev = qpci_device_find(bus, QPCI_DEVFN(SLOT, 0));
    g_assert_nonnull(dev);
    bar = qpci_iomap(dev, 0, NULL);
    qpci_device_enable(dev);
    qpci_io_writel(dev, bar, 0x50, 1);
    qpci_io_writel(dev, bar, 0x50, 2);
    g_assert_cmpint(proxy_stat(h, "kicks"), ==, 2);
    /* Both signals, no message; the others' addresses are registers. */
    g_assert_cmpuint(qpci_io_readl(dev, bar, 0x50), ==, 2);
    g_assert_cmpuint(qpci_io_readl(dev, bar, 0x54), ==, 0);
    qpci_io_writel(dev, bar, 0x30, 1);
    qpci_io_writel(dev, bar, 0x60, 1);
    g_assert_cmpint(proxy_stat(h, "kicks"), ==, 2);
    g_assert_cmphex(qpci_io_readl(dev, bar, 0), ==, GOOD_VALUE);
    g_free(dev);
    qpci_free_pc(bus);
    alloc_destroy(&alloc);
    hostile_stop(h);
}

/*
 * GET_REGION_INFO saying MMAP, five ways wrong and once right per
 * scenario (tests/hostile/hostile-server.py: bad-mmap, bad-mmap-caps,
 * bad-mmap-fds):
 * the device realizes, only BAR5's good memfd is mapped, every other
 * BAR stays trapped (a read by message gives GOOD_VALUE), and what the
 * guest writes in BAR5 the model reads in its memfd, with no message.
 */
static void test_bad_mmap(const void *data)
{
    Hostile *h = hostile_start(data);
    g_autofree char *err = hostile_add(h);
    QGuestAllocator alloc;
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar bars[6];
    int64_t requests;

    g_assert_null(err);
    g_assert_cmpint(proxy_stat(h, "mapped"), ==, 4096);
    pc_alloc_init(&alloc, h->qts, 0);
    bus = qpci_new_pc(h->qts, &alloc);
    dev = qpci_device_find(bus, QPCI_DEVFN(SLOT, 0));
    g_assert_nonnull(dev);
    for (int i = 0; i < 6; i++) {
        bars[i] = qpci_iomap(dev, i, NULL);
    }
    qpci_device_enable(dev);
    for (int i = 0; i < 5; i++) {
        g_assert_cmphex(qpci_io_readl(dev, bars[i], 0), ==, GOOD_VALUE);
    }
    requests = proxy_stat(h, "requests");
    g_assert_cmphex(qpci_io_readl(dev, bars[5], 0), ==, 0x5a5a5a5a);
    qpci_io_writel(dev, bars[5], 8, 0x600d600d);
    g_assert_cmpint(proxy_stat(h, "requests"), ==, requests);
    g_assert_cmphex(qpci_io_readl(dev, bars[0], 8), ==, 0x600d600d);
    assert_qmp_alive(h);
    g_free(dev);
    qpci_free_pc(bus);
    alloc_destroy(&alloc);
    hostile_stop(h);
}

/*
 * A model that comes back offering its memory another way (a whole BAR
 * mapped, then only its second page): the guest's memory map is made,
 * so the BAR stays trapped, by message, with a warning.
 */
static void test_mmap_reshape(const void *data)
{
    Hostile *h = hostile_start("mmap-reshape");
    g_autofree char *err = hostile_add(h);
    QGuestAllocator alloc;
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar bar0, bar1;

    g_assert_null(err);
    g_assert_cmpint(proxy_stat(h, "mapped"), ==, 8192);
    pc_alloc_init(&alloc, h->qts, 0);
    bus = qpci_new_pc(h->qts, &alloc);
    dev = qpci_device_find(bus, QPCI_DEVFN(SLOT, 0));
    g_assert_nonnull(dev);
    bar0 = qpci_iomap(dev, 0, NULL);
    bar1 = qpci_iomap(dev, 1, NULL);
    qpci_device_enable(dev);
    g_assert_cmphex(qpci_io_readl(dev, bar1, 0), ==, 0x5a5a5a5a);
    qpci_io_writel(dev, bar0, 0x40, 1);         /* it drops us */
    qtest_qmp_eventwait(h->qts, "REMOTE_DEVICE_RECONNECTED");
    g_assert_cmpint(proxy_stat(h, "mapped"), ==, 0);
    g_assert_cmphex(qpci_io_readl(dev, bar1, 0), ==, GOOD_VALUE);
    assert_qmp_alive(h);
    g_free(dev);
    qpci_free_pc(bus);
    alloc_destroy(&alloc);
    hostile_stop(h);
}

/*
 * On i440fx the same PCI Express model is a conventional device: its
 * extended space is never read, so the bad list there does not matter.
 */
static void test_ext_loop_on_pc(const void *data)
{
    Hostile *h = hostile_start("ext-cap-loop");
    g_autofree char *err = hostile_add(h);

    g_assert_null(err);
    assert_qmp_alive(h);
    hostile_stop(h);
}

/*
 * The model writes into the device's own BAR0 once it is mapped: QEMU
 * refuses (an error reply, read back through BAR0 offset 0: 1 refused,
 * 2 done) instead of deadlocking on the proxy's lock.
 */
static void test_dma_to_own_bar(const void *data)
{
    Hostile *h = hostile_start("dma-to-own-bar");
    g_autofree char *err = hostile_add(h);
    QGuestAllocator alloc;
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar bar;
    uint32_t state = 0;

    g_assert_null(err);
    pc_alloc_init(&alloc, h->qts, 0);
    bus = qpci_new_pc(h->qts, &alloc);
    dev = qpci_device_find(bus, QPCI_DEVFN(SLOT, 0));
    g_assert_nonnull(dev);
    bar = qpci_iomap(dev, 0, NULL);
    qpci_device_enable(dev);    /* memory on: the model's DMA comes */
    for (int i = 0; i < 1000 && !state; i++) {
        state = qpci_io_readl(dev, bar, 0);
        if (!state) {
            g_usleep(10 * 1000);
        }
    }
    g_assert_cmpuint(state, ==, 1);
    assert_qmp_alive(h);
    g_free(dev);
    qpci_free_pc(bus);
    alloc_destroy(&alloc);
    hostile_stop(h);
}

/*
 * The model answers a BAR read only after ~8 s of stray replies and
 * requests of its own (junk-replies), or sends its reply a byte every
 * 250 ms (trickle-reply): with timeout=1000 the read fails (all-ones,
 * one error counted) rather than waiting for the late answer.
 */
static void test_late_reply(const void *data)
{
    const char *scenario = data;
    Hostile *h = hostile_start(scenario);
    g_autofree char *err = hostile_add(h);
    QGuestAllocator alloc;
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar bar;
    QDict *rsp, *info;
    QList *list;

    g_assert_null(err);
    pc_alloc_init(&alloc, h->qts, 0);
    bus = qpci_new_pc(h->qts, &alloc);
    dev = qpci_device_find(bus, QPCI_DEVFN(SLOT, 0));
    g_assert_nonnull(dev);
    bar = qpci_iomap(dev, 0, NULL);
    qpci_device_enable(dev);
    g_assert_cmphex(qpci_io_readl(dev, bar,
                                  strcmp(scenario, "junk-replies") ? 8 : 4),
                    ==, 0xffffffff);

    rsp = qtest_qmp(h->qts, "{'execute': 'query-remote-devices'}");
    list = qdict_get_qlist(rsp, "return");
    g_assert_cmpuint(qlist_size(list), ==, 1);
    info = qobject_to(QDict, qlist_peek(list));
    g_assert_cmpint(qdict_get_int(info, "errors"), >=, 1);
    qobject_unref(rsp);
    g_free(dev);
    qpci_free_pc(bus);
    alloc_destroy(&alloc);
    hostile_stop(h);
}

int main(int argc, char **argv)
{
    static const Refusal refusals[] = {
        { "msi-at-fc", "MSI capability at 0xfc" },
        { "msix-past-end", "MSI-X capability at 0xf8" },
        { "msix-table-past-bar", "does not fit in its BAR" },
        { "cap-loop", "capability list loops" },
        { "cap-in-header", "points into the standard header" },
        { "bar-2e40-in-32bit", "32-bit BAR0 size 0x10000000000" },
        { "bar-not-pow2", "BAR0 size 0xc00" },
        { "huge-version", "larger than 64 KiB" },
        /* PCI Express: read on a PCI Express bus only. */
        { "pcie-cap-past-end", "PCI Express capability at 0xe0 (60 bytes)",
          "q35" },
        { "ext-cap-loop", "extended capability list loops (at 0x100)",
          "q35" },
        { "ext-cap-in-conventional",
          "extended capability list points into the conventional config "
          "space (0x40)", "q35" },
    };

    g_test_init(&argc, &argv, NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(refusals); i++) {
        g_autofree char *path = g_strdup_printf("/dm/hostile/%s",
                                                refusals[i].scenario);

        qtest_add_data_func(path, &refusals[i], test_refused);
    }
    qtest_add_data_func("/dm/hostile/good", NULL, test_good);
    qtest_add_data_func("/dm/hostile/bad-io-fds", NULL, test_bad_io_fds);
    qtest_add_data_func("/dm/hostile/bad-mmap", "bad-mmap", test_bad_mmap);
    qtest_add_data_func("/dm/hostile/bad-mmap-caps", "bad-mmap-caps",
                        test_bad_mmap);
    qtest_add_data_func("/dm/hostile/bad-mmap-fds", "bad-mmap-fds",
                        test_bad_mmap);
    qtest_add_data_func("/dm/hostile/mmap-reshape", NULL, test_mmap_reshape);
    qtest_add_data_func("/dm/hostile/ext-cap-loop-on-pc", NULL,
                        test_ext_loop_on_pc);
    qtest_add_data_func("/dm/hostile/dma-to-own-bar", NULL,
                        test_dma_to_own_bar);
    qtest_add_data_func("/dm/hostile/junk-replies", "junk-replies",
                        test_late_reply);
    qtest_add_data_func("/dm/hostile/trickle-reply", "trickle-reply",
                        test_late_reply);
    return g_test_run();
}
