/*
 * bochs-display in-process through the fake link (model-rig.c): its PCI
 * identity, the dispi registers as Linux's bochs driver programs them,
 * the EDID block, values a hostile guest writes (refused, the registers
 * keep what they had), and the framebuffer: what a region write puts in
 * BAR0 is what the model's memory holds, and the reverse.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "mapped.h"
#include "model-rig.h"
#include "pci.h"

#define BAR0        VUP_PCI_BAR0_REGION_INDEX
#define BAR2        (VUP_PCI_BAR0_REGION_INDEX + 2)
#define CFG         VUP_PCI_CONFIG_REGION_INDEX

#define DISPI(i)    (0x500 + 2 * (i))
#define ID          0
#define XRES        1
#define YRES        2
#define BPP         3
#define ENABLE      4
#define BANK        5
#define VIRT_WIDTH  6
#define VIRT_HEIGHT 7
#define X_OFFSET    8
#define Y_OFFSET    9
#define VMEM_64K    10

static uint16_t dispi(Rig *r, unsigned i)
{
    return rig_read(r, BAR2, DISPI(i), 2);
}

static void set_dispi(Rig *r, unsigned i, uint16_t v)
{
    rig_write(r, BAR2, DISPI(i), v, 2);
}

/* What bochs_hw_setmode does in Linux 6.1, in its order. */
static void linux_setmode(Rig *r, unsigned x, unsigned y, uint64_t fb_size)
{
    set_dispi(r, ENABLE, 0);
    set_dispi(r, BPP, 32);
    set_dispi(r, XRES, x);
    set_dispi(r, YRES, y);
    set_dispi(r, BANK, 0);
    set_dispi(r, VIRT_WIDTH, x);
    set_dispi(r, VIRT_HEIGHT, fb_size / (x * 4));
    set_dispi(r, X_OFFSET, 0);
    set_dispi(r, Y_OFFSET, 0);
    set_dispi(r, ENABLE, 0x41);
}

static void test_identity(void **unused)
{
    Rig *r = rig_new("bochs-display");

    assert_int_equal(rig_read(r, CFG, 0, 4), 0x11111234);
    assert_int_equal(rig_read(r, CFG, 8, 4), 0x03800002);
    assert_int_equal(r->dev.regions[BAR0].size, 16 << 20);
    assert_int_equal(r->dev.regions[BAR2].size, 4096);
    /* BAR0 prefetchable memory, all of it mappable. */
    assert_int_equal(rig_read(r, CFG, 0x10, 4) & 0xf, 0x8);
    assert_int_equal(dm_mapped_areas_of(&r->dev.mapped, BAR0, NULL, 0, NULL),
                     1);
    assert_int_equal(dispi(r, ID), 0xb0c5);
    assert_int_equal(dispi(r, VMEM_64K), 256);
    /* QEMU's extended registers: size 8, little endian. */
    assert_int_equal(rig_read(r, BAR2, 0x600, 4), 8);
    assert_int_equal(rig_read(r, BAR2, 0x604, 4), 0x1e1e1e1e);
    rig_write(r, BAR2, 0x604, 0xbebebebe, 4);
    assert_int_equal(rig_read(r, BAR2, 0x604, 4), 0x1e1e1e1e);
    rig_free(r);

    r = rig_new("bochs-display,vgamem=0x400000");
    assert_int_equal(r->dev.regions[BAR0].size, 4 << 20);
    assert_int_equal(dispi(r, VMEM_64K), 64);
    rig_free(r);
}

static void test_edid(void **unused)
{
    static const uint8_t header[8] = { 0, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xff, 0 };
    Rig *r = rig_new("bochs-display,xres=1280,yres=800");
    uint8_t e[128], sum = 0;
    bool has_1080 = false;

    /* A byte at a time, as Linux reads it. */
    for (unsigned i = 0; i < 128; i++) {
        e[i] = rig_read(r, BAR2, i, 1);
        sum += e[i];
    }
    assert_memory_equal(e, header, 8);
    assert_int_equal(sum, 0);
    assert_int_equal(e[18], 1);                 /* EDID 1.4 */
    assert_int_equal(e[19], 4);
    assert_int_equal(e[126], 0);                /* no extension */
    /* The preferred mode, the first detailed timing: 1280x800. */
    assert_int_equal(e[56] | (e[58] >> 4) << 8, 1280);
    assert_int_equal(e[59] | (e[61] >> 4) << 8, 800);
    /* 1024x768@60 established, 1920x1080 a standard timing. */
    assert_true(e[36] & 0x08);
    for (unsigned i = 38; i < 54; i += 2) {
        has_1080 |= e[i] == 1920 / 8 - 31 && e[i + 1] >> 6 == 3;
    }
    assert_true(has_1080);
    /* A wider read gives the same bytes, little endian. */
    assert_int_equal(rig_read(r, BAR2, 0, 4), 0xffffff00);
    /* Past the block: zeros. */
    assert_int_equal(rig_read(r, BAR2, 0x200, 4), 0);
    rig_free(r);

    /* 4 MiB cannot hold 1920x1080 twice: not offered. */
    r = rig_new("bochs-display,vgamem=0x400000");
    for (unsigned i = 38; i < 54; i += 2) {
        assert_false(rig_read(r, BAR2, i, 1) == 1920 / 8 - 31 &&
                     rig_read(r, BAR2, i + 1, 1) >> 6 == 3);
    }
    assert_int_equal(rig_read(r, BAR2, 56, 1), 1024 & 0xff);
    rig_free(r);
}

