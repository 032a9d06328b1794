/*
 * The VM clock and its timers, on top of the loop's host timers.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "vmclock.h"

void dm_vm_clock_init(DmVmClock *c, DmLoop *loop)
{
    memset(c, 0, sizeof(*c));
    c->loop = loop;
    c->running = true;
    c->base_host_ns = dm_clock_ns();
}

int64_t dm_vm_clock_read(const DmVmClock *c)
{
    return c->running ? c->base_vm_ns + (dm_clock_ns() - c->base_host_ns)
                      : c->base_vm_ns;
}

/*
 * Put @t's host timer where its VM deadline now falls.  A deadline the
 * clock has reached fires even while the VM is paused: a report moved
 * the clock there (a client whose clock moves in steps, as QEMU's under
 * -accel qtest, reports each step with the VM "not running").
 */
static void vm_timer_arm(DmVmTimer *t)
{
    int64_t left;

    if (t->deadline_vm_ns < 0) {
        dm_timer_del(&t->host);
        return;
    }
    left = t->deadline_vm_ns - dm_vm_clock_read(t->clock);
    if (left > 0 && !t->clock->running) {
        dm_timer_del(&t->host);
        return;
    }
    dm_timer_mod(&t->host, left > 0 ? left : 0);
}

/*
 * Fire the timers whose deadline the clock has reached, now, one at a
 * time (a callback may move or stop any timer), at most a bound of them
 * (a callback that keeps re-arming in the past does not hold the loop).
 */
static void vm_clock_run_due(DmVmClock *c)
{
    for (unsigned fired = 0; fired < 4096; fired++) {
        int64_t now = dm_vm_clock_read(c);
        DmVmTimer *due = NULL;

        for (DmVmTimer *t = c->timers; t && !due; t = t->next) {
            if (t->deadline_vm_ns >= 0 && t->deadline_vm_ns <= now) {
                due = t;
            }
        }
        if (!due) {
            return;
        }
        due->deadline_vm_ns = -1;
        dm_timer_del(&due->host);
        due->cb(due->opaque);
    }
}

void dm_vm_clock_set(DmVmClock *c, bool running, int64_t vm_ns)
{
    c->running = running;
    c->base_vm_ns = vm_ns;
    c->base_host_ns = dm_clock_ns();
    for (DmVmTimer *t = c->timers; t; t = t->next) {
        vm_timer_arm(t);
    }
    /*
     * What the report's clock reached happens before we read the next
     * message (or answer this one): a client that steps the clock and
     * waits for our reply (qtest) finds the interrupts it caused.
     */
    vm_clock_run_due(c);
}

static void vm_timer_fire(void *opaque)
{
    DmVmTimer *t = opaque;

    /* The host timer is a hint: fire only once the VM is there. */
    if (dm_vm_clock_read(t->clock) < t->deadline_vm_ns) {
        vm_timer_arm(t);
        return;
    }
    t->deadline_vm_ns = -1;
    t->cb(t->opaque);
}

void dm_vm_timer_init(DmVmTimer *t, DmVmClock *c, DmTimerCb *cb,
                      void *opaque)
{
    t->clock = c;
    t->cb = cb;
    t->opaque = opaque;
    t->deadline_vm_ns = -1;
    dm_timer_init(&t->host, c->loop, vm_timer_fire, t);
    t->next = c->timers;
    c->timers = t;
}

void dm_vm_timer_mod_abs(DmVmTimer *t, int64_t deadline_vm_ns)
{
    t->deadline_vm_ns = deadline_vm_ns < 0 ? 0 : deadline_vm_ns;
    vm_timer_arm(t);
}

void dm_vm_timer_mod(DmVmTimer *t, int64_t delay_ns)
{
    dm_vm_timer_mod_abs(t, dm_vm_clock_read(t->clock) + delay_ns);
}

void dm_vm_timer_del(DmVmTimer *t)
{
    t->deadline_vm_ns = -1;
    dm_timer_del(&t->host);
}

bool dm_vm_timer_pending(const DmVmTimer *t)
{
    return t->deadline_vm_ns >= 0;
}

void dm_vm_timer_destroy(DmVmTimer *t)
{
    dm_vm_timer_del(t);
    for (DmVmTimer **p = &t->clock->timers; *p; p = &(*p)->next) {
        if (*p == t) {
            *p = t->next;
            break;
        }
    }
}
