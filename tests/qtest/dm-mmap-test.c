/*
 * Mappable regions through the fork: dm-proxy-pci -> dm-remote membar,
 * whose BAR2 is plain memory (docs/dm-remote.md), one test body, three
 * back ends:
 *   unix        mapped: the model's memfd is in the BAR, the guest's
 *               accesses there send no message
 *   unix-nommap the same socket with mmap=off: trapped, by messages
 *   tcp         no descriptors: trapped, by messages
 *   upstream    QEMU's own vfio-user-pci over the same socket: it maps
 *               the areas as it maps a VFIO device's (the spec's way)
 * each with the whole BAR mappable and with sparse=on (its first page
 * registers).  With guest-only=on (the model never writes the memory,
 * as a framebuffer's), also
 *   unix-nommap, tcp   dirty pages: the fork keeps the memory and sends
 *               what the guest dirtied a few dozen times a second
 *   tcp-trapped dirty-fps=0: trapped, by messages
 * where the model sees the guest's writes once they were sent.  Either way the guest's writes through the BAR are what
 * the model reads (its BAR0 registers), and the model's writes are what
 * the guest reads.  And a model killed and started again: its new
 * memory is mapped in the old one's place; a migration, the model left
 * where it is: the target maps the same memory.
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

#include "dm-qtest-util.h"

#define SLOT        4
#define PAGE        4096
#define BAR2_SIZE   0x10000     /* membar's default size= */

#define REG_ID      0x00
#define REG_ADDR    0x08
#define REG_DATA    0x10
#define REG_SUM     0x18

typedef enum Backend {
    BACKEND_UNIX,
    BACKEND_UNIX_NOMMAP,
    BACKEND_TCP,
    BACKEND_UPSTREAM,
} Backend;

typedef struct Case {
    Backend backend;
    bool sparse;
    bool guest_only;            /* membar,guest-only=on */
    const char *opts;           /* more dm-proxy-pci properties */
} Case;

typedef struct Membar {
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar regs;               /* BAR0 */
    QPCIBar mem;                /* BAR2 */
    DmRemote *remote;
    char *cmdline;              /* QEMU's, for a migration target */
} Membar;

static void membar_start(Membar *m, const Case *c)
{
    g_autofree char *model = g_strdup_printf("membar%s%s",
                                             c->sparse ? ",sparse=on" : "",
                                             c->guest_only ?
                                             ",guest-only=on" : "");
    g_autofree char *server = NULL;

    if (c->backend == BACKEND_TCP) {
        m->remote = dm_remote_start_tcp(model, NULL);
        server = g_strdup(m->remote->connect);
    } else {
        m->remote = dm_remote_start(model, NULL);
        server = g_strdup_printf("unix:%s", m->remote->socket_path);
    }
    if (c->backend == BACKEND_UPSTREAM) {
        m->cmdline = g_strdup_printf("-machine pc -m 128M -device "
                                     "'{\"driver\":\"vfio-user-pci\","
                                     "\"addr\":\"%02x.0\",\"socket\":"
                                     "{\"type\":\"unix\",\"path\":"
                                     "\"%s\"}}'", SLOT,
                                     m->remote->socket_path);
    } else {
        m->cmdline = g_strdup_printf("-machine pc -m 128M -device "
                                     "dm-proxy-pci,addr=%02x.0,server=%s%s%s",
                                     SLOT, server,
                                     c->backend == BACKEND_UNIX_NOMMAP ?
                                     ",mmap=off" : "",
                                     c->opts ? c->opts : "");
    }
    m->qts = qtest_init(m->cmdline);
    pc_alloc_init(&m->alloc, m->qts, 0);
    m->bus = qpci_new_pc(m->qts, &m->alloc);
    m->dev = qpci_device_find(m->bus, QPCI_DEVFN(SLOT, 0));
    g_assert_nonnull(m->dev);
    qpci_device_enable(m->dev);
    m->regs = qpci_iomap(m->dev, 0, NULL);
    m->mem = qpci_iomap(m->dev, 2, NULL);
}

