/*
 * Interrupt wiring (dm-remote/core/irq.c) in-process: a device with no model,
 * eventfds the test reads and a fake link that records DM_IRQ messages.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "device.h"

typedef struct FakeLink {
    unsigned sent;
    unsigned last_index, last_sub;
} FakeLink;

static void fake_send_irq(void *opaque, unsigned index, unsigned sub)
{
    FakeLink *l = opaque;

    l->sent++;
    l->last_index = index;
    l->last_sub = sub;
}


typedef struct Rig {
    DmDevice dev;
    FakeLink link;
} Rig;

/* A PCI device: INTx one line, MSI 1, MSI-X 4 vectors, ERR/REQ filled. */
static Rig *rig_new(bool pci, uint32_t intx_flags)
{
    Rig *r = calloc(1, sizeof(*r));

    assert_non_null(r);
    r->dev.is_pci = pci;
    r->dev.irqs.send = fake_send_irq;
    r->dev.irqs.send_opaque = &r->link;
    assert_int_equal(dm_device_init_irq(&r->dev, VUP_PCI_INTX_IRQ_INDEX, 1,
                                        intx_flags), 0);
    if (pci) {
        assert_int_equal(dm_device_init_irq(&r->dev, VUP_PCI_MSI_IRQ_INDEX,
                                            1, VUP_IRQ_INFO_EVENTFD), 0);
        assert_int_equal(dm_device_init_irq(&r->dev, VUP_PCI_MSIX_IRQ_INDEX,
                                            4, VUP_IRQ_INFO_EVENTFD), 0);
        assert_int_equal(dm_irq_fill_pci(&r->dev.irqs), 0);
    }
    return r;
}

static void rig_free(Rig *r)
{
    dm_irq_free(&r->dev.irqs);
    free(r);
}

static int new_eventfd(void)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

    assert_true(fd >= 0);
    return fd;
}

/* Signals counted on @fd since the last call (0 when none). */
static uint64_t fired(int fd)
{
    uint64_t n = 0;

    if (read(fd, &n, sizeof(n)) != sizeof(n)) {
        return 0;
    }
    return n;
}

/* Is @fd open?  (The table closes eventfds it drops.) */
static bool fd_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* Indexes, counts and flags as GET_IRQ_INFO reports them. */
static void test_info(void **unused)
{
    Rig *r = rig_new(true, VUP_IRQ_INFO_EVENTFD);
    uint32_t count, flags;

    assert_int_equal(dm_irq_num_indexes(&r->dev.irqs), VUP_PCI_NUM_IRQS);
    assert_int_equal(dm_irq_info(&r->dev.irqs, VUP_PCI_MSIX_IRQ_INDEX, &count,
                                 &flags), 0);
    assert_int_equal(count, 4);
    assert_int_equal(dm_irq_info(&r->dev.irqs, VUP_PCI_ERR_IRQ_INDEX, &count,
                                 &flags), 0);
    assert_int_equal(count, 1);
    assert_int_equal(flags, VUP_IRQ_INFO_EVENTFD);
    assert_int_equal(dm_irq_info(&r->dev.irqs, VUP_PCI_NUM_IRQS, &count, &flags),
                     -EINVAL);
    assert_int_equal(dm_device_init_irq(&r->dev, DM_MAX_IRQ_INDEXES, 1, 0),
                     -EINVAL);
    assert_int_equal(dm_device_init_irq(&r->dev, 0,
                                        DM_MAX_IRQS_PER_INDEX + 1, 0),
                     -EINVAL);
    rig_free(r);
}

/* Eventfds: signalled when wired; a raise before wiring waits for it. */
static void test_eventfds(void **unused)
{
    Rig *r = rig_new(true, VUP_IRQ_INFO_EVENTFD);
    const unsigned msix = VUP_PCI_MSIX_IRQ_INDEX;
    int fds[2] = { new_eventfd(), new_eventfd() };
    int old;

    dm_irq_signal(&r->dev.irqs, msix, 1);            /* unwired: pending */
    dm_irq_set_triggers(&r->dev.irqs, msix, 1, 2, fds);
    assert_int_equal(fired(fds[0]), 1);         /* delivered on wiring */
    assert_int_equal(fired(fds[1]), 0);
    dm_irq_signal(&r->dev.irqs, msix, 2);
    dm_irq_signal(&r->dev.irqs, msix, 2);
    assert_int_equal(fired(fds[1]), 2);

    /* Rewiring closes the old eventfd; NULL unwires. */
    old = fds[0];
    fds[0] = new_eventfd();
    dm_irq_set_triggers(&r->dev.irqs, msix, 1, 1, fds);
    assert_false(fd_open(old));
    dm_irq_set_triggers(&r->dev.irqs, msix, 1, 2, NULL);
    assert_false(fd_open(fds[0]));
    assert_false(fd_open(fds[1]));
    rig_free(r);
}