static void test_mode_set(void **unused)
{
    Rig *r = rig_new("bochs-display");

    linux_setmode(r, 1024, 768, 16 << 20);
    assert_int_equal(dispi(r, XRES), 1024);
    assert_int_equal(dispi(r, YRES), 768);
    assert_int_equal(dispi(r, BPP), 32);
    assert_int_equal(dispi(r, ENABLE), 0x41);
    assert_int_equal(dispi(r, VIRT_WIDTH), 1024);
    assert_int_equal(dispi(r, VIRT_HEIGHT), 4096);
    /* A page flip (bochs_hw_setbase): the second buffer. */
    set_dispi(r, Y_OFFSET, 768);
    assert_int_equal(dispi(r, Y_OFFSET), 768);
    /* 1920x1080 too, after disabling. */
    linux_setmode(r, 1920, 1080, 16 << 20);
    assert_int_equal(dispi(r, XRES), 1920);
    assert_int_equal(dispi(r, ENABLE), 0x41);
    /* 32-bit accesses reach two registers. */
    assert_int_equal(rig_read(r, BAR2, DISPI(XRES), 4) & 0xffff, 1920);
    assert_int_equal(rig_read(r, BAR2, DISPI(BPP), 4), 0x410020);
    rig_free(r);
}

static void test_hostile(void **unused)
{
    Rig *r = rig_new("bochs-display,vgamem=0x400000");

    /* Bad depth, zero or huge sizes: refused, the registers keep 0. */
    set_dispi(r, BPP, 24);
    set_dispi(r, BPP, 0xffff);
    assert_int_equal(dispi(r, BPP), 0);
    set_dispi(r, XRES, 0);
    set_dispi(r, XRES, 60000);
    assert_int_equal(dispi(r, XRES), 0);
    set_dispi(r, VIRT_WIDTH, 60000);
    assert_int_equal(dispi(r, VIRT_WIDTH), 0);
    set_dispi(r, BANK, 3);
    assert_int_equal(dispi(r, BANK), 0);
    set_dispi(r, ENABLE, 0x8000);
    assert_int_equal(dispi(r, ENABLE), 0);
    /* Enabling with nothing set up: refused. */
    set_dispi(r, ENABLE, 0x41);
    assert_int_equal(dispi(r, ENABLE), 0);

    /* 1920x1080x4 = 8 MB does not fit 4 MiB: ENABLE refused. */
    linux_setmode(r, 1920, 1080, 4 << 20);
    assert_int_equal(dispi(r, XRES), 1920);
    assert_int_equal(dispi(r, ENABLE), 0);
    /* A window past the end: offsets make it not fit. */
    linux_setmode(r, 1024, 768, 4 << 20);
    assert_int_equal(dispi(r, ENABLE), 0x41);
    set_dispi(r, Y_OFFSET, 300);        /* (300 + 768) * 4 KiB > 4 MiB */
    assert_int_equal(dispi(r, Y_OFFSET), 0);
    set_dispi(r, Y_OFFSET, 255);        /* the last line ends at 4 MiB */
    assert_int_equal(dispi(r, Y_OFFSET), 255);
    set_dispi(r, X_OFFSET, 1);          /* past the line's end */
    assert_int_equal(dispi(r, X_OFFSET), 0);
    set_dispi(r, VIRT_WIDTH, 1000);     /* narrower than XRES */
    assert_int_equal(dispi(r, VIRT_WIDTH), 1024);
    /* While enabled the resolution is read-only. */
    set_dispi(r, XRES, 640);
    assert_int_equal(dispi(r, XRES), 1024);
    /* Half a register, odd offsets, read-only ones: nothing changes. */
    rig_write(r, BAR2, DISPI(Y_OFFSET), 1, 1);
    rig_write(r, BAR2, DISPI(Y_OFFSET) + 1, 1, 2);
    rig_write(r, BAR2, DISPI(ID), 0xb0c0, 2);
    rig_write(r, BAR2, DISPI(VMEM_64K), 0xffff, 2);
    assert_int_equal(dispi(r, Y_OFFSET), 255);
    assert_int_equal(dispi(r, ID), 0xb0c5);
    assert_int_equal(dispi(r, VMEM_64K), 64);
    /* Past the registers, EDID writes: ignored, reads 0 or the blob. */
    rig_write(r, BAR2, DISPI(11), 5, 2);
    assert_int_equal(rig_read(r, BAR2, DISPI(11), 2), 0);
    rig_write(r, BAR2, 0, 0x12345678, 4);
    assert_int_equal(rig_read(r, BAR2, 0, 4), 0xffffff00);
    rig_write(r, BAR2, 0xffc, 0xffffffff, 4);
    assert_int_equal(rig_read(r, BAR2, 0xffc, 4), 0);
    rig_free(r);
}

