/*
 * dm-proxy-pci with a PCI Express model (dm-remote's edu,pcie=on): on
 * q35 the proxy is a PCI Express endpoint whose extended config space,
 * read through ECAM, holds the model's Device Serial Number at 0x100;
 * on i440fx, or with a conventional model, it stays conventional.  A
 * migration (the model stays, a target QEMU takes it over) keeps it so.
 *
 * No firmware runs under qtest: the test turns q35's ECAM window on
 * itself (the MCH's PCIEXBAR) and numbers a root port's bus.
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

#include "dm-qtest-util.h"

#define SLOT            4
#define ROOT_PORT_SLOT  5
#define SERIAL          0x0123456789abcdefULL
/* Where q35's ECAM goes (its PCIEXBAR default), 256 buses. */
#define ECAM_BASE       0xb0000000ULL
#define MCH_PCIEXBAR    0x60
#define MCH_PCIEXBAREN  0x1

typedef struct Pcie {
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *bus;
    DmRemote *remote;
    unsigned dev_bus;           /* where the proxy sits, for ECAM */
    unsigned dev_devfn;
    char *cmdline;              /* QEMU's, for a migration target */
} Pcie;

/*
 * Start @model behind a dm-proxy-pci (id "px") on @machine; with
 * @root_port, behind a pcie-root-port, on bus 1.
 */
static void pcie_start(Pcie *p, const char *machine, const char *model,
                       bool root_port)
{
    g_autofree char *where = NULL;

    p->remote = dm_remote_start(model, NULL);
    if (root_port) {
        where = g_strdup_printf("-device pcie-root-port,id=rp,chassis=1,"
                                "addr=%02x.0 -device dm-proxy-pci,bus=rp,"
                                "addr=00.0", ROOT_PORT_SLOT);
        p->dev_bus = 1;
        p->dev_devfn = QPCI_DEVFN(0, 0);
    } else {
        where = g_strdup_printf("-device dm-proxy-pci,addr=%02x.0", SLOT);
        p->dev_bus = 0;
        p->dev_devfn = QPCI_DEVFN(SLOT, 0);
    }
    p->cmdline = g_strdup_printf("-machine %s -m 128M %s,id=px,"
                                 "server=unix:%s", machine, where,
                                 p->remote->socket_path);
    p->qts = qtest_init(p->cmdline);
    pc_alloc_init(&p->alloc, p->qts, 0);
    p->bus = qpci_new_pc(p->qts, &p->alloc);
}

static void pcie_stop(Pcie *p)
{
    qpci_free_pc(p->bus);
    alloc_destroy(&p->alloc);
    qtest_quit(p->qts);
    dm_remote_stop(p->remote);
    g_free(p->cmdline);
}

/* q35: map ECAM at ECAM_BASE, and give the root port (if any) bus 1. */
static void pcie_enable_ecam(Pcie *p)
{
    QPCIDevice *mch = qpci_device_find(p->bus, QPCI_DEVFN(0, 0));

    g_assert_nonnull(mch);
    qpci_config_writel(mch, MCH_PCIEXBAR + 4, ECAM_BASE >> 32);
    qpci_config_writel(mch, MCH_PCIEXBAR, ECAM_BASE | MCH_PCIEXBAREN);
    g_free(mch);
    if (p->dev_bus) {
        QPCIDevice *rp = qpci_device_find(p->bus,
                                          QPCI_DEVFN(ROOT_PORT_SLOT, 0));

        g_assert_nonnull(rp);
        qpci_config_writeb(rp, PCI_PRIMARY_BUS, 0);
        qpci_config_writeb(rp, PCI_SECONDARY_BUS, p->dev_bus);
        qpci_config_writeb(rp, PCI_SUBORDINATE_BUS, p->dev_bus);
        g_free(rp);
    }
}

static uint64_t ecam_addr(Pcie *p, unsigned off)
{
    return ECAM_BASE + ((uint64_t)p->dev_bus << 20) +
           ((uint64_t)p->dev_devfn << 12) + off;
}

static uint32_t ecam_readl(Pcie *p, unsigned off)
{
    return qtest_readl(p->qts, ecam_addr(p, off));
}