/* DM_IRQ messages go through the link; without one they wait. */
static void test_messages(void **unused)
{
    Rig *r = rig_new(true, VUP_IRQ_INFO_EVENTFD);
    const unsigned msix = VUP_PCI_MSIX_IRQ_INDEX;

    dm_irq_set_messages(&r->dev.irqs, msix, 0, 4);
    dm_irq_signal(&r->dev.irqs, msix, 3);
    assert_int_equal(r->link.sent, 1);
    assert_int_equal(r->link.last_index, msix);
    assert_int_equal(r->link.last_sub, 3);

    r->dev.irqs.send = NULL;                    /* client gone */
    dm_irq_signal(&r->dev.irqs, msix, 2);
    assert_int_equal(r->link.sent, 1);
    r->dev.irqs.send = fake_send_irq;
    dm_irq_set_messages(&r->dev.irqs, msix, 2, 1);   /* the next client wires */
    assert_int_equal(r->link.sent, 2);
    assert_int_equal(r->link.last_sub, 2);
    rig_free(r);
}

/* Masked vectors keep the raise pending; unmask delivers it once. */
static void test_mask_pending(void **unused)
{
    Rig *r = rig_new(true, VUP_IRQ_INFO_EVENTFD);
    const unsigned msi = VUP_PCI_MSI_IRQ_INDEX;
    int fd = new_eventfd();

    dm_irq_set_triggers(&r->dev.irqs, msi, 0, 1, &fd);
    dm_irq_mask(&r->dev.irqs, msi, 0);
    dm_irq_signal(&r->dev.irqs, msi, 0);
    dm_irq_signal(&r->dev.irqs, msi, 0);
    assert_int_equal(fired(fd), 0);
    dm_irq_unmask(&r->dev.irqs, msi, 0);
    assert_int_equal(fired(fd), 1);
    dm_irq_unmask(&r->dev.irqs, msi, 0);             /* nothing pending now */
    assert_int_equal(fired(fd), 0);
    rig_free(r);
}

/* Level lines: a rising edge signals; still high at unmask, again. */
static void test_level(void **unused)
{
    Rig *r = rig_new(true, VUP_IRQ_INFO_EVENTFD | VUP_IRQ_INFO_MASKABLE);
    const unsigned intx = VUP_PCI_INTX_IRQ_INDEX;
    int fd = new_eventfd();

    dm_irq_set_triggers(&r->dev.irqs, intx, 0, 1, &fd);
    dm_irq_set_level(&r->dev.irqs, intx, 0, true);
    assert_true(dm_irq_level(&r->dev.irqs, intx, 0));
    assert_int_equal(fired(fd), 1);
    dm_irq_set_level(&r->dev.irqs, intx, 0, true);   /* no edge */
    assert_int_equal(fired(fd), 0);
    dm_irq_mask(&r->dev.irqs, intx, 0);
    dm_irq_unmask(&r->dev.irqs, intx, 0);            /* still high */
    assert_int_equal(fired(fd), 1);

    /* Lowered while masked: nothing left to deliver. */
    dm_irq_mask(&r->dev.irqs, intx, 0);
    dm_irq_set_level(&r->dev.irqs, intx, 0, false);
    dm_irq_set_level(&r->dev.irqs, intx, 0, true);
    dm_irq_set_level(&r->dev.irqs, intx, 0, false);
    dm_irq_unmask(&r->dev.irqs, intx, 0);
    assert_int_equal(fired(fd), 0);
    assert_false(dm_irq_level(&r->dev.irqs, intx, 0));
    rig_free(r);
}

/* Automasked lines (a platform device's): masked after each signal. */
static void test_automask(void **unused)
{
    Rig *r = rig_new(false, VUP_IRQ_INFO_EVENTFD | VUP_IRQ_INFO_MASKABLE |
                            VUP_IRQ_INFO_AUTOMASKED);
    int fd = new_eventfd();

    assert_int_equal(dm_irq_num_indexes(&r->dev.irqs), 1);
    dm_irq_set_triggers(&r->dev.irqs, 0, 0, 1, &fd);
    dm_irq_signal(&r->dev.irqs, 0, 0);
    dm_irq_signal(&r->dev.irqs, 0, 0);               /* automasked: pending */
    assert_int_equal(fired(fd), 1);
    dm_irq_unmask(&r->dev.irqs, 0, 0);
    assert_int_equal(fired(fd), 1);
    rig_free(r);
}

