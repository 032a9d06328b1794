/*
 * Unit tests: PCI config space emulation for models.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "pci.h"

static DmPci pci;

static uint32_t rd(unsigned off, unsigned len)
{
    uint32_t v = 0;

    dm_pci_config_read(&pci, off, &v, len);
    return v;
}

static void wr(unsigned off, uint32_t v, unsigned len)
{
    dm_pci_config_write(&pci, off, &v, len);
}

static int setup(void **state)
{
    dm_pci_init(&pci, 0x1234, 0x11e8, 0x10, 0x00ff);
    return 0;
}

static void test_ids_read_only(void **state)
{
    assert_int_equal(rd(0x00, 4), 0x11e81234);
    assert_int_equal(rd(0x08, 1), 0x10);
    assert_int_equal(rd(0x0a, 2), 0x00ff);
    wr(0x00, 0xffffffff, 4);
    wr(0x08, 0xffffffff, 4);
    assert_int_equal(rd(0x00, 4), 0x11e81234);
    assert_int_equal(rd(0x08, 4), 0x00ff0010);
    /* No expansion ROM: its BAR reads 0 even after sizing. */
    wr(0x30, 0xfffff800, 4);
    assert_int_equal(rd(0x30, 4), 0);
}

static void test_command_and_status(void **state)
{
    wr(0x04, 0xffff, 2);
    assert_int_equal(rd(0x04, 2), 0x0547);  /* IO MEM MASTER PERR SERR INTX */
    wr(0x04, 0, 2);
    assert_int_equal(rd(0x04, 2), 0);

    /* Error bits of the status register are write-1-to-clear. */
    pci.config[0x07] = 0x80;
    wr(0x06, 0x0000, 2);
    assert_int_equal(rd(0x06, 2), 0x8000);
    wr(0x06, 0x8000, 2);
    assert_int_equal(rd(0x06, 2), 0);
}

static void test_bar_sizing(void **state)
{
    assert_int_equal(dm_pci_set_bar(&pci, 0, 1024 * 1024, DM_PCI_BAR_MEM32),
                     0);
    assert_int_equal(dm_pci_set_bar(&pci, 1, 32, DM_PCI_BAR_IO), 0);
    assert_int_equal(dm_pci_set_bar(&pci, 2, 8ULL << 30,
                                    DM_PCI_BAR_MEM64 | DM_PCI_BAR_PREFETCH),
                     0);

    wr(0x10, 0xffffffff, 4);
    assert_int_equal(rd(0x10, 4), 0xfff00000);
    wr(0x14, 0xffffffff, 4);
    assert_int_equal(rd(0x14, 4), 0xffffffe1);
    wr(0x18, 0xffffffff, 4);
    wr(0x1c, 0xffffffff, 4);
    assert_int_equal(rd(0x18, 4), 0x0000000c);
    assert_int_equal(rd(0x1c, 4), 0xfffffffe);

    /* An address is kept; the type bits stay. */
    wr(0x10, 0xfebc0000 | 0xf, 4);
    assert_int_equal(rd(0x10, 4), 0xfeb00000);
    /* BARs that do not exist read 0. */
    wr(0x20, 0xffffffff, 4);
    assert_int_equal(rd(0x20, 4), 0);
}

static void test_bad_bars(void **state)
{
    assert_int_equal(dm_pci_set_bar(&pci, 0, 3000, DM_PCI_BAR_MEM32),
                     -EINVAL);
    assert_int_equal(dm_pci_set_bar(&pci, 0, 8, DM_PCI_BAR_MEM32), -EINVAL);
    assert_int_equal(dm_pci_set_bar(&pci, 5, 4096, DM_PCI_BAR_MEM64),
                     -EINVAL);
    assert_int_equal(dm_pci_set_bar(&pci, 6, 4096, DM_PCI_BAR_MEM32),
                     -EINVAL);
    assert_int_equal(dm_pci_set_bar(&pci, 0, 512, DM_PCI_BAR_IO), -EINVAL);
    assert_int_equal(dm_pci_set_bar(&pci, 0, 4ULL << 30, DM_PCI_BAR_MEM32),
                     -EINVAL);
    assert_int_equal(dm_pci_set_bar(&pci, 0, 0, DM_PCI_BAR_MEM32), -EINVAL);
}

