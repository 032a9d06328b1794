/*
 * The mc146818 real-time clock through the fake link: registers as the
 * guest reads them (BCD and binary, 24 and 12 hours), setting the time,
 * the three interrupts, register C read to clear, UIP, the CMOS file and
 * the state across a restart.  The test drives the VM clock itself
 * (paused at chosen instants, as a client reporting it would), so every
 * tick is exact: no waiting, no host time in any assertion.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "model-rig.h"

#define NS          1000000000LL
#define MS          1000000LL

#define REG_SEC         0x00
#define REG_SEC_ALARM   0x01
#define REG_MIN         0x02
#define REG_MIN_ALARM   0x03
#define REG_HOUR        0x04
#define REG_HOUR_ALARM  0x05
#define REG_WDAY        0x06
#define REG_MDAY        0x07
#define REG_MONTH       0x08
#define REG_YEAR        0x09
#define REG_A           0x0a
#define REG_B           0x0b
#define REG_C           0x0c
#define REG_D           0x0d
#define REG_CENTURY     0x32

/* 2006-06-17T16:01:21 (a Saturday), at VM time 0. */
#define BASE "mc146818,base=2006-06-17T16:01:21"

static uint8_t cmos_read(Rig *r, unsigned reg)
{
    rig_write(r, 0, 0, reg, 1);
    return rig_read(r, 0, 1, 1);
}

static void cmos_write(Rig *r, unsigned reg, uint8_t v)
{
    rig_write(r, 0, 0, reg, 1);
    rig_write(r, 0, 1, v, 1);
}

/* The VM clock stands at @ns (paused): what a client reports. */
static void vm_at(Rig *r, int64_t ns)
{
    dm_vm_clock_set(&r->dev.vm_clock, false, ns);
    rig_run_for(r, 1);          /* timers due at once fire */
}

static bool line(Rig *r)
{
    return dm_irq_level(&r->dev.irqs, 0, 0);
}

/* A rig whose VM clock is paused at 0, where base= puts the time. */
static Rig *rtc_new(const char *spec)
{
    Rig *r = rig_new(spec);

    assert_non_null(r);
    /*
     * realize read the running clock at a few microseconds: pause it
     * at 0 and let the guest's time start from base= exactly.
     */
    vm_at(r, 0);
    cmos_write(r, REG_B, cmos_read(r, REG_B) | 0x80);   /* SET */
    cmos_write(r, REG_SEC, 0x21);
    cmos_write(r, REG_B, cmos_read(r, REG_B) & ~0x80);
    return r;
}

static void test_time_registers(void **unused)
{
    Rig *r = rtc_new(BASE);

    /* BCD, 24 hours: as PC firmware leaves it. */
    assert_int_equal(cmos_read(r, REG_SEC), 0x21);
    assert_int_equal(cmos_read(r, REG_MIN), 0x01);
    assert_int_equal(cmos_read(r, REG_HOUR), 0x16);
    assert_int_equal(cmos_read(r, REG_WDAY), 7);
    assert_int_equal(cmos_read(r, REG_MDAY), 0x17);
    assert_int_equal(cmos_read(r, REG_MONTH), 0x06);
    assert_int_equal(cmos_read(r, REG_YEAR), 0x06);
    assert_int_equal(cmos_read(r, REG_CENTURY), 0x20);
    assert_int_equal(cmos_read(r, REG_D), 0x80);
    /* The index port reads as a floating bus. */
    assert_int_equal(rig_read(r, 0, 0, 1), 0xff);

    /* 12 hours: 4 PM. */
    cmos_write(r, REG_B, cmos_read(r, REG_B) & ~0x02);
    assert_int_equal(cmos_read(r, REG_HOUR), 0x80 | 0x04);
    /* Binary. */
    cmos_write(r, REG_B, (cmos_read(r, REG_B) | 0x04 | 0x02));
    assert_int_equal(cmos_read(r, REG_HOUR), 16);
    assert_int_equal(cmos_read(r, REG_SEC), 21);
    assert_int_equal(cmos_read(r, REG_YEAR), 6);

    /* The VM clock moves, the time with it; paused, it stands. */
    vm_at(r, 100 * NS);
    assert_int_equal(cmos_read(r, REG_MIN), 3);
    assert_int_equal(cmos_read(r, REG_SEC), 1);
    assert_int_equal(cmos_read(r, REG_SEC), 1);
    rig_free(r);
}