/* dm_irq_raise picks MSI-X, then MSI, then the INTx line. */
static void test_raise_routing(void **unused)
{
    Rig *r = rig_new(true, VUP_IRQ_INFO_EVENTFD);
    int msi = new_eventfd(), msix = new_eventfd();

    dm_irq_raise(&r->dev, 0);
    assert_true(dm_irq_level(&r->dev.irqs, VUP_PCI_INTX_IRQ_INDEX, 0));
    dm_irq_lower(&r->dev, 0);
    assert_false(dm_irq_level(&r->dev.irqs, VUP_PCI_INTX_IRQ_INDEX, 0));

    dm_irq_set_triggers(&r->dev.irqs, VUP_PCI_MSI_IRQ_INDEX, 0, 1, &msi);
    dm_irq_raise(&r->dev, 0);
    assert_int_equal(fired(msi), 1);
    assert_false(dm_irq_level(&r->dev.irqs, VUP_PCI_INTX_IRQ_INDEX, 0));

    dm_irq_set_triggers(&r->dev.irqs, VUP_PCI_MSIX_IRQ_INDEX, 0, 1, &msix);
    dm_irq_raise(&r->dev, 0);
    assert_int_equal(fired(msix), 1);
    assert_int_equal(fired(msi), 0);
    rig_free(r);
}

/* The client goes: eventfds closed and masks cleared, pending kept. */
static void test_release_all(void **unused)
{
    Rig *r = rig_new(true, VUP_IRQ_INFO_EVENTFD);
    const unsigned msi = VUP_PCI_MSI_IRQ_INDEX;
    int fd = new_eventfd(), fd2;

    dm_irq_set_triggers(&r->dev.irqs, msi, 0, 1, &fd);
    dm_irq_mask(&r->dev.irqs, msi, 0);
    dm_irq_signal(&r->dev.irqs, msi, 0);
    dm_irq_release_all(&r->dev.irqs);
    assert_false(fd_open(fd));

    fd2 = new_eventfd();                        /* the next client */
    dm_irq_set_triggers(&r->dev.irqs, msi, 0, 1, &fd2);
    assert_int_equal(fired(fd2), 1);            /* unmasked, was pending */

    /* Reset: nothing masked, pending or high; the wiring stays. */
    dm_irq_mask(&r->dev.irqs, msi, 0);
    dm_irq_signal(&r->dev.irqs, msi, 0);
    dm_irq_set_level(&r->dev.irqs, VUP_PCI_INTX_IRQ_INDEX, 0, true);
    dm_irq_reset(&r->dev.irqs);
    assert_false(dm_irq_level(&r->dev.irqs, VUP_PCI_INTX_IRQ_INDEX, 0));
    dm_irq_unmask(&r->dev.irqs, msi, 0);
    assert_int_equal(fired(fd2), 0);
    dm_irq_signal(&r->dev.irqs, msi, 0);
    assert_int_equal(fired(fd2), 1);
    rig_free(r);
}

/* Out of range index or vector: ignored, an eventfd for it closed. */
static void test_bounds(void **unused)
{
    Rig *r = rig_new(true, VUP_IRQ_INFO_EVENTFD);
    int fds[2] = { new_eventfd(), new_eventfd() };
    int far = new_eventfd();

    dm_irq_signal(&r->dev.irqs, VUP_PCI_NUM_IRQS, 0);
    dm_irq_signal(&r->dev.irqs, VUP_PCI_MSI_IRQ_INDEX, 1);
    dm_irq_mask(&r->dev.irqs, VUP_PCI_MSI_IRQ_INDEX, 5);
    dm_irq_unmask(&r->dev.irqs, 99, 0);
    dm_irq_set_level(&r->dev.irqs, VUP_PCI_INTX_IRQ_INDEX, 1, true);
    assert_false(dm_irq_level(&r->dev.irqs, VUP_PCI_INTX_IRQ_INDEX, 1));
    assert_false(dm_irq_level(&r->dev.irqs, 99, 0));
    assert_int_equal(r->link.sent, 0);

    /* Vectors 3 and 4 of MSI-X's 4: the first wired, the second closed. */
    dm_irq_set_triggers(&r->dev.irqs, VUP_PCI_MSIX_IRQ_INDEX, 3, 2, fds);
    assert_true(fd_open(fds[0]));
    assert_false(fd_open(fds[1]));
    dm_irq_set_triggers(&r->dev.irqs, VUP_PCI_NUM_IRQS, 0, 1, &far);
    assert_false(fd_open(far));
    rig_free(r);
    assert_false(fd_open(fds[0]));              /* freed with the table */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_eventfds),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_mask_pending),
        cmocka_unit_test(test_level),
        cmocka_unit_test(test_automask),
        cmocka_unit_test(test_raise_routing),
        cmocka_unit_test(test_release_all),
        cmocka_unit_test(test_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