static void membar_stop(Membar *m)
{
    g_free(m->dev);
    qpci_free_pc(m->bus);
    alloc_destroy(&m->alloc);
    qtest_quit(m->qts);
    dm_remote_stop(m->remote);
    g_free(m->cmdline);
}

/* The proxy's counter @key in query-remote-devices. */
static int64_t proxy_stat(Membar *m, const char *key)
{
    QDict *rsp = qtest_qmp(m->qts, "{'execute': 'query-remote-devices'}");
    QDict *info = qobject_to(QDict, qlist_peek(qdict_get_qlist(rsp,
                                                               "return")));
    int64_t v;

    g_assert_nonnull(info);
    v = qdict_get_int(info, key);
    qobject_unref(rsp);
    return v;
}

/* What the model reads at BAR2's @addr, through its own pointer. */
static uint32_t model_word(Membar *m, uint64_t addr)
{
    qpci_io_writel(m->dev, m->regs, REG_ADDR, addr);
    return qpci_io_readl(m->dev, m->regs, REG_DATA);
}

/* The model stores @val at BAR2's @addr, through its own pointer. */
static void model_store(Membar *m, uint64_t addr, uint32_t val)
{
    qpci_io_writel(m->dev, m->regs, REG_ADDR, addr);
    qpci_io_writel(m->dev, m->regs, REG_DATA, val);
}

/* The memory's first and last words, and a few between. */
static const uint64_t probes[] = { 0, 0x4, 0x1000, 0x2ff8, 0x8000,
                                   BAR2_SIZE - 4 };

/*
 * The guest's stores through BAR2 reach the model, the model's reach
 * the guest; when mapped (@mapped), BAR2's accesses send nothing
 * (@counted: the proxy's counters say so; upstream's has none).
 */
static void check_one_truth(Membar *m, bool sparse, bool mapped,
                            bool counted)
{
    uint64_t base = sparse ? PAGE : 0;
    uint32_t sum = 0;
    int64_t requests = counted ? proxy_stat(m, "requests") : 0;

    for (size_t i = 0; i < G_N_ELEMENTS(probes); i++) {
        uint64_t addr = MAX(probes[i], base);

        qpci_io_writel(m->dev, m->mem, addr, 0xa5000000 | addr);
        g_assert_cmphex(qpci_io_readl(m->dev, m->mem, addr), ==,
                        0xa5000000 | addr);
    }
    /* Byte and 64-bit accesses are memory accesses too. */
    qpci_io_writeb(m->dev, m->mem, base + 0x21, 0x77);
    g_assert_cmphex(qpci_io_readb(m->dev, m->mem, base + 0x21), ==, 0x77);
    qpci_io_writeq(m->dev, m->mem, base + 0x40, 0x0123456789abcdefull);
    g_assert_cmphex(qpci_io_readq(m->dev, m->mem, base + 0x40), ==,
                    0x0123456789abcdefull);
    if (counted && mapped) {
        g_assert_cmpint(proxy_stat(m, "requests"), ==, requests);
    } else if (counted) {
        g_assert_cmpint(proxy_stat(m, "requests"), >, requests);
    }

    /* The model reads what the guest wrote. */
    for (size_t i = 0; i < G_N_ELEMENTS(probes); i++) {
        uint64_t addr = MAX(probes[i], base);

        g_assert_cmphex(model_word(m, addr), ==, 0xa5000000 | addr);
    }
    g_assert_cmphex(model_word(m, base + 0x20), ==, 0x7700);
    g_assert_cmphex(model_word(m, base + 0x40), ==, 0x89abcdef);
    g_assert_cmphex(model_word(m, base + 0x44), ==, 0x01234567);
    for (size_t i = 0; i < G_N_ELEMENTS(probes); i++) {
        uint64_t addr = MAX(probes[i], base);

        if (i == 0 || addr != MAX(probes[i - 1], base)) {
            sum += 0xa5000000 | addr;
        }
    }
    sum += 0x7700 + 0x89abcdef + 0x01234567;
    g_assert_cmphex(qpci_io_readl(m->dev, m->regs, REG_SUM), ==, sum);

    /*
     * The guest reads what the model wrote, right after the register
     * writes that made it write: with memory mapped, no posted write
     * may still wait in the proxy then.
     */
    model_store(m, base + 0x100, 0x600df00d);
    g_assert_cmphex(qpci_io_readl(m->dev, m->mem, base + 0x100), ==,
                    0x600df00d);
    model_store(m, BAR2_SIZE - 8, 0xfeedbeef);
    g_assert_cmphex(qpci_io_readl(m->dev, m->mem, BAR2_SIZE - 8), ==,
                    0xfeedbeef);

    if (sparse) {
        /* The first page stays the model's registers, mapped or not. */
        g_assert_cmphex(qpci_io_readl(m->dev, m->mem, 0x20), ==, 0xc0de0020);
        qpci_io_writel(m->dev, m->mem, 0x20, 0);
        g_assert_cmphex(qpci_io_readl(m->dev, m->mem, 0x20), ==, 0xc0de0020);
    }
}