static void test_msi_capability(void **state)
{
    int off = dm_pci_msi_init(&pci, 4);

    assert_int_equal(off, 0x40);
    assert_int_equal(rd(0x34, 1), 0x40);
    assert_true(rd(0x06, 2) & 0x0010);          /* capability list */
    assert_int_equal(rd(off, 1), DM_PCI_CAP_ID_MSI);
    assert_int_equal(rd(off + 1, 1), 0);        /* last in the list */
    /* 64-bit, 4 vectors capable (MMC = 2). */
    assert_int_equal(rd(off + 2, 2), 0x0080 | (2 << 1));

    /* Enable, enable 4 vectors; MMC itself is read-only. */
    wr(off + 2, 0xffff, 2);
    assert_int_equal(rd(off + 2, 2), 0x0080 | (2 << 1) | 0x0070 | 1);
    wr(off + 4, 0xfee00003, 4);
    assert_int_equal(rd(off + 4, 4), 0xfee00000);
    wr(off + 8, 0x12345678, 4);
    assert_int_equal(rd(off + 8, 4), 0x12345678);
    wr(off + 12, 0xabcd, 2);
    assert_int_equal(rd(off + 12, 2), 0xabcd);

    assert_int_equal(dm_pci_msi_init(&pci, 3), -EINVAL);
    assert_int_equal(dm_pci_msi_init(&pci, 64), -EINVAL);
}

static void test_msix_capability(void **state)
{
    int msi, msix;

    assert_int_equal(dm_pci_set_bar(&pci, 1, 4096, DM_PCI_BAR_MEM32), 0);
    msi = dm_pci_msi_init(&pci, 1);
    msix = dm_pci_msix_init(&pci, 8, 1, 0x800, 1, 0xc00);
    assert_true(msix > msi);
    /* Linked after MSI. */
    assert_int_equal(rd(msi + 1, 1), msix);
    assert_int_equal(rd(msix, 1), DM_PCI_CAP_ID_MSIX);
    assert_int_equal(rd(msix + 2, 2), 7);       /* table size - 1 */
    assert_int_equal(rd(msix + 4, 4), 0x800 | 1);
    assert_int_equal(rd(msix + 8, 4), 0xc00 | 1);
    wr(msix + 2, 0xffff, 2);
    assert_int_equal(rd(msix + 2, 2), 0xc007);  /* enable + mask all */

    /* Table or PBA outside their BAR, or misaligned. */
    assert_int_equal(dm_pci_msix_init(&pci, 300, 1, 0, 1, 0xc00), -EINVAL);
    assert_int_equal(dm_pci_msix_init(&pci, 8, 1, 0x804, 1, 0xc00),
                     -EINVAL);
    assert_int_equal(dm_pci_msix_init(&pci, 8, 2, 0, 1, 0xc00), -EINVAL);
}

static void test_capability_space_runs_out(void **state)
{
    int n = 0;

    while (dm_pci_add_capability(&pci, 0x09, 32) > 0) {
        n++;
    }
    assert_int_equal(n, 6);                     /* 0x40..0xff */
    assert_int_equal(dm_pci_add_capability(&pci, 0x09, 32), -ENOSPC);
}

/* A conventional device: 256 bytes, no extended capabilities. */
static void test_conventional_has_no_ext_space(void **state)
{
    assert_int_equal(dm_pci_config_size(&pci), 256);
    assert_int_equal(dm_pci_add_ext_capability(&pci, 0x0003, 1, 12),
                     -EINVAL);
}

static void test_pcie_capability(void **state)
{
    int msi = dm_pci_msi_init(&pci, 1);
    int exp = dm_pci_pcie_init(&pci, DM_PCI_EXP_TYPE_ENDPOINT);

    assert_int_equal(dm_pci_config_size(&pci), 4096);
    assert_true(exp > msi);
    assert_int_equal(rd(msi + 1, 1), exp);      /* linked after MSI */
    assert_int_equal(rd(exp, 1), DM_PCI_CAP_ID_EXP);
    assert_int_equal(rd(exp + 1, 1), 0);
    assert_int_equal(rd(exp + 2, 2), 0x0002);   /* version 2, endpoint */
    assert_int_equal(rd(exp + 0x0c, 4) & 0x3ff, 0x11);  /* x1, 2.5 GT/s */
    /* The flags are read-only; the device control register is not. */
    wr(exp + 2, 0xffff, 2);
    assert_int_equal(rd(exp + 2, 2), 0x0002);
    wr(exp + 8, 0xffff, 2);
    assert_int_equal(rd(exp + 8, 2), 0x78ff);
    /* An empty extended list: a zero header at 0x100. */
    assert_int_equal(rd(0x100, 4), 0);
    assert_int_equal(dm_pci_pcie_init(&pci, DM_PCI_EXP_TYPE_ENDPOINT),
                     -EEXIST);
}

