/*
 * Doorbells (dm-remote/core/doorbell.c) without a model or a session:
 * what may be declared, which region writes ring one, an eventfd per
 * doorbell while a client is attached (a fresh one per client), and a
 * kick that waits for the client's earlier messages.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "doorbell.h"

#define MS 1000000LL

typedef struct Bell {
    unsigned rung;
} Bell;

static void ring(void *opaque)
{
    ((Bell *)opaque)->rung++;
}

static void stop(void *opaque)
{
    dm_loop_quit(opaque, 0);
}

/* Run @loop for @ms milliseconds. */
static void run_for(DmLoop *loop, int ms)
{
    DmTimer t;

    dm_timer_init(&t, loop, stop, loop);
    dm_timer_mod(&t, ms * MS);
    dm_loop_run(loop);
    dm_timer_del(&t);
}

static void kick(int fd)
{
    uint64_t one = 1;

    assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

static void test_declare(void **unused)
{
    static DmDoorbells t;
    Bell b = { 0 };

    memset(&t, 0, sizeof(t));
    assert_int_equal(dm_doorbell_add(&t, 4, 0x10, 3, ring, &b), -EINVAL);
    assert_int_equal(dm_doorbell_add(&t, 4, 0x12, 4, ring, &b), -EINVAL);
    assert_int_equal(dm_doorbell_add(&t, 4, 0x10, 2, NULL, &b), -EINVAL);
    assert_int_equal(dm_doorbell_add(&t, 4, 0x10, 4, ring, &b), 0);
    /* Overlaps: inside it, or any width at its address. */
    assert_int_equal(dm_doorbell_add(&t, 4, 0x12, 2, ring, &b), -EINVAL);
    assert_int_equal(dm_doorbell_add(&t, 4, 0x10, 0, ring, &b), -EINVAL);
    assert_int_equal(dm_doorbell_add(&t, 4, 0x13, 0, ring, &b), -EINVAL);
    /* The same address of another region is another doorbell. */
    assert_int_equal(dm_doorbell_add(&t, 0, 0x10, 4, ring, &b), 0);
    assert_int_equal(dm_doorbell_add(&t, 4, 0x14, 0, ring, &b), 0);
    assert_int_equal(t.count, 3);
    assert_int_equal(dm_doorbells_of_region(&t, 4, NULL, 0), 2);
    assert_int_equal(dm_doorbells_of_region(&t, 1, NULL, 0), 0);
    while (t.count < DM_MAX_DOORBELLS) {
        assert_int_equal(dm_doorbell_add(&t, 2, 8 * t.count, 8, ring, &b),
                         0);
    }
    assert_int_equal(dm_doorbell_add(&t, 3, 0, 8, ring, &b), -ENOSPC);
}

static void test_region_writes(void **unused)
{
    static DmDoorbells t;
    Bell sized = { 0 }, any = { 0 };
    const DmDoorbell *list[2];

    memset(&t, 0, sizeof(t));
    assert_int_equal(dm_doorbell_add(&t, 4, 0x10, 2, ring, &sized), 0);
    assert_int_equal(dm_doorbell_add(&t, 4, 0x20, 0, ring, &any), 0);
    /* Its address and width ring it, whatever the value. */
    assert_true(dm_doorbells_write(&t, 4, 0x10, 2));
    assert_int_equal(sized.rung, 1);
    /* Another width, another address or region: an ordinary register. */
    assert_false(dm_doorbells_write(&t, 4, 0x10, 4));
    assert_false(dm_doorbells_write(&t, 4, 0x11, 1));
    assert_false(dm_doorbells_write(&t, 0, 0x10, 2));
    assert_int_equal(sized.rung, 1);
    /* Size 0: any width at its address. */
    assert_true(dm_doorbells_write(&t, 4, 0x20, 2));
    assert_true(dm_doorbells_write(&t, 4, 0x20, 4));
    assert_false(dm_doorbells_write(&t, 4, 0x22, 2));
    assert_int_equal(any.rung, 2);
    assert_int_equal(t.kicks_write, 3);
    assert_int_equal(t.kicks_fd, 0);
    /* Listed in declaration order; no eventfd without a client. */
    assert_int_equal(dm_doorbells_of_region(&t, 4, list, 2), 2);
    assert_int_equal(list[0]->offset, 0x10);
    assert_int_equal(list[1]->offset, 0x20);
    assert_int_equal(list[0]->fd, -1);
}

static void test_eventfds(void **unused)
{
    static DmDoorbells t;
    DmLoop *loop = dm_loop_new();
    Bell a = { 0 }, b = { 0 };
    int old;

    memset(&t, 0, sizeof(t));
    assert_int_equal(dm_doorbell_add(&t, 4, 0x3000, 0, ring, &a), 0);
    assert_int_equal(dm_doorbell_add(&t, 4, 0x3004, 0, ring, &b), 0);
    dm_doorbells_open(&t, loop, NULL, NULL);
    assert_true(t.bells[0].fd >= 0);
    assert_true(t.bells[1].fd >= 0);

    /* Two signals before the loop looks: one kick (the counter's sum). */
    kick(t.bells[1].fd);
    kick(t.bells[1].fd);
    run_for(loop, 20);
    assert_int_equal(a.rung, 0);
    assert_int_equal(b.rung, 1);
    assert_int_equal(t.kicks_fd, 1);

    /* The client goes: closed.  The next one gets its own eventfds. */
    old = dup(t.bells[1].fd);
    assert_true(old >= 0);
    dm_doorbells_close(&t);
    assert_int_equal(t.bells[0].fd, -1);
    assert_int_equal(t.bells[1].fd, -1);
    dm_doorbells_open(&t, loop, NULL, NULL);
    kick(old);                  /* the old client's eventfd rings nothing */
    run_for(loop, 20);
    assert_int_equal(b.rung, 1);
    kick(t.bells[1].fd);
    run_for(loop, 20);
    assert_int_equal(b.rung, 2);
    close(old);
    dm_doorbells_close(&t);
    dm_loop_free(loop);
}

typedef struct Busy {
    unsigned left;              /* answers "busy" this many times */
    unsigned asked;
} Busy;

static bool client_busy(void *opaque)
{
    Busy *c = opaque;

    c->asked++;
    if (c->left) {
        c->left--;
        return true;
    }
    return false;
}

static void test_waits_for_messages(void **unused)
{
    static DmDoorbells t;
    DmLoop *loop = dm_loop_new();
    Bell a = { 0 };
    Busy c = { .left = 3 };

    memset(&t, 0, sizeof(t));
    assert_int_equal(dm_doorbell_add(&t, 4, 0x3000, 0, ring, &a), 0);
    dm_doorbells_open(&t, loop, client_busy, &c);
    kick(t.bells[0].fd);
    run_for(loop, 20);
    /* Asked until the client had nothing more, then rung once. */
    assert_int_equal(c.asked, 4);
    assert_int_equal(a.rung, 1);

    /* A client that never stops sending does not starve the kick. */
    c.left = 1000;
    kick(t.bells[0].fd);
    run_for(loop, 50);
    assert_int_equal(a.rung, 2);
    assert_true(c.left > 0);
    dm_doorbells_close(&t);
    dm_loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_declare),
        cmocka_unit_test(test_region_writes),
        cmocka_unit_test(test_eventfds),
        cmocka_unit_test(test_waits_for_messages),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