static void test_framebuffer(void **unused)
{
    Rig *r = rig_new("bochs-display");
    uint64_t n;
    uint8_t *mem = dm_mapped_lookup(&r->dev.mapped, BAR0, 0, 16 << 20, &n);

    assert_non_null(mem);
    assert_int_equal(n, 16 << 20);
    /* A guest's write by message lands in the model's memory... */
    rig_write(r, BAR0, 0x1000, 0x00ff8040, 4);
    rig_write(r, BAR0, (16 << 20) - 8, 0x1122334455667788ull, 8);
    assert_int_equal(mem[0x1000], 0x40);
    assert_int_equal(mem[0x1001], 0x80);
    assert_int_equal(mem[0x1002], 0xff);
    assert_int_equal(mem[(16 << 20) - 1], 0x11);
    /* ...and what the model's memory holds is what the guest reads. */
    mem[0x2000] = 0x5a;
    assert_int_equal(rig_read(r, BAR0, 0x2000, 1), 0x5a);
    assert_int_equal(rig_read(r, BAR0, 0x1000, 4), 0x00ff8040);
    rig_free(r);
}

static void test_save_load(void **unused)
{
    char dir[] = "/tmp/dm-test-bochs-XXXXXX", path[64], err[256];
    Rig *a, *b;
    FILE *f;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/state", dir);
    a = rig_new("bochs-display");
    linux_setmode(a, 800, 600, 16 << 20);
    set_dispi(a, Y_OFFSET, 600);
    assert_int_equal(dm_device_save_file(&a->dev, path, err, sizeof(err)), 0);
    rig_free(a);

    b = rig_new("bochs-display");
    assert_int_equal(dm_device_load_file(&b->dev, path, err, sizeof(err)), 0);
    assert_int_equal(dispi(b, XRES), 800);
    assert_int_equal(dispi(b, YRES), 600);
    assert_int_equal(dispi(b, Y_OFFSET), 600);
    assert_int_equal(dispi(b, ENABLE), 0x41);
    rig_free(b);

    /* A state whose mode does not fit this vgamem: refused, not half set. */
    b = rig_new("bochs-display,vgamem=0x400000");
    a = rig_new("bochs-display");
    linux_setmode(a, 1920, 1080, 16 << 20);
    assert_int_equal(dm_device_save_file(&a->dev, path, err, sizeof(err)), 0);
    rig_free(a);
    assert_int_equal(dm_device_load_file(&b->dev, path, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(dispi(b, ENABLE), 0);
    rig_free(b);
    f = fopen(path, "r");
    assert_non_null(f);
    fclose(f);
    unlink(path);
    rmdir(dir);
}

static void test_bad_props(void **unused)
{
    static const char *const bad[] = {
        "vgamem=0x500000",              /* not a power of two */
        "vgamem=0x20000000",            /* over 256 MiB */
        "xres=2560", "yres=100",
        "vnc=udp:1.2.3.4:5",
        "keyboard=tcp:localhost:1",     /* input links are UNIX */
        "keyboard=unix:/tmp/k",         /* without vnc= */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char spec[128];
        DmLoop *loop = dm_loop_new();
        DmDevice dev;
        DmModelArgs args = { 0 };
        char err[256], *name;

        snprintf(spec, sizeof(spec), "bochs-display,%s", bad[i]);
        assert_int_equal(dm_props_split(spec, &name, &args.props, err,
                                        sizeof(err)), 0);
        assert_true(dm_device_realize(&dev, dm_model_find(name), loop,
                                      &args) < 0);
        free(name);
        dm_props_free(&args.props);
        dm_loop_free(loop);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_edid),
        cmocka_unit_test(test_mode_set),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_framebuffer),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_bad_props),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
