/*
 * Interrupts by message held while the guest is busy.
 *
 * Over TCP each answer of a remote disk comes as its own message, and a
 * model quicker than the guest sends them one at a time: raised as they
 * come, nearly every answer is an interrupt, whose entry, handler and
 * EOI a TCG guest pays on its one vCPU (docs/performance.md).  A guest
 * whose vCPUs all run has no use for an interrupt now: it will look at
 * the used ring when it gets to it, and one interrupt then brings all
 * that came meanwhile.  So while no vCPU is idle, what is pending waits,
 * at most irq_hold_us after the first; a vCPU about to sleep (the
 * accelerator's idle notifier, QEMU patch 0008) raises it at once, so an
 * idle guest never waits for a hold.  irq-hold-us=auto, the default,
 * holds 200 us under TCG: measured against interrupts at once, reads at
 * queue depth 32 over TCP gained 6-41% and depth 1 nothing lost
 * (docs/performance.md).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "hw/core/cpu.h"
#include "system/cpus.h"
#include "system/qtest.h"
#include "system/tcg.h"
#include "hw/remote-dm/dm-proxy.h"
#include "trace.h"

/* Is every vCPU running guest code (none halted, waiting for work)? */
static bool dm_proxy_vcpus_busy(void)
{
    CPUState *cpu;

    CPU_FOREACH(cpu) {
        if (qatomic_read(&cpu->halted)) {
            return false;
        }
    }
    return true;
}

static bool dm_proxy_irq_pending(DMProxy *p)
{
    for (unsigned i = 0; i < ARRAY_SIZE(p->irq_pending); i++) {
        if (qatomic_read(&p->irq_pending[i])) {
            return true;
        }
    }
    return false;
}

static void dm_proxy_irq_release(DMProxy *p, const char *why)
{
    timer_del(p->irq_hold_timer);
    if (dm_proxy_irq_pending(p)) {
        trace_dm_proxy_irq_hold_end(p->id, why);
        dm_proxy_irq_raise(p);
    }
}

/* The hold's end: the main loop. */
static void dm_proxy_irq_hold_timer(void *opaque)
{
    dm_proxy_irq_release(opaque, "timer");
}

/* A vCPU about to sleep: its thread, BQL held. */
static void dm_proxy_vcpu_idle(Notifier *n, void *data)
{
    dm_proxy_irq_release(container_of(n, DMProxy, vcpu_idle), "idle vCPU");
}

bool dm_proxy_irq_hold_parse(const char *spec, int64_t *ret_us,
                             Error **errp)
{
    uint64_t us;

    if (!spec || g_str_equal(spec, "auto")) {
        *ret_us = -1;
        return true;
    }
    if (qemu_strtou64(spec, NULL, 10, &us) < 0 ||
        us > DM_PROXY_IRQ_HOLD_MAX_US) {
        error_setg(errp, "irq-hold-us must be auto or 0..%u (microseconds), "
                   "not '%s'", DM_PROXY_IRQ_HOLD_MAX_US, spec);
        return false;
    }
    *ret_us = us;
    return true;
}

void dm_proxy_irq_hold_init(DMProxy *p, int64_t us)
{
    /* Only TCG's vCPU threads tell when they go idle (patch 0008). */
    if (us < 0) {
        us = tcg_enabled() ? DM_PROXY_IRQ_HOLD_AUTO_US : 0;
    } else if (us && !tcg_enabled() && !qtest_enabled()) {
        warn_report("dm-proxy %s: irq-hold-us has no effect without TCG",
                    p->id);
    }
    if (!us || !tcg_enabled()) {
        return;
    }
    p->irq_hold_timer = timer_new_ns(QEMU_CLOCK_REALTIME,
                                     dm_proxy_irq_hold_timer, p);
    p->vcpu_idle.notify = dm_proxy_vcpu_idle;
    qemu_add_vcpu_idle_notifier(&p->vcpu_idle);
    p->irq_hold_us = us;
}

bool dm_proxy_irq_hold(DMProxy *p)
{
    if (!p->irq_hold_us || !dm_proxy_irq_pending(p) ||
        !dm_proxy_vcpus_busy()) {
        return false;
    }
    if (!timer_pending(p->irq_hold_timer)) {
        trace_dm_proxy_irq_hold(p->id, p->irq_hold_us);
        timer_mod(p->irq_hold_timer,
                  qemu_clock_get_ns(QEMU_CLOCK_REALTIME) +
                  (int64_t)p->irq_hold_us * 1000);
    }
    return true;
}

void dm_proxy_irq_hold_cleanup(DMProxy *p)
{
    /* The timer and the notifier go together (dm_proxy_irq_hold_init). */
    if (p->irq_hold_timer) {
        qemu_remove_vcpu_idle_notifier(&p->vcpu_idle);
        timer_free(p->irq_hold_timer);
        p->irq_hold_timer = NULL;
        p->irq_hold_us = 0;
    }
}