/*
 * What the model reads at BAR2's @addr, once it is @want: with dirty
 * pages it sees the guest's writes after the next tick (bounded: a
 * model that never sees them fails).
 */
static uint32_t model_word_soon(Membar *m, uint64_t addr, uint32_t want)
{
    uint32_t v = model_word(m, addr);

    for (int i = 0; i < 1000 && v != want; i++) {
        g_usleep(10 * 1000);
        v = model_word(m, addr);
    }
    return v;
}

/*
 * guest-only=on: the guest's stores through BAR2 reach the model (at
 * once, or with the next dirty-page tick); the model writes nothing
 * there; @messages: whether the guest's accesses are messages.
 */
static void check_guest_only(Membar *m, bool sparse, bool messages)
{
    uint64_t base = sparse ? PAGE : 0;
    int64_t requests = proxy_stat(m, "requests");
    unsigned n = 0;

    for (size_t i = 0; i < G_N_ELEMENTS(probes); i++) {
        uint64_t addr = MAX(probes[i], base);

        qpci_io_writel(m->dev, m->mem, addr, 0x5a000000 | addr);
        g_assert_cmphex(qpci_io_readl(m->dev, m->mem, addr), ==,
                        0x5a000000 | addr);
        n += 2;
    }
    qpci_io_writeq(m->dev, m->mem, base + 0x40, 0x0123456789abcdefull);
    g_assert_cmphex(qpci_io_readq(m->dev, m->mem, base + 0x40), ==,
                    0x0123456789abcdefull);
    n += 2;
    if (messages) {
        g_assert_cmpint(proxy_stat(m, "requests"), >=, requests + n);
    } else {
        /* A dirty-page tick or two may have gone meanwhile, not one each. */
        g_assert_cmpint(proxy_stat(m, "requests"), <, requests + n / 2);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(probes); i++) {
        uint64_t addr = MAX(probes[i], base);

        g_assert_cmphex(model_word_soon(m, addr, 0x5a000000 | addr), ==,
                        0x5a000000 | addr);
    }
    g_assert_cmphex(model_word_soon(m, base + 0x44, 0x01234567), ==,
                    0x01234567);
    /* A later store, after a tick: sent too. */
    qpci_io_writel(m->dev, m->mem, base + 0x2000, 0x0ddba11);
    g_assert_cmphex(model_word_soon(m, base + 0x2000, 0x0ddba11), ==,
                    0x0ddba11);
    /* The model's store is dropped: the guest reads its own value. */
    model_store(m, base + 0x2000, 0xdeadbeef);
    g_assert_cmphex(qpci_io_readl(m->dev, m->mem, base + 0x2000), ==,
                    0x0ddba11);
}