static void test_set_time(void **unused)
{
    Rig *r = rtc_new(BASE);

    /* SET: the guest writes 2031-12-31 23:59:58, then lets it run. */
    cmos_write(r, REG_B, 0x80 | 0x02);
    cmos_write(r, REG_SEC, 0x58);
    cmos_write(r, REG_MIN, 0x59);
    cmos_write(r, REG_HOUR, 0x23);
    cmos_write(r, REG_MDAY, 0x31);
    cmos_write(r, REG_MONTH, 0x12);
    cmos_write(r, REG_YEAR, 0x31);
    cmos_write(r, REG_CENTURY, 0x20);
    /* Frozen while SET: time moves, the registers do not. */
    vm_at(r, 5 * NS);
    assert_int_equal(cmos_read(r, REG_SEC), 0x58);
    cmos_write(r, REG_B, 0x02);
    /* Three seconds later it is a new year. */
    vm_at(r, 8 * NS);
    assert_int_equal(cmos_read(r, REG_SEC), 0x01);
    assert_int_equal(cmos_read(r, REG_MIN), 0x00);
    assert_int_equal(cmos_read(r, REG_HOUR), 0x00);
    assert_int_equal(cmos_read(r, REG_MDAY), 0x01);
    assert_int_equal(cmos_read(r, REG_MONTH), 0x01);
    assert_int_equal(cmos_read(r, REG_YEAR), 0x32);
    assert_int_equal(cmos_read(r, REG_CENTURY), 0x20);

    /* One field written without SET: the rest stays as it was. */
    cmos_write(r, REG_MIN, 0x30);
    assert_int_equal(cmos_read(r, REG_MIN), 0x30);
    assert_int_equal(cmos_read(r, REG_HOUR), 0x00);
    assert_int_equal(cmos_read(r, REG_YEAR), 0x32);
    /* A time that is not one (BCD 0x9a) leaves the clock alone. */
    cmos_write(r, REG_SEC, 0x9a);
    assert_int_equal(cmos_read(r, REG_MIN), 0x30);
    /*
     * Nor does 9999, a date the chip can show but beyond the years the
     * model keeps (its nanoseconds would overflow; found by fuzzing).
     */
    cmos_write(r, REG_B, 0x80 | 0x02);
    cmos_write(r, REG_YEAR, 0x99);
    cmos_write(r, REG_CENTURY, 0x99);
    cmos_write(r, REG_B, 0x02);
    assert_int_equal(cmos_read(r, REG_YEAR), 0x32);
    assert_int_equal(cmos_read(r, REG_CENTURY), 0x20);
    rig_free(r);
}

static void test_periodic(void **unused)
{
    Rig *r = rtc_new(BASE);
    int64_t period = NS / 1024;         /* rate 6 */
    unsigned ticks = 0;

    /* Rate set but PIE off: no interrupt. */
    cmos_write(r, REG_A, 0x26);
    vm_at(r, 10 * MS);
    assert_false(line(r));
    assert_int_equal(cmos_read(r, REG_C) & 0x40, 0);

    cmos_write(r, REG_B, cmos_read(r, REG_B) | 0x40);  /* PIE */
    /* Step the clock a period at a time: one tick, one interrupt each. */
    for (int i = 1; i <= 16; i++) {
        vm_at(r, 10 * MS + i * period);
        if (line(r)) {
            uint8_t c = cmos_read(r, REG_C);

            assert_int_equal(c & 0xc0, 0xc0);          /* IRQF, PF */
            assert_false(line(r));                     /* read: lowered */
            ticks++;
        }
    }
    assert_int_equal(ticks, 16);
    /* Register C again: cleared by the read. */
    assert_int_equal(cmos_read(r, REG_C), 0);

    /*
     * A new rate counts from the last tick: switched half a period after
     * it, 2048 Hz (rate 5) ticks at last + 1/2048 s, not a period on.
     */
    vm_at(r, 10 * MS + 16 * period + period / 2);
    cmos_write(r, REG_A, 0x25);
    vm_at(r, 10 * MS + 16 * period + NS / 2048 - 1000);
    assert_false(line(r));
    vm_at(r, 10 * MS + 16 * period + NS / 2048);
    assert_true(line(r));
    cmos_read(r, REG_C);

    /* 8192 Hz (rate 3): a paused VM delivers no tick, a moved one one. */
    cmos_write(r, REG_A, 0x23);
    vm_at(r, NS);
    cmos_read(r, REG_C);
    vm_at(r, NS);
    assert_false(line(r));
    vm_at(r, NS + NS / 8192);
    assert_true(line(r));
    /* Rate 0: off. */
    cmos_read(r, REG_C);
    cmos_write(r, REG_A, 0x20);
    vm_at(r, 2 * NS);
    assert_false(line(r));
    rig_free(r);
}