static uint8_t ecam_readb(Pcie *p, unsigned off)
{
    return qtest_readb(p->qts, ecam_addr(p, off));
}

/* The conventional capability @id, through ECAM; 0 if absent. */
static unsigned ecam_find_cap(Pcie *p, uint8_t id)
{
    unsigned pos = ecam_readb(p, PCI_CAPABILITY_LIST) & ~3;

    for (int n = 0; pos && n < 48; n++) {
        if (ecam_readb(p, pos) == id) {
            return pos;
        }
        pos = ecam_readb(p, pos + PCI_CAP_LIST_NEXT) & ~3;
    }
    return 0;
}

/* The same through the legacy ports (0xcf8), on bus 0. */
static unsigned cf8_find_cap(QPCIDevice *dev, uint8_t id)
{
    unsigned pos = qpci_config_readb(dev, PCI_CAPABILITY_LIST) & ~3;

    for (int n = 0; pos && n < 48; n++) {
        if (qpci_config_readb(dev, pos) == id) {
            return pos;
        }
        pos = qpci_config_readb(dev, pos + PCI_CAP_LIST_NEXT) & ~3;
    }
    return 0;
}

/* The proxy's read-only "express" property. */
static bool proxy_express(Pcie *p)
{
    QDict *rsp = qtest_qmp(p->qts, "{'execute': 'qom-get', 'arguments': "
                           "{'path': '/machine/peripheral/px', "
                           "'property': 'express'}}");
    bool express;

    g_assert_true(qdict_haskey(rsp, "return"));
    express = qdict_get_bool(rsp, "return");
    qobject_unref(rsp);
    return express;
}

/* BAR0 reaches the model: edu's identification register. */
static void assert_edu_works(Pcie *p)
{
    QPCIDevice *dev = qpci_device_find(p->bus, QPCI_DEVFN(SLOT, 0));
    QPCIBar bar;

    g_assert_nonnull(dev);
    qpci_device_enable(dev);
    bar = qpci_iomap(dev, 0, NULL);
    g_assert_cmphex(qpci_io_readl(dev, bar, 0x00), ==, 0x010000ed);
    qpci_iounmap(dev, bar);
    g_free(dev);
}

/*
 * The PCI Express capability (emulated by the proxy, of @type) and the
 * model's extended list: the serial number at 0x100, the only one.
 */
static void assert_express(Pcie *p, unsigned type)
{
    unsigned exp;
    uint16_t flags;

    g_assert_true(proxy_express(p));
    pcie_enable_ecam(p);
    g_assert_cmphex(ecam_readl(p, PCI_VENDOR_ID), ==, 0x11e81234);
    exp = ecam_find_cap(p, PCI_CAP_ID_EXP);
    g_assert_cmpuint(exp, !=, 0);
    g_assert_cmpuint(ecam_find_cap(p, PCI_CAP_ID_MSI), !=, 0);
    flags = ecam_readb(p, exp + PCI_EXP_FLAGS) |
            ecam_readb(p, exp + PCI_EXP_FLAGS + 1) << 8;
    g_assert_cmpuint(flags & PCI_EXP_FLAGS_VERS, ==, 2);
    g_assert_cmpuint((flags & PCI_EXP_FLAGS_TYPE) >> 4, ==, type);

    /* Device Serial Number: id 3, version 1, no next. */
    g_assert_cmphex(ecam_readl(p, 0x100), ==, 0x00010003);
    g_assert_cmphex(ecam_readl(p, 0x104), ==, (uint32_t)SERIAL);
    g_assert_cmphex(ecam_readl(p, 0x108), ==, (uint32_t)(SERIAL >> 32));
    /* Past the list: the model's zeros, not the end of config space. */
    g_assert_cmphex(ecam_readl(p, 0xffc), ==, 0);
}

#define PCIE_EDU "edu,pcie=on,serial=0x0123456789abcdef"

/* On q35's root complex: a root complex integrated endpoint. */
static void test_q35(const void *data)
{
    Pcie p = { 0 };

    pcie_start(&p, "q35", PCIE_EDU, false);
    assert_express(&p, PCI_EXP_TYPE_RC_END);
    assert_edu_works(&p);
    pcie_stop(&p);
}

