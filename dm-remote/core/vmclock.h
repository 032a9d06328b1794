/*
 * The VM clock: the guest's time as its client reports it (our
 * dm_vm_clock extension).  It advances with the host's monotonic clock
 * while the VM runs, stands still while it is paused, and takes the
 * value the client reports, so that on a migration target it goes on
 * where the source left off.  Without reports it runs from 0 at start.
 *
 * VM timers have absolute deadlines on this clock; they do not fire
 * while the VM is paused.  Loop thread only.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_VMCLOCK_H
#define DM_VMCLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "loop.h"

typedef struct DmVmTimer DmVmTimer;

typedef struct DmVmClock {
    DmLoop *loop;
    bool running;
    int64_t base_vm_ns;         /* the VM clock at base_host_ns */
    int64_t base_host_ns;
    DmVmTimer *timers;          /* every initialised timer */
} DmVmClock;

struct DmVmTimer {
    DmVmClock *clock;
    DmTimer host;               /* armed while the VM runs */
    DmTimerCb *cb;
    void *opaque;
    int64_t deadline_vm_ns;     /* -1: not armed */
    DmVmTimer *next;
};

void dm_vm_clock_init(DmVmClock *c, DmLoop *loop);
/*
 * The client says: running or not, and the clock reads @vm_ns.  Timers
 * whose deadline that reaches fire before this returns.
 */
void dm_vm_clock_set(DmVmClock *c, bool running, int64_t vm_ns);
int64_t dm_vm_clock_read(const DmVmClock *c);

void dm_vm_timer_init(DmVmTimer *t, DmVmClock *c, DmTimerCb *cb,
                      void *opaque);
/* Fire once when the VM clock reaches @deadline_vm_ns. */
void dm_vm_timer_mod_abs(DmVmTimer *t, int64_t deadline_vm_ns);
/* Fire once when the VM clock has moved @delay_ns from now. */
void dm_vm_timer_mod(DmVmTimer *t, int64_t delay_ns);
void dm_vm_timer_del(DmVmTimer *t);
bool dm_vm_timer_pending(const DmVmTimer *t);
/* Also unlinks @t from its clock: call before freeing it. */
void dm_vm_timer_destroy(DmVmTimer *t);

#endif /* DM_VMCLOCK_H */