static void test_ext_capabilities(void **state)
{
    int a, b, c;

    assert_true(dm_pci_pcie_init(&pci, DM_PCI_EXP_TYPE_ENDPOINT) > 0);
    a = dm_pci_add_ext_capability(&pci, 0x0003, 1, 12);
    b = dm_pci_add_ext_capability(&pci, 0x000b, 2, 10);
    c = dm_pci_add_ext_capability(&pci, 0x0001, 2, 0x48);
    assert_int_equal(a, 0x100);
    assert_int_equal(b, 0x10c);
    assert_int_equal(c, 0x118);                 /* 0x10c + 10, aligned */
    /* id 15:0, version 19:16, next 31:20, each linked to the next. */
    assert_int_equal(rd(a, 4), 0x0003 | 1 << 16 | (uint32_t)b << 20);
    assert_int_equal(rd(b, 4), 0x000b | 2 << 16 | (uint32_t)c << 20);
    assert_int_equal(rd(c, 4), 0x0001 | 2 << 16);
    /* Read-only, as the header must be. */
    wr(a, 0xffffffff, 4);
    assert_int_equal(rd(a, 4), 0x0003 | 1 << 16 | (uint32_t)b << 20);

    assert_int_equal(dm_pci_add_ext_capability(&pci, 0x0003, 16, 12),
                     -EINVAL);
    assert_int_equal(dm_pci_add_ext_capability(&pci, 0x0003, 1, 2),
                     -EINVAL);
}

static void test_ext_space_runs_out(void **state)
{
    int n = 0, last = 0, off;

    assert_true(dm_pci_pcie_init(&pci, DM_PCI_EXP_TYPE_ENDPOINT) > 0);
    while ((off = dm_pci_add_ext_capability(&pci, 0x000b, 1, 256)) > 0) {
        last = off;
        n++;
    }
    assert_int_equal(n, 15);                    /* 0x100..0xfff */
    assert_int_equal(last, 0xf00);
    assert_int_equal(off, -ENOSPC);
    /* The last one that fits ends at 0xfff exactly. */
    assert_int_equal(dm_pci_add_ext_capability(&pci, 0x000b, 1, 4), -ENOSPC);
    assert_int_equal(rd(0xf00, 4) >> 20, 0);    /* the tail */
}

static void test_reset(void **state)
{
    int off;

    assert_int_equal(dm_pci_set_bar(&pci, 0, 4096, DM_PCI_BAR_MEM32), 0);
    off = dm_pci_msi_init(&pci, 1);
    dm_pci_finalize(&pci);
    wr(0x04, 0x7, 2);
    wr(0x10, 0xfe000000, 4);
    wr(off + 2, 1, 2);
    dm_pci_reset(&pci);
    assert_int_equal(rd(0x04, 2), 0);
    assert_int_equal(rd(0x10, 4), 0);
    assert_int_equal(rd(off + 2, 2), 0x0080);
    assert_int_equal(rd(0x00, 4), 0x11e81234);
}

/* What the hook saw, and the byte it puts in the window on a read. */
static unsigned hook_calls;
static bool hook_write;
static uint32_t hook_offset, hook_len;
static uint8_t hook_saw_44;

static void hook(void *opaque, bool write, uint32_t offset, uint32_t len)
{
    DmPci *p = opaque;

    hook_calls++;
    hook_write = write;
    hook_offset = offset;
    hook_len = len;
    hook_saw_44 = p->config[0x44];
    if (!write) {
        p->config[0x42] = 0x5a;         /* filled before it is copied out */
    }
}

/* A model's hook runs for accesses that overlap its window, only. */
static void test_config_hook(void **state)
{
    int off = dm_pci_add_capability(&pci, 0x09, 8);

    assert_int_equal(off, 0x40);
    pci.wmask[0x44] = 0xff;
    dm_pci_set_config_hook(&pci, 0x42, 2, hook, &pci);
    hook_calls = 0;
    assert_int_equal(rd(0x40, 2), 0x0009);      /* beside it */
    wr(0x44, 7, 1);
    assert_int_equal(hook_calls, 0);
    assert_int_equal(rd(0x40, 4), 0x005a0009);  /* overlapping */
    assert_int_equal(hook_calls, 1);
    assert_false(hook_write);
    assert_int_equal(hook_offset, 0x40);
    assert_int_equal(hook_len, 4);
    wr(0x43, 0, 2);                             /* its last byte */
    assert_int_equal(hook_calls, 2);
    assert_true(hook_write);
    assert_int_equal(hook_offset, 0x43);
    assert_int_equal(hook_len, 2);
    assert_int_equal(hook_saw_44, 0);           /* landed before the hook */
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, setup)
    const struct CMUnitTest tests[] = {
        T(test_ids_read_only),
        T(test_command_and_status),
        T(test_bar_sizing),
        T(test_bad_bars),
        T(test_msi_capability),
        T(test_msix_capability),
        T(test_capability_space_runs_out),
        T(test_conventional_has_no_ext_space),
        T(test_pcie_capability),
        T(test_ext_capabilities),
        T(test_ext_space_runs_out),
        T(test_reset),
        T(test_config_hook),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