static void test_update_and_alarm(void **unused)
{
    Rig *r = rtc_new(BASE);

    /* Alarm at 16:01:24 (BCD), update-ended interrupts off. */
    cmos_write(r, REG_SEC_ALARM, 0x24);
    cmos_write(r, REG_MIN_ALARM, 0x01);
    cmos_write(r, REG_HOUR_ALARM, 0x16);
    cmos_write(r, REG_B, cmos_read(r, REG_B) | 0x20);  /* AIE */
    vm_at(r, NS);
    assert_false(line(r));
    /* The update flag is set each second even when UIE is off. */
    assert_int_equal(cmos_read(r, REG_C), 0x10);
    vm_at(r, 2 * NS);
    assert_false(line(r));
    vm_at(r, 3 * NS);                   /* 16:01:24 */
    assert_true(line(r));
    assert_int_equal(cmos_read(r, REG_C), 0x80 | 0x20 | 0x10);
    assert_false(line(r));
    vm_at(r, 4 * NS);
    assert_false(line(r));

    /* "Don't care" bytes: every second matches. */
    cmos_read(r, REG_C);
    cmos_write(r, REG_SEC_ALARM, 0xc0);
    cmos_write(r, REG_MIN_ALARM, 0xff);
    cmos_write(r, REG_HOUR_ALARM, 0xc0);
    vm_at(r, 5 * NS);
    assert_true(line(r));
    cmos_read(r, REG_C);

    /* Update-ended interrupt: UIE. */
    cmos_write(r, REG_B, (cmos_read(r, REG_B) & ~0x20) | 0x10);
    vm_at(r, 6 * NS);
    assert_true(line(r));
    assert_int_equal(cmos_read(r, REG_C), 0x80 | 0x20 | 0x10);
    /* SET clears UIE and stops the updates. */
    cmos_write(r, REG_B, cmos_read(r, REG_B) | 0x80);
    assert_int_equal(cmos_read(r, REG_B) & 0x10, 0);
    vm_at(r, 9 * NS);
    assert_int_equal(cmos_read(r, REG_C), 0);
    rig_free(r);
}

static void test_uip(void **unused)
{
    Rig *r = rtc_new(BASE);

    vm_at(r, NS / 2);
    assert_int_equal(cmos_read(r, REG_A) & 0x80, 0);
    vm_at(r, NS - 100000);              /* 100 us before the update */
    assert_int_equal(cmos_read(r, REG_A) & 0x80, 0x80);
    vm_at(r, NS);
    assert_int_equal(cmos_read(r, REG_A) & 0x80, 0);
    rig_free(r);
}

static void test_reset(void **unused)
{
    Rig *r = rtc_new(BASE);

    cmos_write(r, REG_B, 0x02 | 0x40 | 0x20 | 0x10);
    cmos_write(r, REG_A, 0x26);
    vm_at(r, 2 * NS);
    assert_true(line(r));
    dm_device_reset(&r->dev);
    assert_false(line(r));
    assert_int_equal(cmos_read(r, REG_B), 0x02);
    assert_int_equal(cmos_read(r, REG_C), 0);
    /* The time lives on through a reset (a battery). */
    assert_int_equal(cmos_read(r, REG_SEC), 0x23);
    /* The shutdown byte is cleared, but for a suspend's 0xfe. */
    cmos_write(r, 0x0f, 0x05);
    dm_device_reset(&r->dev);
    assert_int_equal(cmos_read(r, 0x0f), 0);
    cmos_write(r, 0x0f, 0xfe);
    dm_device_reset(&r->dev);
    assert_int_equal(cmos_read(r, 0x0f), 0xfe);
    rig_free(r);
}

