/*
 * Migration of a VM whose devices stay on their model servers.
 *
 * The model keeps the device's state; only the proxy's own state (config
 * space header, MSI/MSI-X) travels in the migration stream.  So the
 * target QEMU must connect to the same model while the source still
 * drives it, and take it over at the right moment:
 *
 *  - the target, started with -incoming, offers dm_standby in VERSION;
 *    the busy model accepts it as a standby session that may only read
 *    the device's description (enough to realize the proxy).  Every other
 *    request (DMA windows, interrupt wiring, resets) is deferred here and
 *    replayed at activation, exactly as after a reconnection;
 *  - the source lets the model go when the migration is done
 *    (MIG_EVENT_PRECOPY_DONE), without reconnecting;
 *  - the target, when its VM starts running, sends DM_ACTIVATE until the
 *    model answers (it says EBUSY while the source is still connected),
 *    then replays its set-up.  vCPUs start after the run-state handlers,
 *    so the guest never sees the gap.
 *
 * A restore from a file (-incoming file:...) finds the model free: its
 * session is active from the start, and only the reset is skipped.  A
 * source whose migration failed after letting go reconnects when it runs
 * again.
 *
 * Threads: the gate runs with DMProxy.lock held, in any thread; the
 * handlers run in the main loop with the big QEMU lock.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/lockable.h"
#include "qemu/main-loop.h"
#include "migration/misc.h"
#include "hw/remote-dm/dm-proxy.h"
#include "vup/dm-ext.h"
#include "trace.h"

/* How long a target waits for the source to let the model go. */
#define DM_PROXY_TAKEOVER_MS    10000
#define DM_PROXY_TAKEOVER_POLL_US 5000

int dm_proxy_migration_gate(DMProxy *p, uint16_t cmd, const void *payload,
                            bool wants_reply)
{
    VupRegionAccess acc;

    if (cmd == VUP_CMD_DEVICE_RESET && runstate_check(RUN_STATE_INMIGRATE)) {
        return 0;               /* the model's state comes with the VM */
    }
    if (!p->standby) {
        return 1;
    }
    switch (cmd) {
    case VUP_CMD_DEVICE_GET_INFO:
    case VUP_CMD_DEVICE_GET_REGION_INFO:
    case VUP_CMD_DEVICE_GET_IRQ_INFO:
    case VUP_CMD_DM_ACTIVATE:
        return 1;
    case VUP_CMD_REGION_READ:
        memcpy(&acc, payload, sizeof(acc));
        return acc.region == VUP_PCI_CONFIG_REGION_INDEX ? 1 : -EBUSY;
    default:
        /* Set-up: replayed at activation.  Anything answered: not yet. */
        return wants_reply ? -EBUSY : 0;
    }
}

static void dm_proxy_activate(DMProxy *p)
{
    int64_t deadline = g_get_monotonic_time() +
                       DM_PROXY_TAKEOVER_MS * G_TIME_SPAN_MILLISECOND;
    Error *err = NULL;
    int ret;

    do {
        ret = dm_proxy_call(p, VUP_CMD_DM_ACTIVATE, NULL, 0, NULL, 0, NULL);
        if (ret != -EBUSY) {
            break;
        }
        g_usleep(DM_PROXY_TAKEOVER_POLL_US);
    } while (g_get_monotonic_time() < deadline);

    if (ret == 0) {
        WITH_QEMU_LOCK_GUARD(&p->lock) {
            p->standby = false;
        }
        if ((!p->ops->replay || p->ops->replay(p->opaque, p, &err)) &&
            dm_proxy_applied_resume(p, &err)) {
            dm_proxy_vm_clock_sync(p);
            info_report("dm-proxy %s: took %s over from the migration source",
                        p->id, p->server);
            return;
        }
    }
    error_report("dm-proxy %s: cannot take %s over from the migration "
                 "source: %s", p->id, p->server,
                 err ? error_get_pretty(err) : strerror(-ret));
    error_free(err);
    WITH_QEMU_LOCK_GUARD(&p->lock) {
        p->standby = false;
        dm_proxy_fault(p, "takeover failed");   /* reconnects later */
    }
}

static void dm_proxy_vm_state_change(void *opaque, bool running,
                                     RunState state)
{
    DMProxy *p = opaque;

    if (!running) {
        return;
    }
    if (p->released) {
        p->released = false;
        info_report("dm-proxy %s: running again after migrating: "
                    "reconnecting to %s", p->id, p->server);
        dm_proxy_reconnect_now(p);
    } else if (p->standby && dm_proxy_connected(p)) {
        dm_proxy_activate(p);
    }
}

static int dm_proxy_migration_event(NotifierWithReturn *n,
                                    MigrationEvent *e, Error **errp)
{
    DMProxy *p = container_of(n, DMProxy, migration_notifier);
    bool released = false;

    if (e->type != MIG_EVENT_PRECOPY_DONE) {
        return 0;
    }
    WITH_QEMU_LOCK_GUARD(&p->lock) {
        if (p->state == DM_PROXY_CONNECTED) {
            /*
             * The source's last posted writes reach the model first (a
             * failure changes nothing: this session ends here anyway).
             */
            vup_stream_send_batch(&p->stream, &p->posted);
            qatomic_set(&p->state, DM_PROXY_DISCONNECTED);
            dm_proxy_close(p);
            p->released = released = true;
        }
    }
    if (released) {
        info_report("dm-proxy %s: migration done: %s is the target's now",
                    p->id, p->server);
    }
    return 0;
}

void dm_proxy_migration_init(DMProxy *p)
{
    p->vmstate_entry = qemu_add_vm_change_state_handler(
        dm_proxy_vm_state_change, p);
    migration_add_notifier(&p->migration_notifier, dm_proxy_migration_event);
}

void dm_proxy_migration_cleanup(DMProxy *p)
{
    if (p->vmstate_entry) {
        qemu_del_vm_change_state_handler(p->vmstate_entry);
        p->vmstate_entry = NULL;
        migration_remove_notifier(&p->migration_notifier);
    }
}
