/*
 * The VM clock: it stands still while the VM is paused, takes the value
 * the client reports, and its timers fire on VM time only.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmclock.h"

#define MS 1000000LL

static DmLoop *loop;
static DmVmClock clock_;
static DmVmTimer timer;
static int fired;

static void on_fire(void *opaque)
{
    fired++;
}

static void stop_loop(void *opaque)
{
    dm_loop_quit(loop, 0);
}

/* Run the loop for @ms of host time. */
static void run_for(int ms)
{
    DmTimer stop;

    dm_timer_init(&stop, loop, stop_loop, NULL);
    dm_timer_mod(&stop, ms * MS);
    dm_loop_run(loop);
    dm_timer_del(&stop);
}

/* Run the loop until the timer fired, at most @ms (a bound only). */
static void run_until_fired(int ms)
{
    for (int i = 0; i < ms && !fired; i++) {
        run_for(1);
    }
}

static int setup(void **unused)
{
    loop = dm_loop_new();
    dm_vm_clock_init(&clock_, loop);
    dm_vm_timer_init(&timer, &clock_, on_fire, NULL);
    fired = 0;
    return 0;
}

static int teardown(void **unused)
{
    dm_vm_timer_destroy(&timer);
    dm_loop_free(loop);
    return 0;
}

static void test_runs_and_stops(void **unused)
{
    int64_t a = dm_vm_clock_read(&clock_), b;

    usleep(2000);
    b = dm_vm_clock_read(&clock_);
    assert_true(b > a);                 /* runs without reports */

    dm_vm_clock_set(&clock_, false, 5000 * MS);
    usleep(2000);
    assert_int_equal(dm_vm_clock_read(&clock_), 5000 * MS);

    dm_vm_clock_set(&clock_, true, 5000 * MS);
    usleep(2000);
    assert_true(dm_vm_clock_read(&clock_) > 5000 * MS);
}

/* A timer does not fire while the VM is paused, and does once it runs. */
static void test_timer_waits_for_vm(void **unused)
{
    dm_vm_clock_set(&clock_, false, 100 * MS);
    dm_vm_timer_mod(&timer, 1 * MS);
    assert_true(dm_vm_timer_pending(&timer));
    run_for(20);
    assert_int_equal(fired, 0);

    dm_vm_clock_set(&clock_, true, 100 * MS);
    run_until_fired(5000);
    assert_int_equal(fired, 1);
    assert_false(dm_vm_timer_pending(&timer));
}

/* The clock jumps to what the client says (a migration target). */
static void test_jump(void **unused)
{
    dm_vm_clock_set(&clock_, true, 0);
    dm_vm_timer_mod_abs(&timer, 3600000 * MS);  /* an hour of VM time */
    run_for(10);
    assert_int_equal(fired, 0);
    dm_vm_clock_set(&clock_, true, 3600000 * MS);
    run_until_fired(5000);
    assert_int_equal(fired, 1);
}

/*
 * A paused clock that a report moves past a deadline fires its timer
 * (QEMU under -accel qtest reports each clock_step so).
 */
static void test_stepped_while_paused(void **unused)
{
    dm_vm_clock_set(&clock_, false, 100 * MS);
    dm_vm_timer_mod(&timer, 10 * MS);
    dm_vm_clock_set(&clock_, false, 109 * MS);
    run_for(20);
    assert_int_equal(fired, 0);
    dm_vm_clock_set(&clock_, false, 110 * MS);
    run_until_fired(5000);
    assert_int_equal(fired, 1);
}

static DmVmTimer second;

/* Re-arms itself a millisecond on, and moves the other timer past now. */
static void on_fire_rearm(void *opaque)
{
    fired++;
    dm_vm_timer_mod(&second, 1 * MS);
    dm_vm_timer_mod_abs(&timer, 0);
}

/*
 * The report itself fires what it reached, before it returns (no loop
 * turn): a client waiting for our reply to it then sees the effects.
 * Callbacks may re-arm timers, in the past too: each due one once, then
 * what is due again, never a spin.
 */
static void test_report_fires_at_once(void **unused)
{
    dm_vm_timer_init(&second, &clock_, on_fire_rearm, NULL);
    dm_vm_clock_set(&clock_, false, 100 * MS);
    dm_vm_timer_mod(&timer, 10 * MS);
    dm_vm_clock_set(&clock_, false, 110 * MS);
    assert_int_equal(fired, 1);
    dm_vm_timer_mod_abs(&second, 120 * MS);
    dm_vm_clock_set(&clock_, false, 125 * MS);
    /* second (re-armed at 126 ms), then timer, made due by it. */
    assert_int_equal(fired, 2 + 1);
    assert_true(dm_vm_timer_pending(&second));
    assert_false(dm_vm_timer_pending(&timer));
    dm_vm_timer_destroy(&second);
}

/* A deleted timer stays quiet. */
static void test_del(void **unused)
{
    dm_vm_timer_mod(&timer, 1 * MS);
    dm_vm_timer_del(&timer);
    run_for(10);
    assert_int_equal(fired, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_runs_and_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_waits_for_vm, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_jump, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stepped_while_paused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_del, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_fires_at_once, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