/* Behind a PCI Express root port: an endpoint. */
static void test_q35_root_port(const void *data)
{
    Pcie p = { 0 };

    pcie_start(&p, "q35", PCIE_EDU, true);
    assert_express(&p, PCI_EXP_TYPE_ENDPOINT);
    pcie_stop(&p);
}

/* A conventional model on q35: 256 bytes, ECAM reads all ones above. */
static void test_q35_conventional(const void *data)
{
    Pcie p = { 0 };

    pcie_start(&p, "q35", "edu", false);
    g_assert_false(proxy_express(&p));
    pcie_enable_ecam(&p);
    g_assert_cmphex(ecam_readl(&p, PCI_VENDOR_ID), ==, 0x11e81234);
    g_assert_cmpuint(ecam_find_cap(&p, PCI_CAP_ID_EXP), ==, 0);
    g_assert_cmphex(ecam_readl(&p, 0x100), ==, 0xffffffff);
    assert_edu_works(&p);
    pcie_stop(&p);
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
 * Migration: the 4096 bytes of config space travel (the target compares
 * the extended headers it mirrored from the same model) and the target
 * is the same PCI Express endpoint, ECAM and all.
 */
static void test_q35_migrate(const void *data)
{
    Pcie p = { 0 };
    g_autofree char *uri = NULL;
    g_autofree char *target_cmd = NULL;
    QTestState *target;

    pcie_start(&p, "q35", PCIE_EDU, true);
    assert_express(&p, PCI_EXP_TYPE_ENDPOINT);
    uri = g_strdup_printf("unix:%s/migrate.sock", p.remote->dir);
    target_cmd = g_strdup_printf("%s -incoming defer", p.cmdline);
    target = qtest_init(target_cmd);
    qtest_qmp_assert_success(target, "{'execute': 'migrate-incoming',"
                             " 'arguments': {'uri': %s}}", uri);
    qtest_qmp_assert_success(p.qts, "{'execute': 'migrate',"
                             " 'arguments': {'uri': %s}}", uri);
    DM_WAIT_UNTIL(qmp_status_is(p.qts, "query-migrate", "completed"));
    g_assert_true(qmp_status_is(p.qts, "query-migrate", "completed"));
    DM_WAIT_UNTIL(qmp_status_is(target, "query-status", "running"));
    g_assert_true(qmp_status_is(target, "query-status", "running"));

    /* The target, with the source's ECAM window and bus numbers. */
    qtest_quit(p.qts);
    p.qts = target;
    g_assert_true(proxy_express(&p));
    g_assert_cmphex(ecam_readl(&p, PCI_VENDOR_ID), ==, 0x11e81234);
    g_assert_cmphex(ecam_readl(&p, 0x100), ==, 0x00010003);
    g_assert_cmphex(ecam_readl(&p, 0x104), ==, (uint32_t)SERIAL);
    pcie_stop(&p);
}

/*
 * The PCI Express model on i440fx: a conventional device.  Its PCI
 * Express capability is the model's own bytes (an endpoint, not the
 * proxy's emulation), as vfio-pci shows a device's.
 */
static void test_i440fx(const void *data)
{
    Pcie p = { 0 };
    QPCIDevice *dev;
    unsigned exp;

    pcie_start(&p, "pc", PCIE_EDU, false);
    g_assert_false(proxy_express(&p));
    dev = qpci_device_find(p.bus, QPCI_DEVFN(SLOT, 0));
    g_assert_nonnull(dev);
    exp = cf8_find_cap(dev, PCI_CAP_ID_EXP);
    g_assert_cmpuint(exp, !=, 0);
    g_assert_cmphex(qpci_config_readw(dev, exp + PCI_EXP_FLAGS), ==,
                    0x0002);
    g_free(dev);
    assert_edu_works(&p);
    pcie_stop(&p);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_data_func("/dm/pcie/q35", NULL, test_q35);
    qtest_add_data_func("/dm/pcie/q35-root-port", NULL, test_q35_root_port);
    qtest_add_data_func("/dm/pcie/q35-conventional", NULL,
                        test_q35_conventional);
    qtest_add_data_func("/dm/pcie/q35-migrate", NULL, test_q35_migrate);
    qtest_add_data_func("/dm/pcie/i440fx", NULL, test_i440fx);
    return g_test_run();
}