static void test_memory(const void *data)
{
    const Case *c = data;
    bool mapped = c->backend == BACKEND_UNIX;
    bool counted = c->backend != BACKEND_UPSTREAM;
    Membar m = { 0 };

    membar_start(&m, c);
    g_assert_cmphex(qpci_config_readw(m.dev, PCI_DEVICE_ID), ==, 0x10fe);
    g_assert_cmphex(qpci_io_readl(m.dev, m.regs, REG_ID), ==, 0x6d656d62);
    if (counted) {
        g_assert_cmpint(proxy_stat(&m, "mapped"), ==,
                        mapped ? BAR2_SIZE - (c->sparse ? PAGE : 0) : 0);
    }
    if (c->guest_only) {
        check_guest_only(&m, c->sparse,
                         c->backend == BACKEND_TCP && c->opts &&
                         strstr(c->opts, "dirty-fps=0"));
    } else {
        check_one_truth(&m, c->sparse, mapped, counted);
    }
    if (counted) {
        g_assert_cmpint(proxy_stat(&m, "errors"), ==, 0);
    }
    membar_stop(&m);
}

/*
 * The model dies: its areas trap (and fail, as every access does while
 * it is away); a new model is mapped in its place, its memory fresh.
 */
static void test_kill_restart(const void *data)
{
    const Case *c = data;
    Membar m = { 0 };

    membar_start(&m, c);
    qpci_io_writel(m.dev, m.mem, 0x3000, 0x11111111);
    g_assert_cmphex(model_word(&m, 0x3000), ==, 0x11111111);
    dm_remote_kill(m.remote);
    /* A trapped access finds it gone (the socket's watch may be off). */
    g_assert_cmphex(qpci_io_readl(m.dev, m.regs, REG_ID), ==, 0xffffffff);
    qtest_qmp_eventwait(m.qts, "REMOTE_DEVICE_DISCONNECTED");
    g_assert_cmpint(proxy_stat(&m, "mapped"), ==, 0);
    g_assert_cmphex(qpci_io_readl(m.dev, m.mem, 0x3000), ==, 0xffffffff);

    dm_remote_restart(m.remote);
    qtest_qmp_eventwait(m.qts, "REMOTE_DEVICE_RECONNECTED");
    DM_WAIT_UNTIL(qpci_io_readl(m.dev, m.regs, REG_ID) == 0x6d656d62);
    g_assert_cmpint(proxy_stat(&m, "mapped"), ==, BAR2_SIZE);
    /* The new model's memory: zeroed, and shared with it. */
    g_assert_cmphex(qpci_io_readl(m.dev, m.mem, 0x3000), ==, 0);
    check_one_truth(&m, false, true, true);
    membar_stop(&m);
}

/*
 * guest-only=on over TCP: the model dies and a new one comes, its memory
 * blank; the guest's stores stay in the fork's copy meanwhile (readable,
 * no fault), and the new model gets all of it once connected.
 */