/*
 * A VM clock that goes back is a new VM's (a new QEMU): its time starts
 * at base= again; one that goes on (a migration) keeps the time.
 */
static void test_new_vm(void **unused)
{
    Rig *r = rtc_new(BASE);

    vm_at(r, 100 * NS);
    assert_int_equal(cmos_read(r, REG_MIN), 0x03);
    assert_int_equal(cmos_read(r, REG_SEC), 0x01);
    vm_at(r, 120 * NS);
    assert_int_equal(cmos_read(r, REG_SEC), 0x21);
    vm_at(r, 2 * NS);
    assert_int_equal(cmos_read(r, REG_MIN), 0x01);
    assert_int_equal(cmos_read(r, REG_SEC), 0x21);
    vm_at(r, 3 * NS);
    assert_int_equal(cmos_read(r, REG_SEC), 0x22);
    rig_free(r);
}

static void test_nvram(void **unused)
{
    char dir[] = "/tmp/dm-test-rtc-XXXXXX", path[64], spec[128];
    struct stat st;
    Rig *r;
    int fd;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/cmos", dir);
    snprintf(spec, sizeof(spec), BASE ",nvram=%s", path);
    r = rtc_new(spec);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 128);
    cmos_write(r, 0x10, 0x5a);          /* floppy types */
    cmos_write(r, 0x5f, 0xa5);          /* the last byte QEMU uses */
    cmos_write(r, REG_SEC, 0x45);       /* the clock: not in the file */
    rig_free(r);

    r = rtc_new(spec);
    assert_int_equal(cmos_read(r, 0x10), 0x5a);
    assert_int_equal(cmos_read(r, 0x5f), 0xa5);
    assert_int_equal(cmos_read(r, REG_SEC), 0x21);
    rig_free(r);

    /* A file of another size is not a CMOS image: the model refuses. */
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, "short", 5), 5);
    close(fd);
    {
        DmModelArgs args = { 0 };
        DmLoop *loop = dm_loop_new();
        DmDevice dev;
        char err[256], *name;

        memset(&dev, 0, sizeof(dev));
        assert_int_equal(dm_props_split(spec, &name, &args.props, err,
                                        sizeof(err)), 0);
        assert_int_equal(dm_device_realize(&dev, dm_model_find(name), loop,
                                           &args), -EINVAL);
        free(name);
        dm_props_free(&args.props);
        dm_loop_free(loop);
    }
    unlink(path);
    rmdir(dir);
}

static void test_state(void **unused)
{
    char dir[] = "/tmp/dm-test-rtc-XXXXXX", path[64], err[256];
    Rig *r = rtc_new(BASE), *s;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/state", dir);
    cmos_write(r, 0x20, 0x77);
    vm_at(r, 30 * NS);
    assert_int_equal(dm_device_save_file(&r->dev, path, err, sizeof(err)), 0);

    /* Another instance, another base: the saved time wins. */
    s = rig_new("mc146818,base=2020-01-01");
    assert_non_null(s);
    assert_int_equal(dm_device_load_file(&s->dev, path, err, sizeof(err)), 0);
    vm_at(s, 30 * NS);
    assert_int_equal(cmos_read(s, REG_SEC), 0x51);
    assert_int_equal(cmos_read(s, REG_YEAR), 0x06);
    assert_int_equal(cmos_read(s, 0x20), 0x77);
    rig_free(r);
    rig_free(s);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_registers),
        cmocka_unit_test(test_set_time),
        cmocka_unit_test(test_periodic),
        cmocka_unit_test(test_update_and_alarm),
        cmocka_unit_test(test_uip),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_new_vm),
        cmocka_unit_test(test_nvram),
        cmocka_unit_test(test_state),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
