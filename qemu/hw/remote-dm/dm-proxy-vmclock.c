/*
 * The VM clock, told to the model (our dm_vm_clock extension, see
 * docs/protocol.md): DM_VM_STATE {running, QEMU_CLOCK_VIRTUAL} after
 * VERSION, after a standby takes the model over, and at every change of
 * run state.  The model's VM clock then runs with its host clock while
 * we say running, and stands still otherwise.
 *
 * Under -accel qtest the virtual clock does not follow the host: it
 * moves only with clock_step/clock_set.  There we say "not running" and
 * report the clock every DM_PROXY_VM_CLOCK_TICK_NS of virtual time from
 * a QEMU_CLOCK_VIRTUAL timer, which the qtest warp fires on its way, so
 * that the model's timers follow the stepped clock (to the tick) as a
 * local device's do.
 *
 * The reports are posted: they go out in the posted batch, ahead of any
 * later access, so a model sees the clock before what the guest does
 * next.  But for a stop: that one waits for the model's reply, which it
 * sends once its requests in flight are done and written into guest
 * memory, so that a migration's last RAM pass (after the stop) carries
 * their completions; what the model wrote in place is then marked dirty
 * (DMProxyOps.stopped).
 *
 * Threads: main loop with the big QEMU lock.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/timer.h"
#include "system/qtest.h"
#include "system/runstate.h"
#include "hw/remote-dm/dm-proxy.h"
#include "vup/dm-ext.h"
#include "trace.h"

#define DM_PROXY_VM_CLOCK_TICK_NS   SCALE_MS

/* Does the virtual clock run with the host's while the VM runs? */
static bool dm_proxy_vm_clock_follows_host(void)
{
    return !qtest_enabled();
}

/* qtest: the next report a tick of virtual time on, while the VM runs. */
static void dm_proxy_vm_clock_rearm(DMProxy *p)
{
    if (!p->vm_clock_tick) {
        return;
    }
    if (runstate_is_running()) {
        timer_mod(p->vm_clock_tick, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
                  DM_PROXY_VM_CLOCK_TICK_NS);
    } else {
        timer_del(p->vm_clock_tick);
    }
}

void dm_proxy_vm_clock_sync(DMProxy *p)
{
    bool running = runstate_is_running();
    VupDmVmState st = {
        .running = running && dm_proxy_vm_clock_follows_host(),
        .vm_clock_ns = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL),
    };

    if (!p->caps.dm_vm_clock || !dm_proxy_connected(p)) {
        return;
    }
    trace_dm_proxy_vm_state(p->id, st.running, st.vm_clock_ns);
    /* A standby's report is dropped here: activation sends it again. */
    dm_proxy_post(p, VUP_CMD_DM_VM_STATE, &st, sizeof(st));
    qatomic_set(&p->vm_clock_reported, st.vm_clock_ns);
    dm_proxy_vm_clock_rearm(p);
}

/*
 * qtest: a test steps the clock to any nanosecond, we report it every
 * tick: what it stepped since goes ahead of the access (posted, in
 * order), so that the model reads the time the test set (register A's
 * update-in-progress window is 244 us, less than a tick).
 */
void dm_proxy_vm_clock_before_access(DMProxy *p)
{
    VupDmVmState st = { .running = false };

    if (!p->vm_clock_tick || !p->caps.dm_vm_clock || p->standby) {
        return;
    }
    st.vm_clock_ns = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    if (st.vm_clock_ns == qatomic_read(&p->vm_clock_reported)) {
        return;
    }
    qatomic_set(&p->vm_clock_reported, st.vm_clock_ns);
    trace_dm_proxy_vm_state(p->id, st.running, st.vm_clock_ns);
    dm_proxy_post(p, VUP_CMD_DM_VM_STATE, &st, sizeof(st));
}

/* qtest: what the model raised before its answer is up now. */
void dm_proxy_vm_clock_after_access(DMProxy *p)
{
    if (p->vm_clock_tick) {
        dm_proxy_line_poll(p);
    }
}

/*
 * qtest: the stepped clock reached a tick.  Reported with a call, not
 * posted: the model fires what the clock reached before it answers, so
 * the interrupts it raised are here (dm_proxy_line_poll) when the step
 * returns, as a local device's would be: a test that steps the clock and
 * then looks at the line (upstream's rtc-test) sees the same on both.
 */
static void dm_proxy_vm_clock_tick(void *opaque)
{
    DMProxy *p = opaque;
    VupDmVmState st = {
        .running = false,
        .vm_clock_ns = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL),
    };

    if (!p->caps.dm_vm_clock || !dm_proxy_connected(p) || p->standby) {
        dm_proxy_vm_clock_sync(p);      /* re-arms the tick, reports later */
        return;
    }
    trace_dm_proxy_vm_state(p->id, st.running, st.vm_clock_ns);
    qatomic_set(&p->vm_clock_reported, st.vm_clock_ns);
    if (dm_proxy_call(p, VUP_CMD_DM_VM_STATE, &st, sizeof(st), NULL, 0,
                      NULL) == 0) {
        dm_proxy_line_poll(p);
    }
    dm_proxy_vm_clock_rearm(p);
}

/* The VM stopped: the model drains, then its in-place writes are dirty. */
static void dm_proxy_vm_clock_stop(DMProxy *p)
{
    VupDmVmState st = {
        .running = false,
        .vm_clock_ns = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL),
    };

    if (p->vm_clock_tick) {
        timer_del(p->vm_clock_tick);
    }
    /* A standby says nothing: activation reports the clock. */
    if (!p->caps.dm_vm_clock || !dm_proxy_connected(p) || p->standby) {
        return;
    }
    trace_dm_proxy_vm_state(p->id, st.running, st.vm_clock_ns);
    if (dm_proxy_call(p, VUP_CMD_DM_VM_STATE, &st, sizeof(st), NULL, 0,
                      NULL) == 0 && p->ops->stopped) {
        p->ops->stopped(p->opaque, p);
    }
}

static void dm_proxy_vm_clock_change(void *opaque, bool running,
                                     RunState state)
{
    if (running) {
        dm_proxy_vm_clock_sync(opaque);
    } else {
        dm_proxy_vm_clock_stop(opaque);
    }
}

void dm_proxy_vm_clock_init(DMProxy *p)
{
    if (!dm_proxy_vm_clock_follows_host()) {
        p->vm_clock_tick = timer_new_ns(QEMU_CLOCK_VIRTUAL,
                                        dm_proxy_vm_clock_tick, p);
    }
    p->vm_clock_entry = qemu_add_vm_change_state_handler(
        dm_proxy_vm_clock_change, p);
}

void dm_proxy_vm_clock_cleanup(DMProxy *p)
{
    if (p->vm_clock_entry) {
        qemu_del_vm_change_state_handler(p->vm_clock_entry);
        p->vm_clock_entry = NULL;
    }
    if (p->vm_clock_tick) {
        timer_free(p->vm_clock_tick);
        p->vm_clock_tick = NULL;
    }
}