static void test_kill_restart_dirty(const void *data)
{
    const Case *c = data;
    Membar m = { 0 };

    membar_start(&m, c);
    qpci_io_writel(m.dev, m.mem, 0x3000, 0x11111111);
    g_assert_cmphex(model_word_soon(&m, 0x3000, 0x11111111), ==, 0x11111111);
    dm_remote_kill(m.remote);
    g_assert_cmphex(qpci_io_readl(m.dev, m.regs, REG_ID), ==, 0xffffffff);
    qtest_qmp_eventwait(m.qts, "REMOTE_DEVICE_DISCONNECTED");
    /* The guest's own memory, here: still there. */
    g_assert_cmphex(qpci_io_readl(m.dev, m.mem, 0x3000), ==, 0x11111111);
    qpci_io_writel(m.dev, m.mem, 0x4000, 0x22222222);

    dm_remote_restart(m.remote);
    qtest_qmp_eventwait(m.qts, "REMOTE_DEVICE_RECONNECTED");
    DM_WAIT_UNTIL(qpci_io_readl(m.dev, m.regs, REG_ID) == 0x6d656d62);
    /* Sent again whole: the page written before, and the one while away. */
    g_assert_cmphex(model_word_soon(&m, 0x3000, 0x11111111), ==, 0x11111111);
    g_assert_cmphex(model_word_soon(&m, 0x4000, 0x22222222), ==, 0x22222222);
    check_guest_only(&m, false, false);
    membar_stop(&m);
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
 * Migration with the model left where it is: the target, a standby of
 * the same model, maps the same memory; after the hand-over what the
 * guest wrote on the source is there, and the target's accesses are
 * memory accesses too.
 */
static void test_migrate(const void *data)
{
    const Case *c = data;
    g_autofree char *uri = NULL;
    g_autofree char *target_cmd = NULL;
    Membar m = { 0 }, t = { 0 };

    membar_start(&m, c);
    uri = g_strdup_printf("unix:%s/migrate.sock", m.remote->dir);
    qpci_io_writel(m.dev, m.mem, 0x5000, 0x5eed5eed);
    model_store(&m, 0x6000, 0x0dd0dd0d);

    target_cmd = g_strdup_printf("%s -incoming defer", m.cmdline);
    t.qts = qtest_init(target_cmd);
    qtest_qmp_assert_success(t.qts, "{'execute': 'migrate-incoming',"
                             " 'arguments': {'uri': %s}}", uri);
    qtest_qmp_assert_success(m.qts, "{'execute': 'migrate',"
                             " 'arguments': {'uri': %s}}", uri);
    DM_WAIT_UNTIL(qmp_status_is(m.qts, "query-migrate", "completed"));
    g_assert_true(qmp_status_is(m.qts, "query-migrate", "completed"));
    DM_WAIT_UNTIL(qmp_status_is(t.qts, "query-status", "running"));
    g_assert_true(qmp_status_is(t.qts, "query-status", "running"));
    qtest_quit(m.qts);          /* the source, after a migration */

    /* The target: the same PCI set-up, the same model and memory. */
    pc_alloc_init(&t.alloc, t.qts, 0);
    t.bus = qpci_new_pc(t.qts, &t.alloc);
    t.dev = qpci_device_find(t.bus, QPCI_DEVFN(SLOT, 0));
    g_assert_nonnull(t.dev);
    t.regs = m.regs;
    t.mem = m.mem;
    t.remote = m.remote;
    g_assert_cmpint(proxy_stat(&t, "mapped"), ==, BAR2_SIZE);
    g_assert_cmphex(qpci_io_readl(t.dev, t.mem, 0x5000), ==, 0x5eed5eed);
    g_assert_cmphex(qpci_io_readl(t.dev, t.mem, 0x6000), ==, 0x0dd0dd0d);
    g_assert_cmphex(model_word(&t, 0x5000), ==, 0x5eed5eed);
    qpci_io_writel(t.dev, t.mem, 0x5000, 0);    /* zeros, for the sum */
    qpci_io_writel(t.dev, t.mem, 0x6000, 0);
    check_one_truth(&t, false, true, true);

    g_free(m.dev);
    qpci_free_pc(m.bus);
    alloc_destroy(&m.alloc);
    g_free(m.cmdline);
    membar_stop(&t);
}

/*
 * guest-only=on over TCP, a migration: the memory the fork keeps moves
 * with the VM (the target's guest reads its own stores back), and the
 * model, which stays, ends up with them too, even those the source had
 * no tick left to send.
 */
static void test_migrate_dirty(const void *data)
{
    const Case *c = data;
    g_autofree char *uri = NULL;
    g_autofree char *target_cmd = NULL;
    Membar m = { 0 }, t = { 0 };

    membar_start(&m, c);
    uri = g_strdup_printf("unix:%s/migrate.sock", m.remote->dir);
    qpci_io_writel(m.dev, m.mem, 0x5000, 0x5eed5eed);
    g_assert_cmphex(model_word_soon(&m, 0x5000, 0x5eed5eed), ==, 0x5eed5eed);
    /* Right before the migration: maybe never sent by the source. */
    qpci_io_writel(m.dev, m.mem, 0x7000, 0x1a57c0de);

    target_cmd = g_strdup_printf("%s -incoming defer", m.cmdline);
    t.qts = qtest_init(target_cmd);
    qtest_qmp_assert_success(t.qts, "{'execute': 'migrate-incoming',"
                             " 'arguments': {'uri': %s}}", uri);
    qtest_qmp_assert_success(m.qts, "{'execute': 'migrate',"
                             " 'arguments': {'uri': %s}}", uri);
    DM_WAIT_UNTIL(qmp_status_is(m.qts, "query-migrate", "completed"));
    g_assert_true(qmp_status_is(m.qts, "query-migrate", "completed"));
    DM_WAIT_UNTIL(qmp_status_is(t.qts, "query-status", "running"));
    g_assert_true(qmp_status_is(t.qts, "query-status", "running"));
    qtest_quit(m.qts);

    pc_alloc_init(&t.alloc, t.qts, 0);
    t.bus = qpci_new_pc(t.qts, &t.alloc);
    t.dev = qpci_device_find(t.bus, QPCI_DEVFN(SLOT, 0));
    g_assert_nonnull(t.dev);
    t.regs = m.regs;
    t.mem = m.mem;
    t.remote = m.remote;
    g_assert_cmpint(proxy_stat(&t, "mapped"), ==, 0);
    /* The guest's memory came with it. */
    g_assert_cmphex(qpci_io_readl(t.dev, t.mem, 0x5000), ==, 0x5eed5eed);
    g_assert_cmphex(qpci_io_readl(t.dev, t.mem, 0x7000), ==, 0x1a57c0de);
    /* The model has both, and what the target's guest writes next. */
    g_assert_cmphex(model_word_soon(&t, 0x7000, 0x1a57c0de), ==, 0x1a57c0de);
    g_assert_cmphex(model_word(&t, 0x5000), ==, 0x5eed5eed);
    check_guest_only(&t, false, false);

    g_free(m.dev);
    qpci_free_pc(m.bus);
    alloc_destroy(&m.alloc);
    g_free(m.cmdline);
    membar_stop(&t);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        Case c;
    } cases[] = {
        { "unix", { BACKEND_UNIX, false } },
        { "unix-sparse", { BACKEND_UNIX, true } },
        { "unix-nommap", { BACKEND_UNIX_NOMMAP, false } },
        { "unix-nommap-sparse", { BACKEND_UNIX_NOMMAP, true } },
        { "tcp", { BACKEND_TCP, false } },
        { "tcp-sparse", { BACKEND_TCP, true } },
        { "upstream", { BACKEND_UPSTREAM, false } },
        { "upstream-sparse", { BACKEND_UPSTREAM, true } },
        { "guest-only/unix", { BACKEND_UNIX, false, true } },
        { "guest-only/unix-nommap", { BACKEND_UNIX_NOMMAP, false, true } },
        { "guest-only/tcp", { BACKEND_TCP, false, true } },
        { "guest-only/tcp-sparse", { BACKEND_TCP, true, true } },
        { "guest-only/tcp-trapped",
          { BACKEND_TCP, false, true, ",dirty-fps=0" } },
    };
    static const Case unix_whole = { BACKEND_UNIX, false };
    static const Case tcp_guest_only = { BACKEND_TCP, false, true };

    g_test_init(&argc, &argv, NULL);
    if (!dm_remote_available()) {
        g_test_skip("DM_REMOTE is not set");
        return g_test_run();
    }
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *path = g_strdup_printf("/dm/mmap/%s/memory",
                                                cases[i].name);

        qtest_add_data_func(path, &cases[i].c, test_memory);
    }
    qtest_add_data_func("/dm/mmap/unix/kill-restart", &unix_whole,
                        test_kill_restart);
    qtest_add_data_func("/dm/mmap/unix/migrate", &unix_whole, test_migrate);
    qtest_add_data_func("/dm/mmap/guest-only/tcp/kill-restart",
                        &tcp_guest_only, test_kill_restart_dirty);
    qtest_add_data_func("/dm/mmap/guest-only/tcp/migrate", &tcp_guest_only,
                        test_migrate_dirty);
    return g_test_run();
}
